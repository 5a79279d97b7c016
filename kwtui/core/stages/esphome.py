"""ESPHome export: the trained streaming model as a model ESPHome's `micro_wake_word` runs unchanged, plus its
manifest (v2).

Steps: the trained whole-clip model (train.model = "stream", features.frontend = "micro") -> the same weights as a
streaming graph that takes one stride of feature slices per call and keeps each layer's recent inputs in TFLite
resource variables (VAR_HANDLE / READ_VARIABLE / ASSIGN_VARIABLE, initialised in CALL_ONCE) -> int8 TFLite with
ESPHome's fixed input quantization and a uint8 probability -> checked: only ESPHome's ops, at most 20 variables,
input int8 [1, stride, 40] at scale 26/255 and zero point -128, output uint8 [1, 1], schema 3 -> run in TFLite
Micro stride by stride over the test clips and compared with the whole-clip model -> the smallest arena TFLite Micro
runs it in (bisection, each probe in a child process) plus a margin -> `<wake_word>.tflite` + `<wake_word>.json`.

`probability_cutoff` and `sliding_window_size` come from the evaluation's operating point when the report is
fresh; ESPHome averages the last N probabilities (one every stride x 10 ms) and fires when the mean exceeds the
cutoff, which is the firmware post-processing the evaluation models at `evaluate.hop_ms`.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from kwtui.core import events as ev
from kwtui.core.data import micro_frontend
from kwtui.core.data.spectrogram import SAMPLE_RATE
from kwtui.core.errors import KwtuiError, UserError
from kwtui.core.esphome_rules import (
    ESPHOME_OPS,
    INPUT_SCALE,
    INPUT_ZERO_POINT,
    MAX_CUTOFF,
    MAX_STATE_VARIABLES,
    SCHEMA_VERSION,
)
from kwtui.core.features.store import check_files, load_batch, load_splits
from kwtui.core.io import records, run_folder, writer
from kwtui.core.io.layout import RunLayout
from kwtui.core.native import quiet_native_output
from kwtui.core.preset import Preset
from kwtui.core.streaming import (
    compare_with_whole_clips,
    quantize_slices,
    streaming_macs,
    streaming_module,
    to_streaming_tflite,
    within_stream_tolerance,
)
from kwtui.core.tflite.arena_probe import arena_with_margin

STAGE = "esphome"

ARENA_ALIGN = 16
ARENA_MARGIN_BYTES = 1024  # over the measured minimum; the host build's 8-byte pointers already over-estimate
ARENA_LIMIT = 1024 * 1024
MANIFEST_AUTHOR = "kwtui"  # also how an export recognises its own earlier files
MINIMUM_ESPHOME_VERSION = "2024.7.0"  # the first release that loads manifest v2 models with strided input


def esphome_dir(preset: Preset, out: str | Path | None) -> Path:
    return Path(out).expanduser() if out else RunLayout(preset).esphome_dir


def wake_word_file_stem(keyword: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", keyword).strip("_").lower()
    return stem or "wake_word"


def check_preset(preset: Preset) -> None:
    if preset.features.frontend != "micro" or preset.train.model != "stream":
        raise UserError(
            f"export esphome: ESPHome computes the micro frontend's features and runs a streaming model; this preset "
            f"has features.frontend = {preset.features.frontend!r} and train.model = {preset.train.model!r}: set "
            'features.frontend = "micro" and train.model = "stream" (as the shipped preset esphome does: '
            "`kwtui presets show esphome`) and re-run"
        )
    if not preset.single_sigmoid:
        raise UserError(
            f"export esphome: ESPHome's micro_wake_word loads one wake word per model (one sigmoid output); preset "
            f"{preset.name} detects {', '.join(preset.classes.keywords)}"
            + (" with _unknown/_background classes" if len(preset.classes.keywords) == 1 else "")
            + ": its model is for kwtui's firmware (`kwtui flash`); for ESPHome train a preset with one keyword and "
            "classes.unknown = classes.background = false (as the shipped preset esphome does: "
            "`kwtui presets show esphome`)"
        )


# --- checks -----------------------------------------------------------------------------------------------------


def describe_model(tflite: bytes) -> dict[str, Any]:
    """What ESPHome looks at in a .tflite: schema version, ops of every subgraph, state variables, and the
    main subgraph's input and output (shape, type, quantization). Read from the flatbuffer itself."""
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(tflite, 0))
    op_names = {value: name for name, value in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
    type_names = {value: name.lower() for name, value in vars(schema.TensorType).items() if not name.startswith("_")}

    def op_name(operator: Any) -> str:
        code = model.operatorCodes[operator.opcodeIndex]
        return str(op_names.get(max(code.builtinCode, code.deprecatedBuiltinCode), f"CUSTOM({code.customCode})"))

    def tensor(subgraph: Any, index: int) -> dict[str, Any]:
        t = subgraph.tensors[index]
        q = t.quantization
        return {
            "shape": [int(d) for d in t.shape],
            "type": type_names.get(t.type, str(t.type)),
            "scale": [float(s) for s in (q.scale if q is not None and q.scale is not None else [])],
            "zero_point": [int(z) for z in (q.zeroPoint if q is not None and q.zeroPoint is not None else [])],
        }

    main = model.subgraphs[0]
    ops = [op_name(o) for sg in model.subgraphs for o in sg.operators]
    return {
        "schema_version": int(model.version),
        "subgraphs": len(model.subgraphs),
        "ops": sorted(set(ops)),
        "variables": sum(1 for o in main.operators if op_name(o) == "VAR_HANDLE"),
        "inputs": [tensor(main, i) for i in main.inputs],
        "outputs": [tensor(main, i) for i in main.outputs],
    }


def esphome_problems(description: dict[str, Any], stride: int | None = None) -> list[str]:
    """Everything in a model that ESPHome's micro_wake_word would refuse or compute differently ([] = none)."""
    problems = []
    if description["schema_version"] != SCHEMA_VERSION:
        problems.append(f"schema version {description['schema_version']} (ESPHome loads {SCHEMA_VERSION})")
    missing = sorted(set(description["ops"]) - ESPHOME_OPS)
    if missing:
        problems.append(f"ops ESPHome does not register: {', '.join(missing)}")
    if description["variables"] > MAX_STATE_VARIABLES:
        problems.append(f"{description['variables']} state variables (ESPHome has room for {MAX_STATE_VARIABLES})")
    if len(description["inputs"]) != 1 or len(description["outputs"]) != 1:
        problems.append("not one input and one output")
        return problems
    given, out = description["inputs"][0], description["outputs"][0]
    shape_ok = (
        len(given["shape"]) == 3
        and given["shape"][0] == 1
        and given["shape"][2] == micro_frontend.CHANNELS
        and (stride is None or given["shape"][1] == stride)
    )
    if not shape_ok or given["type"] != "int8":
        problems.append(f"input {given['type']} {given['shape']} (ESPHome feeds int8 [1, stride, 40])")
    if (
        len(given["scale"]) != 1
        or abs(given["scale"][0] - INPUT_SCALE) > 1e-6
        or given["zero_point"] != [INPUT_ZERO_POINT]
    ):
        problems.append(
            f"input quantization {given['scale']} / {given['zero_point']} (ESPHome quantizes with "
            f"{INPUT_SCALE:.6f} / {INPUT_ZERO_POINT})"
        )
    if out["shape"] != [1, 1] or out["type"] != "uint8":
        problems.append(f"output {out['type']} {out['shape']} (ESPHome reads uint8 [1, 1])")
    return problems


# --- detection on held-out clips: kwtui's model of the device, and ESPHome's own host runtime ------------------

PAD_BEFORE_S, PAD_AFTER_S = 0.5, 1.0  # silence around each held-out clip
MAX_CHECK_CLIPS = 200  # per group: bounds the host-runtime check's time
# The two runtimes' int8 kernels round differently (outputs a few uint8 steps apart) and pymicro-wakeword averages
# uint8 / 256 where ESPHome divides by 255 (uint8 254 is 0.9961 on the device, 0.9922 there): a clip's best average
# may differ by this much between them, and a clip whose best averages lie this near the cutoff may be detected by
# one and not the other. Every other clip must get the same decision from both.
SCORE_TOLERANCE = 6 / 255


def within_tolerance(rates: dict[str, Any]) -> bool:
    return bool(rates["max_score_difference"] <= SCORE_TOLERANCE and rates["disagreements_not_borderline"] == 0)


def padded(clip: np.ndarray) -> np.ndarray:
    rate = SAMPLE_RATE
    return np.concatenate(
        [
            np.zeros(int(PAD_BEFORE_S * rate), np.float32),
            np.asarray(clip, np.float32),
            np.zeros(int(PAD_AFTER_S * rate), np.float32),
        ]
    )


def device_score(tflite: bytes, arena: int, window: int, audio: np.ndarray) -> float:
    """What ESPHome's micro_wake_word does with `audio` (16 kHz), modelled by kwtui: a fresh micro frontend and
    model state, the frontend's output quantized with ESPHome's fixed scale, one inference per stride of slices,
    the last `window` uint8 probabilities (zeros at first) averaged as sum / (255 * window). Returns the highest
    average; ESPHome detects when it exceeds the cutoff."""
    from tflite_micro.python.tflite_micro import runtime

    interpreter = runtime.Interpreter.from_bytes(tflite, arena_size=arena)
    stride = int(interpreter.get_input_details(0)["shape"][1])
    slices = micro_frontend.FeatureStream().push(audio)
    recent = np.zeros(window, np.int64)
    best = 0.0
    for n, at in enumerate(range(0, len(slices) - stride + 1, stride)):
        interpreter.set_input(quantize_slices(slices[at : at + stride])[np.newaxis], 0)
        interpreter.invoke()
        recent[n % window] = int(np.asarray(interpreter.get_output(0)).reshape(-1)[0])
        best = max(best, recent.sum() / (255.0 * window))
    return best


def host_runtime_score(manifest_path: Path, audio: np.ndarray) -> float:
    """ESPHome's own host runtime (pymicro-wakeword: its TFLite build, its frontend, its averaging) loading the
    exported manifest as a user would: the highest average probability it computes (it detects above the
    manifest's cutoff)."""
    from pymicro_wakeword import MicroWakeWord, MicroWakeWordFeatures

    detector = MicroWakeWord.from_config(manifest_path)
    frontend = MicroWakeWordFeatures()
    pcm = np.round(np.clip(audio, -1.0, 32767 / 32768) * 32768).astype("<i2").tobytes()
    try:
        return max([detector.process_streaming_prob(f) or 0.0 for f in frontend.process_streaming(pcm)] or [0.0])
    finally:
        detector.close()


def held_out_detection(
    tflite: bytes,
    arena: int,
    cutoff: float,
    window: int,
    manifest_path: Path,
    clips: dict[str, list[np.ndarray]],
    cancel: ev.CancelToken,
    report: ev.Reporter,
) -> dict[str, Any]:
    """Per group of clips ("keyword", "other words"), each padded with silence: the share detected by kwtui's
    model of the device and by pymicro-wakeword at `cutoff`, and how far apart their best averages are."""
    result: dict[str, Any] = {}
    total = sum(len(group) for group in clips.values())
    report(ev.Progress(STAGE, 0, total, 0.0, 0.0, "clips", "held-out clips in ESPHome's host runtime"))
    done = 0
    started = time.monotonic()
    for name, group in clips.items():
        ours, theirs = [], []
        for clip in group:
            cancel.raise_if_cancelled()
            audio = padded(clip)
            ours.append(device_score(tflite, arena, window, audio))
            theirs.append(host_runtime_score(manifest_path, audio))
            done += 1
            rate = done / max(time.monotonic() - started, 1e-6)
            report(
                ev.Progress(
                    STAGE, done, total, rate, (total - done) / rate, "clips", "held-out clips in ESPHome's host runtime"
                )
            )
        a, b = np.asarray(ours), np.asarray(theirs)
        n = max(1, len(group))
        near = (np.abs(a - cutoff) <= SCORE_TOLERANCE) & (np.abs(b - cutoff) <= SCORE_TOLERANCE)
        differ = (a > cutoff) != (b > cutoff)
        result[name] = {
            "clips": len(group),
            "kwtui": round(float(np.sum(a > cutoff)) / n, 4),
            "pymicro_wakeword": round(float(np.sum(b > cutoff)) / n, 4),
            "max_score_difference": round(float(np.max(np.abs(a - b))), 4) if len(a) else 0.0,
            "borderline": int(near.sum()),
            "disagreements": int(differ.sum()),
            "disagreements_not_borderline": int((differ & ~near).sum()),
        }
    return result


# --- the manifest -------------------------------------------------------------------------------------------------


def esphome_settings(layout: RunLayout, stride: int, report: ev.Reporter) -> dict[str, Any]:
    """ESPHome's cutoff and window: the detector settings (`records.detector_settings`: the fresh evaluation's
    operating point at evaluate.target_fa_per_hour, else the preset's threshold and average_window). ESPHome makes
    one probability every stride x 10 ms; a window evaluated at another hop is rescaled to the same duration."""
    preset = layout.preset
    settings = records.detector_settings(layout)
    if settings.chosen_by.startswith("preset") and preset.evaluate.target_fa_per_hour > 0:
        report(
            ev.StageWarning(
                STAGE,
                f"no up-to-date evaluation: probability_cutoff and sliding_window_size are the "
                f"preset's; run `kwtui evaluate {preset.name}` for the operating point at "
                f"{preset.evaluate.target_fa_per_hour:g} false accepts/h",
            )
        )
    step_ms = stride * micro_frontend.STEP_MS
    window = settings.average_window
    threshold = settings.threshold
    if threshold > MAX_CUTOFF:
        threshold = MAX_CUTOFF
        report(
            ev.StageWarning(
                STAGE,
                f"probability_cutoff {settings.threshold:g} -> {MAX_CUTOFF} (above it ESPHome's host "
                "runtime can never fire: it averages uint8 probabilities / 256)",
            )
        )
    if abs(preset.evaluate.hop_ms - step_ms) > 1e-6:
        window = max(1, int(round(settings.average_window * preset.evaluate.hop_ms / step_ms)))
        report(
            ev.StageWarning(
                STAGE,
                f"evaluated with evaluate.hop_ms = {preset.evaluate.hop_ms:g} but ESPHome runs the "
                f"model every {step_ms} ms: sliding_window_size {settings.average_window} -> {window} "
                f"(same duration); evaluate with hop_ms = {step_ms} for the exact operating point",
            )
        )
    return {
        "threshold": threshold,
        "average_window": window,
        "chosen_by": settings.chosen_by,
        "evaluated_hop_ms": preset.evaluate.hop_ms,
        "step_ms": step_ms,
    }


def manifest(keyword: str, model_file: str, cutoff: float, window: int, arena: int) -> dict[str, Any]:
    return {
        "type": "micro",
        "wake_word": keyword.replace("_", " ").title(),
        "author": MANIFEST_AUTHOR,
        # no "website": optional in ESPHome's v2 schema, and kwtui has no address of its own to give
        "model": model_file,
        "trained_languages": ["en"],
        "version": 2,
        "micro": {
            "probability_cutoff": round(float(cutoff), 3),
            "feature_step_size": micro_frontend.STEP_MS,
            "sliding_window_size": int(window),
            "tensor_arena_size": int(arena),
            "minimum_esphome_version": MINIMUM_ESPHOME_VERSION,
        },
    }


def yaml_snippet(manifest_path: Path) -> str:
    """The lines of an ESPHome device's YAML that load the model (block style, as ESPHome's docs write it)."""
    return f"micro_wake_word:\n  models:\n    - model: {manifest_path}\n"


def yaml_line(manifest_path: Path) -> str:
    """The same YAML on one line (flow style), for a one-line summary."""
    return f"micro_wake_word: {{models: [{{model: {json.dumps(str(manifest_path))}}}]}}"


# --- the stage ----------------------------------------------------------------------------------------------------


def run_export_esphome(
    preset: Preset,
    report: ev.Reporter,
    cancel: ev.CancelToken,
    out: str | Path | None = None,
    force_deploy: bool = False,
) -> dict[str, Any]:
    check_preset(preset)
    layout = RunLayout(preset)
    target = esphome_dir(preset, out)
    check_output_folder(target)
    refuse_foreign_files(target, wake_word_file_stem(preset.classes.keywords[0]))
    with run_folder.writing(layout.run_dir, "run_dir", STAGE), run_folder.reading(layout.features_dir, STAGE):
        return _export(preset, layout, target, report, cancel, force_deploy)


def _refuse_if_it_rarely_fires(
    rates: dict[str, Any] | None, micro: dict[str, Any], keyword: str, force_deploy: bool, report: ev.Reporter
) -> None:
    """A manifest that detects fewer than half of the held-out keyword clips, in kwtui's model of the device or
    in ESPHome's host runtime, is not written (exit 2) unless --force."""
    if not rates or not rates.get("clips"):
        return
    share = min(rates["kwtui"], rates["pymicro_wakeword"])
    if share >= records.MIN_DETECTED_SHARE:
        return
    what = (
        f"detects {rates['pymicro_wakeword']:.0%} (ESPHome's host runtime) and {rates['kwtui']:.0%} (kwtui's model "
        f'of the device) of {rates["clips"]} held-out "{keyword}" clips at probability_cutoff '
        f"{micro['probability_cutoff']:g}, sliding_window_size {micro['sliding_window_size']}"
    )
    if force_deploy:
        report(ev.StageWarning(STAGE, f"--force: exporting a model that {what}"))
        return
    raise UserError(
        f"export esphome: the model {what}: in ESPHome it would rarely fire; train on more clips or "
        "longer (the report's verdict says what), or add --force to export it anyway"
    )


def check_output_folder(target: Path) -> None:
    """Refuse an output folder that cannot be made or written before any work (it is created at the end)."""
    if target.exists() and not target.is_dir():
        raise UserError(f"--out {target}: is a file, not a folder; choose a folder")
    existing = target
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"--out {target}: cannot write there ({existing} is not a writable folder); choose another")


def refuse_foreign_files(target: Path, stem: str) -> None:
    """The export replaces `<stem>.tflite` and `<stem>.json` only when kwtui wrote them (its manifest says so);
    a user's own files of those names are left alone."""
    manifest_path, model_path = target / f"{stem}.json", target / f"{stem}.tflite"
    ours = False
    if manifest_path.exists():
        try:
            ours = json.loads(manifest_path.read_bytes()).get("author") == MANIFEST_AUTHOR
        except (OSError, ValueError, AttributeError):
            ours = False
        if not ours:
            raise UserError(
                f"--out {manifest_path}: not written by kwtui, so it is left alone; move it away or "
                "choose another --out"
            )
    if model_path.exists() and not ours:
        raise UserError(
            f"--out {model_path}: not written by kwtui (no kwtui manifest beside it), so it is left "
            "alone; move it away or choose another --out"
        )


def _held_out_clips(preset: Preset, layout: RunLayout, test: Any, report: ev.Reporter) -> dict[str, list[np.ndarray]]:
    """The test split's keyword clips and other words as 1 s of 16 kHz audio (never trained on)."""
    from kwtui.core.data.audio import BadAudio, load_clip
    from kwtui.core.features.store import features_info
    from kwtui.core.stages.evaluate import held_out_material

    material = held_out_material(preset, features_info(layout), test, layout.features_dir, report)
    groups = {"keyword": [region for region, _ in material.keywords], "other words": material.words}
    clips: dict[str, list[np.ndarray]] = {}
    for name, regions in groups.items():
        clips[name] = []
        for region in regions[:MAX_CHECK_CLIPS]:
            try:
                clips[name].append(load_clip(region.source).samples)
            except BadAudio:
                continue  # the features stage already reported it
    return clips


def _export(
    preset: Preset,
    layout: RunLayout,
    target: Path,
    report: ev.Reporter,
    cancel: ev.CancelToken,
    force_deploy: bool = False,
) -> dict[str, Any]:
    from kwtui.core.model import load_keras
    from kwtui.core.stages.train import trained_model_path

    started = time.monotonic()
    source = trained_model_path(layout, "esphome")
    splits = load_splits(layout, ("train", "validation", "test"))
    test = splits["test"] if len(splits["test"]) else splits["validation"]
    check_files(test.paths, report, cancel, STAGE)
    report(ev.Started(STAGE, total=len(test), unit="clips", message=f"ESPHome streaming model from {source.name}"))
    keras_model = load_keras(source)
    module, stride = streaming_module(keras_model)
    macs = streaming_macs(keras_model)
    train = splits["train"]
    picks = np.random.default_rng([preset.train.seed, 7]).permutation(len(train))[
        : preset.convert.representative_samples
    ]
    representative = load_batch([train.paths[i] for i in sorted(picks)])[:, :, :, 0]
    cancel.raise_if_cancelled()
    tflite = to_streaming_tflite(module, stride, representative)
    description = describe_model(tflite)
    problems = esphome_problems(description, stride)
    if problems:
        raise KwtuiError(f"export esphome: the converted model would not run in ESPHome: {'; '.join(problems)}")
    cancel.raise_if_cancelled()
    arena_min, arena = arena_with_margin(tflite, ARENA_MARGIN_BYTES, ARENA_LIMIT, ARENA_ALIGN, "export esphome")
    with quiet_native_output():
        comparison, _, _ = compare_with_whole_clips(
            keras_model, tflite, arena, stride, test.paths, cancel, report, STAGE
        )
    if not within_stream_tolerance(comparison):
        raise KwtuiError(
            f"export esphome: the streaming model differs from the trained model (mean |difference| "
            f"{comparison['mean_abs_difference']}, agreement {comparison['agreement']} on {comparison['clips']} "
            "clips); retrain or report this"
        )
    point = esphome_settings(layout, stride, report)
    keyword = preset.classes.keywords[0]
    stem = wake_word_file_stem(keyword)
    body = manifest(keyword, f"{stem}.tflite", point["threshold"], point["average_window"], arena)
    manifest_text = json.dumps(body, indent=2) + "\n"
    clips = _held_out_clips(preset, layout, test, report)
    with tempfile.TemporaryDirectory(prefix="kwtui-esphome-check-") as folder:
        (Path(folder) / f"{stem}.tflite").write_bytes(tflite)
        (Path(folder) / f"{stem}.json").write_text(manifest_text)
        detection = held_out_detection(
            tflite,
            arena,
            body["micro"]["probability_cutoff"],
            body["micro"]["sliding_window_size"],
            Path(folder) / f"{stem}.json",
            clips,
            cancel,
            report,
        )
    for name, rates in detection.items():
        if not within_tolerance(rates):
            report(
                ev.StageWarning(
                    STAGE,
                    f"{name}: ESPHome's host runtime detects {rates['pymicro_wakeword']:.0%} of "
                    f"{rates['clips']} held-out clips, kwtui's model of the device "
                    f"{rates['kwtui']:.0%} ({rates['disagreements_not_borderline']} clips decided differently away from "
                    f"the cutoff, best averages up to {rates['max_score_difference']:.3f} apart)",
                )
            )
    _refuse_if_it_rarely_fires(detection.get("keyword"), body["micro"], keyword, force_deploy, report)
    model_path, manifest_path = target / f"{stem}.tflite", target / f"{stem}.json"
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"--out {target}: cannot create the folder ({exc.strerror}); choose another") from None
    record = {
        "train_fingerprint": records.train_fingerprint(preset),
        "train_run": records.train_run_id(layout),
        "files": [str(model_path), str(manifest_path)],
        "manifest": body,
        "model": description,
        "arena_min_bytes": arena_min,
        "arena_margin_bytes": arena - arena_min,
        "streaming_check": comparison,
        "operating_point": point,
        "held_out_detection": detection,
        "macs_per_inference": macs,
    }
    writer.write_files({model_path: tflite, manifest_path: manifest_text.encode()}, journal_dir=target)
    writer.write_text(layout.esphome_record, json.dumps(record, indent=2) + "\n")
    summary = {
        "wake_word": body["wake_word"],
        "model": str(model_path),
        "manifest": str(manifest_path),
        "model_bytes": len(tflite),
        "tensor_arena_size": arena,
        "arena_min_bytes": arena_min,
        "probability_cutoff": body["micro"]["probability_cutoff"],
        "sliding_window_size": body["micro"]["sliding_window_size"],
        "stride": stride,
        "state_variables": description["variables"],
        "ops": " ".join(description["ops"]),
        "macs_per_inference": macs,
        "macs_per_second": round(macs * 1000 / (stride * micro_frontend.STEP_MS)),
        "stream_agreement": comparison["agreement"],
        "stream_mean_abs_difference": comparison["mean_abs_difference"],
        **{
            f"detected_{name.replace(' ', '_')}_{runtime}": rates[runtime]
            for name, rates in detection.items()
            for runtime in ("pymicro_wakeword", "kwtui")
        },
        "esphome_yaml": yaml_line(manifest_path),
        "seconds": round(time.monotonic() - started, 1),
    }
    report(ev.Finished(STAGE, summary))
    return summary
