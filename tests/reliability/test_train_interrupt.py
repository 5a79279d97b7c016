"""Training survives SIGKILL/SIGHUP/SIGTERM and Ctrl-C: `--resume` continues; the best checkpoint is never lost.

Uses the tone feature store of tests/helpers/model.py (tiny, fast epochs) and the real CLI.
"""

from __future__ import annotations

import csv
import json
import random
import signal
import zipfile

import pytest

from kwtui.core.io.layout import RunLayout
from kwtui.core.preset import save_preset
from tests.helpers.model import make_tone_store
from tests.reliability.procs import temp_files, watch

EPOCHS = 9
TRAIN_PER_CLASS = 48


def _store(tmp_path, seed: int = 0):
    preset = make_tone_store(tmp_path / "run", per_class=(TRAIN_PER_CLASS, 8, 8), seed=seed, train={"epochs": EPOCHS})
    path = save_preset(preset, tmp_path / "tones.toml")
    return preset, path


def _valid_keras_file(path) -> bool:
    """A .keras file is a zip; a half-written one fails the CRC/central-directory check."""
    if not path.exists() or not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return archive.testzip() is None and "config.json" in archive.namelist()


def _history(layout: RunLayout) -> list[dict]:
    with layout.history.open() as handle:
        return list(csv.DictReader(handle))


def _epoch_end(event: dict) -> int | None:
    if event.get("event") == "metric" and event.get("name") == "val_accuracy" and event.get("step") is None:
        return event["epoch"]
    return None


@pytest.mark.slow
def test_killed_between_epochs_then_resume(tmp_path):
    """Kill at seeded random batches (mid-epoch, or right after an epoch's last batch, before its checkpoints),
    resume until done; after each kill the best model is a valid file and never worse. The child stops itself at
    the chosen batch (KWTUI_TEST_STOP_AT_STEP) and is signalled there, whatever the machine's load; it runs with a
    terminal's signal dispositions (procs.watch), so SIGHUP ends it as it does when an SSH connection drops."""
    preset, preset_file = _store(tmp_path)
    layout = RunLayout(preset)
    steps = -(-TRAIN_PER_CLASS * len(preset.class_names) // preset.train.batch_size)  # batches per epoch
    rng = random.Random(1234)
    best_seen = None
    # SIGKILL (OOM killer), SIGHUP (SSH connection drops), SIGTERM (`kill`, `timeout`, systemd)
    for attempt, sig in enumerate([signal.SIGKILL, signal.SIGHUP, signal.SIGTERM, signal.SIGKILL]):
        done = json.loads(layout.train_state.read_text())["epochs_done"] if layout.train_state.exists() else 0
        left = (EPOCHS - done) * steps
        # this run's batch: past its first epoch (each resume makes progress), two epochs always left after it
        stop_at = rng.randint(steps + 1, max(steps + 1, left - 2 * steps))
        args = ["train", preset_file] + (["--resume"] if attempt else [])
        outcome = watch(args, env={"KWTUI_TEST_STOP_AT_STEP": str(stop_at)}, when_stopped=sig, timeout=240)
        print(f"attempt {attempt}: {sig!r} after batch {stop_at} of {left} (epochs done before: {done})")
        assert outcome.signalled == sig, (outcome.returncode, outcome.stderr[-500:])
        assert outcome.returncode == -sig, (sig, outcome.returncode, outcome.stderr[-500:])
        state = json.loads(layout.train_state.read_text()) if layout.train_state.exists() else None
        assert state is None or state["epochs_done"] < EPOCHS  # stopped mid-training, as chosen
        if state and state["best"]:
            assert _valid_keras_file(layout.best_model), f"best checkpoint lost or half-written after {sig!r}"
            assert _valid_keras_file(layout.last_checkpoint)
            if best_seen is not None:  # the best never gets worse across kills
                assert state["best"]["val_accuracy"] >= best_seen["val_accuracy"]
            best_seen = state["best"]

    final = watch(["train", preset_file, "--resume"], timeout=240)
    assert final.returncode == 0, final.stderr
    state = json.loads(layout.train_state.read_text())
    assert state["epochs_done"] == EPOCHS
    history = _history(layout)
    assert [int(row["epoch"]) for row in history] == list(range(1, EPOCHS + 1))  # no epoch lost or repeated
    best_row = max(history, key=lambda r: (float(r["val_accuracy"]), -float(r["val_loss"])))
    assert state["best"]["epoch"] == int(best_row["epoch"])
    assert _valid_keras_file(layout.best_model)
    leftovers = temp_files(layout.run_dir)
    assert leftovers == [], f"temp files left after resume: {leftovers}"


@pytest.mark.slow
def test_sigint_stops_training_with_130_and_a_summary(tmp_path):
    preset, preset_file = _store(tmp_path, seed=1)
    layout = RunLayout(preset)
    outcome = watch(
        ["train", preset_file],
        decide=lambda e: signal.SIGINT if _epoch_end(e) == 2 else None,
        timeout=240,
    )
    assert outcome.signalled == signal.SIGINT
    assert outcome.returncode == 130, outcome.stderr
    lines = [ln for ln in outcome.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, outcome.stderr
    assert "--resume" in lines[0] and "epoch" in lines[0], lines[0]
    assert "Traceback" not in outcome.stderr
    state = json.loads(layout.train_state.read_text())
    assert state["epochs_done"] >= 2  # what was finished is kept
    assert _valid_keras_file(layout.best_model)
    resumed = watch(["train", preset_file], timeout=240)  # the same command again continues it
    assert resumed.returncode == 0, resumed.stderr
    finished = [e for e in resumed.events if e["event"] == "finished"]
    assert finished and finished[-1]["summary"]["resumed_from_epoch"] >= 2
    assert finished[-1]["summary"]["epochs_done"] == EPOCHS


def test_fresh_run_keeps_the_previous_best_model(tmp_path):
    """Re-training from scratch in a run folder never destroys the earlier best model."""
    preset, preset_file = _store(tmp_path, seed=2)
    layout = RunLayout(preset)
    first = watch(["train", preset_file, "--set", "train.epochs=1"], timeout=240)
    assert first.returncode == 0, first.stderr
    earlier = layout.best_model.read_bytes()
    second = watch(["train", preset_file, "--set", "train.epochs=1"], timeout=240)
    assert second.returncode == 0, second.stderr
    previous = layout.best_model.with_name("model_best.previous.keras")
    assert previous.read_bytes() == earlier
    assert _valid_keras_file(layout.best_model)
