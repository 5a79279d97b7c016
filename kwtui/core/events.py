"""Typed progress events: the only way core stages talk to a front end.

A stage receives a `Reporter` (any callable taking an Event) and a `CancelToken`.
The CLI renders events with Rich or as JSON lines; the wizard posts them as Textual messages.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Union

from kwtui.core.errors import Cancelled


@dataclass(frozen=True)
class Started:
    stage: str
    total: int | None = None  # units of work, when known
    unit: str = "items"
    message: str = ""


@dataclass(frozen=True)
class Progress:
    stage: str
    done: int
    total: int | None
    rate: float = 0.0  # units per second
    eta_s: float | None = None
    unit: str = "items"
    message: str = ""


@dataclass(frozen=True)
class Metric:
    """A named number, e.g. loss/accuracy per batch or epoch."""

    stage: str
    name: str
    value: float
    step: int | None = None  # batch or epoch index
    epoch: int | None = None
    epochs: float | None = None  # how far training is, in epochs, when it was measured (1.5: half-way into epoch 2)


@dataclass(frozen=True)
class Resources:
    """A sample of resource use, for the RAM and disk gauges."""

    stage: str
    rss_bytes: int  # the whole process tree's private resident memory (kwtui.core.monitor.TreeMemory)
    available_bytes: int  # system available RAM
    written_bytes: int = 0  # bytes written by this stage so far
    free_disk_bytes: int = 0  # free space where the stage writes
    mapped_bytes: int = 0  # resident file-backed pages (libraries, memory-mapped caches): shared, reclaimable


@dataclass(frozen=True)
class StageWarning:
    """Something skipped or converted; work goes on."""

    stage: str
    message: str
    path: str = ""


@dataclass(frozen=True)
class Finished:
    stage: str
    summary: dict[str, Any] = field(default_factory=dict)


Event = Union[Started, Progress, Metric, Resources, StageWarning, Finished]
Reporter = Callable[[Event], None]


def ignore(event: Event) -> None:
    """A Reporter that drops everything."""


# the `--json` name of each event (documented output: StageWarning stays "warning")
_JSON_NAMES = {
    Started: "started",
    Progress: "progress",
    Metric: "metric",
    Resources: "resources",
    StageWarning: "warning",
    Finished: "finished",
}


def event_to_json(event: Event) -> dict[str, Any]:
    data = asdict(event)
    data["event"] = _JSON_NAMES[type(event)]
    return data


class CancelToken:
    """Thread-safe cancellation flag checked by long loops."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled()
