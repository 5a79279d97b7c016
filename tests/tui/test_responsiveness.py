"""Responsiveness targets of the wizard, measured with bench/tui.py's functions (see BENCHMARKS.md, "Wizard"):
start-up to first paint under 1.5 s without TensorFlow; key-press-to-update median under 100 ms while the real
features and training stages run in worker threads."""

from __future__ import annotations

import asyncio
import importlib.util
import statistics
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "tui.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_tui", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_first_paint_is_fast_and_does_not_import_tensorflow() -> None:
    times, tensorflow_loaded = load_bench().first_paint(runs=3)
    assert not tensorflow_loaded
    assert statistics.median(times) < 1.5, times


@pytest.mark.slow
def test_keypress_latency_while_features_and_training_run(demo_dataset: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    bench = load_bench()
    features, train = bench.make_presets(tmp_path, demo_dataset)
    result = asyncio.run(bench.keypress_latency(features, train, presses=20))
    assert result["both_running_at_start"]
    assert statistics.median(result["busy"]) < 0.100, result["busy"]
    assert max(result["busy"]) < 2.0, result["busy"]  # loose: a shared CI box can stall any process
