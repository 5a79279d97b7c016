"""The wizard's form state: it holds what the screen shows, raw text included, and becomes a Preset only through
the preset loader, whose one-line error names the field."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from kwtui.core.preset import Preset, PresetError
from kwtui.tui.app import create_app
from tests.tui.pilot_utils import type_into


def test_the_form_keeps_raw_text_and_the_preset_loader_names_the_field(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)

    async def scenario() -> None:
        app = create_app(Preset(), presets_dir=tmp_path / "presets", port_lister=lambda: [])
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            app.go_to(3)  # Training
            await pilot.pause()
            await type_into(pilot, "epochs", "2x")
            await pilot.pause()
            assert app.form.get("train.epochs") == "2x"  # as typed, not dropped nor turned into a number
            assert app.form.to_dict()["train"]["epochs"] == "2x"
            assert app.form.loaded.train.epochs == 30  # the preset it was filled from is untouched
            assert 'train.epochs="2x"' in app.headless_command()  # the line replays what is on screen
            with pytest.raises(PresetError) as raised:
                app.current_preset()
            assert str(raised.value) == "train.epochs: expected an integer, got '2x'"
            with pytest.raises(PresetError, match=r"^train\.epochs: "):
                app.form.to_preset()
            assert app.run_layout().run_dir == Path("runs/kwtui")  # the run folder is still known
            await type_into(pilot, "epochs", "2")
            await pilot.pause()
            assert app.form.get("train.epochs") == 2 and app.current_preset().train.epochs == 2

    asyncio.run(scenario())
