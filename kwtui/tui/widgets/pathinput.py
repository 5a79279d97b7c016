"""A path Input whose suggestion completes the last path component (accept it with the Right arrow or End)."""

from __future__ import annotations

import os
from pathlib import Path

from textual.suggester import Suggester


class PathSuggester(Suggester):
    def __init__(self, directories_only: bool = True) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.directories_only = directories_only

    async def get_suggestion(self, value: str) -> str | None:
        if not value:
            return None
        expanded = os.path.expanduser(value)
        parent, prefix = os.path.split(expanded)
        folder = Path(parent or ".")
        try:
            names = sorted(
                entry.name
                for entry in os.scandir(folder)
                if entry.name.startswith(prefix)
                and not entry.name.startswith(".")
                and (entry.is_dir() or not self.directories_only)
            )
        except OSError:
            return None
        if not names or (prefix and names == [prefix]):
            return None
        completed = value[: len(value) - len(prefix)] + names[0]
        return completed + "/" if (folder / names[0]).is_dir() else completed
