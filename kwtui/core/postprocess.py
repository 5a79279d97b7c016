"""Detection post-processing, identical to firmware/src/postprocess: the firmware's C++ is tested against this.

For each inference the model gives one probability per class. A keyword is detected when the
average of its last `average_window` probabilities reaches `threshold`, unless a detection
(of any keyword) happened less than `refractory_ms` before.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np


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
        average_window: int = 3,
        threshold: float = 0.9,
        refractory_ms: float = 1000.0,
    ) -> None:
        self.labels = labels
        self.keyword_indices = keyword_indices
        self.threshold = threshold
        self.refractory_ms = refractory_ms
        self._history: deque[np.ndarray] = deque(maxlen=average_window)
        self._last_detection_ms: float | None = None

    def reset(self) -> None:
        self._history.clear()
        self._last_detection_ms = None

    def update(self, probabilities: np.ndarray, time_ms: float) -> Detection | None:
        """Feed one inference's outputs; return a Detection or None."""
        self._history.append(np.asarray(probabilities, dtype=np.float32))
        mean = np.mean(np.stack(self._history), axis=0)
        in_refractory = (
            self._last_detection_ms is not None and time_ms - self._last_detection_ms < self.refractory_ms
        )
        if in_refractory:
            return None
        best = max(self.keyword_indices, key=lambda i: mean[i])
        if mean[best] >= self.threshold:
            self._last_detection_ms = time_ms
            return Detection(best, self.labels[best], float(mean[best]), time_ms)
        return None


def detect(
    scores: np.ndarray,
    labels: list[str],
    keyword_indices: list[int],
    hop_ms: float,
    average_window: int = 3,
    threshold: float = 0.9,
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


def detect_indices(means: np.ndarray, keyword_indices: list[int], hop_ms: float, threshold: float,
                   refractory_ms: float) -> tuple[np.ndarray, np.ndarray]:
    """PostProcessor's decisions over a whole sequence of averaged outputs (from `moving_mean`), vectorized for
    hours of audio: (inference indices of the detections, their class indices). The same detections as `detect`."""
    kw = np.asarray(keyword_indices)
    kw_means = means[:, kw]
    best = kw_means.argmax(axis=1)  # the first of equal maxima, as max() in PostProcessor
    over = np.flatnonzero(kw_means[np.arange(len(means)), best] >= np.float32(threshold))
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
