"""The firmware's C++ feature extractor (host build) against kwtui.core.data.spectrogram, value by value.

Verified here, on the host: the same C++ sources the device compiles (ring buffer, FFT, windowing, pooling,
log) give every one of the 99 x 43 values within 1e-3 of Python for real speech wavs and edge signals,
through the same 160-sample push / full-second recompute path the firmware's loop uses.
Not verified here: the ESP32 compiler and its float unit, I2S capture, timing on the device.
"""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from kwtui.core.data.spectrogram import CLIP_SAMPLES, SHAPE, spectrogram

TOLERANCE = 1e-3


def cpp_features(tool, samples: np.ndarray, tmp_path, *, int16: bool = False, every: int = 0) -> np.ndarray:
    raw_in, raw_out = tmp_path / "in.raw", tmp_path / "out.raw"
    samples.astype("<i2" if int16 else "<f4").tofile(raw_in)
    args = [str(tool)] + (["--int16"] if int16 else []) + (["--every", str(every)] if every else [])
    subprocess.run(args + [str(raw_in), str(raw_out)], check=True, capture_output=True)
    return np.fromfile(raw_out, dtype="<f4").reshape(-1, *SHAPE)


def assert_close(cpp: np.ndarray, ref: np.ndarray) -> float:
    assert cpp.shape == ref.shape == SHAPE
    diff = np.abs(cpp.astype(np.float64) - ref.astype(np.float64))
    worst = np.unravel_index(np.argmax(diff), diff.shape)
    assert diff.max() < TOLERANCE, f"max |C++ - Python| = {diff.max():.2e} at frame/bin {worst}"
    return float(diff.max())


@pytest.mark.parametrize("word", ["marvin", "seven", "left", "house"])
def test_features_match_python_on_spoken_words(host_tools, spoken_clips, tmp_path, word):
    clip = spoken_clips[word]
    (cpp,) = cpp_features(host_tools["features_host"], clip, tmp_path)
    assert_close(cpp, spectrogram(clip))


def _edge_signals() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    t = np.arange(CLIP_SAMPLES) / 16000
    return {
        "silence": np.zeros(CLIP_SAMPLES, np.float32),
        "white_noise": rng.normal(0, 0.05, CLIP_SAMPLES).astype(np.float32),
        "dc_offset_tone": (0.2 + 0.05 * np.sin(2 * np.pi * 440 * t)).astype(np.float32),
        "clipped_square": np.clip(3 * np.sign(np.sin(2 * np.pi * 97 * t)), -1, 1).astype(np.float32),
        "very_quiet_noise": rng.normal(0, 1e-4, CLIP_SAMPLES).astype(np.float32),
        "nyquist_chirp": np.sin(2 * np.pi * (200 + 3900 * t) * t).astype(np.float32),
        "single_click": np.eye(1, CLIP_SAMPLES, 8000, dtype=np.float32)[0],
    }


@pytest.mark.parametrize("name", list(_edge_signals()))
def test_features_match_python_on_edge_signals(host_tools, tmp_path, name):
    signal = _edge_signals()[name]
    (cpp,) = cpp_features(host_tools["features_host"], signal, tmp_path)
    assert_close(cpp, spectrogram(signal))


def test_silence_gives_log_epsilon_everywhere(host_tools, tmp_path):
    (cpp,) = cpp_features(host_tools["features_host"], np.zeros(CLIP_SAMPLES, np.float32), tmp_path)
    assert np.all(cpp == np.float32(-6.0))


def test_streaming_ring_buffer_matches_every_window(host_tools, spoken_clips, tmp_path):
    """2.5 s of speech pushed in 160-sample blocks; one feature block every 100 ms, as on the device."""
    stream = np.concatenate([spoken_clips["marvin"], spoken_clips["seven"][:8000]])
    every = 1600
    blocks = cpp_features(host_tools["features_host"], stream, tmp_path, every=every)
    ends = [CLIP_SAMPLES + i * every for i in range(len(blocks))]
    assert ends[-1] <= len(stream) and len(blocks) == (len(stream) - CLIP_SAMPLES) // every + 1
    for block, end in zip(blocks, ends):
        assert_close(block, spectrogram(stream[end - CLIP_SAMPLES : end]))


def test_int16_samples_like_the_microphone_path(host_tools, spoken_clips, tmp_path):
    """The device keeps int16 samples in its ring buffer; normalisation makes the scale irrelevant."""
    pcm = np.round(spoken_clips["left"] / np.abs(spoken_clips["left"]).max() * 20000).astype(np.int16)
    (cpp,) = cpp_features(host_tools["features_host"], pcm, tmp_path, int16=True)
    assert_close(cpp, spectrogram(pcm.astype(np.float32) / 32768))


def test_frame_count_and_last_bin_avoid_diy_alexa_bugs(host_tools, tmp_path):
    """99 frames (not 98); the last pool bin (FFT bins 252..256) is divided by 5, not 6."""
    rng = np.random.default_rng(3)
    signal = rng.normal(0, 0.3, CLIP_SAMPLES).astype(np.float32)
    (cpp,) = cpp_features(host_tools["features_host"], signal, tmp_path)
    assert cpp.shape == (99, 43)
    ref = spectrogram(signal)
    wrong_last = np.log10((10.0 ** ref[:, -1].astype(np.float64) - 1e-6) * 5 / 6 + 1e-6)
    assert np.abs(cpp[:, -1] - ref[:, -1]).max() < TOLERANCE
    assert np.abs(cpp[:, -1] - wrong_last).min() > 0.05
    assert np.abs(cpp[-1] - ref[-1]).max() < TOLERANCE  # the 99th frame ends exactly at sample 16000
