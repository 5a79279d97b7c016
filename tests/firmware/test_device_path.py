"""The device's signal path, emulated on the host with a really trained and converted model.

microphone samples -> firmware C++ features (ring buffer, one window per hop) -> int8 quantization ->
TFLite Micro (the Python runtime of the same C++ kernels) -> firmware C++ post-processing -> DETECT lines,
against the all-Python path (kwtui.core.data.spectrogram -> TFLM -> kwtui.core.postprocess). It also flashes
(dry run) the real model.json/model.tflite written by `kwtui convert`, so the flash stage is tested on the
converter's real output, and TFLM runs the model from the partition image bytes in the header's arena.
NOT verified here: the TFLM build inside the ESP32 firmware, the INMP441, timing on the device.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from kwtui.core import events as ev
from kwtui.core.data.spectrogram import CLIP_SAMPLES, SAMPLE_RATE, spectrogram
from kwtui.core.device.model_image import parse_model_image
from kwtui.core.postprocess import detect
from kwtui.core.preset import from_dict
from kwtui.core.stages.convert import tflm_predict
from kwtui.core.stages.flash import run_flash
from tests.firmware.test_features_parity import cpp_features
from tests.firmware.test_postprocess_parity import cpp_detect

pytestmark = pytest.mark.slow  # trains and converts a tiny model when no other test has done it yet


@pytest.fixture(scope="module")
def converted(trained_run, tmp_path_factory):
    """A private copy of the shared trained run (the fixture is read-only), with its model.json."""
    run_dir = tmp_path_factory.mktemp("device-path") / "run"
    shutil.copytree(trained_run.run_path, run_dir, ignore=shutil.ignore_patterns("features", "checkpoints"))
    data = trained_run.to_dict() | {"run_dir": str(run_dir)}
    data["features"] = data["features"] | {"output": str(trained_run.features_path)}
    preset = from_dict(data)
    return preset, json.loads((run_dir / "model.json").read_text())


def tone_stream(seconds: float, bursts: list[tuple[float, float]], seed: int = 3) -> np.ndarray:
    """Noise with tone bursts (start s, Hz): 500 Hz is the `yes` tone of the shared tone model."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    x = 0.03 * rng.standard_normal(t.size)
    for start, hz in bursts:
        on = (t >= start) & (t < start + 0.45)
        x += 0.6 * np.sin(2 * np.pi * hz * t) * on
    return x.astype(np.float32)


def test_flash_dry_run_on_the_converters_real_output(converted, host_tools, tmp_path):
    preset, meta = converted
    summary = run_flash(preset, ev.ignore, ev.CancelToken(), dry_run=True, port="/dev/ttyUSB0")
    image = parse_model_image((preset.run_path / "model_partition.bin").read_bytes())
    assert image.model == (preset.run_path / "model.tflite").read_bytes()
    assert image.labels == meta["labels"] and image.arena_size == meta["arena_bytes"]
    assert image.num_keywords == meta["num_keywords"] and image.hop_ms == meta["hop_ms"]
    assert summary["model_image_bytes"] == len((preset.run_path / "model_partition.bin").read_bytes())
    # TFLM runs the bytes the firmware would map, in the arena size the header gives it.
    clip = tone_stream(1.0, [(0.3, 500.0)])
    probs = tflm_predict(image.model, image.arena_size, spectrogram(clip)[np.newaxis, ..., np.newaxis], meta)
    assert probs.shape == (1, len(meta["labels"])) and np.isclose(probs.sum(), 1.0, atol=0.05)


def test_cpp_features_give_the_same_model_outputs(converted, host_tools, tmp_path):
    preset, meta = converted
    tflite = (preset.run_path / "model.tflite").read_bytes()
    clips = [tone_stream(1.0, [(0.3, hz)], seed=i) for i, hz in enumerate((500.0, 1100.0, 750.0))]
    clips.append(tone_stream(1.0, [], seed=9))
    cpp = np.concatenate([cpp_features(host_tools["features_host"], c, tmp_path) for c in clips])
    ref = np.stack([spectrogram(c) for c in clips])
    scale, zero = meta["input_scale"], meta["input_zero_point"]
    q_cpp = np.clip(np.round(cpp / scale + zero), -128, 127)
    q_ref = np.clip(np.round(ref / scale + zero), -128, 127)
    assert np.mean(q_cpp == q_ref) > 0.999 and np.abs(q_cpp - q_ref).max() <= 1
    p_cpp = tflm_predict(tflite, meta["arena_bytes"], cpp[..., np.newaxis], meta)
    p_ref = tflm_predict(tflite, meta["arena_bytes"], ref[..., np.newaxis], meta)
    assert np.abs(p_cpp - p_ref).max() <= 2 * meta["output_scale"] + 1e-6


def test_streaming_detections_match_the_python_path(converted, host_tools, tmp_path):
    preset, meta = converted
    tflite = (preset.run_path / "model.tflite").read_bytes()
    hop_ms = meta["hop_ms"]
    hop = hop_ms * SAMPLE_RATE // 1000
    stream = tone_stream(6.0, [(1.2, 500.0), (1.5, 500.0), (3.0, 1100.0), (4.6, 750.0)])
    cpp = cpp_features(host_tools["features_host"], stream, tmp_path, every=hop)
    ends = [CLIP_SAMPLES + i * hop for i in range(len(cpp))]
    ref = np.stack([spectrogram(stream[end - CLIP_SAMPLES : end]) for end in ends])
    labels, n_kw = meta["labels"], meta["num_keywords"]
    args = (meta["average_window"], meta["threshold"], meta["refractory_ms"])
    python_scores = tflm_predict(tflite, meta["arena_bytes"], ref[..., np.newaxis], meta)
    device_scores = tflm_predict(tflite, meta["arena_bytes"], cpp[..., np.newaxis], meta)
    python_hits = detect(python_scores, labels, list(range(n_kw)), hop_ms, *args)
    device_hits = cpp_detect(host_tools["postprocess_host"], device_scores, labels, n_kw, *args, hop_ms)
    assert [(h.label, h.time_ms) for h in python_hits] == [(h[1], h[3]) for h in device_hits]
    # Features within ~1e-5 almost always quantize to the same int8 inputs: outputs within one or two steps.
    assert np.abs(device_scores - python_scores).max() <= 2 * meta["output_scale"] + 1e-6
