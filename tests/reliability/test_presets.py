"""Invalid presets through the real CLI: exit 2 and one line naming the field (and line) to fix.

Table-driven: each row is a preset text, the fields/words the message must name, and the line.
`presets validate` checks the preset alone; `features` must refuse the same presets before any
work (no run folder written). Keyword-not-in-dataset needs the dataset: see test_keyword_not_in_dataset.
"""

from __future__ import annotations

import pytest

from tests.helpers.corpus import kwtui, no_dac_prefix, write_preset

BASE = """name = "rel"
[dataset]
path = "{dataset}"
[classes]
keywords = ["yes", "no"]
"""

# (id, preset text, words the message must contain, expected line number or None)
INVALID = [
    ("unknown-key", BASE + "[train]\nepoch = 3\n", ["train.epoch", "unknown key", "epochs"], 7),
    ("unknown-section", BASE + "[trian]\nepochs = 3\n", ["trian", "unknown key", "train"], 6),
    ("wrong-type", BASE + '[train]\nepochs = "ten"\n', ["train.epochs", "integer"], 7),
    ("wrong-type-bool", BASE + '[flash]\nenabled = "yes"\n', ["flash.enabled", "true or false"], 7),
    ("wrong-type-list", 'name = "rel"\n[classes]\nkeywords = "yes"\n', ["classes.keywords", "list"], 3),
    ("negative-epochs", BASE + "[train]\nepochs = -1\n", ["train.epochs", "between 1 and"], 7),
    ("zero-batch", BASE + "[train]\nbatch_size = 0\n", ["train.batch_size", "between 1 and"], 7),
    ("empty-keywords", 'name = "rel"\n[classes]\nkeywords = []\n', ["classes.keywords", "at least one"], 3),
    (
        "duplicate-keywords",
        'name = "rel"\n[classes]\nkeywords = ["yes", "no", "yes"]\n',
        ["classes.keywords", "duplicate", "yes"],
        3,
    ),
    ("bad-choice", BASE + '[train]\nmodel = "transformer"\n', ["train.model", "cnn"], 7),
    ("threshold-range", BASE + "[evaluate]\nthreshold = 1.5\n", ["evaluate.threshold"], 7),
    ("name-too-long", BASE.replace('"rel"', '"' + "r" * 300 + '"'), ["name", "at most 64"], 1),
    ("number-for-text", BASE + "[flash]\nport = 2024\n", ["flash.port", "quote it", '"2024"'], 7),
    ("invalid-toml", BASE + "[train\nepochs = 3\n", ["invalid TOML", "line 6"], None),
    ("invalid-toml-value", BASE + "[train]\nepochs = 3 3\n", ["invalid TOML", "line 7"], None),
]


@pytest.fixture
def dataset_path(clean_dataset):
    return str(clean_dataset)


def assert_one_line_error(result, words, preset_path, line):
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    message = lines[0]
    assert message.startswith("error: "), message
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in message, (word, message)
    if line is not None:
        assert f"{preset_path}:{line}:" in message, message


@pytest.mark.parametrize("text,words,line", [row[1:] for row in INVALID], ids=[row[0] for row in INVALID])
def test_invalid_preset_validate(tmp_path, dataset_path, text, words, line):
    preset = write_preset(tmp_path / "bad.toml", text.format(dataset=dataset_path))
    result = kwtui("presets", "validate", preset)
    assert_one_line_error(result, words, preset, line)


@pytest.mark.parametrize(
    "text,words,line",
    [row[1:] for row in INVALID if row[0] in ("unknown-key", "negative-epochs", "empty-keywords", "invalid-toml")],
    ids=["unknown-key", "negative-epochs", "empty-keywords", "invalid-toml"],
)
def test_invalid_preset_stops_a_stage_before_work(tmp_path, dataset_path, text, words, line):
    run_dir = tmp_path / "run"
    preset = write_preset(tmp_path / "bad.toml", text.format(dataset=dataset_path))
    result = kwtui("features", preset, "--set", f"run_dir={run_dir}")
    assert_one_line_error(result, words, preset, line)
    assert not run_dir.exists()


@pytest.mark.parametrize(
    "override,words",
    [
        ("train.epochs=-3", ["--set train.epochs", "between 1 and"]),
        ("train.epochs=many", ["--set train.epochs", "integer"]),
        ("train.epohcs=3", ["--set train.epohcs", "unknown key", "epochs"]),
        ("classes.keywords=[]", ["--set classes.keywords", "at least one"]),
        ("trainepochs", ["--set", "section.key=value"]),
        # the shell ate nothing, TOML read a number: one line saying how to quote it
        # a folder named in another encoding, as the shell passes it: a preset (TOML) holds only UTF-8
        ("dataset.path=d\udcffs", ["--set dataset.path", "'d\\xffs' is not UTF-8", "ln -s"]),
        ("dataset.path=2024", ["--set dataset.path", "expected text", "--set 'dataset.path=\"2024\"'"]),
    ],
)
def test_invalid_override(tmp_path, dataset_path, override, words):
    preset = write_preset(tmp_path / "ok.toml", BASE.format(dataset=dataset_path))
    result = kwtui("presets", "validate", preset, "--set", override)
    assert_one_line_error(result, words, preset, None)


def test_missing_preset_file(tmp_path):
    missing = tmp_path / "nope.toml"
    result = kwtui("features", missing)
    assert_one_line_error(result, [str(missing), "not found"], missing, None)


def test_unreadable_preset_file(tmp_path, dataset_path):
    preset = write_preset(tmp_path / "secret.toml", BASE.format(dataset=dataset_path))
    preset.chmod(0o000)
    try:
        result = kwtui("presets", "validate", preset, prefix=no_dac_prefix())
    finally:
        preset.chmod(0o644)
    assert_one_line_error(result, [str(preset), "cannot read", "Permission"], preset, None)


def test_non_utf8_preset_file(tmp_path):
    preset = tmp_path / "latin1.toml"
    preset.write_bytes('name = "caf\xe9"\n'.encode("latin-1"))
    result = kwtui("presets", "validate", preset)
    assert_one_line_error(result, [str(preset), "cannot read"], preset, None)


def test_valid_preset_passes(tmp_path, dataset_path):
    preset = write_preset(tmp_path / "ok.toml", BASE.format(dataset=dataset_path))
    result = kwtui("presets", "validate", preset)
    assert result.returncode == 0, result.stderr
    assert "yes, no, _unknown, _background" in result.stdout


def test_a_crash_report_keeps_arguments_that_are_not_utf8(tmp_path, monkeypatch):
    """The crash report itself must not crash on the argv that caused the crash (it did: a double traceback)."""
    import platformdirs

    from kwtui.cli import main as cli

    monkeypatch.setattr(platformdirs, "user_log_dir", lambda name: str(tmp_path / name))
    monkeypatch.setattr("sys.argv", ["kwtui", "run", "p.toml", "--set", "dataset.path=d\udcffs"])
    try:
        raise RuntimeError("an internal error")
    except RuntimeError:
        report = cli.save_crash_report()
    assert report is not None
    text = report.read_text(encoding="utf-8")
    assert "dataset.path=d\\udcffs" in text and "RuntimeError: an internal error" in text


def test_a_shipped_preset_given_by_its_checkout_path_elsewhere_is_named(tmp_path):
    """`kwtui run presets/esphome.toml` from outside a checkout: the line says the shipped preset's name."""
    result = kwtui("presets", "validate", "presets/esphome.toml", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: presets/esphome.toml: preset not found (see `kwtui presets list`); "
        "the shipped preset of that name is `esphome`"
    )


def test_version():
    from importlib.metadata import version

    result = kwtui("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"kwtui {version('kwtui')}"


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["run"],
        ["flash"],
        ["detect"],
        ["demo-data"],
        ["monitor"],
        ["scan"],
        ["export", "esphome"],
        ["presets", "validate"],
    ],
)
def test_help_reads_like_a_unix_tool(command):
    """Flags carry no `<bool>`, options name what they take in capitals (`--set KEY=VALUE`), and the text fits
    80 columns without a box drawn around it (a copy from an SSH terminal is plain text)."""
    result = kwtui(*command, "--help", env={"COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "<bool>" not in text and "╭" not in text and "Usage: kwtui" in text
    assert all(len(line) <= 80 for line in text.splitlines()), text
    if command in (["run"], ["export", "esphome"]):
        assert "--set KEY=VALUE" in text and "PRESET" in text
    if command == ["run"]:
        assert "--from STAGE" in text
