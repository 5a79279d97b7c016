"""The wizard's last step offers ESPHome beside kwtui's firmware: the export runs from there (a real Textual
pilot, the real stage) and the log shows where the files are and the YAML that loads them."""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path

import pytest
from textual.widgets import RichLog

from kwtui.tui.app import create_app
from tests.tui.pilot_utils import press_button, wait_until

pytestmark = pytest.mark.slow


def test_the_last_step_exports_for_esphome_and_shows_the_yaml(esphome_export, tmp_path):
    preset = copy.deepcopy(esphome_export["preset"])

    async def scenario() -> str:
        app = create_app(preset, presets_dir=tmp_path, port_lister=lambda: [])
        async with app.run_test(size=(80, 24)) as pilot:
            app.go_to(5)
            await pilot.pause()
            await press_button(pilot, "esphome-export")
            await wait_until(pilot, lambda: not app.task_running("esphome"), 300, "export finished")
            await pilot.pause()
            status = str(app.query_one("#flash-status").render())
            assert "ESPHome export in" in status, status
            return "\n".join(str(line.text) for line in app.query_one("#flash-log", RichLog).lines)

    log = asyncio.run(scenario())
    assert "micro_wake_word:" in log and "- model: marvin.json" in log and "Traceback" not in log, log
    folder = Path(preset.run_path) / "esphome"
    assert sorted(p.name for p in folder.iterdir()) == ["marvin.json", "marvin.tflite"]
