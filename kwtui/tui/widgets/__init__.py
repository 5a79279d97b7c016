"""Reusable widgets: step indicator, resource gauges, braille line plot."""
