"""Modal screens: help, name prompt, preset picker."""
