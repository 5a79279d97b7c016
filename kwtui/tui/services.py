"""What a wizard step may ask of the wizard: a small protocol, so steps never import the app (no cycle).

WizardApp implements it; a step reaches it as `self.wizard`.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol

from kwtui.core.events import CancelToken, Reporter
from kwtui.core.io.layout import RunLayout
from kwtui.core.preset import Preset
from kwtui.tui.form import FormState


class WizardServices(Protocol):
    form: FormState
    """The choices on screen (unvalidated); steps write their widgets into it."""
    port_lister: Callable[[], list[tuple[str, str]]] | None
    """(label, device) pairs of serial ports; None = the real ports."""

    def current_preset(self) -> Preset:
        """A validated copy of the choices on screen. Raises PresetError naming the field."""

    def collect_into_form(self) -> None:
        """Copy every step's widgets into `form`."""

    def run_layout(self) -> RunLayout:
        """The run folder of the settings on screen (of the preset last loaded while a setting is invalid)."""

    def start_stage(self, stage: str, target: Any, preset: Preset, **options: Any) -> bool:
        """Run a pipeline stage (through the core orchestrator) in a worker; events go to `target`.
        Returns False when it could not start (already running, or the run folder was refused)."""

    def start_task(self, name: str, target: Any, work: Callable[[Reporter, CancelToken], Any]) -> bool:
        """Run `work(report, cancel)` in a worker; events and the result are posted to `target`."""

    def task_running(self, name: str) -> bool:
        """Whether the worker `name` is running."""

    def cancel_task(self, name: str) -> None:
        """Ask the worker `name` to stop (it checks its cancel token)."""

    def stage_statuses(self) -> dict[str, Any] | None:
        """Every stage record's status for the settings on screen, read once (None when a setting is invalid)."""

    def stage_status(self, stage: str) -> Any:
        """The record status (kwtui.core.io.records.StageStatus) of `stage` for the settings on screen."""

    def update_command(self) -> None:
        """Redraw the headless command line from the choices on screen."""

    def mark_step_done(self, index: int) -> None:
        """Show step `index` as done in the step bar."""

    def mark_step_undone(self, index: int) -> None:
        """Take the done mark off step `index` (its choice changed and is not checked yet)."""

    def refresh_bindings(self) -> None:
        """Redraw the footer's keys (Cancel appears while the step's work runs)."""

    def on_dataset_scanned(self, scan: Any) -> None:
        """A dataset scan finished: steps that depend on it update."""
