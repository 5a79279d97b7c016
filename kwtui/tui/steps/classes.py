"""Step 2: choose and order the keywords, _unknown/_background, noise folders; show balance and disk needed."""

from __future__ import annotations

import os
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.timer import Timer
from textual.widgets import Checkbox, DataTable, Label, SelectionList
from textual.widgets.selection_list import Selection

from kwtui.core.preset import Preset
from kwtui.tui.form import FormState
from kwtui.tui.format import human_bytes
from kwtui.tui.messages import StageDone
from kwtui.tui.steps.base import Step, float_value
from kwtui.tui.steps.dataset import word_counts
from kwtui.tui.widgets.textinput import Input

NPY_BYTES = 128 + 99 * 43 * 4  # one (99, 43) float32 .npy file with its header


class KeywordList(SelectionList[str]):
    # the step's title and the help say what [ and ] do: in the footer they pushed Save preset off at 80 columns
    BINDINGS = [
        Binding("left_square_bracket,shift+up", "move(-1)", "Earlier output number", show=False),
        Binding("right_square_bracket,shift+down", "move(1)", "Later output number", show=False),
    ]

    def action_move(self, delta: int) -> None:
        self._step().move_word(delta)

    def action_select(self) -> None:
        """Space (or a click) toggles the highlighted word and reorders the list now, not through the two messages
        SelectionList posts: a key typed right behind Space (a burst, a paste over SSH) then meets the list the
        screen shows, as it does when typed slowly."""
        if self.highlighted is None:
            return
        word = self.get_option_at_index(self.highlighted).value
        self.toggle(word)
        self._step().keyword_toggled(word)

    def on_resize(self) -> None:
        """The list shrinks when the class table under it gains a row (a keyword picked at the bottom): the row just
        picked stays in view, not under the border."""
        self.call_after_refresh(self.scroll_to_highlight)

    def _step(self) -> ClassesStep:
        return next(a for a in self.ancestors if isinstance(a, ClassesStep))


class ClassesStep(Step):
    step_id = "classes"
    short_title = "Classes"

    def __init__(self) -> None:
        super().__init__()
        self.order: list[str] = []  # the list's rows: every word, in a fixed order
        self.counts: dict[str, int] = {}
        self.scan: Any = None
        self.plan: Any = None
        self._keywords: list[str] = []
        self._plan_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Label(
            "[b]2 Classes[/b]  Space picks keywords (#1, #2: output order); [ ] renumber one",
            classes="step-title",
        )
        with Horizontal(id="classes-top"):
            yield KeywordList(id="keywords")
            with Vertical(id="class-options"):
                yield Checkbox("_unknown: other words", True, id="unknown", compact=True)
                yield Checkbox("_background: noise windows", True, id="background", compact=True)
                with Horizontal(classes="field"):
                    yield Label("noise folders", classes="field-label")
                    yield Input(id="noise-folders", placeholder="_background_noise_", compact=True)
                with Horizontal(classes="field"):
                    yield Label("unknown ratio", classes="field-label")
                    yield Input(id="unknown-ratio", placeholder="1.0 (0 = all)", compact=True)
        yield Label("", id="class-order", classes="status")
        yield DataTable(id="balance", cursor_type="none", zebra_stripes=True)
        yield Label("", id="disk-estimate", classes="status")

    def on_mount(self) -> None:
        self.query_one("#balance", DataTable).add_columns("class", "train", "validation", "test", "share")

    # --- preset ---------------------------------------------------------------
    def load_from(self, preset: Preset) -> None:
        self._keywords = list(preset.classes.keywords)
        self.query_one("#unknown", Checkbox).value = preset.classes.unknown
        self.query_one("#background", Checkbox).value = preset.classes.background
        self.query_one("#noise-folders", Input).value = ", ".join(preset.classes.noise_folders)
        self.query_one("#unknown-ratio", Input).value = f"{preset.classes.unknown_ratio:g}"
        self.rebuild_list()

    def apply_to(self, form: FormState) -> None:
        if self.order:
            self._keywords = self.keywords
        form.set("classes.keywords", list(self._keywords))
        form.set("classes.unknown", bool(self.query_one("#unknown", Checkbox).value))
        form.set("classes.background", bool(self.query_one("#background", Checkbox).value))
        folders = self.query_one("#noise-folders", Input).value
        form.set("classes.noise_folders", [f.strip() for f in folders.split(",") if f.strip()])
        form.set("classes.unknown_ratio", float_value(self.query_one("#unknown-ratio", Input)))

    @property
    def keywords(self) -> list[str]:
        """The selected words in the model's output order."""
        selected = set(self.query_one("#keywords", KeywordList).selected)
        return [w for w in self._keywords if w in selected]

    def ready_for_next(self) -> str | None:
        if not self.keywords:
            return "Select at least one keyword (Space in the list)."
        return None

    def on_enter(self) -> None:
        self.schedule_plan()

    # --- the word list ----------------------------------------------------------
    def set_scan(self, scan: Any) -> None:
        self.scan = scan
        self.counts = {w: c for w, (c, _) in word_counts(scan).items()}
        if self.order:
            self._keywords = self.keywords
        self.rebuild_list()
        self.schedule_plan()

    def rebuild_list(self, highlight: str | None = None) -> None:
        """The words in a fixed order (the dataset's, alphabetical; a keyword the dataset lacks at the end), each
        keyword marked with its output number: picking or moving one never moves a row under the cursor, and the
        mark reads without colour."""
        kept = [w for w in self._keywords if w in self.counts or not self.counts]
        self._keywords = kept
        self.order = sorted(self.counts) + [w for w in kept if w not in self.counts]
        widget = self.query_one("#keywords", KeywordList)
        current = widget.highlighted
        widget.clear_options()
        widget.add_options([Selection(self._prompt(w), w, w in kept) for w in self.order])
        if highlight in self.order:
            widget.highlighted = self.order.index(highlight)
        elif current is not None and current < len(self.order):
            widget.highlighted = current
        elif self.order:
            widget.highlighted = 0
        self.show_order()

    def _prompt(self, word: str) -> str:
        count = f"({self.counts[word]})" if word in self.counts else "(missing)"
        number = f"#{self._keywords.index(word) + 1}" if word in self._keywords else ""
        return f"{number:>3} {word} {count}"

    def move_word(self, delta: int) -> None:
        """Move the highlighted keyword's number up/down among the keywords (the model's output order)."""
        widget = self.query_one("#keywords", KeywordList)
        index = widget.highlighted
        keywords = self.keywords
        if index is None or self.order[index] not in keywords:
            return
        at = keywords.index(self.order[index])
        if not 0 <= at + delta < len(keywords):
            return
        keywords[at], keywords[at + delta] = keywords[at + delta], keywords[at]
        self._keywords = keywords
        self.rebuild_list(highlight=self.order[index])
        self.schedule_plan()

    def show_order(self) -> None:
        names = self.keywords if self.order else self._keywords
        extra = [
            n
            for n, box in (("_unknown", "#unknown"), ("_background", "#background"))
            if self.query_one(box, Checkbox).value
        ]
        # which deployment these classes allow, before features and training are spent on them: ESPHome's
        # micro_wake_word loads one wake word (one sigmoid output), refused only at export otherwise
        form = self.wizard.form
        streaming = form.get("features.frontend") == "micro" and form.get("train.model") == "stream"
        target = (
            "kwtui's firmware or ESPHome"
            if len(names) == 1 and not extra and streaming
            else "kwtui's firmware; ESPHome takes one keyword, no _unknown/_background"
            + ("" if streaming else ", micro frontend + streaming model")
        )
        self.query_one("#class-order", Label).update("classes: " + ", ".join(names + extra) + f"  [dim]({target})[/]")

    def on_selection_list_selection_toggled(self, event: SelectionList.SelectionToggled) -> None:
        self.keyword_toggled(event.selection.value)  # nothing left to do when Space already did it

    def keyword_toggled(self, word: str) -> None:
        """A new keyword takes the next output number, a dropped one gives its number up; no row moves."""
        selected = set(self.query_one("#keywords", KeywordList).selected)
        kept = [w for w in self._keywords if w in selected]
        kept += [w for w in self.order if w in selected and w not in kept]
        if kept == self._keywords:
            return
        self._keywords = kept
        self.rebuild_list(highlight=word)
        self.schedule_plan()

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        self.show_order()
        self.schedule_plan()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.schedule_plan()

    # --- class plan: balance and disk estimate, computed in a worker -----------
    def schedule_plan(self) -> None:
        if self.scan is None or not self.is_mounted:
            return
        if self._plan_timer is not None:
            self._plan_timer.stop()
        self._plan_timer = self.set_timer(0.3, self.start_plan)

    def start_plan(self) -> None:
        self._plan_timer = None
        if self.wizard.task_running("plan"):  # one at a time: try again once the current one ends
            self._plan_timer = self.set_timer(0.3, self.start_plan)
            return
        try:
            preset = self.wizard.current_preset()
        except Exception as exc:
            self.query_one("#disk-estimate", Label).update(f"[red]{exc}[/]")
            return
        scan = self.scan

        def work(report, cancel):
            from kwtui.core.stages.features import preview_plan

            return preview_plan(preset, scan)

        self._plan_preset = preset
        self.wizard.start_task("plan", self, work)

    def on_stage_done(self, message: StageDone) -> None:
        message.stop()
        label = self.query_one("#disk-estimate", Label)
        if not message.ok:
            label.update(f"[red]{escape(message.message)}[/]")
            return
        self.plan = message.summary
        self.show_plan(self.plan, self._plan_preset)

    def show_plan(self, plan: Any, preset: Preset) -> None:
        counts: Counter[tuple[str, str]] = Counter()
        jobs = list(getattr(plan, "jobs", plan) or [])
        for job in jobs:
            counts[(job.label, job.split)] += 1
        table = self.query_one("#balance", DataTable)
        table.clear()
        total = max(len(jobs), 1)
        # a one-keyword binary model also trains on other words and noise: shown as its negatives
        negatives = sorted({label for label, _split in counts} - set(preset.class_names))
        for name in [*preset.class_names, *negatives]:
            row = [counts[(name, s)] for s in ("train", "validation", "test")]
            share = sum(row) / total
            title = f"{name} (negative)" if name in negatives else name
            table.add_row(title, *map(str, row), f"{'█' * round(share * 20):<20} {100 * share:4.1f}%")
        need = len(jobs) * NPY_BYTES
        target = preset.features_path
        free = free_bytes(target)
        warn = "[red]not enough space[/]" if free is not None and need > free else "ok"
        coming = "".join(f"\n[yellow]note:[/] {escape(note)}" for note in getattr(plan, "notes", []))
        self.query_one("#disk-estimate", Label).update(
            f"{len(jobs)} files planned: {human_bytes(need)} needed, {human_bytes(free)} free at {target}  {warn}"
            + coming
        )


def free_bytes(path: Path) -> int | None:
    """Free space where the features go; KWTUI_FAKE_FREE_BYTES (as in the features stage) fakes it for tests."""
    fake = os.environ.get("KWTUI_FAKE_FREE_BYTES")
    if fake:
        return int(fake)
    for candidate in [path, *path.resolve().parents]:
        if candidate.exists():
            return shutil.disk_usage(candidate).free
    return None
