"""The streaming model's STREAM mode: the trained whole-clip network (kwtui.core.model.build_stream) run one stride
of feature slices at a time, its conversion to int8 TFLite and its check against the whole-clip model.

One path for both targets: kwtui's firmware (`kwtui convert`) and ESPHome (`kwtui export esphome`) get the same
graph, the same calibration and the same verification. The graph is derived from the trained model's own layers
(kernel, stride, activation), so the network is defined once, in kwtui.core.model: every layer that looks back in
time keeps its last inputs in a TFLite resource variable (VAR_HANDLE / READ_VARIABLE / ASSIGN_VARIABLE, set up
in CALL_ONCE), the input is int8 [1, stride, 40] at the micro frontend's fixed quantization and the output uint8
probabilities [1, outputs] (one sigmoid for a wake word, or a softmax over keywords + _unknown/_background).
"""

from __future__ import annotations

import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from kwtui.core import events as ev
from kwtui.core.data import micro_frontend
from kwtui.core.errors import KwtuiError
from kwtui.core.esphome_rules import INPUT_SCALE, INPUT_ZERO_POINT
from kwtui.core.features.store import load_batch
from kwtui.core.native import quiet_native_output

OUTPUT_SCALE = 1 / 256  # uint8 probabilities, zero point 0 (what ESPHome reads)
# The streaming int8 model against the whole-clip float model on the same test clips:
STREAM_MAX_MEAN_ABS_DIFFERENCE = 0.05  # mean |probability difference|
STREAM_MIN_AGREEMENT = 0.95  # share of clips given the same decision (same side of 0.5, or the same top class)


def _layers(keras_model: Any) -> list[tuple[str, Any, list[np.ndarray]]]:
    """(kind, layer, weights) of the whole-clip model's computing layers, in order."""
    found = []
    for layer in keras_model.layers:
        kind = layer.__class__.__name__
        if kind in ("Conv1D", "DepthwiseConv1D", "Dense"):
            found.append((kind, layer, [np.asarray(w) for w in layer.get_weights()]))
        elif kind not in ("InputLayer", "Reshape", "GlobalAveragePooling1D", "Dropout"):
            raise KwtuiError(f'layer {layer.name} ({kind}) has no streaming form: train.model must be "stream"')
    return found


def streaming_module(keras_model: Any) -> tuple[Any, int]:
    """A tf.Module whose `__call__` takes [1, stride, 40] feature slices and returns the model's probabilities
    [1, outputs] (one sigmoid, or a softmax over classes); every layer that looks back in time keeps its last inputs in a variable. Returns (module, stride)."""
    import tensorflow as tf

    from kwtui.core.model import STREAM_POOL

    layers = _layers(keras_model)
    first = layers[0][1]
    stride, channels = int(first.strides[0]), micro_frontend.CHANNELS
    # (kind, weights, kept inputs, input channels, strides, activation)
    plan: list[tuple[str, list[np.ndarray], int, int, int, str | None]] = []
    in_channels = channels
    for kind, layer, weights in layers:
        if kind == "Dense":
            plan.append(("mean", [], STREAM_POOL - 1, in_channels, 1, None))
            plan.append((kind, weights, 0, in_channels, 1, layer.activation.__name__))
            continue
        kernel = int(layer.kernel_size[0])
        step = int(layer.strides[0])
        kept = kernel - step if step > 1 else kernel - 1
        out_channels = weights[0].shape[-1] * (in_channels if kind == "DepthwiseConv1D" else 1)
        plan.append((kind, weights, kept, in_channels, step, layer.activation.__name__))
        in_channels = out_channels

    class Streaming(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.states = [
                tf.Variable(tf.zeros((1, kept, 1, width)), trainable=False, name=f"state{i}")
                for i, (_, _, kept, width, _, _) in enumerate(plan)
                if kept
            ]
            self.constants = [[tf.constant(w) for w in weights] for _, weights, *_ in plan]

        @tf.function(input_signature=[tf.TensorSpec([1, stride, channels], tf.float32, name="features")])
        def __call__(self, features: Any) -> Any:
            x = tf.reshape(features, [1, stride, 1, channels])
            state = iter(self.states)
            for (kind, _, kept, _, step, activation), constants in zip(plan, self.constants):
                if kept:
                    variable = next(state)
                    x = tf.concat([variable, x], axis=1)
                    variable.assign(x[:, -kept:])
                if kind == "Conv1D":
                    x = tf.nn.conv2d(x, tf.expand_dims(constants[0], 1), [1, step, 1, 1], "VALID") + constants[1]
                elif kind == "DepthwiseConv1D":
                    x = tf.nn.depthwise_conv2d(x, tf.expand_dims(constants[0], 1), [1, 1, 1, 1], "VALID")
                    x = x + constants[1]
                elif kind == "mean":
                    x = tf.reduce_mean(x, axis=[1, 2])
                else:
                    x = tf.matmul(x, constants[0]) + constants[1]
                if activation == "relu":
                    x = tf.nn.relu(x)
                elif activation == "sigmoid":
                    x = tf.sigmoid(x)
                elif activation == "softmax":
                    x = tf.nn.softmax(x)
            return x

    return Streaming(), stride


def streaming_macs(keras_model: Any) -> int:
    """Multiply-accumulates of one streaming inference (one stride of slices; every layer makes one time step)."""
    from kwtui.core.model import STREAM_POOL

    total = 0
    for kind, _, weights in _layers(keras_model):
        kernel = weights[0]
        if kind == "Conv1D":
            total += int(np.prod(kernel.shape))  # kernel x in x out
        elif kind == "DepthwiseConv1D":
            total += int(np.prod(kernel.shape))  # kernel x channels (x 1)
        else:
            total += STREAM_POOL * kernel.shape[0] + int(np.prod(kernel.shape))  # the mean, then the dense
    return total


def clip_strides(features: np.ndarray, stride: int) -> np.ndarray:
    """A clip's (98, 40) slices as the strides a streaming model is fed, so that its last output sees exactly
    the clip: one slice of silence (zeros) in front makes (98 + 1) a multiple of the stride."""
    pad = (-len(features)) % stride
    padded = np.concatenate([np.zeros((pad, features.shape[1]), np.float32), features])
    return padded.reshape(-1, stride, features.shape[1])


def to_streaming_tflite(module: Any, stride: int, representative: np.ndarray) -> bytes:
    """int8 TFLite of the streaming module, calibrated by feeding whole clips stride by stride (so the state
    variables see their real ranges), with the input range pinned to what ESPHome's quantization assumes."""
    import tensorflow as tf

    low, high = micro_frontend.INPUT_RANGE

    def samples() -> Iterator[list[np.ndarray]]:
        for clip in representative:
            strides = clip_strides(np.clip(clip, low, high), stride)
            strides[0, 0, 0], strides[0, 0, 1] = low, high  # pins the input's calibrated range to [0, 26]
            for features in strides:
                yield [features[np.newaxis].astype(np.float32)]

    with (
        tempfile.TemporaryDirectory(prefix="kwtui-stream-") as folder,
        warnings.catch_warnings(),
        quiet_native_output(),
    ):
        warnings.simplefilter("ignore")
        tf.saved_model.save(module, folder, signatures=module.__call__.get_concrete_function())
        converter = tf.lite.TFLiteConverter.from_saved_model(folder)
        converter.optimizations = {tf.lite.Optimize.DEFAULT}
        converter._experimental_variable_quantization = True  # noqa: SLF001 - int8 state, as ESPHome expects
        # one scale per dense layer: what every TFLM build computes right (kwtui.core.tflite.runtime_compat)
        converter._experimental_disable_per_channel_quantization_for_dense_layers = True  # noqa: SLF001
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.uint8
        converter.representative_dataset = samples
        try:
            return bytes(converter.convert())
        except Exception as exc:  # noqa: BLE001 - converter errors have many types
            raise KwtuiError(f"streaming TFLite conversion failed ({str(exc).splitlines()[0][:160]})") from None


def quantize_slices(block: np.ndarray) -> np.ndarray:
    """Feature slices as the model's int8 input (ESPHome's fixed scale and zero point, as on the chip)."""
    return np.clip(np.round(block / INPUT_SCALE + INPUT_ZERO_POINT), -128, 127).astype(np.int8)


def stream_outputs(interpreter: Any, strides: np.ndarray) -> np.ndarray:
    """Every inference's probabilities (n_strides, outputs) of an interpreter fed `strides` in order."""
    rows = []
    for block in strides:
        interpreter.set_input(quantize_slices(block)[np.newaxis], 0)
        interpreter.invoke()
        rows.append(np.asarray(interpreter.get_output(0), dtype=np.float32).reshape(-1) * np.float32(OUTPUT_SCALE))
    return np.stack(rows) if rows else np.zeros((0, 1), np.float32)


def stream_clip(interpreter: Any, features: np.ndarray, stride: int) -> np.ndarray:
    """A fresh interpreter fed a clip stride by stride: its probabilities after the last stride (outputs,)."""
    return np.asarray(stream_outputs(interpreter, clip_strides(features, stride))[-1])


def compare_with_whole_clips(
    keras_model: Any,
    tflite: bytes,
    arena: int,
    stride: int,
    paths: list[Path],
    cancel: ev.CancelToken,
    report: ev.Reporter,
    stage: str,
) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """The streaming int8 model in TFLite Micro against the whole-clip float model on the same clips: the figures,
    and both models' probabilities (clips, outputs): streamed, whole."""
    from tflite_micro.python.tflite_micro import runtime

    streamed: list[np.ndarray] = []
    whole: list[np.ndarray] = []
    started = time.monotonic()
    for start in range(0, len(paths), 256):
        x = load_batch(paths[start : start + 256])
        whole.extend(np.asarray(keras_model(x, training=False), dtype=np.float32).reshape(len(x), -1))
        for clip in x[:, :, :, 0]:
            cancel.raise_if_cancelled()
            streamed.append(stream_clip(runtime.Interpreter.from_bytes(tflite, arena_size=arena), clip, stride))
        done = start + len(x)
        rate = done / max(time.monotonic() - started, 1e-6)
        report(
            ev.Progress(
                stage,
                done,
                len(paths),
                rate,
                (len(paths) - done) / rate,
                "clips",
                "streaming model vs whole-clip model",
            )
        )
    a, b = np.asarray(streamed), np.asarray(whole)
    agreement = decision_agreement(a.reshape(len(a), -1), b.reshape(len(b), -1)) if len(a) else 1.0
    return (
        {
            "clips": len(a),
            "mean_abs_difference": round(float(np.mean(np.abs(a - b))), 4) if len(a) else 0.0,
            "max_abs_difference": round(float(np.max(np.abs(a - b))), 4) if len(a) else 0.0,
            "agreement": round(agreement, 4),
            "tolerance": {"mean_abs_difference": STREAM_MAX_MEAN_ABS_DIFFERENCE, "agreement": STREAM_MIN_AGREEMENT},
        },
        a.reshape(len(a), -1),
        b.reshape(len(b), -1),
    )


DECISION_MARGIN = 2 * OUTPUT_SCALE  # two uint8 steps: closer than this, int8 rounding decides, not the model
NOISE_QUANTILE = 0.95  # the int8 model's own rounding noise: this quantile of |streamed - whole| over all outputs
# At most the mean-difference bound: a conversion that moves outputs more than that fails that bound anyway. Int8
# rounding through the layers moves some outputs by many uint8 steps, so a fixed margin of a few steps counted
# flipped near ties of a faithful conversion as disagreements.
NOISE_CAP = STREAM_MAX_MEAN_ABS_DIFFERENCE


def decision_agreement(streamed: np.ndarray, whole: np.ndarray) -> float:
    """Share of clips given the same decision by both models (the same side of 0.5, or the same top class), not
    counting a clip the whole-clip model itself decides by less than the int8 model's rounding can move: two
    uint8 steps of the output, plus the rounding noise the int8 model shows on these clips (at most NOISE_CAP) for
    each output that decides (a near tie of a weakly trained model flips by rounding alone, whatever the
    conversion). A wrong conversion moves far more
    than its noise on most clips and fails the mean-difference bound besides."""
    noise = min(float(np.quantile(np.abs(streamed - whole), NOISE_QUANTILE)), NOISE_CAP) if streamed.size else 0.0
    if whole.shape[1] == 1:  # one output moves by the noise
        same = (streamed[:, 0] >= 0.5) == (whole[:, 0] >= 0.5)
        close = np.abs(whole[:, 0] - 0.5) < DECISION_MARGIN + noise
    else:  # the two top outputs move towards each other
        same = streamed.argmax(1) == whole.argmax(1)
        top2 = np.sort(whole, axis=1)[:, -2:]
        close = top2[:, 1] - top2[:, 0] < DECISION_MARGIN + 2 * noise
    return float(np.mean(same | close))


def within_stream_tolerance(comparison: dict[str, Any]) -> bool:
    return bool(
        comparison["mean_abs_difference"] <= STREAM_MAX_MEAN_ABS_DIFFERENCE
        and comparison["agreement"] >= STREAM_MIN_AGREEMENT
    )
