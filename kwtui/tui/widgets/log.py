"""A log whose lines wrap at the width it has: when written, and again after the terminal is resized.

Textual's RichLog wraps a line once, when it is written, and at least `min_width` (78) columns wide: in a narrower
box the line's end is cut, and after a resize old lines keep the old width (cut, or a sideways scrollbar)."""

from __future__ import annotations

from collections import deque
from typing import Any

from textual.events import Resize
from textual.widgets import RichLog


class WrappedLog(RichLog):
    def __init__(self, max_lines: int = 1000, **kwargs: Any) -> None:
        super().__init__(max_lines=max_lines, wrap=True, min_width=20, **kwargs)
        self._written: deque[Any] = deque(maxlen=max_lines)  # what was written, to wrap again at a new width
        self._wrapped_at = 0

    def write(self, content: Any, *args: Any, **kwargs: Any) -> WrappedLog:
        self._written.append(content)
        super().write(content, *args, **kwargs)
        return self

    def clear(self) -> WrappedLog:
        self._written.clear()
        super().clear()
        return self

    def on_resize(self, event: Resize) -> None:
        super().on_resize(event)
        width = event.size.width
        if self._wrapped_at and width and width != self._wrapped_at:
            written = list(self._written)
            super().clear()
            for content in written:
                super().write(content, scroll_end=True)
        self._wrapped_at = width or self._wrapped_at
