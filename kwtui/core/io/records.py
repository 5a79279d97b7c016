"""Stage records and their fingerprints: what each result was made from, so nothing stale is shown or used.

Each stage commits one record last (features.json, train.json, report.json, model.json). A record holds the
fingerprint of the preset fields its stage depends on plus its input's fingerprint, so any change upstream
(another keyword, other features, another model) makes every downstream record stale. `status` tells, for
each stage, whether its record is missing, stale (with the reason) or up to date; stages refuse stale inputs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kwtui.core import recipes
from kwtui.core.errors import UserError
from kwtui.core.io.layout import RunLayout
from kwtui.core.preset import Preset
from kwtui.core.registry import command_of
from kwtui.core.report import REPORT_VERSION, Report

RECORD_VERSION = 1
FEATURE_FORMAT_VERSION = 8  # bump when the feature files' values change: old folders are regenerated (8: numpy effects)


def digest(data: Any) -> str:
    return hashlib.sha1(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def features_params(preset: Preset) -> dict[str, Any]:
    """Everything that changes the content of the feature files (and so the fingerprint of the features)."""
    from kwtui.core.data.frontends import frontend

    f, c, d = preset.features, preset.classes, preset.dataset
    return {
        "format": FEATURE_FORMAT_VERSION,
        "dataset": str(preset.dataset_path.resolve()),
        "feature": frontend(preset.features.frontend).definition(),
        "keywords": list(c.keywords),
        "unknown": c.unknown,
        "background": c.background,
        "noise_folders": list(c.noise_folders),
        "unknown_ratio": c.unknown_ratio,
        "negative_speech": list(c.negative_speech),
        "synthesize_negative_speech": c.synthesize_negative_speech,
        # what the synthesized near misses are made of: their audio changes with it (the folder's names do not)
        **({"near_miss_negatives": recipes.NEAR_MISSES} if c.near_miss_negatives else {}),
        **({"run_on_negatives": recipes.RUN_ON_WORDS} if c.run_on_negatives else {}),
        "variants": f.variants,
        "time_shift_ms": f.time_shift_ms,
        "noise_snr_db": list(f.noise_snr_db),
        "augment": f.augment,
        "augment_negatives": f.augment_negatives,
        "background_stride_s": f.background_stride_s,
        "seed": f.seed,
        "validation_list": d.validation_list,
        "testing_list": d.testing_list,
        "validation_percent": d.validation_percent,
        "testing_percent": d.testing_percent,
    }


def features_fingerprint(preset: Preset) -> str:
    return digest(features_params(preset))


def train_fingerprint(preset: Preset) -> str:
    """The trained model depends on the features and on every train field (epochs included)."""
    import dataclasses

    return digest(
        {
            "features": features_fingerprint(preset),
            "train": dataclasses.asdict(preset.train),
            "labels": preset.class_names,
            "sigmoid": preset.single_sigmoid,
        }
    )


def train_run_id(layout: RunLayout) -> str:
    record = read_record(layout.train_record)
    return str(record.get("run_id", "")) if record else ""


@dataclass(frozen=True)
class DetectorSettings:
    """The threshold and averaging window per keyword that the device and every deployment artifact (model.h, the
    model partition, ESPHome's manifest) get, and where they came from: the up-to-date evaluation's operating point
    (kwtui.core.report.OperatingPoint) or the preset's own."""

    threshold: float  # keyword 0's (every keyword's when one point serves all)
    average_window: int
    chosen_by: str  # what picked it, in words
    thresholds: tuple[float, ...] = ()  # per keyword; empty: `threshold` for every keyword
    average_windows: tuple[int, ...] = ()

    def per_keyword(self, count: int) -> tuple[list[float], list[int]]:
        """(thresholds, windows), one per keyword."""
        if len(self.thresholds) == count and len(self.average_windows) == count:
            return list(self.thresholds), list(self.average_windows)
        return [self.threshold] * count, [self.average_window] * count


def load_report(layout: RunLayout) -> Report:
    """The evaluation report of `layout`; UserError (exit 2, one line) when there is none, and StaleReport when it
    is of another version or unreadable: evaluate again."""
    data = read_record(layout.report_json)
    rerun = f"kwtui evaluate {layout.preset.name}"
    if data is None:
        raise UserError(f"{layout.report_json}: not evaluated yet: run `{rerun}` first")
    return Report.from_dict(data, str(layout.report_json), rerun)


def detector_settings(layout: RunLayout) -> DetectorSettings:
    """The threshold and averaging window the device gets: with `evaluate.target_fa_per_hour` > 0, the operating
    point the up-to-date evaluation picked for that target; otherwise (or before any evaluation) the preset's own."""
    cfg = layout.preset.evaluate
    if cfg.target_fa_per_hour > 0:
        if evaluate_status(layout).done:
            op = load_report(layout).operating_point
            keywords = len(layout.preset.classes.keywords)
            per_keyword = len(op.thresholds) == len(op.average_windows) == keywords
            return DetectorSettings(
                op.point.threshold,
                op.point.average_window,
                f"evaluation, target {cfg.target_fa_per_hour:g} FA/h: {op.chosen_by}",
                op.thresholds if per_keyword else (),
                op.average_windows if per_keyword else (),
            )
        return DetectorSettings(
            cfg.threshold,
            cfg.average_window,
            "preset (no up-to-date evaluation to pick one for evaluate.target_fa_per_hour)",
        )
    return DetectorSettings(cfg.threshold, cfg.average_window, "preset (evaluate.threshold, evaluate.average_window)")


def model_fingerprint(layout: RunLayout) -> str:
    """A converted model: the training run it came from plus the conversion and post-processing settings,
    with the operating point it carries."""
    import dataclasses

    preset = layout.preset
    convert = dataclasses.asdict(preset.convert)
    convert.pop("firmware_dir", None)  # where a copy goes does not change the model
    evaluate = dataclasses.asdict(preset.evaluate)
    op = detector_settings(layout)
    evaluate.update(
        threshold=op.threshold,
        average_window=op.average_window,
        thresholds=list(op.thresholds),
        average_windows=list(op.average_windows),
    )
    return digest(
        {
            "train_run": train_run_id(layout),
            "train": train_fingerprint(preset),
            "convert": convert,
            "evaluate": evaluate,
        }
    )


def report_fingerprint(layout: RunLayout) -> str:
    """An evaluation report: the training run it measured plus the post-processing it simulated. The operating
    point is not part of it: the report holds the whole curve (every averaging window and threshold), and picking
    another point, or another target, does not make it stale."""
    import dataclasses

    preset = layout.preset
    evaluate = dataclasses.asdict(preset.evaluate)
    for chosen_later in ("threshold", "average_window", "target_fa_per_hour"):  # picked from the curve it holds
        evaluate.pop(chosen_later, None)
    return digest(
        {
            "train_run": train_run_id(layout),
            "train": train_fingerprint(preset),
            "evaluate": evaluate,
            "held_out_audio": recipes.HELD_OUT_AUDIO,  # how the evaluation builds its continuous audio
        }
    )


def read_record(path: Path) -> dict[str, Any] | None:
    """A committed record, or None when it is missing or unreadable (a torn record is never committed)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


@dataclass
class StageRecord:
    """What every stage record says about itself: which stage made it, for which settings (fingerprint) and
    classes, and from which run. `body` holds the stage's own figures. Stored as one flat, versioned JSON object,
    so the stage's figures stay readable as plain keys (report.json, model.json)."""

    kind: str  # "features", "train", "report" or "model"
    fingerprint: str
    labels: list[str]
    run_id: str = ""
    version: int = RECORD_VERSION
    body: dict[str, Any] = field(default_factory=dict)

    _HEADER = ("kind", "fingerprint", "labels", "run_id", "version")

    def to_dict(self) -> dict[str, Any]:
        return {**self.body, **{key: getattr(self, key) for key in self._HEADER}}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any], kind: str) -> "StageRecord | None":
        """None for a record of another kind, of a newer kwtui (a version this one cannot read) or without the
        header (written before records were typed): all of these count as missing, so the stage runs again.
        (A report's version is kwtui.core.report's REPORT_VERSION; evaluate_status refuses any other.)"""
        version = data.get("version")
        newest = REPORT_VERSION if kind == "report" else RECORD_VERSION
        if not isinstance(version, int) or version > newest or data.get("kind", kind) != kind:
            return None
        fingerprint = data.get("fingerprint")
        if not isinstance(fingerprint, str):
            return None
        body = {k: v for k, v in data.items() if k not in cls._HEADER}
        labels = data.get("labels", [])
        return cls(
            kind,
            fingerprint,
            list(labels) if isinstance(labels, list) else [],
            str(data.get("run_id", "")),
            version,
            body,
        )


def load_record(path: Path, kind: str) -> StageRecord | None:
    data = read_record(path)
    return None if data is None else StageRecord.from_dict(data, kind)


@dataclass(frozen=True)
class StageStatus:
    state: str  # "missing", "stale" or "done"
    reason: str = ""

    @property
    def done(self) -> bool:
        return self.state == "done"


def _labels_reason(record: dict[str, Any], preset: Preset, what: str) -> str:
    old = record.get("labels")
    if old is not None and list(old) != list(preset.class_names):
        return (
            f"the {what} was made for classes [{', '.join(old)}]; the preset now has [{', '.join(preset.class_names)}]"
        )
    return f"the {what} was made with other settings"


def features_status(layout: RunLayout) -> StageStatus:
    typed = load_record(layout.features_info, "features")
    if typed is None:
        return StageStatus("missing", "no features yet")
    record = typed.body
    if typed.fingerprint != features_fingerprint(layout.preset):
        old = record.get("classes")
        preset = layout.preset
        if old is not None and list(old) != list(preset.class_names) and not preset.single_sigmoid:
            return StageStatus(
                "stale",
                f"the features were made for classes [{', '.join(old)}]; "
                f"the preset now has [{', '.join(preset.class_names)}]",
            )
        return StageStatus("stale", "the features were made with other settings" + _changed_params(layout))
    return StageStatus("done")


def _changed_params(layout: RunLayout) -> str:
    """ " (time_shift_ms: 100.0 -> 250.0)": what differs between the settings the features were made with and the
    preset's, as far as the features folder says ("" when it cannot)."""
    try:
        old = json.loads(layout.features_params.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    new = json.loads(json.dumps(features_params(layout.preset)))  # as JSON holds it: tuples are lists
    if not isinstance(old, dict):
        return ""
    changed = [
        f"{k}: {_short(old.get(k))} -> {_short(new.get(k))}"
        for k in sorted(set(old) | set(new))
        if old.get(k) != new.get(k)
    ]
    more = len(changed) - MAX_NAMED_SETTINGS
    return f" ({'; '.join(changed[:MAX_NAMED_SETTINGS])}{f'; {more} more' if more > 0 else ''})" if changed else ""


def _status(record_path: Any, kind: str, fingerprint: str, missing: str, what: str, preset: Any) -> StageStatus:
    record = load_record(record_path, kind)
    if record is None:
        return StageStatus("missing", missing)
    if record.fingerprint != fingerprint:
        return StageStatus("stale", _labels_reason({"labels": record.labels}, preset, what))
    return StageStatus("done")


def train_status(layout: RunLayout) -> StageStatus:
    return _status(
        layout.train_record, "train", train_fingerprint(layout.preset), "no trained model yet", "model", layout.preset
    )


def evaluate_status(layout: RunLayout) -> StageStatus:
    data = read_record(layout.report_json)
    if data is not None and data.get("kind") == "report" and data.get("version") != REPORT_VERSION:
        return StageStatus(
            "stale",
            f"{layout.report_json.name} is report version {data.get('version')}; this kwtui "
            f"reads version {REPORT_VERSION}",
        )
    return _status(
        layout.report_json, "report", report_fingerprint(layout), "not evaluated yet", "report", layout.preset
    )


def model_file_problem(tflite_path: Path, record: dict[str, Any]) -> str | None:
    """Why the .tflite beside a model.json is not the one it describes (size, sha256), or None."""
    expected_size, expected_sha = record.get("model_bytes"), record.get("model_sha256")
    try:
        data = tflite_path.read_bytes()
    except OSError as exc:
        return f"{tflite_path}: cannot read the converted model ({exc.strerror or exc})"
    if isinstance(expected_size, int) and len(data) != expected_size:
        return (
            f"{tflite_path}: {len(data)} bytes where model.json says {expected_size}: the model was changed or cut "
            "off since it was converted"
        )
    if isinstance(expected_sha, str) and hashlib.sha256(data).hexdigest() != expected_sha:
        return f"{tflite_path}: its sha256 is not model.json's: the model was changed since it was converted"
    return None


def convert_status(layout: RunLayout) -> StageStatus:
    found = _status(
        layout.model_json, "model", model_fingerprint(layout), "not converted yet", "converted model", layout.preset
    )
    if found.done:
        problem = model_file_problem(layout.tflite, read_record(layout.model_json) or {})
        if problem:
            return StageStatus("stale", problem)
    return found


_CHECKS = {"features": features_status, "train": train_status, "evaluate": evaluate_status, "convert": convert_status}


def status(layout: RunLayout) -> dict[str, StageStatus]:
    """Every stage's record against the preset. Training is stale when the features are not up to date;
    evaluation and conversion (which both read the trained model) when training is not."""
    result = {stage: check(layout) for stage, check in _CHECKS.items()}
    if result["train"].done and not result["features"].done:
        result["train"] = StageStatus("stale", result["features"].reason)
    for stage in ("evaluate", "convert"):
        if result[stage].done and not result["train"].done:
            result[stage] = StageStatus("stale", result["train"].reason)
    return result


MIN_DETECTED_SHARE = 0.5  # flash / export refuse a model that detects fewer of the held-out keyword clips


def held_out_detected_share(layout: RunLayout) -> float | None:
    """The share of held-out keyword clips the up-to-date evaluation saw detected with the settings the device gets
    (`detector_settings`); None without an up-to-date evaluation or when those settings are not on its curve."""
    if not evaluate_status(layout).done:
        return None
    report = load_report(layout)
    settings = detector_settings(layout)
    if settings.chosen_by.startswith("evaluation"):
        frr = report.operating_point.point.false_reject_rate
    else:
        frr = next(
            (
                p.false_reject_rate
                for p in report.curve
                if p.average_window == settings.average_window and abs(p.threshold - settings.threshold) < 1e-9
            ),
            None,
        )
    return None if frr is None else 1.0 - float(frr)


def refuse_weak_model(layout: RunLayout, command: str) -> None:
    """Refuse (exit 2) to deploy a model that detects fewer than MIN_DETECTED_SHARE of the held-out keyword clips
    at its operating point: it would rarely fire. `--force` skips this."""
    share = held_out_detected_share(layout)
    if share is not None and share < MIN_DETECTED_SHARE:
        raise UserError(
            f"the model detects {share:.0%} of the held-out keyword clips at its operating point: on the "
            f"device it would rarely fire; see {layout.report_txt} for what to improve, or add --force "
            f"to `kwtui {command}` to deploy it anyway"
        )


MAX_NAMED_SETTINGS = 4


def _saved_settings(layout: RunLayout) -> tuple[list[str], bool]:
    """What differs between the settings the run folder was last run with (its preset.toml) and this preset
    (as "train.epochs: 3 in the run folder, 20 in the preset"), and whether those saved settings would find the
    trained model up to date (so the run folder itself can be the TARGET)."""
    from kwtui.core.preset import PresetError, differences, load_preset

    saved_path = layout.preset_copy
    if not saved_path.is_file():
        return [], False
    try:
        saved = load_preset(saved_path)
    except (PresetError, OSError):
        return [], False
    old, new = saved.to_dict(), layout.preset.to_dict()
    named = []
    for key, value in differences(old, new):
        if key == "name":
            continue
        was: Any = old
        for part in key.split("."):
            was = was.get(part) if isinstance(was, dict) else None
        named.append(f"{key}: {_short(was)} in the run folder, {_short(value)} in the preset")
    same_folder = type(layout)(saved).run_dir == layout.run_dir
    return named, same_folder and train_status(type(layout)(saved)).done


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= 40 else text[:37] + "..."


def stale_hint(layout: RunLayout, command: str | None) -> str:
    """The settings that differ and, where the run folder's own settings fit its model, the command that uses
    them (`kwtui flash runs/commands`): appended to a freshness refusal."""
    named, usable = _saved_settings(layout)
    hint = ""
    if named:
        more = len(named) - MAX_NAMED_SETTINGS
        hint += " (" + "; ".join(named[:MAX_NAMED_SETTINGS]) + (f"; {more} more" if more > 0 else "") + ")"
    if usable and command:
        hint += (
            f"; or, to use the model made with the run folder's settings (its preset.toml), "
            f"`kwtui {command} {layout.run_dir}`"
        )
    return hint


def deployable_status(layout: RunLayout, command: str | None = "flash") -> StageStatus:
    """Whether the converted model can be flashed for this preset: it comes from the preset's training run and
    classes, and its file is the one its model.json describes. Its threshold and post-processing may differ (the
    partition image carries the preset's), so those do not make it stale."""
    record = read_record(layout.model_json)
    if record is None:
        return StageStatus("missing", f"{layout.tflite}: no converted model")
    trained = train_status(layout)
    if not trained.done:
        return StageStatus("stale", f"{trained.reason}{stale_hint(layout, command)}")
    if record.get("train_fingerprint") != train_fingerprint(layout.preset) or record.get("train_run") != train_run_id(
        layout
    ):
        reason = _labels_reason(record, layout.preset, "converted model")
        if reason.endswith("other settings"):
            reason = "the converted model is from an earlier training run"
        return StageStatus("stale", reason)
    problem = model_file_problem(layout.tflite, record)
    return StageStatus("stale", problem) if problem else StageStatus("done")


def require_deployable(layout: RunLayout, command: str = "flash") -> None:
    """Flash: refuse (exit 2, one line) a converted model `deployable_status` finds unusable, saying what to run."""
    found = deployable_status(layout, command)
    if found.done:
        return
    name = layout.preset.name
    then = (
        f"`kwtui convert {name}`" if train_status(layout).done else f"`kwtui train {name}`, then `kwtui convert {name}`"
    )
    raise UserError(f"{found.reason}{';' if found.state == 'missing' else ':'} run {then} first")


def require(layout: RunLayout, stage: str, command: str | None = None) -> None:
    """Refuse (exit 2, one line) when the record `stage` reads is missing or stale for the preset, naming the
    settings that differ from the run folder's and the commands that proceed. `command`: the one refused."""
    st = _CHECKS[stage](layout)
    if stage == "train" and st.done:
        feat = features_status(layout)
        if not feat.done:
            st = StageStatus("stale", feat.reason)
            stage = "features"
    if not st.done:
        name = layout.preset.name
        hint = stale_hint(layout, command_of(command) if command else None) if st.state == "stale" else ""
        raise UserError(f"{st.reason}{hint}: run `kwtui {command_of(stage)} {name}` first")
