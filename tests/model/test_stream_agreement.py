"""The streaming check's decision agreement: a near tie that int8 rounding flips is not a disagreement; a model
that decides otherwise is, and fails the check."""

from __future__ import annotations

import numpy as np

from kwtui.core.streaming import decision_agreement, within_stream_tolerance


def compare_tolerance_ok(streamed: np.ndarray, whole: np.ndarray) -> bool:
    """The verdict `kwtui convert` reaches on these outputs (compare_with_whole_clips' figures)."""
    figures = {
        "mean_abs_difference": float(np.mean(np.abs(streamed - whole))),
        "agreement": decision_agreement(streamed, whole),
    }
    return within_stream_tolerance(figures)


def _softmax_like(rng: np.random.Generator, clips: int, confident: bool) -> np.ndarray:
    logits = rng.normal(0, 3 if confident else 0.3, (clips, 6))
    e = np.exp(logits - logits.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def test_rounding_noise_on_near_ties_is_agreement_and_a_wrong_model_is_not():
    rng = np.random.default_rng(0)
    whole = _softmax_like(rng, 400, confident=False)  # a weakly trained model: many near ties
    noise = np.random.default_rng(5).normal(0, 0.012, whole.shape)  # int8 rounding: about 3 uint8 steps
    rounded = np.clip(whole + noise, 0, 1)
    assert decision_agreement(rounded, whole) >= 0.95  # two steps of margin alone: 0.93 (near ties flipped)
    assert compare_tolerance_ok(rounded, whole)
    confident = _softmax_like(rng, 400, confident=True)
    wrong = confident[rng.permutation(400)]  # another clip's decision for each clip (a broken stream state)
    assert decision_agreement(wrong, confident) < 0.5
    assert not compare_tolerance_ok(wrong, confident)


def test_one_sigmoid_output_counts_the_same_way():
    rng = np.random.default_rng(1)
    whole = rng.uniform(0, 1, (300, 1))
    rounded = np.clip(whole + rng.normal(0, 0.012, whole.shape), 0, 1)
    assert decision_agreement(rounded, whole) == 1.0
    assert decision_agreement(1 - whole, whole) < 0.2
