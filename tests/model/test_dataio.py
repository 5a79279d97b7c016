"""The streamed training input: batch shapes, seeded per-epoch shuffling, class weights."""

from __future__ import annotations

import numpy as np

from kwtui.core.features.store import class_weights, load_splits, make_sequence
from kwtui.core.io.layout import RunLayout


def test_batches_are_seeded_per_epoch_and_weighted(tone_features):
    train = load_splits(RunLayout(tone_features), ("train",))["train"]
    weights = class_weights(train.labels, 4, "balanced")
    seq = make_sequence(train, 32, shuffle=True, seed=3, weights=weights)
    x, y, w = seq[0]
    assert x.shape == (32, 99, 43, 1) and x.dtype == np.float32
    assert np.array_equal(w, weights[y])
    assert len(seq) == -(-len(train) // 32)
    orders = {}
    for epoch in (0, 1, 0):
        seq.set_epoch(epoch)
        order = np.concatenate([seq[i][1] for i in range(len(seq))])
        assert sorted(order.tolist()) == sorted(train.labels.tolist())  # every clip once per epoch
        orders.setdefault(epoch, []).append(seq.order.copy())
    assert np.array_equal(orders[0][0], orders[0][1])  # same seed and epoch -> same order (resume)
    assert not np.array_equal(orders[0][0], orders[1][0])  # reshuffled every epoch
    plain = make_sequence(train, 32, shuffle=False)
    assert np.array_equal(plain[0][1], train.labels[:32]) and len(plain[0]) == 2


def test_balanced_class_weights():
    labels = np.array([0] * 30 + [1] * 10 + [2] * 20)
    weights = class_weights(labels, 3, "balanced")
    assert np.allclose(weights, [60 / 90, 60 / 30, 60 / 60])
    assert np.allclose(weights[labels].sum(), len(labels))  # total weight unchanged
    assert np.array_equal(class_weights(labels, 3, "none"), np.ones(3))
