"""Demo data shape, dataset scan (headers only) and the class plan (speaker splits, noise regions, seeds)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from kwtui.core.data.demo import held_out_speakers, make_demo_dataset, make_speakers
from kwtui.core.data.plan import AUGMENTED_NEGATIVE, BACKGROUND, UNKNOWN, hash_split, plan_clips, speaker_of
from kwtui.core.data.scan import scan_dataset
from kwtui.core.errors import UserError
from kwtui.core.preset import from_dict
from tests.data.badfiles import make_bad_dataset
from tests.helpers.data import DEMO_PER_WORD, DEMO_WORDS, demo_preset_data


def preset_for(dataset: Path, tmp_path: Path, /, **sections):
    return from_dict(demo_preset_data(dataset, tmp_path / "run", **sections))


# --- demo data ---------------------------------------------------------------------


def test_demo_dataset_shape(demo_dataset):
    for word in DEMO_WORDS:
        clips = sorted((demo_dataset / word).glob("*.wav"))
        assert len(clips) == DEMO_PER_WORD
        for clip in clips:
            speaker, _, n = clip.stem.partition("_nohash_")
            assert len(speaker) == 8 and int(speaker, 16) >= 0 and n.isdigit()
        info = sf.info(clips[0])
        assert info.samplerate == 22050 and info.channels == 1 and info.frames == 22050
    noise = sorted((demo_dataset / "_background_noise_").glob("*.wav"))
    assert {p.name for p in noise} >= {"white_noise.wav", "pink_noise.wav", "brown_noise.wav", "hum_100hz.wav"}
    assert len({sf.info(p).samplerate for p in noise}) >= 2  # 16 kHz and other rates
    assert "synthetic" in (demo_dataset / "README.txt").read_text().lower()


def test_demo_lists_split_by_speaker(demo_dataset):
    lists = {name: (demo_dataset / f"{name}_list.txt").read_text().split() for name in ("validation", "testing")}
    assert lists["validation"] and lists["testing"]
    split_of_speaker: dict[str, set[str]] = defaultdict(set)
    for name, entries in lists.items():
        for rel in entries:
            assert (demo_dataset / rel).is_file()
            split_of_speaker[speaker_of(rel.split("/")[1])].add(name)
    for word in DEMO_WORDS:  # training clips: speakers that are in neither list
        for clip in (demo_dataset / word).glob("*.wav"):
            if f"{word}/{clip.name}" not in lists["validation"] + lists["testing"]:
                split_of_speaker[speaker_of(clip.name)].add("train")
    assert all(len(splits) == 1 for splits in split_of_speaker.values())


def test_demo_holds_out_timbres_not_speeds_of_a_training_voice():
    """Many speakers, few voices: every speaker of a held-out voice + variant is held out with it, so the test split
    is voices the model never heard (by speaker id alone, most test speakers were training timbres)."""
    speakers = make_speakers(300, np.random.default_rng(3))
    assert len({s.timbre for s in speakers}) < len(speakers) / 2  # the case: timbres shared by several speakers
    validation, testing = held_out_speakers(speakers, seed=0)
    assert validation and testing and not validation & testing
    split = {s.id: "validation" if s.id in validation else "test" if s.id in testing else "train" for s in speakers}
    splits_of_timbre: dict[str, set[str]] = defaultdict(set)
    for s in speakers:
        splits_of_timbre[s.timbre].add(split[s.id])
    assert all(len(splits) == 1 for splits in splits_of_timbre.values())
    held_timbres = {s.timbre for s in speakers if split[s.id] != "train"}
    assert 2 <= len(held_timbres) <= 0.3 * len({s.timbre for s in speakers})


def test_demo_is_deterministic(tmp_path):
    for name in ("a", "b"):
        make_demo_dataset(tmp_path / name, ["yes", "up"], per_word=3, seed=5, noise_seconds=2.0)
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert files_a == files_b
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in files_a)


def test_demo_made_again_with_fewer_clips_holds_only_the_new_ones(tmp_path):
    """`kwtui demo-data d --per-word 3`, then `--per-word 2` and other words: the dataset holds what the second
    run made (the first run's clips stayed, and scan counted both); a clip the user added stays."""
    out = tmp_path / "d"
    make_demo_dataset(out, ["yes", "up"], per_word=3, seed=5, noise_seconds=2.0)
    mine = out / "yes" / "my_own_recording.wav"
    shutil.copy(next((out / "yes").glob("*.wav")), mine)
    make_demo_dataset(out, ["yes"], per_word=2, seed=5, noise_seconds=2.0)
    scan = scan_dataset(out)
    assert {w: len(info.clips) for w, info in scan.words.items()} == {"yes": 3}  # 2 new + the user's
    assert mine.exists() and not (out / "up").exists()


def test_demo_into_a_folder_whose_name_is_not_utf8(tmp_path):
    folder = Path(os.fsdecode(os.fsencode(tmp_path) + b"/d\xe9mo"))  # a latin-1 name, as on an old disk
    make_demo_dataset(folder, ["yes"], per_word=1, seed=5, noise_seconds=2.0)
    clips = list((folder / "yes").glob("*.wav"))
    assert len(clips) == 1 and sf.info(os.fsencode(clips[0])).frames == 22050


def test_demo_speakers_include_flite_voices_where_flite_is_installed(tmp_path, monkeypatch):
    """A quarter of the speakers are flite's voices (made from recordings of real people, not espeak's formants),
    each at its own speed and pitch; without flite, the same espeak speakers as ever."""
    from kwtui.core.data import demo
    from kwtui.core.data.demo import FLITE_EVERY, FLITE_VOICES, flite_voices, synthesize

    assert flite_voices() == tuple(FLITE_VOICES), "scripts/setup.sh installs flite"
    espeak_only = make_speakers(40, np.random.default_rng(3))
    mixed = make_speakers(40, np.random.default_rng(3), flite_voices())
    flite = [s for s in mixed if s.flite_voice is not None]
    assert len(flite) == 40 // FLITE_EVERY and not any(s.flite_voice for s in espeak_only)
    assert len({s.flite_voice for s in flite}) >= 3 and len({(s.speed, s.pitch) for s in flite}) == len(flite)
    slow, fast = (replace(flite[0], speed=speed) for speed in (120, 200))
    said = {s.speed: synthesize("espeak-ng", s, "marvin", 0) for s in (slow, fast)}
    assert all(rate == 22050 and np.abs(audio).max() > 0.1 for audio, rate in said.values())
    assert len(said[120][0]) > 1.3 * len(said[200][0])  # its speed is how fast it talks
    summary = make_demo_dataset(tmp_path / "d", ["yes"], per_word=8, seed=5, noise_seconds=2.0)
    assert summary["flite_speakers"] == 1 and "and flite" in (tmp_path / "d" / "README.txt").read_text()
    monkeypatch.setattr(demo, "flite_voices", lambda: ())  # a machine without flite
    assert make_demo_dataset(tmp_path / "e", ["yes"], per_word=8, seed=5, noise_seconds=2.0)["flite_speakers"] == 0
    assert "and flite" not in (tmp_path / "e" / "README.txt").read_text()


def test_demo_without_espeak_is_a_clear_user_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(UserError, match="apt-get install espeak-ng"):
        make_demo_dataset(tmp_path / "out", ["yes"], per_word=1)


# --- scan ----------------------------------------------------------------------------


def test_scan_demo(demo_dataset):
    scan = scan_dataset(demo_dataset)
    assert sorted(scan.words) == sorted(DEMO_WORDS)
    assert scan.total_clips == len(DEMO_WORDS) * DEMO_PER_WORD
    assert scan.total_seconds == pytest.approx(scan.total_clips, rel=1e-3)
    assert scan.rates == {22050: scan.total_clips}
    assert len(scan.noise["_background_noise_"]) == 4
    assert scan.validation_list and scan.testing_list
    assert set(scan.problem_counts()) == {"sample_rate"}  # espeak's 22.05 kHz, nothing else


def test_scan_problems(demo_dataset, tmp_path):
    root = make_bad_dataset(demo_dataset, tmp_path / "bad")
    scan = scan_dataset(root)
    kinds = defaultdict(set)
    for problem in scan.problems:
        kinds[problem.kind].add(problem.path)
    assert kinds["unreadable"] == {"yes/empty_nohash_0.wav", "yes/notaudio_nohash_0.wav"}
    assert {"yes/long3s_nohash_0.wav", "yes/truncated_nohash_0.wav", "yes/noframes_nohash_0.wav"} <= kinds[
        "wrong_length"
    ]
    assert kinds["stereo"] == {"yes/stereo_nohash_0.wav"}
    assert "yes/rate44k_nohash_0.wav" in kinds["sample_rate"]
    assert kinds["bit_depth"] == {"yes/eightbit_nohash_0.wav"}
    assert kinds["stray_file"] == {"yes/notes.txt"}
    assert kinds["empty_folder"] == {"empty_word"}
    assert kinds["missing_listed"] == {"no/missing_nohash_0.wav"}
    assert not any("/tmp" in p.message or str(tmp_path) in p.message for p in scan.problems)


def test_scan_cli_table_and_json(demo_dataset):
    table = subprocess.run(
        [sys.executable, "-m", "kwtui", "scan", str(demo_dataset)], capture_output=True, text=True, timeout=60
    )
    assert table.returncode == 0, table.stderr
    assert "marvin" in table.stdout and "22.05 kHz" in table.stdout and "_background_noise_" in table.stdout
    result = subprocess.run(
        [sys.executable, "-m", "kwtui", "scan", str(demo_dataset), "--json"], capture_output=True, text=True, timeout=60
    )
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert events[0]["event"] == "started" and events[-1]["event"] == "result"
    assert events[-1]["scan"]["total_clips"] == len(DEMO_WORDS) * DEMO_PER_WORD


def test_a_word_folder_given_as_the_dataset_names_its_parent(demo_dataset):
    """A word's own folder (clips, no word folders) was a scan of 40 stray-file notes and no hint; it is bad input
    (exit 2) in one line that names the folder to give instead."""
    word_folder = demo_dataset / "marvin"
    with pytest.raises(UserError, match="no word folders") as raised:
        scan_dataset(word_folder)
    assert str(demo_dataset.resolve()) in str(raised.value)
    result = subprocess.run(
        [sys.executable, "-m", "kwtui", "scan", str(word_folder)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr


# --- plan ----------------------------------------------------------------------------


def _speaker_splits(plan) -> dict[str, set[str]]:
    found: dict[str, set[str]] = defaultdict(set)
    for job in plan.jobs:
        if job.start_s < 0:  # clips (windows of noise and running speech are split by time region)
            found[speaker_of(Path(job.source).name)].add(job.split)
    return found


def test_plan_uses_lists_and_keeps_speakers_in_one_split(demo_dataset, tmp_path):
    scan = scan_dataset(demo_dataset)
    plan = plan_clips(preset_for(demo_dataset, tmp_path), scan)
    assert all(len(s) == 1 for s in _speaker_splits(plan).values())
    for job in plan.jobs:
        if job.start_s < 0:
            rel = "/".join(Path(job.source).parts[-2:])
            expected = "validation" if rel in scan.validation_list else "test" if rel in scan.testing_list else "train"
            assert job.split == expected
    counts = plan.counts()
    assert counts["train"]["yes"] > 0 and counts["validation"]["yes"] > 0 and counts["test"]["yes"] > 0
    assert len({j.output for j in plan.jobs}) == len(plan.jobs)


def test_plan_hash_split_without_lists(demo_dataset, tmp_path):
    scan = scan_dataset(demo_dataset)
    scan.validation_list = scan.testing_list = None
    plan = plan_clips(
        preset_for(demo_dataset, tmp_path, dataset={"validation_percent": 20.0, "testing_percent": 20.0}), scan
    )
    assert all(len(s) == 1 for s in _speaker_splits(plan).values())
    assert {j.split for j in plan.jobs if j.label == "yes"} == {"train", "validation", "test"}
    assert hash_split("abcd1234_nohash_0.wav", 10, 10) == hash_split("abcd1234_nohash_7.wav", 10, 10)


def test_plan_noise_regions_disjoint_and_windows_inside(demo_dataset, tmp_path):
    plan = plan_clips(preset_for(demo_dataset, tmp_path), scan_dataset(demo_dataset))
    by_file = defaultdict(list)
    for region in plan.noise_regions:
        if region.kind == "noise":
            by_file[region.file].append(region)
    assert len(by_file) == 4 and len(plan.test_noise()) == 4
    for file, regions in by_file.items():
        regions.sort(key=lambda r: r.start_s)
        assert [r.split for r in regions] == ["train", "validation", "test"]
        for a, b in zip(regions, regions[1:]):
            assert a.end_s <= b.start_s
        for job in plan.jobs:
            if job.label == BACKGROUND and job.source.endswith(file):
                region = next(r for r in regions if r.split == job.split)
                assert region.start_s <= job.start_s and job.start_s + 1.0 <= region.end_s + 1e-6
                assert job.output == f"_background/{Path(file).stem}__{int(round(job.start_s * 1000))}.npy"


def test_running_speech_becomes_negative_windows_split_by_time(demo_dataset, tmp_path):
    plan = plan_clips(preset_for(demo_dataset, tmp_path), scan_dataset(demo_dataset))
    speech = [r for r in plan.noise_regions if r.kind == "speech"]
    assert speech and {r.file.split("/")[0] for r in speech} == {"_running_speech_"}
    assert {r.split for r in plan.test_speech()} == {"test"}
    windows = [j for j in plan.jobs if j.output.startswith("_negative_speech/")]
    assert windows and {j.label for j in windows} == {UNKNOWN}
    for job in windows:
        region = next(r for r in speech if job.source.endswith(r.file) and r.split == job.split)
        assert region.start_s <= job.start_s and job.start_s + 1.0 <= region.end_s + 1e-6
    without = plan_clips(
        preset_for(demo_dataset, tmp_path, classes={"negative_speech": []}), scan_dataset(demo_dataset)
    )
    assert not any(j.output.startswith("_negative_speech/") for j in without.jobs)


def test_plan_variants_unknown_and_stable_seeds(demo_dataset, tmp_path):
    scan = scan_dataset(demo_dataset)
    preset = preset_for(demo_dataset, tmp_path, features={"variants": 2})
    plan = plan_clips(preset, scan)
    yes_train = [j for j in plan.jobs if j.label == "yes" and j.split == "train"]
    assert {j.variant for j in yes_train} == {0, 1, 2}
    assert all(j.variant == 0 for j in plan.jobs if j.split != "train" or j.label == BACKGROUND)
    # training negatives are augmented in place (same name, no copy), like the keywords' variants
    assert {j.variant for j in plan.jobs if j.split == "train" and j.label == UNKNOWN} == {AUGMENTED_NEGATIVE}
    clips = [j for j in plan.jobs if j.label == UNKNOWN and j.start_s < 0]
    assert {Path(j.source).parent.name for j in clips} <= {"marvin", "up", "down", "go", "stop"}
    originals = sum(
        1 for j in plan.jobs if j.split == "train" and j.label in preset.classes.keywords and j.variant == 0
    )
    assert sum(1 for j in clips if j.split == "train") <= originals
    # seeds depend on (seed, path, variant) only: a plan with fewer words gives the same seeds to shared files
    smaller = plan_clips(preset_for(demo_dataset, tmp_path, classes={"keywords": ["yes"], "unknown": False}), scan)
    seeds = {j.output: j.seed for j in plan.jobs}
    assert all(seeds[j.output] == j.seed for j in smaller.jobs)
    reseeded = plan_clips(preset_for(demo_dataset, tmp_path, features={"seed": 1}), scan)
    assert {j.seed for j in reseeded.jobs}.isdisjoint({j.seed for j in plan.jobs})


def test_plan_missing_keyword_names_it_and_the_words(demo_dataset, tmp_path):
    with pytest.raises(UserError) as error:
        plan_clips(
            preset_for(demo_dataset, tmp_path, classes={"keywords": ["yes", "sheila"]}), scan_dataset(demo_dataset)
        )
    assert "sheila" in str(error.value) and "marvin" in str(error.value)


def test_fast_header_reader_agrees_with_libsndfile(demo_dataset, tmp_path):
    from kwtui.core.data.wav import ClipInfo, _plain_wav_header

    root = make_bad_dataset(demo_dataset, tmp_path / "bad")
    files = sorted(root.rglob("*.wav")) + sorted((demo_dataset / "_background_noise_").glob("*.wav"))
    checked = 0
    for path in files:
        fast = _plain_wav_header(str(path), path.name)
        try:
            info = sf.info(str(path))
        except Exception:
            assert fast is None, path
            continue
        if fast is not None:
            assert fast == ClipInfo(path.name, info.frames, info.samplerate, info.channels, info.subtype), path
            checked += 1
    assert checked >= len(files) - 3


def test_plan_without_background_class_still_splits_noise_for_augmentation(demo_dataset, tmp_path):
    plan = plan_clips(preset_for(demo_dataset, tmp_path, classes={"background": False}), scan_dataset(demo_dataset))
    assert BACKGROUND not in plan.classes and not any(j.label == BACKGROUND for j in plan.jobs)
    assert len(plan.train_noise()) == 4 and len(plan.test_noise()) == 4
