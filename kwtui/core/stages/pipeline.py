"""Stage registry and `run`: each stage reads the previous stage's files from disk.

A stage runner has the signature `run_<stage>(preset, report, cancel, **options) -> dict` (a summary).
Runners are imported lazily so that nothing heavy (TensorFlow) loads before it is needed.
"""

from __future__ import annotations

import contextlib
import importlib
from typing import Any, Callable

from kwtui.core.errors import Cancelled, UserError
from kwtui.core.events import CancelToken, Finished, Reporter
from kwtui.core.preset import STAGES, Preset

_RUNNERS = {
    "features": "kwtui.core.stages.features:run_features",
    "train": "kwtui.core.stages.train:run_train",
    "evaluate": "kwtui.core.stages.evaluate:run_evaluate",
    "convert": "kwtui.core.stages.convert:run_convert",
    "flash": "kwtui.core.stages.flash:run_flash",
    "esphome": "kwtui.core.stages.esphome:run_export_esphome",  # `kwtui export esphome`: not part of `run`
}


def runner(stage: str) -> Callable[..., dict[str, Any]]:
    module_name, func_name = _RUNNERS[stage].split(":")
    return getattr(importlib.import_module(module_name), func_name)


_TENSORFLOW_STAGES = ("train", "convert", "esphome")
_COMMANDS = {"esphome": "export esphome"}  # the CLI command of a stage, where it is not the stage's name  # evaluate runs the model in TFLM (float_model)


def _stage_locks(stage: str, preset: Preset) -> contextlib.ExitStack:
    """The locks a TensorFlow stage takes itself (its run folder exclusive, the features shared), taken first: a run
    that cannot have them is refused in a second, not after TensorFlow has loaded (the stage re-enters them)."""
    from kwtui.core.io import locks, ownership
    from kwtui.core.io.layout import RunLayout

    held = contextlib.ExitStack()
    if stage in _TENSORFLOW_STAGES:
        layout = RunLayout(preset)
        try:
            held.enter_context(locks.exclusive(ownership.claim(layout.run_dir, "run_dir"), stage))
            held.enter_context(locks.shared(layout.features_dir, stage))
        except BaseException:
            held.close()
            raise
    return held


def run_stage(stage: str, preset: Preset, report: Reporter, cancel: CancelToken, **options: Any) -> dict[str, Any]:
    with _stage_locks(stage, preset):
        if stage in _TENSORFLOW_STAGES:
            from kwtui.core.native import import_tensorflow_quietly

            import_tensorflow_quietly()
        return _run(stage, preset, report, cancel, **options)


def _run(stage: str, preset: Preset, report: Reporter, cancel: CancelToken, **options: Any) -> dict[str, Any]:
    try:
        cancel.raise_if_cancelled()
        return runner(stage)(preset, report, cancel, **options)
    except Cancelled as exc:
        if str(exc) != "cancelled":  # the stage said what was done and how to resume
            raise
        raise Cancelled(f"{stage}: cancelled before it finished; its previous results are kept unchanged and "
                        f"nothing half-done was written; re-run `kwtui {_COMMANDS.get(stage, stage)} {preset.name}` to do it"
                        ) from None


def stages_between(start: str | None, until: str | None, preset: Preset) -> list[str]:
    for name, value in (("--from", start), ("--until", until)):
        if value is not None and value not in STAGES:
            raise UserError(f"{name} {value}: unknown stage, use one of {', '.join(STAGES)}")
    first = STAGES.index(start) if start else 0
    last = STAGES.index(until) if until else len(STAGES) - 1
    chosen = list(STAGES[first : last + 1])
    if "flash" in chosen and not preset.flash.enabled and until != "flash":
        chosen.remove("flash")
    return chosen


def save_run_preset(preset: Preset, holder: str = "wizard") -> None:
    """The preset as run, into its run folder, under the folder's lock: refused (exit 2, nothing written) while
    another kwtui uses the folder, so a refused run never rewrites the record of the one that is running."""
    from kwtui.core.io import locks, ownership
    from kwtui.core.io.layout import RunLayout
    from kwtui.core.preset import save_preset

    layout = RunLayout(preset)
    with locks.exclusive(ownership.claim(layout.run_dir, "run_dir"), holder):
        save_preset(preset, layout.preset_copy)


def run_pipeline(
    preset: Preset,
    report: Reporter,
    cancel: CancelToken,
    start: str | None = None,
    until: str | None = None,
    **options: Any,
) -> dict[str, dict[str, Any]]:
    """Run the chosen stages in order; returns each stage's summary.

    Features always run (they resume, and notice changed clips); training, evaluation and conversion are
    skipped when their record is up to date for this preset, so a replay redoes exactly the stale stages."""
    from kwtui.core.io import locks, ownership
    from kwtui.core.io.layout import RunLayout
    from kwtui.core.preset import save_preset

    chosen = stages_between(start, until, preset)
    if "flash" in chosen:  # a table that cannot be read would only fail after training: say it now
        from kwtui.core.stages.flash import check_partition_table

        check_partition_table(preset)
    from kwtui.core.data.scan import require_dataset_folder

    layout = RunLayout(preset)
    if "features" in chosen and not layout.run_dir.exists():  # a replay from the wrong folder creates nothing
        require_dataset_folder(preset.dataset_path)
    with locks.exclusive(ownership.claim(layout.run_dir, "run_dir"), "run"):  # refused before writing anything
        if "features" in chosen:
            require_dataset_folder(preset.dataset_path)
        save_preset(preset, layout.preset_copy)
        return _run_stages(preset, layout, chosen, report, cancel, **options)


def _run_stages(preset: Preset, layout: Any, chosen: list[str], report: Reporter, cancel: CancelToken,
                **options: Any) -> dict[str, dict[str, Any]]:
    from kwtui.core.io import records

    results = {}
    for stage in chosen:
        stage_options = {k: v for k, v in options.items() if k in _STAGE_OPTIONS.get(stage, ())}
        if stage in _SKIPPABLE and not options.get("force") and records.status(layout)[stage].done:
            report(Finished(stage, {"up_to_date": True, "note": "up to date for this preset: not run again"}))
            results[stage] = {"up_to_date": True}
            continue
        results[stage] = run_stage(stage, preset, report, cancel, **stage_options)
        if stage == "features" and "evaluate" in chosen and not _test_keyword_clips(layout, results[stage]):
            _refuse_without_test_split(preset)
    return results


def _test_keyword_clips(layout: Any, summary: dict[str, Any]) -> int:
    """Keyword clips in the test split (windows of noise or running speech held out there measure no misses)."""
    if summary.get("test_files") == 0:
        return 0
    from kwtui.core.io.records import read_record

    counts = ((read_record(layout.features_info) or {}).get("counts") or {}).get("test")
    if not isinstance(counts, dict):
        return int(summary.get("test_files") or 0)
    return sum(int(counts.get(keyword, 0)) for keyword in layout.preset.classes.keywords)


def _refuse_without_test_split(preset: Preset) -> None:
    """Fail before training when evaluation would measure nothing: no keyword clip landed in the test split."""
    from kwtui.core.io.layout import RunLayout

    raise UserError(
        f"{RunLayout(preset).manifest('test')}: no keyword clips to test (features kept); add a testing_list.txt to "
        f"{preset.dataset.path}, or remove its split lists to split by speaker hash (dataset.testing_percent)"
    )


_SKIPPABLE = ("train", "evaluate", "convert")
_STAGE_OPTIONS = {"train": ("resume",), "flash": ("dry_run", "port", "force_deploy")}
