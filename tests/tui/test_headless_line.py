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
    args = shlex.split(command.removeprefix("headless (F2 copies): ").strip())
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
            assert _replayed(app.headless_command(), tmp_path) == app.form.to_dict()
            assert line.startswith("headless (F2 copies): kwtui run")

            app.form.set("classes.keywords", ["yes", "no's", "left right"])  # quotes and spaces survive the shell
            app.form.set("train.epochs", 7)
            app.form.set("dataset.path", "my data/speech")
            app.update_command()
            await pilot.pause()
            command = app.headless_command()
            # one row: too long for 80 columns, it ends in an ellipsis (a screen copy is no shorter runnable
            # command); F2 copies it whole
            line_widget = app.query_one("#command")
            shown = line_widget.render_line(0).text
            assert line_widget.size.height == 1 and len(command) > 80
            assert shown.rstrip().endswith("…"), shown
            await pilot.press("f2")
            await pilot.pause()
            assert app.clipboard == command
            assert _replayed(app.clipboard, tmp_path) == app.form.to_dict()

    asyncio.run(scenario())


def test_headless_line_follows_every_field_as_it_is_typed(tmp_path: Path, monkeypatch):
    """Typing in a field changes the line at once (it used to wait for a step change): epochs 30 -> 4."""
    from tests.tui.pilot_utils import type_into

    monkeypatch.chdir(tmp_path)

    async def scenario() -> None:
        app = create_app(Preset(), presets_dir=tmp_path / "presets", port_lister=lambda: [])
        async with app.run_test(size=(200, 50)) as pilot:
            await pilot.pause()
            app.go_to(3)  # Training
            await pilot.pause()
            await type_into(pilot, "epochs", "4")
            await pilot.pause()
            assert "train.epochs=4" in str(app.query_one("#command").render())
            assert _replayed(app.headless_command(), tmp_path)["train"]["epochs"] == 4
            # a value the preset refuses: no command to paste, the field named instead, and F2 copies nothing
            app.go_to(2)  # Features
            await pilot.pause()
            await type_into(pilot, "features-seed", "4x2-")
            await pilot.pause()
            line = str(app.query_one("#command").render())
            assert line.startswith("headless: fix features.seed") and "kwtui run" not in line, line
            await pilot.press("f2")
            await pilot.pause()
            assert any("nothing copied" in str(n.message) for n in app._notifications)

    asyncio.run(scenario())
