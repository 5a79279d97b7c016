"""Detection post-processing, identical to firmware/src/postprocess: the firmware's C++ is tested against this.

For each inference the model gives one probability per class. Each keyword has its own averaging window and
threshold (command words differ in how sure the model gets; one number for all would trade one keyword's misses
for another's false accepts): keyword k is a candidate when the average of its last `windows[k]` probabilities
reaches `thresholds[k]`; the candidate with the highest average is detected, unless a detection (of any keyword)
happened less than `refractory_ms` before. A single threshold and window stand for the same value for every keyword.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def per_keyword(value: float | Sequence[float], count: int) -> list[float]:
    """One value per keyword: a sequence as given (its length checked), a single value repeated."""
    if isinstance(value, (int, float, np.integer, np.floating)):
        return [float(value)] * count
    values = [float(v) for v in value]
    if len(values) != count:
        raise ValueError(f"{len(values)} values for {count} keywords")
    return values


@dataclass(frozen=True)
class Detection:
    class_index: int
    label: str
    score: float  # the averaged probability that crossed the threshold
    time_ms: float


class PostProcessor:
    def __init__(
        self,
        labels: list[str],
        keyword_indices: list[int],
        average_window: int | Sequence[int] = 3,
        threshold: float | Sequence[float] = 0.9,
        refractory_ms: float = 1000.0,
    ) -> None:
        self.labels = labels
        self.keyword_indices = keyword_indices
        self.thresholds = per_keyword(threshold, len(keyword_indices))
        self.windows = [int(w) for w in per_keyword(average_window, len(keyword_indices))]
        self.refractory_ms = refractory_ms
        self._history: deque[np.ndarray] = deque(maxlen=max(self.windows))
        self._last_detection_ms: float | None = None

    def reset(self) -> None:
        self._history.clear()
        self._last_detection_ms = None

    def update(self, probabilities: np.ndarray, time_ms: float) -> Detection | None:
        """Feed one inference's outputs; return a Detection or None."""
        self._history.append(np.asarray(probabilities, dtype=np.float32))
        in_refractory = self._last_detection_ms is not None and time_ms - self._last_detection_ms < self.refractory_ms
        if in_refractory:
            return None
        rows = list(self._history)
        best, best_mean = -1, np.float32(0)
        for index, window, threshold in zip(self.keyword_indices, self.windows, self.thresholds, strict=True):
            mean = np.mean(np.stack(rows[-window:]), axis=0)[index]  # oldest row first, as moving_mean
            if mean >= np.float32(threshold) and (best < 0 or mean > best_mean):  # the first maximum wins
                best, best_mean = index, mean
        if best >= 0:
            self._last_detection_ms = time_ms
            return Detection(best, self.labels[best], float(best_mean), time_ms)
        return None


def detect(
    scores: np.ndarray,
    labels: list[str],
    keyword_indices: list[int],
    hop_ms: float,
    average_window: int | Sequence[int] = 3,
    threshold: float | Sequence[float] = 0.9,
    refractory_ms: float = 1000.0,
) -> list[Detection]:
    """Run the post-processor over a (n_inferences, n_classes) score sequence."""
    post = PostProcessor(labels, keyword_indices, average_window, threshold, refractory_ms)
    found = []
    for i, row in enumerate(np.asarray(scores)):
        hit = post.update(row, i * hop_ms)
        if hit is not None:
            found.append(hit)
    return found


def moving_mean(scores: np.ndarray, average_window: int) -> np.ndarray:
    """Every inference's averaged outputs, as PostProcessor computes them: float32, oldest row added first, the
    first rows averaging fewer than `average_window` (bit-identical to its np.mean over the history)."""
    s = np.asarray(scores, dtype=np.float32)
    total = np.zeros_like(s)
    n = len(s)
    for k in range(min(average_window, n) - 1, -1, -1):  # k rows back: the oldest row of the window first
        total[k:] += s[: n - k]  # rows before the start add 0, which is exact in float32
    counts = np.minimum(np.arange(1, n + 1), average_window).astype(np.float32)
    return total / counts[:, None]


def keyword_means(scores: np.ndarray, keyword_indices: list[int], windows: int | Sequence[int]) -> np.ndarray:
    """(n, keywords): each keyword's column averaged over its own window, as PostProcessor averages it."""
    s = np.asarray(scores, dtype=np.float32)
    sizes = [int(w) for w in per_keyword(windows, len(keyword_indices))]
    columns = [moving_mean(s[:, [index]], window)[:, 0] for index, window in zip(keyword_indices, sizes, strict=True)]
    return np.stack(columns, axis=1) if columns else np.zeros((len(s), 0), np.float32)


def detect_indices(
    means: np.ndarray,
    keyword_indices: list[int],
    hop_ms: float,
    threshold: float | Sequence[float],
    refractory_ms: float,
    per_keyword_columns: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """PostProcessor's decisions over a whole sequence of averaged outputs, vectorized for hours of audio:
    (inference indices of the detections, their class indices). The same detections as `detect`. `means` holds
    every class (from `moving_mean`, one window for all) or, with `per_keyword_columns`, one column per keyword
    (from `keyword_means`, a window per keyword)."""
    kw = np.asarray(keyword_indices)
    kw_means = means if per_keyword_columns else means[:, kw]
    thresholds = np.asarray(per_keyword(threshold, len(kw)), dtype=np.float32)
    candidate = kw_means >= thresholds
    masked = np.where(candidate, kw_means, -np.inf)
    best = masked.argmax(axis=1)  # the first of equal maxima among the candidates, as in PostProcessor
    over = np.flatnonzero(candidate.any(axis=1))
    times = over * hop_ms
    found: list[int] = []
    k = 0
    while k < len(over):
        found.append(k)
        first, last = k, times[k]
        # blocked candidates are a prefix (times ascend): jump near its end, then settle it with the same
        # comparison as PostProcessor, so float rounding cannot make the two disagree
        k = max(first + 1, int(np.searchsorted(times, last + refractory_ms, side="left")) - 2)
        while k > first + 1 and not times[k - 1] - last < refractory_ms:
            k -= 1
        while k < len(over) and times[k] - last < refractory_ms:
            k += 1
    picked = over[found]
    return picked, kw[best[picked]]
