"""Step 4: train in a worker; live per-batch progress, loss/accuracy curves (train and validation), best epoch."""

from __future__ import annotations

import csv

from rich.markup import escape
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, Label, ProgressBar, Select

from kwtui.core.events import Finished, Metric, Progress, Resources, StageWarning, Started
from kwtui.core.io.layout import RunLayout
from kwtui.core.model import MODELS, family_settings
from kwtui.core.preset import Preset, PresetError
from kwtui.tui.form import FormState
from kwtui.tui.messages import StageDone, StageEvents
from kwtui.tui.screens.dialogs import Confirm
from kwtui.tui.steps.base import float_value, int_value
from kwtui.tui.steps.features import StageStep
from kwtui.tui.widgets.gauges import ResourceGauges
from kwtui.tui.widgets.plot import LinePlot
from kwtui.tui.widgets.textinput import Input


class TrainingStep(StageStep):
    step_id = "training"
    short_title = "Training"
    stage = "train"

    def __init__(self) -> None:
        super().__init__()
        self.batches_seen = 0
        self.best: tuple[int, float] | None = None  # (epoch, balanced val accuracy, or plain without it)
        self.best_is_balanced = False
        self.epochs_done = 0
        self.summary: dict | None = None

    def compose(self) -> ComposeResult:
        yield Label(
            "[b]4 Training[/b]  streams features from disk; best checkpoint kept; resumable", classes="step-title"
        )
        with Horizontal(classes="fields"):
            yield Label("model", classes="inline-label")
            yield Select([(m, m) for m in MODELS], allow_blank=False, id="model", classes="select", compact=True)
            yield Label("epochs", classes="inline-label")
            yield Input(id="epochs", classes="short", compact=True)
            yield Label("batch", classes="inline-label")
            yield Input(id="batch-size", classes="short", compact=True)
            yield Label("lr", classes="inline-label")
            yield Input(id="learning-rate", classes="short", compact=True)
        with Horizontal(classes="row"):
            yield Button("Start", id="train-start", variant="primary", compact=True)
            yield Button("Resume", id="train-resume", compact=True)
            yield Button("Cancel", id="train-cancel", variant="error", disabled=True, compact=True)
        yield Label("", id="train-status", classes="status")
        yield ProgressBar(total=100, id="train-progress", show_eta=False)
        yield Label("", id="train-rate", classes="status")
        with Horizontal(id="curves"):
            series = [("train", "dodger_blue1"), ("val", "orange1")]
            yield LinePlot("loss", series, y_floor=0.0, x_label="epochs", id="loss-plot")
            yield LinePlot("accuracy", series, y_range=(0.0, 1.0), x_label="epochs", id="acc-plot")
        yield ResourceGauges(disk=False, id="train-gauges")

    def load_from(self, preset: Preset) -> None:
        self.query_one("#model", Select).value = preset.train.model
        self.query_one("#epochs", Input).value = str(preset.train.epochs)
        self.query_one("#batch-size", Input).value = str(preset.train.batch_size)
        self.query_one("#learning-rate", Input).value = f"{preset.train.learning_rate:g}"
        self.set_running(self.wizard.task_running(self.stage))

    def apply_to(self, form: FormState) -> None:
        model = str(self.query_one("#model", Select).value)  # the list holds choices.MODELS only
        form.set("train.model", model)
        # the model kind brings its feature and hop (a legacy model takes the spectrogram, every 100 ms)
        frontend, hop_ms = family_settings(model, form.number("evaluate.hop_ms"))
        form.set("features.frontend", frontend)
        form.set("evaluate.hop_ms", hop_ms)
        form.set("train.epochs", int_value(self.query_one("#epochs", Input)))
        form.set("train.batch_size", int_value(self.query_one("#batch-size", Input)))
        form.set("train.learning_rate", float_value(self.query_one("#learning-rate", Input)))

    def on_enter(self) -> None:
        self.show_record_state()
        self.show_past_training()

    def show_past_training(self) -> None:
        """The run folder's finished epochs (history.csv), drawn and named on entering the step, so a reopened
        wizard shows the training it already holds instead of empty charts under a checkmark."""
        status = self.wizard.stage_status(self.stage)
        if self.wizard.task_running(self.stage) or self.batches_seen or status is None or status.state == "stale":
            return
        try:
            path = RunLayout(self.wizard.current_preset()).history
            rows = list(csv.DictReader(path.open(encoding="utf-8"))) if path.is_file() else []
            epochs = [
                (int(r["epoch"]), {k: float(r[k]) for k in ("loss", "accuracy", "val_loss", "val_accuracy")})
                for r in rows
            ]
            # the epoch training kept (the last marked best, by balanced accuracy), else, for a run trained before
            # balanced accuracy chose, the most accurate one
            marked = [
                (int(r["epoch"]), float(r["val_balanced_accuracy"]))
                for r in rows
                if r.get("best") == "1" and r.get("val_balanced_accuracy")
            ]
        except (OSError, KeyError, ValueError, csv.Error, PresetError):
            return
        if not epochs:
            return
        loss, acc = self.query_one("#loss-plot", LinePlot), self.query_one("#acc-plot", LinePlot)
        loss.clear()
        acc.clear()
        for epoch, m in epochs:
            loss.add_point("train", epoch, m["loss"])
            loss.add_point("val", epoch, m["val_loss"])
            acc.add_point("train", epoch, m["accuracy"])
            acc.add_point("val", epoch, m["val_accuracy"])
        if marked:
            best_epoch, score = marked[-1]
            figure = f"balanced val acc {score:.3f}"
        else:
            best_epoch, best = max(epochs, key=lambda e: e[1]["val_accuracy"])
            figure = f"val acc {best['val_accuracy']:.3f}"
        done = epochs[-1][0]
        self.set_status(
            f"trained earlier: {done} epochs, best epoch {best_epoch} ({figure})."
            f" Resume: on after epoch {done} (raise epochs); Start: from scratch, this best kept as "
            "model_best.previous.keras"
        )

    def set_running(self, running: bool) -> None:
        super().set_running(running)
        self.query_one("#train-resume", Button).disabled = running

    def ready_for_next(self) -> str | None:
        if self.wizard.task_running(self.stage):
            return "Training is still running (Cancel, or wait)."
        return self.record_problem("Train a model first (Start).")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id in ("train-start", "train-resume"):
            self.start(resume=event.button.id == "train-resume")
        elif event.button.id == "train-cancel":
            self.cancel()

    def start(self, resume: bool = False, confirmed: bool = False) -> None:
        preset = self.validated_preset()
        if preset is None:
            return
        if not resume and not confirmed:
            question = self.start_over_question(preset)
            if question is not None:

                def answered(choice: str | None) -> None:
                    if choice == "go":
                        self.start(confirmed=True)

                self.app.push_screen(Confirm("Start over?", question, "Start over", "Keep"), answered)
                return
        if not resume:  # live and history points are both in epochs: a Resume goes on from the epochs drawn
            for plot in self.query(LinePlot):
                plot.clear()
        if not resume:
            self.batches_seen, self.best, self.epochs_done, self.best_is_balanced = 0, None, 0, False
        if self.wizard.start_stage(self.stage, self, preset, resume=resume):
            self.set_running(True)
            self.set_status("loading TensorFlow ..." if not resume else "resuming ...")

    def start_over_question(self, preset: Preset) -> str | None:
        """What Start would replace, when the run folder holds a trained model (None: nothing to lose)."""
        layout = RunLayout(preset)
        if not layout.best_model.is_file():
            return None
        epochs = 0
        try:
            rows = list(csv.DictReader(layout.history.open(encoding="utf-8"))) if layout.history.is_file() else []
            epochs = int(rows[-1]["epoch"]) if rows else 0
        except (OSError, KeyError, ValueError, csv.Error):
            pass
        done = f"{epochs} epochs are trained" if epochs else "A trained model is there"
        instead = (
            f"Resume cannot go on: train.epochs is {preset.train.epochs}, fewer than those {epochs}."
            if epochs > preset.train.epochs
            else "Resume continues instead."
        )
        return (
            f"{done} in {layout.run_dir}. Start over trains from epoch 1; the best model so far is kept as "
            f"{layout.previous_best_model.name} (replacing an older copy there). {instead}"
        )

    def on_stage_events(self, message: StageEvents) -> None:
        for event in message.events:
            if isinstance(event, Metric):
                self.plot_metric(event)
            elif isinstance(event, Progress):
                self.show_progress(event)
            elif isinstance(event, Resources):
                self.query_one(ResourceGauges).update_sample(event)
            elif isinstance(event, Started):
                self.set_status(event.message or "training")
            elif isinstance(event, StageWarning):
                self.set_status(f"[yellow]{escape(event.message)}[/]")  # on the step, not over its results
            elif isinstance(event, Finished):
                self.summary = event.summary
        if self.best is not None:
            # the curve is plain accuracy; the best epoch is chosen by each class's recall averaged (rare classes
            # count as much as _unknown), which a user saw beside a higher curve and could not place
            figure = "balanced val accuracy (classes alike)" if self.best_is_balanced else "val accuracy"
            self.set_status(f"best epoch {self.best[0]}: {figure} {self.best[1]:.3f}")

    def plot_metric(self, event: Metric) -> None:
        """A training figure onto its chart, x in epochs as history.csv's points are (a Resume draws on after
        them); per batch it is Keras's running mean over the epoch so far."""
        at = event.epochs if event.epochs is not None else float(event.epoch or 0)
        chart = self.query_one("#loss-plot" if "loss" in event.name else "#acc-plot", LinePlot)
        if event.step is not None:
            self.batches_seen += 1
            if event.name in ("loss", "accuracy"):
                chart.add_point("train", at, event.value)
        elif event.name in ("val_loss", "val_accuracy"):
            chart.add_point("val", at, event.value)
            if event.name == "val_accuracy":
                self.epochs_done = event.epoch or 0
                if not self.best_is_balanced and (self.best is None or event.value > self.best[1]):
                    self.best = (event.epoch or 0, event.value)
        elif event.name == "val_balanced_accuracy":  # what training keeps the best epoch by
            if not self.best_is_balanced or self.best is None or event.value > self.best[1]:
                self.best, self.best_is_balanced = (event.epoch or 0, event.value), True

    def on_stage_done(self, message: StageDone) -> None:
        message.stop()
        self.set_running(False)
        if message.ok:
            self.summary = message.summary
            best = message.summary.get("best_epoch", self.best[0] if self.best else "?")
            balanced = message.summary.get("best_val_balanced_accuracy")
            val = message.summary.get("best_val_accuracy", self.best[1] if self.best else None)
            if isinstance(balanced, float):
                self.set_status(
                    f"[green]done[/]: best epoch {best}, balanced val accuracy {balanced:.3f} (classes alike)"
                )
            else:
                val_text = f"{val:.3f}" if isinstance(val, float) else "?"
                self.set_status(f"[green]done[/]: best epoch {best}, val accuracy {val_text}")
            self.wizard.mark_step_done(3)
        elif message.status == "cancelled":
            self.set_status(f"[yellow]{message.message}[/] (Resume continues from the last epoch)")
            self.show_stopped("cancelled")
        else:
            self.set_status(f"[red]{message.message}[/]")
            self.show_stopped("stopped")
