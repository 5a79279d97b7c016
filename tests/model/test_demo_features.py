"""The training stages on the real feature store made by the features stage from the espeak-ng demo dataset
(`demo_features`): the contract between the two stages (manifests, features.json, noise regions) holds."""

from __future__ import annotations

import csv
import json
import shutil

from kwtui.core import events as ev
from kwtui.core.io import ownership
from kwtui.core.io.layout import RunLayout
from kwtui.core.preset import from_dict
from kwtui.core.stages.convert import FIRMWARE_OPS, run_convert
from kwtui.core.stages.evaluate import run_evaluate
from kwtui.core.stages.train import run_train


def test_train_evaluate_convert_on_demo_features(demo_features, tmp_path):
    data = demo_features.to_dict()
    run = ownership.claim(tmp_path / "run", "run_dir")
    shutil.copytree(demo_features.features_path, run / "features")
    data.update(run_dir=str(run))
    data["features"]["output"] = str(run / "features")
    data["train"].update(epochs=6, batch_size=32)
    data["convert"].update(firmware_dir=str(tmp_path / "fw"), representative_samples=50)
    preset = from_dict(data)
    layout = RunLayout(preset)
    info = json.loads(layout.features_info.read_text())

    trained = run_train(preset, ev.ignore, ev.CancelToken())
    assert trained["epochs_done"] == 6
    evaluated = run_evaluate(preset, ev.ignore, ev.CancelToken())
    assert evaluated["ambient_hours"] > 0
    report = json.loads(layout.report_json.read_text())
    # a small model on minutes of ambient audio: never a point that hears nothing, never "meets the target"
    assert report["operating_point"]["false_reject_rate"] < 1.0 and not evaluated["meets_target"]
    assert report["verdict"]["status"] in ("not usable", "not measurable")
    assert evaluated["verdict"] == report["verdict"]["line"]
    assert layout.report_txt.read_text().splitlines()[0] == report["verdict"]["line"]
    assert report["confusion_matrix"]["labels"] == info["classes"] == preset.class_names
    # the ambient audio holds every held-out source once: other words read back from the dataset's wavs, the
    # test regions of the noise files and of the running speech
    with layout.manifest("test").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    words = [r for r in rows if r["label"] == "_unknown" and not r["path"].startswith("_negative_speech/")]
    assert report["ambient"]["sources"]["other_word_clips"] == len(words) > 0
    held_out = [r for r in info["noise_regions"] if r["split"] == "test"]
    assert report["ambient"]["sources"]["noise_regions"] == len([r for r in held_out if r["kind"] == "noise"]) > 0
    assert report["ambient"]["sources"]["speech_regions"] == len([r for r in held_out if r["kind"] == "speech"]) > 0
    assert set(report["ambient"]["seconds_by_kind"]) >= {"words", "speech", "noise"}
    assert all(row["false_accepts_per_hour"] is not None for row in report["threshold_sweep"])
    converted = run_convert(preset, ev.ignore, ev.CancelToken())
    meta = json.loads((run / "model.json").read_text())
    assert meta["labels"] == preset.class_names and set(meta["ops"]) <= set(FIRMWARE_OPS)
    assert converted["tflm_float_agreement"] >= 0.9
    assert (tmp_path / "fw" / "model.cc").exists()
