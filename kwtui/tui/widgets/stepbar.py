"""The step indicator at the top of the wizard."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget


class StepBar(Widget):
    DEFAULT_CSS = """
    StepBar { height: 1; background: $panel; }
    """

    current: reactive[int] = reactive(0)

    def __init__(self, titles: list[str], id: str | None = None) -> None:
        super().__init__(id=id)
        self.titles = titles
        self.done: set[int] = set()
        self.stale: set[int] = set()  # a record exists but is out of date for the settings on screen
        self.unknown: set[int] = set()  # its record cannot be judged: a setting on screen is invalid
        self.invalid: int | None = None  # the step holding that setting

    def mark_done(self, index: int) -> None:
        self.done.add(index)
        self.stale.discard(index)
        self.refresh()

    def reset(self) -> None:
        self.done.clear()
        self.stale.clear()
        self.unknown.clear()
        self.invalid = None
        self.refresh()

    def set_state(self, index: int, state: str) -> None:
        """ "done", "stale", "missing" (from the step's stage record) or "unknown" (no record can be judged while
        a setting is invalid: a checkmark would claim results for settings that do not exist)."""
        self.done.discard(index)
        self.stale.discard(index)
        self.unknown.discard(index)
        if state == "done":
            self.done.add(index)
        elif state == "stale":
            self.stale.add(index)
        elif state == "unknown":
            self.unknown.add(index)
        self.refresh()

    def set_invalid(self, index: int | None) -> None:
        """The step whose setting on screen is invalid (None: every setting is valid)."""
        self.invalid = index
        self.refresh()

    def _mark(self, i: int) -> tuple[str, str]:
        """The step's mark and its colour when it is not the current step."""
        if i == self.invalid:
            return "✗", "bold red"
        if i in self.unknown:
            return "?", "dim"
        if i in self.done:
            return "✓", "green"
        if i in self.stale:
            return "!", "yellow"
        return str(i + 1), "dim"

    def render(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(" kwtui ", style="bold reverse")
        for i, title in enumerate(self.titles):
            text.append(" ")
            mark, style = self._mark(i)
            text.append(f"{mark} {title}", style="bold reverse" if i == self.current else style)
        return text
