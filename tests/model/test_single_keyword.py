"""One keyword and no other class (diy-alexa's marvin): a binary model whose negatives are every other word
and the noise windows, through the real pipeline (features -> train -> evaluate -> convert in TFLM)."""

from __future__ import annotations

import csv
import json
from collections import Counter

import numpy as np

from kwtui.core import events as ev
from kwtui.core.io.layout import RunLayout
from kwtui.core.preset import from_dict
from kwtui.core.stages.pipeline import run_pipeline
from tests.helpers.data import demo_preset_data


def test_single_keyword_gets_negatives_and_one_sigmoid_output(demo_dataset, tmp_path):
    preset = from_dict(
        demo_preset_data(
            demo_dataset,
            tmp_path / "run",
            classes={"keywords": ["marvin"], "unknown": False, "background": False},
            train={"epochs": 3},
            convert={"firmware_dir": str(tmp_path / "fw")},
        )
    )
    assert preset.single_sigmoid and preset.class_names == ["marvin"]
    run_pipeline(preset, ev.ignore, ev.CancelToken())

    layout = RunLayout(preset)
    with layout.manifest("train").open(newline="") as handle:
        labels = Counter(row["label"] for row in csv.DictReader(handle))
    assert labels["marvin"] > 0 and labels["_unknown"] > 0 and labels["_background"] > 0
    assert json.loads(layout.features_info.read_text())["classes"] == ["marvin"]

    meta = json.loads((layout.run_dir / "model.json").read_text())
    assert meta["sigmoid_output"] is True and meta["labels"] == ["marvin"] and "LOGISTIC" in meta["ops"]
    assert "kSigmoidOutput = true" in (tmp_path / "fw" / "model.h").read_text()
    with layout.manifest("test").open(newline="") as handle:
        test_labels = Counter(row["label"] == "marvin" for row in csv.DictReader(handle))
    assert len(test_labels) == 2
    recalls = [row["recall"] for row in json.loads(layout.report_json.read_text())["per_class"].values()]
    assert np.mean(recalls) > 0.6, "learned more than always answering the larger side (balanced accuracy)"
