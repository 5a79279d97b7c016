"""The Flash step reports a missing serial port as the core words it (a one-line message, no traceback), and
a dry run names the port chosen in the step. No board here: nothing is ever written to a device."""

from __future__ import annotations

import asyncio
import copy
import shutil
import subprocess
from pathlib import Path

import pytest
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
            # the bar pulsed while connecting (no byte count yet); a failed flash leaves it still
            assert app.query_one("#flash-progress").total is not None

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


def test_flash_step_writes_into_a_simulated_board(converted_run_for_wizard, tmp_path: Path) -> None:
    """The Flash step against the simulated ESP32 (tests/helpers/esp32_sim.py; no board here): progress while
    writing, the success line, the bytes in the board's flash; then a board of another chip: its error line."""
    from tests.helpers.esp32_sim import SimulatedEsp32

    preset = converted_run_for_wizard

    async def scenario(board: SimulatedEsp32, chip_error: bool) -> None:
        preset.flash.port = board.port
        app = create_app(preset, presets_dir=tmp_path, port_lister=lambda: [(board.port, board.port)])
        async with app.run_test(size=(80, 24)) as pilot:
            app.go_to(5)
            await pilot.pause()
            if not chip_error:  # the dry run's command names the image by its absolute path: it runs anywhere
                await press_button(pilot, "flash-dry-run")
                await wait_until(pilot, lambda: not app.task_running("flash"), 60, "dry run finished")
                written = [str(line) for line in app.query_one("#flash-log")._written]
                start = next(i for i, line in enumerate(written) if line.startswith("$ "))
                command = "\n".join(written[start:])[2:]
                image = Path(preset.run_dir).absolute() / "model_partition.bin"
                assert f"\n    0x2d0000 {image}" in command, command  # an offset and its file on one line
                assert subprocess.run(["bash", "-n", "-c", command]).returncode == 0  # the lines are one command
            await press_button(pilot, "flash-start")
            await wait_until(pilot, lambda: not app.task_running("flash"), 60, "flash finished")
            status = str(app.query_one("#flash-status").render())
            if chip_error:
                assert "flash.chip: the preset says esp32 but the board" in status, status
                assert "error: " in log_text(app) and "Traceback" not in log_text(app)
            else:
                assert "flashed" in status, (status, log_text(app))
                assert "ESP32 on" in log_text(app) and "writing file 1/1" in log_text(app)  # progress while writing
                assert app.query_one("#flash-progress").percentage == 1.0

    with SimulatedEsp32() as board:
        asyncio.run(scenario(board, chip_error=False))
    image = (Path(preset.run_dir) / "model_partition.bin").read_bytes()
    assert bytes(board.flash[0x2D0000 : 0x2D0000 + len(image)]) == image
    with SimulatedEsp32(misbehave="esp32s3") as board:
        asyncio.run(scenario(board, chip_error=True))


def test_another_preset_loaded_clears_the_flash_log(tmp_path: Path, monkeypatch) -> None:
    """Ctrl+O loading another preset left the previous preset's dry run in the Flash step's log."""
    from kwtui.core.preset import from_dict

    monkeypatch.chdir(tmp_path)

    async def scenario() -> tuple[str, str]:
        app = create_app(from_dict({"name": "first"}), presets_dir=tmp_path, port_lister=lambda: [])
        async with app.run_test(size=(80, 24)) as pilot:
            app.go_to(5)
            await pilot.pause()
            app.query_one("#flash-log").write("--- dry run --- of first")
            # saved under another name (Ctrl+S stores the run folder absolute): the same run folder, the log kept
            saved = from_dict({"name": "renamed", "run_dir": str((tmp_path / "runs" / "first").absolute())})
            app.apply_preset(saved, same_choices=True)
            await pilot.pause()
            kept = log_text(app)
            app.apply_preset(from_dict({"name": "second"}))
            await pilot.pause()
            return kept, log_text(app)

    kept, after = asyncio.run(scenario())
    assert "of first" in kept and "of first" not in after


@pytest.fixture
def converted_run_for_wizard(tmp_path, monkeypatch):
    from tests.helpers.records import converted_run_factory

    monkeypatch.chdir(tmp_path)  # the records name the dataset by its resolved path: made where the wizard runs
    return converted_run_factory(tmp_path)(flash={"chip": "esp32"})
