"""The firmware's C++ PostProcessor (host build) gives the same detections as kwtui.core.postprocess.

Verified here: for the same score sequences both report the same keyword, time and score (bit-identical
float32 average), and the C++ line is the one the monitor parses. Not verified here: scores produced by
TFLM on the device (they come from the model; only their post-processing is compared).
"""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from kwtui.core.device.serial_monitor import parse_line
from kwtui.core.postprocess import detect, per_keyword


def cpp_detect(tool, scores, labels, num_keywords, window, threshold, refractory_ms, hop_ms, start_ms=0):
    """The firmware's PostProcessor (host build); `window` and `threshold` are one value or one per keyword."""
    windows = [int(w) for w in per_keyword(window, num_keywords)]
    thresholds = per_keyword(threshold, num_keywords)
    lines = [
        f"{len(labels)} {num_keywords} {refractory_ms} {hop_ms}",
        " ".join(f"{w} {t!r}" for w, t in zip(windows, thresholds)),
        " ".join(labels),
    ]
    lines += [" ".join(f"{float(v):.9g}" for v in row) for row in np.asarray(scores, dtype=np.float32)]
    out = subprocess.run(
        [str(tool), str(start_ms)], input="\n".join(lines) + "\n", capture_output=True, text=True, check=True
    )
    found = []
    for line in out.stdout.splitlines():
        event = parse_line(line)
        assert event is not None, f"unparseable detection line {line!r}"
        fields = dict(part.split("=", 1) for part in line.split()[1:])
        found.append((int(fields["index"]), event.label, float(fields["exact"]), event.device_ms, event.score))
    return found


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def _sequences():
    rng = np.random.default_rng(11)
    labels3 = ["marvin", "_unknown", "_background"]
    labels6 = ["yes", "no", "left", "right", "_unknown", "_background"]
    # Speech-like: mostly background, a few bursts of a keyword.
    bursty = np.tile(np.float32([0.02, 0.08, 0.90]), (300, 1))
    for start in (20, 25, 60, 61, 150, 200, 208, 290):
        bursty[start : start + 4] = [0.95, 0.03, 0.02]
    random_softmax = _softmax(rng.normal(0, 2.5, (400, 6)))
    ties = np.tile(np.float32([0.45, 0.45, 0.05, 0.05, 0.0, 0.0]), (30, 1))
    ties[10:14] = [0.92, 0.92, 0.0, 0.0, 0.0, 0.08]
    at_threshold = np.tile(np.float32([0.9, 0.05, 0.05]), (40, 1))  # exactly the threshold, in float32
    sigmoid = rng.uniform(0, 1, (300, 3)).astype(np.float32) ** 0.3  # independent per-class scores
    return [
        ("bursty_default", bursty, labels3, 1, 3, 0.9, 1000, 100),
        ("bursty_window1_no_refractory", bursty, labels3, 1, 1, 0.9, 0, 100),
        ("random_six_classes", random_softmax, labels6, 4, 3, 0.6, 500, 100),
        ("random_long_window", random_softmax, labels6, 4, 8, 0.35, 300, 50),
        ("ties_pick_first_keyword", ties, labels6, 4, 2, 0.5, 250, 100),
        ("score_equal_to_threshold", at_threshold, labels3, 1, 3, 0.9, 1000, 100),
        ("sigmoid_two_keywords", sigmoid, labels3, 2, 4, 0.8, 700, 80),
        ("refractory_not_multiple_of_hop", bursty, labels3, 1, 2, 0.7, 450, 160),
        # command words: a window and a threshold per keyword, as the evaluation picks them
        ("per_keyword_points", random_softmax, labels6, 4, [1, 3, 5, 8], [0.5, 0.3, 0.25, 0.6], 300, 30),
        ("per_keyword_points_long_first", random_softmax, labels6, 4, [16, 2, 1, 4], [0.2, 0.55, 0.7, 0.4], 90, 30),
    ]


@pytest.mark.parametrize("case", _sequences(), ids=lambda c: c[0])
def test_same_detections_as_python(host_tools, case):
    _, scores, labels, n_kw, window, threshold, refractory, hop = case
    expected = detect(scores, labels, list(range(n_kw)), hop, window, threshold, refractory)
    got = cpp_detect(host_tools["postprocess_host"], scores, labels, n_kw, window, threshold, refractory, hop)
    assert len(expected) >= 1, "each sequence should produce detections"
    assert [(d.class_index, d.label, d.time_ms) for d in expected] == [(g[0], g[1], g[3]) for g in got]
    assert [np.float32(d.score) for d in expected] == [np.float32(g[2]) for g in got]
    assert all(abs(g[4] - g[2]) <= 5e-4 for g in got)  # the 3-decimal score printed on serial


def test_nothing_detected_below_threshold(host_tools):
    scores = np.tile(np.float32([0.89, 0.1, 0.01]), (50, 1))
    got = cpp_detect(
        host_tools["postprocess_host"], scores, ["marvin", "_unknown", "_background"], 1, 3, 0.9, 1000, 100
    )
    assert got == []


def test_refractory_survives_millis_wraparound(host_tools):
    """millis() wraps after 49.7 days: the C++ refractory check uses unsigned differences, so the same
    detections come out when the clock wraps in the middle of the sequence."""
    _, scores, labels, n_kw, window, threshold, refractory, hop = _sequences()[0]
    tool = host_tools["postprocess_host"]
    plain = cpp_detect(tool, scores, labels, n_kw, window, threshold, refractory, hop)
    start = 2**32 - 2500  # wraps 2.5 s in, between bursts that are within one refractory period
    wrapped = cpp_detect(tool, scores, labels, n_kw, window, threshold, refractory, hop, start_ms=start)
    assert [(g[0], (g[3] + start) % 2**32) for g in plain] == [(g[0], g[3]) for g in wrapped]
