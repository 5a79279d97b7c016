"""The features stage: a streaming, parallel, resumable mirror of the dataset as (99, 43) float32 .npy files.

- The plan (kwtui.core.data.plan.plan_clips) lists every output file with a seed derived from its path, so the
  result does not depend on worker count, order or interruptions: a resumed run is byte-identical.
- A process pool works through small batches with a bounded number in flight (memory stays flat).
- Each file is written to a temp name in its folder and renamed; files that exist are skipped on re-run.
- Manifests (train/validation/test.csv) and features.json are written atomically at the end.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import os
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, Callable, Iterator

from kwtui.core.data import noise as noise_files
from kwtui.core.data import run_on_words, synthesized, synthetic_speech
from kwtui.core.data import spectrogram as spec
from kwtui.core.data.audio import BadAudio
from kwtui.core.data.frontends import frontend
from kwtui.core.data.plan import ClipPlan, NoiseRegion, plan_clips
from kwtui.core.data.scan import DatasetScan, Problem, scan_dataset, severity
from kwtui.core.data.wav import read_header
from kwtui.core.errors import Cancelled, KwtuiError, UserError
from kwtui.core.events import CancelToken, Finished, Progress, Reporter, StageWarning, Started
from kwtui.core.features.pool import batches_by_folder, make_pool, shutdown_pool, start_forkserver, stop_event
from kwtui.core.features.worker import BatchJob, JobResult, npy_size, process_batch
from kwtui.core.io import locks, ownership, records, writer
from kwtui.core.io.layout import FEATURE_PARAMS_NAME, SPLITS, RunLayout
from kwtui.core.monitor import ResourceMonitor, free_disk_bytes
from kwtui.core.preset import Preset

STAGE = "features"
FORMAT_VERSION = records.FEATURE_FORMAT_VERSION
NPY_BYTES = 128 + spec.N_FRAMES * spec.N_BINS * 4  # header + float32 payload
DISK_BYTES_PER_FILE = -(-NPY_BYTES // 4096) * 4096  # rounded up to a filesystem block
PARAMS_FILE = FEATURE_PARAMS_NAME
_RESERVED_NAMES = {"train.csv", "validation.csv", "test.csv", "features.json", PARAMS_FILE}
CANCEL_WAIT_S = 5.0  # at most this long for running workers to finish their current file after a cancel
MAX_FILE_WARNINGS = 20  # individual StageWarning events per kind; the rest are counted in one summary warning

# --- the stage ---------------------------------------------------------------------------


def _params(preset: Preset, dataset: Path) -> dict[str, Any]:
    return records.features_params(preset)


def _write_atomic(path: Path, text: str) -> None:
    writer.write_text(path, text)


def _remove_temp_files(root: Path) -> int:
    return writer.remove_stale_temps(root, recursive=True)


def _listed_in_manifests(features_dir: Path) -> set[str]:
    """The feature files the folder's own manifests list (paths relative to it)."""
    listed: set[str] = set()
    for split in SPLITS:
        try:
            with open(features_dir / f"{split}.csv", newline="", encoding="utf-8", errors="surrogateescape") as handle:
                listed.update(row["path"] for row in csv.DictReader(handle) if row.get("path"))
        except (OSError, csv.Error, KeyError):
            continue
    return listed


def _prepare_folder(features_dir: Path, params: dict[str, Any], plan: ClipPlan, report: Reporter) -> None:
    """If the (owned) folder holds features made with other settings, remove those: only files kwtui wrote
    there (those its manifests list) or would write now (this plan's outputs); anything else is left alone."""
    params_file = features_dir / PARAMS_FILE
    if params_file.exists():
        try:
            old = json.loads(params_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            old = {}
        if old != params:
            changed = sorted(k for k in set(old) | set(params) if old.get(k) != params.get(k))
            report(
                StageWarning(
                    STAGE, f"settings changed ({', '.join(changed)}): regenerating all features", str(features_dir)
                )
            )
            ours = _listed_in_manifests(features_dir) | {job.output for job in plan.jobs}
            for relative in ours:
                if relative.endswith(".npy") and not os.path.isabs(relative) and ".." not in relative.split("/"):
                    (features_dir / relative).unlink(missing_ok=True)
            for name in ("features.json", *(f"{s}.csv" for s in SPLITS)):
                (features_dir / name).unlink(missing_ok=True)
    _write_atomic(params_file, json.dumps(params, indent=1, sort_keys=True))


def _preflight(features_dir: Path, todo: int) -> None:
    need = todo * DISK_BYTES_PER_FILE + 1_000_000
    free = free_disk_bytes(features_dir)
    if need > free:
        raise UserError(
            f"{features_dir}: not enough disk space for features: need about {need / 1e6:,.1f} MB "
            f"({todo} files), {free / 1e6:,.1f} MB free; free some space or set features.output to another disk"
        )


def _warn_files(report: Reporter, kind: str, items: list[tuple[str, str]]) -> None:
    for path, message in items[:MAX_FILE_WARNINGS]:
        report(StageWarning(STAGE, f"{kind}: {message}", path))
    if len(items) > MAX_FILE_WARNINGS:
        report(StageWarning(STAGE, f"{len(items) - MAX_FILE_WARNINGS} more files {kind} (listed in features.json)"))


def _warn_converted(report: Reporter, converted: list[tuple[str, str]]) -> None:
    """One warning per kind of conversion (e.g. "resampled 22050 Hz"), with a count and an example."""
    groups: dict[str, list[str]] = {}
    for path, notes in converted:
        for note in notes.split("; "):
            kind = note if not note.startswith(("padded", "cropped")) else note.split()[0]
            groups.setdefault(kind, []).append(path)
    for kind, paths in groups.items():
        if len(paths) == 1:
            report(StageWarning(STAGE, f"converted: {kind}", paths[0]))
        else:
            report(
                StageWarning(
                    STAGE, f"converted: {kind}: {paths[0]} and {len(paths) - 1} more (listed in features.json)"
                )
            )


def _todo(plan: ClipPlan, features_dir: Path, file_bytes: int) -> list[int]:
    """Indexes of the jobs whose file is not there yet, is not `file_bytes` long (cut off: a disk that filled up
    under another tool, a copy that stopped), or is older than its source clip (the audio was replaced since):
    one listing per folder, then one stat per present file and per source."""
    present: dict[str, set[str]] = {}
    source_mtimes: dict[str, int] = {}
    todo = []
    for i, job in enumerate(plan.jobs):
        folder, name = os.path.split(job.output)
        names = present.get(folder)
        if names is None:
            names = present[folder] = set(os.listdir(features_dir / folder))
        if name not in names:
            todo.append(i)
            continue
        source_mtime = source_mtimes.get(job.source)
        if source_mtime is None:
            try:
                source_mtime = source_mtimes[job.source] = os.stat(job.source).st_mtime_ns
            except OSError:
                source_mtime = source_mtimes[job.source] = 0
        try:
            done = os.stat(features_dir / job.output)
            if done.st_mtime_ns < source_mtime or done.st_size != file_bytes:
                todo.append(i)
        except OSError:
            todo.append(i)
    return todo


def run_features(preset: Preset, report: Reporter, cancel: CancelToken) -> dict[str, Any]:
    started = time.monotonic()
    layout = RunLayout(preset)
    features_dir = layout.features_dir
    _refuse_output_inside_dataset(features_dir, preset.dataset_path)
    ownership.claim(layout.run_dir, "run_dir")  # before any work: refused if either holds the user's files
    ownership.claim(features_dir, "features.output")
    start_forkserver()
    report(Started(STAGE, message=f"scanning {preset.dataset_path}"))
    scan = scan_dataset(
        preset.dataset_path, report, cancel, preset.dataset.validation_list, preset.dataset.testing_list
    )
    if scan.unmatched_listed:
        report(
            StageWarning(
                STAGE,
                f"{scan.unmatched_listed} split-list entries match no clip in {preset.dataset_path} "
                "(`kwtui scan` lists them); check the lists' paths",
            )
        )
    plan, scan = _planned(preset, layout, scan, report, cancel, make=True)
    if not plan.jobs:
        raise UserError(f"{preset.dataset_path}: no clips to make features from")
    params = _params(preset, preset.dataset_path)
    with _exclusive(features_dir):
        writer.remove_stale_temps(layout.noise_cache_dir)
        return _generate(preset, layout, scan, plan, params, started, report, cancel)


_DEFAULT_FOLDERS = {"negative_speech": ["_running_speech_"], "noise_folders": ["_background_noise_"]}


def _with_folders_anywhere(preset: Preset, scan: Any) -> Preset:
    """classes.negative_speech and classes.noise_folders name folders of the dataset (by name) or any folder
    (a path; `~` and `$VAR` expanded): the wavs in an outside folder join the scan under its absolute path. A
    named folder that is neither, or holds no usable audio, is refused naming the field (a default name the
    dataset lacks is not: it is the schema's guess, and the stage says what it does without it)."""
    changed: dict[str, Any] = {}
    for field_name in ("negative_speech", "noise_folders"):
        folders = list(getattr(preset.classes, field_name))
        resolved = []
        for folder in folders:
            if folder in scan.noise:
                resolved.append(folder)
                continue
            path = Path(os.path.expandvars(os.path.expanduser(folder)))
            if not path.is_absolute():
                path = (
                    Path(os.path.abspath(path)) if (path.is_dir() and "/" in folder) else preset.dataset_path / folder
                )
            if not path.is_dir():
                if folder in _DEFAULT_FOLDERS[field_name]:
                    resolved.append(folder)
                    continue
                raise UserError(
                    f"classes.{field_name}: {folder!r} is neither a folder of the dataset "
                    f"({preset.dataset_path}) nor a folder at that path; fix the name or remove it"
                )
            wavs = sorted(
                p for p in path.iterdir() if p.suffix.lower() == ".wav" and p.is_file() and not p.name.startswith(".")
            )
            headers = [read_header(str(p)) for p in wavs]
            if not any(not h.error and h.seconds >= 1.0 for h in headers):
                raise UserError(
                    f"classes.{field_name}: {path} holds no usable audio (.wav files of at least 1 s "
                    "directly in it); add some or remove the folder from the preset"
                )
            scan.noise[str(path)] = headers
            resolved.append(str(path))
        if resolved != folders:
            changed[field_name] = resolved
    if not changed:
        return preset
    return dataclasses.replace(preset, classes=dataclasses.replace(preset.classes, **changed))


def _without_reserved_words(preset: Preset, scan: DatasetScan, report: Reporter) -> DatasetScan:
    """A word folder named like a file kwtui writes into the features folder (`train.csv/`) cannot have its own
    folder of feature files there: as another word it is skipped with its reason, as a keyword refused."""
    clash = sorted(set(scan.words) & _RESERVED_NAMES)
    for word in clash:
        if word in preset.classes.keywords:
            raise UserError(
                f"{preset.dataset_path / word}: a keyword folder named like a file kwtui writes into the "
                "features folder; rename the folder and the keyword"
            )
    if not clash:
        return scan
    # skipped like an unreadable folder: warned once with the other skipped files, and listed in features.json
    problems = [
        Problem(
            word,
            "reserved_name",
            "a word folder named like a file kwtui writes into the features folder (rename it to use its clips)",
        )
        for word in clash
    ]
    return dataclasses.replace(
        scan, words={w: info for w, info in scan.words.items() if w not in clash}, problems=[*scan.problems, *problems]
    )


def _refuse_output_inside_dataset(features_dir: Path, dataset: Path) -> None:
    """features.output inside the dataset would mix kwtui's .npy files into the user's word folders (and the
    next scan would see them): refused before anything is written."""
    out, data = (
        Path(os.path.abspath(os.path.expanduser(features_dir))),
        Path(os.path.abspath(os.path.expanduser(dataset))),
    )
    with contextlib.suppress(OSError):
        out, data = out.resolve(), data.resolve()
    if out == data or data in out.parents:
        raise UserError(
            f"features.output: {features_dir} is inside the dataset {dataset}; kwtui would write its "
            "feature files among your clips: choose a folder outside it (the default is runs/<name>/features)"
        )


def preview_plan(preset: Preset, scan: DatasetScan) -> ClipPlan:
    """The files the features stage would write for `preset` over `scan`, without writing or synthesizing
    anything: the same planning, with kwtui's synthesized folders (running speech, near misses, run-on words)
    counted where they already exist for these settings, and listed in the plan's notes where they do not."""
    notes: list[str] = []

    def report(event: Any) -> None:
        if isinstance(event, StageWarning):
            notes.append(event.message)

    scan = dataclasses.replace(scan, noise=dict(scan.noise), run_on=dict(scan.run_on))  # the caller's stays as is
    plan, _ = _planned(preset, RunLayout(preset), scan, report, CancelToken(), make=False)
    plan.notes = notes
    return plan


def _planned(
    preset: Preset, layout: RunLayout, scan: DatasetScan, report: Reporter, cancel: CancelToken, make: bool
) -> tuple[ClipPlan, DatasetScan]:
    """The features stage's plan, and the scan it planned from (the folders it uses outside the dataset and
    kwtui's synthesized ones added); `make` False: those synthesized folders are used where they exist, never
    made."""
    scan = _without_reserved_words(preset, scan, report)
    planned = _with_folders_anywhere(preset, scan)  # the preset's own fields stay what its fingerprint holds
    planned = _with_synthetic_speech(planned, layout, scan, report, cancel, make=make)
    planned = _with_near_misses(planned, layout, scan, report, cancel, make=make)
    _add_run_on_words(planned, layout, scan, report, cancel, make=make)
    return plan_clips(planned, scan), scan


def _with_synthetic_speech(
    preset: Preset, layout: RunLayout, scan: Any, report: Reporter, cancel: CancelToken, make: bool = True
) -> Preset:
    """The preset to plan with: when the model needs running speech as negatives and no folder of
    classes.negative_speech holds any, synthesized speech without the dataset's words joins them (and the scan)."""
    classes = preset.classes
    needs_speech = classes.unknown or classes.background or preset.single_sigmoid
    found = any(
        not clip.error and clip.seconds >= 1.0
        for folder in classes.negative_speech
        for clip in scan.noise.get(folder, [])
    )
    if found or not needs_speech or not classes.synthesize_negative_speech:
        return preset
    if not synthesized.available():
        report(
            StageWarning(
                STAGE,
                "no running speech in classes.negative_speech and espeak-ng is not installed to "
                "synthesize it: the model may fire on conversation; add recordings of speech "
                "without the keywords to a folder named in classes.negative_speech",
            )
        )
        return preset
    folder = layout.synthetic_speech_dir.absolute()  # the plan reads it from the workers, wherever they run
    files = synthetic_speech.ensure(
        folder, set(scan.words) | set(classes.keywords), preset.features.seed, report, cancel, STAGE, make=make
    )
    if files is None:
        report(StageWarning(STAGE, "running speech without the dataset's words: synthesized when Features starts"))
        return preset
    joined = _joined_as_negative_speech(preset, scan, folder, files)
    minutes = sum(clip.seconds for clip in scan.noise[str(folder)] if not clip.error) / 60
    report(
        StageWarning(
            STAGE,
            f"no running speech in classes.negative_speech ({', '.join(classes.negative_speech) or 'none'}"
            f"): training on {minutes:.1f} min synthesized by espeak-ng without the dataset's words "
            f"({folder}); recordings of real conversation are better negatives",
        )
    )
    return joined


def _joined_as_negative_speech(preset: Preset, scan: Any, folder: Path, files: list[Path]) -> Preset:
    """A synthesized folder of running speech in the scan and, for planning, in classes.negative_speech."""
    scan.noise[str(folder)] = [read_header(str(path)) for path in files]
    classes = preset.classes
    return dataclasses.replace(
        preset, classes=dataclasses.replace(classes, negative_speech=[*classes.negative_speech, str(folder)])
    )


def _with_near_misses(
    preset: Preset, layout: RunLayout, scan: Any, report: Reporter, cancel: CancelToken, make: bool = True
) -> Preset:
    """With classes.near_miss_negatives: sentences holding near misses of the keywords (synthesized once into the
    run folder) join classes.negative_speech and the scan."""
    classes = preset.classes
    if not classes.near_miss_negatives:
        return preset
    if not synthesized.available():
        raise UserError(
            "classes.near_miss_negatives: espeak-ng synthesizes the near misses and is not installed; "
            "install it (apt-get install espeak-ng) or set classes.near_miss_negatives = false"
        )
    folder = layout.near_miss_speech_dir.absolute()  # the plan reads it from the workers, wherever they run
    files = synthetic_speech.ensure(
        folder,
        set(scan.words) | set(classes.keywords),
        preset.features.seed,
        report,
        cancel,
        STAGE,
        tuple(classes.keywords),
        make=make,
    )
    if files is None:
        report(StageWarning(STAGE, "sentences with near misses of the keywords: synthesized when Features starts"))
        return preset
    return _joined_as_negative_speech(preset, scan, folder, files)


def _add_run_on_words(
    preset: Preset, layout: RunLayout, scan: Any, report: Reporter, cancel: CancelToken, make: bool = True
) -> None:
    """With classes.run_on_negatives: the keywords run on into longer words, synthesized once into the run folder,
    join the scan as negatives."""
    classes = preset.classes
    if not classes.run_on_negatives:
        return
    if not synthesized.available():
        raise UserError(
            "classes.run_on_negatives: espeak-ng synthesizes the run-on words and is not installed; "
            "install it (apt-get install espeak-ng) or set classes.run_on_negatives = false"
        )
    folder = layout.run_on_words_dir.absolute()  # the plan reads it from the workers, wherever they run
    others = sorted(set(scan.words) - set(classes.keywords))
    found = run_on_words.ensure(
        folder, list(classes.keywords), others, preset.features.seed, report, cancel, STAGE, make=make
    )
    if found is None:
        report(StageWarning(STAGE, "the keywords run on into longer words: synthesized when Features starts"))
        return
    for name, paths in found.items():
        scan.run_on[str(folder / name)] = [read_header(str(path)) for path in paths]


@contextlib.contextmanager
def _exclusive(features_dir: Path) -> Iterator[None]:
    """Claim the folder (refused when it holds files kwtui did not create), then hold its lock."""
    ownership.claim(features_dir, "features.output")
    with locks.exclusive(features_dir, STAGE):
        yield


def _generate(
    preset: Preset,
    layout: RunLayout,
    scan: Any,
    plan: ClipPlan,
    params: dict[str, Any],
    started: float,
    report: Reporter,
    cancel: CancelToken,
) -> dict[str, Any]:
    features_dir = layout.features_dir
    try:
        _prepare_folder(features_dir, params, plan, report)
        _remove_temp_files(features_dir)
        for folder in sorted({os.path.dirname(j.output) for j in plan.jobs}):
            (features_dir / folder).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(
            f"{features_dir}: cannot prepare the features folder ({exc.strerror or exc}); "
            "set features.output to a writable folder"
        ) from None
    todo = _todo(plan, features_dir, npy_size(frontend(preset.features.frontend).shape))
    existing = len(plan.jobs) - len(todo)
    _preflight(features_dir, len(todo))

    monitor = ResourceMonitor(features_dir, STAGE)
    total = len(plan.jobs)
    report(
        Started(
            STAGE,
            total=total,
            unit="files",
            message=f"{total} feature files ({existing} already done) -> {features_dir}",
        )
    )
    skipped = _run_pool(preset, plan, scan.path, todo, features_dir, existing, monitor, report, cancel)

    root = str(scan.path)
    converted_by_source: dict[str, str] = {}
    for job in plan.jobs:
        if job.notes and job.output not in skipped:
            converted_by_source.setdefault(_relative(job.source, root), "; ".join(job.notes))
    converted = list(converted_by_source.items())
    skipped_by_source: dict[str, str] = {}
    for job in plan.jobs:
        if job.output in skipped:
            skipped_by_source.setdefault(_relative(job.source, root), skipped[job.output])
    for entry in plan.excluded:  # unreadable headers never reach a worker
        skipped_by_source.setdefault(entry["path"], entry["reason"])
    for problem in scan.problems:  # whole folders (unreadable, a link to another word) and folders named like clips
        if severity(problem) == "unusable" and problem.kind != "empty_folder":
            skipped_by_source.setdefault(problem.path, problem.message)
    skipped_items = list(skipped_by_source.items())
    _warn_files(report, "skipped", skipped_items)
    _warn_converted(report, converted)
    info = _write_outputs(layout, plan, scan, params, skipped, converted, skipped_items)
    monitor.tick(report, force=True)
    seconds = time.monotonic() - started
    processed = len(todo)
    summary = {
        "files_total": total,  # planned = written + existing + skipped (feature files, variants included)
        "files_written": processed - len(skipped),
        "files_existing": existing,
        "files_skipped": len(skipped),
        "clips_skipped": len(skipped_items),  # source clips (a skipped clip skips its variants too)
        "files_converted": len(converted),
        **{f"{split}_files": sum(info["counts"][split].values()) for split in SPLITS},
        # which folders of running speech and noise were used, and how much of each
        "negatives": "; ".join(
            f"{n['folder']} {sum(n['minutes'].values()):.1f} min {n['kind']}" for n in info["negatives"]
        )
        or "none",
        "seconds": round(seconds, 2),
        "clips_per_s": round(processed / seconds, 1) if seconds > 0 else 0.0,
        "peak_rss_mb": round(monitor.peak_rss / 1e6, 1),  # private memory of the process tree (monitor.TreeMemory)
        "peak_mapped_mb": round(monitor.peak_mapped / 1e6, 1),  # mapped files (the noise cache): shared, reclaimable
        "features_dir": str(features_dir),
    }
    report(Finished(STAGE, summary))
    return summary


def _convert_noise(
    plan: ClipPlan,
    todo: list[int],
    train_noise: list[tuple[str, float, float]],
    cache_dir: Path,
    cancel: CancelToken,
) -> dict[str, tuple[str | None, str | None]]:
    """Convert once, here, each noise file the pending jobs read: {source: (cache file, None) or (None, reason)}."""
    needed = {plan.jobs[i].source for i in todo if plan.jobs[i].start_s >= 0}
    if any(plan.jobs[i].variant != 0 for i in todo):
        needed.update(path for path, _start, _end in train_noise)
    converted: dict[str, tuple[str | None, str | None]] = {}
    for source in sorted(needed):
        cancel.raise_if_cancelled()
        try:
            converted[source] = (str(noise_files.prepare(Path(source), cache_dir)), None)
        except BadAudio as exc:
            converted[source] = (None, str(exc))
        except writer.DiskFull:
            raise KwtuiError(
                f"features: disk full while writing {cache_dir} (converting {source}); free some space and "
                "re-run to resume"
            ) from None
        except OSError as exc:
            converted[source] = (None, f"cannot read ({exc.strerror or exc})")
    return converted


def _impulse_responses(preset: Preset, plan: ClipPlan, todo: list[int], announce: Callable[[str], None]) -> str | None:
    """The synthetic room impulse responses the variants' reverb draws from (written once per run folder)."""
    if not preset.features.augment or not any(plan.jobs[i].variant != 0 for i in todo):
        return None
    from kwtui.core.features.augment import write_impulse_responses

    announce("room impulse responses for the reverb")

    return str(write_impulse_responses(RunLayout(preset).noise_cache_dir / "impulse_responses"))


def _run_pool(
    preset: Preset,
    plan: ClipPlan,
    dataset_root: Path,
    todo: list[int],
    features_dir: Path,
    existing: int,
    monitor: ResourceMonitor,
    report: Reporter,
    cancel: CancelToken,
) -> dict[str, str]:
    """Process `todo` jobs; returns {output: reason} for skipped files. Raises on cancel / full disk."""
    total = len(plan.jobs)
    if not todo:
        report(Progress(STAGE, total, total, unit="files", message="nothing to do"))
        return {}
    workers = preset.features.workers or os.cpu_count() or 1
    batches = batches_by_folder(plan, todo, workers)
    workers = min(workers, len(batches))

    def preparing(what: str) -> None:  # the set-up before the first file says what it does, not "0/N files"
        report(Progress(STAGE, existing, total, unit="files", message=f"preparing: {what}"))

    config = _worker_config(preset, plan, dataset_root, todo, preparing, cancel)
    run = _PoolRun(plan, features_dir, existing, monitor, report, cancel)
    stop = stop_event()
    preparing(
        f"starting {workers} worker{'s' if workers != 1 else ''} (each loads the frontend"
        + (" and the augmentation)" if preset.features.augment else ")")
    )
    pool = make_pool(workers, config, stop)
    stop_now = True  # unless the loop ends normally (done, cancelled, failure)
    try:
        run.process(pool, stop, batches, max_in_flight=workers * 3)
        stop_now = False
        run.report_stop()
    finally:
        shutdown_pool(pool, stop_now)
    run.raise_if_stopped()
    return run.skipped


def _worker_config(
    preset: Preset,
    plan: ClipPlan,
    dataset_root: Path,
    todo: list[int],
    preparing: Callable[[str], None],
    cancel: CancelToken,
) -> dict[str, Any]:
    """Convert the noise and running speech the pending jobs read, then the settings every worker starts with."""
    train_noise = [(str(dataset_root / r.file), r.start_s, r.end_s) for r in plan.train_noise()]
    train_speech = [(str(dataset_root / r.file), r.start_s, r.end_s) for r in plan.train_speech()]
    sources = len({source for source, _, _ in train_noise + train_speech})
    preparing(f"{sources} noise and running-speech files into the noise cache (converted once, then reused)")
    noise_cache = _convert_noise(plan, todo, train_noise + train_speech, RunLayout(preset).noise_cache_dir, cancel)
    return {
        "frontend": preset.features.frontend,
        "time_shift_ms": preset.features.time_shift_ms,
        "noise_snr_db": tuple(preset.features.noise_snr_db),
        "augment": preset.features.augment,
        "train_speech": train_speech,
        "train_noise": train_noise,
        "noise_files": noise_cache,
        "ir_dir": _impulse_responses(preset, plan, todo, preparing),
        "parent_pid": os.getpid(),
    }


class _PoolRun:
    """The parent's side of one pool run: batches out (a bounded number in flight), results counted, progress
    reported, and why it stopped early (cancel or failure)."""

    def __init__(
        self,
        plan: ClipPlan,
        features_dir: Path,
        existing: int,
        monitor: ResourceMonitor,
        report: Reporter,
        cancel: CancelToken,
    ) -> None:
        self.plan = plan
        self.features_dir = features_dir
        self.existing = existing
        self.total = len(plan.jobs)
        self.monitor = monitor
        self.report = report
        self.cancel = cancel
        self.skipped: dict[str, str] = {}
        self.done = existing
        self.failure = ""
        self.started = time.monotonic()
        self.last_progress = 0.0

    def process(self, pool: ProcessPoolExecutor, stop: Any, batches: list[list[int]], max_in_flight: int) -> None:
        """Run the batches to the end, a cancel or the first failure."""
        in_flight: set[Future[list[JobResult]]] = set()
        next_batch = 0
        while next_batch < len(batches) or in_flight:
            if self.cancel.cancelled:
                self._cancel(stop, in_flight)
                break
            while next_batch < len(batches) and len(in_flight) < max_in_flight:
                in_flight.add(pool.submit(process_batch, str(self.features_dir), self._batch(batches[next_batch])))
                next_batch += 1
            finished, in_flight = wait(in_flight, timeout=0.25, return_when=FIRST_COMPLETED)
            self._collect(finished)
            if self.failure:
                break
            self._progress(all_back=next_batch == len(batches) and not in_flight)
            self.monitor.tick(self.report)

    def _batch(self, indices: list[int]) -> list[BatchJob]:
        jobs = self.plan.jobs
        return [BatchJob(i, (j := jobs[i]).source, j.output, j.variant, j.seed, j.start_s) for i in indices]

    def _cancel(self, stop: Any, in_flight: set[Future[list[JobResult]]]) -> None:
        """Stop the workers and count what the running batches finished."""
        # Workers stop before their next file; batches not started are dropped; the files the running ones
        # finished are counted, so the summary equals what is on disk.
        stop.set()
        for future in in_flight:
            future.cancel()
        finished, _ = wait(in_flight, timeout=CANCEL_WAIT_S)
        for future in finished:
            if not future.cancelled() and future.exception() is None:
                self._count(future.result())

    def _collect(self, finished: set[Future[list[JobResult]]]) -> None:
        """Count the finished batches; a dead worker ends the run (unless a cancel killed it)."""
        for future in finished:
            try:
                results = future.result()
            except BrokenProcessPool:
                if self.cancel.cancelled:  # Ctrl-C while workers were starting: a stop, not a crash
                    return
                self.failure = (
                    f"features: a worker process died (out of memory or killed?); {self.done} of {self.total} "
                    "files are done, re-run to resume (or lower features.workers)"
                )
                return
            problem = self._count(results)
            self.failure = self.failure or problem

    def _count(self, results: list[JobResult]) -> str:
        """Add a batch's results to the counts; returns a failure message, if any."""
        problem = ""
        for index, status, message, size in results:
            if status == "ok":
                self.monitor.add_written(size)
                self.done += 1
            elif status == "skip":
                self.skipped[self.plan.jobs[index].output] = message
                self.done += 1
            else:
                problem = problem or self._write_failure(index, status, message)
        return problem

    def _write_failure(self, index: int, status: str, message: str) -> str:
        if status == "nospace":
            return (
                f"features: disk full while writing {self.features_dir} ({message}); free some space and re-run to "
                "resume"
            )
        return f"features: cannot write {self.features_dir / self.plan.jobs[index].output}: {message}"

    def _progress(self, all_back: bool) -> None:
        """Files done, rate and time left, at most every 0.1 s (and once when the last batch is back)."""
        now = time.monotonic()
        if self.done > self.existing and (now - self.last_progress >= 0.1 or all_back):
            self.last_progress = now  # (until the first file is back, the "starting workers" line stands)
            rate = (self.done - self.existing) / max(now - self.started, 1e-9)
            eta = (self.total - self.done) / rate if rate > 0 else None
            self.report(Progress(STAGE, self.done, self.total, rate=rate, eta_s=eta, unit="files"))

    def report_stop(self) -> None:
        """After a cancel or failure, the count shown is what is on disk, not the last tick before the stop."""
        if self.cancel.cancelled or self.failure:
            message = "cancelled" if self.cancel.cancelled else "stopped"
            self.report(Progress(STAGE, self.done, self.total, unit="files", message=message))

    def raise_if_stopped(self) -> None:
        """A failure raises KwtuiError (its temp files removed), a cancel raises Cancelled."""
        if self.failure:
            _remove_temp_files(self.features_dir)
            raise KwtuiError(self.failure)
        if self.cancel.cancelled:
            raise Cancelled(f"features: {self.done} of {self.total} files done; re-run to resume")


def _write_outputs(
    layout: RunLayout,
    plan: ClipPlan,
    scan: Any,
    params: dict[str, Any],
    skipped: dict[str, str],
    converted: list[tuple[str, str]],
    skipped_items: list[tuple[str, str]],
) -> dict[str, Any]:
    rows: dict[str, list[tuple[str, str]]] = {s: [] for s in SPLITS}
    counts: dict[str, dict[str, int]] = {s: {c: 0 for c in plan.classes} for s in SPLITS}
    for job in plan.jobs:
        if job.output in skipped:
            continue
        rows[job.split].append((job.output, job.label))
        counts[job.split][job.label] = counts[job.split].get(job.label, 0) + 1
    manifests: dict[str, str] = {}
    for split in SPLITS:
        buffer = io.StringIO()
        table = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_ALL)  # a name may hold \r or ","
        table.writerow(("path", "label"))
        table.writerows(rows[split])
        manifests[split] = buffer.getvalue()
    root = str(scan.path)
    info = {
        "format": FORMAT_VERSION,
        "dataset": str(Path(root).resolve()),
        "classes": plan.classes,
        "feature": params["feature"],
        "augmentation": {
            k: params[k] for k in ("variants", "time_shift_ms", "noise_snr_db", "augment", "augment_negatives", "seed")
        },
        "background_stride_s": params["background_stride_s"],
        "splits_from": "lists" if scan.validation_list is not None or scan.testing_list is not None else "hash",
        "counts": counts,
        "files": sum(sum(c.values()) for c in counts.values()),
        "skipped": [{"path": p, "reason": r} for p, r in skipped_items],
        "converted": [{"path": p, "notes": n} for p, n in converted],
        "negatives": negative_sources(plan.noise_regions, root),
        "noise_regions": [vars(r) for r in plan.noise_regions],
    }
    # The manifests and their record form one unit; the record (features.json) is committed last.
    with writer.unit(layout.features_dir) as unit:
        for split, text in manifests.items():
            unit.add(layout.manifest(split), text.encode("utf-8", "surrogateescape"))  # names keep their bytes
        record = records.StageRecord("features", records.digest(params), list(plan.classes), body=info)
        unit.add(layout.features_info, record.to_json().encode("utf-8"))
    return info


def negative_sources(regions: list[NoiseRegion], root: str) -> list[dict[str, Any]]:
    """Each folder of running speech or noise the plan uses (relative to the dataset, or absolute), with its kind,
    files and minutes per split."""
    sources: dict[tuple[str, str], dict[str, Any]] = {}
    for region in regions:
        folder = os.path.dirname(_relative(region.file, root)) or "."
        entry = sources.setdefault(
            (folder, region.kind),
            {"folder": folder, "kind": region.kind, "files": set(), "minutes": {split: 0.0 for split in SPLITS}},
        )
        entry["files"].add(region.file)
        entry["minutes"][region.split] += (region.end_s - region.start_s) / 60
    return [
        {**e, "files": len(e["files"]), "minutes": {k: round(v, 2) for k, v in e["minutes"].items()}}
        for e in sources.values()
    ]


def _relative(path: str, root: str) -> str:
    """Plan paths are os.path.join(root, word, name): slicing gives what os.path.relpath does, without its
    normalisation (called once per clip)."""
    return path[len(root) + 1 :] if path.startswith(root + os.sep) else path
