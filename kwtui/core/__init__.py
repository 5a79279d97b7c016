"""The pipeline. Nothing under kwtui.core may import textual (tests/test_architecture.py)."""
