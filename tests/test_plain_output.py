"""What `kwtui <stage>` prints to a pipe or a dumb terminal: one line per event worth a line, progress throttled."""

from __future__ import annotations

import io

from kwtui.cli.render import PlainRenderer
from kwtui.core import events as ev


def test_plain_lines_name_phases_at_once_and_throttle_the_rest():
    out = io.StringIO()
    render = PlainRenderer(out, interval=3600.0)  # nothing is ever "due" again within the test
    for event in (
        ev.Started("features", total=10, unit="files", message="scanning"),
        ev.Progress("features", 0, 10, unit="files", message="preparing: noise cache"),
        ev.Progress("features", 1, 10, unit="files", message="preparing: noise cache"),  # same phase: throttled
        ev.Progress("features", 2, 10, rate=4.0, eta_s=2.0, unit="files", message="starting 2 workers"),
        ev.Resources("features", rss_bytes=100 << 20, available_bytes=1 << 30),
        ev.Resources("features", rss_bytes=120 << 20, available_bytes=1 << 30),  # throttled
        ev.Progress("features", 10, 10, rate=5.0, unit="files", message="starting 2 workers"),  # the last: shown
        ev.StageWarning("features", "skipped: silent", "yes/a.wav"),
        ev.Finished("features", {"files_written": 10, "seconds": 2.5, "skipped": []}),
    ):
        render(event)
    lines = out.getvalue().splitlines()
    assert lines[0] == "[features] started: 10 files - scanning"
    assert lines[1] == "[features] 0/10 files (0.0/s) preparing: noise cache"
    assert lines[2] == "[features] 2/10 files (4.0/s, ETA 2 s) starting 2 workers"
    assert lines[3].startswith("[features] ") and "MB" in lines[3], lines[3]  # the first resources line
    assert lines[4] == "[features] 10/10 files (5.0/s) starting 2 workers"
    assert lines[5] == "[features] warning: yes/a.wav: skipped: silent"
    assert lines[6] == "[features] done: files_written=10, seconds=2.5"
    assert len(lines) == 7, lines


def test_the_live_bar_keeps_its_bar_and_counts_in_80_columns():
    """On a terminal the bars share their lines with nothing: the RAM and disk line goes under them, whole at 80
    columns. Beside the bar it squeezed the bar and the counts out of an 80-column terminal."""
    from rich.console import Console

    from kwtui.cli.render import RichRenderer

    for width in (80, 120):  # a 1.2 GB tree, 1.3 GB mapped, 23.2 GB free, 12.1 GB written, 142.9 GB of disk free
        console = Console(file=io.StringIO(), width=width, force_terminal=True, color_system=None)
        render = RichRenderer(console)
        try:
            render(ev.Started("features", total=40000, unit="files"))
            render(ev.Progress("features", 12345, 40000, rate=45.1, unit="files"))
            render(
                ev.Resources(
                    "features",
                    rss_bytes=1_234_000_000,
                    mapped_bytes=1_315_000_000,
                    available_bytes=23_200_000_000,
                    written_bytes=12_126_000_000,
                    free_disk_bytes=142_900_000_000,
                )
            )
            shown = Console(file=io.StringIO(), width=width, record=True, color_system=None)
            for renderable in render.progress.get_renderables():
                shown.print(renderable)
            lines = shown.export_text().splitlines()
        finally:
            render.close()
        bar, resources = lines
        assert "━━━" in bar and "12345/40000" in bar and "45.1 files/s" in bar, lines
        assert resources.startswith("RAM ") and len(resources) <= width and resources.endswith("GB free"), lines
