"""The wizard's bottom line is a command that, pasted into a shell, replays exactly the settings on screen.

The command is taken from the screen, split as a shell would, and run with `presets show` in place of `run`
(same preset resolution and --set handling): the preset it prints must equal the wizard's settings.
"""

from __future__ import annotations

import asyncio
import shlex
import tomllib
from pathlib import Path

from kwtui.core.preset import Preset
from kwtui.tui.app import create_app
from tests.helpers.corpus import kwtui


def _replayed(command: str, cwd: Path) -> dict:
    args = shlex.split(command.removeprefix("headless: ").strip())
    assert args[:2] == ["kwtui", "run"], args
    shown = kwtui("presets", "show", *args[2:], cwd=cwd)
    assert shown.returncode == 0, shown.stderr
    return tomllib.loads(shown.stdout)


def test_headless_line_replays_the_screen_on_a_fresh_start_and_after_changes(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    async def scenario() -> None:
        app = create_app(Preset(), presets_dir=tmp_path / "presets", port_lister=lambda: [])
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            line = str(app.query_one("#command").render())
            assert _replayed(app.headless_command(), tmp_path) == app.preset.to_dict()
            assert line.replace("\n", "").startswith("headless: kwtui run")

            app.preset.classes.keywords = ["yes", "no's", "left right"]  # quotes and spaces survive the shell
            app.preset.train.epochs = 7
            app.preset.dataset.path = "my data/speech"
            app.update_command()
            await pilot.pause()
            command = app.headless_command()
            shown = "".join(str(app.query_one("#command").render()).split("\n"))
            assert "".join(command.split()) in "".join(shown.split())  # wrapped, never cut
            assert _replayed(command, tmp_path) == app.preset.to_dict()

    asyncio.run(scenario())
