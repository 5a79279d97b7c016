"""Wizard responsiveness. Run: .venv/bin/python bench/tui.py [--presses 40] [--startup-runs 5]

Prints:
- start-up to first paint: wall time from launching a fresh `python` process to Textual's Ready event (the
  first frame is on screen) for the real wizard, headless, 80x24; whether TensorFlow was imported by then.
- key-press-to-update latency at 80x24: a character typed into the Training step's epochs field (key event
  posted -> handled by the Input -> next frame composed), first with nothing running, then while
  the real features stage (process pool) and the real training stage (TensorFlow) run in worker threads and
  stream their events into the same screen (loss/accuracy plots, gauges, progress).

Data: the cached espeak-ng demo dataset of the test suite (tests/helpers/data.py); work files in a temp dir.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

PROBE = """
import json, sys, time
from kwtui.tui.app import WizardApp

class Probe(WizardApp):
    def on_ready(self) -> None:
        self.ready_at = time.time()
        self.exit()

app = Probe()
app.run(headless=True, size=(80, 24))
print(json.dumps({"ready": app.ready_at, "tensorflow": "tensorflow" in sys.modules}))
"""


def first_paint(runs: int = 5) -> tuple[list[float], bool]:
    """Seconds from process launch to the first frame, per run; and whether TensorFlow was loaded."""
    times, tf_loaded = [], False
    with tempfile.TemporaryDirectory() as cwd:
        for _ in range(runs):
            started = time.time()
            out = subprocess.run(
                [sys.executable, "-c", PROBE],
                cwd=cwd,
                capture_output=True,
                text=True,
                env={**os.environ, "PYTHONPATH": str(REPO)},
                check=True,
            ).stdout
            result = json.loads(out.strip().splitlines()[-1])
            times.append(result["ready"] - started)
            tf_loaded |= result["tensorflow"]
    return times, tf_loaded


async def _type_latencies(pilot, field_id: str, presses: int, gap: float = 0.05) -> list[float]:
    """Post a key event as the terminal driver would; stop the clock at the first frame composed after the
    field's value changed. (Pilot.pause cannot be the probe: it waits for the process to be CPU-idle, which it
    never is while TensorFlow trains in the same process.)"""
    from textual import events

    app = pilot.app
    field = app.query_one(f"#{field_id}")
    field.focus()
    await pilot.pause()
    frames: list[float] = []
    original_display = app._display

    def display(screen, renderable):
        if renderable is not None:
            frames.append(time.perf_counter())
        return original_display(screen, renderable)

    app._display = display
    changes: list[float] = []
    field.watch(field, "value", lambda value: changes.append(time.perf_counter()), init=False)
    latencies = []
    try:
        for i in range(presses):
            key, char = ("1", "1") if i % 2 == 0 else ("backspace", None)
            changes.clear()
            started = time.perf_counter()
            app.post_message(events.Key(key, char))
            while True:
                await asyncio.sleep(0.0005)
                after = [f for f in frames if changes and f >= changes[0]]
                if after:
                    latencies.append(after[0] - started)
                    break
                if time.perf_counter() - started > 10:
                    raise AssertionError("no update within 10 s")
            await asyncio.sleep(gap)
    finally:
        app._display = original_display
    return latencies


async def keypress_latency(features_preset, train_preset, presses: int = 40) -> dict[str, object]:
    """Latency idle, then with the features and training stages running at once in workers."""
    from kwtui.tui.app import create_app

    app = create_app(train_preset, port_lister=lambda: [])
    async with app.run_test(size=(80, 24)) as pilot:
        app.go_to(3)
        await pilot.pause()
        idle = await _type_latencies(pilot, "epochs", max(10, presses // 4))
        app.start_stage("features", app.steps[2], features_preset)
        app.start_stage("train", app.steps[3], train_preset)
        deadline = time.monotonic() + 120
        while app.steps[3].batches_seen == 0 and time.monotonic() < deadline:  # TensorFlow loaded, batches flow
            await pilot.pause(0.1)
        both_running = app.task_running("features") and app.task_running("train")
        busy = await _type_latencies(pilot, "epochs", presses)
        still_running = {name: app.task_running(name) for name in ("features", "train")}
        await app.stop_all_work()
    return {"idle": idle, "busy": busy, "both_running_at_start": both_running, "running_at_end": still_running}


def make_presets(work: Path, dataset: Path, variants: int = 100):
    """A features preset with plenty of work, and a training preset on an already generated feature store."""
    from kwtui.core.events import CancelToken
    from kwtui.core.preset import from_dict
    from kwtui.core.stages.features import run_features
    from tests.helpers.data import demo_preset_data

    train = from_dict(demo_preset_data(dataset, work / "train-run", train={"epochs": 200, "batch_size": 16}))
    run_features(train, lambda event: None, CancelToken())
    features = from_dict(
        demo_preset_data(dataset, work / "features-run", features={"variants": variants, "workers": 1})
    )
    return features, train


def summary(values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    return (
        f"median {statistics.median(ms):.1f} ms, p90 {ms[int(0.9 * (len(ms) - 1))]:.1f} ms, "
        f"max {ms[-1]:.1f} ms (n={len(ms)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presses", type=int, default=40)
    parser.add_argument("--startup-runs", type=int, default=5)
    args = parser.parse_args()

    times, tf_loaded = first_paint(args.startup_runs)
    print(
        f"start-up to first paint: median {statistics.median(times):.2f} s, "
        f"min {min(times):.2f} s, max {max(times):.2f} s (n={len(times)}); "
        f"TensorFlow imported: {'yes' if tf_loaded else 'no'}"
    )

    from tests.helpers.data import make_cached_demo_dataset

    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        features, train = make_presets(Path(tmp), make_cached_demo_dataset())
        result = asyncio.run(keypress_latency(features, train, args.presses))
    print(f"key press -> screen updated, idle: {summary(result['idle'])}")
    print(f"key press -> screen updated, features + training running: {summary(result['busy'])}")
    print(
        f"both stages running when measuring started: {result['both_running_at_start']}; "
        f"still running at the end: {result['running_at_end']}"
    )


if __name__ == "__main__":
    main()
