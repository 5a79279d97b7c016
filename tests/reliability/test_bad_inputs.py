"""A messy dataset through the real CLI: every file is used, converted or skipped with a reason; no crash.

The corpus (tests/helpers/corpus.py) holds 8/24-bit, float, stereo, 8/22.05/44.1/48 kHz, 0.1 s and 3 s,
silent, empty, truncated, non-audio, unreadable (permission), symlink-loop files, stray files, a loop
folder, an empty word folder, non-ASCII and spaced names, a split list naming a missing file and no
testing list. The stage runs with file permissions enforced even as root (see `no_dac_prefix`).
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from kwtui.core.data.micro_frontend import SHAPE as FEATURE_SHAPE  # the default frontend's
from tests.helpers.corpus import (
    IGNORED,
    SKIPPED,
    USABLE,
    clip_name,
    kwtui,
    make_clean_dataset,
    no_dac_prefix,
    write_preset,
)
from tests.reliability.procs import temp_files

PRESET = """name = "messy"
run_dir = "{run_dir}"
[dataset]
path = "{dataset}"
[classes]
keywords = ["yes", "no"]
unknown_ratio = 0.0
[features]
workers = 2
variants = 1
[train]
epochs = 1
batch_size = 16
[convert]
representative_samples = 20
firmware_dir = "{run_dir}/firmware_src"
"""


def _preset(tmp_path, dataset, **fmt):
    return write_preset(tmp_path / "messy.toml", PRESET.format(dataset=dataset, run_dir=tmp_path / "run", **fmt))


def _events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def _manifest_rows(features_dir) -> list[tuple[str, str, str]]:
    rows = []
    for split in ("train", "validation", "test"):
        with (features_dir / f"{split}.csv").open(newline="", encoding="utf-8") as handle:
            rows += [(split, r["path"], r["label"]) for r in csv.DictReader(handle)]
    return rows


def assert_store_consistent(features_dir) -> list[tuple[str, str, str]]:
    """Every manifest row names a valid (98, 40) float32 file (the default frontend); every .npy is in exactly one row."""
    rows = _manifest_rows(features_dir)
    listed = [path for _, path, _ in rows]
    assert len(listed) == len(set(listed)), "a feature file is listed twice"
    on_disk = sorted(str(p.relative_to(features_dir)) for p in features_dir.rglob("*.npy"))
    assert sorted(listed) == on_disk, "manifests and files on disk disagree"
    for path in listed:
        array = np.load(features_dir / path)
        assert array.shape == FEATURE_SHAPE and array.dtype == np.float32 and np.isfinite(array).all(), path
    assert temp_files(features_dir) == []
    return rows


def test_features_on_messy_dataset(tmp_path, bad_corpus):
    preset = _preset(tmp_path, bad_corpus.root)
    result = kwtui("features", preset, "--json", prefix=no_dac_prefix(), timeout=240)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    features_dir = tmp_path / "run" / "features"
    rows = assert_store_consistent(features_dir)
    info = json.loads((features_dir / "features.json").read_text(encoding="utf-8"))
    skipped = {item["path"]: item["reason"] for item in info["skipped"]}
    made = {path.split("__v")[0].removesuffix(".npy") for _, path, _ in rows}

    def produced(rel: str) -> bool:
        return rel.removesuffix(".wav") in made

    for rel in bad_corpus.of(USABLE):
        assert produced(rel), f"{rel}: usable clip has no feature file"
        assert rel not in skipped, f"{rel}: usable clip was skipped ({skipped.get(rel)})"
    for rel in bad_corpus.of(SKIPPED) + bad_corpus.of("either"):
        if rel in bad_corpus.of("either") and produced(rel):
            continue
        assert not produced(rel), f"{rel}: a feature file was made from a broken clip"
        assert rel in skipped, f"{rel}: skipped without being listed in features.json"
        reason = skipped[rel].lower()
        assert any(word in reason for word in bad_corpus.reason_words[rel]), (rel, reason)
    for rel in bad_corpus.of(IGNORED):
        assert not produced(rel)
    assert "empty_word" not in {label for _, _, label in rows}

    # the user sees each skipped file (or a count pointing to features.json) as a warning event
    warnings = [e for e in _events(result.stdout) if e["event"] == "warning"]
    warned_paths = {e["path"] for e in warnings if e["message"].startswith("skipped")}
    more = [e for e in warnings if "more files skipped" in e["message"]]
    missing = sorted(set(skipped) - warned_paths)
    assert not missing or more, f"skipped without a warning event: {missing}"
    finished = [e for e in _events(result.stdout) if e["event"] == "finished"][-1]["summary"]
    assert finished["files_written"] == len(rows)


def test_scan_reports_every_problem(bad_corpus):
    result = kwtui("scan", bad_corpus.root, "--json", prefix=no_dac_prefix())
    assert result.returncode == 0, result.stderr
    scan = [e for e in _events(result.stdout) if e.get("event") == "result"][-1]["scan"]
    problems = {(p["path"], p["kind"]) for p in scan["problems"]}
    paths = {p for p, _ in problems}
    for rel in bad_corpus.of(SKIPPED):
        if rel == "no/header_only.wav" or rel == "yes/empty.wav":
            assert rel in paths, f"{rel}: not reported by scan"
            continue
        assert (rel, "unreadable") in problems, f"{rel}: not reported as unreadable"
    for rel in ("yes/README.txt", "notes.md"):
        assert (rel, "stray_file") in problems
    assert ("empty_word", "empty_folder") in problems
    assert ("yes/does_not_exist.wav", "missing_listed") in problems
    assert ("yes/fmt_stereo.wav", "stereo") in problems
    assert ("yes/rate_8000.wav", "sample_rate") in problems
    assert ("no/long_3s.wav", "wrong_length") in problems
    assert scan["has_split_lists"] is True
    assert "straße café" in scan["words"]


def test_scan_human_output_is_readable(bad_corpus):
    result = kwtui("scan", bad_corpus.root, prefix=no_dac_prefix())
    assert result.returncode == 0, result.stderr
    assert "unreadable" in result.stdout and "problems" in result.stdout


def _only_unreadable_keyword_clips(root):
    """yes has clips, no has only broken ones, another word and noise are fine."""
    make_clean_dataset(root, {"yes": 4, "cat": 4}, noise_seconds=(3.0,), lists=False)
    (root / "no").mkdir()
    (root / "no" / "broken.wav").write_bytes(b"RIFF....WAVEfmt ")
    return root


@pytest.mark.parametrize(
    "make,words",
    [
        (lambda root: root / "missing", ["dataset folder not found"]),
        (lambda root: (root / "file.wav").write_bytes(b"RIFF") and root / "file.wav", ["dataset folder not found"]),
        (lambda root: (root / "empty").mkdir() or root / "empty", ["classes.keywords", "yes"]),
        (
            lambda root: [(root / "ds" / w).mkdir(parents=True) for w in ("yes", "no")] and root / "ds",
            ["classes.keywords", "no readable clips", "yes, no"],
        ),
        (lambda root: _only_unreadable_keyword_clips(root / "ds"), ["classes.keywords", "no readable clips", "no"]),
    ],
    ids=["missing-folder", "a-file", "empty-folder", "word-folders-without-clips", "keyword-only-broken-clips"],
)
def test_unusable_dataset_exits_2(tmp_path, make, words):
    dataset = make(tmp_path)
    preset = _preset(tmp_path, dataset)
    result = kwtui("features", preset, timeout=120)
    assert result.returncode == 2, (result.stdout, result.stderr)
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    for word in words:
        assert word in errors[0], errors[0]


def test_keyword_not_in_dataset_exits_2(tmp_path, clean_dataset):
    """Presets table, the row that needs a dataset: detected when `kwtui features` scans it."""
    preset = write_preset(
        tmp_path / "zebra.toml",
        PRESET.format(dataset=clean_dataset, run_dir=tmp_path / "run").replace('["yes", "no"]', '["yes", "zebra"]'),
    )
    result = kwtui("features", preset, timeout=120)
    assert result.returncode == 2, result.stderr
    error = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert len(error) == 1 and "classes.keywords" in error[0] and "zebra" in error[0], result.stderr
    assert not list((tmp_path / "run").rglob("*.npy"))


def test_background_without_noise_files_exits_2(tmp_path, clean_dataset):
    preset = write_preset(
        tmp_path / "noiseless.toml",
        PRESET.format(dataset=clean_dataset, run_dir=tmp_path / "run").replace(
            "unknown_ratio = 0.0", 'unknown_ratio = 0.0\nnoise_folders = ["_no_such_noise_"]'
        ),
    )
    result = kwtui("features", preset, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "classes.noise_folders" in result.stderr


@pytest.mark.slow
def test_every_stage_completes_on_messy_dataset(tmp_path, bad_corpus):
    """features -> train (1 epoch) -> evaluate -> convert on the messy corpus.

    The corpus has a validation list but no testing list, so the test split is empty: `kwtui run` must
    stop right after features (before spending time on training) with exit 2 and one line saying what to do
    (features kept). With a testing list added, the same command re-uses the features and completes every stage.
    """
    preset = _preset(tmp_path, bad_corpus.root)
    run = tmp_path / "run"
    first = kwtui("run", preset, prefix=no_dac_prefix(), timeout=600)
    assert first.returncode == 2, first.stderr[-3000:]
    errors = [ln for ln in first.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "test" in errors[0] and "Traceback" not in first.stderr, first.stderr[-2000:]
    assert (run / "features" / "features.json").is_file() and not (run / "model_best.keras").exists()

    (bad_corpus.root / "testing_list.txt").write_text(
        "".join(f"{w}/{clip_name(w, i)}\n" for w in ("yes", "no") for i in (2, 3)) + "cat/" + clip_name("cat", 2) + "\n"
    )
    second = kwtui("run", preset, "--json", prefix=no_dac_prefix(), timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    for name in ("features/features.json", "model_best.keras", "report.json", "model.tflite", "model.cc", "model.h"):
        assert (run / name).is_file(), name
    assert (run / "firmware_src" / "model.cc").is_file()
    features = [e for e in _events(second.stdout) if e["event"] == "finished" and e["stage"] == "features"][-1]
    assert features["summary"]["files_existing"] > 0, "features were not re-used"
    assert json.loads((run / "report.json").read_text())
    assert temp_files(run) == []


def test_a_keyword_spelled_with_other_unicode_code_points_than_its_folder_is_named(tmp_path):
    """A folder unpacked on macOS is decomposed (NFD: 'e' + combining accent); the keyword typed on Linux is
    composed (NFC). Same letters, other bytes: the line says so and how to rename the folder."""
    import unicodedata

    dataset = make_clean_dataset(tmp_path / "data", {"yes": 4, "no": 4}, noise_seconds=(3.0,), lists=False)
    (dataset / "yes").rename(dataset / unicodedata.normalize("NFD", "café"))
    preset = write_preset(
        tmp_path / "cafe.toml",
        PRESET.format(dataset=dataset, run_dir=tmp_path / "run").replace('["yes", "no"]', '["café", "no"]'),
    )
    result = kwtui("features", preset, timeout=120)
    assert result.returncode == 2, result.stderr
    error = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert len(error) == 1 and "how its accents are encoded" in error[0] and "convmv" in error[0], result.stderr
    assert "Traceback" not in result.stderr
