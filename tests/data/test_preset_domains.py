"""Every preset field has a declared domain: any value either validates (and is then inside what the stages and
the firmware's C types can take) or is refused with exit 2 and a message naming the field. Property-based."""

from __future__ import annotations

import dataclasses
import math
import typing

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kwtui.core.preset import INT32_MAX, Preset, PresetError, from_dict

FIELDS = [
    (section.name, f.name, typing.get_type_hints(type(getattr(Preset(), section.name)))[f.name], f)
    for section in dataclasses.fields(Preset)
    if dataclasses.is_dataclass(getattr(Preset(), section.name))
    for f in dataclasses.fields(getattr(Preset(), section.name))
]

toml_values = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=20),
    st.lists(st.one_of(st.integers(-5, 5), st.floats(allow_nan=True), st.text(max_size=5)), max_size=4),
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index=st.integers(0, len(FIELDS) - 1), value=toml_values)
def test_any_value_for_any_field_is_valid_or_refused_naming_the_field(index, value):
    section, key, tp, f = FIELDS[index]
    try:
        preset = from_dict({section: {key: value}})
    except PresetError as exc:
        assert str(exc).startswith(f"{section}.{key}"), str(exc)
        return
    got = getattr(getattr(preset, section), key)
    for number in got if isinstance(got, list) else [got]:
        if isinstance(number, (int, float)) and not isinstance(number, bool):
            assert math.isfinite(number)
            assert abs(number) <= 2**32  # seeds are uint32; everything that reaches model.h fits an int32
    bounds = f.metadata.get("range")
    if bounds is not None:
        assert bounds[0] <= got <= bounds[1]


@pytest.mark.parametrize(
    "section,key", [("evaluate", "hop_ms"), ("evaluate", "refractory_ms"), ("evaluate", "average_window")]
)
def test_what_reaches_model_h_fits_an_int32(section, key):
    bounds = dataclasses.fields(getattr(Preset(), section).__class__)
    f = next(x for x in bounds if x.name == key)
    assert f.metadata["range"][1] <= INT32_MAX
