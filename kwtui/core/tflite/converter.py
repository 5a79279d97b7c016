"""A Keras model as TFLite bytes: int8 in and out calibrated on representative samples (what the chip runs), or
float (what evaluation runs in TFLM without TensorFlow). One converter for every model kwtui deploys."""

from __future__ import annotations

import warnings
from typing import Any, Iterator

import numpy as np

from kwtui.core.errors import KwtuiError
from kwtui.core.native import quiet_native_output
from kwtui.core.tflite import runtime_compat


def to_tflite(model: Any, representative: np.ndarray | None, quantization: str) -> bytes:
    """Convert a (batch-1) Keras model; int8 in/out with `representative` calibration data, or float."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if quantization == "int8":
        if representative is None:
            raise ValueError("int8 conversion needs representative samples")
        calibration = representative

        def samples() -> Iterator[list[np.ndarray]]:
            for x in calibration:
                yield [x[np.newaxis].astype(np.float32)]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = samples
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
        # The firmware's pinned TFLM reads one scale per FULLY_CONNECTED weight tensor (runtime_compat).
        converter._experimental_disable_per_channel_quantization_for_dense_layers = (  # noqa: SLF001
            not runtime_compat.PER_CHANNEL_FULLY_CONNECTED
        )
    with warnings.catch_warnings(), quiet_native_output():
        warnings.simplefilter("ignore")
        try:
            return bytes(converter.convert())
        except Exception as exc:  # noqa: BLE001 - converter errors have many types
            raise KwtuiError(f"convert: TFLite conversion failed ({str(exc).splitlines()[0][:160]})") from None
