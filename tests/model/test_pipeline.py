"""End to end on the tone store (`trained_run`): learns, evaluates, converts to int8 verified in TFLite Micro,
and exports a model.cc that compiles and holds exactly the .tflite bytes."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import numpy as np
import pytest

from kwtui.core.features.store import load_batch, load_splits
from kwtui.core.io.layout import RunLayout
from kwtui.core.stages.convert import FIRMWARE_OPS, tflm_predict, tflm_runs


@pytest.fixture(scope="module")
def layout(trained_run):
    return RunLayout(trained_run)


@pytest.fixture(scope="module")
def meta(layout):
    return json.loads((layout.run_dir / "model.json").read_text())


def test_model_learns_well_above_chance(layout, trained_run):
    report = json.loads(layout.report_json.read_text())
    chance = 1 / len(trained_run.class_names)
    assert report["accuracy"] >= 0.7 > 2 * chance
    assert report["test_held_out"] is True
    matrix = np.array(report["confusion_matrix"]["rows_true_cols_predicted"])
    assert matrix.shape == (4, 4) and matrix.sum() == report["test_clips"]
    assert set(report["per_class"]) == {"yes", "no", "_unknown", "_background"}
    assert report["ambient"]["seconds_by_kind"]["noise"] == pytest.approx(10.0, abs=0.1)  # held-out noise, once
    assert (
        report["keyword_placements"]["clips"]
        == report["per_class"]["yes"]["support"] + report["per_class"]["no"]["support"]
    )
    sweep = report["threshold_sweep"]
    frr = [row["false_reject_rate"] for row in sweep]
    assert frr == sorted(frr), "FRR must not decrease with the threshold"
    assert all(row["false_accepts_per_hour"] is not None for row in sweep)
    text = layout.report_txt.read_text()
    assert "confusion matrix" in text and "threshold sweep" in text and "per hour" in text
    # the verdict quotes the point's figures on audio it was not chosen on: every placed keyword counted once
    unseen = report["operating_point"]["unseen"]
    assert unseen["keywords"] == report["keyword_placements"]["clips"]
    assert unseen["hours"] == pytest.approx(report["ambient"]["hours"], abs=1e-3)
    assert f"misses {unseen['false_reject_rate']:.0%} of held-out keywords" in text.splitlines()[0]
    assert "on audio it was not chosen on" in text


def test_history_and_checkpoints(layout, trained_run):
    state = json.loads(layout.train_state.read_text())
    assert state["epochs_done"] == trained_run.train.epochs
    assert layout.best_model.exists() and layout.last_checkpoint.exists()
    lines = layout.history.read_text().splitlines()
    assert lines[0].startswith("epoch,loss,accuracy,val_loss,val_accuracy")
    assert len(lines) == 1 + trained_run.train.epochs


def test_int8_in_tflm_matches_float_within_two_points(meta):
    assert meta["quantization"] == "int8"
    assert meta["input_dtype"] == "int8" and meta["output_dtype"] == "int8"
    assert abs(meta["tflm_accuracy"] - meta["float_accuracy"]) <= 0.02
    assert meta["tflm_accuracy"] >= 0.7
    assert set(meta["ops"]) <= set(FIRMWARE_OPS)
    assert meta["model_bytes"] <= 45 * 1024  # the default model's size target


def test_tflm_runs_with_exactly_the_reported_arena_and_not_clearly_less(layout, meta, trained_run):
    tflite = layout.tflite.read_bytes()
    assert meta["arena_bytes"] <= 25 * 1024
    assert meta["arena_bytes"] == meta["arena_min_bytes"] + meta["arena_margin_bytes"]
    assert tflm_runs(tflite, meta["arena_bytes"])
    assert tflm_runs(tflite, meta["arena_min_bytes"])
    assert not tflm_runs(tflite, meta["arena_min_bytes"] - 256)
    # the reported arena really classifies the test clips like the conversion check did
    test = load_splits(layout, ("test",))["test"]
    probs = tflm_predict(tflite, meta["arena_bytes"], load_batch(test.paths), meta)
    assert np.mean(probs.argmax(1) == test.labels) == pytest.approx(meta["tflm_accuracy"], abs=1e-4)


def _header_constants(text: str) -> dict[str, str]:
    return dict(re.findall(r"constexpr \w+ (k\w+) = ([^;]+);", text))


def test_model_h_contract(layout, meta, trained_run):
    header = layout.model_h.read_text()
    constants = _header_constants(header)
    assert "#pragma once" in header and "#include <cstdint>" in header
    assert "extern const unsigned char g_model[];" in header
    assert "extern const unsigned int g_model_len;" in header
    assert "extern const char* const kClassLabels[kNumClasses];" in header
    assert int(constants["kTensorArenaSize"]) == meta["arena_bytes"]
    assert int(constants["kNumClasses"]) == 4 and int(constants["kNumKeywords"]) == 2
    assert constants["kSigmoidOutput"] == "false"
    assert float(constants["kInputScale"].rstrip("f")) == pytest.approx(meta["input_scale"])
    assert int(constants["kInputZeroPoint"]) == meta["input_zero_point"]
    assert float(constants["kOutputScale"].rstrip("f")) == pytest.approx(meta["output_scale"])
    assert int(constants["kOutputZeroPoint"]) == meta["output_zero_point"]
    assert (constants["kFeatureFrames"], constants["kFeatureBins"]) == ("99", "43")
    # the operating point the evaluation picked for evaluate.target_fa_per_hour, not the preset's threshold
    op = json.loads(layout.report_json.read_text())["operating_point"]
    assert int(constants["kAverageWindow"]) == op["average_window"] == meta["average_window"]
    assert float(constants["kDetectionThreshold"].rstrip("f")) == pytest.approx(op["threshold"])
    assert int(constants["kRefractoryMs"]) == 1000 and int(constants["kHopMs"]) == 250
    firmware = layout.firmware_dir
    assert (firmware / "model.h").read_text() == header
    assert (firmware / "model.cc").read_bytes() == layout.model_cc.read_bytes()


MAIN_CC = r"""
#include <cstdio>
#include <cstdint>
#include "model.h"
int main(int argc, char** argv) {
  if (reinterpret_cast<std::uintptr_t>(g_model) % 16 != 0) return 3;
  std::FILE* out = std::fopen(argv[1], "wb");
  std::fwrite(g_model, 1, g_model_len, out);
  std::fclose(out);
  std::printf("%u %d %d %s %s\n", g_model_len, kTensorArenaSize, kNumClasses, kClassLabels[0],
              kClassLabels[kNumClasses - 1]);
  return 0;
}
"""


@pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not installed")
def test_model_cc_compiles_and_holds_the_tflite_bytes(layout, meta, tmp_path):
    (tmp_path / "main.cc").write_text(MAIN_CC)
    binary = tmp_path / "check"
    subprocess.run(
        [
            "g++",
            "-std=c++17",
            "-Wall",
            "-Werror",
            "-O0",
            f"-I{layout.run_dir}",
            str(tmp_path / "main.cc"),
            str(layout.model_cc),
            "-o",
            str(binary),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    dumped = tmp_path / "dumped.tflite"
    out = subprocess.run([str(binary), str(dumped)], check=True, capture_output=True, text=True).stdout.split()
    tflite = layout.tflite.read_bytes()
    assert dumped.read_bytes() == tflite
    assert out == [str(len(tflite)), str(meta["arena_bytes"]), "4", "yes", "_background"]


def test_evaluation_runs_the_model_in_tflm_without_tensorflow(layout, trained_run, tmp_path):
    """Evaluation slides the float TFLite model in TFLite Micro (its outputs are Keras's) and never loads
    TensorFlow, so its memory does not start at TensorFlow's."""
    import sys

    from kwtui.core.model import load_keras
    from kwtui.core.preset import save_preset
    from kwtui.core.stages.evaluate import load_scorer

    test = load_splits(layout, ("test",))["test"]
    x = load_batch(test.paths[:32])
    tflm = load_scorer(layout, layout.best_model)(x)
    keras_out = np.asarray(load_keras(layout.best_model)(x, training=False))
    assert np.max(np.abs(tflm - keras_out)) < 1e-4
    probe = (
        "import sys; from kwtui.core.preset import load_preset; from kwtui.core import events as ev; "
        "from kwtui.core.stages.evaluate import run_evaluate; "
        f"run_evaluate(load_preset({str(save_preset(trained_run, tmp_path / 'p.toml'))!r}), ev.ignore, "
        "ev.CancelToken()); "
        "print('tensorflow' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "False"


def test_ambient_recordings_are_used_or_skipped_with_their_reason(trained_run, tmp_path):
    """evaluate.ambient_folders as a user fills it: a good recording counts, a FIFO (which would block a read) and
    a file that is not audio are each skipped with one warning naming it; a folder that is not there is refused
    naming the field (it was skipped, and the hours it should have added silently missing)."""
    import copy
    import os

    import soundfile as sf

    from kwtui.core import events as ev
    from kwtui.core.stages.evaluate import run_evaluate

    preset = copy.deepcopy(trained_run)
    shutil.copytree(trained_run.run_path, tmp_path / "run")
    preset.run_dir = str(tmp_path / "run")
    preset.features.output = str(tmp_path / "run" / "features")
    folder = tmp_path / "recordings"
    folder.mkdir()
    sf.write(
        folder / "room.wav", (0.1 * np.random.default_rng(0).standard_normal(48000 * 90)).astype(np.float32), 48000
    )
    os.mkfifo(folder / "pipe.wav")
    (folder / "notes.wav").write_bytes(b"this is not a wav file at all" * 10)
    preset.evaluate.ambient_folders = [str(folder), str(tmp_path / "missing")]
    from kwtui.core.errors import UserError

    with pytest.raises(UserError, match="evaluate.ambient_folders: .*missing: not a folder"):
        run_evaluate(preset, ev.ignore, ev.CancelToken())
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("recordings go here")
    (empty / "short.wav").write_bytes(b"RIFF....WAVE")  # not audio
    preset.evaluate.ambient_folders = [str(folder), str(empty)]  # a folder that gives nothing: refused too
    with pytest.raises(UserError, match="evaluate.ambient_folders: .*empty: no usable recording"):
        run_evaluate(preset, ev.ignore, ev.CancelToken())
    preset.evaluate.ambient_folders = [str(folder)]
    events = []
    summary = run_evaluate(preset, events.append, ev.CancelToken())
    warnings = [e.message + " " + (e.path or "") for e in events if isinstance(e, ev.StageWarning)]
    assert any("pipe.wav" in w and "not a regular file" in w for w in warnings), warnings
    assert any("notes.wav" in w and "skipped" in w for w in warnings), warnings
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["ambient"]["sources"]["recordings"] == 1
    assert report["ambient"]["seconds_by_kind"]["recording"] == pytest.approx(90.0, abs=0.5)
    assert summary["ambient_hours"] > 90 / 3600
