"""The one feature definition (DESIGN.md section 3). numpy only; firmware/src/features mirrors it.

16 kHz mono, 1 s (16000 samples) -> remove mean, scale by max |x| (silence left as zeros)
-> 99 frames of 320 samples every 160, periodic Hann window -> FFT 512 -> 257 |X|^2 bins
-> average-pool bins in groups of 6 (43 bins; the last group has 5 and is divided by 5)
-> log10(x + 1e-6). Output (99, 43) float32.
"""

from __future__ import annotations

import numpy as np

SAMPLE_RATE = 16000
CLIP_SAMPLES = 16000
WINDOW = 320
STRIDE = 160
FFT_LENGTH = 512
POOL = 6
LOG_EPSILON = 1e-6
SILENCE_PEAK = 1e-6  # below this max |x| after mean removal, the clip is treated as silence (no scaling)

N_FRAMES = (CLIP_SAMPLES - WINDOW) // STRIDE + 1  # 99
N_FFT_BINS = FFT_LENGTH // 2 + 1  # 257
N_BINS = -(-N_FFT_BINS // POOL)  # 43
SHAPE = (N_FRAMES, N_BINS)

HANN = (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(WINDOW) / WINDOW)).astype(np.float64)
_POOL_COUNTS = np.array([min(POOL, N_FFT_BINS - b * POOL) for b in range(N_BINS)], dtype=np.float64)
_POOL_STARTS = np.arange(N_BINS) * POOL


def normalize(audio: np.ndarray) -> np.ndarray:
    """Remove the mean and scale to max |x| = 1; silence stays all zeros."""
    x = np.asarray(audio, dtype=np.float64)
    x = x - x.mean()
    peak = np.abs(x).max() if x.size else 0.0
    return x / peak if peak > SILENCE_PEAK else np.zeros_like(x)


def spectrogram(audio: np.ndarray) -> np.ndarray:
    """Features of one 1 s clip at 16 kHz: float32 array of shape (99, 43)."""
    x = np.asarray(audio)
    if x.shape != (CLIP_SAMPLES,):
        raise ValueError(f"expected {CLIP_SAMPLES} samples, got shape {x.shape}")
    x = normalize(x)
    frames = np.lib.stride_tricks.sliding_window_view(x, WINDOW)[::STRIDE]  # (99, 320), a view
    power = np.abs(np.fft.rfft(frames * HANN, n=FFT_LENGTH, axis=1)) ** 2  # (99, 257)
    pooled = np.add.reduceat(power, _POOL_STARTS, axis=1) / _POOL_COUNTS
    return np.log10(pooled + LOG_EPSILON).astype(np.float32)
