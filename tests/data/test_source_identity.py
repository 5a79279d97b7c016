"""A clip whose audio was replaced gets its feature file recomputed; untouched clips keep theirs."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf

from kwtui.core import events as ev
from kwtui.core.preset import from_dict
from kwtui.core.stages.features import run_features
from tests.tui.scripted import write_tiny_dataset


def test_replaced_clip_is_recomputed(tmp_path: Path):
    dataset = write_tiny_dataset(tmp_path / "data")
    preset = from_dict(
        {
            "name": "ident",
            "run_dir": str(tmp_path / "run"),
            "dataset": {"path": str(dataset)},
            "classes": {"keywords": ["yes", "no"]},
            "features": {"variants": 0, "workers": 1},
        }
    )
    run_features(preset, ev.ignore, ev.CancelToken())
    features = preset.features_path
    before = {p: p.read_bytes() for p in features.rglob("*.npy")}
    clip = dataset / "yes" / "00000000_nohash_0.wav"
    target = features / "yes" / "00000000_nohash_0.npy"
    assert target in before

    t = np.arange(16000) / 16000
    sf.write(clip, 0.5 * np.sin(2 * np.pi * 2500 * t), 16000, subtype="PCM_16")  # new audio, same name
    stamp = target.stat().st_mtime_ns + 2_000_000_000
    os.utime(clip, ns=(stamp, stamp))  # a newer clip, even on a coarse-grained clock
    run_features(preset, ev.ignore, ev.CancelToken())
    after = {p: p.read_bytes() for p in features.rglob("*.npy")}
    assert after[target] != before[target]
    assert {p: b for p, b in after.items() if p != target} == {p: b for p, b in before.items() if p != target}


def test_a_cut_off_feature_file_is_not_counted_as_done(tmp_path: Path):
    """A .npy cut short (a disk that filled under another tool, an interrupted copy or rsync of the run folder)
    is written again on resume, not counted as done and handed to training."""
    dataset = write_tiny_dataset(tmp_path / "data")
    preset = from_dict(
        {
            "name": "cut",
            "run_dir": str(tmp_path / "run"),
            "dataset": {"path": str(dataset)},
            "classes": {"keywords": ["yes", "no"]},
            "features": {"variants": 0, "workers": 1},
        }
    )
    run_features(preset, ev.ignore, ev.CancelToken())
    features = preset.features_path
    before = {p: p.read_bytes() for p in features.rglob("*.npy")}
    cut, grown = sorted(before)[:2]
    os.truncate(cut, len(before[cut]) // 2)
    with open(grown, "ab") as handle:  # longer than a feature file: not one kwtui wrote whole either
        handle.write(b"\0" * 16)
    summary = run_features(preset, ev.ignore, ev.CancelToken())
    assert summary["files_written"] == 2 and summary["files_existing"] == len(before) - 2
    assert {p: p.read_bytes() for p in features.rglob("*.npy")} == before
