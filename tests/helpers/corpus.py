"""Bad-input corpus fixtures (owned by the reliability work). Imported by tests/conftest.py."""
