"""The Flash step reports a missing serial port as the core words it (a one-line message, no traceback), and
a dry run names the port chosen in the step. No board here: nothing is ever written to a device."""

from __future__ import annotations

import asyncio
import copy
import shutil
from pathlib import Path

from textual.widgets import RichLog

from kwtui.tui.app import create_app
from tests.tui.pilot_utils import press_button, wait_stage, wait_until

MISSING = "/dev/ttyKWTUI-missing"


def log_text(app) -> str:
    return "\n".join(str(line.text) for line in app.query_one("#flash-log", RichLog).lines)


def test_flash_to_a_missing_port_says_so(trained_run, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    preset = copy.deepcopy(trained_run)
    shutil.copytree(trained_run.run_path, tmp_path / "run")
    preset.run_dir = str(tmp_path / "run")
    preset.flash.port = MISSING

    async def scenario() -> None:
        app = create_app(preset, presets_dir=tmp_path, port_lister=lambda: [])
        async with app.run_test(size=(80, 24)) as pilot:
            app.go_to(5)
            await pilot.pause()
            assert app.query_one("#port").value == MISSING  # kept from the preset, marked as not present
            await press_button(pilot, "flash-dry-run")
            await wait_stage(pilot, None, "flash", 60)
            assert f"--port {MISSING}" in log_text(app).replace("\n", "")  # the log wraps long lines
            await press_button(pilot, "flash-start")
            await wait_stage(pilot, None, "flash", 60)
            status = str(app.query_one("#flash-status").render())
            assert "no such serial port" in status and "Traceback" not in log_text(app)
            assert "error: " in log_text(app)

    asyncio.run(scenario())


def test_monitor_shows_detections_from_a_pty_board(tmp_path: Path, monkeypatch) -> None:
    """A pseudo-terminal stands in for the ESP32's USB serial port (no hardware here)."""
    import os

    from kwtui.core.preset import Preset

    monkeypatch.chdir(tmp_path)
    master, slave = os.openpty()
    port = os.ttyname(slave)
    preset = Preset()
    preset.flash.port = port

    async def scenario() -> None:
        app = create_app(preset, presets_dir=tmp_path, port_lister=lambda: [(port, port)])
        async with app.run_test(size=(80, 24)) as pilot:
            app.go_to(5)
            await pilot.pause()
            await press_button(pilot, "monitor-start")
            await wait_until(pilot, lambda: "monitoring" in log_text(app), 10, "monitor started")
            os.write(master, b"kwt boot: model from partition\r\nDETECT label=yes score=0.931 t_ms=1234\r\n")
            await wait_until(pilot, lambda: app.steps[5].detections == 1, 10, "a detection")
            assert "DETECT yes score 0.931" in log_text(app) and "model from partition" in log_text(app)
            await press_button(pilot, "flash-cancel")
            await wait_stage(pilot, None, "monitor", 10)
            assert "monitor stopped: 1 detection" in str(app.query_one("#flash-status").render())

    try:
        asyncio.run(scenario())
    finally:
        os.close(master)
        os.close(slave)
