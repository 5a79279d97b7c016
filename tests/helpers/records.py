"""Stage records of a finished run, for fixtures that fake a stage's outputs: what the stages would commit."""

from __future__ import annotations


from kwtui.core.io import ownership, records
from kwtui.core.io.layout import RunLayout


def write_fresh_records(layout: RunLayout, run_id: str = "fixture", extra_features: dict | None = None) -> None:
    """Owned run and features folders, features.json and train.json up to date for `layout.preset`."""
    ownership.claim(layout.run_dir, "run_dir")
    ownership.claim(layout.features_dir, "features.output")
    preset = layout.preset
    fingerprint = records.features_fingerprint(preset)
    features = {"classes": preset.class_names, "params_sha1": fingerprint, **(extra_features or {})}
    layout.features_info.write_text(records.StageRecord("features", fingerprint, preset.class_names, body=features).to_json())
    train = records.StageRecord("train", records.train_fingerprint(preset), preset.class_names, run_id=run_id)
    layout.train_record.write_text(train.to_json())


def model_record_fields(layout: RunLayout) -> dict:
    """The keys of model.json that tie a converted model to its training run and settings."""
    return {"kind": "model", "version": records.RECORD_VERSION, "labels": layout.preset.class_names,
            "fingerprint": records.model_fingerprint(layout), "train_fingerprint": records.train_fingerprint(layout.preset),
            "train_run": records.train_run_id(layout)}
