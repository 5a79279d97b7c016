"""A dataset without running speech (Speech Commands, a user's folder of clips) still trains against it: the features
stage synthesizes conversation without the dataset's words, says so, and trains and evaluates on it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kwtui.core.events import CancelToken, StageWarning
from kwtui.core.io.layout import RunLayout
from kwtui.core.preset import from_dict
from kwtui.core.stages.features import run_features
from tests.helpers.data import demo_preset_data
from tests.helpers.model import collect_events


@pytest.fixture
def clips_only(demo_dataset, tmp_path) -> Path:
    """The demo dataset without its _running_speech_ folder (links, nothing copied)."""
    folder = tmp_path / "clips_only"
    folder.mkdir()
    for entry in demo_dataset.iterdir():
        if entry.name != "_running_speech_":
            (folder / entry.name).symlink_to(entry)
    return folder


def _features(dataset: Path, run_dir: Path, **classes):
    preset = from_dict(
        demo_preset_data(dataset, run_dir, features={"variants": 0}, classes={"keywords": ["yes", "no"], **classes})
    )
    events = collect_events()
    summary = run_features(preset, events, CancelToken())
    return preset, summary, events.events


def test_without_running_speech_synthesized_conversation_becomes_negatives_and_held_out_audio(clips_only, tmp_path):
    preset, _, events = _features(clips_only, tmp_path / "run")
    layout = RunLayout(preset)
    said = [e.message for e in events if isinstance(e, StageWarning) and "synthesized" in e.message]
    assert len(said) == 1 and "min synthesized by espeak-ng" in said[0]
    synthesized = sorted(layout.synthetic_speech_dir.glob("conversation_*.wav"))
    assert len(synthesized) >= 4
    windows = list((layout.features_dir / "_negative_speech").glob("*.npy"))
    assert windows, "the synthesized speech was not cut into negatives"
    info = json.loads(layout.features_info.read_text())
    speech = [r for r in info["noise_regions"] if r["kind"] == "speech"]
    assert {r["split"] for r in speech} >= {"train", "test"}  # trained on, and held out for the evaluation
    assert all(str(layout.synthetic_speech_dir) in r["file"] for r in speech)
    # a second run reuses the files (same definition): nothing is synthesized again
    stamps = {p: p.stat().st_mtime_ns for p in synthesized}
    _, _, again = _features(clips_only, tmp_path / "run")
    assert {p: p.stat().st_mtime_ns for p in synthesized} == stamps
    assert not [e for e in again if type(e).__name__ == "Started" and "synthesizing" in (e.message or "")]


def test_the_users_own_running_speech_is_used_instead(demo_dataset, tmp_path):
    preset, _, events = _features(demo_dataset, tmp_path / "run")
    assert not RunLayout(preset).synthetic_speech_dir.exists()
    assert not [e for e in events if "synthesized" in getattr(e, "message", "")]


def test_synthesis_can_be_turned_off(clips_only, tmp_path):
    preset, _, _ = _features(clips_only, tmp_path / "run", synthesize_negative_speech=False)
    assert not RunLayout(preset).synthetic_speech_dir.exists()
    assert not (RunLayout(preset).features_dir / "_negative_speech").exists()


def test_synthesized_speech_is_used_with_a_relative_run_folder(clips_only, tmp_path, monkeypatch):
    """The default run folder is relative (runs/<name>): the synthesized files must still be read, not taken for
    a dataset folder of that name and skipped as unreadable (they were)."""
    monkeypatch.chdir(tmp_path)
    preset, summary, _ = _features(clips_only, Path("runs") / "rel")
    assert summary["files_skipped"] == 0 and summary["clips_skipped"] == 0
    assert list((RunLayout(preset).features_dir / "_negative_speech").glob("*.npy"))


def test_near_miss_negatives_are_synthesized_inside_sentences_and_trained_on(demo_dataset, tmp_path, monkeypatch):
    """classes.near_miss_negatives: sentences each holding one phoneme edit of a keyword ("n'aU", now; "j'Et@",
    yetta) or the keyword run on into a longer word ("j'EsIN", as "yesterday" begins with "yes") join the
    negatives; none sounds like a dataset word, an edit never holds its keyword whole, and nothing holds another
    keyword."""
    from kwtui.core.data import demo, near_misses, synthetic_speech

    monkeypatch.chdir(tmp_path)
    preset, summary, _ = _features(demo_dataset, Path("runs") / "near", near_miss_negatives=True)
    layout = RunLayout(preset)
    made = sorted(layout.near_miss_speech_dir.glob("conversation_*.wav"))
    assert len(made) == synthetic_speech.NEAR_MISS_FILES and summary["files_skipped"] == 0
    info = json.loads(layout.features_info.read_text())
    regions = [r for r in info["noise_regions"] if str(layout.near_miss_speech_dir.absolute()) in r["file"]]
    assert {r["split"] for r in regions} >= {"train", "test"}
    binary = demo.espeak_binary()
    edits = near_misses.near_misses(binary, ["yes", "no"], list(demo.DEFAULT_WORDS))
    said = {near_misses.plain_phonemes(near_misses.phonemes(binary, w)) for w in demo.DEFAULT_WORDS}
    assert edits["yes"] and edits["no"]
    keyword_sound = {w: near_misses.plain_phonemes(near_misses.phonemes(binary, w)) for w in edits}
    for word, found in edits.items():
        runs_on = [e for e in found if near_misses.plain_phonemes(e).startswith(keyword_sound[word])]
        assert len(runs_on) >= 8  # continuations, each a syllable longer than the keyword
        for edit in found:
            plain = near_misses.plain_phonemes(edit)
            assert plain not in said
            assert edit in runs_on or keyword_sound[word] not in plain
            assert not any(sound in plain for other, sound in keyword_sound.items() if other != word)


def test_a_new_near_miss_recipe_makes_the_features_stale(monkeypatch, tmp_path):
    """The synthesized near misses keep their file names when their recipe changes: the features' fingerprint
    carries the recipe's version, or the old feature files would be kept for the new audio."""
    from kwtui.core import recipes
    from kwtui.core.io import records
    from kwtui.core.preset import from_dict

    classes = {"near_miss_negatives": True, "run_on_negatives": True}
    preset = from_dict({"name": "n", "run_dir": str(tmp_path / "run"), "classes": classes})
    before = records.features_fingerprint(preset)
    monkeypatch.setattr(recipes, "NEAR_MISSES", recipes.NEAR_MISSES + 1)
    after_near_misses = records.features_fingerprint(preset)
    monkeypatch.setattr(recipes, "RUN_ON_WORDS", recipes.RUN_ON_WORDS + 1)
    assert len({before, after_near_misses, records.features_fingerprint(preset)}) == 3


def test_run_on_words_are_synthesized_once_and_every_clip_is_a_negative(demo_dataset, tmp_path):
    """classes.run_on_negatives: each keyword run on into longer words ("j'EsIN", as "yesterday" begins with
    "yes"), said by many voices, all trained on as _unknown whatever unknown_ratio is, split by speaker; a second
    run reuses the clips; the model's features are stale when the recipe changes."""
    import csv

    from kwtui.core.data import demo, near_misses, run_on_words
    from kwtui.core.data.scan import scan_dataset
    from kwtui.core.stages.features import preview_plan

    # the wizard's Classes preview, before Features: the run-on words are said to come, nothing is synthesized
    wanted = from_dict(
        demo_preset_data(
            demo_dataset,
            tmp_path / "run",
            features={"variants": 0},
            classes={"keywords": ["yes", "no"], "run_on_negatives": True, "unknown_ratio": 0.1},
        )
    )
    scan = scan_dataset(demo_dataset)
    early = preview_plan(wanted, scan)
    assert any("run on into longer words: synthesized when Features starts" in n for n in early.notes), early.notes
    assert not any(job.output.startswith("_run_on/") for job in early.jobs)
    assert not RunLayout(wanted).run_on_words_dir.exists()
    preset, summary, _ = _features(demo_dataset, tmp_path / "run", run_on_negatives=True, unknown_ratio=0.1)
    layout = RunLayout(preset)
    # once they exist, the preview counts every file the features stage planned
    later = preview_plan(wanted, scan)
    assert not any("run on" in n for n in later.notes) and len(later.jobs) == summary["files_total"]
    folders = sorted(p for p in layout.run_on_words_dir.iterdir() if p.is_dir())
    assert {p.name.split("_")[0] for p in folders} == {"yes", "no"}
    assert all(len(list(p.glob("*.wav"))) == run_on_words.CLIPS_PER_WORD for p in folders)
    rows = []
    for split in ("train", "validation", "test"):
        with layout.manifest(split).open(newline="") as handle:
            rows += [(split, row) for row in csv.DictReader(handle)]
    run_ons = [(split, row) for split, row in rows if row["path"].startswith("_run_on/")]
    assert len(run_ons) == len(folders) * run_on_words.CLIPS_PER_WORD  # none thinned out by unknown_ratio
    assert {row["label"] for _, row in run_ons} == {"_unknown"}
    assert {split for split, _ in run_ons} >= {"train", "validation"}
    binary = demo.espeak_binary()
    yes = near_misses.plain_phonemes(near_misses.phonemes(binary, "yes"))
    said = near_misses.run_ons(binary, ["yes", "no"], ["marvin"])["yes"]
    assert said and all(near_misses.plain_phonemes(s).startswith(yes) and len(s) > len("j'Es") for s in said)
    stamps = {p: p.stat().st_mtime_ns for p in layout.run_on_words_dir.rglob("*.wav")}
    _features(demo_dataset, tmp_path / "run", run_on_negatives=True, unknown_ratio=0.1)
    assert {p: p.stat().st_mtime_ns for p in layout.run_on_words_dir.rglob("*.wav")} == stamps
