"""Dataset step without a dataset (offer, then synthesize the demo one with espeak-ng) and preset handling:
a preset opened at start fills the steps and names itself in the headless command; a bad name is refused."""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual.widgets import DataTable

from kwtui.core.preset import from_dict, save_preset
from kwtui.tui.app import create_app
from kwtui.tui.screens.dialogs import NamePrompt
from kwtui.tui.widgets.stepbar import StepBar
from tests.tui.pilot_utils import press_button, type_into, wait_stage, wait_until


def test_missing_folder_then_make_the_demo_dataset(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)

    async def scenario() -> None:
        app = create_app(presets_dir=tmp_path / "presets", port_lister=lambda: [])
        async with app.run_test(size=(80, 24)) as pilot:
            await type_into(pilot, "dataset-path", "data/mine")
            await pilot.press("enter")
            assert "Make demo dataset" in str(app.query_one("#dataset-status").render())
            await pilot.press("ctrl+n")
            assert app.step_index == 0  # cannot go on without a scanned dataset
            await press_button(pilot, "make-demo")
            await wait_stage(pilot, None, "demo", 120)
            await wait_until(pilot, lambda: app.steps[0].scan is not None and not app.task_running("scan"), 60)
            assert (tmp_path / "data" / "mine" / "README.txt").exists()
            assert app.query_one("#words", DataTable).row_count >= 10
            # another folder that does not exist: the table no longer shows the demo's words as if they were its
            await type_into(pilot, "dataset-path", "data/typo")
            await pilot.press("enter")
            assert "not a folder" in str(app.query_one("#dataset-status").render())
            assert app.query_one("#words", DataTable).row_count == 0
            await type_into(pilot, "dataset-path", "data/mine")
            await pilot.press("enter")
            await wait_until(pilot, lambda: app.steps[0].scan is not None and not app.task_running("scan"), 60)
            await pilot.press("ctrl+n")
            assert app.step_index == 1

    asyncio.run(scenario())


def test_preset_given_at_start_fills_steps_and_command(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    preset = from_dict(
        {
            "name": "mine",
            "classes": {"keywords": ["left", "right"]},
            "train": {"epochs": 7, "model": "dscnn"},
            "features": {"variants": 3, "frontend": "spectrogram"},
            "evaluate": {"hop_ms": 100},
        }
    )
    path = save_preset(preset, tmp_path / "mine.toml")

    async def scenario() -> None:
        app = create_app(preset, preset_path=path, presets_dir=tmp_path / "presets", port_lister=lambda: [])
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            assert f"kwtui run {path}" in str(app.query_one("#command").render())
            assert app.query_one("#epochs").value == "7" and app.query_one("#model").value == "dscnn"
            assert app.query_one("#variants").value == "3"
            assert app.current_preset().classes.keywords == ["left", "right"]
            # a name the preset rules refuse: nothing is written
            await pilot.press("ctrl+s")
            await pilot.press("end", "ctrl+u", *"bad name!", "enter")
            await pilot.pause()
            assert isinstance(app.screen, NamePrompt), "the prompt stays open with the error"
            assert "name" in str(app.screen.query_one("#name-error").render())
            assert not (tmp_path / "presets").exists() or not list((tmp_path / "presets").iterdir())
            # a good name saves; saving over it again needs a second Enter
            bar = app.query_one(StepBar)
            bar.mark_done(0)  # Dataset and Classes passed with Next
            bar.mark_done(1)
            await pilot.press("end", "ctrl+u", *"mine", "enter")
            await pilot.pause()
            saved = tmp_path / "presets" / "mine.toml"
            assert saved.exists() and not isinstance(app.screen, NamePrompt)
            assert {0, 1} <= bar.done  # saving the same choices under a name keeps their checkmarks
            saved.write_text("# an older preset of the same name\n")
            before = saved.read_text()
            await pilot.press("ctrl+s", "end", "ctrl+u", *"mine", "enter")
            await pilot.pause()
            assert isinstance(app.screen, NamePrompt) and "exists" in str(app.screen.query_one("#name-error").render())
            assert saved.read_text() == before  # not overwritten yet
            await pilot.press("enter")
            await pilot.pause()
            assert not isinstance(app.screen, NamePrompt) and saved.read_text() != before
            # the shipped preset's name: saved, it would replace the shipped one for `kwtui run commands`
            await pilot.press("ctrl+s", "end", "ctrl+u", *"commands", "enter")
            await pilot.pause()
            warning = str(app.screen.query_one("#name-error").render())
            assert isinstance(app.screen, NamePrompt) and "shipped preset" in warning and "Enter again" in warning
            assert not (tmp_path / "presets" / "commands.toml").exists()
            await pilot.press("escape")
            # an invalid number is reported with the field name when a stage starts
            app.go_to(3)
            await type_into(pilot, "epochs", "many")
            await press_button(pilot, "train-start")
            assert "train.epochs" in str(app.query_one("#train-status").render())
            assert not app.task_running("train")

    asyncio.run(scenario())


def test_a_new_dataset_path_takes_the_classes_checkmark_too(tmp_path: Path, monkeypatch) -> None:
    """Typing another folder unchecks Dataset, and Classes with it: its keywords were picked from the old folder's
    words (it kept its ✓ beside an unchecked Dataset)."""
    from tests.tui.scripted import write_tiny_dataset

    monkeypatch.chdir(tmp_path)
    write_tiny_dataset(tmp_path / "data" / "tiny")
    preset = from_dict({"name": "tiny", "dataset": {"path": "data/tiny"}, "classes": {"keywords": ["yes", "no"]}})

    async def scenario() -> set[int]:
        app = create_app(preset, presets_dir=tmp_path / "presets", port_lister=lambda: [])
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: app.query_one("#words").row_count > 0, 30)
            bar = app.query_one(StepBar)
            bar.mark_done(0)  # Dataset and Classes passed with Next
            bar.mark_done(1)
            await type_into(pilot, "dataset-path", "data/other")
            await pilot.pause(0.6)
            return set(bar.done)

    done = asyncio.run(scenario())
    assert not {0, 1} & done, done


def test_a_saved_preset_replays_from_any_folder(tmp_path: Path, monkeypatch) -> None:
    """Ctrl+S stores the paths the wizard was given relative to its folder as absolute ones (the default run
    folder too), so the replay command it shows works from any folder; a replay of a relative preset from the
    wrong folder says the dataset is not there and creates nothing."""
    import subprocess
    import sys
    import tomllib

    from tests.tui.scripted import write_tiny_dataset

    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    write_tiny_dataset(work / "data" / "tiny")
    elsewhere.mkdir()
    monkeypatch.chdir(work)
    preset = from_dict(
        {
            "name": "rel",
            "dataset": {"path": "data/tiny"},
            "classes": {"keywords": ["yes", "no"]},
            "features": {"variants": 0},
        }
    )
    relative = save_preset(preset, work / "rel.toml")

    async def scenario() -> None:
        app = create_app(preset, preset_path=relative, presets_dir=work / "presets", port_lister=lambda: [])
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            await pilot.press("ctrl+s", "end", "ctrl+u", *"anywhere", "enter")
            await pilot.pause()

    asyncio.run(scenario())
    saved = work / "presets" / "anywhere.toml"
    data = tomllib.loads(saved.read_text())
    assert data["dataset"]["path"] == str(work / "data" / "tiny")
    assert data["run_dir"] == str(work / "runs" / "anywhere")

    kwtui = [sys.executable, "-m", "kwtui"]
    replay = subprocess.run(
        [*kwtui, "features", str(saved)], cwd=elsewhere, capture_output=True, text=True, timeout=300
    )
    assert replay.returncode == 0, replay.stderr
    assert (work / "runs" / "anywhere" / "features" / "train.csv").exists()
    wrong = subprocess.run(
        [*kwtui, "run", str(relative), "--until", "features"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert wrong.returncode == 2 and "data/tiny: dataset folder not found" in wrong.stderr, wrong.stderr
    assert list(elsewhere.iterdir()) == []  # no runs/rel created before the check


def test_a_fresh_wizard_points_to_the_last_run_and_loads_its_choices(tmp_path: Path, monkeypatch) -> None:
    """Quitting the wizard forgot every choice: `kwtui` started again on the shipped defaults, and Ctrl+O listed no
    run folder's preset. Now it says which run folder here was run last, and Ctrl+O lists each one's choices."""
    from kwtui.core.io import ownership

    monkeypatch.chdir(tmp_path)
    for name, keywords in (("kwtui", ["sheila"]), ("other", ["yes", "no"])):
        preset = from_dict({"name": name, "dataset": {"path": "data"}, "classes": {"keywords": keywords}})
        save_preset(preset, ownership.claim(tmp_path / "runs" / name, "run_dir") / "preset.toml")
    import os

    os.utime(tmp_path / "runs" / "other" / "preset.toml", (1, 1))  # run long ago: runs/kwtui is the last

    async def scenario() -> None:
        app = create_app(presets_dir=tmp_path / "presets", port_lister=lambda: [])
        app.point_to_earlier_runs = True  # as `kwtui` with no preset starts it
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            assert any("runs/kwtui holds your last run" in str(n.message) for n in app._notifications)
            await pilot.press("ctrl+o")
            await pilot.pause()
            options = app.screen.query_one("#preset-list")
            shown = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
            assert any(s.startswith("runs/kwtui ") for s in shown) and any(s.startswith("runs/other ") for s in shown)
            index = next(i for i, s in enumerate(shown) if s.startswith("runs/kwtui "))
            options.highlighted = index
            await pilot.press("enter")
            await wait_until(pilot, lambda: app.form.get("name") == "kwtui", 5, "run preset loaded")
            assert app.steps[1].keywords == ["sheila"]

    asyncio.run(scenario())


def test_a_folder_that_fails_its_scan_keeps_no_table_and_next_waits(tmp_path: Path, monkeypatch) -> None:
    """A word's own folder scanned after the dataset (the scan fails, saying which folder to give): the table was
    still the dataset's under the error, and Ctrl+N went on to Classes with the dataset's words and the failed path
    in the headless command."""
    from tests.tui.scripted import write_tiny_dataset

    monkeypatch.chdir(tmp_path)
    write_tiny_dataset(tmp_path / "data" / "tiny")
    preset = from_dict({"name": "tiny", "dataset": {"path": "data/tiny"}, "classes": {"keywords": ["yes", "no"]}})

    async def scenario() -> None:
        app = create_app(preset, presets_dir=tmp_path / "presets", port_lister=lambda: [])
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: app.query_one("#words").row_count > 0, 30)
            await type_into(pilot, "dataset-path", "data/tiny/yes")
            await pilot.press("enter")
            await wait_stage(pilot, app.steps[0], "scan", 30)
            status = str(app.query_one("#dataset-status").render())
            assert "no word folders" in status and "scan failed" in status, status
            assert app.query_one("#words", DataTable).row_count == 0
            await pilot.press("ctrl+n")
            await pilot.pause()
            assert app.step_index == 0 and 0 not in app.query_one(StepBar).done

    asyncio.run(scenario())
