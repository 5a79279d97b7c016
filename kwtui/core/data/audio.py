"""Load a clip: any readable wav -> mono float32 at 16 kHz. Conversions are reported, failures raise BadAudio."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from kwtui.core.data.spectrogram import CLIP_SAMPLES, SAMPLE_RATE
from kwtui.core.data.wav import parse_wav_layout

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


RESAMPLE_QUALITY = "HQ"  # soxr's high quality: 0.1 dB passband to 0.91 of Nyquist, >= 144 dB rejection


def resample(x: np.ndarray, src_rate: int, dst_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Any rate to `dst_rate` with libsoxr (python-soxr). Deterministic: same input, same bytes."""
    import soxr

    if src_rate == dst_rate or x.size == 0:
        return x.astype(np.float32, copy=False)
    out = soxr.resample(np.ascontiguousarray(x, dtype=np.float32), src_rate, dst_rate, quality=RESAMPLE_QUALITY)
    return np.asarray(out, dtype=np.float32)


_ONE_READ_MAX = 1 << 30  # os.read returns at most ~2 GB at once


def read_pcm16(path: str | Path) -> tuple[np.ndarray, int] | None:
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
    fast = read_pcm16(path)
    if fast is not None:
        data, rate = fast  # 16-bit integers: always finite
    else:
        try:
            data, rate = sf.read(os.fsencode(path), dtype="float32", always_2d=True)
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


MIN_RATE, MAX_RATE = 4_000, 384_000  # sample rates a clip may have (outside: not a speech recording)
MAX_CLIP_SECONDS = 600  # a keyword clip longer than this is a recording, not a clip: put it in a noise folder
WHOLE_READ_SECONDS = 4  # up to this long a clip is read whole; longer ones block by block (bounded memory)
BLOCK_SECONDS = 10


def load_clip(path: str | Path) -> Audio:
    """A keyword-style clip: mono 16 kHz, exactly 1 s. Memory stays bounded whatever the file: a long one is
    scanned block by block for its loudest second, and only that second (plus resampling context) is decoded."""
    info = _clip_info(path)
    if info is None or info[1] <= WHOLE_READ_SECONDS * info[0]:
        audio = load_audio(path)
        audio.samples = fit_to_clip(audio.samples, audio.notes)
        return audio
    rate, frames, channels = info
    start = _loudest_second(path, rate, frames)
    context = rate // 10  # 0.1 s each side for the resampler, cropped afterwards
    lo, hi = max(0, start - context), min(frames, start + rate + context)
    with sf.SoundFile(os.fsencode(path)) as f:
        f.seek(lo)
        data = f.read(hi - lo, dtype="float32", always_2d=True)
    if not np.all(np.isfinite(data)):
        raise BadAudio("contains NaN or infinite samples")
    notes = [f"downmixed {channels} channels"] if channels > 1 else []
    x = data.mean(axis=1) if channels > 1 else data[:, 0]
    if rate != SAMPLE_RATE:
        notes.append(f"resampled {rate} Hz")
        x = resample(x, rate)
    offset = (start - lo) * SAMPLE_RATE // rate
    x = x[offset : offset + CLIP_SAMPLES]
    x = np.pad(x, (0, CLIP_SAMPLES - len(x))) if len(x) < CLIP_SAMPLES else x
    notes.append(f"cropped {frames / rate:.2f} s to its loudest 1 s")
    return Audio(samples=x.astype(np.float32, copy=False), source_rate=rate, notes=notes)


def _clip_info(path: str | Path) -> tuple[int, int, int] | None:
    """(rate, frames, channels) from the header, checked against what a clip can be and what the file holds;
    None when libsndfile cannot tell (load_audio then reports why). Plain RIFF headers are parsed here (one small
    read; frames clamped to what the file really holds); others go through libsndfile."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
            size = os.fstat(handle.fileno()).st_size
    except OSError:
        return None
    layout = parse_wav_layout(head, size)
    if layout is not None:
        channels, rate, _subtype, _offset, frames = layout
        _check_clip(rate, frames)
        return rate, frames, channels
    try:
        info = sf.info(os.fsencode(path))
    except Exception:  # noqa: BLE001 - libsndfile raises several types; load_audio gives the reason
        return None
    rate, frames, channels = int(info.samplerate), int(info.frames), int(info.channels)
    _check_clip(rate, frames)
    bytes_per_frame = channels * {
        "PCM_U8": 1,
        "PCM_S8": 1,
        "PCM_16": 2,
        "PCM_24": 3,
        "PCM_32": 4,
        "FLOAT": 4,
        "DOUBLE": 8,
    }.get(str(info.subtype), 0)
    uncompressed = str(info.format) in {"WAV", "WAVEX", "RF64", "W64", "AIFF", "CAF"}  # FLAC etc. hold fewer bytes
    if uncompressed and bytes_per_frame and frames * bytes_per_frame > os.path.getsize(path):
        raise BadAudio("the header claims more samples than the file holds (truncated or corrupt)")
    return rate, frames, channels


def _check_clip(rate: int, frames: int) -> None:
    if not MIN_RATE <= rate <= MAX_RATE:
        raise BadAudio(f"sample rate {rate} Hz is outside {MIN_RATE}-{MAX_RATE} Hz")
    if frames > MAX_CLIP_SECONDS * rate:
        raise BadAudio(
            f"{frames / rate / 60:.0f} min long: a recording, not a clip (put it in a noise folder, "
            f"or cut clips of at most {MAX_CLIP_SECONDS // 60} min)"
        )


def _loudest_second(path: str | Path, rate: int, frames: int) -> int:
    """Start (in source frames) of the loudest 1 s window, read block by block: the memory is one block."""
    window = rate
    best, best_start = -1.0, 0
    tail = np.zeros(0, dtype=np.float64)  # the last window-1 squared samples of the previous block
    position = 0  # source frame index of tail[0]
    with sf.SoundFile(os.fsencode(path)) as f:
        for block in f.blocks(blocksize=BLOCK_SECONDS * rate, dtype="float32", always_2d=True):
            mono = block.mean(axis=1) if block.shape[1] > 1 else block[:, 0]
            power = np.concatenate([tail, np.square(mono, dtype=np.float64)])
            if len(power) >= window:
                energy = np.concatenate([[0.0], np.cumsum(power)])
                sums = energy[window:] - energy[:-window]
                i = int(np.argmax(sums))
                if sums[i] > best:
                    best, best_start = float(sums[i]), position + i
            keep = min(window - 1, len(power))
            position += len(power) - keep
            tail = power[len(power) - keep :]
    return min(best_start, max(0, frames - window))
