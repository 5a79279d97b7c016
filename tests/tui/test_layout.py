"""The wizard uses the terminal it is given: on a tall one each step's main view (the word table, the keyword list,
the training charts) takes the rows; at 80x24 each keeps the height it needs to be read."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from kwtui.core.preset import Preset
from kwtui.tui.app import create_app

# step index, the widget that holds the step's content, the rows it needs at the least
MAIN_VIEWS = [(0, "#words", 4), (1, "#keywords", 9), (3, "#curves", 8), (4, "#eval-tables", 15)]


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


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_evaluate_shows_every_class_name_and_every_note_whole(trained_run, tmp_path: Path, size):
    """At 80x24 class names were cut to "_unkno"/"_backg" and the verdict's next steps to two rows: now the curve
    goes under the table on a narrow terminal, names stay whole (numbered columns where names cannot fit), and the
    verdict and the operating point take the rows their text needs (the step scrolls)."""
    import shutil

    from textual.widgets import DataTable

    from kwtui.core.preset import from_dict

    run = tmp_path / "run"
    shutil.copytree(trained_run.run_path, run)
    preset = from_dict(
        {**trained_run.to_dict(), "run_dir": str(run), "features": {**trained_run.to_dict()["features"], "output": ""}}
    )

    async def scenario() -> tuple[list[str], list[str], dict[str, tuple[int, int]]]:
        app = create_app(preset, presets_dir=tmp_path / "presets", port_lister=lambda: [])
        async with app.run_test(size=size) as pilot:
            app.go_to(4)
            await pilot.pause(0.5)
            table = app.query_one("#confusion", DataTable)
            labels = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
            headers = [str(c.label) for c in table.columns.values()]
            fits = {}
            for wid in ("verdict", "threshold-choice"):
                widget = app.query_one(f"#{wid}")
                needed = len(widget.render().wrap(widget.content_region.width))
                fits[wid] = (widget.content_region.height, needed)
            assert table.region.right <= size[0] and app.query_one("#curve").region.width >= 28
            return labels, headers, fits

    labels, headers, fits = asyncio.run(scenario())
    names = preset.class_names
    assert [label.split(" ", 1)[-1] for label in labels] == names  # "3 _unknown" or "_unknown", never "_unkno"
    assert headers[1:-2] == names or headers[1:-2] == [str(k + 1) for k in range(len(names))]
    for wid, (height, needed) in fits.items():
        assert height >= needed, (wid, height, needed)


def test_the_confusion_table_keeps_its_class_names_across_resizes(trained_run, tmp_path: Path):
    """80x24 -> 200x60 -> 80x24: the table is rebuilt for each width (numbered where names do not fit, names
    where they do) and never loses its row labels."""
    import shutil

    from textual.widgets import DataTable

    from kwtui.core.preset import from_dict

    run = tmp_path / "run"
    shutil.copytree(trained_run.run_path, run)
    preset = from_dict(
        {**trained_run.to_dict(), "run_dir": str(run), "features": {**trained_run.to_dict()["features"], "output": ""}}
    )

    async def scenario() -> list[tuple[list[str], list[str]]]:
        app = create_app(preset, presets_dir=tmp_path / "presets", port_lister=lambda: [])
        seen = []
        async with app.run_test(size=(80, 24)) as pilot:
            app.go_to(4)
            await pilot.pause(0.5)
            # showing a report never changes the preset: the point it chose for its target is not a setting
            step = app.steps[4]
            chosen = step.report.operating_point.point
            assert (chosen.threshold, chosen.average_window) != (
                preset.evaluate.threshold,
                preset.evaluate.average_window,
            )
            app.go_to(3)
            await pilot.pause()
            shown = app.current_preset().evaluate
            assert (shown.threshold, shown.average_window) == (
                preset.evaluate.threshold,
                preset.evaluate.average_window,
            )
            app.go_to(4)
            await pilot.pause(0.5)
            for size in ((200, 60), (80, 24), (200, 60), (120, 40), (80, 24), (120, 40)):
                await pilot.resize_terminal(*size)
                await pilot.pause(0.5)
                table = app.query_one("#confusion", DataTable)
                rows = [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]
                # what is drawn: each row begins with its class, whole (a rebuild once drew rows without it)
                for y, row in enumerate(rows, start=1):
                    drawn = table.render_line(y).text.strip()
                    assert drawn.startswith(row[0] + " ") and row[-1] in drawn, (size, y, drawn)
                seen.append(([row[0] for row in rows], [str(c.label) for c in table.columns.values()]))
        return seen

    names = preset.class_names
    for labels, headers in asyncio.run(scenario()):
        assert [label.split(" ", 1)[-1] for label in labels] == names, labels
        assert headers[0] == "class" and headers[1:-2] in (names, [str(k + 1) for k in range(len(names))]), headers
