"""`kwtui run` as an SSH session would see it: the connection drops (SIGKILL/SIGHUP-like death) or the
user presses Ctrl-C, then the same command (with --resume) picks up where it stopped.
"""

from __future__ import annotations

import json
import signal

import pytest

from tests.helpers.corpus import write_preset
from tests.reliability.procs import temp_files, watch

PRESET = """name = "ssh"
run_dir = "{run_dir}"
[dataset]
path = "{dataset}"
[classes]
keywords = ["yes", "no"]
[features]
workers = 2
variants = 1
[train]
epochs = 4
batch_size = 32
[convert]
representative_samples = 40
firmware_dir = "{run_dir}/fw"
"""


def _finished(outcome, stage):
    found = [e for e in outcome.events if e["event"] == "finished" and e["stage"] == stage]
    return found[-1]["summary"] if found else None


@pytest.mark.slow
def test_run_killed_during_training_resumes_without_redoing_work(tmp_path, demo_dataset):
    run_dir = tmp_path / "run"
    preset = write_preset(tmp_path / "ssh.toml", PRESET.format(dataset=demo_dataset, run_dir=run_dir))
    epoch_ends = []

    def kill_after_second_epoch(event):
        if event["event"] == "metric" and event["name"] == "val_accuracy" and event.get("step") is None:
            epoch_ends.append(event["epoch"])
            if event["epoch"] == 2:
                return signal.SIGKILL
        return None

    first = watch(["run", preset], decide=kill_after_second_epoch, timeout=400)
    assert first.signalled == signal.SIGKILL and first.returncode == -signal.SIGKILL, first.stderr[-2000:]
    total = _finished(first, "features")["files_total"]
    assert _finished(first, "train") is None

    second = watch(["run", preset, "--resume"], timeout=400)
    assert second.returncode == 0, second.stderr[-2000:]
    features = _finished(second, "features")
    assert features["files_existing"] == total and features["files_written"] == 0
    train = _finished(second, "train")
    assert train["resumed_from_epoch"] >= 1 and train["epochs_done"] == 4
    for stage in ("evaluate", "convert"):
        assert _finished(second, stage) is not None
    state = json.loads((run_dir / "checkpoints" / "train_state.json").read_text())
    assert [row["epoch"] for row in state["history"]] == [1, 2, 3, 4]
    assert temp_files(run_dir) == []


def test_ctrl_c_during_run_exits_130_with_one_line(tmp_path, demo_dataset):
    run_dir = tmp_path / "run"
    preset = write_preset(tmp_path / "ssh.toml", PRESET.format(dataset=demo_dataset, run_dir=run_dir))
    outcome = watch(
        ["run", preset],
        decide=lambda e: (
            signal.SIGINT if e["event"] == "progress" and e["stage"] == "features" and e["done"] > 20 else None
        ),
        timeout=300,
    )
    assert outcome.signalled == signal.SIGINT
    assert outcome.returncode == 130, outcome.stderr[-2000:]
    errors = [ln for ln in outcome.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in outcome.stderr, outcome.stderr
    assert "features" in errors[0] and "resume" in errors[0], errors[0]
    assert _finished(outcome, "train") is None  # no later stage started after the interruption
    assert temp_files(run_dir) == []
