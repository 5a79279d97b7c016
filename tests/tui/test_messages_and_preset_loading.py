"""What the wizard says and keeps: errors name wizard actions (not CLI flags), warnings stay on their step and
Escape dismisses them, loading a preset resets what depends on it, the Flash step counts ports as `auto` sees
them. Driven through the real wizard with Textual's pilot, on real records and real stages where they matter."""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path

from textual.widgets import DataTable

from kwtui.core.events import StageWarning as CoreWarning
from kwtui.core.io.layout import RunLayout
from kwtui.core.preset import from_dict
from kwtui.tui.app import create_app
from kwtui.tui.messages import StageEvents
from kwtui.tui.widgets.stepbar import StepBar
from tests.helpers.model import make_tone_store
from tests.tui.pilot_utils import press_button, wait_stage, wait_until
from tests.tui.scripted import scripted_runner, write_results, write_tiny_dataset


def test_errors_name_wizard_actions_not_cli_flags(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    preset = make_tone_store(tmp_path / "run")  # features, but no trained model

    async def scenario() -> None:
        app = create_app(preset, presets_dir=tmp_path / "presets", port_lister=lambda: [])
        async with app.run_test(size=(80, 24)) as pilot:
            app.go_to(4)
            await pilot.pause()
            await pilot.press("ctrl+r")
            await wait_stage(pilot, None, "evaluate", 120)
            status = str(app.query_one("#evaluate-status").render())
            assert "run step 4 Training" in status and "kwtui train" not in status, status

    asyncio.run(scenario())


def test_warnings_stay_on_the_step_and_escape_dismisses_messages(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    async def scenario() -> None:
        app = create_app(from_dict({"name": "w"}), presets_dir=tmp_path / "presets", port_lister=lambda: [])
        async with app.run_test(size=(80, 24)) as pilot:
            app.go_to(4)
            await pilot.pause()
            step = app.steps[4]
            step.post_message(StageEvents("evaluate", [CoreWarning("evaluate", "only 4 s of noise")]))
            await pilot.pause()
            assert not app._notifications  # no toast over the results
            assert "only 4 s of noise" in str(app.query_one("#evaluate-status").render())
            app.notify("something", timeout=60)
            await pilot.pause()
            assert app._notifications
            await pilot.press("escape")
            await pilot.pause()
            assert not app._notifications

    asyncio.run(scenario())


def test_loading_a_preset_resets_what_depends_on_it(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_tiny_dataset(tmp_path / "data" / "tiny")
    first = from_dict({"name": "first", "dataset": {"path": "data/tiny"}, "classes": {"keywords": ["yes", "no"]}})
    write_results(RunLayout(first))  # a finished run of the first preset: its steps show done

    async def scenario() -> None:
        app = create_app(
            first,
            stage_runner=functools.partial(scripted_runner),
            presets_dir=tmp_path / "presets",
            port_lister=lambda: [],
        )
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_stage(pilot, None, "scan", 30)
            bar = app.query_one(StepBar)
            assert app.query_one("#words", DataTable).row_count > 0 and {2, 3, 4} <= bar.done
            other = from_dict({"name": "other", "dataset": {"path": "data/none-here"}})
            app.apply_preset(other, None)  # what Ctrl+O does after the pick
            await pilot.pause()
            assert app.query_one("#words", DataTable).row_count == 0  # not the previous dataset's table
            assert not bar.done  # no step of the other preset is done

    asyncio.run(scenario())


def test_flash_step_counts_ports_as_auto_sees_them_and_points_at_the_log(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_tiny_dataset(tmp_path / "data" / "tiny")
    preset = from_dict({"name": "snap", "dataset": {"path": "data/tiny"}, "classes": {"keywords": ["yes", "no"]}})
    write_results(RunLayout(preset))

    async def scenario() -> None:
        app = create_app(
            preset,
            stage_runner=functools.partial(scripted_runner),
            presets_dir=tmp_path / "presets",
            port_lister=lambda: [("/dev/ttyUSB0 CP210x", "/dev/ttyUSB0")],
        )
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_stage(pilot, None, "scan", 30)
            app.go_to(5)
            await pilot.pause()
            assert "1 ESP32-like USB serial port(s)" in str(app.query_one("#flash-status").render())
            await press_button(pilot, "flash-dry-run")
            await wait_stage(pilot, None, "flash", 30)
            await wait_until(pilot, lambda: "log below" in str(app.query_one("#flash-status").render()), 10)

    asyncio.run(scenario())
