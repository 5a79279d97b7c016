"""Stage records of a finished run, for fixtures that fake a stage's outputs: what the stages would commit."""

from __future__ import annotations

import json

from kwtui.core.io import ownership, records
from kwtui.core.io.layout import RunLayout


def write_fresh_records(layout: RunLayout, run_id: str = "fixture", extra_features: dict | None = None) -> None:
    """Owned run and features folders, features.json and train.json up to date for `layout.preset`."""
    ownership.claim(layout.run_dir, "run_dir")
    ownership.claim(layout.features_dir, "features.output")
    preset = layout.preset
    features = {"classes": preset.class_names, "params_sha1": records.features_fingerprint(preset), **(extra_features or {})}
    layout.features_info.write_text(json.dumps(features))
    train = {"version": records.RECORD_VERSION, "run_id": run_id, "fingerprint": records.train_fingerprint(preset),
             "labels": preset.class_names}
    layout.train_record.write_text(json.dumps(train))


def model_record_fields(layout: RunLayout) -> dict:
    """The keys of model.json that tie a converted model to its training run and settings."""
    return {"fingerprint": records.model_fingerprint(layout), "train_fingerprint": records.train_fingerprint(layout.preset),
            "train_run": records.train_run_id(layout)}
