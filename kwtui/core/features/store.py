"""Read the feature store: manifests, checks, and batches streamed from the .npy files.

Only file paths and integer labels are held in RAM; each batch reads its `batch_size` files from disk,
so memory does not grow with the dataset. Keras is imported inside `make_sequence` only.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, overload

import numpy as np

from kwtui.core.data.frontends import SHAPES
from kwtui.core.data.spectrogram import INPUT_SHAPE
from kwtui.core.errors import KwtuiError, UserError
from kwtui.core.io.layout import SPLITS, RunLayout
from kwtui.core.preset import Preset


class CorruptFeature(KwtuiError):
    """A .npy file that cannot be read as a float32 (99, 43) array."""


@dataclass
class Split:
    name: str
    paths: list[Path]  # absolute
    labels: np.ndarray  # int32 class index (sigmoid models: 1 = keyword, 0 = other)

    def __len__(self) -> int:
        return len(self.paths)


def sigmoid_output(preset: Preset) -> bool:
    """One keyword and nothing else to classify: a single sigmoid unit instead of a softmax."""
    return bool(preset.single_sigmoid)


def features_info(layout: RunLayout) -> dict[str, Any]:
    hint = f"run `kwtui features {layout.preset.name}` first"
    path = layout.features_info
    if not path.exists():
        raise UserError(f"{layout.features_dir}: no feature store found; {hint}")
    try:
        found: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return found
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: unreadable ({exc.__class__.__name__}); {hint} again") from None


def read_split(layout: RunLayout, split: str, class_names: list[str], sigmoid: bool = False) -> Split:
    """Read one manifest (`path,label`). Unknown labels and missing files are UserErrors."""
    manifest = layout.manifest(split)
    hint = f"run `kwtui features {layout.preset.name}` first"
    if not manifest.exists():
        raise UserError(f"{manifest}: manifest missing; {hint}")
    index = {name: i for i, name in enumerate(class_names)}
    paths: list[Path] = []
    labels: list[int] = []
    with manifest.open(newline="", encoding="utf-8", errors="surrogateescape") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or not {"path", "label"} <= set(reader.fieldnames):
            raise UserError(f"{manifest}: expected columns path,label; {hint} again")
        for row in reader:
            label = row["label"]
            if label not in index:
                if sigmoid:  # anything that is not the keyword is a negative
                    labels.append(0)
                else:
                    raise UserError(
                        f"{manifest}: label {label!r} is not a class of this preset ({', '.join(class_names)}); "
                        f"{hint} again"
                    )
            else:
                labels.append(1 if sigmoid else index[label])
            paths.append(layout.features_dir / row["path"])
    return Split(split, paths, np.asarray(labels, dtype=np.int32))


def load_splits(layout: RunLayout, splits: tuple[str, ...] = SPLITS) -> dict[str, Split]:
    """All splits, checked: non-empty store, every class present in train, readable manifests."""
    preset = layout.preset
    features_info(layout)
    sigmoid = sigmoid_output(preset)
    names = preset.class_names
    result = {s: read_split(layout, s, names, sigmoid) for s in splits}
    hint = f"run `kwtui features {preset.name}` first"
    if "train" in result and len(result["train"]) == 0:
        raise UserError(f"{layout.manifest('train')}: the feature store is empty; {hint}")
    if "train" in result:
        counts = np.bincount(result["train"].labels, minlength=2 if sigmoid else len(names))
        wanted = ["other", names[0]] if sigmoid else names
        missing = [wanted[i] for i, c in enumerate(counts) if c == 0]
        if missing:
            raise UserError(
                f"{layout.manifest('train')}: no training files for class(es) {', '.join(missing)}; "
                "add clips for them or change classes in the preset"
            )
    return result


def check_files(paths: list[Path], report: Any = None, cancel: Any = None, stage: str = "train") -> None:
    """Cheap integrity check of every file (header + size), naming the first bad one."""
    from kwtui.core import events as ev

    started = time.monotonic()
    for i, path in enumerate(paths):
        load_feature(path, header_only=True)
        if (i + 1) % 5000 == 0:
            if cancel is not None:
                cancel.raise_if_cancelled()
            if report is not None:
                rate = (i + 1) / max(time.monotonic() - started, 1e-6)
                report(
                    ev.Progress(
                        stage, i + 1, len(paths), rate, (len(paths) - i - 1) / rate, "files", "checking feature files"
                    )
                )


def _standard_header(shape: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.zeros(shape, dtype=np.float32))
    return buffer.getvalue()[: -_nbytes(shape)]


def _nbytes(shape: tuple[int, int]) -> int:
    return shape[0] * shape[1] * 4


# what np.save writes for float32 arrays of each frontend's shape: the fast path's expected prefixes
_HEADERS: dict[int, tuple[bytes, tuple[int, int]]] = {
    len(_standard_header(shape)) + _nbytes(shape): (_standard_header(shape), shape) for shape in SHAPES
}
_LONGEST = max(_HEADERS)


@overload
def load_feature(path: Path, header_only: Literal[False] = False) -> np.ndarray: ...
@overload
def load_feature(path: Path, header_only: Literal[True]) -> None: ...
def load_feature(path: Path, header_only: bool = False) -> np.ndarray | None:
    """One feature array (any frontend's shape). Fast path: a single read, compared with the standard header (no
    np.load parsing per file, which training does for every sample of every epoch); anything else is parsed and
    checked in full."""
    if not header_only:
        try:
            with open(path, "rb") as handle:
                raw = handle.read(_LONGEST + 1)
        except OSError:
            raw = b""
        known = _HEADERS.get(len(raw))
        if known is not None and raw.startswith(known[0]):
            header, known_shape = known
            data = np.frombuffer(raw, dtype=np.float32, offset=len(header))
            if np.isfinite(data).all():
                return data.reshape(known_shape)
    try:
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            read_header = (
                np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            )
            shape, fortran, dtype = read_header(handle)
            offset = handle.tell()
            if shape not in SHAPES or dtype != np.float32 or fortran:
                expected = " or ".join(str(s) for s in sorted(SHAPES))
                raise ValueError(f"expected float32 {expected}, found {dtype} {shape}")
            if os.fstat(handle.fileno()).st_size != offset + _nbytes(shape):
                raise ValueError("truncated")
            if header_only:
                return None
            data = np.fromfile(handle, dtype=np.float32, count=shape[0] * shape[1])
    except FileNotFoundError:
        raise CorruptFeature(f"{path}: feature file missing; re-run `kwtui features` to regenerate it") from None
    except (OSError, ValueError) as exc:
        raise CorruptFeature(
            f"{path}: corrupt feature file ({str(exc)[:80]}); delete it and re-run `kwtui features`"
        ) from None
    if not np.all(np.isfinite(data)):
        raise CorruptFeature(f"{path}: corrupt feature file (NaN or inf); delete it and re-run `kwtui features`")
    return data.reshape(shape)


def load_batch(paths: list[Path]) -> np.ndarray:
    """(n, frames, bins, 1): every file of one store has its frontend's shape."""
    batch: np.ndarray | None = None
    for i, path in enumerate(paths):
        features = load_feature(path)
        if batch is None:
            batch = np.empty((len(paths), *features.shape, 1), dtype=np.float32)
        elif features.shape != batch.shape[1:3]:
            raise CorruptFeature(
                f"{path}: features of shape {features.shape} among {batch.shape[1:3]}: made by "
                "another frontend; delete the feature folder and re-run `kwtui features`"
            )
        batch[i, :, :, 0] = features
    return batch if batch is not None else np.empty((0, *INPUT_SHAPE), dtype=np.float32)


def class_weights(labels: np.ndarray, n_classes: int, mode: str) -> np.ndarray:
    """Per-class weights: 'balanced' = n / (classes * count_c); 'none' = ones."""
    if mode == "none":
        return np.ones(n_classes, dtype=np.float32)
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    weights = np.where(counts > 0, len(labels) / (n_classes * np.maximum(counts, 1)), 0.0)
    return weights.astype(np.float32)


SPEC_AUGMENT: dict[str, int] = {"time_masks": 2, "max_frames": 10, "freq_masks": 2, "max_bins": 5}
SPEC_AUGMENT_P = 0.8  # share of the batch masked


def mask_spectrograms(x: np.ndarray, rng: np.random.Generator) -> None:
    """SpecAugment (Park et al. 2019) on a batch (n, frames, bins, 1), in place: bands of frames and of bins set
    to each spectrogram's mean, so no single stretch of time or frequency can decide the class."""
    n, frames, bins = x.shape[:3]
    cfg = SPEC_AUGMENT
    means = x.reshape(n, -1).mean(axis=1)
    for i in np.flatnonzero(rng.random(n) < SPEC_AUGMENT_P):
        for _ in range(cfg["time_masks"]):
            width = int(rng.integers(0, cfg["max_frames"] + 1))
            start = int(rng.integers(0, frames - width + 1))
            x[i, start : start + width] = means[i]
        for _ in range(cfg["freq_masks"]):
            width = int(rng.integers(0, cfg["max_bins"] + 1))
            start = int(rng.integers(0, bins - width + 1))
            x[i, :, start : start + width] = means[i]


def make_sequence(
    split: Split,
    batch_size: int,
    shuffle: bool,
    seed: int = 0,
    weights: np.ndarray | None = None,
    workers: int = 1,
    spec_augment: bool = False,
    one_hot: int = 0,
) -> Any:
    """A keras.utils.PyDataset streaming `split` from disk; shuffled per epoch from (seed, epoch); with
    `spec_augment`, each batch gets random time and frequency masks drawn from (seed, epoch, batch); with
    `one_hot` (the class count), labels come as one-hot rows (a sigmoid per class) instead of class indices.

    The trainer calls `set_epoch(epoch)` at each epoch start, so a resumed run sees the same order.

    Errors while reading a file are kept in `.error` (tf.data would otherwise wrap them in its own type).
    """
    import keras

    class FeatureSequence(keras.utils.PyDataset):
        def __init__(self) -> None:
            super().__init__(workers=workers, use_multiprocessing=False, max_queue_size=16)
            self.split = split
            self.batch_size = batch_size
            self.error: KwtuiError | None = None
            self.epoch = 0
            self.order = self._order(0)

        def _order(self, epoch: int) -> np.ndarray:
            if not shuffle:
                return np.arange(len(split))
            return np.random.default_rng([seed, epoch]).permutation(len(split))

        def set_epoch(self, epoch: int) -> None:
            self.epoch = epoch
            self.order = self._order(epoch)

        def __len__(self) -> int:
            return -(-len(split) // batch_size)

        def __getitem__(self, index: int) -> tuple[np.ndarray, ...]:
            picks = self.order[index * batch_size : (index + 1) * batch_size]
            try:
                x = load_batch([split.paths[i] for i in picks])
            except KwtuiError as exc:
                self.error = exc
                raise
            y = split.labels[picks]
            if spec_augment:
                mask_spectrograms(x, np.random.default_rng([seed, self.epoch, index]))
            targets = np.eye(one_hot, dtype=np.float32)[y] if one_hot else y
            if weights is None:
                return x, targets
            return x, targets, weights[y]

    return FeatureSequence()


def load_arrays(split: Split, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Whole (small) split in RAM: for evaluation, representative data and the in-RAM benchmark."""
    n = len(split) if limit is None else min(limit, len(split))
    return load_batch(split.paths[:n]), split.labels[:n]
