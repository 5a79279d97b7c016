"""Conversion stage: full-integer int8 (or float) TFLite, verified in the real TFLite Micro interpreter.

Streaming models (train.model = "stream", the default): the trained network's STREAM mode (kwtui.core.streaming,
the same graph the ESPHome export writes) -> int8 TFLite calibrated stride by stride -> ops checked against the
firmware resolver -> smallest arena (each probe in a child process) -> every test clip run stride by stride in TFLM
and compared with the whole-clip model.
Legacy whole-window models (cnn, dscnn): batch-1 clone (static shapes) -> TFLite with a representative dataset ->
ops -> arena (bisection) -> the test split through TFLM and Keras.
Both end in model.cc/.h/.tflite/.json, committed as one unit.
"""

from __future__ import annotations

import hashlib
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kwtui.core import events as ev
from kwtui.core.data import micro_frontend
from kwtui.core.data.spectrogram import N_BINS, N_FRAMES
from kwtui.core.device.compute import compute_summary
from kwtui.core.errors import KwtuiError, UserError
from kwtui.core.features.store import check_files, load_batch, load_splits, sigmoid_output
from kwtui.core.io import records, run_folder, writer
from kwtui.core.io.layout import RunLayout
from kwtui.core.model import predicted_classes
from kwtui.core.native import quiet_native_output
from kwtui.core.preset import Preset
from kwtui.core.tflite import runtime_compat
from kwtui.core.tflite.arena_probe import smallest_arena
from kwtui.core.tflite.converter import to_tflite

STAGE = "convert"

FIRMWARE_OPS = runtime_compat.FIRMWARE_OPS  # registered by the firmware's MicroMutableOpResolver
ARENA_ALIGN = 16
ARENA_MARGIN_BYTES = 512  # added to the measured minimum (host TFLM is 64-bit, so it already over-estimates)
ARENA_LIMIT = 8 * 1024 * 1024


# --- TFLite conversion -------------------------------------------------------------------------


def model_ops(tflite: bytes) -> list[str]:
    """Builtin op names used by a .tflite model."""
    import tensorflow as tf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        interpreter = tf.lite.Interpreter(model_content=tflite)
        return sorted({op["op_name"] for op in interpreter._get_ops_details()})  # noqa: SLF001


def check_firmware_ops(ops: list[str]) -> None:
    missing = [op for op in ops if op not in FIRMWARE_OPS]
    if missing:
        raise KwtuiError(
            f"convert: the model uses op(s) the firmware does not register: {', '.join(missing)} "
            f'(registered: {", ".join(FIRMWARE_OPS)}); choose train.model = "cnn" or "dscnn"'
        )


# --- TFLite Micro --------------------------------------------------------------------------------


def tflm_interpreter(tflite: bytes, arena_size: int) -> Any:
    from tflite_micro.python.tflite_micro import runtime

    return runtime.Interpreter.from_bytes(tflite, arena_size=int(arena_size))


def tflm_runs(tflite: bytes, arena_size: int) -> bool:
    """Whether TFLM can allocate and invoke the model in an arena of `arena_size` bytes."""
    try:
        interpreter = tflm_interpreter(tflite, arena_size)
        detail = interpreter.get_input_details(0)
        interpreter.set_input(np.zeros(detail["shape"], dtype=detail["dtype"]), 0)
        interpreter.invoke()
        return True
    except (RuntimeError, ValueError):
        return False


def minimal_arena(tflite: bytes) -> int:
    """Smallest arena (multiple of ARENA_ALIGN) TFLM runs the model in: doubling, then bisection."""
    with quiet_native_output():
        return _bisect_arena(tflite)


def _bisect_arena(tflite: bytes) -> int:
    arena = smallest_arena(lambda size: tflm_runs(tflite, size), 16 * 1024, ARENA_LIMIT, ARENA_ALIGN)
    if arena is None:
        raise KwtuiError(f"convert: TFLite Micro cannot run the model even with a {ARENA_LIMIT} byte arena")
    return arena


def io_quantization(tflite: bytes) -> dict[str, Any]:
    interpreter = tflm_interpreter(tflite, ARENA_LIMIT)
    result = {}
    for name, detail in (("input", interpreter.get_input_details(0)), ("output", interpreter.get_output_details(0))):
        q = detail["quantization_parameters"]
        scales, zeros = q["scales"], q["zero_points"]
        result[f"{name}_dtype"] = np.dtype(detail["dtype"]).name
        result[f"{name}_scale"] = float(scales[0]) if len(scales) else 1.0
        result[f"{name}_zero_point"] = int(zeros[0]) if len(zeros) else 0
    return result


def tflm_predict(
    tflite: bytes, arena_size: int, x: np.ndarray, quant: dict[str, Any], cancel: ev.CancelToken | None = None
) -> np.ndarray:
    """Probabilities (n, outputs) from TFLM, quantizing inputs and dequantizing outputs as the firmware does."""
    return _tflm_run(tflm_interpreter(tflite, arena_size), x, quant, cancel)


def _tflm_run(interpreter: Any, x: np.ndarray, quant: dict[str, Any], cancel: ev.CancelToken | None) -> np.ndarray:
    int8 = quant["input_dtype"] == "int8"
    outputs = []
    for i, sample in enumerate(x):
        if cancel is not None and i % 64 == 0:
            cancel.raise_if_cancelled()
        if int8:
            q = np.round(sample / quant["input_scale"] + quant["input_zero_point"])
            sample = np.clip(q, -128, 127).astype(np.int8)
        interpreter.set_input(sample[np.newaxis], 0)
        interpreter.invoke()
        out = np.asarray(interpreter.get_output(0)).reshape(-1)
        if int8:
            out = (out.astype(np.float32) - quant["output_zero_point"]) * quant["output_scale"]
        outputs.append(out.astype(np.float32))
    return np.stack(outputs) if outputs else np.zeros((0, 1), np.float32)


VERIFY_CHUNK = 512  # clips loaded at a time: memory stays flat with the size of the test split


def verify(
    keras_model: Any,
    tflite: bytes,
    arena: int,
    quant: dict[str, Any],
    paths: list[Path],
    cancel: ev.CancelToken,
    report: ev.Reporter,
) -> tuple[np.ndarray, np.ndarray]:
    """Float (Keras) and TFLM probabilities for the same clips, read from disk in chunks."""
    float_parts, tflm_parts = [], []
    interpreter = tflm_interpreter(tflite, arena)
    started = time.monotonic()
    for start in range(0, len(paths), VERIFY_CHUNK):
        x = load_batch(paths[start : start + VERIFY_CHUNK])
        float_parts.append(np.asarray(keras_model(x, training=False), dtype=np.float32).reshape(len(x), -1))
        tflm_parts.append(_tflm_run(interpreter, x, quant, cancel))
        done = start + len(x)
        rate = done / max(time.monotonic() - started, 1e-6)
        report(
            ev.Progress(
                STAGE, done, len(paths), rate, (len(paths) - done) / rate, "clips", "TFLite Micro vs float check"
            )
        )
    return np.concatenate(float_parts), np.concatenate(tflm_parts)


def accuracy(probabilities: np.ndarray, labels: np.ndarray, sigmoid: bool) -> float:
    if len(labels) == 0:
        return float("nan")
    return float(np.mean(predicted_classes(probabilities, sigmoid) == labels))


# --- the stage ---------------------------------------------------------------------------------------


_KWTUI_SOURCE_HEADS = (b"// Generated by `kwtui convert`", b"// PLACEHOLDER - replaced by `kwtui convert")


def _firmware_dir(layout: RunLayout, report: ev.Reporter) -> Path | None:
    """The configured firmware folder ("" = none). Its model.cc/model.h are replaced only when kwtui wrote
    them (or they are the firmware's placeholder): a user's own source file there is never overwritten."""
    if not layout.preset.convert.firmware_dir:
        return None
    path = layout.firmware_dir.expanduser()
    if path.exists() and not path.is_dir():
        raise UserError(f"convert.firmware_dir {path}: is a file, not a folder; choose a folder")
    for name in ("model.cc", "model.h"):
        target = path / name
        if target.exists():
            try:
                with open(target, "rb") as handle:
                    head = handle.read(64)
            except OSError as exc:
                raise UserError(
                    f"convert.firmware_dir {target}: unreadable ({exc.strerror}); fix its permissions"
                ) from None
            if not head.startswith(_KWTUI_SOURCE_HEADS):
                raise UserError(
                    f"convert.firmware_dir {target}: not written by kwtui, so it is left alone; move it away or "
                    "choose another convert.firmware_dir"
                )
    return path


def _representative(train: Any, count: int, seed: int) -> np.ndarray:
    picks = np.random.default_rng([seed, 7]).permutation(len(train))[:count]
    return load_batch([train.paths[i] for i in sorted(picks)])


def run_convert(preset: Preset, report: ev.Reporter, cancel: ev.CancelToken) -> dict[str, Any]:
    layout = RunLayout(preset)
    with run_folder.writing(layout.run_dir, "run_dir", STAGE), run_folder.reading(layout.features_dir, STAGE):
        return _convert(preset, layout, report, cancel)


def _convert(preset: Preset, layout: RunLayout, report: ev.Reporter, cancel: ev.CancelToken) -> dict[str, Any]:
    from kwtui.core.model import load_keras
    from kwtui.core.stages.train import trained_model_path

    started = time.monotonic()
    source = trained_model_path(layout, "convert")
    splits = load_splits(layout, ("train", "validation", "test"))
    train, test = splits["train"], splits["test"]
    if len(test) == 0:  # verify on what there is; the summary says which split
        test = splits["validation"] if len(splits["validation"]) else train
        report(ev.StageWarning(STAGE, f"no test clips: checking TFLite Micro against the {test.name} split"))
    check_files(test.paths, report, cancel, STAGE)
    quantization = preset.convert.quantization
    report(ev.Started(STAGE, total=len(test), unit="clips", message=f"{quantization} TFLite from {source.name}"))

    sigmoid = sigmoid_output(preset)
    n_outputs, sigmoid_units = preset.model_outputs
    keras_model = load_keras(source)
    cancel.raise_if_cancelled()
    representative = _representative(train, preset.convert.representative_samples, preset.train.seed)
    if preset.train.model == "stream":
        model = _streaming_model(keras_model, representative, test, cancel, report)
    else:
        model = _whole_window_model(
            keras_model, preset, source, n_outputs, sigmoid_units, representative, test, cancel, report
        )
    tflite, stride = model.tflite, model.stride
    ops = model_ops(tflite)
    float_acc = accuracy(model.float_probs, test.labels, sigmoid)
    tflm_acc = accuracy(model.tflm_probs, test.labels, sigmoid)
    if sigmoid:
        agreement = float(np.mean((model.float_probs[:, 0] >= 0.5) == (model.tflm_probs[:, 0] >= 0.5)))
    else:
        agreement = float(np.mean(model.float_probs.argmax(1) == model.tflm_probs.argmax(1)))
    arena, arena_min, quant, compute = model.arena, model.arena_min, model.quant, model.compute

    ev_cfg = preset.evaluate
    op = records.detector_settings(layout)
    thresholds, windows = op.per_keyword(len(preset.classes.keywords))
    meta = {
        "kind": "model",
        "version": records.RECORD_VERSION,
        "fingerprint": records.model_fingerprint(layout),
        "train_fingerprint": records.train_fingerprint(preset),
        "train_run": records.train_run_id(layout),
        "preset": preset.name,
        "source_model": str(source),
        "final_fit_all": source != layout.best_model,
        "quantization": quantization,
        "model_bytes": len(tflite),
        "model_sha256": hashlib.sha256(tflite).hexdigest(),  # flash, export, detect and the up-to-date check verify it
        "arena_bytes": arena,
        "arena_min_bytes": arena_min,
        "arena_margin_bytes": arena - arena_min,
        "ops": ops,
        "compute": compute,
        "labels": preset.class_names[:1] if sigmoid else preset.class_names,
        "num_keywords": len(preset.classes.keywords),
        "sigmoid_output": sigmoid,
        **quant,
        "frontend": preset.features.frontend,
        "stride": stride,  # feature slices per inference: 1 = the whole window every hop (legacy models)
        "state_variables": model.state_variables,
        "feature_frames": stride if stride > 1 else N_FRAMES,  # the model's input: slices (frames) x bins
        "feature_bins": micro_frontend.CHANNELS if stride > 1 else N_BINS,
        "average_window": op.average_window,
        "threshold": op.threshold,
        "average_windows": windows,  # each keyword's (the firmware's post-processing, model.h)
        "thresholds": thresholds,
        "operating_point_from": op.chosen_by,
        "refractory_ms": int(round(ev_cfg.refractory_ms)),
        "hop_ms": int(round(ev_cfg.hop_ms)),
        "test_clips": len(test),
        "verified_on_split": test.name,
        "float_accuracy": round(float_acc, 4),
        "tflm_accuracy": round(tflm_acc, 4),
        "tflm_float_agreement": round(agreement, 4),
        **({"streaming_check": model.streaming_check} if model.streaming_check else {}),
    }
    firmware_dir = _firmware_dir(layout, report)
    if firmware_dir is not None:
        writer.remove_stale_temps(firmware_dir)  # kwtui-scheme temps of a killed export (never other files)
    try:
        written = export_files(tflite, meta, layout, firmware_dir)
    except OSError as exc:
        raise KwtuiError(
            f"convert: cannot write the model files ({exc.strerror or exc}); previous export kept"
        ) from None

    summary = {
        "quantization": quantization,
        "model_bytes": len(tflite),
        "arena_bytes": arena,
        "arena_min_bytes": arena_min,
        "macs_per_inference": compute["macs_per_inference"],
        "estimated_ms_esp32": compute["estimated_ms"]["esp32"],
        "estimated_ms_esp32s3_esp_nn": compute["estimated_ms"]["esp32s3_esp_nn"],
        "float_accuracy": meta["float_accuracy"],
        "tflm_accuracy": meta["tflm_accuracy"],
        "tflm_float_agreement": meta["tflm_float_agreement"],
        "test_clips": len(test),
        "ops": " ".join(ops),
        "tflite": str(layout.tflite),
        "firmware_dir": str(firmware_dir) if firmware_dir else "",
        "files": len(written),
        "seconds": round(time.monotonic() - started, 1),
    }
    if meta["final_fit_all"]:
        summary["note"] = "converted the final-fit-all model: test accuracy is not held-out"
    report(ev.Finished(STAGE, summary))
    return summary


@dataclass
class ConvertedModel:
    """A verified conversion: the .tflite, its arena, quantization and compute, and both models' outputs on the
    verification clips."""

    tflite: bytes
    stride: int  # feature slices per inference (1: the whole window at every hop)
    arena: int
    arena_min: int
    quant: dict[str, Any]
    compute: dict[str, Any]
    float_probs: np.ndarray
    tflm_probs: np.ndarray
    state_variables: int = 0
    streaming_check: dict[str, Any] | None = None


def _check_runtime(tflite: bytes) -> None:
    check_firmware_ops(model_ops(tflite))
    problems = runtime_compat.incompatibilities(tflite)
    if problems:
        raise KwtuiError(
            f"convert: the model uses what the firmware's runtime ({runtime_compat.FIRMWARE_RUNTIME}) "
            f"lacks: {'; '.join(map(str, problems))}"
        )


def _warn_if_slow(compute: dict[str, Any], hop_ms: float, report: ev.Reporter) -> None:
    slowest = compute["estimated_ms"]["esp32_esp_nn"]  # the firmware links ESP-NN; the plain ESP32 is the slower chip
    if slowest > hop_ms:
        report(
            ev.StageWarning(
                STAGE,
                f"about {slowest:.0f} ms per inference on an ESP32 (estimate), longer "
                f"than the {hop_ms:.0f} ms hop: raise evaluate.hop_ms or choose a smaller train.model",
            )
        )


def _streaming_model(
    keras_model: Any, representative: np.ndarray, test: Any, cancel: ev.CancelToken, report: ev.Reporter
) -> ConvertedModel:
    """The streaming graph of the trained model (kwtui.core.streaming, the path the ESPHome export takes too),
    verified stride by stride in TFLM against the whole-clip model."""
    from kwtui.core.stages.esphome import describe_model
    from kwtui.core.streaming import (
        compare_with_whole_clips,
        streaming_module,
        to_streaming_tflite,
        within_stream_tolerance,
    )
    from kwtui.core.tflite.arena_probe import arena_with_margin

    module, stride = streaming_module(keras_model)
    tflite = to_streaming_tflite(module, stride, representative[..., 0])
    _check_runtime(tflite)
    cancel.raise_if_cancelled()
    compute = compute_summary(tflite, stride * micro_frontend.STEP_MS)
    _warn_if_slow(compute, stride * micro_frontend.STEP_MS, report)
    arena_min, arena = arena_with_margin(tflite, ARENA_MARGIN_BYTES, ARENA_LIMIT, ARENA_ALIGN, "convert")
    with quiet_native_output():
        comparison, streamed, whole = compare_with_whole_clips(
            keras_model, tflite, arena, stride, test.paths, cancel, report, STAGE
        )
    if not within_stream_tolerance(comparison):
        raise KwtuiError(
            f"convert: the streaming model differs from the trained model (mean |difference| "
            f"{comparison['mean_abs_difference']}, agreement {comparison['agreement']} on {comparison['clips']} "
            "clips); retrain or report this"
        )
    return ConvertedModel(
        tflite,
        stride,
        arena,
        arena_min,
        io_quantization(tflite),
        compute,
        whole,
        streamed,
        describe_model(tflite)["variables"],
        comparison,
    )


def _whole_window_model(
    keras_model: Any,
    preset: Preset,
    source: Path,
    n_outputs: int,
    sigmoid: bool,
    representative: np.ndarray,
    test: Any,
    cancel: ev.CancelToken,
    report: ev.Reporter,
) -> ConvertedModel:
    """The legacy models: the whole feature window in, one inference per hop."""
    from kwtui.core.model import inference_clone

    try:
        clone = inference_clone(keras_model, preset.train.model, n_outputs, sigmoid)
    except ValueError as exc:
        raise UserError(
            f"{source}: does not match the preset (train.model={preset.train.model}, {n_outputs} outputs); "
            f"retrain with `kwtui train {preset.name}` ({str(exc).splitlines()[0][:80]})"
        ) from None
    quantization = preset.convert.quantization
    tflite = to_tflite(clone, representative if quantization == "int8" else None, quantization)
    _check_runtime(tflite)
    cancel.raise_if_cancelled()
    compute = compute_summary(tflite, preset.evaluate.hop_ms)
    _warn_if_slow(compute, preset.evaluate.hop_ms, report)
    arena_min = minimal_arena(tflite)
    arena = -(-(arena_min + ARENA_MARGIN_BYTES) // ARENA_ALIGN) * ARENA_ALIGN
    quant = io_quantization(tflite)
    float_probs, tflm_probs = verify(keras_model, tflite, arena, quant, test.paths, cancel, report)
    return ConvertedModel(tflite, 1, arena, arena_min, quant, compute, float_probs, tflm_probs)


def export_files(tflite: bytes, meta: dict[str, Any], layout: RunLayout, firmware_dir: Path | None) -> list[Path]:
    from kwtui.core.device.firmware_files import export_model

    return export_model(tflite, meta, layout.run_dir, firmware_dir)
