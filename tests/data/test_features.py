"""The features stage end to end: values, manifests, resume after kill -9, bad files, disk preflight, cancel, JSON."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tomli_w

from kwtui.core import events as ev
from kwtui.core.data.audio import load_audio, load_clip
from kwtui.core.data.frontends import frontend
from kwtui.core.data.micro_frontend import SHAPE as FEATURE_SHAPE  # the default frontend's
from kwtui.core.errors import Cancelled
from kwtui.core.io.layout import SPLITS, RunLayout
from kwtui.core.preset import from_dict, load_preset
from kwtui.core.stages.features import run_features
from tests.data.badfiles import BAD_CLIPS, make_bad_dataset
from tests.helpers.data import demo_preset_data


def write_preset(path: Path, dataset: Path, run_dir: Path, /, **sections) -> Path:
    path.write_text(tomli_w.dumps(demo_preset_data(dataset, run_dir, **sections)))
    return path


def manifest_rows(preset) -> dict[str, list[dict[str, str]]]:
    layout = RunLayout(preset)
    return {s: list(csv.DictReader(layout.manifest(s).open())) for s in SPLITS}


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if ".tmp" in p.name]


class Collect(list):
    def __call__(self, event):
        self.append(event)


def test_demo_features_end_to_end(demo_features):
    preset = demo_features
    layout = RunLayout(preset)
    info = json.loads(layout.features_info.read_text())
    rows = manifest_rows(preset)
    assert info["classes"] == ["yes", "no", "left", "right", "_unknown", "_background"]
    for split in SPLITS:
        counted = {c: 0 for c in info["classes"]}
        for row in rows[split]:
            counted[row["label"]] += 1
        assert counted == info["counts"][split]
        assert all(counted[c] > 0 for c in info["classes"]), (split, counted)
    assert {r["split"] for r in info["noise_regions"]} == {"train", "validation", "test"}
    assert not temp_files(layout.features_dir)

    dataset = Path(info["dataset"])
    for row in rows["train"][:5] + rows["test"][:5]:
        array = np.load(layout.features_dir / row["path"])
        assert array.shape == FEATURE_SHAPE and array.dtype == np.float32
    original = next(r["path"] for r in rows["train"] if r["label"] == "yes" and "__v" not in r["path"])
    expected = frontend(preset.features.frontend).compute(load_clip(dataset / original.replace(".npy", ".wav")).samples)
    assert np.array_equal(np.load(layout.features_dir / original), expected)
    variant = np.load(layout.features_dir / original.replace(".npy", "__v1.npy"))
    assert not np.array_equal(variant, expected)
    # augmented: shifted, maybe pitched, reverberant, with speech around it, and noise at 0-20 dB SNR filling the
    # silence (which moves the quiet bins a long way); resumed runs reproduce it exactly (test below). Bounded by
    # half of the feature's range: 8 decades of the spectrogram's log10, 0-26 of the micro frontend's
    half_range = {"spectrogram": 4.0, "micro": 13.0}[preset.features.frontend]
    assert np.all(np.isfinite(variant)) and np.abs(variant - expected).mean() < half_range

    window = next(r["path"] for r in rows["test"] if r["label"] == "_background")
    stem, start_ms = Path(window).stem.rsplit("__", 1)
    noise = load_audio(dataset / "_background_noise_" / f"{stem}.wav").samples
    start = int(start_ms) * 16
    computed = frontend(preset.features.frontend).compute(noise[start : start + 16000])
    assert np.array_equal(np.load(layout.features_dir / window), computed)


def test_resume_after_sigkill_is_byte_identical(demo_dataset, tmp_path):
    sections = {"features": {"variants": 3, "workers": 1}}
    reference = load_preset(write_preset(tmp_path / "ref.toml", demo_dataset, tmp_path / "ref", **sections))
    run_features(reference, ev.ignore, ev.CancelToken())

    preset_file = write_preset(tmp_path / "killed.toml", demo_dataset, tmp_path / "killed", **sections)
    command = [sys.executable, "-m", "kwtui", "features", str(preset_file), "--json"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, start_new_session=True)
    killed_at = None
    for line in process.stdout:
        event = json.loads(line)
        if event["event"] == "progress" and event["stage"] == "features" and 0 < event["done"] < event["total"] * 0.6:
            os.killpg(process.pid, signal.SIGKILL)  # main, forkserver and workers: like a power cut for the app
            killed_at = event["done"]
            break
    process.wait(timeout=30)
    assert killed_at is not None, "the run finished before it could be killed"
    features_dir = tmp_path / "killed" / "features"
    assert not (features_dir / "train.csv").exists()
    written = sum(1 for _ in features_dir.rglob("*.npy"))
    for path in features_dir.rglob("*.npy"):  # everything under a final name is complete
        assert np.load(path).shape == FEATURE_SHAPE

    resumed = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    events = [json.loads(line) for line in resumed.stdout.splitlines()]
    assert {e["event"] for e in events} >= {"started", "progress", "resources", "finished"}
    summary = events[-1]["summary"]
    assert events[-1]["event"] == "finished" and summary["files_existing"] == written > 0
    assert summary["files_written"] == summary["files_total"] - written

    assert not temp_files(features_dir)
    got, want = tree_bytes(features_dir), tree_bytes(tmp_path / "ref" / "features")
    assert sorted(got) == sorted(want)
    assert [name for name in want if got[name] != want[name]] == []


def test_bad_files_are_converted_or_skipped_with_reasons(demo_dataset, tmp_path):
    root = make_bad_dataset(demo_dataset, tmp_path / "bad")
    preset = from_dict(demo_preset_data(root, tmp_path / "run", classes={"keywords": ["yes", "no"]}))
    events = Collect()
    summary = run_features(preset, events, ev.CancelToken())
    info = json.loads(RunLayout(preset).features_info.read_text())
    skipped = {item["path"]: item["reason"] for item in info["skipped"]}
    converted = {item["path"]: item["notes"] for item in info["converted"]}
    listed = {row["path"] for rows in manifest_rows(preset).values() for row in rows}
    for name, outcome in BAD_CLIPS.items():
        rel = f"yes/{name}"
        in_manifest = rel.replace(".wav", ".npy") in listed
        assert (rel in skipped) == (outcome == "skipped"), (rel, skipped.get(rel))
        assert in_manifest == (outcome != "skipped"), rel
        assert (rel in converted) == (outcome == "converted"), (rel, converted.get(rel))
    assert "silent" in skipped["yes/silent_nohash_0.wav"]
    assert "empty" in skipped["yes/noframes_nohash_0.wav"]
    assert "not readable" in skipped["yes/notaudio_nohash_0.wav"]
    assert "downmixed" in converted["yes/stereo_nohash_0.wav"]
    assert "resampled 44100" in converted["yes/rate44k_nohash_0.wav"]
    assert "cropped" in converted["yes/long3s_nohash_0.wav"]
    assert "padded" in converted["yes/truncated_nohash_0.wav"]
    warned = " ".join(f"{e.path} {e.message}" for e in events if isinstance(e, ev.StageWarning))
    assert all(f"yes/{n}" in warned for n, outcome in BAD_CLIPS.items() if outcome == "skipped")
    assert summary["files_skipped"] == sum(1 for o in BAD_CLIPS.values() if o == "skipped")


def test_disk_preflight_refuses_with_sizes(demo_dataset, tmp_path):
    preset_file = write_preset(tmp_path / "p.toml", demo_dataset, tmp_path / "run")
    env = {**os.environ, "KWTUI_FAKE_FREE_BYTES": "2000000"}
    result = subprocess.run(
        [sys.executable, "-m", "kwtui", "features", str(preset_file)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 2
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("error: ") and str(tmp_path / "run" / "features") in message
    assert "MB free" in message and "need about" in message
    assert not list((tmp_path / "run").rglob("*.npy"))


def test_cancel_stops_and_rerun_finishes(demo_dataset, tmp_path):
    preset = from_dict(demo_preset_data(demo_dataset, tmp_path / "run", features={"variants": 3, "workers": 1}))
    cancel = ev.CancelToken()
    progress: list[ev.Progress] = []

    def report(event):
        if isinstance(event, ev.Progress) and event.stage == "features":
            progress.append(event)
            if event.done > 0:
                cancel.cancel()

    started = time.monotonic()
    with pytest.raises(Cancelled, match=r"features: (\d+) of \d+ files done; re-run to resume") as stopped:
        run_features(preset, report, cancel)
    assert time.monotonic() - started < 30
    features_dir = RunLayout(preset).features_dir
    assert not temp_files(features_dir)
    # before the first file, each set-up phase is named (it showed "0/N files" for a minute); after the cancel the
    # last count shown is what is on disk (it stayed at the last tick)
    phases = [e.message for e in progress if e.done == 0]
    assert any("noise cache" in m for m in phases) and any("starting 1 worker" in m for m in phases), phases
    on_disk = len(list(features_dir.rglob("*.npy")))
    assert progress[-1].message == "cancelled" and progress[-1].done == on_disk
    assert f"features: {on_disk} of" in str(stopped.value)
    summary = run_features(preset, ev.ignore, ev.CancelToken())
    assert summary["files_existing"] > 0 and summary["files_written"] > 0

    # changed settings: the old files are replaced, not mixed in
    events = Collect()
    changed = from_dict(demo_preset_data(demo_dataset, tmp_path / "run", features={"variants": 1, "workers": 1}))
    again = run_features(changed, events, ev.CancelToken())
    assert any(isinstance(e, ev.StageWarning) and "settings changed" in e.message for e in events)
    assert again["files_existing"] == 0
    assert not list(features_dir.rglob("*__v3.npy"))


def test_ctrl_c_exits_130_with_resume_hint(demo_dataset, tmp_path):
    preset_file = write_preset(
        tmp_path / "p.toml", demo_dataset, tmp_path / "run", features={"variants": 3, "workers": 1}
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "kwtui", "features", str(preset_file), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    for line in process.stdout:
        event = json.loads(line)
        if event["event"] == "progress" and event["stage"] == "features" and 0 < event["done"] < event["total"]:
            os.killpg(process.pid, signal.SIGINT)  # what a terminal does: the whole foreground group
            break
    process.stdout.read()
    assert process.wait(timeout=30) == 130
    stderr = process.stderr.read()
    assert re.search(r"error: features: \d+ of \d+ files done; re-run to resume", stderr), stderr
    assert "Traceback" not in stderr
    assert not temp_files(tmp_path / "run" / "features")


def test_unwritable_output_is_a_user_error(demo_dataset, tmp_path):
    from kwtui.core.errors import UserError

    (tmp_path / "a_file").write_text("not a folder")
    preset = from_dict(
        demo_preset_data(demo_dataset, tmp_path / "run", features={"output": str(tmp_path / "a_file" / "features")})
    )
    with pytest.raises(UserError, match="cannot create or write the folder"):
        run_features(preset, ev.ignore, ev.CancelToken())


def _tiny_preset(tmp_path, **features):
    from tests.tui.scripted import write_tiny_dataset

    dataset = write_tiny_dataset(tmp_path / "data")
    return from_dict(
        {
            "name": "tiny",
            "run_dir": str(tmp_path / "run"),
            "dataset": {"path": str(dataset)},
            "classes": {"keywords": ["yes", "no"], "synthesize_negative_speech": False},
            "features": {"variants": 1, "workers": 1, **features},
        }
    )


def test_a_settings_change_removes_only_the_feature_files_kwtui_wrote(tmp_path):
    """Regenerating after a settings change deletes the .npy files the folder's manifests list or this run
    would write, never a user's own .npy that happens to sit in the features folder."""
    import dataclasses

    preset = _tiny_preset(tmp_path)
    run_features(preset, ev.ignore, ev.CancelToken())
    features = RunLayout(preset).features_dir
    mine = [features / "yes" / "user_notes.npy", features / "my_embeddings" / "user_vectors.npy"]
    for path in mine:
        path.parent.mkdir(exist_ok=True)
        np.save(path, np.arange(3))
    listed = [row["path"] for row in csv.DictReader(open(features / "train.csv"))]
    reseeded = dataclasses.replace(preset, features=dataclasses.replace(preset.features, seed=7))
    run_features(reseeded, ev.ignore, ev.CancelToken())
    assert all(np.array_equal(np.load(path), np.arange(3)) for path in mine)
    now = [row["path"] for split in SPLITS for row in csv.DictReader(open(features / f"{split}.csv"))]
    assert now and all((features / p).exists() for p in now)
    assert not [p for p in set(listed) - set(now) if (features / p).exists()]  # the old ones went


def test_out_of_date_features_name_the_settings_that_changed(tmp_path):
    """The features' stale reason (the wizard's Features and Training steps, kwtui's refusals) names what changed,
    with both values, from the settings the features folder says its files were made with."""
    import dataclasses

    from kwtui.core.io.records import features_status

    preset = _tiny_preset(tmp_path)
    run_features(preset, ev.ignore, ev.CancelToken())
    assert features_status(RunLayout(preset)).done
    shifted = dataclasses.replace(preset, features=dataclasses.replace(preset.features, time_shift_ms=300.0))
    status = features_status(RunLayout(shifted))
    assert status.state == "stale", status
    assert status.reason.endswith(f"(time_shift_ms: {preset.features.time_shift_ms} -> 300.0)"), status.reason


def test_features_output_inside_the_dataset_is_refused_before_anything_is_written(tmp_path):
    from kwtui.core.errors import UserError

    preset = _tiny_preset(tmp_path, output=str(tmp_path / "data" / "features"))
    before = sorted(p.relative_to(tmp_path) for p in (tmp_path / "data").rglob("*"))
    with pytest.raises(UserError, match="features.output: .* is inside the dataset"):
        run_features(preset, ev.ignore, ev.CancelToken())
    assert sorted(p.relative_to(tmp_path) for p in (tmp_path / "data").rglob("*")) == before


def test_negative_speech_and_noise_folders_are_used_wherever_they_are_or_refused(tmp_path, monkeypatch):
    """A folder outside the dataset (a path, ~ expanded) is trained on like one inside it; a folder named but not
    found, or holding no usable audio, is refused naming the field (it was silently ignored)."""
    import dataclasses

    import soundfile

    from kwtui.core.errors import UserError

    preset = _tiny_preset(tmp_path)
    home = tmp_path / "home"
    podcasts = home / "podcasts"
    podcasts.mkdir(parents=True)
    rng = np.random.default_rng(1)
    soundfile.write(podcasts / "talk.wav", 0.1 * rng.standard_normal(16000 * 12), 16000, subtype="PCM_16")
    monkeypatch.setenv("HOME", str(home))

    def with_speech(*folders):
        return dataclasses.replace(preset, classes=dataclasses.replace(preset.classes, negative_speech=list(folders)))

    summary = run_features(with_speech("~/podcasts"), ev.ignore, ev.CancelToken())
    assert summary
    rows = [
        row["path"] for split in SPLITS for row in csv.DictReader(open(RunLayout(preset).features_dir / f"{split}.csv"))
    ]
    assert any(p.startswith("_negative_speech/podcasts__talk__") for p in rows), rows[:5]
    # features.json and the summary say what was used, and how much: 12 s of the podcast, split 80/10/10
    used = json.loads(RunLayout(preset).features_info.read_text())["negatives"]
    podcast = next(n for n in used if n["folder"] == str(podcasts))
    assert podcast["kind"] == "speech" and podcast["files"] == 1
    assert sum(podcast["minutes"].values()) == pytest.approx(0.2, abs=0.01) and podcast["minutes"]["train"] > 0.1
    assert f"{podcasts} 0.2 min speech" in summary["negatives"]
    (home / "empty").mkdir()
    for folders, words in (
        (["~/missing"], "is neither a folder of the dataset"),
        (["~/empty"], "holds no usable audio"),
    ):
        with pytest.raises(UserError, match=f"classes.negative_speech: .*{words}"):
            run_features(with_speech(*folders), ev.ignore, ev.CancelToken())


def test_a_noise_folder_outside_the_dataset_is_used_as_background(tmp_path, monkeypatch):
    """classes.noise_folders may name any folder ($VAR expanded): its recordings become `_background` windows
    and features.json says how many minutes came from it; a missing one is refused naming the field."""
    import dataclasses

    import soundfile

    from kwtui.core.errors import UserError

    preset = _tiny_preset(tmp_path)
    hum = tmp_path / "recordings" / "fridge"
    hum.mkdir(parents=True)
    t = np.arange(16000 * 6) / 16000
    soundfile.write(hum / "hum.wav", 0.05 * np.sin(2 * np.pi * 50 * t), 16000, subtype="PCM_16")
    monkeypatch.setenv("KWTUI_TEST_NOISE", str(hum.parent))

    def with_noise(*folders):
        return dataclasses.replace(preset, classes=dataclasses.replace(preset.classes, noise_folders=list(folders)))

    run_features(with_noise("$KWTUI_TEST_NOISE/fridge"), ev.ignore, ev.CancelToken())
    layout = RunLayout(preset)
    rows = [row for split in SPLITS for row in csv.DictReader(open(layout.features_dir / f"{split}.csv"))]
    background = [r for r in rows if r["path"].startswith("_background/fridge__hum__")]
    assert background and {r["label"] for r in background} == {"_background"}, rows[:5]
    used = json.loads(layout.features_info.read_text())["negatives"]
    fridge = next(n for n in used if n["folder"] == str(hum))
    assert fridge["kind"] == "noise" and sum(fridge["minutes"].values()) == pytest.approx(0.1, abs=0.01)
    with pytest.raises(UserError, match="classes.noise_folders: .*is neither a folder of the dataset"):
        run_features(with_noise("$KWTUI_TEST_NOISE/missing"), ev.ignore, ev.CancelToken())
