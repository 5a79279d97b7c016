"""The wizard's main actions are in the command palette, and its log can be read without leaving it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from kwtui.core.preset import Preset
from kwtui.tui.app import create_app
from kwtui.tui.screens.dialogs import HelpScreen, LogScreen, NamePrompt


async def _run_from_palette(pilot, typed: str) -> None:
    """Ctrl+P, `typed`, Enter: through the real palette, as a user picks an action by name."""
    await pilot.press("ctrl+p")
    await pilot.pause()
    await pilot.press(*typed)
    await pilot.pause(0.5)
    await pilot.press("enter")
    await pilot.pause(0.5)


def test_palette_lists_wizard_actions_and_the_log_viewer_shows_the_log(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    log = tmp_path / "wizard.log"
    log.write_text("oneDNN custom operations are on\nsomething native said hello\n")

    async def scenario() -> None:
        app = create_app(Preset(), presets_dir=tmp_path / "presets", port_lister=lambda: [])
        app.log_path = log
        async with app.run_test(size=(80, 24)) as pilot:
            titles = [c.title for c in app.get_system_commands(app.screen)]
            for wanted in ("Save preset", "Load preset", "Run step", "Cancel step", "Show wizard log", "Go to Flash"):
                assert wanted in titles
            await _run_from_palette(pilot, "wizard log")  # the words a user would try
            assert isinstance(app.screen, LogScreen)
            lines = [str(line.text) for line in app.screen.query_one("#log-view").lines]
            assert any("native said hello" in line for line in lines)
            await pilot.press("escape")
            await pilot.pause()
            assert not isinstance(app.screen, LogScreen)
            await pilot.press("ctrl+l")
            await pilot.pause()
            assert isinstance(app.screen, LogScreen)
            await pilot.press("escape", "f1")
            await pilot.pause()
            assert isinstance(app.screen, HelpScreen)
            await pilot.press("escape")
            await _run_from_palette(pilot, "Save preset")
            assert isinstance(app.screen, NamePrompt)
            await pilot.press("escape")
            await pilot.pause()
            # "help" typed into the palette finds the wizard's help, not only Textual's key panel
            await _run_from_palette(pilot, "help")
            assert isinstance(app.screen, HelpScreen)
            await pilot.press("escape")
            await pilot.pause()
            await _run_from_palette(pilot, "flash")  # a step by its name
            assert app.steps[app.step_index].short_title == "Flash"
            quits = [c for c in app.get_system_commands(app.screen) if c.title == "Quit"]
            assert len(quits) == 1 and "cancelled cleanly" in quits[0].help

    asyncio.run(scenario())


def test_long_log_lines_and_questions_wrap_inside_their_dialogs(tmp_path: Path, monkeypatch):
    """At 80x24 a long log line wraps inside the log (none runs past its edge, nothing scrolls sideways), and a
    long question in a Confirm dialog wraps inside the dialog. Both were cut at the dialog's edge."""
    from textual.widgets import Label

    from kwtui.tui.screens.dialogs import Confirm

    monkeypatch.chdir(tmp_path)
    log = tmp_path / "wizard.log"
    log.write_text("WARNING: All log messages before absl::InitializeLog() is called are written to STDERR " * 2 + "\n")
    question = "2 epochs are trained in runs/commands. Start over trains from epoch 0; the best model is kept. " * 2

    async def scenario() -> None:
        app = create_app(Preset(), presets_dir=tmp_path / "presets", port_lister=lambda: [])
        app.log_path = log
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("ctrl+l")
            await pilot.pause()
            view = app.screen.query_one("#log-view")
            text = "".join(str(line.text).strip() for line in view.lines)
            assert "written to STDERR" in text and view.virtual_size.width <= view.size.width, view.virtual_size
            await pilot.press("escape")
            await pilot.pause()
            app.push_screen(Confirm("Start over?", question, "Start over"))
            await pilot.pause()
            body = app.screen.query_one("#choose-body", Label)
            dialog = app.screen.query_one(".dialog")
            assert dialog.region.contains_region(body.region), (dialog.region, body.region)
            assert body.region.height >= 2  # wrapped, whole

    asyncio.run(scenario())


def test_the_help_names_every_key_the_wizard_binds():
    """Each of the app's own key bindings has its row in the help (F2 was missing)."""
    from kwtui.tui.app import WizardApp
    from kwtui.tui.screens.dialogs import HELP

    def shown(part: str) -> str:
        return part.upper() if len(part) == 1 or (part[0] == "f" and part[1:].isdigit()) else part.capitalize()

    for binding in WizardApp.BINDINGS:
        for key in binding.key.split(","):
            name = "+".join(shown(part) for part in key.split("+"))
            assert f"`{name}`" in HELP, (key, name)
