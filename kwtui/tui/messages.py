"""Messages the stage workers post to the UI (from their threads, via post_message)."""

from __future__ import annotations

from typing import Any

from textual.message import Message

from kwtui.core.device.serial_monitor import DetectionEvent
from kwtui.core.events import Event


class StageEvents(Message):
    """A batch of core events from one stage (throttled by EventPump)."""

    def __init__(self, stage: str, events: list[Event]) -> None:
        super().__init__()
        self.stage = stage
        self.events = events


class StageDone(Message):
    """A stage worker ended: status is "ok", "cancelled" or "failed"."""

    def __init__(self, stage: str, status: str, summary: dict[str, Any] | None = None, message: str = "") -> None:
        super().__init__()
        self.stage = stage
        self.status = status
        self.summary = summary or {}
        self.message = message

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class MonitorLine(Message):
    """A line from the board's serial output; `detection` is set for a parsed detection line."""

    def __init__(self, text: str, detection: DetectionEvent | None = None) -> None:
        super().__init__()
        self.text = text
        self.detection = detection
