"""Detection figures from a model's scores: false accepts per hour on held-out ambient audio and misses of the
keywords placed in it, through exactly the firmware's post-processing (kwtui.core.postprocess), for every
(averaging window, threshold), per keyword, or at a threshold and window per keyword. `kwtui evaluate` and the
benchmarks (bench/detect.py, bench/published.py) compute every figure here, from one `Scored` record."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from kwtui.core.data import ambient
from kwtui.core.data.spectrogram import SAMPLE_RATE
from kwtui.core.operating_point import choose_for_target
from kwtui.core.postprocess import detect_indices, keyword_means, moving_mean
from kwtui.core.report import CurvePoint, KeywordPoint

HIT_BEFORE_S, HIT_AFTER_S = 0.75, 0.75  # a detection counts for a placed keyword when its window starts this near


@dataclass(frozen=True)
class Scored:
    """A model's scores (one row per inference, one column per output) over the ambient stream and over the
    keyword stream (keywords placed in ambient audio), and what turns scores into detections on the device."""

    ambient_scores: np.ndarray
    keyword_scores: np.ndarray
    keyword_stream: ambient.Stream
    keywords: list[str]
    keyword_indices: list[int]  # the outputs that are keywords: [0] for a single sigmoid
    hop_ms: float  # one inference every hop
    refractory_ms: float
    hours: float  # of ambient audio

    @property
    def hop(self) -> int:
        """Samples per hop."""
        return int(round(self.hop_ms * SAMPLE_RATE / 1000))

    @property
    def placed(self) -> np.ndarray:
        """The keyword index of every placed keyword, in the stream's order."""
        return np.array([k[1] for k in self.keyword_stream.keywords], dtype=int)

    def per_keyword_misses(self, hit: np.ndarray) -> dict[str, float]:
        placed = self.placed
        return {
            kw: round(float(np.mean(~hit[placed == i])), 4) for i, kw in enumerate(self.keywords) if np.any(placed == i)
        }


def hits(
    detected_at: np.ndarray,
    detected_class: np.ndarray,
    stream: ambient.Stream,
    hop: int,
    average_window: int | dict[int, int],
) -> np.ndarray:
    """For every placed keyword: did a detection of that keyword come while its window covered the clip?
    `average_window`: one for all keywords, or each keyword index's own."""
    starts = detected_at * hop
    hit = np.zeros(len(stream.keywords), dtype=bool)
    if not stream.keywords:
        return hit
    positions = np.array([k[0] for k in stream.keywords])
    classes = np.array([k[1] for k in stream.keywords])
    for c in np.unique(classes):
        mine = np.sort(starts[detected_class == c])
        rows = classes == c
        window = average_window if isinstance(average_window, int) else average_window.get(int(c), 1)
        delay = (window - 1) * hop
        lo = np.searchsorted(mine, positions[rows] - HIT_BEFORE_S * SAMPLE_RATE, side="left")
        hi = np.searchsorted(mine, positions[rows] + HIT_AFTER_S * SAMPLE_RATE + delay, side="right")
        hit[rows] = hi > lo
    return hit


def per_hour(false_accepts: int | None, hours: float) -> float | None:
    return round(false_accepts / hours, 3) if false_accepts is not None and hours > 0 else None


def miss_rate(hit: np.ndarray) -> float | None:
    """The share of placed keywords missed."""
    return round(float(np.mean(~hit)), 4) if len(hit) else None


_NONE = (np.zeros(0, int), np.zeros(0, int))


def detection_curve(scored: Scored, windows: Iterable[int], thresholds: Iterable[float]) -> list[CurvePoint]:
    """One point per (averaging window, threshold), one threshold and window for every keyword: false accepts on
    the ambient stream, misses of the placed keywords."""
    indices, hop_ms, refractory = scored.keyword_indices, scored.hop_ms, scored.refractory_ms
    thresholds = list(thresholds)
    points = []
    for window in windows:
        ambient_means = moving_mean(scored.ambient_scores, window) if len(scored.ambient_scores) else None
        keyword_means_ = moving_mean(scored.keyword_scores, window) if len(scored.keyword_scores) else None
        for threshold in thresholds:
            fa = (
                len(detect_indices(ambient_means, indices, hop_ms, threshold, refractory)[0])
                if ambient_means is not None
                else None
            )
            at, cls = (
                detect_indices(keyword_means_, indices, hop_ms, threshold, refractory)
                if keyword_means_ is not None
                else _NONE
            )
            # a single-sigmoid model has one output: its keyword is keyword 0
            classes = np.asarray(cls) if len(indices) > 1 else np.zeros(len(at), int)
            hit = hits(at, classes, scored.keyword_stream, scored.hop, window)
            points.append(
                CurvePoint(
                    window,
                    threshold,
                    fa,
                    per_hour(fa, scored.hours),
                    miss_rate(hit),
                    int(np.sum(~hit)),
                    scored.per_keyword_misses(hit),
                )
            )
    return points


def keyword_curve(scored: Scored, index: int, windows: Iterable[int], thresholds: Iterable[float]) -> list[CurvePoint]:
    """One keyword's own curve: its false accepts on the ambient stream and its misses, with the post-processing
    watching that keyword alone, for every (averaging window, threshold)."""
    hop_ms, refractory = scored.hop_ms, scored.refractory_ms
    mine = scored.placed == index
    thresholds = list(thresholds)
    points = []
    for window in windows:
        ambient_means = keyword_means(scored.ambient_scores, [index], window) if len(scored.ambient_scores) else None
        keyword_means_ = keyword_means(scored.keyword_scores, [index], window) if len(scored.keyword_scores) else None
        for threshold in thresholds:
            fa = (
                len(detect_indices(ambient_means, [index], hop_ms, threshold, refractory, True)[0])
                if ambient_means is not None
                else None
            )
            at, cls = (
                detect_indices(keyword_means_, [index], hop_ms, threshold, refractory, True)
                if keyword_means_ is not None
                else _NONE
            )
            hit = hits(at, np.asarray(cls), scored.keyword_stream, scored.hop, window)[mine]
            fa_rate = per_hour(fa, scored.hours)
            points.append(CurvePoint(window, threshold, fa, fa_rate, miss_rate(hit), int(np.sum(~hit))))
    return points


def placement_hits(scored: Scored, thresholds: list[float], windows: list[int]) -> np.ndarray:
    """For every placed keyword (in the keyword stream's order): did the device, with a threshold and window per
    keyword, detect it?"""
    indices = scored.keyword_indices
    at, cls = (
        detect_indices(
            keyword_means(scored.keyword_scores, indices, windows),
            indices,
            scored.hop_ms,
            thresholds,
            scored.refractory_ms,
            True,
        )
        if len(scored.keyword_scores)
        else _NONE
    )
    classes = np.asarray(cls) if len(indices) > 1 else np.zeros(len(at), int)
    return hits(at, classes, scored.keyword_stream, scored.hop, dict(enumerate(windows)))


def combined_point(scored: Scored, thresholds: list[float], windows: list[int]) -> CurvePoint:
    """What the device gets with a threshold and window per keyword: every keyword watched at once, through the
    firmware's post-processing (the highest candidate wins, one refractory period for all). Its threshold and
    window are keyword 0's."""
    indices = scored.keyword_indices
    fa = None
    if len(scored.ambient_scores):
        means = keyword_means(scored.ambient_scores, indices, windows)
        fa = len(detect_indices(means, indices, scored.hop_ms, thresholds, scored.refractory_ms, True)[0])
    hit = placement_hits(scored, thresholds, windows)
    return CurvePoint(
        windows[0],
        thresholds[0],
        fa,
        per_hour(fa, scored.hours),
        miss_rate(hit),
        int(np.sum(~hit)),
        scored.per_keyword_misses(hit),
    )


def choose_per_keyword(
    scored: Scored, windows: list[int], thresholds: list[float], target: float, hours: float | None = None
) -> tuple[list[KeywordPoint], bool]:
    """Each keyword's own operating point, for an equal share of the target rate (target / keywords): the lowest
    miss rate at or under it, else the fewest false accepts. `hours`: the audio whose length decides whether a
    share is measurable (default `scored`'s; kwtui.core.cross_fit chooses on half of it by the whole's rule).
    -> (points in keyword order, every share met)"""
    share = target / len(scored.keywords)
    chosen: list[KeywordPoint] = []
    all_met = True
    for index in range(len(scored.keywords)):
        curve = keyword_curve(scored, index, windows, thresholds)
        choice = choose_for_target(curve, share, scored.hours if hours is None else hours)
        chosen.append(KeywordPoint(choice.point, choice.meets_target, choice.chosen_by, round(share, 4)))
        all_met &= choice.meets_target
    return chosen, all_met
