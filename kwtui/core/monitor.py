"""Resource sampling for the RAM and disk gauges: the process tree's private and file-backed resident memory,
available RAM, bytes written, free disk."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
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


@dataclass(frozen=True)
class TreeMemory:
    """Resident memory of a process and its children (workers).

    `private_bytes`: anonymous pages (heaps, arrays), each process's own: what the tree takes from RAM.
    `mapped_bytes`: file-backed pages (shared libraries, the memory-mapped noise cache) of the process that has the
    most; every worker maps the same files, and the page cache can drop them and read them again, so summing them
    per process (as plain RSS does) counted one 1 GB cache once per worker."""

    private_bytes: int
    mapped_bytes: int


def tree_memory(process: psutil.Process | None = None) -> TreeMemory:
    """Private and file-backed resident memory of a process and all its children; vanished children are skipped."""
    process = process or psutil.Process()
    private = mapped = 0
    for proc in [process, *process.children(recursive=True)]:
        try:
            info = proc.memory_info()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        shared = getattr(info, "shared", 0)  # Linux: RssFile + RssShmem (from /proc/<pid>/statm, cheap)
        private += info.rss - shared
        mapped = max(mapped, shared)
    return TreeMemory(private, mapped)


def tree_rss_bytes(process: psutil.Process | None = None) -> int:
    """The process tree's private resident memory (TreeMemory.private_bytes): what the RAM gauges and peaks show."""
    return tree_memory(process).private_bytes


class ResourceMonitor:
    """Samples resources for one stage; `tick()` emits a Resources event at most every `interval` seconds."""

    def __init__(self, path: str | Path, stage: str = "features", interval: float = 0.5) -> None:
        self.path = Path(path)
        self.stage = stage
        self.interval = interval
        self.written_bytes = 0
        self.peak_rss = 0  # private bytes (TreeMemory)
        self.peak_mapped = 0
        self._process = psutil.Process()
        self._last = 0.0
        self._last_peak = 0.0

    def add_written(self, n: int) -> None:
        self.written_bytes += n

    def sample(self) -> Resources:
        memory = self._peak(tree_memory(self._process))
        return Resources(
            stage=self.stage,
            rss_bytes=memory.private_bytes,
            mapped_bytes=memory.mapped_bytes,
            available_bytes=int(psutil.virtual_memory().available),
            written_bytes=self.written_bytes,
            free_disk_bytes=free_disk_bytes(self.path),
        )

    def tick(self, report: Reporter, force: bool = False) -> None:
        """Call often: samples the peak memory every 0.25 s (a /proc walk, ~3 ms), reports every `interval` s."""
        now = time.monotonic()
        if force or now - self._last >= self.interval:
            self._last = self._last_peak = now
            report(self.sample())
        elif now - self._last_peak >= 0.25:
            self._last_peak = now
            self._peak(tree_memory(self._process))

    def _peak(self, memory: TreeMemory) -> TreeMemory:
        self.peak_rss = max(self.peak_rss, memory.private_bytes)
        self.peak_mapped = max(self.peak_mapped, memory.mapped_bytes)
        return memory
