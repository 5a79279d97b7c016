"""Augmented variants of keyword clips: what a device hears that a clean recording does not.

Each variant is the clip, first optionally sped up or slowed down by resampling (tempo, pitch and formants move
together, as a shorter or longer vocal tract and a faster or slower talker do: the ASR recipe for more speakers, and
a fraction of a phase vocoder's cost), then shifted in time without ever cutting the word; half of them get running
speech right before and after the word (a keyword said inside a sentence, not alone: without this a model learns
that speech around a word means "not a keyword"); then `effects` (loudness, equalizer as another microphone, the reverb of a room),
then mixed with a background at a signal-to-noise ratio drawn from `features.noise_snr_db`:
held-out-free noise (train regions of the noise files), running speech without the keywords (train regions of
`classes.negative_speech`: a second talker), or coloured noise. Everything is drawn from the job's own seed, so a
resumed run writes the same files as an uninterrupted one.

Room impulse responses are synthetic (exponentially decaying noise at a range of reverberation times), written
once by the features stage into the run's cache, because no recorded set can be downloaded on a user's machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from kwtui.core.data import spectrogram as spec
from kwtui.core.data.mixing import active_rms, mix_at_snr, speech_span
from kwtui.core.features import effects
from kwtui.core.io import writer

IMPULSE_RESPONSES = 12
RT60_RANGE_S = (0.15, 0.8)
# background kinds and their weights (a kind without material is dropped and the rest renormalised)
BACKGROUNDS = {"clean": 0.15, "noise": 0.45, "speech": 0.25, "color": 0.15}
CONTEXT_P = 0.5  # share of variants whose word gets running speech right before and after it
CONTEXT_GAP_S = (0.03, 0.15)
CONTEXT_LEVEL_DB = (-6.0, 3.0)  # the neighbouring speech relative to the word


def write_impulse_responses(folder: Path, seed: int = 0) -> Path:
    """Synthetic room impulse responses as 16 kHz wavs (idempotent): a direct path, then noise decaying by 60 dB
    over RT60, drawn from RT60_RANGE_S."""
    import io

    import soundfile as sf

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for k in range(IMPULSE_RESPONSES):
        target = folder / f"room_{k:02d}.wav"
        rt60 = float(rng.uniform(*RT60_RANGE_S))
        n = int(rt60 * spec.SAMPLE_RATE)
        t = np.arange(n) / spec.SAMPLE_RATE
        tail = rng.normal(0, 1, n) * 10 ** (-3 * t / rt60)  # -60 dB at t = rt60
        ir = np.concatenate([[1.0], np.zeros(int(rng.integers(16, 160))), 0.3 * tail])
        if target.exists():
            continue
        buffer = io.BytesIO()
        sf.write(buffer, (ir / np.abs(ir).max()).astype(np.float32), spec.SAMPLE_RATE, format="WAV", subtype="FLOAT")
        writer.write_bytes(target, buffer.getvalue())
    return folder


SPEED_P = 0.6  # share of variants whose speed is perturbed
SPEED_RANGE = (0.85, 1.15)


def speed_perturb(x: np.ndarray, factor: float) -> np.ndarray:
    """`x` played `factor` times faster (resampled: tempo, pitch and formants scale together), at its new length."""
    import soxr

    return np.asarray(soxr.resample(x, spec.SAMPLE_RATE * factor, spec.SAMPLE_RATE, quality="HQ"), dtype=np.float32)


def shifted_whole(x: np.ndarray, max_shift: int, rng: np.random.Generator) -> np.ndarray:
    """A 1 s window of `x` (any length), centred and moved by up to +/- `max_shift` samples, never cutting the
    word: a keyword that loses its end is its beginning ("marv"), which a near miss ("marvelling") also says, and
    trained as the keyword it teaches the model to fire on it."""
    n = spec.CLIP_SAMPLES
    centre = (len(x) - n) // 2  # where the window starts in x's samples (negative: padded before)
    lo, hi = centre - max_shift, centre + max_shift
    span = speech_span(x)
    if span is not None and span[1] - span[0] <= n:
        lo, hi = max(lo, span[1] - n), min(hi, span[0])
        if lo > hi:  # the word sits further from the centre than max_shift: move it only as far as it must
            lo = hi = min(max(centre, span[1] - n), span[0])
    start = int(rng.integers(lo, hi + 1)) if hi > lo else lo
    out = np.zeros(n, dtype=np.float32)
    a, b = max(start, 0), min(start + n, len(x))
    if b > a:
        out[a - start : b - start] = x[a:b]
    return out


class Augmenter:
    """One per worker process (the rooms are read once)."""

    def __init__(self, config: dict[str, Any], read_region: Callable[[str, int, int], np.ndarray]) -> None:
        self.config = config
        self.read_region = read_region  # (source, start sample, end sample) -> 16 kHz samples; raises BadAudio
        self.effects = bool(config.get("augment"))
        self.rooms = effects.load_rooms(config.get("ir_dir")) if self.effects else []
        material = {"noise": config.get("train_noise") or [], "speech": config.get("train_speech") or []}
        self.material = {k: [r for r in v if r[2] - r[1] >= 1.0] for k, v in material.items()}
        kinds = [k for k in BACKGROUNDS if k in ("clean", "color") or self.material.get(k)]
        weights = np.array([BACKGROUNDS[k] for k in kinds])
        self.kinds, self.weights = kinds, weights / weights.sum()

    def _region(self, kind: str, rng: np.random.Generator, length: int) -> np.ndarray | None:
        """`length` samples from a random place of a random train region of `kind` (None if unreadable)."""
        from kwtui.core.data.audio import BadAudio

        path, start_s, end_s = self.material[kind][int(rng.integers(len(self.material[kind])))]
        lo, hi = int(start_s * spec.SAMPLE_RATE), int(end_s * spec.SAMPLE_RATE) - length
        start = int(rng.integers(lo, max(lo, hi) + 1))
        try:
            part = np.asarray(self.read_region(path, start, start + length), dtype=np.float32)
        except BadAudio:
            return None
        return part if len(part) == length else None

    def with_context(self, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Running speech (train regions) in the silence before and after the word, a short gap away."""
        span = speech_span(y)
        if span is None:
            return y
        first, last = span
        level = active_rms(y[first:last]) * 10 ** (rng.uniform(*CONTEXT_LEVEL_DB) / 20)
        out = y.copy()
        fade = np.linspace(0.0, 1.0, 160, dtype=np.float32)
        before = first - int(rng.uniform(*CONTEXT_GAP_S) * spec.SAMPLE_RATE)
        after = last + int(rng.uniform(*CONTEXT_GAP_S) * spec.SAMPLE_RATE)
        for lo, hi in ((0, before), (after, len(y))):
            if hi - lo < 320:
                continue
            part = self._region("speech", rng, hi - lo)
            if part is None or active_rms(part) <= 0:
                continue
            part = part * (level / active_rms(part))
            part[:160] *= fade
            part[-160:] *= fade[::-1]
            out[lo:hi] += part
        return out

    def __call__(self, x: np.ndarray, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        max_shift = int(self.config["time_shift_ms"] * spec.SAMPLE_RATE / 1000)
        y = np.asarray(x, dtype=np.float32)
        if self.effects and rng.random() < SPEED_P:
            y = speed_perturb(y, float(rng.uniform(*SPEED_RANGE)))
        y = shifted_whole(y, max_shift, rng)
        if self.material["speech"] and rng.random() < CONTEXT_P:
            y = self.with_context(y, rng)
        if self.effects:
            y = effects.apply(y, rng, self.rooms)
        kind = self.kinds[int(rng.choice(len(self.kinds), p=self.weights))]
        snr_db = float(rng.uniform(*self.config["noise_snr_db"]))
        if kind == "color":
            return mix_at_snr(y, effects.colored_noise(len(y), rng), snr_db)
        if kind == "clean":
            return y
        background = self._region(kind, rng, spec.CLIP_SAMPLES)
        return y if background is None else mix_at_snr(y, background, snr_db)
