"""Presets: load/validate/save round trip, and invalid presets exit 2 with one line naming the field (real CLI)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kwtui.core.preset import PresetError, load_preset, save_preset, shipped_presets_dir

KWTUI = [sys.executable, "-m", "kwtui"]


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*KWTUI, *args], capture_output=True, text=True, timeout=120, cwd=cwd)


@pytest.mark.parametrize("name", ["marvin", "commands", "esphome"])
def test_shipped_presets_round_trip(name, tmp_path):
    preset = load_preset(shipped_presets_dir() / f"{name}.toml")
    saved = save_preset(preset, tmp_path / f"{name}.toml")
    again = load_preset(saved)
    assert again.to_dict() == preset.to_dict()
    assert not list(tmp_path.glob(".*.tmp"))


def test_presets_show_documents_every_key_and_replays_exactly(tmp_path):
    """`kwtui presets show` prints each key under what it does; saved as a file, that text is the same preset."""
    import dataclasses
    import tomllib

    from kwtui.core.preset import Preset

    result = run_cli("presets", "show", "commands", "--set", "train.epochs=7")
    assert result.returncode == 0, result.stderr
    shown = tomllib.loads(result.stdout)
    preset = load_preset(shipped_presets_dir() / "commands.toml", ["train.epochs=7"])
    assert shown == preset.to_dict() and shown["train"]["epochs"] == 7
    undocumented = [
        f"{section.name}.{f.name}"
        for section in dataclasses.fields(Preset)
        if dataclasses.is_dataclass(section.default_factory)
        for f in dataclasses.fields(section.default_factory)
        if not f.metadata.get("doc")
    ]
    undocumented += [
        f.name for f in dataclasses.fields(Preset) if not callable(f.default_factory) and not f.metadata.get("doc")
    ]
    assert undocumented == []
    lines = result.stdout.splitlines()
    negative = lines.index("negative_weight = 1.0")
    assert lines[negative - 1].startswith("# ") and "false accepts" in lines[negative - 1]


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.model=resnet", "train.model: must be one of stream, cnn, dscnn, dscnn_s, got 'resnet'"),
        ("features.frontend=mfcc", "features.frontend: must be one of micro, spectrogram, got 'mfcc'"),
        ("flash.chip=3", "flash.chip: must be one of auto, esp32, esp32s3, esp32s2, esp32c3, got 3"),
    ],
)
def test_a_choice_outside_its_literal_is_refused_naming_the_choices(override, message):
    with pytest.raises(PresetError) as raised:
        load_preset(shipped_presets_dir() / "commands.toml", [override])
    assert str(raised.value) == f"--set {message}"


def test_validate_changes_nothing_and_paths_are_expanded_after_it(monkeypatch):
    from kwtui.core.preset import expand_paths, from_dict, validate

    monkeypatch.setenv("KWT_TEST_DATA", "/srv/clips")
    loaded = from_dict({"dataset": {"path": "$KWT_TEST_DATA/words"}})
    assert loaded.dataset.path == "/srv/clips/words"  # loading normalises...
    raw = loaded.__class__()
    raw.dataset.path = "$KWT_TEST_DATA/words"
    assert validate(raw).dataset.path == "$KWT_TEST_DATA/words"  # ...validation alone does not
    assert expand_paths(raw).dataset.path == "/srv/clips/words"


def test_the_headless_command_replays_characters_outside_the_bmp(tmp_path):
    """A path with an emoji, quotes and a tab in the wizard's headless line: pasted into a shell (here: split as
    bash would and run through the real CLI), it gives the same path. JSON's \\ud83d\\ude00 pair, which TOML
    refuses, became a literal string and then "dataset folder not found"."""
    import shlex

    from kwtui.core.preset import Preset, headless_command

    changed = Preset()
    changed.dataset.path = str(tmp_path / 'mü😀 "q"\tx')
    command = headless_command(shipped_presets_dir() / "commands.toml", changed, Preset())
    args = shlex.split(command)
    assert args[:3] == ["kwtui", "run", "commands"], command
    shown = run_cli("presets", "show", *args[2:])
    assert shown.returncode == 0, shown.stderr
    import tomllib

    assert tomllib.loads(shown.stdout)["dataset"]["path"] == changed.dataset.path


def test_a_set_value_written_as_toml_that_does_not_parse_is_refused():
    result = run_cli("presets", "validate", "commands", "--set", 'dataset.path="\\ud83d\\ude00"')
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--set dataset.path: not a TOML value" in lines[0], result.stderr


@pytest.mark.parametrize("window", [0, 17, 20, 1000])
def test_an_averaging_window_the_firmware_refuses_is_refused_by_the_preset(window):
    """The firmware keeps at most 16 outputs to average and refuses a larger window at boot: the preset says so
    first (20 validated, and the board then refused the model)."""
    with pytest.raises(PresetError, match="evaluate.average_window: must be between 1 and 16"):
        load_preset(shipped_presets_dir() / "marvin.toml", [f"evaluate.average_window={window}"])
    assert (
        load_preset(shipped_presets_dir() / "marvin.toml", ["evaluate.average_window=16"]).evaluate.average_window == 16
    )


@pytest.mark.parametrize("hop", [12.5, 25.0, 101.0])
def test_a_hop_the_device_cannot_keep_is_refused_for_the_legacy_models_too(hop):
    """The legacy spectrogram models slide every hop_ms too, and model.h counts whole milliseconds: 12.5 was
    evaluated at 12.5 ms and written as 12."""
    legacy = ["train.model=cnn", "features.frontend=spectrogram", "evaluate.threshold=0.9"]
    assert load_preset(shipped_presets_dir() / "commands.toml", [*legacy, "evaluate.hop_ms=100"]).evaluate.hop_ms == 100
    with pytest.raises(PresetError, match=r"evaluate.hop_ms: .* use a multiple of 10"):
        load_preset(shipped_presets_dir() / "commands.toml", [*legacy, f"evaluate.hop_ms={hop}"])


def test_overrides_apply_and_validate(tmp_path):
    preset = load_preset(shipped_presets_dir() / "commands.toml", ["features.variants=3", "features.workers=1"])
    assert preset.features.variants == 3 and preset.features.workers == 1
    with pytest.raises(PresetError, match="features.variants"):
        load_preset(shipped_presets_dir() / "commands.toml", ["features.variants=-1"])


BAD_PRESETS = {
    "unknown_key": ("[features]\nvariantz = 2\n", "features.variantz"),
    "wrong_type": ('[features]\nworkers = "two"\n', "features.workers"),
    "bad_range": ("[features]\nnoise_volume = [0.5, 0.1]\n", "features.noise_volume"),
    "bad_keyword": ("[classes]\nkeywords = []\n", "classes.keywords"),
    "not_toml": ("[features\n", "invalid TOML"),
}


@pytest.mark.parametrize("case", sorted(BAD_PRESETS))
def test_invalid_presets_exit_2_naming_the_field(case, tmp_path):
    text, expected = BAD_PRESETS[case]
    path = tmp_path / f"{case}.toml"
    path.write_text(text)
    result = run_cli("presets", "validate", str(path))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_missing_dataset_exits_2(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text(f'run_dir = "{tmp_path / "run"}"\n[dataset]\npath = "{tmp_path / "nowhere"}"\n')
    result = run_cli("features", str(path))
    assert result.returncode == 2
    assert "nowhere" in result.stderr and "dataset folder not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_streaming_model_is_int8_only():
    from kwtui.core.preset import PresetError, from_dict

    with pytest.raises(PresetError, match="convert.quantization: the streaming model is converted to int8 only"):
        from_dict({"name": "x", "convert": {"quantization": "float"}})
    assert (
        from_dict(
            {
                "name": "x",
                "train": {"model": "cnn"},
                "features": {"frontend": "spectrogram"},
                "evaluate": {"hop_ms": 100},
                "convert": {"quantization": "float"},
            }
        ).convert.quantization
        == "float"
    )
