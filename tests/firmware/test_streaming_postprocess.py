"""The vectorized post-processing that evaluation runs over hours of audio makes exactly PostProcessor's
decisions (the Python reference the firmware's C++ is checked against in test_postprocess_parity)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kwtui.core.postprocess import PostProcessor, detect, detect_indices, keyword_means, moving_mean


def _reference(scores, keyword_indices, hop_ms, window, threshold, refractory_ms):
    labels = [f"c{i}" for i in range(scores.shape[1])]
    return [
        (int(round(d.time_ms / hop_ms)), d.class_index)
        for d in detect(scores, labels, keyword_indices, hop_ms, window, threshold, refractory_ms)
    ]


def _fast(scores, keyword_indices, hop_ms, window, threshold, refractory_ms):
    idx, cls = detect_indices(moving_mean(scores, window), keyword_indices, hop_ms, threshold, refractory_ms)
    return list(zip(idx.tolist(), cls.tolist()))


def test_moving_mean_is_postprocessors_average_bit_for_bit():
    rng = np.random.default_rng(3)
    scores = rng.uniform(0, 1, (200, 4)).astype(np.float32)
    for window in (1, 2, 3, 5, 16):
        post = PostProcessor(["a", "b", "c", "d"], [0, 1], window, 2.0, 0)  # threshold 2: never detects
        means = moving_mean(scores, window)
        for i, row in enumerate(scores):
            post.update(row, i * 100.0)
            assert np.array_equal(np.mean(np.stack(post._history), axis=0), means[i])


@settings(max_examples=300, deadline=None)
@given(
    n=st.integers(1, 400),
    classes=st.integers(1, 6),
    window=st.integers(1, 8),
    threshold=st.sampled_from([0.3, 0.5, 0.7, 0.9, 0.97]),
    refractory_ms=st.sampled_from([0, 100, 250, 450, 1000, 2500]),
    hop_ms=st.sampled_from([10, 50, 80, 100, 160, 333.3]),
    seed=st.integers(0, 2**31),
    bursty=st.booleans(),
)
def test_vectorized_detections_equal_postprocessor(n, classes, window, threshold, refractory_ms, hop_ms, seed, bursty):
    rng = np.random.default_rng(seed)
    scores = rng.uniform(0, 1, (n, classes)).astype(np.float32)
    if bursty:  # long quiet stretches with keyword bursts, like real audio
        scores *= (rng.uniform(0, 1, (n, 1)) > 0.8).astype(np.float32)
    keywords = list(range(max(1, classes - 2)))
    args = (keywords, hop_ms, window, threshold, refractory_ms)
    assert _fast(scores, *args) == _reference(scores, *args)


@pytest.mark.parametrize("value", [0.9, 0.5])
def test_scores_equal_to_the_threshold_detect(value):
    scores = np.tile(np.float32([value, 1 - value]), (30, 1))
    assert _fast(scores, [0], 100, 3, value, 1000) == _reference(scores, [0], 100, 3, value, 1000) != []


def test_ties_pick_the_first_keyword():
    scores = np.tile(np.float32([0.95, 0.95, 0.0]), (5, 1))
    assert _fast(scores, [0, 1], 100, 1, 0.9, 1000) == [(0, 0)]


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(1, 300),
    keywords=st.integers(1, 4),
    windows=st.lists(st.integers(1, 8), min_size=4, max_size=4),
    thresholds=st.lists(st.sampled_from([0.2, 0.4, 0.6, 0.8, 0.95]), min_size=4, max_size=4),
    refractory_ms=st.sampled_from([0, 90, 300, 1000]),
    seed=st.integers(0, 2**31),
)
def test_a_threshold_and_window_per_keyword_vectorized_equals_postprocessor(
    n, keywords, windows, thresholds, refractory_ms, seed
):
    rng = np.random.default_rng(seed)
    scores = rng.uniform(0, 1, (n, keywords + 2)).astype(np.float32)
    indices, hop_ms = list(range(keywords)), 30
    windows, thresholds = windows[:keywords], thresholds[:keywords]
    labels = [f"c{i}" for i in range(scores.shape[1])]
    reference = [
        (int(round(d.time_ms / hop_ms)), d.class_index)
        for d in detect(scores, labels, indices, hop_ms, windows, thresholds, refractory_ms)
    ]
    idx, cls = detect_indices(
        keyword_means(scores, indices, windows), indices, hop_ms, thresholds, refractory_ms, per_keyword_columns=True
    )
    assert list(zip(idx.tolist(), cls.tolist())) == reference


def test_a_keyword_under_its_own_threshold_never_fires_even_when_it_scores_highest():
    """Keyword 0 scores 0.8 against its threshold 0.9, keyword 1 scores 0.6 against 0.5: keyword 1 is detected."""
    scores = np.array([[0.8, 0.6, 0.0]], np.float32)
    (found,) = detect(scores, ["a", "b", "c"], [0, 1], 30, [1, 1], [0.9, 0.5], 0)
    assert found.label == "b" and found.score == pytest.approx(0.6)
    assert detect(scores, ["a", "b", "c"], [0, 1], 30, 1, 0.9, 0) == []  # one threshold for both: nothing
