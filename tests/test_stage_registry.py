"""Each stage is described once (kwtui.core.registry): the orchestrator, the records, the CLI and the wizard all
follow it, so a stage added or renamed there is added or renamed everywhere."""

from __future__ import annotations

import inspect

import pytest

from kwtui.core import registry
from kwtui.core.io import records


def test_every_recorded_stage_has_a_freshness_check_and_no_other_has_one():
    assert set(records._CHECKS) == set(registry.RECORDED)


def test_each_runner_takes_exactly_the_options_the_registry_names():
    for stage in registry.STAGES_IN_ORDER:
        params = list(inspect.signature(registry.runner(stage.name)).parameters.values())
        assert [p.name for p in params[:3]] == ["preset", "report", "cancel"], stage.name
        assert tuple(p.name for p in params[3:]) == stage.options, stage.name
        assert not any(p.kind is p.VAR_KEYWORD for p in params), stage.name  # no option travels hidden


def test_the_cli_has_the_command_each_stage_names():
    import typer.main

    from kwtui.cli.main import app

    group = typer.main.get_command(app)
    for stage in registry.STAGES_IN_ORDER:
        command = group
        for word in stage.command.split():
            command = command.commands[word]  # type: ignore[attr-defined]
        assert command is not None, stage.command


def test_the_wizard_marks_steps_from_the_registry():
    from kwtui.tui.app import STEP_CLASSES

    steps = {cls.step_id for cls in STEP_CLASSES}
    assert set(registry.STEP_RECORDS) <= steps
    assert registry.STEP_RECORDS["training"] == "train"


def test_an_option_a_stage_does_not_take_is_refused_not_dropped():
    from kwtui.core import events as ev
    from kwtui.core.preset import Preset
    from kwtui.core.stages.pipeline import run_stage

    with pytest.raises(TypeError, match="no option resume"):
        run_stage("convert", Preset(), ev.ignore, ev.CancelToken(), resume=True)
