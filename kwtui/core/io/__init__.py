"""The only code that writes files: one temp scheme, commit by rename, folder ownership, locks."""
