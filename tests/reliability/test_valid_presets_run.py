"""A preset that validates must run: any TOML value for a field either is refused naming the field (exit 2), or the
stages that read that field complete on it (property-based, in process, on tiny data).

- dataset / classes / features fields: the features stage on a tiny dataset; it completes with finite features, or
  stops with a UserError naming the field or its value (e.g. a keyword the dataset lacks).
- train / evaluate / convert fields: train (one epoch), evaluate and convert on a synthetic feature store; they
  complete and model.h holds C integers. The counts that only set how long training takes (epochs, early_stopping,
  final_fit_all) are left out of the run: their domain is checked in tests/data/test_preset_domains.py.
"""

from __future__ import annotations

import dataclasses
import re
import tempfile
import typing
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from kwtui.core.errors import UserError
from kwtui.core.events import CancelToken, ignore
from kwtui.core.preset import Preset, PresetError, from_dict
from tests.data.test_preset_domains import toml_values

LONG_ONLY = {("train", "epochs"), ("train", "early_stopping"), ("train", "final_fit_all")}


def _fields(*sections: str) -> list[tuple[str, str]]:
    found = []
    for section in dataclasses.fields(Preset):
        value = getattr(Preset(), section.name)
        if section.name in sections and dataclasses.is_dataclass(value):
            hints = typing.get_type_hints(type(value))
            found += [(section.name, f.name) for f in dataclasses.fields(value) if f.name in hints]
    return [f for f in found if f not in LONG_ONLY]


FEATURE_FIELDS = _fields("dataset", "classes", "features")
MODEL_FIELDS = _fields("train", "evaluate", "convert")


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory) -> Path:
    from tests.tui.scripted import write_tiny_dataset

    return write_tiny_dataset(tmp_path_factory.mktemp("tiny") / "data")


def _field_values(section: str, key: str) -> st.SearchStrategy:
    """Any TOML value, and (four times in five) one of the field's own type inside its declared range, edges included:
    those must run."""
    owner = getattr(Preset(), section)
    spec = next(f for f in dataclasses.fields(owner) if f.name == key)
    kind = typing.get_type_hints(type(owner))[key]
    bounds = spec.metadata.get("range")
    if kind is bool:
        own = st.booleans()
    elif kind is int and bounds:
        own = st.one_of(
            st.sampled_from([int(bounds[0]), int(min(bounds[1], bounds[0] + 3))]),
            st.integers(int(bounds[0]), int(min(bounds[1], bounds[0] + 50))),
        )
    elif kind is float and bounds:
        own = st.one_of(
            st.sampled_from([float(bounds[0]), float(bounds[1])]),
            st.floats(float(bounds[0]), float(bounds[1]), allow_nan=False),
        )
    else:
        own = st.just(getattr(owner, key))
    return st.sampled_from([True, True, True, True, False]).flatmap(lambda mine: own if mine else toml_values)


def _names_it(message: str, section: str, key: str, value) -> bool:
    return f"{section}.{key}" in message or (isinstance(value, str) and value and value in message)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_a_features_field_that_validates_runs(tiny_dataset, data):
    from kwtui.core.stages.pipeline import run_stage

    section, key = data.draw(st.sampled_from(FEATURE_FIELDS))
    value = data.draw(_field_values(section, key))
    with tempfile.TemporaryDirectory() as folder:
        raw = {
            "name": "prop",
            "run_dir": str(Path(folder) / "run"),
            "dataset": {"path": str(tiny_dataset)},
            "classes": {"keywords": ["yes", "no"]},
            "features": {"workers": 1, "variants": 0},
        }
        raw.setdefault(section, {})[key] = value
        try:
            preset = from_dict(raw)
        except PresetError as exc:
            assert f"{section}.{key}" in str(exc), str(exc)  # first, or beside the field it conflicts with
            return
        preset = dataclasses.replace(
            preset, features=dataclasses.replace(preset.features, workers=1, variants=min(preset.features.variants, 2))
        )  # time, not behaviour
        try:
            summary = run_stage("features", preset, ignore, CancelToken())
        except UserError as exc:
            assert _names_it(str(exc), section, key, value), (section, key, value, str(exc))
            return
        event("validated, features ran")
        assert summary["files_written"] + summary.get("files_existing", 0) > 0
        for path in (Path(folder) / "run" / "features").rglob("*.npy"):
            assert np.isfinite(np.load(path)).all(), path


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_train_evaluate_or_convert_field_that_validates_runs(data):
    from kwtui.core.stages.convert import run_convert
    from kwtui.core.stages.evaluate import run_evaluate
    from kwtui.core.stages.train import run_train
    from tests.helpers.model import make_tone_store

    section, key = data.draw(st.sampled_from(MODEL_FIELDS))
    value = data.draw(_field_values(section, key))
    settings_for = {section: {key: value}}
    if section == "train":
        settings_for["train"]["epochs"] = 1
    with tempfile.TemporaryDirectory() as folder:
        try:
            preset = make_tone_store(Path(folder) / "run", per_class=(16, 6, 8), **settings_for)
        except PresetError as exc:
            assert f"{section}.{key}" in str(exc), str(exc)  # first, or beside the field it conflicts with
            return
        if section != "train":
            preset = dataclasses.replace(preset, train=dataclasses.replace(preset.train, epochs=1))
        for runner in (run_train, run_evaluate, run_convert):
            runner(preset, ignore, CancelToken())
        event("validated, train/evaluate/convert ran")
        header = (Path(folder) / "run" / "model.h").read_text()
        for number in re.findall(r"constexpr\s+(?:int|int32_t|uint32_t)\s+\w+\s*=\s*(-?\d+)", header):
            assert -(2**31) <= int(number) < 2**31, header
        assert int(re.search(r"kHopMs = (\d+)", header).group(1)) >= 10
