"""The wizard app. `create_app()` is the one factory used by the CLI, the tests, the snapshots and the bench.

Heavy work runs in thread workers (`start_task`): the core stage gets an EventPump as its Reporter, which posts
throttled `StageEvents` batches to the step that started it, then a `StageDone`. Each task has a CancelToken;
Cancel buttons and quitting set it, and quitting waits for the workers to end so no thread outlives the app.
"""

from __future__ import annotations

import asyncio
import os
import sys
import traceback
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterator

from rich.text import Text
from textual import events
from textual._dispatch_key import dispatch_key  # what App._on_key runs when no binding takes the key
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.widgets import Button, ContentSwitcher, Footer, Static
from textual.worker import Worker

from kwtui.core.errors import Cancelled, KwtuiError
from kwtui.core.events import CancelToken, Event, Reporter, Started
from kwtui.core.io.layout import RunLayout
from kwtui.core.preset import Preset, PresetError, anchored, from_dict, headless_command, save_preset
from kwtui.core.registry import STEP_RECORDS
from kwtui.tui.form import FormState
from kwtui.tui.hints import in_wizard
from kwtui.tui.messages import StageDone, StageEvents
from kwtui.tui.pump import EventPump
from kwtui.tui.screens.dialogs import Confirm, HelpScreen, LogScreen, NamePrompt, PresetPicker
from kwtui.tui.steps.base import Step
from kwtui.tui.steps.classes import ClassesStep
from kwtui.tui.steps.dataset import DatasetStep
from kwtui.tui.steps.evaluate import EvaluateStep
from kwtui.tui.steps.features import FeaturesStep
from kwtui.tui.steps.flash import FlashStep
from kwtui.tui.steps.training import TrainingStep
from kwtui.tui.widgets.stepbar import StepBar
from kwtui.tui.widgets.textinput import Input

StageRunner = Callable[..., dict[str, Any]]
DEFAULT_BASE_PRESET = "marvin"  # what a fresh wizard's headless command starts from (shipped)
STEP_CLASSES: list[type[Step]] = [DatasetStep, ClassesStep, FeaturesStep, TrainingStep, EvaluateStep, FlashStep]


def _default_runner(
    stage: str, preset: Preset, report: Reporter, cancel: CancelToken, *, until: str | None = None, **options: Any
) -> dict:
    """A step's button: what `kwtui <stage>` runs (the orchestrator's run_command)."""
    from kwtui.core.stages.pipeline import run_command

    return run_command(stage, preset, report, cancel, until=until, holder="wizard", **options)


def start_multiprocessing_helpers() -> None:
    """Start multiprocessing's resource tracker with a real stderr.

    Textual replaces sys.stderr with a capture object whose fileno() is -1; the tracker passes that fd to its
    child and the features stage's process pool then fails with "bad value(s) in fds_to_keep". Started once
    here (stderr pointed at /dev/null so nothing can scribble over the screen), every later pool reuses it.
    """
    from multiprocessing import resource_tracker

    saved = sys.stderr
    try:
        with open(os.devnull, "w") as devnull:
            sys.stderr = devnull
            resource_tracker.ensure_running()
    finally:
        sys.stderr = saved


class WizardApp(App[None]):
    CSS_PATH = Path(__file__).with_name("kwtui.tcss")
    TITLE = "kwtui"
    BINDINGS = [
        Binding("ctrl+n", "next_step", "Next", priority=True),
        Binding("ctrl+b", "prev_step", "Back", priority=True),
        Binding("ctrl+r", "run_step", "Run", priority=True),
        Binding("ctrl+x", "cancel_step", "Cancel", priority=True),  # in the footer while the step's work runs
        # with nothing to cancel the key stops here: a text field's own Ctrl+X (cut) would empty the clipboard
        Binding("ctrl+x", "nothing_to_cancel", show=False, priority=True),
        # Ctrl+C as in the CLI: it stops the step's running work cleanly (a text field's copy of selected text
        # still works); with nothing running it says which keys quit and cancel instead of doing nothing
        Binding("ctrl+c", "interrupt", show=False, priority=True),
        Binding("ctrl+s", "save_preset", "Save preset", priority=True),
        Binding("ctrl+o", "load_preset", "Load", priority=True),
        Binding("f1", "help", "Help", priority=True),
        Binding("ctrl+q", "quit", "Quit", priority=True),
        Binding("escape", "clear_notifications", "Dismiss messages", show=False),
        Binding("ctrl+l", "show_log", "Log", show=False),
        Binding("f2", "copy_command", "Copy cmd", priority=True),
        # the focus moves as the App reads Tab, before it routes the keys typed behind it (as a screen binding it
        # moved only once the Tab had bubbled up, and those keys went to the widget it left)
        Binding("tab", "focus_next", show=False, priority=True),
        Binding("shift+tab", "focus_previous", show=False, priority=True),
    ]

    def __init__(
        self,
        preset: Preset | None = None,
        *,
        preset_path: Path | None = None,
        stage_runner: StageRunner | None = None,
        presets_dir: Path | None = None,
        pump_interval: float = 0.2,
        port_lister: Callable[[], list[tuple[str, str]]] | None = None,
    ) -> None:
        super().__init__()
        self.form = FormState(preset)  # the choices on screen (unvalidated); steps write their widgets into it
        self.preset_path = preset_path
        self.stage_runner = stage_runner or _default_runner
        self._presets_dir = presets_dir
        self.pump_interval = pump_interval
        self.port_lister = port_lister  # (label, device) pairs; None = the real serial ports
        self.tokens: dict[str, CancelToken] = {}
        # tasks whose work has not ended; a worker is still `is_running` while its StageDone is handled, so a step
        # starting the next task from that handler (a scan queued by Enter) would find its own task still running
        self.unfinished: set[str] = set()
        self._quit_question: Confirm | None = None  # the open "Quit kwtui?" while work runs
        self._command_base: tuple[Path, Preset] | None = None
        self._marks_timer: Any = None
        self.log_path: Path | None = None  # set by run_wizard; default: the user log folder
        self._typed_ahead: list[events.Key] | None = []  # keys typed before the first field had the focus
        self.point_to_earlier_runs = False  # set by run_wizard when started without a preset
        self.steps = [cls() for cls in STEP_CLASSES]

    # --- layout -------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield StepBar([s.short_title for s in self.steps], id="stepbar")
        with ContentSwitcher(initial=self.steps[0].id, id="steps"):
            yield from self.steps
        yield Static("", id="command")
        yield Footer()

    def on_mount(self) -> None:
        for step in self.steps:
            step.load_from(self.form.loaded)
        self.update_command()
        self.refresh_stage_marks()
        self.call_after_refresh(self._focus_then_replay_typed_ahead)
        earlier = run_presets(Path("runs")) if self.point_to_earlier_runs else []
        if earlier:  # `kwtui` with no preset beside earlier sessions' runs: say how to go on with one
            self.notify(
                f"{earlier[0].parent} holds your last run: Ctrl+O loads its choices", title="Earlier runs", timeout=8
            )

    async def on_event(self, event: events.Event) -> None:
        """Keys typed while the wizard starts (the terminal holds them until Textual reads it) arrive before any
        field has the focus, and Textual drops them: they are held and replayed into the first field instead."""
        if self._typed_ahead is not None and isinstance(event, events.Key) and not event.is_forwarded:
            self._typed_ahead.append(event)
            return
        if isinstance(event, events.Key) and not event.is_forwarded:
            # the bindings of the widget focused as the key is read: the key reaches the App's binding lookup
            # only after bubbling up from that widget, and a Tab read meanwhile (a burst) has moved the focus on
            event.kwtui_binding_chain = (self.screen, self.screen._modal_binding_chain)  # type: ignore[attr-defined]
        await super().on_event(event)

    async def _on_key(self, event: events.Key) -> None:
        """Textual's non-priority binding lookup, over the widgets focused when the key was read ("Space Tab"
        toggled the checkbox the Tab moved to, not the word the Space was typed on)."""
        recorded = getattr(event, "kwtui_binding_chain", None)
        if recorded is None or recorded[0] is not self.screen:
            return  # App's own handler runs next (a screen pushed or closed since: its lookup, as Textual's)
        event.prevent_default()  # Textual calls each class's handler in turn: App's would look the key up again
        for namespace, bindings in recorded[1]:
            for binding in bindings.key_to_bindings.get(event.key, ()):
                if not binding.priority and await self.run_action(binding.action, namespace):
                    return
        await dispatch_key(self, event)

    def _focus_then_replay_typed_ahead(self) -> None:
        self.steps[0].focus_first()  # the focus moves on the next turn of the message loop: replay after it
        self.call_later(self._replay_typed_ahead)

    async def _replay_typed_ahead(self) -> None:
        held, self._typed_ahead = self._typed_ahead or [], None
        for key in held:
            await super().on_event(events.Key(key.key, key.character))

    @property
    def presets_dir(self) -> Path:
        if self._presets_dir is None:
            from kwtui.core.preset import user_presets_dir

            self._presets_dir = user_presets_dir()
        return self._presets_dir

    # --- steps ----------------------------------------------------------------
    @property
    def step_index(self) -> int:
        current = self.query_one("#steps", ContentSwitcher).current
        return next(i for i, s in enumerate(self.steps) if s.id == current)

    def refresh_stage_marks(self) -> None:
        """Steps backed by a stage record show done / out of date / not run for the settings on screen."""
        bar = self.query_one(StepBar)
        try:
            preset = self.form.to_preset()
        except PresetError as exc:  # an invalid setting on screen: its step is marked, no record is judged
            invalid = self._step_showing(exc.field)
            # a step ahead of the user is not yet filled in (a fresh wizard has no keywords before Classes)
            bar.set_invalid(invalid if invalid is not None and invalid <= self.step_index else None)
            self._withdraw_record_marks(bar)
            return
        bar.set_invalid(None)
        status = self._statuses_of(preset)
        if status is None:  # the records cannot be judged either
            self._withdraw_record_marks(bar)
            return
        before_records = True
        for i, step in enumerate(self.steps):
            stage = STEP_RECORDS.get(step.step_id)
            if stage is not None:
                state = status[stage].state
                if stage == "evaluate" and state == "done":
                    # "Evaluate + convert": done while Flash can use the converted model too (✓ showed through a
                    # conversion, and for good after one was cancelled)
                    state = self._deployable_state(preset)
                if before_records and state == "done":
                    # features made for these very settings: the dataset and classes chosen before them are done
                    # too (a reopened wizard showed later steps checked and not the first two)
                    for earlier in range(i):
                        bar.mark_done(earlier)
                before_records = False
                bar.set_state(i, state)

    def _withdraw_record_marks(self, bar: StepBar) -> None:
        """Marks that claimed a record's results become `?` until the settings can be judged again."""
        for i, step in enumerate(self.steps):
            claimed = i in bar.done or i in bar.stale or i in bar.unknown
            if STEP_RECORDS.get(step.step_id) is not None and claimed:
                bar.set_state(i, "unknown")

    def _step_showing(self, key: str | None) -> int | None:
        """The index of the step whose widgets hold preset field `key` (None when no step shows it)."""
        step_id = self.form.step_of(key)
        return next((i for i, s in enumerate(self.steps) if s.step_id == step_id), None)

    def mark_step_done(self, index: int) -> None:
        self.query_one(StepBar).mark_done(index)

    def mark_step_undone(self, index: int) -> None:
        """`index` is not done, nor are the later steps without a record (their marks were choices made on it: the
        classes picked from another dataset); steps with a record follow their records."""
        bar = self.query_one(StepBar)
        bar.set_state(index, "missing")
        for later in range(index + 1, len(self.steps)):
            if STEP_RECORDS.get(self.steps[later].step_id) is None:
                bar.set_state(later, "missing")

    def stage_statuses(self) -> dict[str, Any] | None:
        """Every stage record's status for the settings on screen (None when a setting is invalid)."""
        try:
            return self._statuses_of(self.form.to_preset())
        except KwtuiError:
            return None

    @staticmethod
    def _statuses_of(preset: Preset) -> dict[str, Any] | None:
        from kwtui.core.io import records

        try:
            return records.status(RunLayout(preset))
        except KwtuiError:
            return None

    @staticmethod
    def _deployable_state(preset: Preset) -> str:
        from kwtui.core.io import records

        try:
            return records.deployable_status(RunLayout(preset)).state
        except KwtuiError:
            return "missing"

    def stage_status(self, stage: str) -> Any:
        """The record status of `stage` for the settings on screen (None when a setting is invalid)."""
        statuses = self.stage_statuses()
        return None if statuses is None else statuses[stage]

    def go_to(self, index: int) -> None:
        index = max(0, min(index, len(self.steps) - 1))
        self.collect_into_form()
        self.query_one("#steps", ContentSwitcher).current = self.steps[index].id
        self.query_one(StepBar).current = index
        self.refresh_stage_marks()  # for the step now shown: an invalid field is marked once the user reaches it
        self.steps[index].on_enter()
        self.refresh_bindings()
        self.call_after_refresh(self.steps[index].focus_first)

    def action_next_step(self) -> None:
        step = self.steps[self.step_index]
        try:
            self.current_preset()
            problem = step.ready_for_next()
        except PresetError as exc:  # a field of this step holds what no preset allows: say so here, not later
            problem = str(exc) if self._step_showing(exc.field) == self.step_index else step.ready_for_next()
        if problem:
            self.notify(problem, severity="warning")
            return
        self.query_one(StepBar).mark_done(self.step_index)
        self.go_to(self.step_index + 1)

    def action_prev_step(self) -> None:
        self.go_to(self.step_index - 1)

    # --- preset ---------------------------------------------------------------
    def collect_into_form(self) -> None:
        """Copy every step's widget values into self.form (unvalidated)."""
        for step in self.steps:
            with self.form.written_by(step.step_id):
                step.apply_to(self.form)
        self.update_command()

    def current_preset(self) -> Preset:
        """The current choices as a validated preset; raises PresetError naming the field."""
        self.collect_into_form()
        return self.form.to_preset()

    def run_layout(self) -> RunLayout:
        """The run folder of the settings on screen; while a field holds a value the preset refuses, the one of the
        preset the form was filled from (the wizard has no field for name, run_dir, features.output)."""
        try:
            return RunLayout(self.form.to_preset())
        except PresetError:
            return RunLayout(self.form.loaded)

    def command_base(self) -> tuple[Path, Preset]:
        """The preset file the headless command starts from (the loaded/saved one, else the shipped default) and
        its content; the command adds a --set for every field the screen changed."""
        from kwtui.core.preset import find_preset, load_preset

        path = self.preset_path or find_preset(DEFAULT_BASE_PRESET)
        if self._command_base is None or self._command_base[0] != path:
            try:
                self._command_base = (path, load_preset(path))
            except KwtuiError:
                self._command_base = (path, Preset())
        return self._command_base

    def headless_command(self) -> str:
        """What the bottom line shows: pasted into a shell, it replays exactly the settings on screen."""
        path, base = self.command_base()
        return headless_command(path, self.form.to_dict(), base)

    def update_command(self) -> None:
        # one row, cut with an ellipsis where it does not fit: a copy of the screen never holds a shorter command
        # that would run with part of the settings; F2 copies it whole
        problem = self.invalid_setting()
        if problem:  # a command that `kwtui run` would refuse is no command to copy
            command = Text(f"headless: fix {problem}", style="red", no_wrap=True, overflow="ellipsis")
        else:
            command = Text(f"headless (F2 copies): {self.headless_command()}", no_wrap=True, overflow="ellipsis")
        self.query_one("#command", Static).update(command)

    def invalid_setting(self) -> str | None:
        """Why the choices on screen are no valid preset (the field and what it needs), or None."""
        try:
            self.form.to_preset()
        except PresetError as exc:
            return str(exc)
        return None

    def action_copy_command(self) -> None:
        """The whole headless command to the clipboard (OSC 52: the terminal's, over SSH too) and on screen."""
        problem = self.invalid_setting()
        if problem:
            self.notify(f"nothing copied: fix {problem}", severity="warning")
            return
        command = self.headless_command()
        self.copy_to_clipboard(command)
        # the copy is an OSC 52 request; tmux passes it on only with `set -g set-clipboard on`
        hint = "\n(in tmux: `set -g set-clipboard on` lets the copy through)" if os.environ.get("TMUX") else ""
        self.notify(command + hint, title="Copied the headless command (F2)", timeout=8)

    # every change on screen shows in the headless command at once; the step bar's marks (which read the run
    # folder's records) follow a moment after the typing stops
    def _settings_changed(self) -> None:
        if not self.is_running or not self.query("#command"):
            return
        self.collect_into_form()
        if self._marks_timer is not None:
            self._marks_timer.stop()
        self._marks_timer = self.set_timer(0.4, self._refresh_marks_if_shown)

    def _refresh_marks_if_shown(self) -> None:
        if self.query(StepBar):  # not while a dialog or the shutdown replaces the screen
            self.refresh_stage_marks()

    def on_input_changed(self, _: Any) -> None:
        self._settings_changed()

    def on_checkbox_changed(self, _: Any) -> None:
        self._settings_changed()

    def on_select_changed(self, _: Any) -> None:
        self._settings_changed()

    def on_selection_list_selected_changed(self, _: Any) -> None:
        self._settings_changed()

    def on_data_table_row_highlighted(self, _: Any) -> None:  # a threshold picked by hand
        self._settings_changed()

    def apply_preset(self, preset: Preset, path: Path | None = None, same_choices: bool = False) -> None:
        """Fill every step from `preset`; steps forget results of the previous choices (the step bar's marks
        come back from the stage records of the new ones). `same_choices` (a save under a name): the steps
        without a record (Dataset, Classes) keep their checkmarks."""
        self.form = FormState(preset)
        self.preset_path = path
        bar = self.query_one(StepBar)
        kept = {i for i in bar.done if STEP_RECORDS.get(self.steps[i].step_id) is None} if same_choices else set()
        bar.reset()
        for step in self.steps:
            step.load_from(self.form.loaded)
        self.update_command()
        self.refresh_stage_marks()
        for index in kept:
            bar.mark_done(index)

    def on_dataset_scanned(self, scan: Any) -> None:
        self.query_one(ClassesStep).set_scan(scan)

    def write_run_preset(self, preset: Preset) -> None:
        """The preset as run, in the run folder: what the headless command replays."""
        from kwtui.core.stages.pipeline import save_run_preset

        save_run_preset(preset)

    def action_save_preset(self) -> None:
        self.collect_into_form()

        def save(name: str | None) -> None:
            if not name:
                return
            try:
                preset = self.form.to_preset()
                old_run = preset.run_path
                preset.name = name
                if not preset.run_dir and old_run.exists() and old_run != preset.run_path:
                    preset.run_dir = str(old_run)  # keep pointing at the work already done
                # paths as the wizard's folder sees them, made absolute: the preset replays from any folder
                preset = from_dict(anchored(preset, Path.cwd()).to_dict())
            except PresetError as exc:
                self.notify(str(exc), severity="error", timeout=8)
                return
            path = save_preset(preset, self.presets_dir / f"{name}.toml")
            self.apply_preset(preset, path, same_choices=True)
            self.notify(f"saved {path}\nreplay: {headless_command(path)}", title="Preset saved", timeout=6)

        def check(name: str) -> str | None:
            try:
                from_dict({**self.form.to_dict(), "name": name})
            except PresetError as exc:
                return str(exc)
            return None

        self.push_screen(
            NamePrompt(
                "Save preset as",
                self.form.text("name"),
                check=check,
                exists=self.save_would_replace,
            ),
            save,
        )

    def save_would_replace(self, name: str) -> str | None:
        """What saving a preset as `name` would overwrite, or hide: a saved preset of that name wins over the
        shipped one everywhere (`kwtui run NAME`, the wizard's Load)."""
        from kwtui.core.preset import shipped_presets_dir

        if (self.presets_dir / f"{name}.toml").exists():
            return f"your preset {name} exists: saving overwrites it"
        if (shipped_presets_dir() / f"{name}.toml").exists():
            return f"{name} is a shipped preset: yours would replace it for `kwtui run {name}`"
        return None

    def action_load_preset(self) -> None:
        from kwtui.core.preset import find_preset, list_presets, load_preset

        choices = {p.stem: p for p in list_presets()}
        if self.presets_dir.is_dir():
            choices.update({p.stem: p for p in sorted(self.presets_dir.glob("*.toml"))})
        # the choices each run folder here was last run with: a quit wizard's work, newest first
        choices.update({str(p.parent): p for p in run_presets(Path("runs"))})

        def load(choice: str | None) -> None:
            if not choice:
                return
            path = choices.get(choice) or find_preset(choice)
            try:
                preset = load_preset(path)
            except KwtuiError as exc:
                self.notify(str(exc), severity="error", timeout=8)
                return
            self.apply_preset(preset, Path(path))
            self.notify(f"loaded {path}", title="Preset loaded")

        self.push_screen(PresetPicker(choices), load)

    def _step_button(self, wanted: Callable[[Button], bool]) -> Button | None:
        step = self.steps[self.step_index]
        return next((b for b in step.query(Button) if wanted(b) and not b.disabled and b.display), None)

    def action_run_step(self) -> None:
        """Press the current step's main (primary) button, wherever the focus is."""
        button = self._step_button(lambda b: b.variant == "primary")
        if button is None:
            self.notify("nothing to run on this step right now", severity="warning")
        else:
            button.press()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Cancel is offered (footer, key) only while the step on screen has work to cancel."""
        if action == "cancel_step":
            return self._cancel_button() is not None
        return True

    def _cancel_button(self) -> Button | None:
        """The step on screen's Cancel, while it can be pressed."""
        return self._step_button(lambda b: (b.id or "").endswith("-cancel"))

    def action_nothing_to_cancel(self) -> None:
        """Ctrl+X while no work runs: nothing happens."""

    def action_interrupt(self) -> None:
        button = self._cancel_button()
        if button is None:  # Textual's own Ctrl+C: copy the selected text (a field's, or the screen's)
            focused = self.focused
            selected = focused.selected_text if isinstance(focused, Input) else self.screen.get_selected_text()
            if selected:
                self.copy_to_clipboard(selected)
            else:
                self.notify("nothing running here to cancel: Ctrl+Q quits, Ctrl+X or Ctrl+C cancels a step's work")
            return
        button.press()
        self.notify("cancelling cleanly: finished work is kept", title="Ctrl+C", timeout=4)

    def action_cancel_step(self) -> None:
        button = self._cancel_button()
        if button is not None:
            button.press()

    def get_system_commands(self, screen: Any) -> Iterator[SystemCommand]:
        """The wizard's main actions in the command palette (Ctrl+P), beside Textual's own."""
        for command in super().get_system_commands(screen):
            if command.title != "Quit":  # Textual's says "as soon as possible"; the wizard's cancels work cleanly
                yield command
        yield SystemCommand("Quit", "Quit kwtui; running work is cancelled cleanly (Ctrl+Q)", self.action_quit)
        yield SystemCommand("Help", "The wizard's keys and what each step does (F1)", self.action_help)
        yield SystemCommand("Copy command", "Copy the headless command of these choices (F2)", self.action_copy_command)
        yield SystemCommand("Save preset", "Save the choices as a preset (Ctrl+S)", self.action_save_preset)
        yield SystemCommand("Load preset", "Fill every step from a preset (Ctrl+O)", self.action_load_preset)
        yield SystemCommand("Run step", "Run this step's main action (Ctrl+R)", self.action_run_step)
        yield SystemCommand("Cancel step", "Cancel this step's running work (Ctrl+X)", self.action_cancel_step)
        yield SystemCommand(
            "Show wizard log", "The wizard log: native library output, errors (Ctrl+L)", self.action_show_log
        )
        yield SystemCommand("Next step", "Go to the next step (Ctrl+N)", self.action_next_step)
        yield SystemCommand("Previous step", "Go back one step (Ctrl+B)", self.action_prev_step)
        for index, step in enumerate(self.steps):  # "flash", "evaluate" find their step
            yield SystemCommand(f"Go to {step.short_title}", f"Step {index + 1}", partial(self.go_to, index))

    def action_show_log(self) -> None:
        if not isinstance(self.screen, LogScreen):
            self.push_screen(LogScreen(self.log_path or wizard_log_path()))

    def action_clear_notifications(self) -> None:
        self.clear_notifications()

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    # --- background work ------------------------------------------------------
    def task_running(self, name: str) -> bool:
        return name in self.unfinished

    def _task_ended(self, name: str) -> None:
        self.unfinished.discard(name)

    def start_task(self, name: str, target: Step, work: Callable[[Reporter, CancelToken], Any]) -> bool:
        """Run `work(report, cancel)` in a thread worker; events and the result are posted to `target`."""
        if self.task_running(name):
            self.notify(f"{name} is already running", severity="warning")
            return False
        cancel = CancelToken()
        self.tokens[name] = cancel
        self.unfinished.add(name)

        def thread_main() -> None:
            def post(batch: list[Event]) -> None:
                target.post_message(StageEvents(name, batch))
                if any(isinstance(event, Started) for event in batch):
                    # a stage removes its record as it starts (training from scratch: train.json and every
                    # later step's checkmark stop being true)
                    self.call_from_thread(self._refresh_marks_if_shown)

            pump = EventPump(post, self.pump_interval)
            status, result, message = "ok", None, ""
            try:
                result = work(pump, cancel)
            except Cancelled as exc:
                status, message = "cancelled", str(exc)
            except KwtuiError as exc:
                status, message = "failed", str(exc)
            except Exception as exc:  # a bug: keep the app alive, show it, log the traceback
                status, message = "failed", f"{type(exc).__name__}: {exc}"
                self.log.error(traceback.format_exc())
            pump.flush()
            self.call_from_thread(self._task_ended, name)  # on the app's loop, before StageDone is handled
            target.post_message(StageDone(name, status, result, in_wizard(message)))
            self.call_from_thread(self._refresh_marks_if_shown)

        self.run_worker(thread_main, name=name, group=name, thread=True, exclusive=True, exit_on_error=False)
        return True

    def start_stage(self, stage: str, target: Step, preset: Preset, **options: Any) -> bool:
        try:
            self.write_run_preset(preset)
        except KwtuiError as exc:
            self.notify(str(exc), severity="error", timeout=10)
            return False
        start_multiprocessing_helpers()
        return self.start_task(
            stage, target, lambda report, cancel: self.stage_runner(stage, preset, report, cancel, **options)
        )

    def cancel_task(self, name: str) -> None:
        token = self.tokens.get(name)
        if token:
            token.cancel()

    def running_workers(self) -> list[Worker]:
        return [w for w in self.workers if w.is_running]

    async def stop_all_work(self, timeout: float = 30.0) -> None:
        for token in self.tokens.values():
            token.cancel()
        running = self.running_workers()
        if running:
            self.notify("stopping running work...", timeout=timeout)
            try:
                await asyncio.wait_for(self.workers.wait_for_complete(running), timeout)
            except asyncio.TimeoutError:
                pass

    async def action_quit(self) -> None:
        """Quit; while a step's work runs, ask first (Ctrl+Q again, or the Quit button, quits)."""
        asking = self._quit_question
        if self.unfinished and (asking is None or asking not in self.screen_stack):
            names = [WORK_NAMES.get(name, name) for name in sorted(self.unfinished)]
            running = " and ".join(names)
            verb = "are" if len(names) > 1 else "is"
            again = (
                "running the step again goes on from there"
                if self.unfinished <= RESUMED
                else "what was not finished starts over when run again"
            )
            question = (
                f"{running[0].upper()}{running[1:]} {verb} still running. Quitting cancels it cleanly: finished work "
                f"is kept, and {again}.\nCtrl+Q again quits."
            )

            async def answered(choice: str | None) -> None:
                self._quit_question = None
                if choice == "go":
                    await self.quit_now()

            self._quit_question = Confirm("Quit kwtui?", question, "Quit", keep="Keep working")
            self.push_screen(self._quit_question, answered)
            return
        await self.quit_now()

    async def quit_now(self) -> None:
        """Cancel every step's work, wait for it to end cleanly, and exit."""
        asking, self._quit_question = self._quit_question, None
        if asking is not None and asking in self.screen_stack:  # Ctrl+Q again: no question left up while work stops
            asking.dismiss(None)
        await self.stop_all_work()
        self.exit()


WORK_NAMES = {  # the wizard's tasks as a sentence names them
    "demo": "the demo dataset",
    "scan": "the dataset scan",
    "plan": "the class plan",
    "features": "feature generation",
    "train": "training",
    "evaluate": "the evaluation",
    "convert": "the conversion",
    "flash": "flashing",
    "monitor": "the serial monitor",
    "esphome": "the ESPHome export",
}
RESUMED = {"features", "train"}  # work that a re-run takes up where it stopped


def run_presets(runs: Path) -> list[Path]:
    """The preset copies of kwtui's run folders under `runs` (the default run folders' parent), newest first."""
    from kwtui.core.io import ownership

    try:
        folders = list(runs.iterdir())
    except OSError:
        return []
    found: list[tuple[float, Path]] = []
    for folder in folders:
        try:  # one unreadable or vanishing folder hides no other
            if ownership.owns(folder):
                found.append(((folder / "preset.toml").stat().st_mtime, folder / "preset.toml"))
        except OSError:
            continue
    return [path for _, path in sorted(found, reverse=True)]


def create_app(preset: Preset | None = None, **kwargs: Any) -> WizardApp:
    return WizardApp(preset, **kwargs)


@contextmanager
def native_output_to_log(log_path: Path) -> Iterator[None]:
    """TensorFlow, the TFLite converter and TFLite Micro log from C++ straight to fd 2, which would scribble over
    the screen: fd 2 points at a log file while the wizard runs, and Textual draws on a duplicate of the terminal
    (its driver writes to sys.__stderr__). fd 1 stays the terminal: Textual reads the terminal's size (and
    every resize) from it, so the wizard always fills the real window. Child processes inherit the log."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    saved_err = os.dup(2)
    terminal = os.fdopen(os.dup(2), "w", buffering=1, encoding="utf-8", errors="backslashreplace")
    original = sys.__stderr__
    with open(log_path, "ab") as log:
        os.dup2(log.fileno(), 2)
    sys.__stderr__ = terminal  # type: ignore[misc]  # Textual's driver writes to it
    try:
        yield
    finally:
        sys.__stderr__ = original  # type: ignore[misc]
        os.dup2(saved_err, 2)
        os.close(saved_err)
        terminal.close()


def wizard_log_path() -> Path:
    import platformdirs

    return Path(platformdirs.user_log_dir("kwtui")) / "wizard.log"


def run_wizard(preset: Preset | None, preset_path: Path | None = None) -> None:
    """Open the wizard in this terminal (the CLI's `kwtui` and `kwtui wizard PRESET`)."""
    if not sys.stdin.isatty() or sys.__stderr__ is None or not sys.__stderr__.isatty():
        create_app(preset, preset_path=preset_path).run()
        return
    from kwtui.tui.terminal_input import use_wizard_key_parser

    use_wizard_key_parser()
    log_path = wizard_log_path()
    app = create_app(preset, preset_path=preset_path)
    app.log_path = log_path
    app.point_to_earlier_runs = preset is None
    with native_output_to_log(log_path):
        app.run()
    if app.return_code:
        print(f"kwtui: the wizard stopped with an error; details in {log_path}", file=sys.stderr)
        raise SystemExit(app.return_code)
