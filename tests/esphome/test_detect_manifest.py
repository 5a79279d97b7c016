"""`kwtui detect` on an ESPHome export: the manifest as TARGET runs micro_wake_word's own decision rule, and
ESPHome's host runtime (pymicro-wakeword: its own TFLite, frontend and averaging) agrees over a recording."""

from __future__ import annotations

import csv
import json

import numpy as np
import soundfile as sf

from kwtui.core.stages import esphome
from tests.helpers.corpus import kwtui

SPOKEN = [("marvin", v) for v in range(8)] + [(w, v) for w in ("martin", "marble", "yes", "seven") for v in (1, 5)]
GAP_S = 2.5


def _recording(path):
    from kwtui.core.data.audio import resample
    from tests.helpers.corpus import ESPEAK_RATE, speak

    rng = np.random.default_rng(3)
    parts, starts = [np.zeros(16000, np.float32)], []
    order = rng.permutation(len(SPOKEN))
    for k in order:
        word, variant = SPOKEN[k]
        clip = resample(speak(word, 50 + variant), ESPEAK_RATE)[:16000]
        starts.append((word, sum(len(p) for p in parts) / 16000))
        parts += [clip.astype(np.float32), np.zeros(int(GAP_S * 16000), np.float32)]
    audio = np.concatenate(parts)
    audio = np.clip(audio + 0.003 * rng.standard_normal(len(audio)).astype(np.float32), -1, 32767 / 32768)
    sf.write(path, audio, 16000, subtype="PCM_16")
    return sf.read(path, dtype="int16")[0], starts


def test_detect_on_an_esphome_manifest_agrees_with_pymicro_wakeword(esphome_export, tmp_path):
    from pymicro_wakeword import MicroWakeWord, MicroWakeWordFeatures

    pcm, starts = _recording(tmp_path / "room.wav")
    manifest_path = esphome_export["out"] / "marvin.json"
    micro = json.loads(manifest_path.read_text())["micro"]
    cutoff, window = micro["probability_cutoff"], micro["sliding_window_size"]
    done = kwtui("detect", manifest_path, tmp_path / "room.wav", "--json", "--scores", tmp_path / "scores", timeout=300)
    assert done.returncode == 0, done.stderr[-1500:]
    events = [json.loads(line) for line in done.stdout.splitlines()]
    summary = events[-1]
    assert summary["event"] == "summary" and summary["rule"] == "esphome" and summary["labels"] == ["Marvin"]
    assert summary["thresholds"] == [cutoff] and summary["average_window"] == [window]
    ours = [e["time_s"] for e in events if e["event"] == "detection"]

    detector = MicroWakeWord.from_config(manifest_path)
    means = []
    try:
        for features in MicroWakeWordFeatures().process_streaming(pcm.astype("<i2").tobytes()):
            means.append(detector.process_streaming_prob(features) or 0.0)
    finally:
        detector.close()
    theirs = np.asarray(means[detector.stride - 1 :: detector.stride])  # one value per inference

    with open(tmp_path / "scores" / "room.scores.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["time_s", "Marvin"]
    raw = np.asarray(rows[1:], dtype=np.float64)
    assert len(raw) == len(theirs)
    # pymicro-wakeword's average: the mean of the last `window` outputs, 0 until it has that many
    averaged = np.convolve(raw[:, 1], np.ones(window) / window)[: len(raw)]
    averaged[: window - 1] = 0
    # the two runtimes' int8 kernels round apart (TFLite Micro here, as on the chip; TFLite there): on the steep
    # flanks of a detection one inference may differ by a few uint8 steps, which a window of 1 does not average
    # away. Every other inference, and every clip's peak (what decides a detection), agree within the tolerance.
    difference = np.abs(averaged - theirs)
    assert np.mean(difference <= esphome.SCORE_TOLERANCE) >= 0.99 and difference.max() <= 16 / 256, difference.max()

    agreed = 0
    for word, start in starts:
        region = (raw[:, 0] > start) & (raw[:, 0] < start + GAP_S)
        peak = float(theirs[region].max())
        assert abs(float(averaged[region].max()) - peak) <= esphome.SCORE_TOLERANCE, (word, start)
        we_fire = any(start < t < start + GAP_S for t in ours)
        if abs(peak - cutoff) > esphome.SCORE_TOLERANCE:  # not a borderline clip: the same decision
            assert we_fire == (peak > cutoff), (word, start, peak, cutoff, ours)
            agreed += 1
    assert agreed >= len(starts) // 2
