"""Unit tests of the pieces under the wizard: the throttling event pump and the braille plot."""

from __future__ import annotations

import time

from kwtui.core.events import Finished, Metric, Progress, Resources, StageWarning, Started
from kwtui.tui.pump import EventPump
from kwtui.tui.widgets.plot import LinePlot, _thin


def test_pump_batches_keeps_every_metric_and_only_the_newest_gauge_samples() -> None:
    posted: list[list] = []
    pump = EventPump(posted.append, interval=10.0)
    pump(Started("train", 10))  # posts at once
    for i in range(100):
        pump(Metric("train", "loss", 1.0 / (i + 1), step=i, epoch=1))
        pump(Progress("train", i, 100))
        pump(Resources("train", rss_bytes=i, available_bytes=0))
    pump(StageWarning("train", "w"))
    assert len(posted) == 1  # throttled: nothing more posted yet
    pump(Finished("train", {"ok": 1}))  # posts at once, with everything pending
    batch = posted[1]
    assert sum(isinstance(e, Metric) for e in batch) == 100
    assert [e.done for e in batch if isinstance(e, Progress)] == [99]
    assert [e.rss_bytes for e in batch if isinstance(e, Resources)] == [99]
    assert isinstance(batch[-1], Finished)


def test_pump_keeps_every_progress_line_meant_for_the_log() -> None:
    """A Progress with a message ("ESP32 on /dev/ttyUSB0") is a log line: a newer gauge sample must not drop it."""
    posted: list[list] = []
    pump = EventPump(posted.append, interval=10.0)
    pump(Started("flash", 0))
    pump(Progress("flash", 0, None, unit="bytes", message="ESP32 on /dev/ttyUSB0"))
    for i in range(50):
        pump(Progress("flash", i, 100, unit="bytes"))
    pump(Progress("flash", 50, 100, unit="bytes", message="writing file 1/1"))
    pump(Progress("flash", 99, 100, unit="bytes"))
    pump.flush()
    progress = [e for e in posted[-1] if isinstance(e, Progress)]
    assert [e.message for e in progress] == ["ESP32 on /dev/ttyUSB0", "writing file 1/1", ""]
    assert progress[-1].done == 99


def test_pump_posts_again_after_the_interval_and_flushes_the_tail() -> None:
    posted: list[list] = []
    pump = EventPump(posted.append, interval=0.05)
    pump(Progress("features", 1, 10))
    time.sleep(0.06)
    pump(Progress("features", 2, 10))
    pump(Progress("features", 3, 10))
    assert [[e.done for e in b] for b in posted] == [[1], [2]]
    pump.flush()
    assert posted[-1][0].done == 3


def test_plot_thins_long_series_and_keeps_the_last_point() -> None:
    points = [(float(i), float(i)) for i in range(10_000)]
    thinned = _thin(points, 100)
    assert len(thinned) <= 101 and thinned[-1] == points[-1] and thinned[0] == points[0]


def test_plot_renders_braille_within_its_size() -> None:
    plot = LinePlot("loss", [("train", "blue"), ("val", "red")])
    for i in range(50):
        plot.series["train"].points.append((i, 1.0 / (i + 1)))
    plot.series["val"].points.append((49, 0.5))
    text = plot.render()
    lines = text.plain.splitlines()
    assert lines[0].startswith("loss") and "train 0.020" in lines[0] and "val 0.500" in lines[0]
    assert any(0x2800 < ord(ch) <= 0x28FF for line in lines[1:] for ch in line)


def test_path_suggester_completes_folders(tmp_path, monkeypatch) -> None:
    import asyncio

    from kwtui.tui.widgets.pathinput import PathSuggester

    (tmp_path / "speech_commands").mkdir()
    (tmp_path / "speech.txt").write_text("")
    monkeypatch.chdir(tmp_path)
    suggest = PathSuggester().get_suggestion
    assert asyncio.run(suggest("spe")) == "speech_commands/"  # folders only
    assert asyncio.run(suggest(f"{tmp_path}/spe")) == f"{tmp_path}/speech_commands/"
    assert asyncio.run(suggest("nothing-here")) is None


def test_detection_curve_labels_both_ends_and_its_marker_follows_a_hand_picked_point() -> None:
    """The x axis showed `0.1 … 18` with the right-end label cut off, and the marker stayed on the evaluation's
    point after a row of the sweep was picked by hand (with `target 0.5/h` still drawn)."""
    import asyncio

    from textual.app import App, ComposeResult

    from kwtui.core.report import CurvePoint
    from kwtui.tui.widgets.curve import DetectionCurve

    curve = [CurvePoint(1, 0.5, None, fa, frr, 0) for fa, frr in ((0.0, 0.9), (0.5, 0.4), (12.0, 0.2), (3420.0, 0.01))]

    class One(App):
        def compose(self) -> ComposeResult:
            yield DetectionCurve(id="curve")

    async def scenario() -> tuple[list[str], list[str]]:
        app = One()
        async with app.run_test(size=(60, 9)) as pilot:
            widget = app.query_one(DetectionCurve)
            widget.show(curve, curve[1], 0.5)
            await pilot.pause()
            before = widget.render().plain.splitlines()
            widget.set_choice(3420.0, 0.01, 0.0)
            await pilot.pause()
            after = widget.render().plain.splitlines()
            # a row off the frontier, past its last rate (the axis stopped there: no marker was drawn)
            widget.set_choice(9000.0, 0.5, 0.0)
            await pilot.pause()
            off_frontier.extend(widget.render().plain.splitlines())
            return before, after

    off_frontier: list[str] = []
    before, after = asyncio.run(scenario())
    assert off_frontier[-1].rstrip().endswith("9,000/h") and any("●" in line for line in off_frontier[1:-1])
    assert before[-1].rstrip().endswith("3,420/h") and before[-1].split()[0] == "0.1", before[-1]
    assert "target 0.5/h" in before[0] and "target" not in after[0]
    marker = [(r, line.index("●")) for r, line in enumerate(after[1:]) if "●" in line]
    was = [(r, line.index("●")) for r, line in enumerate(before[1:]) if "●" in line]
    plot_rows = len(after) - 2  # the title line and the axis line around them
    assert was and marker == [(plot_rows - 1, len(after[1]) - 1)]  # FRR 1 % at 3,420/h: bottom row, right edge


def test_a_log_wraps_at_its_width_and_again_after_a_resize() -> None:
    """Lines written into a narrow log wrap inside it (RichLog rendered them at least 78 wide and cut the end:
    "(liste" at 80x24), and wrap again, whole, when the terminal is resized either way."""
    import asyncio

    from textual.app import App

    from kwtui.tui.widgets.log import WrappedLog

    line = "converted: resampled 22050 Hz: yes/20eca22b_nohash_0.wav and 246 more (listed in features.json) end"

    class LogApp(App):
        def compose(self):
            yield WrappedLog(id="log")

    def shown(log: WrappedLog) -> tuple[str, int]:
        rows = [str(strip.text).rstrip() for strip in log.lines]
        return " ".join(rows), max(len(r) for r in rows)

    async def scenario() -> None:
        app = LogApp()
        async with app.run_test(size=(60, 20)) as pilot:
            log = app.query_one(WrappedLog)
            log.write(line)
            await pilot.pause()
            text, widest = shown(log)
            assert text.replace(" ", "") == line.replace(" ", "") and widest <= log.size.width, (text, widest)
            for width in (160, 50):
                await pilot.resize_terminal(width, 20)
                await pilot.pause()
                text, widest = shown(log)
                assert text.replace(" ", "") == line.replace(" ", ""), text
                assert widest <= log.size.width and log.virtual_size.width <= log.size.width, (widest, log.size)
            assert len(log.lines) >= 2  # at 50 columns: wrapped

    asyncio.run(scenario())


def test_plot_spans_its_points_x_range_and_labels_the_axis() -> None:
    """Two epochs from history.csv: the first sits at the left edge (it sat mid-width, x was scaled from 0), the
    bottom row names the x axis's ends and unit, and a loss's axis reaches 0 (a 0.06 drop filled the height)."""
    import asyncio

    from textual.app import App, ComposeResult

    class Chart(App[None]):
        CSS = "LinePlot { width: 40; height: 9; }"

        def compose(self) -> ComposeResult:
            yield LinePlot("loss", [("train", "blue"), ("val", "red")], y_floor=0.0, x_label="epochs")

    async def scenario() -> list[str]:
        app = Chart()
        async with app.run_test(size=(60, 12)) as pilot:
            plot = app.query_one(LinePlot)
            plot.add_point("train", 1, 1.80)
            plot.add_point("train", 2, 1.74)
            await pilot.pause()
            return plot.render().plain.splitlines()

    lines = asyncio.run(scenario())
    chart = lines[1:-1]
    assert chart[-1].startswith(" 0.00│")  # the loss axis reaches 0
    first_column = [line[6] for line in chart]  # the first cell right of the y labels
    assert any(0x2800 < ord(ch) <= 0x28FF for ch in first_column), chart  # epoch 1 at the left edge
    assert lines[-1].split() == ["1", "2", "epochs"]


def test_the_curve_legend_stays_whole_in_a_narrow_column() -> None:
    """With command words' "per keyword" marker, a 45-column curve cut the legend to "● chosen, per keyword  ┊":
    it shortens instead, and keeps the target's rate."""
    import asyncio

    from textual.app import App, ComposeResult

    from kwtui.core.report import CurvePoint
    from kwtui.tui.widgets.curve import DetectionCurve

    curve = [CurvePoint(1, 0.5, None, fa, frr, 0) for fa, frr in ((0.0, 0.9), (0.5, 0.4), (12.0, 0.2))]

    class One(App):
        CSS = "DetectionCurve { width: 45; }"

        def compose(self) -> ComposeResult:
            yield DetectionCurve(id="curve")

    async def scenario() -> str:
        async with One().run_test(size=(60, 9)) as pilot:
            widget = pilot.app.query_one(DetectionCurve)
            widget.show(curve, curve[1], 0.5, per_keyword=True)
            await pilot.pause()
            return widget.render().plain.splitlines()[0]

    legend = asyncio.run(scenario())
    assert "● chosen, per keyword" in legend and legend.rstrip().endswith("0.5/h") and len(legend) <= 45, legend
