"""Noise files converted once to 16 kHz float32 and memory-mapped by the feature workers."""

from __future__ import annotations

import numpy as np
import soundfile as sf

from kwtui.core.data import noise
from kwtui.core.data.audio import load_audio


def noisy_tone(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(seed)
    return (0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)


def test_short_file_is_exactly_what_load_audio_gives(tmp_path):
    path = tmp_path / "hum 44k.wav"
    sf.write(path, noisy_tone(3.2, 44100), 44100, subtype="PCM_16")
    cached = noise.open_samples(noise.prepare(path, tmp_path / "noise_cache"))
    assert np.array_equal(np.asarray(cached), load_audio(path).samples)


def test_long_file_is_converted_block_by_block_like_a_whole_file_resample(tmp_path, monkeypatch):
    monkeypatch.setattr(noise, "BLOCK_SECONDS", 2)  # several blocks and joins in a small file
    for rate, channels in ((22050, 1), (48000, 2), (16000, 1)):
        path = tmp_path / f"long_{rate}.wav"
        x = noisy_tone(7.3, rate)
        sf.write(path, np.stack([x] * channels, axis=1) if channels > 1 else x, rate, subtype="FLOAT")
        cached = np.asarray(noise.open_samples(noise.prepare(path, tmp_path / "noise_cache")))
        whole = load_audio(path).samples
        assert cached.shape == whole.shape, rate
        # Block joins (every 2 s) agree closely; the file's first and last few ms differ by design (where the
        # resampler's filter starts and ends).
        interior = slice(8000, -8000)
        assert np.abs(cached[interior] - whole[interior]).max() < 1e-3, rate


def test_cache_is_reused_and_follows_the_source(tmp_path):
    path = tmp_path / "n.wav"
    sf.write(path, noisy_tone(1.5, 16000), 16000)
    first = noise.prepare(path, tmp_path / "f")
    stamp = first.stat().st_mtime_ns
    assert noise.prepare(path, tmp_path / "f") == first and first.stat().st_mtime_ns == stamp
    sf.write(path, noisy_tone(2.5, 16000, seed=1), 16000)  # the user replaced the file
    second = noise.prepare(path, tmp_path / "f")
    assert second != first and len(noise.open_samples(second)) == 40000
    assert not [p for p in (tmp_path / "f").rglob("*.tmp")] and not [p for p in (tmp_path / "f").rglob("*.part")]
