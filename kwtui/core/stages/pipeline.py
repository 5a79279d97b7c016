"""The orchestrator: `kwtui run`, `kwtui <stage>` and the wizard's buttons all run stages through here.

Each stage reads the previous stage's files from disk; what each stage is (its runner, options, locks, whether
TensorFlow loads, whether an up-to-date record skips it) is in `registry`.
"""

from __future__ import annotations

import contextlib
from typing import Any

from kwtui.core.errors import Cancelled, UserError
from kwtui.core.events import CancelToken, Finished, Reporter
from kwtui.core.io.layout import RunLayout
from kwtui.core.preset import Preset
from kwtui.core.registry import PIPELINE, REGISTRY, command_of, runner


def _stage_locks(stage: str, preset: Preset) -> contextlib.ExitStack:
    """The locks a TensorFlow stage takes itself (its run folder exclusive, the features shared), taken first: a run
    that cannot have them is refused in a second, not after TensorFlow has loaded (the stage re-enters them)."""
    from kwtui.core.io import locks, ownership
    from kwtui.core.io.layout import RunLayout

    held = contextlib.ExitStack()
    if REGISTRY[stage].needs_tensorflow:
        layout = RunLayout(preset)
        try:
            held.enter_context(locks.exclusive(ownership.claim(layout.run_dir, "run_dir"), stage))
            held.enter_context(locks.shared(layout.features_dir, stage))
        except BaseException:
            held.close()
            raise
    return held


def run_stage(stage: str, preset: Preset, report: Reporter, cancel: CancelToken, **options: Any) -> dict[str, Any]:
    """One stage alone, under its locks (no pre-checks, no preset copy: `run_pipeline` and `run_command` add them).
    `options`: only those the registry names for the stage."""
    unknown = set(options) - set(REGISTRY[stage].options)
    if unknown:
        raise TypeError(f"{stage}: no option {', '.join(sorted(unknown))}")
    with _stage_locks(stage, preset):
        if REGISTRY[stage].needs_tensorflow:
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
        raise Cancelled(
            f"{stage}: cancelled before it finished; its previous results are kept unchanged and "
            f"nothing half-done was written; re-run `kwtui {command_of(stage)} {preset.name}` to do it"
        ) from None


def stages_between(start: str | None, until: str | None, preset: Preset) -> list[str]:
    for name, value in (("--from", start), ("--until", until)):
        if value is not None and value not in PIPELINE:
            raise UserError(f"{name} {value}: unknown stage, use one of {', '.join(PIPELINE)}")
    first = PIPELINE.index(start) if start else 0
    last = PIPELINE.index(until) if until else len(PIPELINE) - 1
    chosen = list(PIPELINE[first : last + 1])
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
    holder: str = "run",
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
    ownership.refuse_foreign(layout.run_dir, "run_dir")  # a folder of the user's is named before anything else
    if "features" in chosen:
        ownership.refuse_foreign(layout.features_dir, "features.output")
    if "features" in chosen and not layout.run_dir.exists():  # a replay from the wrong folder creates nothing
        require_dataset_folder(preset.dataset_path)
    with locks.exclusive(ownership.claim(layout.run_dir, "run_dir"), holder):  # refused before writing anything
        if "features" in chosen:
            require_dataset_folder(preset.dataset_path)
        save_preset(preset, layout.preset_copy)
        return _run_stages(preset, layout, chosen, report, cancel, **options)


def run_command(
    stage: str,
    preset: Preset,
    report: Reporter,
    cancel: CancelToken,
    until: str | None = None,
    holder: str | None = None,
    **options: Any,
) -> dict[str, Any]:
    """`kwtui <stage>` and a wizard step's button: stages `stage`..`until` through `run_pipeline` (the preset copy,
    the pre-checks and locks of `kwtui run`), run even when their records are up to date. A stage that only reads
    the run folder (flash) or an export runs alone, under its own locks and checks. Returns the last stage's
    summary, with every stage's under "stages". `holder`: who another kwtui is told holds the run folder (default:
    the command)."""
    if not REGISTRY[stage].in_pipeline or (not REGISTRY[stage].writes_run_folder and (until or stage) == stage):
        return run_stage(stage, preset, report, cancel, **options)
    results = run_pipeline(
        preset,
        report,
        cancel,
        start=stage,
        until=until or stage,
        holder=holder or command_of(stage),
        force=True,
        **options,
    )
    return {**results[list(results)[-1]], "stages": results}


def _run_stages(
    preset: Preset, layout: RunLayout, chosen: list[str], report: Reporter, cancel: CancelToken, **options: Any
) -> dict[str, dict[str, Any]]:
    from kwtui.core.io import records

    results = {}
    for stage in chosen:
        stage_options = {k: v for k, v in options.items() if k in REGISTRY[stage].options}
        skippable = REGISTRY[stage].skipped_when_up_to_date and not options.get("force")
        if skippable and records.status(layout)[stage].done:
            report(Finished(stage, {"up_to_date": True, "note": "up to date for this preset: not run again"}))
            results[stage] = {"up_to_date": True}
            continue
        results[stage] = run_stage(stage, preset, report, cancel, **stage_options)
        if stage == "features" and "evaluate" in chosen and not _test_keyword_clips(layout, results[stage]):
            _refuse_without_test_split(preset)
    return results


def _test_keyword_clips(layout: RunLayout, summary: dict[str, Any]) -> int:
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
