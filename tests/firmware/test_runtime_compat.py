"""The converter emits only what the firmware's pinned TFLM implements, checked on the flatbuffer itself.

Pinned firmware runtime: kwtui.core.tflite.runtime_compat.FIRMWARE_RUNTIME. Verification runtime: the `tflite-micro`
Python package (its version is printed with the test). The pinned runtime's FULLY_CONNECTED kernel reads one
weight scale, so per-channel dense weights must never reach it.
"""

from __future__ import annotations

import importlib.metadata

import numpy as np

from kwtui.core.tflite import runtime_compat


def _fc_scale_counts(tflite: bytes) -> list[int]:
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(tflite, 0)
    fc = [
        i
        for i, c in enumerate(model.operatorCodes)
        if max(c.builtinCode, c.deprecatedBuiltinCode) == schema.BuiltinOperator.FULLY_CONNECTED
    ]
    counts = []
    for graph in model.subgraphs:
        for op in graph.operators:
            if op.opcodeIndex in fc:
                counts.append(len(graph.tensors[op.inputs[1]].quantization.scale))
    return counts


def test_converted_model_fits_the_pinned_runtime(trained_run):
    tflite = trained_run.run_path.joinpath("model.tflite").read_bytes()
    print(
        "firmware runtime:",
        runtime_compat.FIRMWARE_RUNTIME,
        "| verification runtime: tflite-micro",
        importlib.metadata.version("tflite-micro"),
    )
    assert runtime_compat.incompatibilities(tflite) == []
    counts = _fc_scale_counts(tflite)
    assert counts and all(n == 1 for n in counts)  # per-tensor dense weights


def test_per_channel_dense_weights_are_caught(trained_run):
    """The check can fail: TF's default (per-channel FC) conversion of the same model is refused."""
    import tensorflow as tf

    from kwtui.core.features.store import load_batch, load_splits
    from kwtui.core.io.layout import RunLayout
    from kwtui.core.model import inference_clone, load_keras

    layout = RunLayout(trained_run)
    clone = inference_clone(load_keras(layout.best_model), trained_run.train.model, len(trained_run.class_names), False)
    x = load_batch(load_splits(layout, ("train",))["train"].paths[:20])
    converter = tf.lite.TFLiteConverter.from_keras_model(clone)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([s[np.newaxis]] for s in x)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    per_channel = bytes(converter.convert())
    assert any(n > 1 for n in _fc_scale_counts(per_channel))
    problems = [str(p) for p in runtime_compat.incompatibilities(per_channel)]
    assert any("FULLY_CONNECTED" in p and "per channel" in p for p in problems)


def test_the_stated_pin_is_the_one_the_firmware_builds_with():
    from tests.helpers import firmware_runtime

    versions = firmware_runtime.pinned_versions()
    assert f"esp-tflite-micro {versions['esp-tflite-micro']}" in runtime_compat.FIRMWARE_RUNTIME
    assert f"esp-nn {versions['esp-nn']}" in runtime_compat.FIRMWARE_RUNTIME
