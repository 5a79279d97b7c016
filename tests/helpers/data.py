"""Dataset and feature fixtures (owned by the data/features work). Imported by tests/conftest.py."""
