"""Bad input for train/evaluate/convert: one-line messages, the right exit code, nothing saved lost."""

from __future__ import annotations

import csv
import dataclasses
import subprocess
import sys

import numpy as np
import pytest

from kwtui.core import events as ev
from kwtui.core.errors import UserError
from kwtui.core.features.store import CorruptFeature
from kwtui.core.io.layout import RunLayout
from kwtui.core.preset import save_preset
from kwtui.core.stages.convert import run_convert
from kwtui.core.stages.evaluate import run_evaluate
from kwtui.core.stages.train import run_train
from tests.helpers.model import make_tone_store, tone_preset

SMALL = (8, 3, 3)


def _cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "kwtui", *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=300
    )


def test_missing_store_exits_2_with_one_line(tmp_path):
    preset = tone_preset(tmp_path / "run", ["yes"])
    path = save_preset(preset, tmp_path / "p.toml")
    for stage in ("train", "evaluate", "convert"):
        result = _cli(stage, path)
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
        assert "Traceback" not in result.stderr
    assert "kwtui features tones" in _cli("train", path).stderr
    assert "kwtui train tones" in _cli("convert", path).stderr


def test_empty_store(tmp_path):
    preset = make_tone_store(tmp_path / "run", per_class=SMALL)
    (RunLayout(preset).manifest("train")).write_text("path,label\n")
    with pytest.raises(UserError, match="empty.*kwtui features"):
        run_train(preset, ev.ignore, ev.CancelToken())


def test_a_class_with_no_files_is_named(tmp_path):
    preset = make_tone_store(tmp_path / "run", per_class=SMALL)
    manifest = RunLayout(preset).manifest("train")
    rows = list(csv.reader(manifest.open()))
    with manifest.open("w", newline="") as handle:
        csv.writer(handle).writerows(r for r in rows if r[1] != "no")
    with pytest.raises(UserError, match="no training files for class.*no"):
        run_train(preset, ev.ignore, ev.CancelToken())


@pytest.mark.parametrize("damage", ["truncate", "garbage", "wrong_shape", "nan"])
def test_corrupt_npy_is_named_and_nothing_saved_is_lost(tmp_path, damage):
    preset = make_tone_store(tmp_path / "run", per_class=SMALL)
    layout = RunLayout(preset)
    layout.best_model.write_bytes(b"earlier best")  # stands in for an earlier run's model
    victim = layout.features_dir / "no" / "train_0003.npy"
    if damage == "truncate":
        victim.write_bytes(victim.read_bytes()[:500])
    elif damage == "garbage":
        victim.write_bytes(b"not a numpy file at all")
    elif damage == "wrong_shape":
        np.save(victim, np.zeros((98, 43), np.float32))
    else:
        data = np.load(victim)
        data[5, 5] = np.nan
        np.save(victim, data)
    with pytest.raises(CorruptFeature) as info:
        run_train(preset, ev.ignore, ev.CancelToken())
    assert str(victim) in str(info.value) and "kwtui features" in str(info.value)
    assert info.value.exit_code == 1
    assert layout.best_model.read_bytes() == b"earlier best"


def test_corrupt_test_npy_in_evaluate_and_convert(trained_run, tmp_path):
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(trained_run.run_path, run)
    preset = tone_preset(run, list(trained_run.classes.keywords))
    layout = RunLayout(preset)
    before = {p.name: p.read_bytes() for p in (layout.tflite, layout.model_cc, layout.model_h)}
    victim = layout.features_dir / "yes" / "test_0001.npy"
    victim.write_bytes(victim.read_bytes()[:-10])
    for runner in (run_evaluate, run_convert):
        with pytest.raises(CorruptFeature, match="test_0001.npy"):
            runner(preset, ev.ignore, ev.CancelToken())
    assert {p.name: p.read_bytes() for p in (layout.tflite, layout.model_cc, layout.model_h)} == before


def test_disk_full_during_export_keeps_the_previous_export(trained_run, tmp_path, monkeypatch):
    import os
    import shutil

    from kwtui.core.errors import KwtuiError
    from kwtui.core.io import writer

    run = tmp_path / "copy"
    shutil.copytree(trained_run.run_path, run)
    preset = tone_preset(run, list(trained_run.classes.keywords))
    layout = RunLayout(preset)
    outputs = [layout.tflite, layout.model_cc, layout.model_h, layout.run_dir / "model.json"]
    before = {p: p.read_bytes() for p in outputs}
    monkeypatch.setattr(
        writer, "temp_name", lambda name, keep_suffix=False: f".kwtui-tmp-{os.getpid()}-0000ffff-{name}"
    )
    os.symlink("/dev/full", layout.run_dir / writer.temp_name("model.cc"))  # real ENOSPC when model.cc is written
    with pytest.raises(KwtuiError, match="disk full"):
        run_convert(preset, ev.ignore, ev.CancelToken())
    assert {p: p.read_bytes() for p in outputs} == before  # nothing half-new: all or none
    assert [p for p in layout.run_dir.iterdir() if writer.is_temp_name(p.name) and not p.is_symlink()] == []


def test_split_sizes_per_class_are_shown_before_training(tmp_path):
    from kwtui.core.events import CancelToken, Started
    from kwtui.core.stages.train import run_train
    from tests.helpers.model import collect_events, make_tone_store

    preset = make_tone_store(tmp_path / "run", per_class=(12, 4, 5), train={"epochs": 1})
    report = collect_events()
    run_train(preset, report, CancelToken())
    first = next(e for e in report.events if isinstance(e, Started))
    assert "clips per class (train/validation/test): yes 12/4/5, no 12/4/5, _unknown 12/4/5" in first.message


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_a_damaged_checkpoint_is_named_with_what_to_do(tmp_path, damage):
    """Keras calls a cut-off .keras archive "File not found": kwtui says it is damaged and how to go on, exit 1,
    and the checkpoint is left for the user to inspect."""
    preset = make_tone_store(tmp_path / "run", per_class=SMALL)
    run_train(
        dataclasses.replace(preset, train=dataclasses.replace(preset.train, epochs=1)), ev.ignore, ev.CancelToken()
    )
    layout = RunLayout(preset)
    checkpoint = layout.last_checkpoint
    damaged = checkpoint.read_bytes()[:3000] if damage == "truncate" else b"not a zip archive"
    checkpoint.write_bytes(damaged)
    path = save_preset(
        dataclasses.replace(preset, train=dataclasses.replace(preset.train, epochs=2)), tmp_path / "p.toml"
    )
    result = _cli("train", path, "--resume")
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-1] == (
        f"error: {checkpoint}: damaged ({len(damaged)} bytes, not a complete .keras archive); "
        "run without --resume to start over"
    ), result.stderr
    assert "Traceback" not in result.stderr and "File not found" not in result.stderr
    assert checkpoint.read_bytes() == damaged
