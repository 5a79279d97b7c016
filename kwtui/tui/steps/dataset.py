"""Step 1: pick the dataset folder, scan it (headers only), show words, counts and problems; or make a demo one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.markup import escape
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, DataTable, Label, RichLog

from kwtui.core.events import Progress, StageWarning
from kwtui.core.preset import Preset
from kwtui.tui.form import FormState
from kwtui.tui.format import human_duration
from kwtui.tui.messages import StageDone, StageEvents
from kwtui.tui.steps.base import Step
from kwtui.tui.widgets.pathinput import PathSuggester
from kwtui.tui.widgets.textinput import Input


class DatasetStep(Step):
    step_id = "dataset"
    short_title = "Dataset"

    def __init__(self) -> None:
        super().__init__()
        self.scan: Any = None  # kwtui.core.data.scan.DatasetScan of the folder last scanned
        self.scanned_path: str = ""  # the folder the table is (or is about to be) of
        self.scan_line = ""  # the table's summary line
        self.next_scan: str | None = None  # Enter pressed on this path while another scan ran
        self.refused_path = ""  # the path the status calls "not a folder"

    def compose(self) -> ComposeResult:
        yield Label(
            "[b]1 Dataset[/b]  a Speech-Commands folder: one sub-folder of .wav clips per word", classes="step-title"
        )
        with Horizontal(classes="row"):
            yield Input(placeholder="dataset folder", id="dataset-path", suggester=PathSuggester(), compact=True)
            yield Button("Scan", id="scan", variant="primary", compact=True)
        with Horizontal(classes="row", id="dataset-actions"):
            yield Button("Make demo dataset", id="make-demo", compact=True)
            yield Label("", id="dataset-status", classes="status")
        yield DataTable(id="words", cursor_type="row", zebra_stripes=True)
        yield RichLog(id="dataset-log", max_lines=500, wrap=False, markup=False, classes="log")

    def on_mount(self) -> None:
        table = self.query_one("#words", DataTable)
        table.add_columns("word", "clips", "duration", "kind")

    # --- preset ---------------------------------------------------------------
    def load_from(self, preset: Preset) -> None:
        self.query_one("#dataset-path", Input).value = preset.dataset.path
        if preset.dataset.path != self.scanned_path:  # never show another dataset's table
            self.forget_scan()
            self.set_status("not scanned yet")
        if preset.dataset_path.is_dir():
            self.start_scan()

    def forget_scan(self) -> None:
        """The table and problems shown are of a folder no longer chosen: empty them."""
        self.scan = None
        self.scanned_path = ""
        self.query_one("#words", DataTable).clear()
        self.query_one("#dataset-log", RichLog).clear()

    def apply_to(self, form: FormState) -> None:
        form.set("dataset.path", self.path)

    @property
    def path(self) -> str:
        return self.query_one("#dataset-path", Input).value.strip()

    def ready_for_next(self) -> str | None:
        if self.scan is None or self.scanned_path != self.path:
            return "Scan a dataset first (Enter in the folder field), or make the demo dataset."
        if not word_counts(self.scan):
            return f"{self.path}: no word folders with .wav clips found"
        return None

    # --- actions --------------------------------------------------------------
    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "dataset-path":
            # the value Enter was pressed on: in a burst of keys the field may already hold more by now
            self.start_scan(event.value.strip())

    def on_input_changed(self, event: Input.Changed) -> None:
        """A path typed but not scanned yet: the table is another folder's until Enter (typed back to the scanned
        one, the table's summary again)."""
        if event.input.id != "dataset-path":
            return
        if not self.scanned_path:
            if self.refused_path:  # "X: not a folder" is of X only: Make demo dataset would use the path typed
                value = event.value.strip()
                self.set_status(
                    self.refusal(value)
                    if value == self.refused_path
                    else f"not scanned yet: Enter scans {escape(value)}"
                )
            return
        if event.value.strip() != self.scanned_path:
            self.say_not_scanned()
        elif self.scan is not None and self.scan_line:
            self.set_status(self.scan_line)

    def say_not_scanned(self) -> None:
        self.set_status(f"[yellow]the table is {escape(self.scanned_path)}'s: Enter scans {escape(self.path)}[/]")
        self.wizard.mark_step_undone(0)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "scan":
            self.start_scan()
        elif event.button.id == "make-demo":
            self.start_demo()

    def set_status(self, text: str) -> None:
        self.query_one("#dataset-status", Label).update(text)

    def start_scan(self, path: str | None = None) -> None:
        path = self.path if path is None else path
        if not path:
            self.set_status("[red]type a folder first[/]")
            return
        if not Path(path).expanduser().is_dir():
            self.forget_scan()
            self.set_status(self.refusal(path))
            self.refused_path = path
            return
        self.refused_path = ""

        form = self.wizard.form
        validation_list, testing_list = form.text("dataset.validation_list"), form.text("dataset.testing_list")

        def work(report, cancel):
            from kwtui.core.data.scan import scan_dataset

            return scan_dataset(Path(path).expanduser(), report, cancel, validation_list, testing_list)

        if self.wizard.task_running("scan"):  # one at a time: this path is scanned when the current scan ends
            self.next_scan = path
            self.set_status(f"scanning {escape(self.scanned_path)} ..., then {escape(path)}")
            return
        if self.wizard.start_task("scan", self, work):
            self.set_status(f"scanning {escape(path)} ...")
            self.scanned_path = path  # the table about to be shown is this folder's

    @staticmethod
    def refusal(path: str) -> str:
        return f"[red]{escape(path)}: not a folder[/] (Make demo dataset creates one there)"

    def start_demo(self) -> None:
        path = self.path or "data/demo"
        self.refused_path = ""
        self.query_one("#dataset-path", Input).value = path

        def work(report, cancel):
            from kwtui.core.data.demo import make_demo_dataset

            return make_demo_dataset(Path(path).expanduser(), report=report, cancel=cancel)

        if self.wizard.start_task("demo", self, work):
            self.set_status(f"synthesizing a demo dataset in {path} with espeak-ng ...")

    # --- results --------------------------------------------------------------
    def on_stage_events(self, message: StageEvents) -> None:
        log = self.query_one("#dataset-log", RichLog)
        for event in message.events:
            if isinstance(event, Progress) and event.total:
                self.set_status(f"{message.stage}: {event.done}/{event.total} {event.unit}")
            elif isinstance(event, StageWarning):
                log.write(f"! {event.path}: {event.message}" if event.path else f"! {event.message}")

    def on_stage_done(self, message: StageDone) -> None:
        message.stop()
        if message.stage == "scan" and self.next_scan is not None:  # Enter was pressed on another path meanwhile
            path, self.next_scan = self.next_scan, None
            self.start_scan(path)
            return
        if not message.ok:
            if message.stage == "scan":  # no table of another folder under the error, and Next waits for a scan
                self.forget_scan()
                self.wizard.mark_step_undone(0)
            self.set_status(f"[red]{message.stage} {message.status}: {escape(message.message)}[/]")
            return
        if message.stage == "demo":
            self.set_status("demo dataset ready")
            self.start_scan()
        elif message.stage == "scan":
            self.show_scan(message.summary)

    def show_scan(self, scan: Any) -> None:
        self.scan = scan
        table = self.query_one("#words", DataTable)
        table.clear()
        counts = word_counts(scan)
        for word, (clips, seconds) in counts.items():
            table.add_row(word, str(clips), human_duration(seconds) if seconds else "-", "word")
        speech = set(self.wizard.form.texts("classes.negative_speech"))  # folders trained on as running speech
        for name, seconds in noise_files(scan).items():
            kind = "running speech" if name.split("/", 1)[0] in speech else "noise file"
            table.add_row(name, "1", human_duration(seconds), kind)
        problems = problem_lines(scan)
        log = self.query_one("#dataset-log", RichLog)
        log.clear()
        for line in problems:
            log.write(line)
        total = sum(c for c, _ in counts.values())
        self.scan_line = f"{len(counts)} words, {total} clips; {problem_status(scan)}"
        self.set_status(self.scan_line)
        self.wizard.on_dataset_scanned(scan)
        if self.path != self.scanned_path:  # typed on while it scanned
            self.say_not_scanned()


# --- views of kwtui.core.data.scan.DatasetScan ---------------------------------
def word_counts(scan: Any) -> dict[str, tuple[int, float]]:
    """word -> (clips, total seconds)."""
    return {name: (len(info.clips), info.seconds) for name, info in sorted(scan.words.items())}


def noise_files(scan: Any) -> dict[str, float]:
    return {f"{folder}/{clip.name}": clip.seconds for folder, clips in scan.noise.items() for clip in clips}


def problem_lines(scan: Any) -> list[str]:
    """What cannot be used first (every file), then one line per kind of conversion, then notes."""
    groups = scan.problems_by_severity()
    lines = [f"x {p.path}: {p.message}" for p in groups["unusable"]]
    lines += [f"~ {n} file{'s' if n != 1 else ''}: {label}" for label, n in scan.conversion_summary().items()]
    lines += [f"- {p.path}: {p.message}" if p.path else f"- {p.message}" for p in groups["notes"]]
    return lines


def problem_status(scan: Any) -> str:
    groups = scan.problems_by_severity()
    parts = [
        f"{len(groups['unusable'])} unusable" if groups["unusable"] else "",
        f"{len(groups['converted'])} to convert" if groups["converted"] else "",  # not done yet: features will
        f"{len(groups['notes'])} notes" if groups["notes"] else "",
    ]
    return ", ".join(p for p in parts if p) or "no problems"
