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

    def mark_done(self, index: int) -> None:
        self.done.add(index)
        self.stale.discard(index)
        self.refresh()

    def reset(self) -> None:
        self.done.clear()
        self.stale.clear()
        self.refresh()

    def set_state(self, index: int, state: str) -> None:
        """ "done", "stale" or "missing" (from the step's stage record)."""
        self.done.discard(index)
        self.stale.discard(index)
        if state == "done":
            self.done.add(index)
        elif state == "stale":
            self.stale.add(index)
        self.refresh()

    def render(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(" kwtui ", style="bold reverse")
        for i, title in enumerate(self.titles):
            text.append(" ")
            mark = "✓" if i in self.done else ("!" if i in self.stale else str(i + 1))
            if i == self.current:
                style = "bold reverse"
            else:
                style = "green" if i in self.done else ("yellow" if i in self.stale else "dim")
            text.append(f"{mark} {title}", style=style)
        return text
