"""What another microphone, another room and another noise do to a clip, in numpy alone.

These were audiomentations' Gain, SevenBandParametricEQ, ApplyImpulseResponse and AddColorNoise. Importing that
library brings scipy.signal and librosa into every feature worker, which with the shipped presets put the features
stage far over its memory budget (BENCHMARKS.md "Memory with a shipped preset as it is"); each effect here is a few
lines of FFT arithmetic on a 1 s clip. The same ranges and probabilities are kept, and every draw comes from the
generator passed in (audiomentations drew from the global ones), so a job's seed alone decides its variant.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SAMPLE_RATE = 16_000
GAIN_P, GAIN_DB = 0.3, (-12.0, 6.0)
EQ_P, EQ_GAIN_DB = 0.3, (-6.0, 6.0)
# seven bands, each centre drawn from its range (Hz), as audiomentations' SevenBandParametricEQ draws them; the
# lowest and highest act as shelves, the others as bells about an octave wide
EQ_BANDS_HZ = ((42, 95), (91, 204), (196, 441), (421, 948), (909, 2045), (1957, 4404), (4216, 9486))
EQ_WIDTH_OCTAVES = (0.5, 1.5)
REVERB_P = 0.3
NOISE_DECAY_DB_PER_OCTAVE = (-6.0, 6.0)  # brown (-6) ... pink (-3) ... white (0) ... blue (3) ... violet (6)


def _filtered(x: np.ndarray, gain_db: np.ndarray) -> np.ndarray:
    """`x` through a zero-phase filter whose gain (dB) at each rfft bin is `gain_db`."""
    spectrum = np.fft.rfft(x.astype(np.float64))
    return np.fft.irfft(spectrum * 10 ** (gain_db / 20), len(x)).astype(np.float32)


def _log_frequencies(n: int) -> np.ndarray:
    freqs = np.fft.rfftfreq(n, 1.0 / SAMPLE_RATE)
    return np.asarray(np.log2(np.maximum(freqs, 1.0)))


def equalize(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Seven bands of random gain: the frequency response of another microphone or loudspeaker."""
    octave = _log_frequencies(len(x))
    response = np.zeros_like(octave)
    last = len(EQ_BANDS_HZ) - 1
    for k, (low, high) in enumerate(EQ_BANDS_HZ):
        centre = np.log2(rng.uniform(low, high))
        gain = rng.uniform(*EQ_GAIN_DB)
        width = rng.uniform(*EQ_WIDTH_OCTAVES)
        if k == 0:  # low shelf: full gain below the centre, fading out above it
            shape = 1.0 / (1.0 + np.exp((octave - centre) / (width / 4)))
        elif k == last:  # high shelf
            shape = 1.0 / (1.0 + np.exp(-(octave - centre) / (width / 4)))
        else:
            shape = np.exp(-0.5 * ((octave - centre) / (width / 2)) ** 2)
        response += gain * shape
    return _filtered(x, response)


def reverberate(x: np.ndarray, impulse_response: np.ndarray) -> np.ndarray:
    """`x` in a room: convolved with its impulse response (by FFT), its length unchanged."""
    size = len(x) + len(impulse_response) - 1
    wet = np.fft.irfft(np.fft.rfft(x, size) * np.fft.rfft(impulse_response, size), size)
    return wet[: len(x)].astype(np.float32)


def colored_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """Noise whose power falls (or rises) by a random number of dB per octave, unit RMS."""
    decay = rng.uniform(*NOISE_DECAY_DB_PER_OCTAVE)
    octave = _log_frequencies(n) - np.log2(np.maximum(np.fft.rfftfreq(n, 1.0 / SAMPLE_RATE)[1], 1.0))
    noise = _filtered(rng.standard_normal(n).astype(np.float32), decay * octave)
    return noise / max(float(np.sqrt(np.mean(noise.astype(np.float64) ** 2))), 1e-12)


def load_rooms(folder: str | None) -> list[np.ndarray]:
    """The impulse responses in `folder` (room_*.wav), in name order so that a seed picks the same room from any
    run folder."""
    if not folder:
        return []
    import soundfile as sf

    return [
        np.asarray(sf.read(path, dtype="float32")[0], dtype=np.float32)
        for path in sorted(Path(folder).glob("room_*.wav"))
    ]


def apply(x: np.ndarray, rng: np.random.Generator, rooms: list[np.ndarray]) -> np.ndarray:
    """Loudness, equalizer and room, each at its probability, in that order."""
    y = np.asarray(x, dtype=np.float32)
    if rng.random() < GAIN_P:
        y = y * np.float32(10 ** (rng.uniform(*GAIN_DB) / 20))
    if rng.random() < EQ_P:
        y = equalize(y, rng)
    if rooms and rng.random() < REVERB_P:
        y = reverberate(y, rooms[int(rng.integers(len(rooms)))])
    return y
