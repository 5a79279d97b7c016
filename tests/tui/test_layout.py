"""The wizard uses the terminal it is given: on a tall one each step's main view (the word table, the keyword list,
the training charts) takes the rows; at 80x24 each keeps the height it needs to be read."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from kwtui.core.preset import Preset
from kwtui.tui.app import create_app

# step index, the widget that holds the step's content, the rows it needs at the least
MAIN_VIEWS = [(0, "#words", 4), (1, "#keywords", 9), (3, "#curves", 8)]


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (200, 60)])
def test_each_step_gives_its_main_view_the_rows_it_has(tmp_path: Path, monkeypatch, size):
    monkeypatch.chdir(tmp_path)

    async def scenario() -> dict[str, int]:
        app = create_app(Preset(), presets_dir=tmp_path / "presets", port_lister=lambda: [])
        heights = {}
        async with app.run_test(size=size) as pilot:
            for index, selector, _ in MAIN_VIEWS:
                app.go_to(index)
                await pilot.pause(0.3)
                heights[selector] = app.screen.query_one(selector).region.height
        return heights

    heights = asyncio.run(scenario())
    width, rows = size
    for _, selector, least in MAIN_VIEWS:
        assert heights[selector] >= least, (size, heights)
        if rows >= 40:  # a tall terminal: the view grows with it (it stayed at 9-12 rows at 200x60)
            assert heights[selector] >= rows // 3, (size, heights)
