"""`kwtui run --from train --json`: stdout is only JSON events (the converter's own prints stay out of it),
with per-batch and per-epoch metrics, progress with ETA, resource samples and a summary per stage."""

from __future__ import annotations

import json
import subprocess
import sys

from kwtui.core.preset import save_preset
from tests.helpers.model import make_tone_store


def test_run_json_stream_is_clean_and_complete(tmp_path):
    preset = make_tone_store(tmp_path / "run", per_class=(16, 6, 6), train={"epochs": 2, "batch_size": 8})
    path = save_preset(preset, tmp_path / "tones.toml")
    result = subprocess.run(
        [sys.executable, "-m", "kwtui", "run", str(path), "--from", "train", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]  # every line is JSON
    finished = {e["stage"]: e["summary"] for e in events if e["event"] == "finished"}
    assert list(finished) == ["train", "evaluate", "convert"]
    train = [e for e in events if e["stage"] == "train"]
    batch = [e for e in train if e["event"] == "metric" and e["step"] is not None]
    epoch = [(e["epoch"], e["name"]) for e in train if e["event"] == "metric" and e["step"] is None]
    assert {"loss", "accuracy"} <= {e["name"] for e in batch}
    names = ("loss", "accuracy", "val_loss", "val_accuracy", "val_balanced_accuracy")
    assert epoch == [(n, m) for n in (1, 2) for m in names]
    progress = [e for e in train if e["event"] == "progress"]
    assert progress[-1]["done"] == progress[-1]["total"] == 2 * 8 and progress[-1]["eta_s"] == 0
    assert "samples/s" in progress[-1]["message"]
    assert any(e["event"] == "resources" and e["rss_bytes"] > 0 for e in train)
    assert finished["convert"]["arena_bytes"] > 0 and finished["evaluate"]["accuracy"] is not None
