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

    def mark_done(self, index: int) -> None:
        self.done.add(index)
        self.refresh()

    def render(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(" kwtui ", style="bold reverse")
        for i, title in enumerate(self.titles):
            text.append(" ")
            mark = "✓" if i in self.done else str(i + 1)
            style = "bold reverse" if i == self.current else ("green" if i in self.done else "dim")
            text.append(f"{mark} {title}", style=style)
        return text
