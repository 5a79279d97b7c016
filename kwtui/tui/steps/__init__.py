"""The six wizard steps, shown one at a time in a ContentSwitcher (all stay mounted, so workers survive)."""
