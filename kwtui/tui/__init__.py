"""The Textual wizard: a front end over kwtui.core (no pipeline logic here)."""
