"""Mixing a signal with a background at a signal-to-noise ratio (augmentation and the evaluation streams)."""

from __future__ import annotations

import numpy as np


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0


def active_rms(x: np.ndarray) -> float:
    """RMS over the 20 ms frames within 30 dB of the loudest: the word, not the silence around it."""
    frames = x[: len(x) // 320 * 320].reshape(-1, 320).astype(np.float64)
    power = np.mean(frames * frames, axis=1)
    if not power.size or power.max() <= 0:
        return 0.0
    return float(np.sqrt(power[power >= power.max() * 1e-3].mean()))


def mix_at_snr(signal: np.ndarray, background: np.ndarray, snr_db: float) -> np.ndarray:
    """signal + background scaled so that active_rms(signal) / rms(background) is snr_db."""
    noise_rms = rms(background)
    signal_rms = active_rms(signal)
    if noise_rms <= 0 or signal_rms <= 0:
        return signal
    gain = signal_rms / noise_rms / 10 ** (snr_db / 20)
    return (signal + gain * background).astype(np.float32)


def speech_span(x: np.ndarray) -> tuple[int, int] | None:
    """Where the speech of a clip is: the first and past-the-last sample of the 10 ms frames within 30 dB of its
    loudest (None for silence)."""
    frames = x[: len(x) // 160 * 160].reshape(-1, 160).astype(np.float64)
    power = np.mean(frames * frames, axis=1)
    if not power.size or power.max() <= 0:
        return None
    active = np.flatnonzero(power >= power.max() * 1e-3)
    return int(active[0]) * 160, (int(active[-1]) + 1) * 160
