"""Evaluation stage: test-split confusion matrix, per-class precision/recall, and the keyword operating point.

False accepts per hour: the model slides over the held-out noise regions recorded by the features stage
(`noise_test_regions` in features.json) with hop `evaluate.hop_ms`; each 1 s window goes through the same
`spectrogram()` as training, and the scores through the firmware's post-processing (`postprocess.detect`:
average of the last N, threshold, refractory). False rejects: keyword test clips whose score for their own
keyword is below the threshold (one window per clip, so no averaging). A threshold sweep gives both per threshold.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from kwtui.core.preset import Preset
from kwtui.core import events as ev
from kwtui.core.data.audio import BadAudio, load_clip
from kwtui.core.features.store import Split, check_files, features_info, load_batch, load_splits, sigmoid_output
from kwtui.core.errors import UserError
from kwtui.core import stats
from kwtui.core.data import noise as noise_files
from kwtui.core.io import records, run_folder, writer
from kwtui.core.io.layout import RunLayout
from kwtui.core.postprocess import detect
from kwtui.core.data.spectrogram import CLIP_SAMPLES, SAMPLE_RATE, spectrogram

STAGE = "evaluate"
CHUNK = 256  # clips per prediction call: memory stays flat with the size of the test split
SWEEP = [round(t, 2) for t in np.arange(0.05, 0.951, 0.05)] + [0.97, 0.99]


def predict_chunks(model: Any, items: list[Any], load: Any, cancel: ev.CancelToken, report: ev.Reporter,
                   what: str) -> np.ndarray:
    """Predict over `items` in chunks of CHUNK, loading each chunk with `load(items_slice)`."""
    outputs = []
    started = time.monotonic()
    for start in range(0, len(items), CHUNK):
        cancel.raise_if_cancelled()
        x = load(items[start : start + CHUNK])
        outputs.append(np.asarray(model(x, training=False), dtype=np.float32).reshape(len(x), -1))
        done = min(start + CHUNK, len(items))
        rate = done / max(time.monotonic() - started, 1e-6)
        report(ev.Progress(STAGE, done, len(items), rate, (len(items) - done) / rate, "windows", what))
    return np.concatenate(outputs) if outputs else np.zeros((0, 1), np.float32)


def classification_report(probs: np.ndarray, labels: np.ndarray, names: list[str], sigmoid: bool) -> dict[str, Any]:
    predicted = (probs[:, 0] >= 0.5).astype(int) if sigmoid else probs.argmax(axis=1)
    n = len(names)
    confusion = np.zeros((n, n), dtype=int)
    np.add.at(confusion, (labels, predicted), 1)
    per_class = {}
    for i, name in enumerate(names):
        tp = int(confusion[i, i])
        predicted_i, actual_i = int(confusion[:, i].sum()), int(confusion[i].sum())
        per_class[name] = {
            "precision": round(tp / predicted_i, 4) if predicted_i else None,
            "recall": round(tp / actual_i, 4) if actual_i else None,
            "support": actual_i,
        }
    return {
        "accuracy": round(float(np.mean(predicted == labels)), 4) if len(labels) else None,
        "confusion_matrix": {"labels": names, "rows_true_cols_predicted": confusion.tolist()},
        "per_class": per_class,
    }


def keyword_scores(probs: np.ndarray, labels: np.ndarray, n_keywords: int, sigmoid: bool) -> tuple[np.ndarray, np.ndarray]:
    """Score of each keyword test clip for its own keyword, and its keyword index."""
    if sigmoid:
        mask = labels == 1
        return probs[mask, 0], np.zeros(int(mask.sum()), dtype=int)
    mask = labels < n_keywords
    return probs[mask, labels[mask]], labels[mask]


def _resolve_noise(entry: dict[str, Any], preset: Preset, info: dict[str, Any]) -> Path:
    """`path` or `file`; relative paths are inside the dataset the features were made from."""
    path = Path(entry.get("path") or entry.get("file") or "")
    return path if path.is_absolute() else Path(info.get("dataset") or preset.dataset_path) / path


def noise_windows(preset: Preset, info: dict[str, Any], report: ev.Reporter) -> tuple[list[np.ndarray], float]:
    """The audio of every held-out noise region (at least 1 s long), and the seconds they cover. Read through the
    noise cache (converted once, memory-mapped): only the regions are copied, whatever the noise files' length."""
    regions = []
    seconds = 0.0
    cache_dir = RunLayout(preset).noise_cache_dir
    for entry in info.get("noise_test_regions", []):
        path = _resolve_noise(entry, preset, info)
        try:
            audio = noise_files.open_samples(noise_files.prepare(Path(path), cache_dir))
        except BadAudio as exc:
            report(ev.Warning(STAGE, f"noise region skipped: {exc}", str(path)))
            continue
        except OSError as exc:
            report(ev.Warning(STAGE, f"noise region skipped: cannot read ({exc.strerror or exc})", str(path)))
            continue
        start = int(round(float(entry.get("start_s", 0.0)) * SAMPLE_RATE))
        end = min(len(audio), int(round(float(entry.get("end_s", len(audio) / SAMPLE_RATE)) * SAMPLE_RATE)))
        region = np.array(audio[start:end], dtype=np.float32)
        if len(region) < CLIP_SAMPLES:
            continue
        regions.append(region)
        seconds += len(region) / SAMPLE_RATE
    return regions, seconds


MAX_SPEECH_CLIPS = 1000  # bounds the held-out speech stream: ~17 min of audio, 64 MB


def unknown_speech(preset: Preset, info: dict[str, Any], test: Split, features_dir: Path,
                   report: ev.Reporter) -> tuple[np.ndarray | None, int]:
    """Held-out speech for false accepts: the test split's `_unknown` clips, read from their source wavs
    (feature files mirror the dataset: <word>/<clip>.npy <- <word>/<clip>.wav) and concatenated."""
    if "_unknown" not in preset.class_names or sigmoid_output(preset):
        return None, 0
    unknown = preset.class_names.index("_unknown")
    dataset = Path(info.get("dataset") or preset.dataset_path)
    clips = []
    for path, label in zip(test.paths, test.labels):
        if label != unknown or "__v" in path.stem:
            continue
        source = dataset / path.relative_to(features_dir).with_suffix(".wav")
        try:
            clips.append(load_clip(source).samples)
        except (BadAudio, OSError):
            continue  # the features stage already reported it
        if len(clips) >= MAX_SPEECH_CLIPS:
            break
    if not clips:
        return None, 0
    return np.concatenate(clips), len(clips)


def region_scores(model: Any, region: np.ndarray, hop_ms: float, cancel: ev.CancelToken, report: ev.Reporter) -> np.ndarray:
    hop = max(1, int(round(hop_ms * SAMPLE_RATE / 1000)))
    starts = list(range(0, len(region) - CLIP_SAMPLES + 1, hop))

    def load(chunk: list[int]) -> np.ndarray:
        return np.stack([spectrogram(region[s : s + CLIP_SAMPLES]) for s in chunk])[..., np.newaxis]

    return predict_chunks(model, starts, load, cancel, report, "sliding over held-out noise")


def count_false_accepts(region_score_list: list[np.ndarray], preset: Preset, n_out: int, threshold: float) -> int:
    cfg = preset.evaluate
    labels = [f"c{i}" for i in range(n_out)]
    keyword_indices = [0] if n_out == 1 else list(range(len(preset.classes.keywords)))
    return sum(
        len(detect(scores, labels, keyword_indices, cfg.hop_ms, cfg.average_window, threshold, cfg.refractory_ms))
        for scores in region_score_list
    )


def run_evaluate(preset: Preset, report: ev.Reporter, cancel: ev.CancelToken) -> dict[str, Any]:
    layout = RunLayout(preset)
    with run_folder.writing(layout.run_dir, "run_dir", STAGE):
        return _evaluate(preset, layout, report, cancel)


def _evaluate(preset: Preset, layout: RunLayout, report: ev.Reporter, cancel: ev.CancelToken) -> dict[str, Any]:
    from kwtui.core.stages.train import _load_keras, final_model_path, trained_model_path

    started = time.monotonic()
    source = trained_model_path(layout)
    info = features_info(layout)
    test: Split = load_splits(layout, ("test",))["test"]
    if len(test) == 0:
        raise UserError(f"{layout.manifest('test')}: no test clips; add clips or raise dataset.testing_percent")
    check_files(test.paths, report, cancel, STAGE)
    report(ev.Started(STAGE, total=len(test), unit="clips", message=f"evaluating {source.name}"))
    model = _load_keras(source)
    sigmoid = sigmoid_output(preset)
    keywords = list(preset.classes.keywords)
    names = ["_other", keywords[0]] if sigmoid else list(preset.class_names)

    probs = predict_chunks(model, test.paths, load_batch, cancel, report, "test clips")
    result = classification_report(probs, test.labels, names, sigmoid)
    kw_scores, kw_index = keyword_scores(probs, test.labels, len(keywords), sigmoid)

    regions, noise_seconds = noise_windows(preset, info, report)
    region_score_list = [region_scores(model, r, preset.evaluate.hop_ms, cancel, report) for r in regions]
    hours = noise_seconds / 3600.0
    speech, speech_clips = unknown_speech(preset, info, test, layout.features_dir, report)
    speech_scores = [region_scores(model, speech, preset.evaluate.hop_ms, cancel, report)] if speech is not None else []
    speech_hours = len(speech) / SAMPLE_RATE / 3600.0 if speech is not None else 0.0
    n_out = probs.shape[1]

    def operating_point(threshold: float) -> dict[str, Any]:
        cancel.raise_if_cancelled()
        frr = float(np.mean(kw_scores < threshold)) if len(kw_scores) else None
        fa = count_false_accepts(region_score_list, preset, n_out, threshold) if regions else None
        fa_speech = count_false_accepts(speech_scores, preset, n_out, threshold) if speech_scores else None
        return {
            "threshold": threshold,
            "false_reject_rate": round(frr, 4) if frr is not None else None,
            "false_reject_rate_ci": _rounded(stats.wilson_interval(int(np.sum(kw_scores < threshold)), len(kw_scores)), 4),
            "false_accepts": fa,
            "false_accepts_per_hour": round(fa / hours, 2) if fa is not None and hours > 0 else None,
            "false_accepts_per_hour_ci": _rounded(stats.poisson_rate_interval(fa, hours), 1) if fa is not None else None,
            "speech_false_accepts": fa_speech,
            "speech_false_accepts_per_hour": round(fa_speech / speech_hours, 2) if fa_speech is not None else None,
            "speech_false_accepts_per_hour_ci": (_rounded(stats.poisson_rate_interval(fa_speech, speech_hours), 1)
                                                 if fa_speech is not None else None),
        }

    chosen = operating_point(preset.evaluate.threshold)
    per_keyword_frr = {
        kw: round(float(np.mean(kw_scores[kw_index == i] < preset.evaluate.threshold)), 4)
        for i, kw in enumerate(keywords) if np.any(kw_index == i)
    }
    per_keyword_clips = {kw: int(np.sum(kw_index == i)) for i, kw in enumerate(keywords)}
    support_warnings = _support_warnings(noise_seconds, speech_hours * 3600, per_keyword_clips)
    for message in support_warnings:
        report(ev.Warning(STAGE, message))
    sweep = [operating_point(t) for t in SWEEP]
    held_out = source != final_model_path(layout)
    if not regions:
        report(ev.Warning(STAGE, "no held-out noise regions in features.json: false accepts/hour not measured"))
    report_data = {
        "kind": "report",
        "version": records.RECORD_VERSION,
        "fingerprint": records.report_fingerprint(layout),
        "labels": preset.class_names,
        "preset": preset.name,
        "model": str(source),
        "test_held_out": held_out,
        "note": "" if held_out else "final-fit-all model: it was trained on the test split, figures are optimistic",
        "test_clips": len(test),
        **result,
        "support_warnings": support_warnings,
        "operating_point": {**chosen, "per_keyword_false_reject_rate": per_keyword_frr,
                            "per_keyword_clips": per_keyword_clips,
                            "average_window": preset.evaluate.average_window,
                            "refractory_ms": preset.evaluate.refractory_ms, "hop_ms": preset.evaluate.hop_ms},
        "noise": {"regions": len(regions), "seconds": round(noise_seconds, 1)},
        "unknown_speech": {"clips": speech_clips, "seconds": round(speech_hours * 3600, 1)},
        "threshold_sweep": sweep,
    }
    write_reports(layout, report_data)
    summary = {
        "accuracy": result["accuracy"],
        "false_reject_rate": chosen["false_reject_rate"],
        "false_accepts_per_hour": chosen["false_accepts_per_hour"],
        "speech_false_accepts_per_hour": chosen["speech_false_accepts_per_hour"],
        "threshold": preset.evaluate.threshold,
        "noise_seconds": round(noise_seconds, 1),
        "test_clips": len(test),
        "test_held_out": held_out,
        "report": str(layout.report_txt),
        "seconds": round(time.monotonic() - started, 1),
    }
    report(ev.Metric(STAGE, "test_accuracy", float(result["accuracy"])))
    report(ev.Finished(STAGE, summary))
    return summary


def _rounded(interval: tuple[float, float] | None, digits: int) -> list[float] | None:
    return None if interval is None else [round(interval[0], digits), round(interval[1], digits)]


def _support_warnings(noise_seconds: float, speech_seconds: float, clips: dict[str, int]) -> list[str]:
    """What the figures cannot support: rates from minutes of audio, FRR from a handful of clips."""
    found = []
    need = stats.MIN_HOURS_PER_RATE * 3600
    for what, seconds in (("noise", noise_seconds), ("other words", speech_seconds)):
        if 0 < seconds < need:
            found.append(f"false accepts/h on {what} rest on {seconds:.0f} s of audio: too little for a rate "
                         f"(about {stats.MIN_HOURS_PER_RATE:.0f} h needed; see the 95 % interval)")
    few = [f"{kw} ({n})" for kw, n in clips.items() if n < stats.MIN_CLIPS_PER_KEYWORD]
    if few:
        found.append(f"FRR rests on few test clips: {', '.join(few)}; about {stats.MIN_CLIPS_PER_KEYWORD} per keyword "
                     "needed (see the 95 % interval)")
    return found


def _fmt(value: Any, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def _interval(ci: list[float] | None) -> str:
    return "-" if not ci else f"{ci[0]:g}-{ci[1]:g}"


def report_text(data: dict[str, Any]) -> str:
    lines = [f"kwtui evaluation: {data['preset']}", f"model: {data['model']}"]
    if not data["test_held_out"]:
        lines.append(f"NOTE: {data['note']}")
    lines.append(f"test clips: {data['test_clips']}   accuracy: {_fmt(data['accuracy'])}")
    lines += ["", f"{'class':<16}{'precision':>10}{'recall':>10}{'support':>9}"]
    for name, row in data["per_class"].items():
        lines.append(f"{name:<16}{_fmt(row['precision']):>10}{_fmt(row['recall']):>10}{row['support']:>9}")
    cm = data["confusion_matrix"]
    width = max(8, *(len(n) + 1 for n in cm["labels"]))
    lines += ["", "confusion matrix (rows: true, columns: predicted)"]
    lines.append(" " * width + "".join(f"{n:>{width}}" for n in cm["labels"]))
    for name, row in zip(cm["labels"], cm["rows_true_cols_predicted"]):
        lines.append(f"{name:<{width}}" + "".join(f"{v:>{width}}" for v in row))
    op = data["operating_point"]
    noise = data["noise"]
    lines += [
        "",
        f"operating point: threshold {op['threshold']}, average of last {op['average_window']}, "
        f"refractory {op['refractory_ms']:.0f} ms, hop {op['hop_ms']:.0f} ms",
        f"  false reject rate: {_fmt(op['false_reject_rate'])} (95 % CI {_interval(op.get('false_reject_rate_ci'))})  "
        + "  ".join(f"{k}: {_fmt(v)} of {op.get('per_keyword_clips', {}).get(k, '?')}"
                    for k, v in op["per_keyword_false_reject_rate"].items()),
        f"  false accepts: {op['false_accepts']} in {noise['seconds']} s of held-out noise "
        f"({noise['regions']} regions) = {_fmt(op['false_accepts_per_hour'], '.1f')} per hour "
        f"(95 % CI {_interval(op.get('false_accepts_per_hour_ci'))})",
        f"  false accepts on held-out other words: {_fmt(op['speech_false_accepts'], 'd')} in "
        f"{data['unknown_speech']['seconds']} s ({data['unknown_speech']['clips']} _unknown test clips back to back) "
        f"= {_fmt(op['speech_false_accepts_per_hour'], '.1f')} per hour "
        f"(95 % CI {_interval(op.get('speech_false_accepts_per_hour_ci'))})",
        *(f"  WARNING: {w}" for w in data.get("support_warnings", [])),
        "",
        "threshold sweep (FA/h: on held-out noise; on held-out other words)",
        f"{'threshold':>10}{'FRR':>8}{'FA/h noise':>12}{'FA/h words':>12}",
    ]
    for row in data["threshold_sweep"]:
        lines.append(
            f"{row['threshold']:>10.2f}{_fmt(row['false_reject_rate']):>8}"
            f"{_fmt(row['false_accepts_per_hour'], '.1f'):>12}{_fmt(row['speech_false_accepts_per_hour'], '.1f'):>12}"
        )
    return "\n".join(lines) + "\n"


def write_reports(layout: RunLayout, data: dict[str, Any]) -> None:
    """report.txt and its record report.json, committed as one unit."""
    writer.write_files({layout.report_txt: report_text(data).encode("utf-8"),
                        layout.report_json: (json.dumps(data, indent=2) + "\n").encode("utf-8")})
