"""The one feature definition (docs/feature.md). numpy only; firmware/src/features mirrors it.

16 kHz mono, 1 s (16000 samples) -> remove mean, scale by max |x| (silence left as zeros)
-> 99 frames of 320 samples every 160, periodic Hann window -> FFT 512 -> 257 |X|^2 bins
-> average-pool bins in groups of 6 (43 bins; the last group has 5 and is divided by 5)
-> log10(x + 1e-6). Output (99, 43) float32.
"""

from __future__ import annotations

import threading

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
INPUT_SHAPE = (*SHAPE, 1)  # what the models take: one channel

HANN = (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(WINDOW) / WINDOW)).astype(np.float64)
assert WINDOW == 2 * STRIDE and CLIP_SAMPLES % STRIDE == 0  # spectrogram() frames by halves
_POOL_COUNTS = np.array([min(POOL, N_FFT_BINS - b * POOL) for b in range(N_BINS)], dtype=np.float64)


def normalize(audio: np.ndarray) -> np.ndarray:
    """Remove the mean and scale to max |x| = 1; silence stays all zeros. Returns a new float64 array."""
    x = np.array(audio, dtype=np.float64)  # a copy: changed in place below
    if not x.size:
        return x
    x -= x.mean()
    peak = max(x.max(), -x.min())  # = max |x|, without an |x| temporary
    if peak > SILENCE_PEAK:
        x /= peak
    else:
        x[:] = 0.0
    return x


class _Buffers(threading.local):
    """Per-thread work arrays: no ~200-400 KB temporaries allocated (and page-faulted) per clip."""

    def __init__(self) -> None:
        self.frames = np.zeros((N_FRAMES, FFT_LENGTH))  # columns WINDOW: stay zero (the FFT's padding)
        self.spectrum = np.empty((N_FRAMES, N_FFT_BINS), dtype=np.complex128)
        self.squares = np.empty((N_FRAMES, 2 * N_FFT_BINS))  # re^2, im^2 interleaved
        self.power = np.zeros((N_FRAMES, N_BINS * POOL))  # one zero column past the last FFT bin
        self.pooled = np.empty((N_FRAMES, N_BINS))


_buffers = _Buffers()


def spectrogram(audio: np.ndarray) -> np.ndarray:
    """Features of one 1 s clip at 16 kHz: float32 array of shape (99, 43)."""
    x = np.asarray(audio)
    if x.shape != (CLIP_SAMPLES,):
        raise ValueError(f"expected {CLIP_SAMPLES} samples, got shape {x.shape}")
    b = _buffers
    halves = normalize(x).reshape(CLIP_SAMPLES // STRIDE, STRIDE)  # frame i = halves i and i + 1
    np.multiply(halves[:-1], HANN[:STRIDE], out=b.frames[:, :STRIDE])
    np.multiply(halves[1:], HANN[STRIDE:], out=b.frames[:, STRIDE:WINDOW])
    np.fft.rfft(b.frames, axis=1, out=b.spectrum)
    np.square(b.spectrum.view(np.float64), out=b.squares)  # contiguous: faster than .real / .imag
    np.add(b.squares[:, 0::2], b.squares[:, 1::2], out=b.power[:, :N_FFT_BINS])  # |X|^2
    pooled = b.pooled  # bins summed left to right in groups of POOL (the zero column pads the last group)
    np.add(b.power[:, 0::POOL], b.power[:, 1::POOL], out=pooled)
    for k in range(2, POOL):
        pooled += b.power[:, k::POOL]
    pooled /= _POOL_COUNTS
    pooled += LOG_EPSILON
    return np.log10(pooled, out=pooled).astype(np.float32)


def feature_definition() -> dict[str, object]:
    """The parameters that define the feature, stored with every feature folder."""
    return {
        "sample_rate": SAMPLE_RATE,
        "clip_samples": CLIP_SAMPLES,
        "window": WINDOW,
        "stride": STRIDE,
        "fft_length": FFT_LENGTH,
        "pool": POOL,
        "log_epsilon": LOG_EPSILON,
        "shape": list(SHAPE),
        "dtype": "float32",
    }
