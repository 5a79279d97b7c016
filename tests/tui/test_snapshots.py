"""Snapshot tests of every step at 80x24 and 120x40 (pytest-textual-snapshot; update with --snapshot-update).

Deterministic: a tiny generated dataset under a relative path, a scripted stage runner (the wizard's injectable
data source), no event throttling, faked free disk space and a fixed serial-port list.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from kwtui.core.io.layout import RunLayout
from kwtui.core.preset import from_dict
from kwtui.tui.app import create_app
from tests.tui.pilot_utils import focus, press_button, wait_stage, wait_until
from tests.tui.scripted import scripted_runner, write_results, write_tiny_dataset

SIZES = {"80x24": (80, 24), "120x40": (120, 40)}


@pytest.fixture
def snapshot_app(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KWTUI_FAKE_FREE_BYTES", str(50 * 1024**3))
    write_tiny_dataset(tmp_path / "data" / "tiny")
    preset = from_dict(
        {
            "name": "snap",
            "dataset": {"path": "data/tiny"},
            "classes": {"keywords": ["yes", "no"]},
            "train": {"epochs": 4},
        }
    )
    app = create_app(
        preset,
        stage_runner=functools.partial(scripted_runner),
        pump_interval=0.0,
        presets_dir=tmp_path / "presets",
        port_lister=lambda: [("/dev/ttyUSB0 CP210x", "/dev/ttyUSB0")],
    )
    write_results(RunLayout(preset))  # report.json/model.json of a finished run, for the Evaluate screen
    app.animation_level = "none"  # no smooth scrolling: the picture must not depend on timing
    return app


async def scanned(pilot) -> None:
    await wait_stage(pilot, None, "scan", 30)


async def at_step(pilot, index: int) -> None:
    await scanned(pilot)
    pilot.app.go_to(index)
    await pilot.pause()


async def classes_step(pilot) -> None:
    await at_step(pilot, 1)
    await pilot.pause(0.5)
    await wait_until(
        pilot, lambda: not pilot.app.task_running("plan") and pilot.app.steps[1].plan is not None, 30, "class plan"
    )
    await pilot.pause()


async def run_and_wait(pilot, index: int, button: str, task: str) -> None:
    await at_step(pilot, index)
    await press_button(pilot, button)
    await wait_stage(pilot, None, task, 30)
    await pilot.pause()
    # the button was disabled while running, so focus moved on; put it back for a stable picture
    await focus(pilot, button)
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()
    await pilot.pause(0.3)  # let late layout (scrollbars of freshly filled tables) settle


async def help_screen(pilot) -> None:
    await scanned(pilot)
    await pilot.press("f1")
    await pilot.pause()


SCREENS = {
    "1-dataset": scanned,
    "2-classes": classes_step,
    "3-features": functools.partial(run_and_wait, index=2, button="features-start", task="features"),
    "4-training": functools.partial(run_and_wait, index=3, button="train-start", task="train"),
    "5-evaluate": functools.partial(at_step, index=4),  # results written before start (see snapshot_app)
    "6-flash": functools.partial(run_and_wait, index=5, button="flash-dry-run", task="flash"),
    "help": help_screen,
}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("screen", SCREENS)
def test_step_snapshot(snap_compare, snapshot_app, screen: str, size: str) -> None:
    assert snap_compare(snapshot_app, terminal_size=SIZES[size], run_before=SCREENS[screen])
