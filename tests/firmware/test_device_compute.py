"""Compute per inference, known and shown: MACs read from the converted flatbuffer equal the MACs counted from the
Keras layers, convert records them with the ESP32 estimates, and the estimate grows with the work."""

from __future__ import annotations

import json

from kwtui.core.device.compute import compute_summary, estimated_ms, op_costs
from kwtui.core.io.layout import RunLayout


def _keras_macs(model) -> int:
    import keras

    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            _, h, w, c = layer.output.shape
            total += h * w * c * layer.kernel_size[0] * layer.kernel_size[1]
        elif isinstance(layer, keras.layers.Conv2D):
            _, h, w, c = layer.output.shape
            total += h * w * c * layer.kernel_size[0] * layer.kernel_size[1] * layer.input.shape[-1]
        elif isinstance(layer, keras.layers.Dense):
            total += layer.input.shape[-1] * layer.units
    return int(total)


def test_macs_from_the_flatbuffer_match_the_keras_layers(trained_run):
    from kwtui.core.model import load_keras

    layout = RunLayout(trained_run)
    tflite = layout.tflite.read_bytes()
    macs = sum(c.macs for c in op_costs(tflite) if c.kind not in ("max_pool", "avg_pool"))
    assert macs == _keras_macs(load_keras(layout.best_model))
    meta = json.loads(layout.model_json.read_text())
    assert meta["compute"] == compute_summary(tflite, trained_run.evaluate.hop_ms)
    ms = meta["compute"]["estimated_ms"]
    assert ms["esp32s3_esp_nn"] < ms["esp32s3"] and ms["esp32"] > 0


def test_estimate_scales_with_the_macs(trained_run):
    costs = op_costs(RunLayout(trained_run).tflite.read_bytes())
    doubled = costs + costs
    assert abs(estimated_ms(doubled, "esp32", False) - 2 * estimated_ms(costs, "esp32", False)) < 1e-9
