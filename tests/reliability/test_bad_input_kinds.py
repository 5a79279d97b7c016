"""Inputs from the real world, through the real CLI: each is used, skipped with its reason, or refused with exit 2
and one line naming the file or field. None hangs (every command runs under a timeout), none ends as an
internal error or a traceback."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import tomli_w

from tests.helpers.corpus import kwtui, no_dac_prefix
from tests.tui.scripted import write_tiny_dataset


def _preset(tmp_path: Path, dataset: Path, **sections) -> Path:
    data = {
        "name": "bad",
        "run_dir": str(tmp_path / "run"),
        "dataset": {"path": str(dataset)},
        "classes": {"keywords": ["yes", "no"]},
        "features": {"variants": 0, "workers": 1},
    }
    for key, value in sections.items():
        data.setdefault(key, {}).update(value)
    path = tmp_path / "bad.toml"
    path.write_text(tomli_w.dumps(data))
    return path


def _clean(result) -> None:
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr


def _one_error(result) -> str:
    _clean(result)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def test_a_fifo_named_like_a_clip_is_skipped_not_waited_on(tmp_path):
    dataset = write_tiny_dataset(tmp_path / "data")
    os.mkfifo(dataset / "yes" / "fifo_nohash_0.wav")
    scan = kwtui("scan", dataset, timeout=60)
    _clean(scan)
    assert scan.returncode == 0 and "not a regular file (fifo)" in scan.stdout
    features = kwtui("features", _preset(tmp_path, dataset), timeout=120)
    _clean(features)
    assert features.returncode == 0, features.stderr


def test_a_file_name_that_is_not_utf8_is_used(tmp_path):
    dataset = write_tiny_dataset(tmp_path / "data")
    source = next((dataset / "yes").glob("*.wav"))
    latin1 = os.fsencode(dataset / "yes") + b"/caf\xe9_nohash_0.wav"
    shutil.copyfile(source, latin1)
    result = kwtui("features", _preset(tmp_path, dataset), timeout=120)
    _clean(result)
    assert result.returncode == 0, result.stderr
    assert any(b"caf\xe9" in os.fsencode(p) for p in (tmp_path / "run" / "features" / "yes").iterdir())


def test_an_unreadable_word_folder_is_reported_not_a_crash(tmp_path):
    dataset = write_tiny_dataset(tmp_path / "data")
    (dataset / "left").chmod(0)
    try:
        scan = kwtui("scan", dataset, prefix=no_dac_prefix(), timeout=60)
    finally:
        (dataset / "left").chmod(0o755)
    _clean(scan)
    assert scan.returncode == 0 and "left: cannot list the folder" in scan.stdout


@pytest.mark.parametrize("spelling", ["./{rel}", "{root}/{rel}", "{rel_backslash}", "\ufeff{rel}", "{rel}\r"])
def test_split_lists_in_any_usual_spelling_match(tmp_path, spelling):
    dataset = write_tiny_dataset(tmp_path / "data")
    rel = "yes/00000001_nohash_0.wav"
    line = spelling.format(rel=rel, root=dataset.resolve(), rel_backslash=rel.replace("/", "\\"))
    (dataset / "testing_list.txt").write_bytes((line + "\n").encode("utf-8"))
    scan = kwtui("scan", dataset, "--json", timeout=60)
    _clean(scan)
    assert "missing_listed" not in scan.stdout, line


def test_a_split_list_that_is_not_utf8_is_refused_naming_it(tmp_path):
    dataset = write_tiny_dataset(tmp_path / "data")
    (dataset / "testing_list.txt").write_bytes(b"yes/caf\xe9.wav\n")
    result = kwtui("scan", dataset, timeout=60)
    assert result.returncode == 2 and "testing_list.txt" in _one_error(result)


@pytest.mark.parametrize(
    "override,field",
    [
        ("classes.unknown_ratio=nan", "classes.unknown_ratio"),
        ("train.seed=-5", "train.seed"),
        ("train.seed=9223372036854775807", "train.seed"),
        ("evaluate.hop_ms=inf", "evaluate.hop_ms"),
        ("evaluate.hop_ms=1e-9", "evaluate.hop_ms"),
        ("evaluate.refractory_ms=nan", "evaluate.refractory_ms"),
        ("train.learning_rate=nan", "train.learning_rate"),
        ("features.time_shift_ms=1e300", "features.time_shift_ms"),
        ("features.background_stride_s=inf", "features.background_stride_s"),
        ("evaluate.average_window=9223372036854775807", "evaluate.average_window"),
        ("evaluate.refractory_ms=1e300", "evaluate.refractory_ms"),
        ("features.variants=1000000000", "features.variants"),
    ],
)
def test_preset_values_outside_a_fields_domain_exit_2_naming_it(tmp_path, override, field):
    dataset = write_tiny_dataset(tmp_path / "data")
    for command in (["presets", "validate"], ["features"]):
        result = kwtui(*command, _preset(tmp_path, dataset), "--set", override, timeout=60)
        assert result.returncode == 2, (command, result.stderr)
        assert field in _one_error(result)


def test_deeply_nested_toml_is_one_line(tmp_path):
    path = tmp_path / "deep.toml"
    path.write_text("a = " + "[" * 5000 + "]" * 5000 + "\n")
    result = kwtui("presets", "validate", path, timeout=60)
    assert result.returncode == 2 and "nested too deeply" in _one_error(result)


def test_tilde_in_a_path_field_means_home(tmp_path):
    home = tmp_path / "home"
    write_tiny_dataset(home / "speech")
    preset = _preset(tmp_path, Path("~/speech"))
    result = kwtui("scan", "~/speech", env={"HOME": str(home)}, timeout=60)  # the shell would expand it; we do too
    _clean(result)
    features = kwtui("features", preset, env={"HOME": str(home)}, timeout=120)
    _clean(features)
    assert features.returncode == 0, features.stderr


def test_names_of_every_legal_length_are_used(tmp_path):
    dataset = write_tiny_dataset(tmp_path / "data")
    source = next((dataset / "yes").glob("*.wav"))
    for length in (240, 251):  # + ".wav" = 244 and 255 bytes: the longest legal names
        shutil.copyfile(source, dataset / "yes" / ("n" * length + ".wav"))
    result = kwtui("features", _preset(tmp_path, dataset, features={"variants": 2}), timeout=120)
    _clean(result)
    assert result.returncode == 0, result.stderr
    names = [p.name for p in (tmp_path / "run" / "features" / "yes").iterdir()]
    long = [n for n in names if n.startswith("nnnn")]
    assert sum(1 for n in long if "__v" not in n) == 2, long  # both clips (variants only for training clips)
    assert all(len(os.fsencode(n)) <= 255 for n in names)


def test_interrupting_evaluate_says_what_is_kept_and_how_to_resume(trained_run, tmp_path):
    from kwtui.core import events as ev
    from kwtui.core.errors import Cancelled
    from kwtui.core.preset import from_dict
    from kwtui.core.stages.pipeline import run_stage

    run = tmp_path / "run"
    shutil.copytree(trained_run.run_path, run)
    preset = from_dict({**trained_run.to_dict(), "run_dir": str(run)})
    cancel = ev.CancelToken()
    cancel.cancel()
    with pytest.raises(Cancelled) as info:
        run_stage("evaluate", preset, ev.ignore, cancel)
    assert "previous results are kept" in str(info.value) and "kwtui evaluate" in str(info.value)


def test_huge_float_samples_are_skipped_without_numpy_warnings(tmp_path):
    import numpy as np
    import soundfile as sf

    dataset = write_tiny_dataset(tmp_path / "data")
    huge = np.full(16000, 3.0e38, dtype=np.float32)
    huge[::2] = -3.0e38
    sf.write(dataset / "yes" / "huge_nohash_0.wav", huge, 16000, subtype="FLOAT")
    result = kwtui("features", _preset(tmp_path, dataset), timeout=120)
    _clean(result)
    assert result.returncode == 0, result.stderr
    assert "RuntimeWarning" not in result.stderr


def test_a_word_folder_linking_to_another_word_is_skipped(tmp_path):
    dataset = write_tiny_dataset(tmp_path / "data")
    os.symlink(dataset / "yes", dataset / "zzz_alias")  # sorts after yes: yes keeps its clips
    scan = kwtui("scan", dataset, timeout=60)
    _clean(scan)
    assert "zzz_alias: the same folder as yes" in scan.stdout
    result = kwtui("features", _preset(tmp_path, dataset), timeout=120)
    _clean(result)
    assert result.returncode == 0 and not (tmp_path / "run" / "features" / "zzz_alias").exists()


@pytest.mark.parametrize(
    "args,says",
    [
        (["monitor", "--baud", "-5"], "--baud"),
        (["nosuch"], "No such command"),
        (["features"], "Missing argument"),
        (["run", "presets/commands.toml", "--from", "nowhere"], "--from nowhere"),
        (["scan", "/dev/null"], "/dev/null"),
    ],
)
def test_bad_command_lines_are_one_line_and_exit_2(args, says):
    result = kwtui(*args, timeout=60)
    assert result.returncode == 2, result.stderr
    assert says in _one_error(result)
    assert "╭" not in result.stderr  # no framed box


def test_a_carriage_return_or_comma_in_a_name_round_trips_through_the_manifests(tmp_path):
    from kwtui.core.features.store import load_splits
    from kwtui.core.io.layout import RunLayout
    from kwtui.core.preset import load_preset

    dataset = write_tiny_dataset(tmp_path / "data")
    source = next((dataset / "yes").glob("*.wav"))
    for name in ("odd\rname_nohash_0.wav", "a,b_nohash_0.wav", 'quote"d_nohash_0.wav'):
        shutil.copyfile(source, dataset / "yes" / name)
    preset_file = _preset(tmp_path, dataset)
    result = kwtui("features", preset_file, timeout=120)
    _clean(result)
    assert result.returncode == 0, result.stderr
    layout = RunLayout(load_preset(preset_file))
    listed = {p.name for split in load_splits(layout).values() for p in split.paths}
    for stem in ("odd\rname_nohash_0", "a,b_nohash_0", 'quote"d_nohash_0'):
        assert f"{stem}.npy" in listed, stem
    assert all(p.exists() for split in load_splits(layout).values() for p in split.paths)


def test_a_word_folder_named_like_a_manifest_is_an_unknown_word_unless_it_is_a_keyword(tmp_path):
    """`train.csv/` as another word is skipped with its reason (its feature files would go over the manifest), the
    rest of the dataset used; asked for as a keyword it is refused, naming the folder, before anything is written."""
    dataset = write_tiny_dataset(tmp_path / "data")
    shutil.copytree(dataset / "yes", dataset / "train.csv")
    used = kwtui("features", _preset(tmp_path, dataset, classes={"unknown": True}), timeout=120)
    _clean(used)
    assert used.returncode == 0, used.stderr
    assert used.stderr.count("train.csv: skipped: a word folder named like a file kwtui writes") == 1, used.stderr
    features = tmp_path / "run" / "features"
    info = json.loads((features / "features.json").read_text())
    assert any(s["path"] == "train.csv" and "named like a file kwtui writes" in s["reason"] for s in info["skipped"])
    assert (features / "train.csv").is_file() and "train.csv/" not in (features / "train.csv").read_text()
    manifest = (features / "train.csv").read_bytes()
    refused = kwtui("features", _preset(tmp_path, dataset, classes={"keywords": ["yes", "train.csv"]}), timeout=120)
    assert refused.returncode == 2
    assert "train.csv: a keyword folder named like a file kwtui writes" in _one_error(refused)
    assert (features / "train.csv").read_bytes() == manifest
