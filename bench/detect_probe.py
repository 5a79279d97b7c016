"""Why a detector misses on a held-out set: its scores on the keyword said alone, inside carrier phrases and over
each noise, per group of voices; and which of the set's ambient sentences cross a threshold.

Run after bench/detect.py has trained the run (same --work, --per-word and --set):
    .venv/bin/python bench/detect_probe.py [--preset marvin] [--set classes.near_miss_negatives=true]

Scores are the run's float model in TFLM (kwtui's streaming scorer), averaged over `--window` 30 ms steps, the best
over each utterance; "share >= T" is how many utterances reach the threshold.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import detect as B  # noqa: E402

from kwtui.core.data import demo  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="marvin")
    parser.add_argument("--work", default="/tmp/kwtui-bench-detect")
    parser.add_argument("--per-word", type=int, default=300)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--window", type=int, default=10)
    parser.add_argument("--threshold", type=float, default=0.9)
    parser.add_argument("--speakers", type=int, default=30)
    args = parser.parse_args()
    from kwtui.core import events as ev
    from kwtui.core.io.layout import RunLayout
    from kwtui.core.native import import_tensorflow_quietly
    from kwtui.core.postprocess import moving_mean
    from kwtui.core.stages import evaluate as E
    from kwtui.core.stages.train import deployed_model_path

    import_tensorflow_quietly()
    work = Path(args.work)
    preset = B.preset_for(
        args.preset, "stream", work / f"train-{args.per_word}-v{B.DATASET_VERSION}", work, tuple(args.set)
    )
    layout = RunLayout(preset)
    model = E.load_scorer(layout, deployed_model_path(layout))
    keyword = preset.classes.keywords[0]
    binary = demo.espeak_binary()

    def best(audio: np.ndarray) -> float:
        scores, _ = E.stream_scores(model, [audio], len(audio), 480, ev.CancelToken(), ev.ignore, "", "micro")
        return float(moving_mean(scores, args.window)[:, 0].max())

    def trimmed(speaker, text: str) -> np.ndarray:
        audio = B.say(binary, speaker, text)
        loud = np.flatnonzero(np.abs(audio) > 0.01)
        return audio[loud[0] : loud[-1] + 1] if loud.size else audio

    def utterance(speaker, carrier, rng) -> np.ndarray:
        parts = [np.zeros(B.SAMPLE_RATE, np.float32)]
        for text in (carrier[0], keyword, carrier[1]):
            if text:
                parts += [trimmed(speaker, text), np.zeros(int(rng.uniform(0.05, 0.2) * B.SAMPLE_RATE), np.float32)]
        return np.concatenate(parts + [np.zeros(B.SAMPLE_RATE, np.float32)])

    rng = np.random.default_rng(9)
    groups = (
        ("training voices and variants", B.TRAIN_VOICES, B.TRAIN_VARIANTS),
        ("set 1", B.TEST_VOICES, B.TEST_VARIANTS),
        ("set 2", B.SET2_VOICES, B.SET2_VARIANTS),
    )
    print(f"{keyword!r}, window {args.window}, share of utterances >= {args.threshold}")
    set2 = B.TEST_SETS[2]
    pool2 = B.speakers(set2.voices, set2.variants, 40, np.random.default_rng(11))
    talkers = [B.say(binary, pool2[k], set2.sentences[(k + 8) % len(set2.sentences)]) for k in range(8)]
    for label, voices, variants in groups:
        pool = B.speakers(voices, variants, args.speakers, rng)
        for context, carriers in (("alone", (("", ""),)), ("in set-2 carriers", set2.carriers)):
            for noise in (None, "pink", "white", "babble"):
                found = []
                for speaker in pool:
                    audio = utterance(speaker, carriers[rng.integers(len(carriers))], rng)
                    if noise:
                        audio = B._mix(audio, float(rng.uniform(10, 15)), rng, (noise,), talkers, noise)
                    found.append(best(audio))
                share = np.mean(np.array(found) >= args.threshold)
                print(
                    f"  {label:30s} {context:18s} {noise or 'clean':7s}{' (10-15 dB)' if noise else '':11s} "
                    f"share {share:.2f}",
                    flush=True,
                )
    print(
        f"set-2 ambient sentences, each said by 10 set-2 voices over set-2 noise (0-15 dB): crossings of "
        f"{args.threshold}"
    )
    rows = []
    for sentence in set2.sentences:
        audio = np.concatenate(
            [
                B._mix(
                    np.concatenate(
                        [
                            B.say(binary, pool2[rng.integers(len(pool2))], sentence),
                            np.zeros(B.SAMPLE_RATE // 2, np.float32),
                        ]
                    ),
                    float(rng.uniform(*set2.snr_db)),
                    rng,
                    set2.noises,
                    talkers,
                )
                for _ in range(10)
            ]
        )
        scores, _ = E.stream_scores(model, [audio], len(audio), 480, ev.CancelToken(), ev.ignore, "", "micro")
        mean = moving_mean(scores, args.window)[:, 0]
        rows.append((int(np.sum((mean[1:] >= args.threshold) & (mean[:-1] < args.threshold))), sentence))
    for crossings, sentence in sorted(rows, reverse=True)[:5]:
        print(f"  {crossings:3d}  {sentence}")


if __name__ == "__main__":
    main()
