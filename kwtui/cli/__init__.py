"""The Typer CLI: a thin adapter over kwtui.core."""
