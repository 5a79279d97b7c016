"""The wizard's form: what the screen shows, as a preset's TOML data in which a field may hold the raw text typed.

Steps write their widgets into it (`Step.apply_to`) and fill their widgets from a validated Preset
(`Step.load_from`). It becomes a Preset only through the preset loader (`to_preset`: kwtui.core.preset.from_dict),
so a value typed wrong ("2x" epochs) is reported by preset validation naming the field, as in a preset file.
"""

from __future__ import annotations

import copy
from contextlib import contextmanager
from typing import Any, Iterator, Union

from kwtui.core.preset import Preset, from_dict

FormValue = Union[str, int, float, bool, list[str], list[float]]
"""A field's value on screen: the type its preset field has, or the text typed where a number goes."""


class FormState:
    """The preset's fields as plain TOML values (nested like `Preset.to_dict()`), keyed `section.key`."""

    def __init__(self, preset: Preset | None = None) -> None:
        self.loaded = copy.deepcopy(preset) if preset is not None else Preset()
        """The validated preset the form was filled from (given to the wizard, loaded or saved)."""
        self._data: dict[str, Any] = self.loaded.to_dict()
        self._writer: str | None = None
        self._written_by: dict[str, str] = {}  # key -> the step whose widgets hold it

    @contextmanager
    def written_by(self, step_id: str) -> Iterator[None]:
        """Keys set inside are the widgets of `step_id` (so that an invalid one is traced to its step)."""
        self._writer = step_id
        try:
            yield
        finally:
            self._writer = None

    def step_of(self, key: str | None) -> str | None:
        """The step whose widgets last set `key` (None: no step shows it)."""
        return self._written_by.get(key) if key else None

    def _slot(self, key: str) -> tuple[dict[str, Any], str]:
        """The section holding `key` and its name there; KeyError for a key the preset does not have."""
        *sections, name = key.split(".")
        node: Any = self._data
        for part in sections:
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict) or name not in node or isinstance(node[name], dict):
            raise KeyError(key)
        return node, name

    def get(self, key: str) -> FormValue:
        section, name = self._slot(key)
        value: FormValue = section[name]
        return value

    def set(self, key: str, value: FormValue) -> None:
        section, name = self._slot(key)
        section[name] = copy.deepcopy(value)  # a list is the form's own, not a widget's
        if self._writer is not None:
            self._written_by[key] = self._writer

    def text(self, key: str) -> str:
        """A text field (a path, a name) as text."""
        return str(self.get(key))

    def texts(self, key: str) -> list[str]:
        """A list field (folders, keywords) as text."""
        value = self.get(key)
        return [str(v) for v in value] if isinstance(value, list) else [str(value)]

    def number(self, key: str) -> float:
        """A number field the screen has no text box for (always a number); TypeError if it holds text."""
        value = self.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{key}: not a number: {value!r}")
        return float(value)

    def to_dict(self) -> dict[str, Any]:
        """The form's data, a copy: TOML-shaped, unvalidated."""
        return copy.deepcopy(self._data)

    def to_preset(self) -> Preset:
        """The validated preset on screen; raises PresetError naming the field (the preset loader's own check)."""
        return from_dict(self.to_dict())
