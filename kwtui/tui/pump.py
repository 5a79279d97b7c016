"""EventPump: the Reporter a stage gets when it runs in a wizard worker thread.

Core stages may report hundreds of events a second (per-batch metrics, per-file progress). The pump batches them
and posts at most one message every `interval` seconds, keeping only the newest Progress and Resources sample of a
batch (gauges need the latest value, not every value). A Progress that carries a message is a line for the log
(the chip found, the file being written) and is kept like metrics and warnings. Started/Finished post at once.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

from kwtui.core.events import Event, Finished, Progress, Resources, Started


class EventPump:
    def __init__(self, post: Callable[[list[Event]], None], interval: float = 0.2) -> None:
        self._post = post
        self._interval = interval
        self._lock = threading.Lock()
        self._pending: list[Event] = []
        self._last_post = 0.0

    def __call__(self, event: Event) -> None:
        batch: list[Event] = []
        with self._lock:
            if isinstance(event, (Progress, Resources)):
                self._pending = [e for e in self._pending if not _superseded(e, event)]
            self._pending.append(event)
            now = time.monotonic()
            if isinstance(event, (Started, Finished)) or now - self._last_post >= self._interval:
                batch, self._pending, self._last_post = self._pending, [], now
        if batch:
            self._post(batch)

    def flush(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
        if batch:
            self._post(batch)


def _superseded(pending: Event, newer: Event) -> bool:
    """A gauge sample is replaced by a newer one of its kind; a Progress with a log line never is."""
    return type(pending) is type(newer) and not (isinstance(pending, Progress) and pending.message)
