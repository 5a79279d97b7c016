"""Cancel mid-features and mid-training from the keyboard, then resume; quitting while work runs leaves no
thread behind. Real core stages; the reporter is slowed down only so that "mid-run" is reliably reachable."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from kwtui.core.events import Progress
from kwtui.core.io.layout import RunLayout
from kwtui.core.preset import from_dict
from kwtui.core.stages.pipeline import run_stage
from kwtui.tui.app import create_app
from kwtui.tui.screens.dialogs import Confirm
from tests.helpers.data import demo_preset_data
from tests.tui.pilot_utils import press_button, wait_stage, wait_until


def slowed_runner(delay: float):
    """The real stage runner whose reporter sleeps after each Progress event."""

    def runner(stage, preset, report, cancel, **options):
        def slow_report(event):
            report(event)
            if isinstance(event, Progress):
                time.sleep(delay)

        return run_stage(stage, preset, slow_report, cancel, **options)

    return runner


def footer_actions(app) -> list[str]:
    from textual.widgets._footer import FooterKey

    return [key.description for key in app.screen.query(FooterKey)]


def status_text(app, stage: str) -> str:
    return str(app.query_one(f"#{stage}-status").render())


def test_cancel_features_then_resume(demo_dataset: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    preset = from_dict(demo_preset_data(demo_dataset, tmp_path / "run", features={"workers": 1, "variants": 12}))
    layout = RunLayout(preset)

    async def scenario() -> None:
        app = create_app(preset, stage_runner=slowed_runner(0.3), presets_dir=tmp_path, port_lister=lambda: [])
        async with app.run_test(size=(80, 24)) as pilot:
            app.go_to(2)
            await pilot.pause()
            await pilot.press("ctrl+r")  # the step's main button, wherever the focus is
            bar = app.query_one("#features-progress")
            await wait_until(pilot, lambda: (bar.progress or 0) > 0, 60, "some files done")
            assert bar.progress < bar.total, "still running"
            assert "Cancel" in footer_actions(app), "the footer offers Cancel while the step's work runs"
            await pilot.press("ctrl+c")  # as in the CLI (Ctrl+X too): it did nothing, silently
            started = time.monotonic()
            await wait_stage(pilot, app.steps[2], "features", 30)
            print(f"features cancel -> stopped in {time.monotonic() - started:.2f} s")
            assert time.monotonic() - started < 10
            assert "cancelled" in status_text(app, "features") or "re-run" in status_text(app, "features")
            assert not layout.features_info.exists()
            assert not [p for p in layout.features_dir.rglob("*") if p.name.endswith(".tmp") or ".tmp" in p.name]
            await pilot.pause()
            assert "Cancel" not in footer_actions(app), "nothing left to cancel"
            # resume: the button now says Resume and finishes the job
            assert str(app.query_one("#features-start").label) == "Resume"
            app.stage_runner = slowed_runner(0.0)
            await press_button(pilot, "features-start")
            await wait_stage(pilot, app.steps[2], "features", 120)
            assert layout.features_info.exists(), status_text(app, "features")

    asyncio.run(scenario())


@pytest.mark.slow
def test_cancel_training_promptly_and_quit_cleanly(demo_features, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    data = demo_preset_data(
        Path(demo_features.dataset.path),
        tmp_path / "run",
        features={"output": str(demo_features.features_path)},
        train={"epochs": 50},
    )
    preset = from_dict(data)
    layout = RunLayout(preset)
    threads_before = set(threading.enumerate())

    async def scenario() -> None:
        app = create_app(preset, presets_dir=tmp_path, port_lister=lambda: [])
        async with app.run_test(size=(80, 24)) as pilot:
            app.go_to(3)
            await pilot.pause()
            await press_button(pilot, "train-start")
            await wait_until(pilot, lambda: app.steps[3].batches_seen >= 3, 120, "first batches")
            await press_button(pilot, "train-cancel")
            started = time.monotonic()
            await wait_stage(pilot, app.steps[3], "train", 30)
            print(f"training cancel -> stopped in {time.monotonic() - started:.2f} s")
            assert time.monotonic() - started < 10, "cancel honoured promptly (core tests time it per batch)"
            assert "cancel" in status_text(app, "train").lower()
            assert app.steps[3].epochs_done < 50
            rate = str(app.query_one("#train-rate").render())  # no rate or ETA running on beside "cancelled"
            assert rate.endswith("cancelled") and "ETA" not in rate and "/s" not in rate, rate

            # start again, then Ctrl+Q while it runs: the wizard asks first, and Escape keeps the work going
            await press_button(pilot, "train-resume")
            await wait_until(pilot, lambda: app.task_running("train"), 10, "training restarted")
            await pilot.pause(1.0)
            await pilot.press("ctrl+q")
            await pilot.pause()
            assert isinstance(app.screen, Confirm) and app.is_running and app.task_running("train")
            assert "Training is still running" in str(app.screen.query_one("#choose-body").render())
            await pilot.press("escape")
            await pilot.pause()
            assert not isinstance(app.screen, Confirm) and app.task_running("train")
            # a second Ctrl+Q quits: the worker is cancelled and joined
            await pilot.press("ctrl+q", "ctrl+q")
            await wait_until(pilot, lambda: not app.is_running, 60, "app exit")
        assert not app.running_workers()

    asyncio.run(scenario())
    time.sleep(0.5)
    leftover = [t for t in threading.enumerate() if t not in threads_before and t.is_alive() and not t.daemon]
    assert leftover == []
    assert not list(layout.run_dir.rglob("*.tmp"))


def test_ctrl_x_with_nothing_running_leaves_the_field_and_the_clipboard_alone(tmp_path: Path, monkeypatch) -> None:
    """Cancel is offered only while work runs; with nothing to cancel, Ctrl+X must not reach the text field's own
    Ctrl+X (cut), which empties the field's selection into the clipboard (the command F2 just copied)."""
    monkeypatch.chdir(tmp_path)

    async def scenario() -> None:
        app = create_app(presets_dir=tmp_path, port_lister=lambda: [])
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            field = app.query_one("#dataset-path")
            field.focus()
            field.value = "data/mine"
            field.select_all()
            app.copy_to_clipboard("kwtui run commands")
            assert "Cancel" not in footer_actions(app)
            await pilot.press("ctrl+x")
            await pilot.pause()
            assert field.value == "data/mine" and app.clipboard == "kwtui run commands"
            # Ctrl+C with nothing running: a field's selected text is copied; without one, it says what quits
            await pilot.press("ctrl+c")
            await pilot.pause()
            assert app.clipboard == "data/mine"
            field.action_end()
            await pilot.press("ctrl+c")
            await pilot.pause()
            assert any("Ctrl+Q quits" in str(n.message) for n in app._notifications)

    asyncio.run(scenario())
