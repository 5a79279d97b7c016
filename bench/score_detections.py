"""Misses and false accepts of `kwtui detect --json` output on bench/detect.py's held-out test audio.

bench/detect.py keeps each test set as raw float32 audio with a test.json of where every keyword was placed and how
(voice, carrier, noise, SNR ...). To run the deployed detector on it as a user would:

    .venv/bin/python bench/score_detections.py wavs /tmp/kwtui-bench-detect/test OUT
        # OUT/keywords.wav, OUT/ambient_first_half/, OUT/ambient_second_half/ (16 kHz float wavs)
    kwtui detect PRESET OUT/keywords.wav --json > keywords.jsonl
    kwtui detect PRESET OUT/ambient_second_half/*.wav --json > ambient.jsonl
    .venv/bin/python bench/score_detections.py score /tmp/kwtui-bench-detect/test keywords.jsonl ambient.jsonl

A placed keyword counts as detected when a detection of it ends 0.2-2.25 s after its "1 s around the word" starts
(bench/detect.py's hit rule, in detection end times). Prints the misses per keyword and split by each condition,
and the false accepts per hour of the ambient files.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

RATE = 16000
HIT_S = (0.2, 2.25)


def wavs(test: Path, out: Path) -> None:
    import soundfile as sf

    ambient = np.fromfile(test / "ambient.f32", dtype=np.float32)
    half = len(ambient) // 2
    for name, part in (("ambient_first_half", ambient[:half]), ("ambient_second_half", ambient[half:])):
        (out / name).mkdir(parents=True, exist_ok=True)
        sf.write(out / name / f"{name}.wav", part, RATE, subtype="FLOAT")  # float: peaks above 1.0 stay whole
    sf.write(out / "keywords.wav", np.fromfile(test / "keywords.f32", dtype=np.float32), RATE, subtype="FLOAT")


def _band(key: str, value: object) -> str:
    if key == "snr_db" and isinstance(value, (int, float)):
        return f"{int(value // 5 * 5)}-{int(value // 5 * 5 + 5)} dB"
    if key in ("speed", "pitch") and isinstance(value, (int, float)):
        return f"{int(value // 30 * 30)}-{int(value // 30 * 30 + 30)}"
    return str(value)


def score(test: Path, keywords_jsonl: Path, ambient_jsonl: Path) -> None:
    meta = json.loads((test / "test.json").read_text())
    detections = defaultdict(list)
    keywords: list[str] = []
    for line in keywords_jsonl.read_text().splitlines():
        record = json.loads(line)
        if record.get("event") == "detection":
            detections[record["keyword"]].append(record["time_s"])
        elif record.get("event") == "summary":
            keywords = [label for label in record["labels"] if not label.startswith("_")]
    missed = defaultdict(list)
    by_condition: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    for (start, _index, word), condition in zip(meta["placements"], meta["conditions"]):
        if word not in keywords:
            continue
        at = start / RATE
        miss = not any(at + HIT_S[0] <= t <= at + HIT_S[1] for t in detections[word])
        missed[word].append(miss)
        for key, value in condition.items():
            by_condition[key][_band(key, value)].append(miss)
    rates = {word: sum(m) / len(m) for word, m in missed.items()}
    if not rates:
        raise SystemExit(f"{keywords_jsonl}: no summary line naming the keywords, or none of them placed in {test}")
    print("misses:", "  ".join(f"{w} {r:.0%}" for w, r in rates.items()), f"  mean {np.mean(list(rates.values())):.0%}")
    for key, values in by_condition.items():
        print(f"  by {key}:", "  ".join(f"{v} {sum(m) / len(m):.0%} of {len(m)}" for v, m in sorted(values.items())))
    ambient = [json.loads(line) for line in ambient_jsonl.read_text().splitlines()]
    fired = [r for r in ambient if r.get("event") == "detection"]
    hours = sum(r["seconds"] for r in ambient if r.get("event") == "summary") / 3600
    if hours <= 0:
        print(f"false accepts: {len(fired)} (no summary line: no hours to divide by)")
        return
    print(f"false accepts: {len(fired)} in {hours:.2f} h = {len(fired) / hours:.1f} per hour")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    make = sub.add_parser("wavs", help="the test set as wavs for kwtui detect")
    make.add_argument("test", type=Path)
    make.add_argument("out", type=Path)
    rate = sub.add_parser("score", help="misses and false accepts of kwtui detect --json output")
    rate.add_argument("test", type=Path)
    rate.add_argument("keywords_jsonl", type=Path)
    rate.add_argument("ambient_jsonl", type=Path)
    args = parser.parse_args()
    if args.command == "wavs":
        wavs(args.test, args.out)
    else:
        score(args.test, args.keywords_jsonl, args.ambient_jsonl)


if __name__ == "__main__":
    main()
