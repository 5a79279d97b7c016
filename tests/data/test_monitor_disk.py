"""Resource monitor (the process tree's private and mapped memory, fake free space) and a full disk during the
features stage."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import tomli_w

from kwtui.core import events as ev
from kwtui.core.data.micro_frontend import SHAPE as FEATURE_SHAPE  # the default frontend's
from kwtui.core.features.worker import process_batch
from kwtui.core.monitor import FAKE_FREE_ENV, ResourceMonitor, free_disk_bytes, tree_memory, tree_rss_bytes
from tests.helpers.data import demo_preset_data
from tests.helpers.disk import mounted_tmpfs


def test_tree_rss_counts_children():
    alone = tree_rss_bytes()
    child = subprocess.Popen([sys.executable, "-c", "import time; x = b'x' * 60_000_000; time.sleep(30)"])
    try:
        deadline = time.monotonic() + 20
        while tree_rss_bytes() < alone + 50_000_000 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert tree_rss_bytes() >= alone + 50_000_000
    finally:
        child.kill()
        child.wait()


def test_a_memory_mapped_file_read_by_two_workers_is_mapped_memory_counted_once(tmp_path):
    """The features stage's workers memory-map the noise cache: its pages are the page cache's, shared by every
    worker. Plain RSS summed them once per process (a 4.4 GB "RSS" in the progress line); they are reported
    apart, once, and the private figure does not grow with them."""
    cache = tmp_path / "noise.f32"
    cache.write_bytes(np.ones(150_000_000 // 4, dtype="<f4").tobytes())
    reader = f"import numpy as np, time; m = np.memmap({str(cache)!r}, dtype='<f4', mode='r'); m.sum(); time.sleep(30)"
    before = tree_memory()
    children = [subprocess.Popen([sys.executable, "-c", reader]) for _ in range(2)]
    try:
        deadline = time.monotonic() + 30
        while tree_memory().mapped_bytes < 140_000_000 and time.monotonic() < deadline:
            time.sleep(0.1)
        after = tree_memory()
        assert after.mapped_bytes >= 140_000_000  # the file's pages, once
        assert after.mapped_bytes < 2 * 140_000_000
        # two Python processes with numpy, but not the file: well under one copy of it each
        assert after.private_bytes - before.private_bytes < 2 * 60_000_000
    finally:
        for child in children:
            child.kill()
            child.wait()


def test_monitor_throttles_and_reports(tmp_path, monkeypatch):
    monkeypatch.setenv(FAKE_FREE_ENV, "123456789")
    assert free_disk_bytes(tmp_path / "not" / "yet") == 123456789
    monitor = ResourceMonitor(tmp_path, "features", interval=10.0)
    events = []
    monitor.add_written(1000)
    for _ in range(5):
        monitor.tick(events.append)
    assert len(events) == 1
    sample = events[0]
    assert isinstance(sample, ev.Resources) and sample.written_bytes == 1000
    assert sample.free_disk_bytes == 123456789 and sample.rss_bytes > 10_000_000 and sample.available_bytes > 0
    assert monitor.peak_rss >= sample.rss_bytes


@pytest.fixture
def full_disk(tmp_path):
    """A tmpfs with a `yes/` folder and not one free byte left (skips where it cannot mount)."""
    for root in mounted_tmpfs(tmp_path / "full", "64k"):
        (root / "yes").mkdir()
        fd = os.open(root / "filler", os.O_WRONLY | os.O_CREAT)
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, b"\0" * 512)
        os.close(fd)
        yield root


def test_worker_reports_enospc_and_leaves_nothing(demo_dataset, full_disk):
    wav = sorted((demo_dataset / "yes").glob("*.wav"))[0]
    results = process_batch(
        str(full_disk), [(0, str(wav), "yes/x.npy", 0, 1, -1.0), (1, str(wav), "yes/y.npy", 0, 2, -1.0)]
    )
    assert results[0][:2] == (0, "nospace") and len(results) == 1  # the batch stops at the first full-disk error
    assert sorted(p.name for p in (full_disk / "yes").iterdir()) == []


@pytest.fixture
def tiny_disk(tmp_path):
    yield from mounted_tmpfs(tmp_path / "tiny", "400k")  # skips where it cannot mount; the worker-level test runs


def test_disk_full_mid_run_is_a_clear_error(demo_dataset, tmp_path, tiny_disk):
    preset_file = tmp_path / "p.toml"
    data = demo_preset_data(demo_dataset, tmp_path / "run", features={"output": str(tiny_disk / "features")})
    preset_file.write_text(tomli_w.dumps(data))
    env = {**os.environ, FAKE_FREE_ENV: str(10**12)}  # get past the preflight to hit the real ENOSPC
    result = subprocess.run(
        [sys.executable, "-m", "kwtui", "features", str(preset_file)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 1, result.stderr
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("error: features: disk full while writing") and "re-run to resume" in message
    assert "Traceback" not in result.stderr
    npys = list((tiny_disk / "features").rglob("*.npy"))
    assert npys and all(np.load(p).shape == FEATURE_SHAPE for p in npys)  # every final-named file is complete
    assert not [p for p in (tiny_disk / "features").rglob("*") if ".tmp" in p.name]
