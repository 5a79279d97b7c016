"""Evaluation stage: how the detector does where it will be used, and the operating point for the device.

- Isolated test clips give the confusion matrix and per-class precision/recall.
- The model slides over continuous **ambient audio** built from held-out material only (kwtui.core.data.ambient:
  other words and running speech over noise at a range of SNRs, noise alone, and the user's own long recordings)
  with hop `evaluate.hop_ms`. Its scores go through the firmware's post-processing (the vectorized form of
  `postprocess.PostProcessor`, which the C++ is checked against): averaging window, threshold, refractory
  period. False accepts per hour are counted there, with the hours of audio they rest on.
- Held-out keyword clips are placed inside the same kind of audio; a keyword is found when the post-processing
  detects it (the right keyword) while its window covers the clip. FRR per keyword, with 95 % intervals.
- Every averaging window x threshold gives a point of the FRR / FA-per-hour curve; with
  `evaluate.target_fa_per_hour` > 0 the point meeting it with the lowest FRR is the operating point that
  conversion writes into model.h and the partition image.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from kwtui.core import esphome_rules, stats
from kwtui.core import events as ev
from kwtui.core.cross_fit import cross_fitted
from kwtui.core.data import ambient, micro_frontend
from kwtui.core.data import noise as noise_files
from kwtui.core.data.audio import BadAudio, load_clip
from kwtui.core.data.frontends import frontend
from kwtui.core.data.plan import speaker_of
from kwtui.core.data.spectrogram import CLIP_SAMPLES, SAMPLE_RATE, spectrogram
from kwtui.core.detection_curve import Scored, choose_per_keyword, combined_point, detection_curve
from kwtui.core.errors import UserError
from kwtui.core.features.store import Split, check_files, features_info, load_batch, load_splits, sigmoid_output
from kwtui.core.io import records, run_folder, writer
from kwtui.core.io.layout import RunLayout
from kwtui.core.model import predicted_classes
from kwtui.core.operating_point import best_point, choose_for_target
from kwtui.core.postprocess import detect_indices, keyword_means
from kwtui.core.preset import Preset
from kwtui.core.report import (
    AmbientAudio,
    ClassFigures,
    ConfusionMatrix,
    CrossFitted,
    CurvePoint,
    KeywordPlacements,
    KeywordPoint,
    OperatingPoint,
    Report,
)

STAGE = "evaluate"
CHUNK = 64  # clips per prediction call: memory stays flat with the size of the test split (TF keeps what a call used)
WINDOW_BATCH = 64  # sliding windows per prediction call (larger batches only add TF working memory)
AVERAGE_SPAN_MS = 500  # the curve's averaging windows cover up to this much audio (latency grows with each)
THRESHOLDS = sorted(
    {
        round(float(t), 3)
        for t in np.concatenate([np.arange(0.05, 0.9, 0.05), np.arange(0.9, 0.99, 0.01), [0.99, 0.995, 0.998, 0.999]])
    }
)


def predict_chunks(
    model: Any, items: list[Any], load: Any, cancel: ev.CancelToken, report: ev.Reporter, what: str
) -> np.ndarray:
    """Predict over `items` in chunks of CHUNK, loading each chunk with `load(items_slice)`."""
    outputs = []
    started = time.monotonic()
    for start in range(0, len(items), CHUNK):
        cancel.raise_if_cancelled()
        x = load(items[start : start + CHUNK])
        outputs.append(np.asarray(model(x), dtype=np.float32).reshape(len(x), -1))
        done = min(start + CHUNK, len(items))
        rate = done / max(time.monotonic() - started, 1e-6)
        report(ev.Progress(STAGE, done, len(items), rate, (len(items) - done) / rate, "windows", what))
    return np.concatenate(outputs) if outputs else np.zeros((0, 1), np.float32)


def stream_scores(
    model: Any,
    chunks: Iterable[np.ndarray],
    samples: int,
    hop: int,
    cancel: ev.CancelToken,
    report: ev.Reporter,
    what: str,
    frontend_name: str = "spectrogram",
) -> tuple[np.ndarray, float]:
    """The outputs of `model` (a callable: features batch -> outputs) for every 1 s window every `hop` samples of
    a stream given in chunks, holding one chunk and one batch of windows at a time.
    Returns (scores, windows per second of wall time)."""
    total = max(0, (samples - CLIP_SAMPLES) // hop + 1)
    outputs: list[np.ndarray] = []
    batch = np.empty((WINDOW_BATCH, *frontend(frontend_name).input_shape), np.float32)
    filled = done = 0
    started = time.monotonic()

    def flush() -> None:
        nonlocal filled, done
        if filled:
            outputs.append(np.asarray(model(batch[:filled]), dtype=np.float32).reshape(filled, -1))
            done += filled
            filled = 0
            rate = done / max(time.monotonic() - started, 1e-6)
            report(ev.Progress(STAGE, done, total, rate, (total - done) / rate, "windows", what))

    windows = _micro_windows(chunks, hop) if frontend_name == "micro" else _spectrogram_windows(chunks, hop)
    for features in windows:
        batch[filled, :, :, 0] = features
        filled += 1
        if filled == WINDOW_BATCH:
            flush()
            cancel.raise_if_cancelled()
    flush()
    rate = done / max(time.monotonic() - started, 1e-6)
    scores = np.concatenate(outputs) if outputs else np.zeros((0, 1), np.float32)
    if frontend_name == "micro":  # ESPHome's model: its uint8 output, averaged / 255
        scores = esphome_rules.device_probabilities(scores)
    return scores, rate


def curve_windows(hop_ms: float, preset_window: int) -> list[int]:
    """Averaging windows 1.. up to AVERAGE_SPAN_MS of outputs (1-5 at a 100 ms hop; 1-16 at the streaming model's
    30 ms), never more than the firmware keeps."""
    from kwtui.core.device.model_image import MAX_AVERAGE_WINDOW

    longest = min(MAX_AVERAGE_WINDOW, max(5, int(round(AVERAGE_SPAN_MS / hop_ms))))
    return sorted(set(range(1, longest + 1)) | {preset_window})


def curve_thresholds(frontend_name: str, preset_threshold: float) -> list[float]:
    """The thresholds of the curve: ESPHome's models stop where its host runtime could never fire."""
    limit = esphome_rules.MAX_CUTOFF if frontend_name == "micro" else 1.0
    return sorted(t for t in set(THRESHOLDS) | {round(preset_threshold, 6)} if t <= limit)


def _spectrogram_windows(chunks: Iterable[np.ndarray], hop: int) -> Iterable[np.ndarray]:
    """kwtui's spectrogram of every 1 s window every `hop` samples (each window normalized on its own, as the
    firmware does)."""
    buffer = np.zeros(0, np.float32)
    buffer_start = position = 0  # sample index of buffer[0] and of the next window's start
    for chunk in chunks:
        buffer = np.concatenate([buffer[position - buffer_start :], chunk])
        buffer_start = position
        while position + CLIP_SAMPLES <= buffer_start + len(buffer):
            at = position - buffer_start
            yield spectrogram(buffer[at : at + CLIP_SAMPLES])
            position += hop


def _micro_windows(chunks: Iterable[np.ndarray], hop: int) -> Iterable[np.ndarray]:
    """The micro frontend run once over the whole stream (its noise estimate and gain carry on, as on the chip);
    the window starting at sample p is the 98 slices from slice p / 160 on (`hop` is a multiple of 160)."""
    stream = micro_frontend.FeatureStream()
    slices = np.zeros((0, micro_frontend.CHANNELS), np.float32)
    first = 0  # slice index of slices[0]
    step = hop // micro_frontend.STEP_SAMPLES
    at = 0  # slice index of the next window's first slice
    for chunk in chunks:
        slices = np.concatenate([slices[at - first :], stream.push(chunk)])
        first = at
        while at + micro_frontend.N_FRAMES <= first + len(slices):
            yield slices[at - first : at - first + micro_frontend.N_FRAMES]
            at += step


def classification_report(
    probs: np.ndarray, labels: np.ndarray, names: list[str], sigmoid: bool
) -> tuple[float | None, ConfusionMatrix, dict[str, ClassFigures]]:
    """(accuracy, confusion matrix, precision / recall / support per class) on the isolated test clips."""
    predicted = predicted_classes(probs, sigmoid)
    n = len(names)
    confusion = np.zeros((n, n), dtype=int)
    np.add.at(confusion, (labels, predicted), 1)
    per_class: dict[str, ClassFigures] = {}
    for i, name in enumerate(names):
        tp = int(confusion[i, i])
        predicted_i, actual_i = int(confusion[:, i].sum()), int(confusion[i].sum())
        per_class[name] = ClassFigures(
            round(tp / predicted_i, 4) if predicted_i else None, round(tp / actual_i, 4) if actual_i else None, actual_i
        )
    accuracy = round(float(np.mean(predicted == labels)), 4) if len(labels) else None
    return accuracy, ConfusionMatrix(tuple(names), tuple(tuple(int(v) for v in row) for row in confusion)), per_class


def _resolve(entry: dict[str, Any], preset: Preset, info: dict[str, Any]) -> Path:
    """A region's `file`; relative paths are inside the dataset the features were made from."""
    path = Path(entry.get("file") or "")
    return path if path.is_absolute() else Path(info.get("dataset") or preset.dataset_path) / path


def _cached_regions(
    entries: list[dict[str, Any]], kind: str, preset: Preset, info: dict[str, Any], report: ev.Reporter
) -> list[ambient.Region]:
    """Held-out regions of long files, read through the 16 kHz cache (converted once, block by block)."""
    cache_dir = RunLayout(preset).noise_cache_dir
    regions = []
    for entry in entries:
        path = _resolve(entry, preset, info)
        cache = _prepare(path, cache_dir, report)
        if cache is None:
            continue
        size = cache.stat().st_size // 4
        start = int(round(float(entry.get("start_s", 0.0)) * SAMPLE_RATE))
        end = min(size, int(round(float(entry.get("end_s", size / SAMPLE_RATE)) * SAMPLE_RATE)))
        if end - start >= CLIP_SAMPLES:
            regions.append(ambient.Region(str(cache), start, end, kind, path.name))
    return regions


def _prepare(path: Path, cache_dir: Path, report: ev.Reporter) -> Path | None:
    try:
        return noise_files.prepare(path, cache_dir)
    except BadAudio as exc:
        report(ev.StageWarning(STAGE, f"skipped: {exc}", str(path)))
    except OSError as exc:
        report(ev.StageWarning(STAGE, f"skipped: cannot read ({exc.strerror or exc})", str(path)))
    return None


def held_out_material(
    preset: Preset, info: dict[str, Any], test: Split, features_dir: Path, report: ev.Reporter
) -> ambient.Material:
    """Everything evaluation may play: the test split (never trained on) and the user's ambient recordings."""
    material = ambient.Material()
    _add_test_clips(material, preset, Path(info.get("dataset") or preset.dataset_path), test, features_dir)
    test_regions = [r for r in info.get("noise_regions") or [] if r.get("split") == "test"]
    material.noise = _cached_regions(
        [r for r in test_regions if r.get("kind", "noise") == "noise"], "noise", preset, info, report
    )
    material.speech = _cached_regions(
        [r for r in test_regions if r.get("kind") == "speech"], "speech", preset, info, report
    )
    material.recordings = _ambient_recordings(preset, report)
    return material


def _add_test_clips(material: ambient.Material, preset: Preset, dataset: Path, test: Split, features_dir: Path) -> None:
    """The test split's clips, keywords and other words, read from their wavs: feature files mirror the dataset
    (<word>/<clip>.npy <- <word>/<clip>.wav)."""
    keywords = list(preset.classes.keywords)
    for path in test.paths:
        relative = path.relative_to(features_dir)
        word = relative.parts[0]
        if word.startswith("_") or "__v" in path.stem:
            continue  # windows of noise or running speech (their regions are used whole), augmented copies, run-ons
        kind = "keyword" if word in keywords else "words"
        wav = dataset / relative.with_suffix(".wav")
        region = ambient.Region(str(wav), 0, CLIP_SAMPLES, kind, word, is_clip=True, speaker=speaker_of(wav.name))
        said = ambient.said(region, _clip_samples(region.source))
        if word in keywords:
            material.keywords.append((said, keywords.index(word)))
        else:
            material.words.append(region)
            material.said_words.setdefault(region.speaker, []).append(said)


def _clip_samples(path: str) -> np.ndarray:
    """A held-out clip's 16 kHz samples as evaluation plays it (silence for one the features stage reported)."""
    try:
        return load_clip(path).samples
    except (BadAudio, OSError):
        return np.zeros(CLIP_SAMPLES, np.float32)


def _ambient_recordings(preset: Preset, report: ev.Reporter) -> list[ambient.Region]:
    """evaluate.ambient_folders' recordings, converted once into the noise cache. A folder the user named is used,
    never silently skipped: one missing, or giving no usable recording, is refused."""
    files, problems = ambient.recordings_in(list(preset.evaluate.ambient_folders))
    for where, why in problems:
        if str(where) in map(str, preset.evaluate.ambient_folders):
            raise UserError(f"evaluate.ambient_folders: {where}: {why}; fix the path or remove it from the preset")
        report(ev.StageWarning(STAGE, f"evaluate.ambient_folders: skipped ({why})", str(where)))
    cache_dir = RunLayout(preset).noise_cache_dir
    recordings, used = [], set()
    for path in files:
        cache = _prepare(path, cache_dir, report)
        if cache is not None and cache.stat().st_size // 4 >= CLIP_SAMPLES:
            recordings.append(ambient.Region(str(cache), 0, cache.stat().st_size // 4, "recording", path.name))
            used.add(path)
    for folder in preset.evaluate.ambient_folders:
        if not any(path.is_relative_to(folder) for path in used):
            raise UserError(
                f"evaluate.ambient_folders: {folder}: no usable recording (a .wav of at least 1 s); add your "
                "recordings there or remove the folder from the preset"
            )
    return recordings


class _Reader:
    """Reads regions for rendering: clips decoded whole (one kept), cache files by plain reads."""

    def __init__(self) -> None:
        self.last: tuple[str, np.ndarray] | None = None

    def __call__(self, region: ambient.Region, start: int, end: int) -> np.ndarray:
        if not region.is_clip:
            return ambient.read_cache_region(region.source, start, end)
        if self.last is None or self.last[0] != region.source:
            self.last = (region.source, _clip_samples(region.source))
        return self.last[1][start:end]


def run_evaluate(preset: Preset, report: ev.Reporter, cancel: ev.CancelToken) -> dict[str, Any]:
    layout = RunLayout(preset)
    with run_folder.writing(layout.run_dir, "run_dir", STAGE), run_folder.reading(layout.features_dir, STAGE):
        return _evaluate(preset, layout, report, cancel)


def load_scorer(layout: RunLayout, source: Path) -> Any:
    """The trained model as a TFLM float scorer (no TensorFlow in this process)."""
    from kwtui.core.float_model import TflmScorer, float_model

    preset = layout.preset
    n_outputs, sigmoid_units = preset.model_outputs
    tflite = float_model(
        source, layout.float_tflite, records.train_run_id(layout), preset.train.model, n_outputs, sigmoid_units
    )
    return TflmScorer(tflite)


def choose_detector(
    scored: Scored, curve: list[CurvePoint], preset: Preset, hours: float | None = None
) -> tuple[CurvePoint, list[float], list[int], bool, str, dict[str, KeywordPoint] | None]:
    """The operating point the device gets: for evaluate.target_fa_per_hour, a threshold and window per keyword for
    command words (each keyword's share of the target) or one point on the curve; without a target, the preset's
    own threshold and window. `hours`: the audio whose length decides whether the target is measurable (default
    `scored`'s). -> (the point, thresholds and windows per keyword, target met, how it was chosen, the keywords'
    own points)"""
    hours = scored.hours if hours is None else hours
    cfg = preset.evaluate
    target = cfg.target_fa_per_hour
    count = len(scored.keyword_indices)
    if target > 0 and count > 1:
        windows = curve_windows(cfg.hop_ms, cfg.average_window)
        thresholds = curve_thresholds(preset.features.frontend, cfg.threshold)
        points, met = choose_per_keyword(scored, list(windows), list(thresholds), target, hours)
        chosen_thresholds = [p.point.threshold for p in points]
        chosen_windows = [p.point.average_window for p in points]
        chosen = combined_point(scored, chosen_thresholds, chosen_windows)
        met = met and chosen.false_accepts_per_hour is not None and chosen.false_accepts_per_hour <= target
        per_keyword_points = dict(zip(scored.keywords, points, strict=True))
        reasons: dict[str, list[str]] = {}  # each fallback reason once, with the keywords it applies to
        for kw, kp in per_keyword_points.items():
            if not kp.met:
                reasons.setdefault(kp.chosen_by.replace(f"{kp.share_fa_per_hour:g} FA/h", "its share"), []).append(kw)
        why_not = "; ".join(f"{', '.join(kws)}: {why}" for why, kws in reasons.items()) or (
            "each met its share, together they fire more often than the target"
        )
        chosen_by = "target, per keyword" if met else f"per keyword (a share of the target each); {why_not}"
        return chosen, chosen_thresholds, chosen_windows, met, chosen_by, per_keyword_points
    if target > 0:
        choice = choose_for_target(curve, target, hours)
        chosen, met, chosen_by = choice.point, choice.meets_target, choice.chosen_by
    else:
        chosen = next(
            p for p in curve if p.average_window == cfg.average_window and abs(p.threshold - cfg.threshold) < 1e-9
        )
        met, chosen_by = False, "preset (evaluate.threshold and evaluate.average_window)"
    return chosen, [chosen.threshold] * count, [chosen.average_window] * count, met, chosen_by, None


def chosen_again(half: Scored, preset: Preset, hours: float, cancel: ev.CancelToken) -> tuple[list[float], list[int]]:
    """choose_detector's thresholds and windows on half of the audio (kwtui.core.cross_fit), by the rule the whole
    audio's `hours` call for (a target measurable on the whole is the target rule on each half, not the fallback);
    the curve only where the choice reads it (one keyword)."""
    cancel.raise_if_cancelled()
    cfg = preset.evaluate
    per_keyword = len(half.keyword_indices) > 1
    windows = curve_windows(cfg.hop_ms, cfg.average_window)
    thresholds = curve_thresholds(preset.features.frontend, cfg.threshold)
    curve = [] if per_keyword else detection_curve(half, windows, thresholds)
    _, chosen_thresholds, chosen_windows, *_ = choose_detector(half, curve, preset, hours)
    return chosen_thresholds, chosen_windows


def _evaluate(preset: Preset, layout: RunLayout, report: ev.Reporter, cancel: ev.CancelToken) -> dict[str, Any]:
    from kwtui.core.stages.train import trained_model_path

    started = time.monotonic()
    cfg = preset.evaluate
    source = trained_model_path(layout, "evaluate")
    info = features_info(layout)
    test: Split = load_splits(layout, ("test",))["test"]
    if len(test) == 0:
        raise UserError(f"{layout.manifest('test')}: no test clips; add clips or raise dataset.testing_percent")
    check_files(test.paths, report, cancel, STAGE)
    report(ev.Started(STAGE, total=len(test), unit="clips", message=f"evaluating {source.name}"))
    model = load_scorer(layout, source)
    sigmoid = sigmoid_output(preset)
    keywords = list(preset.classes.keywords)
    names = ["_other", keywords[0]] if sigmoid else list(preset.class_names)

    probs = predict_chunks(model, test.paths, load_batch, cancel, report, "test clips")
    accuracy, confusion, per_class = classification_report(probs, test.labels, names, sigmoid)

    material = held_out_material(preset, info, test, layout.features_dir, report)
    seed = preset.features.seed
    hop = max(1, int(round(cfg.hop_ms * SAMPLE_RATE / 1000)))
    snr = (float(cfg.snr_db[0]), float(cfg.snr_db[1]))
    ambient_plan = ambient.ambient_stream(material, snr, seed)
    keyword_plan = ambient.keyword_stream(material, snr, seed)
    reader = _Reader()
    ambient_scores, ambient_rate = stream_scores(
        model,
        ambient.render(ambient_plan, reader),
        ambient_plan.samples,
        hop,
        cancel,
        report,
        "sliding over ambient audio",
        preset.features.frontend,
    )
    keyword_scores_, _ = stream_scores(
        model,
        ambient.render(keyword_plan, reader),
        keyword_plan.samples,
        hop,
        cancel,
        report,
        "keywords inside ambient audio",
        preset.features.frontend,
    )
    keyword_indices = [0] if sigmoid else list(range(len(keywords)))
    scored = Scored(
        ambient_scores,
        keyword_scores_,
        keyword_plan,
        keywords,
        keyword_indices,
        cfg.hop_ms,
        cfg.refractory_ms,
        ambient_plan.seconds / 3600.0,
    )
    hours = scored.hours
    cancel.raise_if_cancelled()
    curve = detection_curve(
        scored, curve_windows(cfg.hop_ms, cfg.average_window), curve_thresholds(preset.features.frontend, cfg.threshold)
    )
    target = cfg.target_fa_per_hour
    chosen, chosen_thresholds, chosen_windows, met, chosen_by, per_keyword_points = choose_detector(
        scored, curve, preset
    )
    unseen = (  # a point the preset fixed was not chosen on this audio: nothing to cross-fit
        cross_fitted(scored, lambda half: chosen_again(half, preset, scored.hours, cancel)) if target > 0 else None
    )
    placed = np.array([k[1] for k in keyword_plan.keywords], dtype=int)
    per_keyword_clips = {kw: int(np.sum(placed == i)) for i, kw in enumerate(keywords)}
    sources = _false_accept_sources(
        ambient_scores,
        chosen_thresholds,
        chosen_windows,
        ambient_plan,
        keyword_indices,
        cfg.hop_ms,
        cfg.refractory_ms,
        hop,
    )
    needed = ambient.needed_hours(target)
    support_warnings = _support_warnings(hours, target, needed, per_keyword_clips, material)
    for message in support_warnings:
        report(ev.StageWarning(STAGE, message))
    op = OperatingPoint(
        chosen,
        tuple(chosen_thresholds),
        tuple(chosen_windows),
        cfg.refractory_ms,
        cfg.hop_ms,
        chosen_by,
        met,
        false_reject_rate_ci=stats.rounded(stats.wilson_interval(chosen.misses, len(placed)), 4),
        per_keyword_false_reject_rate_ci={
            kw: stats.rounded(stats.wilson_interval(int(round(frr * per_keyword_clips[kw])), per_keyword_clips[kw]), 4)
            for kw, frr in (chosen.per_keyword_false_reject_rate or {}).items()
        },
        per_keyword_clips=per_keyword_clips,
        false_accepts_per_hour_ci=(
            stats.rounded(stats.poisson_rate_interval(chosen.false_accepts, hours), 3)
            if chosen.false_accepts is not None
            else None
        ),
        false_accepts_by_source=sources["by_kind"],
        false_accepts_by_word=sources["by_word"],
        per_keyword_points=per_keyword_points,
        unseen=unseen,
    )
    held_out = source != layout.final_model
    evaluation = Report(
        fingerprint=records.report_fingerprint(layout),
        labels=tuple(preset.class_names),
        preset=preset.name,
        model=str(source),
        test_held_out=held_out,
        note="" if held_out else "final-fit-all model: it was trained on the test split, figures are optimistic",
        test_clips=len(test),
        accuracy=accuracy,
        confusion_matrix=confusion,
        per_class=per_class,
        ambient=AmbientAudio(
            round(ambient_plan.seconds, 1),
            round(hours, 4),
            ambient_plan.seconds_by_kind(),
            {
                "other_word_clips": len(material.words),
                "speech_regions": len(material.speech),
                "noise_regions": len(material.noise),
                "recordings": len(material.recordings),
            },
            snr,
            int(len(ambient_scores)),
        ),
        keyword_placements=KeywordPlacements(len(placed), per_keyword_clips, round(keyword_plan.seconds, 1)),
        target_fa_per_hour=target,
        needed_hours=round(needed, 2),
        support_warnings=tuple(support_warnings),
        operating_point=op,
        curve=tuple(curve),
    )
    verdict = evaluation.verdict
    write_reports(layout, evaluation)
    summary = {
        "verdict": verdict.line(),
        "next_steps": verdict.next_steps,
        "accuracy": accuracy,
        "threshold": chosen.threshold,
        "average_window": chosen.average_window,
        "false_reject_rate": chosen.false_reject_rate,
        "false_accepts_per_hour": chosen.false_accepts_per_hour,
        "ambient_hours": round(hours, 3),
        "target_fa_per_hour": target,
        "meets_target": met,
        # the same rule's figures on audio it did not choose on (kwtui.core.cross_fit): the verdict quotes the misses
        "unseen_false_reject_rate": unseen.false_reject_rate if unseen else None,
        "unseen_false_accepts_per_hour": unseen.false_accepts_per_hour if unseen else None,
        "windows_per_second": round(ambient_rate, 1),
        "test_clips": len(test),
        "test_held_out": held_out,
        "report": str(layout.report_txt),
        "seconds": round(time.monotonic() - started, 1),
    }
    report(ev.Metric(STAGE, "test_accuracy", float(accuracy) if accuracy is not None else float("nan")))
    report(ev.Finished(STAGE, summary))
    return summary


def _false_accept_sources(
    scores: np.ndarray,
    thresholds: list[float],
    windows: list[int],
    stream: ambient.Stream,
    keyword_indices: list[int],
    hop_ms: float,
    refractory_ms: float,
    hop: int,
) -> dict[str, dict[str, int]]:
    """Where the operating point's false accepts (a threshold and window per keyword) happened: by kind of audio,
    and by other word (near misses)."""
    by_kind: dict[str, int] = {}
    by_word: dict[str, int] = {}
    if not len(scores):
        return {"by_kind": by_kind, "by_word": by_word}
    at, _ = detect_indices(
        keyword_means(scores, keyword_indices, windows), keyword_indices, hop_ms, thresholds, refractory_ms, True
    )
    middles = [int(index) * hop + CLIP_SAMPLES // 2 for index in at]  # the middle of each window
    for kind, label in stream.kinds_at(middles):
        by_kind[kind] = by_kind.get(kind, 0) + 1
        if kind == "words":
            by_word[label] = by_word.get(label, 0) + 1
    return {"by_kind": by_kind, "by_word": dict(sorted(by_word.items(), key=lambda kv: -kv[1]))}


def _support_warnings(
    hours: float, target: float, needed: float, clips: dict[str, int], material: ambient.Material
) -> list[str]:
    """What the figures cannot support: a rate from too little ambient audio, FRR from a handful of clips."""
    found = []
    if hours <= 0:
        found.append(
            "no held-out ambient audio (no test _unknown clips, running speech, noise or "
            "evaluate.ambient_folders): false accepts per hour not measured"
        )
    elif target > 0 and hours < needed:
        found.append(
            f"ambient audio is {hours * 60:.1f} min: too short to support {target:g} false accepts/h "
            f"(needs {needed:g} h; add {needed - hours:.1f} h of recordings without the keywords to "
            "evaluate.ambient_folders)"
        )
    elif target <= 0 and hours < stats.MIN_HOURS_PER_RATE:
        found.append(
            f"false accepts/h rest on {hours * 60:.1f} min of ambient audio: too little for a rate "
            f"(about {stats.MIN_HOURS_PER_RATE:g} h needed; see the 95 % interval)"
        )
    if not material.speech and not material.recordings:
        found.append(
            "no running speech in the ambient audio (only isolated words and noise): add recordings of "
            "conversation without the keywords to classes.negative_speech or evaluate.ambient_folders"
        )
    few = [f"{kw} ({n})" for kw, n in clips.items() if n < stats.MIN_CLIPS_PER_KEYWORD]
    if few:
        found.append(
            f"FRR rests on few test clips: {', '.join(few)}; about {stats.MIN_CLIPS_PER_KEYWORD} per keyword "
            "needed (see the 95 % interval)"
        )
    return found


def _fmt(value: Any, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def _interval(ci: tuple[float, float] | None) -> str:
    return "-" if not ci else f"{ci[0]:g}-{ci[1]:g}"


def report_text(data: Report) -> str:
    """report.txt: the verdict and its next steps first, then the isolated clips, the detection figures on the
    ambient audio, and the curve."""
    lines = [data.verdict.line(), *(f"  next: {step}" for step in data.verdict.next_steps), ""]
    lines += _clip_lines(data) + [""] + _detection_lines(data) + [""] + _curve_lines(data)
    return "\n".join(lines) + "\n"


def _clip_lines(data: Report) -> list[str]:
    """What the model says about isolated held-out clips: accuracy, per class, the confusion matrix."""
    lines = [f"kwtui evaluation: {data.preset}", f"model: {data.model}"]
    if not data.test_held_out:
        lines.append(f"NOTE: {data.note}")
    lines.append(f"isolated test clips: {data.test_clips}   accuracy: {_fmt(data.accuracy)}")
    lines += ["", f"{'class':<16}{'precision':>10}{'recall':>10}{'support':>9}"]
    for name, figures in data.per_class.items():
        lines.append(f"{name:<16}{_fmt(figures.precision):>10}{_fmt(figures.recall):>10}{figures.support:>9}")
    cm = data.confusion_matrix
    width = max(8, *(len(n) + 1 for n in cm.labels))
    lines += ["", "confusion matrix (rows: true, columns: predicted)"]
    lines.append(" " * width + "".join(f"{n:>{width}}" for n in cm.labels))
    for name, cells in zip(cm.labels, cm.rows_true_cols_predicted):
        lines.append(f"{name:<{width}}" + "".join(f"{v:>{width}}" for v in cells))
    return lines


def _detection_lines(data: Report) -> list[str]:
    """The ambient audio, the keywords placed in it, and the operating point's misses and false accepts."""
    op, amb, kp = data.operating_point, data.ambient, data.keyword_placements
    point = op.point
    kinds = ", ".join(f"{k} {v:g} s" for k, v in amb.seconds_by_kind.items())
    target = data.target_fa_per_hour
    return [
        f"ambient audio (held out): {amb.hours:.3f} h = {amb.seconds:g} s ({kinds}); speech over noise at "
        f"{amb.snr_db[0]:g}-{amb.snr_db[1]:g} dB SNR; {amb.windows} windows",
        f"keywords placed inside ambient audio: {kp.clips} held-out clips "
        + "("
        + ", ".join(f"{k} {n}" for k, n in kp.per_keyword.items())
        + ")",
        "",
        (
            f"operating point ({op.chosen_by}"
            + (f", target {target:g} FA/h" if target > 0 else "")
            + "): "
            + (
                f"threshold {point.threshold:g}, average of last {point.average_window}, "
                if op.per_keyword_points is None
                else "a threshold and window per keyword (below), "
            )
            + f"refractory {op.refractory_ms:.0f} ms, hop {op.hop_ms:.0f} ms"
        ),
        *(
            f"    {kw}: threshold {p.point.threshold:g}, average of last {p.point.average_window} (alone: FRR "
            f"{_fmt(p.point.false_reject_rate)}, {_fmt(p.point.false_accepts, 'd')} false accepts; its share "
            f"{p.share_fa_per_hour:g} FA/h{'' if p.met else ' not met'})"
            for kw, p in (op.per_keyword_points or {}).items()
        ),
        f"  false reject rate: {_fmt(point.false_reject_rate)} (95 % CI {_interval(op.false_reject_rate_ci)})",
        *(
            f"    {kw}: {_fmt(v)} of {op.per_keyword_clips.get(kw, '?')} "
            f"(95 % CI {_interval(op.per_keyword_false_reject_rate_ci.get(kw))})"
            for kw, v in (point.per_keyword_false_reject_rate or {}).items()
        ),
        f"  false accepts: {_fmt(point.false_accepts, 'd')} in {amb.hours:.3f} h = "
        f"{_fmt(point.false_accepts_per_hour, '.2f')} per hour (95 % CI {_interval(op.false_accepts_per_hour_ci)})",
        "  by source: "
        + (", ".join(f"{k} {v}" for k, v in op.false_accepts_by_source.items()) or "none")
        + (
            "; other words: " + ", ".join(f"{k} {v}" for k, v in list(op.false_accepts_by_word.items())[:8])
            if op.false_accepts_by_word
            else ""
        ),
        *_unseen_lines(op.unseen),
        *(f"  WARNING: {w}" for w in data.support_warnings),
    ]


def _unseen_lines(unseen: CrossFitted | None) -> list[str]:
    if unseen is None:
        return ["  on audio it was not chosen on: too few keywords or too little audio to split in two"]
    return [
        "  on audio it was not chosen on (chosen on one half of the keywords and audio, counted on the other; the "
        "verdict quotes these misses):",
        f"    false reject rate {_fmt(unseen.false_reject_rate)} ({unseen.misses} of {unseen.keywords}, 95 % CI "
        f"{_interval(unseen.false_reject_rate_ci)}), {_fmt(unseen.false_accepts_per_hour, '.2f')} false accepts "
        f"per hour (95 % CI {_interval(unseen.false_accepts_per_hour_ci)})",
    ]


def _curve_lines(data: Report) -> list[str]:
    """The best FRR at each false-accept rate, then the threshold sweep at the chosen window."""
    lines = [
        "best FRR at each false-accept rate (whole curve in report.json)",
        f"{'FA/h at most':>13}{'FRR':>8}{'threshold':>11}{'window':>8}",
    ]
    for limit in (0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 50.0):
        best, met = best_point(list(data.curve), limit)
        if met:
            lines.append(f"{limit:>13g}{_fmt(best.false_reject_rate):>8}{best.threshold:>11g}{best.average_window:>8}")
        else:
            lines.append(f"{limit:>13g}{'-':>8}{'':>11}{'':>8}")
    lines += [
        "",
        f"threshold sweep at average window {data.operating_point.point.average_window}",
        f"{'threshold':>10}{'FRR':>8}{'FA/h':>10}",
    ]
    for row in data.threshold_sweep:
        lines.append(
            f"{row.threshold:>10g}{_fmt(row.false_reject_rate):>8}{_fmt(row.false_accepts_per_hour, '.2f'):>10}"
        )
    return lines


def write_reports(layout: RunLayout, data: Report) -> None:
    """report.txt and its record report.json, committed as one unit."""
    writer.write_files(
        {
            layout.report_txt: report_text(data).encode("utf-8"),
            layout.report_json: (json.dumps(data.to_dict(), indent=2) + "\n").encode("utf-8"),
        }
    )
