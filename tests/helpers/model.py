"""Trained-model fixtures (owned by the training/conversion work). Imported by tests/conftest.py."""
