"""Resource gauges: RAM (the process tree's private memory, mapped files apart, system available) and disk (written,
free) with sparkline history."""

from __future__ import annotations

from collections import deque

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Label, Sparkline

from kwtui.core.events import Resources
from kwtui.tui.format import human_bytes

HISTORY = 120  # samples kept for the sparklines (about 30 s at the pump's rate)


class ResourceGauges(Widget):
    DEFAULT_CSS = """
    ResourceGauges { height: auto; }
    ResourceGauges Horizontal { height: 1; }
    ResourceGauges .gauge-name { width: 5; text-style: bold; }
    ResourceGauges .gauge-text { width: 34; }
    ResourceGauges Sparkline { width: 1fr; height: 1; }
    """

    def __init__(self, *, disk: bool = True, id: str | None = None) -> None:
        super().__init__(id=id)
        self.show_disk = disk
        self.rss_history: deque[float] = deque(maxlen=HISTORY)
        self.written_history: deque[float] = deque(maxlen=HISTORY)
        self.peak_rss = 0
        self.last: Resources | None = None

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Label("RAM", classes="gauge-name")
            yield Label("used -  avail -", id="ram-text", classes="gauge-text")
            yield Sparkline([], id="ram-spark")
        if self.show_disk:
            with Horizontal():
                yield Label("Disk", classes="gauge-name")
                yield Label("written -  free -", id="disk-text", classes="gauge-text")
                yield Sparkline([], id="disk-spark")

    def update_sample(self, sample: Resources) -> None:
        self.last = sample
        self.peak_rss = max(self.peak_rss, sample.rss_bytes)
        self.rss_history.append(sample.rss_bytes)
        self.query_one("#ram-text", Label).update(
            f"used {human_bytes(sample.rss_bytes)}"
            + (f" +{human_bytes(sample.mapped_bytes)} mapped" if sample.mapped_bytes else "")
            + f"  avail {human_bytes(sample.available_bytes)}"
        )
        self.query_one("#ram-spark", Sparkline).data = list(self.rss_history)
        if self.show_disk:
            self.written_history.append(sample.written_bytes)
            self.query_one("#disk-text", Label).update(
                f"written {human_bytes(sample.written_bytes)}  free {human_bytes(sample.free_disk_bytes)}"
            )
            self.query_one("#disk-spark", Sparkline).data = list(self.written_history)
