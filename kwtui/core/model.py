"""Model definitions. TensorFlow/Keras are imported inside functions only.

Every layer used here converts to an op the firmware's resolver registers (see convert.FIRMWARE_OPS):
Conv2D -> CONV_2D, DepthwiseConv2D -> DEPTHWISE_CONV_2D, pooling -> MAX/AVERAGE_POOL_2D,
Flatten -> RESHAPE, Dense -> FULLY_CONNECTED, softmax/sigmoid -> SOFTMAX/LOGISTIC,
GlobalAveragePooling2D -> MEAN. BatchNormalization folds into the convolutions; ReLU is fused.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from kwtui.core import choices
from kwtui.core.choices import Frontend
from kwtui.core.data.spectrogram import INPUT_SHAPE
from kwtui.core.errors import KwtuiError

MODELS = choices.MODELS  # re-exported: the wizard lists them from here
# The streaming model (ESPHome): a strided first convolution over (kernel) feature slices every (stride) slices,
# then depthwise-separable blocks with "valid" time padding, so that a 1 s clip (98 slices) is exactly its
# receptive field: (stride * (steps - 1) + kernel) = 98 with steps = POOL + sum(block kernels - 1).
STREAM_FIRST = {"filters": 32, "kernel": 5, "stride": 3}
STREAM_BLOCKS = ((5, 48), (9, 48), (13, 64))  # (time kernel, channels)
STREAM_POOL = 8  # the last steps averaged before the output unit
STREAM_HOP_MS = STREAM_FIRST["stride"] * 10  # one inference per stride of 10 ms feature slices
LEGACY_HOP_MS = 100  # the whole-window models re-run their 1 s window this often (diy-alexa's firmware)
FRONTEND_OF: dict[str, Frontend] = {
    "cnn": "spectrogram",
    "dscnn": "spectrogram",
    "dscnn_s": "spectrogram",
    "stream": "micro",
}


def family_settings(model: str, hop_ms: float) -> tuple[Frontend, float]:
    """(features.frontend, evaluate.hop_ms) that go with `model`, keeping a hop the user chose for a legacy model:
    a model kind brings its feature and the rate the chip runs it at."""
    if model == "stream":
        return FRONTEND_OF[model], float(STREAM_HOP_MS)
    return FRONTEND_OF[model], float(LEGACY_HOP_MS if hop_ms == STREAM_HOP_MS else hop_ms)


# diy-alexa uses 50 hidden units (44 KB); 40 keeps our int8 model at ~39 KB, well under the 45 KB target,
# since TFLite's per-tensor metadata adds ~5 KB on top of the 828 x units weight matrix.
CNN_DENSE_UNITS = 40


def predicted_classes(outputs: Any, single_sigmoid: bool) -> Any:
    """The class each row of model outputs says: the largest output, or for one sigmoid, 1 at 0.5 and above."""
    probs = np.asarray(outputs)
    return (probs[:, 0] >= 0.5).astype(int) if single_sigmoid else probs.argmax(axis=1)


def balanced_accuracy(labels: Any, predicted: Any) -> float:
    """The mean recall over the classes present. Plain accuracy gives a model that calls every clip `_unknown` the
    share of `_unknown` clips: 0.74 on the demo's validation split, which made an untrained epoch 1 the best."""
    labels, predicted = np.asarray(labels), np.asarray(predicted)
    return float(np.mean([np.mean(predicted[labels == c] == c) for c in np.unique(labels)])) if len(labels) else 0.0


def seed_everything(seed: int) -> None:
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    try:  # cheap for these small models on CPU; makes reruns bit-identical
        tf.config.experimental.enable_op_determinism()
    except Exception:  # noqa: BLE001 - older TF or already initialised: determinism is best effort
        pass


def _head(x: Any, n_outputs: int, sigmoid: bool) -> Any:
    import keras

    if sigmoid and n_outputs == 1:
        return keras.layers.Dense(1, activation="sigmoid", name="keyword")(x)
    return keras.layers.Dense(n_outputs, activation="sigmoid" if sigmoid else "softmax", name="classes")(x)


def build_cnn(
    n_outputs: int,
    sigmoid: bool,
    batch_size: int | None = None,
    seed: int = 0,
    input_shape: tuple[int, ...] = INPUT_SHAPE,
) -> Any:
    """diy-alexa style: conv 4x3x3 relu -> maxpool -> conv 4x3x3 relu -> maxpool -> dropout -> dense -> dense."""
    import keras
    from keras import layers

    inputs = keras.Input(shape=input_shape, batch_size=batch_size, name="spectrogram")
    x = layers.Conv2D(4, 3, activation="relu", name="conv1")(inputs)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.Conv2D(4, 3, activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(2, name="pool2")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dropout(0.1, seed=seed, name="dropout")(x)
    x = layers.Dense(CNN_DENSE_UNITS, activation="relu", name="dense")(x)
    return keras.Model(inputs, _head(x, n_outputs, sigmoid), name="kwtui_cnn")


def build_dscnn(
    n_outputs: int,
    sigmoid: bool,
    batch_size: int | None = None,
    seed: int = 0,
    input_shape: tuple[int, ...] = INPUT_SHAPE,
    width: int = 32,
    blocks: int = 4,
) -> Any:
    """Depthwise-separable CNN (DS-CNN, Zhang et al. 2017) sized for an ESP32: ~7k params, 23 KB int8, ~77 KB arena."""
    import keras
    from keras import layers

    inputs = keras.Input(shape=input_shape, batch_size=batch_size, name="spectrogram")
    x = layers.Conv2D(width, (5, 3), strides=(2, 2), padding="same", use_bias=False, name="conv0")(inputs)
    x = layers.BatchNormalization(name="bn0")(x)
    x = layers.ReLU(name="relu0")(x)
    for b in range(1, blocks + 1):
        x = layers.DepthwiseConv2D(3, padding="same", use_bias=False, name=f"dw{b}")(x)
        x = layers.BatchNormalization(name=f"dw{b}_bn")(x)
        x = layers.ReLU(name=f"dw{b}_relu")(x)
        x = layers.Conv2D(width, 1, use_bias=False, name=f"pw{b}")(x)
        x = layers.BatchNormalization(name=f"pw{b}_bn")(x)
        x = layers.ReLU(name=f"pw{b}_relu")(x)
        if b == 2:
            x = layers.MaxPooling2D(2, name="pool")(x)
    x = layers.GlobalAveragePooling2D(name="mean")(x)
    x = layers.Dropout(0.2, seed=seed, name="dropout")(x)
    return keras.Model(inputs, _head(x, n_outputs, sigmoid), name="kwtui_dscnn")


def build_dscnn_s(
    n_outputs: int,
    sigmoid: bool,
    batch_size: int | None = None,
    seed: int = 0,
    input_shape: tuple[int, ...] = INPUT_SHAPE,
) -> Any:
    """A DS-CNN with a cheaper front for an ESP32's arena: a strided first convolution of 24 filters pooled at
    once, so the largest activation pair stays under ~35 KB int8, then four depthwise-separable blocks of 32."""
    import keras
    from keras import layers

    inputs = keras.Input(shape=input_shape, batch_size=batch_size, name="spectrogram")
    x = layers.Conv2D(24, (5, 3), strides=(2, 2), padding="same", use_bias=False, name="conv0")(inputs)
    x = layers.BatchNormalization(name="bn0")(x)
    x = layers.ReLU(name="relu0")(x)
    x = layers.MaxPooling2D(2, name="pool0")(x)
    for b in range(1, 5):
        x = layers.DepthwiseConv2D(3, padding="same", use_bias=False, name=f"dw{b}")(x)
        x = layers.BatchNormalization(name=f"dw{b}_bn")(x)
        x = layers.ReLU(name=f"dw{b}_relu")(x)
        x = layers.Conv2D(32, 1, use_bias=False, name=f"pw{b}")(x)
        x = layers.BatchNormalization(name=f"pw{b}_bn")(x)
        x = layers.ReLU(name=f"pw{b}_relu")(x)
    x = layers.GlobalAveragePooling2D(name="mean")(x)
    x = layers.Dropout(0.2, seed=seed, name="dropout")(x)
    return keras.Model(inputs, _head(x, n_outputs, sigmoid), name="kwtui_dscnn_s")


def build_stream(
    n_outputs: int,
    sigmoid: bool,
    batch_size: int | None = None,
    seed: int = 0,
    input_shape: tuple[int, ...] = INPUT_SHAPE,
) -> Any:
    """The streaming model (microWakeWord's kind), trained on whole clips: convolutions over time only, no time
    padding, so that kwtui.core.stages.esphome can run it one stride of feature slices at a time with its layers'
    recent inputs kept in state variables. One sigmoid output for one wake word (what ESPHome runs), or one output
    per keyword + _unknown/_background (a softmax, or a sigmoid each): command words in one model, for kwtui's
    firmware."""
    import keras
    from keras import layers

    frames, bins = input_shape[:2]
    steps = STREAM_POOL + sum(kernel - 1 for kernel, _ in STREAM_BLOCKS)
    first = STREAM_FIRST
    if first["stride"] * (steps - 1) + first["kernel"] != frames:
        raise ValueError(f"the streaming model's receptive field does not cover {frames} frames")
    inputs = keras.Input(shape=input_shape, batch_size=batch_size, name="features")
    x = layers.Reshape((frames, bins), name="slices")(inputs)
    x = layers.Conv1D(first["filters"], first["kernel"], strides=first["stride"], activation="relu", name="conv0")(x)
    for b, (kernel, channels) in enumerate(STREAM_BLOCKS, 1):
        x = layers.DepthwiseConv1D(kernel, name=f"dw{b}")(x)
        x = layers.Conv1D(channels, 1, activation="relu", name=f"pw{b}")(x)
    x = layers.GlobalAveragePooling1D(name="mean")(x)
    x = layers.Dropout(0.1, seed=seed, name="dropout")(x)
    return keras.Model(inputs, _head(x, n_outputs, sigmoid), name="kwtui_stream")


BUILDERS = {"cnn": build_cnn, "dscnn": build_dscnn, "dscnn_s": build_dscnn_s, "stream": build_stream}


def inference_clone(model: Any, kind: str, n_outputs: int, sigmoid: bool) -> Any:
    """The same weights in a batch-1 graph: static shapes, so Flatten converts to a single RESHAPE."""
    clone = BUILDERS[kind](n_outputs, sigmoid, batch_size=1, input_shape=tuple(model.input_shape[1:]))
    clone.set_weights(model.get_weights())
    return clone


def build_model(
    kind: str,
    n_outputs: int,
    sigmoid: bool,
    learning_rate: float,
    seed: int = 0,
    input_shape: tuple[int, ...] = INPUT_SHAPE,
) -> Any:
    """A compiled model. Labels are integer class indices (softmax), 0/1 (one sigmoid) or one-hot rows (a sigmoid
    per class: kwtui.core.features.store.make_sequence's `one_hot`)."""
    import keras

    model = BUILDERS[kind](
        n_outputs, sigmoid, seed=seed, input_shape=input_shape
    )  # the dropout seed is saved in the layer config
    if sigmoid and n_outputs > 1:  # one against the rest per class; accuracy still by the highest score
        loss, metric = keras.losses.BinaryCrossentropy(), keras.metrics.CategoricalAccuracy(name="accuracy")
    elif sigmoid:
        loss, metric = keras.losses.BinaryCrossentropy(), keras.metrics.BinaryAccuracy(name="accuracy")
    else:
        loss, metric = (
            keras.losses.SparseCategoricalCrossentropy(),
            keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
        )
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss, metrics=[metric])
    return model


def load_keras(path: Path, hint: str = "re-run `kwtui train` to write it again") -> Any:
    import keras

    path = Path(path)
    if path.is_file() and not zipfile.is_zipfile(path):  # Keras calls a damaged archive "File not found"
        raise KwtuiError(f"{path}: damaged ({path.stat().st_size} bytes, not a complete .keras archive); {hint}")
    try:
        return keras.models.load_model(path)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise KwtuiError(f"{path}: cannot load model ({str(exc).splitlines()[0][:100]}); {hint}") from None
