"""Step 5: evaluate (confusion matrix, FRR / false-accept curve, operating point) and convert (int8, TFLM-checked)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.cells import cell_len
from rich.markup import escape
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, DataTable, Label, ProgressBar

from kwtui.core.errors import KwtuiError, UserError
from kwtui.core.events import Progress, StageWarning, Started
from kwtui.core.io import records
from kwtui.core.io.layout import RunLayout
from kwtui.core.preset import Preset
from kwtui.core.report import CurvePoint, OperatingPoint, Report, false_reject_rate_interval
from kwtui.core.verdict import fires_above_target, judge
from kwtui.tui.form import FormState
from kwtui.tui.format import percent
from kwtui.tui.messages import StageDone, StageEvents
from kwtui.tui.steps.features import StageStep
from kwtui.tui.widgets.curve import DetectionCurve
from kwtui.tui.widgets.tryit import TryIt


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _compute_text(compute: dict[str, Any] | None) -> str:
    """MACs per inference and the estimated time per inference with the firmware's ESP-NN kernels, beside the arena."""
    if not compute:
        return ""
    ms = compute.get("estimated_ms") or {}
    esp32, s3 = _ms(ms.get("esp32_esp_nn", 0)), _ms(ms.get("esp32s3_esp_nn", 0))
    return f"  {compute.get('macs_per_inference', 0) / 1e6:.2f} M MACs, ~{esp32} ms ESP32 ({s3} ms S3)"


def _ms(value: float) -> str:
    """A time per inference: two significant digits under 10 ms (a 0.1 ms stride read "0 ms")."""
    return f"{value:.2g}" if value < 10 else f"{value:.0f}"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


STACKED_BELOW = 110  # columns: narrower, the curve and sweep go under the confusion table
# the table and "clip accuracy" judge each test clip alone by its highest output; the operating point's misses are
# keywords placed inside running audio and scored as the device does: a recall of 100 % beside 50 % missed is both
CONFUSION_TITLE = "test clips one by one: true x predicted"


class EvaluateStep(StageStep):
    step_id = "evaluate"
    short_title = "Evaluate"
    stage = "evaluate"

    def __init__(self) -> None:
        super().__init__()
        self.report: Report | None = None
        self.accuracy: float | None = None
        self.model_info: dict[str, Any] | None = None
        self.sweep: list[CurvePoint] = []
        self.threshold: float = 0.9
        self.average_window: int = 3
        self.target: float = 0.5  # evaluate.target_fa_per_hour; 0 once a point is picked by hand
        self.preset_point: tuple[float, int] = (self.threshold, self.average_window)
        self.firmware_dir = ""  # where the last conversion wrote model.cc

    def compose(self) -> ComposeResult:
        yield Label(
            "[b]5 Evaluate & convert[/b]  FRR, false accepts/h, the int8 model in TFLM",
            classes="step-title",
        )
        with Horizontal(classes="row"):
            yield Button("Evaluate + convert", id="evaluate-start", variant="primary", compact=True)
            yield Button("Convert only", id="convert-start", compact=True)
            yield Button("Cancel", id="evaluate-cancel", variant="error", disabled=True, compact=True)
        yield Label("", id="evaluate-status", classes="status")
        yield ProgressBar(total=100, id="evaluate-progress", show_eta=False)
        yield Label("", id="evaluate-rate", classes="status")
        # the results first: on a small terminal the tables and the curve below them scroll
        verdict = Label("", id="verdict", classes="status")
        verdict.display = False  # takes no row until there is a report
        yield verdict
        yield Label("", id="threshold-choice", classes="status")
        yield Label("", id="convert-summary", classes="status")
        with Horizontal(id="eval-tables"):
            with Vertical(id="eval-left", classes="eval-col"):
                yield Label(CONFUSION_TITLE + ", precision, recall", id="confusion-title", classes="table-title")
                yield DataTable(id="confusion", cursor_type="none")
            with Vertical(id="eval-right", classes="eval-col"):
                yield DetectionCurve(id="curve")
                yield Label("sweep at this window (arrows pick)", classes="table-title")
                yield DataTable(id="sweep", cursor_type="row", zebra_stripes=True)
        yield Label("Try it: the converted model over a recording, as the device runs it", classes="table-title")
        yield TryIt(id="try-it")

    def load_from(self, preset: Preset) -> None:
        self.threshold = preset.evaluate.threshold
        self.average_window = preset.evaluate.average_window
        self.target = preset.evaluate.target_fa_per_hour
        # with a target the evaluation places the point; the preset's own threshold and window stay as they were
        self.preset_point = (self.threshold, self.average_window)
        self.set_running(self.wizard.task_running(self.stage) or self.wizard.task_running("convert"))
        self.show_results(RunLayout(preset))

    def apply_to(self, form: FormState) -> None:
        """The preset changes only when a point is picked by hand (target 0); the point an evaluation chose for
        its target is what the report and the converted model carry, not a setting the user made."""
        threshold, window = self.preset_point if self.target > 0 else (self.threshold, self.average_window)
        form.set("evaluate.threshold", threshold)
        form.set("evaluate.average_window", window)
        form.set("evaluate.target_fa_per_hour", self.target)

    def on_enter(self) -> None:
        if not self.running:
            self.show_results(self.wizard.run_layout())

    @property
    def running(self) -> bool:
        return self.wizard.task_running("evaluate") or self.wizard.task_running("convert")

    def start_button_label(self) -> str:
        return "Evaluate + convert"

    def set_running(self, running: bool) -> None:
        super().set_running(running)
        self.query_one("#convert-start", Button).disabled = running

    def ready_for_next(self) -> str | None:
        if self.running:
            return "Evaluation/conversion is still running."
        layout = self.wizard.run_layout()
        if not layout.tflite.exists():
            return "Convert the model first (Evaluate + convert)."
        try:
            converted = records.deployable_status(layout, command=None)
        except KwtuiError:
            return None  # an invalid setting: Next names it
        if not converted.done:  # Flash would refuse it: say so here
            if not records.train_status(layout).done:
                return f"{converted.reason}: train again (step 4), then Evaluate + convert."
            return f"{converted.reason}; press Evaluate + convert."
        return None

    # --- running ---------------------------------------------------------------
    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "evaluate-start":
            self.run_stages(["evaluate", "convert"])
        elif event.button.id == "convert-start":
            self.run_stages(["convert"])
        elif event.button.id == "evaluate-cancel":
            for stage in ("evaluate", "convert"):
                self.wizard.cancel_task(stage)
            self.set_status("cancelling ...")

    def run_stages(self, stages: list[str]) -> None:
        """One task through the core orchestrator: evaluate then convert, or convert alone."""
        preset = self.validated_preset()
        if preset is None:
            return
        if self.wizard.start_stage(stages[0], self, preset, until=stages[-1]):
            self.set_running(True)
            self.set_status(f"{stages[0]} ... (TensorFlow loads on first use)")

    def on_stage_events(self, message: StageEvents) -> None:
        for event in message.events:
            if isinstance(event, Progress):
                self.show_progress(event)
            elif isinstance(event, Started):
                self.set_status(f"{message.stage}: {event.message}" if event.message else f"{message.stage} ...")
            elif isinstance(event, StageWarning):
                self.set_status(f"[yellow]{escape(event.message)}[/]")  # on the step, not over its results

    def on_stage_done(self, message: StageDone) -> None:
        message.stop()
        layout = self.wizard.run_layout()
        self.show_results(layout)
        self.set_running(False)
        if message.ok:
            stages = list(message.summary.get("stages") or [message.stage])
            self.set_status(f"[green]{' + '.join(stages)} done[/]")
            if "convert" in stages:
                self.firmware_dir = message.summary.get("firmware_dir", "")
        else:
            colour = "yellow" if message.status == "cancelled" else "red"
            self.set_status(f"[{colour}]{message.stage}: {message.message}[/]")

    # --- results -----------------------------------------------------------------
    def show_results(self, layout: RunLayout) -> None:
        """Only results made for the settings on screen: a stale report or model is named, never shown."""
        statuses = self.wizard.stage_statuses() or {}
        evaluated, converted = statuses.get("evaluate"), statuses.get("convert")
        report, unreadable = None, ""
        if evaluated is not None and evaluated.done:
            try:
                report = records.load_report(layout)
            except UserError as exc:  # another version, or unreadable: evaluate again
                unreadable = str(exc)
        self.model_info = read_json(layout.model_json) if converted is not None and converted.done else None
        if report is None:
            self.query_one("#verdict", Label).display = False
        if report is None and self.report is not None:
            self.query_one("#confusion", DataTable).clear(columns=True)
            self.query_one("#sweep", DataTable).clear(columns=True)
            self.sweep = []
        if report is None:
            why = unreadable or (evaluated.reason if evaluated is not None else "a setting on screen is invalid")
            stale = bool(unreadable) or (evaluated is not None and evaluated.state == "stale")
            self.query_one("#threshold-choice", Label).update(f"[yellow]out of date: {why}[/]" if stale else why)
        if report and report != self.report:
            self.show_report(report)
        self.report = report
        if report:
            if self.target > 0:  # the point the evaluation placed, also when the same report is shown again
                self.threshold, self.average_window = (
                    report.operating_point.point.threshold,
                    report.operating_point.point.average_window,
                )
            self.show_threshold()
        self.show_convert(layout, converted)

    def show_report(self, report: Report) -> None:
        verdict = self.query_one("#verdict", Label)
        verdict.update(verdict_markup(report))
        verdict.display = True
        self.show_confusion(report)
        op = report.operating_point
        per_keyword = bool(op.per_keyword_points) and report.target_fa_per_hour > 0
        self.query_one("#curve", DetectionCurve).show(
            list(report.curve), op.point, report.target_fa_per_hour, per_keyword
        )
        if self.target > 0:  # the evaluation picked the point for the target
            self.threshold, self.average_window = op.point.threshold, op.point.average_window
        self.sweep = list(report.threshold_sweep)
        sweep = self.query_one("#sweep", DataTable)
        sweep.clear(columns=True)
        sweep.add_columns("thr", "FRR", "FA/h")
        for row in self.sweep:
            sweep.add_row(f"{row.threshold:g}", percent(row.false_reject_rate), _rate(row.false_accepts_per_hour))
        if self.sweep:
            chosen = min(range(len(self.sweep)), key=lambda i: abs(self.sweep[i].threshold - self.threshold))
            sweep.move_cursor(row=chosen, scroll=False)  # arrows scroll it into view
        self.accuracy = report.accuracy
        self.show_threshold()

    def on_resize(self) -> None:
        """Side by side where both fit, the curve under the confusion table on a narrow terminal."""
        self.query_one("#eval-tables", Horizontal).set_class(self.size.width < STACKED_BELOW, "stacked")
        if self.report:
            self.show_confusion(self.report)

    def show_confusion(self, report: Report) -> None:
        """Every class name whole: the columns carry the names where they fit the width, else the rows' numbers
        (rows "1 yes", "2 no", ...), never names cut to "_unkno"."""
        classes = list(report.confusion_matrix.labels)
        rows = report.confusion_matrix.rows_true_cols_predicted
        per_class = report.per_class
        digits = max((len(str(v)) for row in rows for v in row), default=1)
        named = sum(max(len(c), digits) + 2 for c in classes) + max(map(len, classes), default=0) + 2 + 14
        stacked = self.query_one("#eval-tables", Horizontal).has_class("stacked")
        room = self.size.width - 4 if stacked else max(self.size.width - 4 - 30, 0)
        numbered = named > room
        labels = [f"{k + 1} {c}" for k, c in enumerate(classes)] if numbered else classes
        table = self.query_one("#confusion", DataTable)
        table.clear(columns=True)
        cells = [
            [
                label,
                *map(str, row),
                percent(per_class[name].precision if name in per_class else None),
                percent(per_class[name].recall if name in per_class else None),
            ]
            for name, label, row in zip(classes, labels, rows)
        ]
        headers = ["class", *((str(k + 1) for k in range(len(classes))) if numbered else classes), "prec", "recall"]
        # widths stated, not measured by the table: rebuilt during a burst of resizes, its lazy measuring of new
        # rows lost the content widths (class names and percentages cut, or the name column gone)
        for column, header in enumerate(headers):
            table.add_column(header, width=max([cell_len(header)] + [cell_len(row[column]) for row in cells]))
        for row in cells:
            table.add_row(*row)
        self.query_one("#confusion-title", Label).update(
            CONFUSION_TITLE + (" (by row number)" if numbered else "") + ", precision, recall"
        )

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "sweep" and event.data_table.has_focus and 0 <= event.cursor_row < len(self.sweep):
            # only a user moving through the table picks: filling it (and its first cursor) is no choice
            row = self.sweep[event.cursor_row]
            threshold, window = row.threshold, row.average_window
            if abs(threshold - self.threshold) < 1e-9 and window == self.average_window:
                return  # the cursor put on the current point (a refresh), not a choice
            self.threshold, self.average_window, self.target = threshold, window, 0.0  # picked by hand
            self.apply_to(self.wizard.form)  # threshold, window and no target
            self.show_threshold()

    def on_try_it_use_threshold(self, message: TryIt.UseThreshold) -> None:
        """A threshold tried on a recording becomes the operating point, picked by hand (every keyword)."""
        self.threshold, self.target = round(message.threshold, 3), 0.0
        form = self.wizard.form
        form.set("evaluate.threshold", self.threshold)
        form.set("evaluate.target_fa_per_hour", 0.0)
        self.show_threshold()
        self.wizard.update_command()

    def show_threshold(self) -> None:
        """The operating point: how it was chosen, FRR per keyword with its interval, false accepts per hour with
        the hours of ambient audio behind them, and what the audio cannot support."""
        report = self.report
        op = report.operating_point if report is not None else None
        if report is not None and op is not None and self.target > 0 and op.per_keyword_points:
            self.query_one("#threshold-choice", Label).update(_per_keyword_text(report, op, self.target, self.accuracy))
            return
        row = next((r for r in self.sweep if abs(r.threshold - self.threshold) < 1e-9), None)
        if self.target <= 0:
            self.follow_hand_pick(row)
            how = "picked by hand"
        elif report is not None and not report.operating_point.meets_target:  # "for 0.5 FA/h" beside 1900 read met
            how = f"aimed at {self.target:g} FA/h, [yellow]{_unmet(report)}[/]"
        else:
            how = f"for {self.target:g} FA/h"
        text = (
            f"clip accuracy {percent(self.accuracy)} | in running audio: operating point ({how}), "
            f"threshold {self.threshold:g}, window {self.average_window}"
        )
        if row and report is not None and op is not None:
            text += self.point_figures(row, report, op)
        baked = self.model_info or {}
        thresholds = baked.get("thresholds") or [baked.get("threshold")]
        windows = baked.get("average_windows") or [baked.get("average_window")]
        if baked.get("threshold") is not None and (
            any(t is None or abs(t - self.threshold) > 1e-9 for t in thresholds)
            or any(w != self.average_window for w in windows)
        ):  # every keyword's: a threshold per keyword equal to the pick for the first one is not the pick
            kept = ", ".join(f"{t:g}" for t in thresholds if t is not None)
            text += f"  [yellow](flashing uses it; model.h keeps {kept} until you convert again)[/]"
        self.query_one("#threshold-choice", Label).update(text)

    def follow_hand_pick(self, row: CurvePoint | None) -> None:
        """A point picked by hand: the curve's marker follows (no target line is drawn) and the verdict judges it,
        since it is what the device will get."""
        self.query_one("#curve", DetectionCurve).set_choice(
            row.false_accepts_per_hour if row else None, row.false_reject_rate if row else None, 0.0
        )
        report = self.report
        if report is None:
            return
        verdict = verdict_markup(report, row)
        if row is None:
            verdict += (
                f"\n[yellow]that verdict is for threshold {report.operating_point.point.threshold:g}; "
                f"{self.threshold:g}, picked by hand, is not on the evaluated curve: evaluate again to judge it[/]"
            )
        self.query_one("#verdict", Label).update(verdict)

    def point_figures(self, row: CurvePoint, report: Report, op: OperatingPoint) -> str:
        """FRR (with its interval at the evaluated point, per keyword for command words) and FA/h at `row`."""
        text = f": FRR {percent(row.false_reject_rate)}"
        same = (
            not op.per_keyword_points  # a point of its own per keyword is not one row of the sweep
            and abs(op.point.threshold - self.threshold) < 1e-9
            and op.point.average_window == self.average_window
        )
        ci = op.false_reject_rate_ci if same else false_reject_rate_interval(row, report.curve)
        if ci:
            text += f" (95% {percent(ci[0])}-{percent(ci[1])})"
        per_keyword = row.per_keyword_false_reject_rate or {}
        if len(per_keyword) > 1:
            text += "  " + " ".join(f"{k} {percent(v)}" for k, v in per_keyword.items())
        hours = report.ambient.hours
        text += f"\nFA/h {_rate(row.false_accepts_per_hour)} on {hours * 60:.0f} min of ambient audio"
        if same:
            text += _unseen_text(op)
        if report.support_warnings:
            text += "  [yellow]too little audio/clips to trust these rates: see report.txt[/]"
        return text

    def show_convert(self, layout: RunLayout, converted: Any) -> None:
        info = self.model_info
        label = self.query_one("#convert-summary", Label)
        if not info:
            stale = converted is not None and converted.state == "stale"
            label.update(
                f"[yellow]converted model out of date: {converted.reason}[/]" if stale else "not converted yet"
            )
            return
        quant = info.get("quantization", "int8")
        label.update(
            f"float {percent(info.get('float_accuracy'))}  {quant} in TFLM {percent(info.get('tflm_accuracy'))}"
            f"  model {info.get('model_bytes', '?')} B  arena {info.get('arena_bytes', '?')} B"
            + _compute_text(info.get("compute"))
            + "\n"
            + (
                f"model.cc/.h: {layout.run_dir} and {self.firmware_dir or layout.firmware_dir}"
                if layout.preset.convert.firmware_dir
                else f"model.cc/.h: {layout.run_dir} (step 6 writes the board's model partition)"
            )
        )


def _unmet(report: Report) -> str:
    """Why a target is not met: on too little audio it is neither met nor missed (0 false accepts beside "target
    not met" read as a contradiction)."""
    measurable = report.ambient.hours > 0 and report.ambient.hours >= report.needed_hours
    shown_over = fires_above_target(report.operating_point.point, report.ambient.hours, report.target_fa_per_hour)
    return "not met" if measurable or shown_over else "not measurable"


def _unseen_text(op: OperatingPoint) -> str:
    """The point's figures on audio it was not chosen on (report.CrossFitted), which the verdict quotes."""
    if op.unseen is None:
        return ""
    unseen = op.unseen
    return (
        f"\non audio it was not chosen on (the verdict's misses): FRR {percent(unseen.false_reject_rate)}, "
        f"FA/h {_rate(unseen.false_accepts_per_hour)}"
    )


def _per_keyword_text(report: Report, op: OperatingPoint, target: float, accuracy: float | None) -> str:
    """Command words: the threshold and window each keyword got, and what all of them together do on the device
    (pick a row of the sweep to use one point for every keyword instead)."""
    points = ", ".join(
        f"{kw} {p.point.threshold:g} (window {p.point.average_window})"
        for kw, p in (op.per_keyword_points or {}).items()
    )
    aim = f"for {target:g} FA/h" if op.meets_target else f"each chosen alone, {target:g} FA/h {_unmet(report)}"
    text = f"clip accuracy {percent(accuracy)} | in running audio: threshold per keyword ({aim}): {points}"
    text += f"\ntogether: FRR {percent(op.point.false_reject_rate)}"
    per_keyword = op.point.per_keyword_false_reject_rate or {}
    if per_keyword:
        text += " (" + " ".join(f"{k} {percent(v)}" for k, v in per_keyword.items()) + ")"
    hours = report.ambient.hours
    text += f", FA/h {_rate(op.point.false_accepts_per_hour)} on {hours * 60:.0f} min of ambient audio"
    text += _unseen_text(op)
    if not op.meets_target:  # why, for each keyword on its own curve (together they may miss more, as above)
        text += "\n[yellow]each keyword alone: " + escape(op.chosen_by.split("; ", 1)[-1]) + "[/]"
    return text


def verdict_markup(report: Report, picked: CurvePoint | None = None) -> str:
    """The evaluation's verdict line (green / red / yellow) and its next steps, as the report begins; at `picked`
    when the user picked another point of the curve."""
    verdict = judge(report, picked)
    colour = {"usable": "green", "not usable": "red"}.get(verdict.status, "yellow")
    steps = "".join(f"\n  next: {escape(step)}" for step in verdict.next_steps)
    return f"[bold {colour}]{escape(verdict.line())}[/]{steps}"
