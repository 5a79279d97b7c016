"""Feature worker: one clip (or noise window, or augmented variant) -> one .npy file, in a pool process.

Workers run single-threaded (BLAS/OpenMP limited to one thread), ignore SIGINT (the parent decides), exit when
the parent dies, and write through the one writer (kwtui.core.io.writer), so a kill never leaves a partial file.
"""

from __future__ import annotations

import ctypes
import io
import os
import signal
import time
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from kwtui.core.data import noise as noise_files
from kwtui.core.data import spectrogram as spec
from kwtui.core.data.audio import BadAudio, load_audio, load_clip
from kwtui.core.data.frontends import frontend
from kwtui.core.errors import KwtuiError
from kwtui.core.io import writer

_config: dict[str, Any] = {}
_noise_cache: dict[str, np.ndarray | str] = {}


def _exit_with_parent(parent_pid: int) -> None:
    """If the parent is SIGKILLed (OOM killer, dropped SSH), exit too: the workers hold both ends of the
    pool's queue, so they would otherwise wait on it forever. The parent gone or a zombie = gone."""
    import threading

    import psutil

    def watch() -> None:
        while True:
            time.sleep(0.5)
            try:
                alive = psutil.Process(parent_pid).status() != psutil.STATUS_ZOMBIE
            except psutil.Error:
                alive = False
            if not alive:
                os._exit(1)

    threading.Thread(target=watch, daemon=True, name="kwtui-parent-watch").start()


def _single_threaded() -> None:
    """One worker per core: BLAS/OpenMP thread pools limited to 1 (workers x threads would oversubscribe).
    numpy is already loaded (forkserver preload), so its OpenBLAS is limited through threadpoolctl; the
    variables cover libraries loaded later."""
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = "1"
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # an environment installed before it was a dependency
        return
    threadpool_limits(1)


def _keep_freed_memory() -> None:
    """glibc hands freed blocks over 128 KB back to the kernel, so every clip's 100-400 KB arrays (the
    22.05 kHz FFT) were mapped and page-faulted anew: ~0.3 ms of a 0.8 ms clip. Keep up to 16 MB per worker."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 8 << 20)  # M_MMAP_THRESHOLD: blocks up to 8 MB come from the heap
        libc.mallopt(-1, 16 << 20)  # M_TRIM_THRESHOLD: keep up to 16 MB of freed heap
    except (OSError, AttributeError):
        pass  # not glibc: its defaults


_stop: Any = None  # the pool's stop event: set by the parent on cancel, checked before every file


def init_worker(config: dict[str, Any], stop: Any = None) -> None:
    global _stop
    _stop = stop
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is handled by the parent, which stops the pool
    _single_threaded()
    _keep_freed_memory()
    if config.get("parent_pid"):
        _exit_with_parent(config["parent_pid"])
    _config.clear()
    _config.update(config)
    _noise_cache.clear()


def _noise(path: str) -> np.ndarray:
    """A whole noise file at 16 kHz: the main process's converted copy, memory-mapped (shared, so RAM does not
    grow with noise length or workers), else decoded here; raises BadAudio (also cached)."""
    if path not in _noise_cache:
        cache_file, reason = _config.get("noise_files", {}).get(path, (None, None))
        if reason is not None:
            _noise_cache[path] = reason
        elif cache_file is not None:
            _noise_cache[path] = noise_files.open_samples(cache_file)
        else:
            try:
                _noise_cache[path] = load_audio(path).samples
            except BadAudio as exc:
                _noise_cache[path] = str(exc)
    value = _noise_cache[path]
    if isinstance(value, str):
        raise BadAudio(value)
    return value


_augmenter: Any = None


def augmenter(config: dict[str, Any]) -> Any:
    """This worker's Augmenter (built on first use: the rooms are read only where variants are made)."""
    global _augmenter
    if _augmenter is None or _augmenter.config is not config:
        from kwtui.core.features.augment import Augmenter

        _augmenter = Augmenter(config, lambda path, start, end: _noise(path)[start:end])
    return _augmenter


def make_features(job: tuple[str, int, int, float], config: dict[str, Any]) -> np.ndarray:
    """(source, variant, seed, start_s) -> features. Raises BadAudio for unusable input (reason in message).
    Floating-point trouble (e.g. float samples near the float32 limit) is a reason to skip the clip, never numpy
    warnings on the terminal."""
    with np.errstate(all="ignore"):
        features = _make_features(job, config)
    if not np.all(np.isfinite(features)):
        raise BadAudio("samples too large to compute features (overflow): not a usable recording")
    return features


def _make_features(job: tuple[str, int, int, float], config: dict[str, Any]) -> np.ndarray:
    source, variant, seed, start_s = job
    if start_s >= 0:  # a 1 s window of a noise file
        noise = _noise(source)
        start = int(round(start_s * spec.SAMPLE_RATE))
        window = noise[start : start + spec.CLIP_SAMPLES]
        if len(window) < spec.CLIP_SAMPLES:
            window = np.pad(window, (0, spec.CLIP_SAMPLES - len(window)))
        if variant != 0:
            window = augmenter(config)(np.asarray(window, dtype=np.float32), seed)
        return np.asarray(_frontend(config)(window))
    audio = load_clip(source)
    if audio.silent:
        raise BadAudio("silent (no signal)")
    x = audio.samples
    if variant != 0:
        x = augmenter(config)(x, seed)
    return np.asarray(_frontend(config)(x))


def _frontend(config: dict[str, Any]) -> Any:
    return frontend(config.get("frontend", "spectrogram")).compute


_NPY_HEADERS: dict[tuple[Any, ...], bytes] = {}


def _npy_bytes(array: np.ndarray) -> bytes:
    """The exact bytes np.save writes (header cached per shape/dtype; saves a BytesIO round trip per file)."""
    array = np.ascontiguousarray(array)
    key = (array.shape, array.dtype.str)
    if key not in _NPY_HEADERS:
        buffer = io.BytesIO()
        np.lib.format.write_array_header_1_0(buffer, np.lib.format.header_data_from_array_1_0(array))
        header = buffer.getvalue()
        buffer = io.BytesIO()
        np.save(buffer, array)
        assert buffer.getvalue().startswith(header)  # same layout as np.save
        _NPY_HEADERS[key] = header
    return _NPY_HEADERS[key] + array.tobytes()


def npy_size(shape: tuple[int, ...], dtype: str = "<f4") -> int:
    """The bytes of a complete feature file of this shape: a shorter (or longer) one was cut off or is not ours."""
    return len(_npy_bytes(np.zeros(shape, dtype)))


def write_npy_atomic(target: str | Path, array: np.ndarray) -> int:
    """Through the one writer: a crash never leaves a partial .npy under the real name."""
    return writer.write_bytes(Path(target), _npy_bytes(array))


class BatchJob(NamedTuple):
    """One file of a batch: plan.jobs[plan_index], read from `source`, written to `output` (relative)."""

    plan_index: int
    source: str
    output: str
    variant: int
    seed: int
    start_s: float


class JobResult(NamedTuple):
    """What became of one BatchJob: `size` bytes written when status is "ok", else the reason in `message`."""

    plan_index: int
    status: str
    message: str
    size: int


def process_batch(features_dir: str, batch: list[BatchJob]) -> list[JobResult]:
    """Worker entry: [BatchJob(plan_index, source, output, variant, seed, start_s)] -> [JobResult(plan_index,
    status, message, bytes)].

    status: "ok", "skip" (bad input, message = reason), "nospace", "error" (message = OS error). A batch stops
    early (fewer results than jobs) when the parent has set the stop event: cancel takes one file, not a batch.
    """
    results: list[JobResult] = []
    for index, source, output, variant, seed, start_s in batch:  # a plain tuple in that order does too
        if _stop is not None and _stop.is_set():
            break
        try:
            features = make_features((source, variant, seed, start_s), _config)
        except BadAudio as exc:
            results.append(JobResult(index, "skip", str(exc), 0))
            continue
        except Exception as exc:  # a malformed file must never stop the run
            results.append(JobResult(index, "skip", f"cannot process ({exc.__class__.__name__}: {exc})"[:200], 0))
            continue
        try:
            size = write_npy_atomic(os.path.join(features_dir, output), features)
        except writer.DiskFull:
            results.append(JobResult(index, "nospace", "No space left on device", 0))
            return results  # stop this batch: the parent decides
        except (OSError, KwtuiError) as exc:
            results.append(JobResult(index, "error", str(getattr(exc, "strerror", None) or exc), 0))
            return results
        results.append(JobResult(index, "ok", "", size))
    return results
