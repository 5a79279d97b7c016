"""Noise files as 16 kHz float32 on disk, converted once and memory-mapped by every feature worker.

A background-noise file can be an hour long (230 MB at 16 kHz as float32). Decoding it whole in every pool
worker does not fit a small machine, so the main process converts each file once, block by block, into
`runs/<name>/noise_cache/<stem>-<id>.f32` (raw little-endian float32, 16 kHz, mono) and the workers `np.memmap` it:
the pages are shared through the page cache and reclaimable, and memory no longer grows with noise length.

Blocks are whole seconds of source audio resampled with one second of context on each side (then cropped), so
a file shorter than a block gives exactly `load_audio(path).samples`, and longer ones differ from a whole-file
resample only by the negligible edge error of the band-limited resampler at block joins. Conversion is
deterministic, so resumed feature runs stay byte-identical.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Iterator

import numpy as np
import soundfile as sf

from kwtui.core.data.audio import MIN_SECONDS, BadAudio, load_audio, resample
from kwtui.core.data.spectrogram import SAMPLE_RATE
from kwtui.core.io import writer

BLOCK_SECONDS = 60  # source seconds converted at a time (bounded memory whatever the file length)
CONTEXT_SECONDS = 1  # resampling context on each side of a block, cropped afterwards


def cache_path(cache_dir: Path, source: Path) -> Path:
    """Where the converted copy of `source` lives; the name changes when the source file changes."""
    st = source.stat()
    key = f"{source.resolve()}|{st.st_size}|{st.st_mtime_ns}|{BLOCK_SECONDS}|{CONTEXT_SECONDS}"
    return cache_dir / f"{source.stem}-{hashlib.sha1(key.encode()).hexdigest()[:12]}.f32"


def _converted_blocks(source: Path) -> Iterator[np.ndarray]:
    """Yield the file as 16 kHz mono float32, one block at a time. Raises BadAudio."""
    try:
        info = sf.info(os.fsencode(source))
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError) as exc:
        raise BadAudio(f"not readable audio ({str(exc).splitlines()[0][:80]})") from None
    except OSError as exc:
        raise BadAudio(f"cannot open ({exc.strerror or exc})") from None
    rate, frames = int(info.samplerate), int(info.frames)
    if frames < BLOCK_SECONDS * rate:  # short file: exactly what the rest of kwtui loads
        yield load_audio(source).samples
        return
    block, context = BLOCK_SECONDS * rate, CONTEXT_SECONDS * rate
    with sf.SoundFile(os.fsencode(source)) as f:
        for start in range(0, frames, block):
            lo, hi = max(0, start - context), min(frames, start + block + context)
            f.seek(lo)
            data = f.read(hi - lo, dtype="float32", always_2d=True)
            if data.size and not np.all(np.isfinite(data)):
                raise BadAudio("contains NaN or infinite samples")
            x = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
            y = resample(x, rate) if rate != SAMPLE_RATE else x.astype(np.float32, copy=False)
            left = (start - lo) * SAMPLE_RATE // rate  # whole seconds of context map to whole output samples
            right = (hi - min(frames, start + block)) * SAMPLE_RATE // rate
            yield y[left : len(y) - right]


def prepare(source: Path, cache_dir: Path) -> Path:
    """Convert `source` into the cache (atomically) unless it is there already; returns the cache file."""
    target = cache_path(cache_dir, source)
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    total = 0
    with writer.temp_for(target) as tmp:
        with open(tmp, "wb") as out:
            for block in _converted_blocks(source):
                out.write(np.ascontiguousarray(block, dtype="<f4").tobytes())
                total += len(block)
        if total < MIN_SECONDS * SAMPLE_RATE:
            raise BadAudio(f"too short ({total / SAMPLE_RATE:.3f} s)")
    return target


def open_samples(cache_file: str | Path) -> np.ndarray:
    """The converted samples, memory-mapped read-only (no copy in the worker)."""
    return np.memmap(cache_file, dtype="<f4", mode="r")
