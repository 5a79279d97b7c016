"""Trained-model fixtures (owned by the training/conversion work). Imported by tests/conftest.py.

- `make_tone_store(run_dir, keywords, ...)` -> Preset: a tiny synthetic feature store written to disk in the
  real layout (features/<label>/<n>.npy, train/validation/test.csv, features.json with a held-out noise
  region). Each keyword is a tone burst at its own frequency, `_unknown` mixes other tones, `_background`
  is noise. Fast (~1 s) and independent of espeak-ng, so training tests stay small and deterministic.
- `tone_features` (session): a Preset whose tone feature store exists (keywords yes,no + _unknown + _background).
- `trained_run` (session): a Preset after train (4 epochs) + evaluate + convert, on `tone_features`;
  its run folder holds model_best.keras, report.json/.txt, model.tflite, model.cc/.h, model.json.
  The firmware_dir of that preset points inside the run folder (nothing is written to the repo tree).
  Stable for the TUI and reliability tests: use it read-only (copy the run folder before changing things).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from kwtui.core.data.frontends import frontend
from kwtui.core.data.spectrogram import SAMPLE_RATE
from kwtui.core.io import ownership, records
from kwtui.core.preset import Preset, from_dict

__all__ = ["make_tone_store", "tone_preset", "tone_features", "trained_run", "collect_events"]

TONE_DATASET = Path(__file__).resolve().parents[1] / "fixtures" / "generated" / "tone-store-has-no-dataset"
_KEYWORD_HZ = [500.0, 1100.0, 1900.0, 2900.0, 4100.0]
_UNKNOWN_HZ = [750.0, 1500.0, 2400.0, 3500.0]


def _tone_clip(rng: np.random.Generator, freqs: list[float], noise: float) -> np.ndarray:
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    length = rng.uniform(0.3, 0.6)
    start = rng.uniform(0.05, 0.95 - length)
    envelope = ((t >= start) & (t < start + length)).astype(np.float64)
    signal = sum(np.sin(2 * np.pi * f * rng.uniform(0.97, 1.03) * t) for f in freqs) * envelope
    return (rng.uniform(0.3, 0.9) * signal + noise * rng.standard_normal(SAMPLE_RATE)).astype(np.float32)


def tone_preset(
    run_dir: Path, keywords: list[str], unknown: bool = True, background: bool = True, **sections
) -> Preset:
    data = {
        "name": "tones",
        "run_dir": str(run_dir),
        "dataset": {"path": str(TONE_DATASET)},  # absolute and fixed: records survive a copy and another cwd
        "classes": {"keywords": keywords, "unknown": unknown, "background": background},
        # the legacy whole-window path (spectrogram + cnn): the tone store holds spectrogram features
        "features": {"frontend": "spectrogram"},
        "train": {"model": "cnn", "epochs": 4, "batch_size": 32, "learning_rate": 0.005, "seed": 1},
        "convert": {"representative_samples": 60, "firmware_dir": str(Path(run_dir) / "firmware_src")},
        "evaluate": {"threshold": 0.8, "hop_ms": 250.0},
    }
    for section, values in sections.items():
        data.setdefault(section, {}).update(values)
    return from_dict(data)


def make_tone_store(
    run_dir: Path,
    keywords: list[str] | None = None,
    unknown: bool = True,
    background: bool = True,
    per_class: tuple[int, int, int] = (40, 10, 12),
    seed: int = 0,
    **sections,
) -> Preset:
    """Write a synthetic feature store for a preset; return the preset."""
    keywords = keywords or ["yes", "no"]
    preset = tone_preset(Path(run_dir), keywords, unknown, background, **sections)
    ownership.claim(preset.run_path, "run_dir")
    features = ownership.claim(preset.features_path, "features.output")
    rng = np.random.default_rng(seed)
    feature = frontend(preset.features.frontend).compute
    counts: dict[str, dict[str, int]] = {}
    for split, n in zip(("train", "validation", "test"), per_class):
        rows = []
        for c, label in enumerate(preset.class_names):
            folder = features / label
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                if label == "_unknown":
                    clip = _tone_clip(rng, [float(rng.choice(_UNKNOWN_HZ))], 0.05)
                elif label == "_background":
                    clip = (rng.uniform(0.05, 0.5) * rng.standard_normal(SAMPLE_RATE)).astype(np.float32)
                else:
                    clip = _tone_clip(rng, [_KEYWORD_HZ[c % len(_KEYWORD_HZ)]], 0.05)
                rel = f"{label}/{split}_{i:04d}.npy"
                np.save(features / rel, feature(clip))
                rows.append((rel, label))
        counts[split] = {label: n for label in preset.class_names}
        with (features / f"{split}.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["path", "label"])
            writer.writerows(rows)
    noise_path = features.parent / "noise" / "white.wav"
    noise_path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(noise_path, (0.2 * rng.standard_normal(SAMPLE_RATE * 20)).astype(np.float32), SAMPLE_RATE)
    info = {
        "classes": preset.class_names,
        "counts": counts,
        "noise_regions": [
            {"file": str(noise_path.resolve()), "split": "test", "start_s": 10.0, "end_s": 20.0, "kind": "noise"}
        ],
        "synthetic": "tone store from tests/helpers/model.py",
        "kind": "features",
        "version": records.RECORD_VERSION,
        "fingerprint": records.features_fingerprint(preset),
        "labels": preset.class_names,
    }
    (features / "features.json").write_text(json.dumps(info, indent=2))
    return preset


def collect_events():
    """A Reporter that keeps every event in a list (`.events`)."""
    events = []

    def report(event):
        events.append(event)

    report.events = events
    return report


@pytest.fixture(scope="session")
def tone_features(tmp_path_factory) -> Preset:
    return make_tone_store(tmp_path_factory.mktemp("tones") / "run")


@pytest.fixture(scope="session")
def trained_run(tone_features) -> Preset:
    from kwtui.core.events import CancelToken, ignore
    from kwtui.core.stages.convert import run_convert
    from kwtui.core.stages.evaluate import run_evaluate
    from kwtui.core.stages.train import run_train

    for runner in (run_train, run_evaluate, run_convert):
        runner(tone_features, ignore, CancelToken())
    return tone_features
