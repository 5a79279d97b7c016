"""Deterministic stand-ins for the stage runners (the wizard's injectable data source), for snapshots and the
latency bench: the same event types the core emits, with fixed numbers, and result files where a step reads them."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from kwtui.core.events import Finished, Metric, Progress, Resources, StageWarning, Started
from kwtui.core.io.layout import RunLayout

MB = 1024 * 1024
CLASSES = ["yes", "no", "_unknown", "_background"]


def scripted_runner(stage: str, preset, report, cancel, *, delay: float = 0.0, **options: Any) -> dict[str, Any]:
    """Replay a fixed run of `stage` (sleeping `delay` between events, checking `cancel`)."""

    def emit(event) -> None:
        cancel.raise_if_cancelled()
        report(event)
        if delay:
            time.sleep(delay)

    if stage == "features":
        total = 240
        emit(Started(stage, total, "files", "240 files to write"))
        for i, done in enumerate(range(0, total + 1, 24)):
            emit(Resources(stage, (120 + 9 * i) * MB, 6000 * MB - 20 * i * MB, done * 17156, 40_000 * MB))
            emit(Progress(stage, done, total, 180.0, (total - done) / 180.0, "files"))
        emit(StageWarning(stage, "converted: resampled 22050 Hz -> 16 kHz", "yes/0a1b2c3d_nohash_0.wav"))
        emit(StageWarning(stage, "skipped: silent clip", "no/5e6f7a8b_nohash_1.wav"))
        summary = {"written": 239, "skipped": 1, "seconds": 1.3}
    elif stage == "train":
        epochs, batches = 4, 6
        emit(Started(stage, epochs * batches, "batches", "cnn, 4 epochs, 6 batches per epoch"))
        for epoch in range(1, epochs + 1):
            for b in range(1, batches + 1):
                t = (epoch - 1) * batches + b
                at = epoch - 1 + b / batches  # as the train stage reports it
                emit(Metric(stage, "loss", 1.4 * 0.93**t, step=t, epoch=epoch, epochs=at))
                emit(Metric(stage, "accuracy", 1 - 0.75 * 0.92**t, step=t, epoch=epoch, epochs=at))
                emit(
                    Progress(
                        stage, b, batches, 3.0, (batches - b) / 3.0, "batches", f"epoch {epoch}/{epochs}, 192 samples/s"
                    )
                )
            emit(Metric(stage, "val_loss", 1.3 * 0.85**epoch, epoch=epoch, epochs=float(epoch)))
            emit(Metric(stage, "val_accuracy", 1 - 0.7 * 0.8**epoch, epoch=epoch, epochs=float(epoch)))
            emit(Resources(stage, (600 + 5 * epoch) * MB, 5200 * MB))
        summary = {"best_epoch": epochs, "best_val_accuracy": round(1 - 0.7 * 0.8**epochs, 3)}
    elif stage == "flash":
        emit(Started(stage, message="dry run: nothing is written to the board"))
        emit(StageWarning(stage, "no serial port found; the command lets esptool search for one"))
        summary = {
            "dry_run": options.get("dry_run", True),
            "command": "python -m esptool --chip esp32 --baud 460800 write-flash 0x2d0000 runs/kwtui/model_partition.bin",
        }
    elif stage in ("evaluate", "convert"):
        write_results(RunLayout(preset))
        summary = {}
    else:
        summary = {}
    emit(Finished(stage, summary))
    return summary


def write_results(layout: RunLayout) -> None:
    """The records of a finished run, in the shapes the stages write: train.json, report.json and model.json,
    with the fingerprints of `layout.preset` (so the wizard shows them as up to date)."""
    from kwtui.core.io import records
    from kwtui.core.report import ClassFigures, CurvePoint
    from tests.helpers.records import minimal_tflite, model_record_fields, write_fresh_records
    from tests.helpers.report import operating_point
    from tests.helpers.report import report as report_of

    write_fresh_records(layout, run_id="snapshot")
    matrix = ((18, 1, 1, 0), (2, 16, 2, 0), (1, 1, 17, 1), (0, 0, 1, 39))
    per_class = {}
    for i, name in enumerate(CLASSES):
        predicted = sum(row[i] for row in matrix)
        per_class[name] = ClassFigures(
            round(matrix[i][i] / predicted, 4), round(matrix[i][i] / sum(matrix[i]), 4), sum(matrix[i])
        )
    curve = [
        CurvePoint(
            w,
            round(t, 2),
            round(60 * (1 - t) ** 2 / w),
            round(30 * (1 - t) ** 2 / w, 2),
            round(min(1.0, 0.02 + 0.5 * t**4 + 0.02 * w), 4),
            3,
            {"yes": round(min(1.0, 0.5 * t**4), 4), "no": round(min(1.0, 0.6 * t**4), 4)},
        )
        for w in (1, 2, 3)
        for t in [0.5 + 0.05 * k for k in range(10)]
    ]
    chosen = next(p for p in curve if p.average_window == 3 and p.threshold == 0.9)
    report = report_of(
        operating_point(chosen, keywords=2, frr_ci=(0.05, 0.3)),
        curve,
        hours=0.02,
        needed=0.0,
        accuracy=0.8875,
        labels=tuple(CLASSES),
        matrix=matrix,
        per_class=per_class,
        support_warnings=("ambient audio is 1.2 min: too short to support 0.5 false accepts/h",),
        fingerprint=records.report_fingerprint(layout),
        preset=layout.preset.name,
    )
    (layout.report_json).write_text(json.dumps(report.to_dict()))
    model = {
        **model_record_fields(layout),
        "quantization": "int8",
        "model_bytes": 38720,
        "arena_bytes": 23488,
        "float_accuracy": 0.8875,
        "tflm_accuracy": 0.8813,
    }
    (layout.run_dir / "model.json").write_text(json.dumps(model))
    layout.tflite.write_bytes(minimal_tflite(len(CLASSES), 38720))  # model.json describes a model that is there


def write_tiny_dataset(root: Path) -> Path:
    """Three words of short tones and a noise file: enough for the Dataset and Classes screens."""
    import numpy as np
    import soundfile

    rng = np.random.default_rng(0)
    for w, word in enumerate(["yes", "no", "left"]):
        (root / word).mkdir(parents=True, exist_ok=True)
        for k in range(3 + w):
            t = np.arange(16000) / 16000
            soundfile.write(
                root / word / f"{k:08x}_nohash_0.wav",
                0.3 * np.sin(2 * np.pi * (300 + 50 * k) * t),
                16000,
                subtype="PCM_16",
            )
    (root / "_background_noise_").mkdir(exist_ok=True)
    soundfile.write(
        root / "_background_noise_" / "white.wav", 0.1 * rng.standard_normal(16000 * 20), 16000, subtype="PCM_16"
    )
    soundfile.write(root / "left" / "deadbeef_nohash_0.wav", np.zeros(22050), 22050, subtype="PCM_16")
    return root
