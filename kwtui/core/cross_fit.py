"""Figures on audio the choice did not see: cross-fitting the operating point.

The evaluation chooses a threshold and averaging window per keyword on its held-out audio and counts that point's
misses and false accepts on the same audio, so the figures fit the audio's chance: among many points the lowest
miss rate under the target is partly luck, which new audio does not repeat (bench/selection_bias.py measured ~3
points of misses on `commands`). Here the placed keywords (by talker: every other talker) and the ambient audio (in
alternate blocks of BLOCK_S or less) are split in two halves; the rule that chose the device's point chooses again
on each half, and its choice is counted on the other half. The sums are the figures of a point chosen this way, on
audio it was not chosen on. What they do not separate: a kind of audio shorter than two blocks (the noise and
recordings come last in the stream) can fall in one half or both, as a talker's clips can where talkers are unknown
or too few; and a block's first inferences average over the end of the block before it in the half (a few hundred
ms a minute).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from kwtui.core.data.spectrogram import SAMPLE_RATE
from kwtui.core.detection_curve import Scored, combined_point, per_hour
from kwtui.core.report import CrossFitted
from kwtui.core.stats import poisson_rate_interval, rounded, wilson_interval

BLOCK_S = 60.0  # the ambient stream's halves alternate every this many seconds (an eighth of it, when shorter)
Choose = Callable[[Scored], tuple[list[float], list[int]]]  # a half -> a threshold and window per keyword


def halves(scored: Scored) -> tuple[Scored, Scored]:
    """`scored` as two halves: the placed keywords by talker (every other talker, in the order they first speak,
    where every keyword's talker is known and each half then hears every keyword; else every other keyword of each
    keyword), alternate blocks of ambient rows."""
    stream = scored.keyword_stream
    placed = scored.placed
    rank = np.zeros(len(placed), dtype=int)
    for index in np.unique(placed):
        rows = np.flatnonzero(placed == index)
        rank[rows] = np.arange(len(rows))
    talkers = stream.keyword_speakers
    if len(talkers) == len(placed) and all(talkers):  # a talker's clips in one half: its voice is not fitted
        order = {talker: k for k, talker in enumerate(dict.fromkeys(talkers))}
        by_talker = np.array([order[t] for t in talkers], dtype=int)
        # kept where each half hears every keyword (a keyword said by one talker cannot be split by talker)
        if all(len(set(by_talker[placed == index] % 2)) == 2 for index in np.unique(placed)):
            rank = by_talker
    rows = np.arange(len(scored.ambient_scores))
    per_block = max(1, int(min(BLOCK_S * SAMPLE_RATE / scored.hop, len(rows) / 8)))
    block = (rows // per_block) % 2
    parts = []
    for half in (0, 1):
        keep = [k for k, r in enumerate(rank) if r % 2 == half]
        keywords = [stream.keywords[k] for k in keep]
        speakers = [talkers[k] for k in keep] if len(talkers) == len(placed) else []
        mine = block == half
        share = float(np.mean(mine)) if len(mine) else 0.0
        parts.append(
            dataclasses.replace(
                scored,
                ambient_scores=scored.ambient_scores[mine],
                keyword_stream=dataclasses.replace(stream, keywords=keywords, keyword_speakers=speakers),
                hours=scored.hours * share,
            )
        )
    return parts[0], parts[1]


def cross_fitted(scored: Scored, choose: Choose) -> CrossFitted | None:
    """The figures of `choose`'s point on the half it did not choose on, both halves summed; None when a half has
    no keyword of some keyword or no ambient audio."""
    parts = halves(scored)
    for part in parts:
        counts = np.bincount(part.placed, minlength=len(scored.keywords)) if len(part.placed) else np.zeros(1)
        if part.hours <= 0 or not len(part.ambient_scores) or np.any(counts == 0):
            return None
    misses, placed, false_accepts = 0, 0, 0
    for chosen_on, counted_on in (parts, parts[::-1]):
        thresholds, windows = choose(chosen_on)
        point = combined_point(counted_on, thresholds, windows)
        misses += point.misses
        placed += len(counted_on.placed)
        false_accepts += point.false_accepts or 0
    hours = scored.hours
    frr = round(misses / placed, 4)
    fa_ci = poisson_rate_interval(false_accepts, hours)
    return CrossFitted(
        misses,
        placed,
        frr,
        rounded(wilson_interval(misses, placed), 4),
        false_accepts,
        round(hours, 4),
        per_hour(false_accepts, hours),
        rounded(fa_ci, 3),
    )
