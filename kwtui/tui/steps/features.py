"""Step 3: generate the feature store in a worker, with progress, RAM/disk gauges and a log of skipped files."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

from rich.markup import escape
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, Label, ProgressBar

from kwtui.core.events import Finished, Progress, Resources, StageWarning, Started
from kwtui.core.io import records
from kwtui.core.io.layout import RunLayout
from kwtui.core.preset import Preset, PresetError
from kwtui.tui.form import FormState
from kwtui.tui.format import human_duration
from kwtui.tui.messages import StageDone, StageEvents
from kwtui.tui.screens.dialogs import Choose
from kwtui.tui.steps.base import Step, int_value
from kwtui.tui.widgets.gauges import ResourceGauges
from kwtui.tui.widgets.log import WrappedLog
from kwtui.tui.widgets.textinput import Input

RECORD_OF_STAGE = {"features": "features", "train": "train"}  # steps whose results are a stage record


class StageStep(Step):
    """A step that runs one core stage with Start/Cancel buttons and a progress line."""

    stage = ""

    def start_button_label(self) -> str:
        return "Start"

    def set_running(self, running: bool) -> None:
        self.query_one(f"#{self.stage}-start", Button).disabled = running
        self.query_one(f"#{self.stage}-cancel", Button).disabled = not running
        if running:
            self.last_progress = None  # a run that stops before its first count shows no earlier run's
            # nor is the last run's full bar and "ETA 00:00" shown while this one sets up
            self.query_one(f"#{self.stage}-progress", ProgressBar).update(total=100, progress=0)
            self.query_one(f"#{self.stage}-rate", Label).update("")
        else:
            self.query_one(f"#{self.stage}-start", Button).label = self.start_button_label()
            bar = self.query_one(f"#{self.stage}-progress", ProgressBar)
            if bar.total is None:  # a count not known yet (flash: "connecting") pulses; work that ended does not
                bar.update(total=100, progress=0)
        self.wizard.refresh_bindings()  # the footer shows Cancel while work runs

    def set_status(self, text: str) -> None:
        self.query_one(f"#{self.stage}-status", Label).update(text)

    def record_problem(self, missing: str) -> str | None:
        """Why this step's stage record cannot be used for the settings on screen (None when it is up to date)."""
        status = self.wizard.stage_status(RECORD_OF_STAGE[self.stage])
        if status is None or status.done:
            return None
        if status.state != "stale":
            return missing
        return f"Out of date: {status.reason}; press {self.start_button_label()}."  # the button as it reads

    def show_record_state(self) -> None:
        """On entering the step: say when its last results do not belong to the settings on screen."""
        if self.stage in RECORD_OF_STAGE and not self.wizard.task_running(self.stage):
            status = self.wizard.stage_status(RECORD_OF_STAGE[self.stage])
            if status is not None and status.state == "stale":
                self.set_status(f"[yellow]out of date: {escape(status.reason)}[/]")

    def validated_preset(self) -> Preset | None:
        try:
            return self.wizard.current_preset()
        except PresetError as exc:
            self.set_status(f"[red]{exc}[/]")
            return None

    def cancel(self) -> None:
        if self.wizard.task_running(self.stage):
            self.wizard.cancel_task(self.stage)
            self.set_status("cancelling ...")

    last_progress: Progress | None = None

    def show_stopped(self, how: str) -> None:
        """The rate line once the work stopped (cancelled, failed): the count reached, no rate or ETA still
        running beside the message."""
        event = self.last_progress
        if event is not None:
            total = f"/{event.total}" if event.total else ""
            self.query_one(f"#{self.stage}-rate", Label).update(f"{event.done}{total} {event.unit}  {how}")

    def show_progress(self, event: Progress) -> None:
        if event.stage != self.stage and event.stage not in ("evaluate", "convert"):
            # a sub-step (e.g. the dataset scan before features): text only, the bar is the stage's own
            self.set_status(f"{event.stage}: {event.done}/{event.total or '?'} {event.unit}")
            return
        bar = self.query_one(f"#{self.stage}-progress", ProgressBar)
        bar.update(total=event.total, progress=event.done)
        self.last_progress = event
        rate = f"{event.rate:.1f} {event.unit}/s" if event.rate else ""
        eta = f"ETA {human_duration(event.eta_s)}" if event.eta_s is not None else ""
        total = f"/{event.total}" if event.total else ""
        self.query_one(f"#{self.stage}-rate", Label).update(
            f"{event.done}{total} {event.unit}  {rate}  {eta}  {event.message}"
        )


class FeaturesStep(StageStep):
    step_id = "features"
    short_title = "Features"
    stage = "features"

    def __init__(self) -> None:
        super().__init__()
        self.summary: dict | None = None
        self.layout_for_label: RunLayout | None = None  # the run folder whose features the Start button names

    def compose(self) -> ComposeResult:
        yield Label(
            "[b]3 Features[/b]  every clip and its variants as features, one .npy each; resumable", classes="step-title"
        )
        with Horizontal(classes="fields"):
            yield Label("workers", classes="inline-label")
            yield Input(id="workers", classes="short", tooltip="0 = all cores", compact=True)
            yield Label("variants", classes="inline-label")
            yield Input(id="variants", classes="short", tooltip="augmented copies per keyword clip", compact=True)
            yield Label("seed", classes="inline-label")
            yield Input(id="features-seed", classes="short", compact=True)
        with Horizontal(classes="row"):
            yield Button("Start", id="features-start", variant="primary", compact=True)
            yield Button("Cancel", id="features-cancel", variant="error", disabled=True, compact=True)
        yield Label("", id="features-status", classes="status")
        yield ProgressBar(total=100, id="features-progress", show_eta=False)
        yield Label("", id="features-rate", classes="status")
        yield ResourceGauges(id="features-gauges")
        yield WrappedLog(id="features-log", max_lines=2000, markup=False, classes="log")

    def load_from(self, preset: Preset) -> None:
        self.query_one("#workers", Input).value = str(preset.features.workers)
        self.query_one("#variants", Input).value = str(preset.features.variants)
        self.query_one("#features-seed", Input).value = str(preset.features.seed)
        self.layout_for_label = RunLayout(preset)
        self.set_running(self.wizard.task_running(self.stage))

    def apply_to(self, form: FormState) -> None:
        form.set("features.workers", int_value(self.query_one("#workers", Input)))
        form.set("features.variants", int_value(self.query_one("#variants", Input)))
        form.set("features.seed", int_value(self.query_one("#features-seed", Input)))

    def start_button_label(self) -> str:
        layout = self.layout_for_label
        if layout is not None and layout.features_dir.is_dir():
            done = layout.features_info.exists()
            return "Re-run" if done else "Resume"
        return "Start"

    def on_enter(self) -> None:
        self.layout_for_label = self.wizard.run_layout()
        if not self.wizard.task_running(self.stage):
            self.set_running(False)
        self.show_record_state()
        self.show_past_features()

    def show_past_features(self) -> None:
        """Features the run folder already holds for these settings: a full bar and their counts, not `0%`."""
        status = self.wizard.stage_status(self.stage)
        if self.wizard.task_running(self.stage) or self.summary is not None or status is None or not status.done:
            return
        try:
            info = json.loads(RunLayout(self.wizard.current_preset()).features_info.read_text(encoding="utf-8"))
            counts = {split: sum(per_class.values()) for split, per_class in info["counts"].items()}
        except (OSError, ValueError, KeyError, AttributeError, PresetError):
            return
        total = sum(counts.values())
        self.query_one(f"#{self.stage}-progress", ProgressBar).update(total=max(total, 1), progress=max(total, 1))
        self.set_status(
            f"made earlier: {total} feature files ({counts.get('train', 0)} train, "
            f"{counts.get('validation', 0)} validation, {counts.get('test', 0)} test); Re-run makes them "
            "again"
        )

    def ready_for_next(self) -> str | None:
        if self.wizard.task_running(self.stage):
            return "Features are still being generated (Cancel, or wait)."
        return self.record_problem("Generate the features first (Start).")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "features-start":
            self.start()
        elif event.button.id == "features-cancel":
            self.cancel()

    def start(self, confirmed: bool = False) -> None:
        preset = self.validated_preset()
        if preset is None:
            return
        question = None if confirmed else self.replace_question(preset)
        if question is not None:
            self.app.push_screen(
                Choose("Another model's run folder", question, [("new", "New run folder"), ("replace", "Replace")]),
                self._answered,
            )
            return
        self.query_one("#features-log", WrappedLog).clear()
        if self.wizard.start_stage(self.stage, self, preset):
            self.set_running(True)
            self.set_status(f"writing to {preset.features_path}")

    def replace_question(self, preset: Preset) -> str | None:
        """What these features would replace: the run folder holds a model trained for other classes (every
        wizard session starts in runs/kwtui, so a second model went there too and the first one's were lost)."""
        layout = RunLayout(preset)
        trained = records.load_record(layout.train_record, "train")
        if trained is None or trained.labels is None or list(trained.labels) == list(preset.class_names):
            return None
        return (
            f"{layout.run_dir} holds a model trained for [{', '.join(trained.labels)}]. Features for "
            f"[{', '.join(preset.class_names)}] would replace its features there, and training then its model. "
            f"New run folder keeps it and works in {self._new_run_dir(preset)}; Replace goes on in {layout.run_dir}."
        )

    def _new_run_dir(self, preset: Preset) -> Path:
        return RunLayout(dataclasses.replace(preset, name=self._new_name(preset), run_dir="")).run_dir

    def _new_name(self, preset: Preset) -> str:
        """The preset's name and its keywords ("kwtui-sheila"), numbered while such a run folder exists."""
        words = "-".join(re.sub(r"[^A-Za-z0-9_.-]+", "", k) or "kw" for k in preset.classes.keywords)
        base = f"{preset.name}-{words}"[:56]
        name, number = base, 1
        while RunLayout(dataclasses.replace(preset, name=name, run_dir="")).run_dir.exists():
            number += 1
            name = f"{base}-{number}"
        return name

    def _answered(self, choice: str | None) -> None:
        if choice == "new":
            preset = self.wizard.current_preset()
            self.wizard.form.set("name", self._new_name(preset))
            self.wizard.form.set("run_dir", "")
            self.wizard.form.set("features.output", "")  # its own features too, not the other model's folder
            self.wizard.update_command()
            self.layout_for_label = self.wizard.run_layout()
        if choice is not None:
            self.start(confirmed=True)

    def on_stage_events(self, message: StageEvents) -> None:
        log = self.query_one("#features-log", WrappedLog)
        for event in message.events:
            if isinstance(event, Progress):
                self.show_progress(event)
            elif isinstance(event, Resources):
                self.query_one(ResourceGauges).update_sample(event)
            elif isinstance(event, StageWarning):
                log.write(f"{event.path}: {event.message}" if event.path else event.message)
            elif isinstance(event, Started):
                self.set_status(event.message or f"{event.total or '?'} {event.unit} to do")
            elif isinstance(event, Finished):
                self.summary = event.summary

    def on_stage_done(self, message: StageDone) -> None:
        message.stop()
        self.layout_for_label = self.wizard.run_layout()
        self.set_running(False)
        if message.ok:
            self.summary = message.summary
            summary = message.summary
            written = summary.get("written", summary.get("files_written", "?"))
            skipped = summary.get("skipped", summary.get("files_skipped", 0))
            existing = summary.get("files_existing", 0)
            planned = summary.get("files_total")
            text = f"[green]done[/]: {written} written" + (f", {existing} already there" if existing else "")
            text += f", {skipped} skipped" + (f" of {planned} planned" if planned is not None else "")
            self.set_status(text)
            self.wizard.mark_step_done(2)
        elif message.status == "cancelled":
            self.set_status(f"[yellow]cancelled: {message.message}[/]")
            self.show_stopped("cancelled")
        else:
            self.set_status(f"[red]{message.message}[/]")
            self.show_stopped("stopped")
