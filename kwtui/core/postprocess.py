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
