"""The stages, each described once: the orchestrator, the freshness records, the CLI and the wizard read these.

Light on purpose (no stage module is imported here): a stage's code is imported only when it runs, so nothing
heavy (TensorFlow) loads before it is needed.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Stage:
    name: str
    runner: str  # "module:function", `function(preset, report, cancel, **options) -> summary dict`
    command: str  # the CLI command that runs it alone (`kwtui <command> PRESET`)
    options: tuple[str, ...] = ()  # the keyword options its runner takes (the orchestrator passes only these)
    needs_tensorflow: bool = False  # TensorFlow is imported (quietly) after its locks are held, never before
    recorded: bool = False  # it writes a record of what it was made from (records.status says if it is up to date)
    # `kwtui run` skips it while its record is up to date (a command or a wizard button runs it anyway); features
    # always run: they resume, and notice changed clips
    skipped_when_up_to_date: bool = False
    writes_run_folder: bool = True  # holds the run folder alone; False: reads it beside other readers (flash)
    in_pipeline: bool = True  # one of `kwtui run`'s stages, in this order (an export is not)
    wizard_step: str | None = None  # the wizard step whose checkmark is this stage's record


STAGES_IN_ORDER: tuple[Stage, ...] = (
    Stage("features", "kwtui.core.stages.features:run_features", "features", recorded=True, wizard_step="features"),
    Stage(
        "train",
        "kwtui.core.stages.train:run_train",
        "train",
        ("resume",),
        needs_tensorflow=True,
        recorded=True,
        skipped_when_up_to_date=True,
        wizard_step="training",
    ),
    # evaluate runs the model in TFLite Micro (a float model made in a child process): no TensorFlow here
    Stage(
        "evaluate",
        "kwtui.core.stages.evaluate:run_evaluate",
        "evaluate",
        recorded=True,
        skipped_when_up_to_date=True,
        wizard_step="evaluate",
    ),
    Stage(
        "convert",
        "kwtui.core.stages.convert:run_convert",
        "convert",
        needs_tensorflow=True,
        recorded=True,
        skipped_when_up_to_date=True,
    ),
    Stage(
        "flash",
        "kwtui.core.stages.flash:run_flash",
        "flash",
        ("dry_run", "port", "force_deploy"),
        writes_run_folder=False,
    ),
    Stage(
        "esphome",
        "kwtui.core.stages.esphome:run_export_esphome",
        "export esphome",
        ("out", "force_deploy"),
        needs_tensorflow=True,
        in_pipeline=False,
    ),
)
REGISTRY: dict[str, Stage] = {stage.name: stage for stage in STAGES_IN_ORDER}
PIPELINE: tuple[str, ...] = tuple(stage.name for stage in STAGES_IN_ORDER if stage.in_pipeline)
RECORDED: tuple[str, ...] = tuple(stage.name for stage in STAGES_IN_ORDER if stage.recorded)
STEP_RECORDS: dict[str, str] = {s.wizard_step: s.name for s in STAGES_IN_ORDER if s.wizard_step and s.recorded}


def stage(name: str) -> Stage:
    return REGISTRY[name]


def runner(name: str) -> Callable[..., dict[str, Any]]:
    module_name, func_name = REGISTRY[name].runner.split(":")
    found: Callable[..., dict[str, Any]] = getattr(importlib.import_module(module_name), func_name)
    return found


def command_of(name: str) -> str:
    """The CLI command of a stage or export ("export esphome"); a name that is no stage is returned as it is."""
    return REGISTRY[name].command if name in REGISTRY else name
