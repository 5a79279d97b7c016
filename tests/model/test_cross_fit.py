"""The evaluation's figures on audio its point was not chosen on (kwtui.core.cross_fit)."""

from __future__ import annotations

import numpy as np
import pytest

from kwtui.core.cross_fit import BLOCK_S, cross_fitted, halves
from kwtui.core.data import ambient
from kwtui.core.data.spectrogram import SAMPLE_RATE
from kwtui.core.detection_curve import Scored, combined_point, detection_curve
from kwtui.core.operating_point import choose_for_target

HOP_MS = 100.0
HOP = int(HOP_MS * SAMPLE_RATE / 1000)


def _scored(
    seed: int = 0,
    minutes: float = 20.0,
    per_keyword: int = 41,
    spikes: int = 30,
    peak: tuple[float, float] = (0.7, 1.0),
) -> Scored:
    """Two keywords and an "other" output. Ambient: low scores with `spikes` single-row false alarms away from
    the halves' block edges. Keywords: one every 3 s in their own stream, each a one-row peak."""
    rng = np.random.default_rng(seed)
    rows = int(minutes * 60 * 1000 / HOP_MS)
    ambient_scores = np.zeros((rows, 3), np.float32)
    ambient_scores[:, :2] = rng.uniform(0.0, 0.2, (rows, 2))
    block = int(BLOCK_S * 1000 / HOP_MS)
    inner = [r for r in range(rows) if 20 < r % block < block - 20]
    for r in rng.choice(inner, spikes, replace=False):
        ambient_scores[r, int(rng.integers(2))] = rng.uniform(0.3, 1.0)
    placements = [(k * 3 * SAMPLE_RATE, k % 2, ("yes", "no")[k % 2]) for k in range(2 * per_keyword)]
    keyword_scores = np.zeros((len(placements) * 30 + 30, 3), np.float32)
    for start, index, _ in placements:
        keyword_scores[start // HOP + 5, index] = rng.uniform(*peak)
    stream = ambient.Stream([], len(keyword_scores) * HOP, placements)
    return Scored(ambient_scores, keyword_scores, stream, ["yes", "no"], [0, 1], HOP_MS, 1000.0, minutes / 60)


def test_halves_hold_half_of_each_keyword_and_alternate_blocks_of_the_audio():
    scored = _scored(per_keyword=41)
    first, second = halves(scored)
    for index in (0, 1):
        counts = [int(np.sum(h.placed == index)) for h in (first, second)]
        assert sorted(counts) == [20, 21]
    assert len(first.ambient_scores) + len(second.ambient_scores) == len(scored.ambient_scores)
    assert first.hours + second.hours == pytest.approx(scored.hours)
    block = int(BLOCK_S * 1000 / HOP_MS)
    np.testing.assert_array_equal(first.ambient_scores[:block], scored.ambient_scores[:block])
    np.testing.assert_array_equal(second.ambient_scores[:block], scored.ambient_scores[block : 2 * block])
    np.testing.assert_array_equal(first.ambient_scores[block : 2 * block], scored.ambient_scores[2 * block : 3 * block])


def test_a_point_not_chosen_on_the_audio_counts_what_the_whole_audio_counts():
    """Without a choice there is nothing to fit: the halves' sums are the whole audio's figures."""
    scored = _scored(seed=3)
    fixed = ([0.8, 0.85], [1, 1])
    whole = combined_point(scored, *fixed)
    unseen = cross_fitted(scored, lambda half: fixed)
    assert unseen is not None
    assert (unseen.misses, unseen.keywords, unseen.false_accepts) == (whole.misses, 82, whole.false_accepts)
    assert unseen.false_reject_rate == whole.false_reject_rate
    assert unseen.false_accepts_per_hour == whole.false_accepts_per_hour
    low, high = unseen.false_reject_rate_ci
    assert low < unseen.false_reject_rate < high


def test_a_point_chosen_on_the_same_audio_reads_better_than_on_other_audio():
    """The evaluation's rule (the lowest miss rate at or under the target on the curve) fits the audio it chooses
    on: over ten draws, each half's choice misses fewer keywords, and fires less, on its own half than on the
    other."""
    windows, thresholds = [1], [round(t, 2) for t in np.arange(0.3, 1.0, 0.02)]

    def choose(part: Scored) -> tuple[list[float], list[int]]:
        point = choose_for_target(detection_curve(part, windows, thresholds), 30.0, part.hours).point
        return [point.threshold] * 2, [point.average_window] * 2

    missed, fired = [], []
    for seed in range(10):
        scored = _scored(seed=seed, spikes=100)
        unseen = cross_fitted(scored, choose)
        assert unseen is not None and unseen.false_accepts is not None
        own = [combined_point(half, *choose(half)) for half in halves(scored)]
        missed.append(unseen.misses - sum(p.misses for p in own))
        fired.append(unseen.false_accepts - sum(p.false_accepts or 0 for p in own))
    assert np.mean(missed) > 1 and np.mean(fired) > 1, (missed, fired)


def test_a_talkers_keywords_stay_in_one_half():
    """Split clip by clip, a talker's two clips of a word fall in both halves and the point chosen on one half has
    heard the voice it is counted on."""
    import dataclasses

    scored = _scored(per_keyword=40)
    talkers = [f"talker{k // 4}" for k in range(len(scored.placed))]  # each says yes, no, yes, no
    scored = dataclasses.replace(
        scored, keyword_stream=dataclasses.replace(scored.keyword_stream, keyword_speakers=talkers)
    )
    first, second = halves(scored)
    half_of = {}
    for number, half in enumerate((first, second)):
        for start, _, _ in half.keyword_stream.keywords:
            half_of.setdefault(talkers[start // (3 * SAMPLE_RATE)], set()).add(number)
    assert len(half_of) == 20 and all(len(h) == 1 for h in half_of.values())
    assert sorted(len(h.placed) for h in (first, second)) == [40, 40]
    assert cross_fitted(scored, lambda half: ([0.8, 0.85], [1, 1])) is not None
    # one talker says every "no": split by talker, a half would hear none; clip by clip instead
    lonely = [t if k % 2 == 0 else "the one" for k, t in enumerate(talkers)]
    scored = dataclasses.replace(
        scored, keyword_stream=dataclasses.replace(scored.keyword_stream, keyword_speakers=lonely)
    )
    assert all(sorted(np.bincount(h.placed)) == [20, 20] for h in halves(scored))


def test_too_few_keywords_to_split_gives_no_figures():
    scored = _scored(per_keyword=1)  # one clip of each keyword: the second half holds none
    assert cross_fitted(scored, lambda half: ([0.5, 0.5], [1, 1])) is None


def test_short_audio_is_split_in_shorter_blocks():
    scored = _scored(minutes=0.5)  # shorter than one block: each half still hears four pieces of it
    first, second = halves(scored)
    rows = len(scored.ambient_scores)
    assert abs(len(first.ambient_scores) - len(second.ambient_scores)) <= rows / 8
    assert len(first.ambient_scores) + len(second.ambient_scores) == rows


def test_each_half_is_chosen_by_the_rule_the_whole_audio_calls_for(tmp_path):
    """20 min of audio measures each keyword's share of 8 FA/h (4 FA/h: 1 in 15 min), half of it does not: the
    halves are chosen by the target rule, as the device's point is, not by the fallback a half alone would call for."""
    from kwtui.core.events import CancelToken
    from kwtui.core.preset import from_dict
    from kwtui.core.stages.evaluate import choose_detector, chosen_again, curve_thresholds, curve_windows
    from tests.helpers.data import demo_preset_data

    preset = from_dict(
        demo_preset_data(
            tmp_path,
            tmp_path / "run",
            classes={"keywords": ["yes", "no"]},
            evaluate={"target_fa_per_hour": 8.0},
        )
    )
    scored = _scored(seed=1, spikes=10, peak=(0.85, 1.0))  # a good model: the target rule keeps most keywords
    half = halves(scored)[0]
    whole_rule = chosen_again(half, preset, scored.hours, CancelToken())
    cfg = preset.evaluate
    windows, thresholds = curve_windows(cfg.hop_ms, cfg.average_window), curve_thresholds("micro", cfg.threshold)
    _, own_rule, *_, chosen_by, _ = choose_detector(half, detection_curve(half, windows, thresholds), preset)
    assert "not measurable" in chosen_by  # alone, a half would fall back
    _, _, _, _, whole_by, _ = choose_detector(half, [], preset, scored.hours)
    assert "not measurable" not in whole_by and whole_rule[0] != own_rule
