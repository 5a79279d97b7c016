"""Step: one page of the wizard. It fills its widgets from a preset and writes them into the wizard's form."""

from __future__ import annotations

from typing import ClassVar, cast

from textual.containers import VerticalScroll

from kwtui.core.preset import Preset
from kwtui.tui.form import FormState
from kwtui.tui.services import WizardServices
from kwtui.tui.widgets.textinput import Input


class Step(VerticalScroll):
    step_id: ClassVar[str] = ""
    short_title: ClassVar[str] = ""

    def __init__(self) -> None:
        super().__init__(id=f"step-{self.step_id}", classes="step")

    @property
    def wizard(self) -> WizardServices:
        return cast(WizardServices, self.app)

    def load_from(self, preset: Preset) -> None:
        """Fill the widgets from a preset."""

    def apply_to(self, form: FormState) -> None:
        """Write the widget values into the form (validation happens later, in one place: FormState.to_preset)."""

    def on_enter(self) -> None:
        """Called when the step becomes visible."""

    def ready_for_next(self) -> str | None:
        """A message saying why we cannot go on yet, or None."""
        return None

    def focus_first(self) -> None:
        for widget in self.query("Input, Button, SelectionList, DataTable, Select, Checkbox"):
            if widget.focusable and widget.display:
                widget.focus()
                return


def int_value(field: Input) -> int | str:
    """The number typed, or the raw text so that preset validation names the field."""
    try:
        return int(field.value.strip())
    except ValueError:
        return field.value


def float_value(field: Input) -> float | str:
    try:
        return float(field.value.strip())
    except ValueError:
        return field.value
