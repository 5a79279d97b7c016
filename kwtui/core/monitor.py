"""Resource sampling for the RAM and disk gauges: process-tree RSS, available RAM, bytes written, free disk."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import psutil

from kwtui.core.events import Reporter, Resources

FAKE_FREE_ENV = "KWTUI_FAKE_FREE_BYTES"  # tests only: pretend the disk has this many free bytes


def free_disk_bytes(path: str | Path) -> int:
    """Free bytes on the disk holding `path` (or its nearest existing parent)."""
    fake = os.environ.get(FAKE_FREE_ENV)
    if fake:
        return int(fake)
    probe = Path(path).resolve()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free


def tree_rss_bytes(process: psutil.Process | None = None) -> int:
    """RSS of a process and all its children (workers); vanished children are skipped."""
    process = process or psutil.Process()
    total = 0
    for proc in [process, *process.children(recursive=True)]:
        try:
            total += proc.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return total


class ResourceMonitor:
    """Samples resources for one stage; `tick()` emits a Resources event at most every `interval` seconds."""

    def __init__(self, path: str | Path, stage: str = "features", interval: float = 0.5) -> None:
        self.path = Path(path)
        self.stage = stage
        self.interval = interval
        self.written_bytes = 0
        self.peak_rss = 0
        self._process = psutil.Process()
        self._last = 0.0
        self._last_peak = 0.0

    def add_written(self, n: int) -> None:
        self.written_bytes += n

    def sample(self) -> Resources:
        rss = tree_rss_bytes(self._process)
        self.peak_rss = max(self.peak_rss, rss)
        return Resources(
            stage=self.stage,
            rss_bytes=rss,
            available_bytes=int(psutil.virtual_memory().available),
            written_bytes=self.written_bytes,
            free_disk_bytes=free_disk_bytes(self.path),
        )

    def tick(self, report: Reporter, force: bool = False) -> None:
        """Call often: samples the peak RSS every 0.25 s (a /proc walk, ~3 ms), reports every `interval` s."""
        now = time.monotonic()
        if force or now - self._last >= self.interval:
            self._last = self._last_peak = now
            report(self.sample())
        elif now - self._last_peak >= 0.25:
            self._last_peak = now
            self.peak_rss = max(self.peak_rss, tree_rss_bytes(self._process))
