"""The numpy feature against two independent references: TensorFlow's raw ops and a plain numpy loop."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kwtui.core.data import spectrogram as spec
from kwtui.core.data.audio import load_clip


def loop_reference(audio: np.ndarray) -> np.ndarray:
    """docs/feature.md written out step by step, frame by frame (no shared code with kwtui)."""
    x = np.asarray(audio, dtype=np.float64)
    x = x - x.mean()
    peak = np.max(np.abs(x))
    if peak > 1e-6:
        x = x / peak
    else:
        x = np.zeros_like(x)
    window = np.array([0.5 - 0.5 * math.cos(2 * math.pi * n / 320) for n in range(320)])
    rows = []
    for start in range(0, 16000 - 320 + 1, 160):
        frame = np.zeros(512)
        frame[:320] = x[start : start + 320] * window
        power = np.abs(np.fft.fft(frame)[:257]) ** 2
        bins = [power[b : b + 6].mean() for b in range(0, 257, 6)]  # the last group has 5 values
        rows.append(np.log10(np.array(bins) + 1e-6))
    return np.array(rows, dtype=np.float32)


def tf_reference(audio: np.ndarray) -> np.ndarray:
    import tensorflow as tf

    x = tf.constant(np.asarray(audio, dtype=np.float32))
    x = x - tf.reduce_mean(x)
    peak = tf.reduce_max(tf.abs(x))
    x = tf.where(peak > 1e-6, x / tf.maximum(peak, 1e-6), tf.zeros_like(x))
    s = tf.raw_ops.AudioSpectrogram(input=tf.reshape(x, (-1, 1)), window_size=320, stride=160, magnitude_squared=True)
    s = tf.nn.pool(tf.expand_dims(s, -1), window_shape=[1, 6], pooling_type="AVG", strides=[1, 6], padding="SAME")
    return (tf.math.log(tf.squeeze(s, (0, 3)) + 1e-6) / math.log(10.0)).numpy()


def make_inputs(demo_dataset):
    rng = np.random.default_rng(3)
    clips = [load_clip(p).samples for p in sorted((demo_dataset / "marvin").glob("*.wav"))[:3]]
    t = np.arange(16000) / 16000
    return clips + [
        rng.normal(0, 0.3, 16000).astype(np.float32),
        (0.5 * np.sin(2 * np.pi * 440 * t) + 0.2).astype(np.float32),  # tone with a DC offset
        np.zeros(16000, dtype=np.float32),  # silence must not divide by zero
    ]


@pytest.fixture(scope="module")
def inputs(demo_dataset):
    return make_inputs(demo_dataset)


def test_shape_and_dtype(inputs):
    out = spec.spectrogram(inputs[0])
    assert out.shape == (99, 43) and out.dtype == np.float32


def test_matches_numpy_loop(inputs):
    for audio in inputs:
        np.testing.assert_allclose(spec.spectrogram(audio), loop_reference(audio), atol=1e-4, rtol=0)


def test_matches_tensorflow_raw_ops(inputs):
    for audio in inputs:
        np.testing.assert_allclose(spec.spectrogram(audio), tf_reference(audio), atol=1e-4, rtol=0)


def test_silence_is_constant_floor():
    out = spec.spectrogram(np.zeros(16000, dtype=np.float32))
    assert np.all(out == np.float32(-6.0))


def test_rejects_wrong_length():
    with pytest.raises(ValueError):
        spec.spectrogram(np.zeros(15999, dtype=np.float32))
