"""End-to-end replay: `kwtui run presets/commands.toml` twice with the same seed gives the same results.

Runs the shipped preset headless on the espeak demo dataset (tests/helpers/data.py) with 2 epochs,
firmware output redirected into the run folder (the repo's firmware/ is never touched).

Determinism: features are numpy with per-file seeds (byte-identical anywhere). Training seeds Python,
numpy and TF and turns on `tf.config.experimental.enable_op_determinism()`, so on one machine two runs
give bit-identical weights, metrics, .tflite and model.cc. What TensorFlow/Keras does *not* make equal:
the wall-clock `seconds` per epoch, the `date_saved` and Python object ids inside the .keras zip
(`metadata.json`, `shared_object_id` in `config.json`). Across machines, oneDNN may pick different CPU
kernels (AVX2 vs AVX-512), so float results can differ in the last bits: the test compares two runs
on the same machine only.
"""

from __future__ import annotations

import csv
import hashlib
import json
import zipfile

import pytest

from tests.helpers.corpus import REPO, kwtui
from tests.reliability.procs import temp_files, tree_digest

OUTPUTS = (
    "features/features.json",
    "features/train.csv",
    "history.csv",
    "model_best.keras",
    "report.json",
    "report.txt",
    "model.tflite",
    "model.cc",
    "model.h",
    "fw/model.cc",
    "fw/model.h",
    "preset.toml",
)


def _replay(demo_dataset, run_dir):
    result = kwtui(
        "run",
        "presets/commands.toml",
        "--set",
        f"dataset.path={demo_dataset}",
        "--set",
        f"run_dir={run_dir}",
        "--set",
        "train.epochs=2",
        "--set",
        f"convert.firmware_dir={run_dir / 'fw'}",
        "--json",
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return {e["stage"]: e["summary"] for e in events if e["event"] == "finished"}


def _history_without_time(path) -> list[dict]:
    with path.open() as handle:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(handle)]


def _weights(path) -> str:
    with zipfile.ZipFile(path) as archive:
        return hashlib.sha256(archive.read("model.weights.h5")).hexdigest()


def _normalised_report(run_dir) -> dict:
    text = (run_dir / "report.json").read_text().replace(str(run_dir), "<run>")
    report = json.loads(text)
    report.pop("seconds", None)
    report.pop("fingerprint", None)  # names its training run, which differs by design
    return report


@pytest.mark.slow
def test_replay_commands_preset_twice_is_identical(tmp_path, demo_dataset):
    default_fw = REPO / "firmware" / "lib" / "neural_network" / "src"  # presets' default convert.firmware_dir
    firmware_before = tree_digest(default_fw) if default_fw.is_dir() else {}
    runs = [tmp_path / "first", tmp_path / "second"]
    summaries = [_replay(demo_dataset, run) for run in runs]

    for run, summary in zip(runs, summaries):
        assert list(summary) == ["features", "train", "evaluate", "convert"], summary.keys()
        for name in OUTPUTS:
            assert (run / name).is_file(), f"{run.name}: {name} missing"
        assert temp_files(run) == []
        assert summary["train"]["epochs_done"] == 2
    first, second = runs
    # features: byte-identical, every file
    assert tree_digest(first / "features") == tree_digest(second / "features")
    # the model and everything derived from it: identical bits
    assert _weights(first / "model_best.keras") == _weights(second / "model_best.keras")
    for name in ("model.tflite", "model.cc", "model.h", "fw/model.cc", "fw/model.h"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    # metrics: per-epoch history (minus wall-clock seconds) and the evaluation report
    assert _history_without_time(first / "history.csv") == _history_without_time(second / "history.csv")
    assert _normalised_report(first) == _normalised_report(second)
    for stage in ("evaluate", "convert"):
        timing = ("seconds", "windows_per_second")  # wall-clock figures
        a = {k: v for k, v in summaries[0][stage].items() if k not in timing and not isinstance(v, str)}
        b = {k: v for k, v in summaries[1][stage].items() if k not in timing and not isinstance(v, str)}
        assert a == b, stage
    # the repository's firmware folder was not written to
    after = tree_digest(default_fw) if default_fw.is_dir() else {}
    assert after == firmware_before
