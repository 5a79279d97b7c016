"""Load a clip: any readable wav -> mono float32 at 16 kHz. Conversions are reported, failures raise BadAudio."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from kwtui.core.data.wav import parse_wav_layout
from kwtui.core.data.spectrogram import CLIP_SAMPLES, SAMPLE_RATE

MIN_SECONDS = 0.05  # shorter than this is not a usable clip
SILENT_PEAK = 1e-4  # max |x| below this (after mean removal) is a silent clip


class BadAudio(Exception):
    """The file cannot be used; str() is the reason shown to the user."""


@dataclass
class Audio:
    samples: np.ndarray  # float32, mono, 16 kHz
    source_rate: int
    notes: list[str] = field(default_factory=list)  # conversions applied, e.g. "resampled 22050 Hz"

    @property
    def seconds(self) -> float:
        return len(self.samples) / SAMPLE_RATE

    @property
    def silent(self) -> bool:
        x = self.samples
        if x.size == 0:
            return True
        mean = x.mean()
        return float(max(x.max() - mean, mean - x.min())) < SILENT_PEAK  # = max |x - mean|, no temporaries


def resample(x: np.ndarray, src_rate: int, dst_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Band-limited resampling by FFT (exact for periodic signals, fine for clips and noise files).

    float64 throughout (numpy's float32 FFT is slower here); norm="forward" on both transforms folds the
    n_out / n_in gain into them instead of a separate pass. Deterministic: same input, same bytes."""
    if src_rate == dst_rate or x.size == 0:
        return x.astype(np.float32, copy=False)
    n_out = max(1, int(round(len(x) * dst_rate / src_rate)))
    n_keep = n_out // 2 + 1
    x = x.astype(np.float64)
    if len(x) == src_rate and src_rate % 2 == 0 and n_keep <= len(x) // 2:  # a 1 s clip: the common case
        spectrum = _rfft_head(x, n_keep)
    else:
        spectrum = np.fft.rfft(x, norm="forward")  # X / n_in
        if n_keep <= spectrum.size:
            spectrum = spectrum[:n_keep]
        else:
            spectrum = np.concatenate([spectrum, np.zeros(n_keep - spectrum.size, dtype=spectrum.dtype)])
    return np.fft.irfft(spectrum, n=n_out, norm="forward").astype(np.float32)  # sum without 1 / n_out


_HALF_LENGTH_TWIDDLES: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}  # one per source rate


def _rfft_head(x: np.ndarray, n_keep: int) -> np.ndarray:
    """rfft(x, norm="forward")[:n_keep] for an even-length float64 x, via one complex FFT of half the length
    (x's even/odd samples as real/imaginary parts): numpy's real FFT is slow for lengths with factors of 7
    like 22050 and 44100 (0.26 -> 0.23 ms per 22.05 kHz clip, 0.43 -> 0.36 ms at 44.1 kHz). Used for 1 s clips
    only, so the cached twiddles stay one small pair per source rate."""
    n, half = len(x), len(x) // 2
    z = np.fft.fft(x.view(np.complex128), norm="forward")  # Z / half
    key = (n, n_keep)
    if key not in _HALF_LENGTH_TWIDDLES:
        w = np.exp(-2j * np.pi * np.arange(n_keep) / n)
        _HALF_LENGTH_TWIDDLES[key] = (0.25 * (1 - 1j * w), 0.25 * (1 + 1j * w))
    a, b = _HALF_LENGTH_TWIDDLES[key]
    mirrored = np.empty(n_keep, dtype=np.complex128)  # conj(Z[(half - k) % half])
    mirrored[0] = z[0]
    mirrored[1:] = z[half - 1 : half - n_keep : -1]
    np.conjugate(mirrored, out=mirrored)
    mirrored *= b
    spectrum = z[:n_keep] * a
    spectrum += mirrored
    return spectrum


_ONE_READ_MAX = 1 << 30  # os.read returns at most ~2 GB at once


def _read_pcm16(path: str | Path) -> tuple[np.ndarray, int] | None:
    """Plain PCM16 RIFF (Speech Commands, espeak) in one read, no libsndfile: (float32 (frames, channels),
    rate), the same values soundfile gives; None for anything else (soundfile decides)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None  # soundfile reports it
    try:
        size = os.fstat(fd).st_size
        content = os.read(fd, size) if size <= _ONE_READ_MAX else b""  # a huge file: soundfile reads it
    except OSError:
        return None
    finally:
        os.close(fd)
    layout = parse_wav_layout(content, len(content)) if len(content) == size else None  # short read: soundfile
    if layout is None or layout[2] != "PCM_16":
        return None
    channels, rate, _subtype, offset, frames = layout
    pcm = np.frombuffer(content, dtype="<i2", count=frames * channels, offset=offset)
    return (pcm.astype(np.float32) * np.float32(1 / 32768)).reshape(frames, channels), rate


def load_audio(path: str | Path) -> Audio:
    """Read a whole file as mono 16 kHz float32. Raises BadAudio with a short reason."""
    fast = _read_pcm16(path)
    if fast is not None:
        data, rate = fast  # 16-bit integers: always finite
    else:
        try:
            data, rate = sf.read(str(path), dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError, ValueError, TypeError) as exc:
            raise BadAudio(f"not readable audio ({str(exc).splitlines()[0][:80]})") from None
        except OSError as exc:
            raise BadAudio(f"cannot open ({exc.strerror or exc})") from None
        if data.shape[0] and not np.all(np.isfinite(data)):
            raise BadAudio("contains NaN or infinite samples")
    if data.shape[0] == 0:
        raise BadAudio("empty (no samples)")
    notes: list[str] = []
    if data.shape[1] > 1:
        notes.append(f"downmixed {data.shape[1]} channels")
    x = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if rate != SAMPLE_RATE:
        notes.append(f"resampled {rate} Hz")
        x = resample(x, rate)
    if len(x) < MIN_SECONDS * SAMPLE_RATE:
        raise BadAudio(f"too short ({len(x) / SAMPLE_RATE:.3f} s)")
    return Audio(samples=x.astype(np.float32, copy=False), source_rate=int(rate), notes=notes)


def fit_to_clip(x: np.ndarray, notes: list[str] | None = None) -> np.ndarray:
    """Exactly 1 s: pad shorter clips with zeros at the end; crop longer ones to their loudest second."""
    n = len(x)
    if n == CLIP_SAMPLES:
        return x
    if n < CLIP_SAMPLES:
        if notes is not None:
            notes.append(f"padded {n / SAMPLE_RATE:.2f} s to 1 s")
        return np.pad(x, (0, CLIP_SAMPLES - n))
    energy = np.concatenate([[0.0], np.cumsum(np.square(x, dtype=np.float64))])
    window_energy = energy[CLIP_SAMPLES:] - energy[:-CLIP_SAMPLES]
    start = int(np.argmax(window_energy))
    if notes is not None:
        notes.append(f"cropped {n / SAMPLE_RATE:.2f} s to its loudest 1 s")
    return x[start : start + CLIP_SAMPLES]


def load_clip(path: str | Path) -> Audio:
    """A keyword-style clip: load_audio then fit to exactly 1 s."""
    audio = load_audio(path)
    audio.samples = fit_to_clip(audio.samples, audio.notes)
    return audio
