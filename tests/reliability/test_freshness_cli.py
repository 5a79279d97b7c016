"""Stale results are refused through the real CLI: exit 2, one line naming what changed and what to run.

`kwtui run` redoes exactly the stale stages: after a change of evaluation settings only evaluate and convert
run again; with nothing changed, nothing runs.
"""

from __future__ import annotations

import json
import shutil

import tomli_w

from kwtui.core.io import records
from kwtui.core.io.layout import RunLayout
from kwtui.core.preset import from_dict
from tests.helpers.corpus import kwtui

FIVE = "classes.keywords=['yes','no','left','right','up']"


def _copy(trained_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained_run.run_path, run)
    data = trained_run.to_dict()
    data["run_dir"] = str(run)
    data["convert"]["firmware_dir"] = str(run / "firmware_src")
    path = tmp_path / "tones.toml"
    path.write_text(tomli_w.dumps(data))
    return path, from_dict(data)


def _one_error(result) -> str:
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    return errors[0]


def test_evaluate_convert_flash_refuse_a_model_trained_for_other_classes(trained_run, tmp_path):
    preset_file, preset = _copy(trained_run, tmp_path)
    report_before = (preset.run_path / "report.txt").read_bytes()
    for command in (["evaluate"], ["convert"], ["flash", "--dry-run"]):
        result = kwtui(*command, preset_file, "--set", FIVE, timeout=180)
        assert result.returncode == 2, (command, result.stderr)
        line = _one_error(result)
        assert "made for classes [yes, no, _unknown, _background]" in line and "up" in line, line
        assert "kwtui train" in line or "kwtui features" in line, line
    assert (preset.run_path / "report.txt").read_bytes() == report_before  # nothing overwritten


def test_train_refuses_features_made_for_other_classes(trained_run, tmp_path):
    preset_file, _ = _copy(trained_run, tmp_path)
    result = kwtui("train", preset_file, "--set", FIVE, timeout=180)
    assert result.returncode == 2
    assert "the features were made for classes" in _one_error(result)


def test_run_redoes_exactly_the_stale_stages(trained_run, tmp_path):
    preset_file, preset = _copy(trained_run, tmp_path)
    layout = RunLayout(preset)
    assert all(s.done for s in records.status(layout).values())
    nothing = kwtui("run", preset_file, "--from", "train", "--until", "convert", "--json", timeout=300)
    assert nothing.returncode == 0, nothing.stderr
    finished = [json.loads(line) for line in nothing.stdout.splitlines() if '"finished"' in line]
    assert all(e["summary"].get("up_to_date") for e in finished) and len(finished) == 3

    def stages_run(*overrides: str) -> dict[str, dict]:
        sets = [arg for item in overrides for arg in ("--set", item)]
        done = kwtui("run", preset_file, "--from", "train", "--until", "convert", "--json", *sets, timeout=300)
        assert done.returncode == 0, done.stderr
        return {
            e["stage"]: e["summary"] for e in map(json.loads, done.stdout.splitlines()) if e.get("event") == "finished"
        }

    # the report holds the whole curve: another averaging window (the target picks the point) changes nothing
    finished = stages_run("evaluate.average_window=2")
    assert all(summary.get("up_to_date") for summary in finished.values())
    # the post-processing it simulated changed: evaluation again, and the model that carries the point
    finished = stages_run("evaluate.refractory_ms=1500")
    assert finished["train"].get("up_to_date") and not finished["evaluate"].get("up_to_date")
    assert not finished["convert"].get("up_to_date")


def test_records_are_typed_and_versioned(trained_run):
    """Each record says which stage wrote it, for which settings and classes; a record from a newer kwtui (or of
    another kind) is not trusted: the stage counts as not done and runs again."""
    from kwtui.core.io.records import RECORD_VERSION, StageRecord, load_record
    from kwtui.core.report import REPORT_VERSION

    layout = RunLayout(trained_run)
    for path, kind in (
        (layout.features_info, "features"),
        (layout.train_record, "train"),
        (layout.report_json, "report"),
        (layout.model_json, "model"),
    ):
        record = load_record(path, kind)
        version = REPORT_VERSION if kind == "report" else RECORD_VERSION  # a report has its own (kwtui.core.report)
        assert isinstance(record, StageRecord) and record.kind == kind and record.version == version
        assert record.labels == trained_run.class_names and len(record.fingerprint) == 40
        assert StageRecord.from_dict({**record.to_dict(), "version": version + 1}, kind) is None
        assert StageRecord.from_dict(record.to_dict(), "other") is None


def test_a_stale_refusal_names_the_settings_and_the_run_folder_proceeds(trained_run, tmp_path):
    """After `kwtui run PRESET --set train.epochs=...`, `kwtui flash PRESET` is refused naming the setting that
    differs (the run folder's preset.toml against the preset) and the command that proceeds: the run folder as
    TARGET, which flashes the model made with the settings saved in it."""
    from kwtui.core.preset import save_preset

    preset_file, preset = _copy(trained_run, tmp_path)
    save_preset(preset, RunLayout(preset).preset_copy)  # what `kwtui run` leaves in the run folder
    epochs = preset.train.epochs
    result = kwtui("flash", preset_file, "--set", f"train.epochs={epochs + 7}", "--dry-run", timeout=180)
    assert result.returncode == 2, result.stderr
    line = _one_error(result)
    assert f"train.epochs: {epochs} in the run folder, {epochs + 7} in the preset" in line, line
    assert f"`kwtui flash {preset.run_path}`" in line, line
    proceed = kwtui("flash", preset.run_path, "--dry-run", timeout=180)
    assert proceed.returncode == 0, proceed.stderr[-1500:]
    assert "esptool" in proceed.stdout + proceed.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    refused = kwtui("flash", empty, "--dry-run")
    assert refused.returncode == 2 and "without preset.toml" in _one_error(refused)


def test_weak_models_are_refused_by_flash_unless_forced(trained_run, tmp_path):
    """A model whose up-to-date evaluation detects fewer than half of the held-out keyword clips at the point
    the board would get is refused with one line (exit 2) naming --force; --force flashes it with a warning."""
    preset_file, preset = _copy(trained_run, tmp_path)
    layout = RunLayout(preset)
    report = json.loads(layout.report_json.read_text())
    for frr, refused in ((0.8, True), (0.3, False)):
        report["operating_point"]["false_reject_rate"] = frr
        for point in report["curve"]:
            point["false_reject_rate"] = frr
        layout.report_json.write_text(json.dumps(report))
        assert records.evaluate_status(layout).done  # the figures changed, not what the report was made from
        result = kwtui("flash", preset_file, timeout=180)  # refused before any port is looked for
        dry = kwtui("flash", preset_file, "--dry-run", timeout=180)
        assert dry.returncode == 0, dry.stderr[-1500:]  # nothing written: the command is shown
        assert "esptool" in dry.stderr, dry.stderr
        if refused:
            assert result.returncode == 2, result.stderr
            line = _one_error(result)
            assert "detects 20% of the held-out keyword clips" in line and "--force" in line, line
            assert "kwtui flash would refuse this model: the model detects 20%" in dry.stderr, dry.stderr
            forced = kwtui("flash", preset_file, "--dry-run", "--force", timeout=180)
            assert forced.returncode == 0, forced.stderr[-1500:]
            assert "--force: flashing a model that detects 20%" in forced.stderr
        else:
            assert "would refuse" not in dry.stderr
            assert "detects" not in result.stderr, result.stderr  # it went on, to look for a board


def test_a_changed_model_or_hand_edited_model_json_is_refused_in_one_line(trained_run, tmp_path):
    """model.json records the .tflite's size and sha256: a cut-off or altered model is stale for `kwtui run`
    (converted again) and refused by flash (and `kwtui detect`, which reads it the same way); fields a hand edit broke are named, never a traceback."""
    preset_file, preset = _copy(trained_run, tmp_path)
    layout = RunLayout(preset)
    original, meta_text = layout.tflite.read_bytes(), layout.model_json.read_text()
    meta = json.loads(meta_text)
    assert meta["model_sha256"] and meta["model_bytes"] == len(original)
    layout.tflite.write_bytes(original[:20000])
    assert records.convert_status(layout).state == "stale"
    result = kwtui("flash", preset_file, "--dry-run", timeout=180)
    assert result.returncode == 2, result.stderr
    assert "20000 bytes where model.json says" in _one_error(result)
    layout.tflite.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    assert records.convert_status(layout).state == "stale"
    assert "sha256" in _one_error(kwtui("flash", preset_file, "--dry-run", timeout=180))
    layout.tflite.write_bytes(original)
    bad = {"arena_bytes": "abc", "num_keywords": "x", "labels": 5, "input_zero_point": 99999999999}
    for key, value in [*bad.items(), ("arena_bytes", None), ("labels", ["a", "b", "c"])]:
        edited = {**meta, key: value}
        layout.model_json.write_text(json.dumps(edited))
        result = kwtui("flash", preset_file, "--dry-run", timeout=180)
        assert result.returncode == 2, (key, value, result.stderr)
        assert f"'{key}'" in _one_error(result), (key, result.stderr)
    layout.model_json.write_text(
        meta_text.replace('"arena_bytes": ' + str(meta["arena_bytes"]), '"arena_bytes": 1e400')
    )
    assert "'arena_bytes'" in _one_error(kwtui("flash", preset_file, "--dry-run", timeout=180))
