"""kwtui's wake words beside ESPHome's published ones, on audio neither saw, in ESPHome's own host runtime.

Run: .venv/bin/python bench/published.py [--per-word 300] [--ambient-minutes 60] [--work /tmp/kwtui-bench-detect]

kwtui trains "alexa" and "hey jarvis" with `presets/esphome.toml`'s defaults on espeak-ng data (bench/detect.py's
training voices, `--per-word` clips of each wake word beside the 15 demo words and running speech), and exports
them for ESPHome. The published `alexa` and `hey_jarvis` are the microWakeWord models pymicro-wakeword bundles.
All four are loaded by pymicro-wakeword (ESPHome's frontend and a TFLite build) and slid over bench/detect.py's
second held-out set (`--test-set 2`: voices, variants, carrier phrases, sentences and noises no training set has,
0-15 dB SNR, an hour of running speech), here with the two wake words placed in the carrier phrases.

Each model's raw probabilities (window 1) go through the same post-processing sweep (averaging window 1-16,
cutoffs up to 0.999, a refractory second); printed: FRR at <= 0.5 and <= 1 FA/h, and what each model's own
manifest (its cutoff and window) gives on this test.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import bench.detect as detect  # noqa: E402

WAKE_WORDS = ("alexa", "hey_jarvis")
CHUNK = 16000 * 60  # samples read at a time from the test files


def raw_probabilities(manifest: Path, audio_file: Path, work: Path) -> np.ndarray:
    """One probability per inference (ESPHome's 30 ms stride) of the model `manifest` names over a raw float32
    16 kHz file, in pymicro-wakeword with its averaging window set to 1 (the sweep averages)."""
    from pymicro_wakeword import MicroWakeWord, MicroWakeWordFeatures

    config = json.loads(manifest.read_text())
    folder = work / "window1" / manifest.stem
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(manifest.parent / config["model"], folder / Path(config["model"]).name)
    config["model"] = Path(config["model"]).name
    config["micro"]["sliding_window_size"] = 1
    (folder / manifest.name).write_text(json.dumps(config))
    detector = MicroWakeWord.from_config(folder / manifest.name)
    frontend = MicroWakeWordFeatures()
    found: list[float] = []
    steps = 0
    try:
        samples = np.memmap(audio_file, dtype="<f4", mode="r")
        for at in range(0, len(samples), CHUNK):
            pcm = np.round(np.clip(samples[at : at + CHUNK], -1.0, 32767 / 32768) * 32768).astype("<i2").tobytes()
            for features in frontend.process_streaming(pcm):
                value = detector.process_streaming_prob(features)
                steps += 1
                if steps % detector.stride == 0:  # an inference ran: window 1 returns its probability
                    found.append(float(value or 0.0))
    finally:
        detector.close()
    return np.asarray(found, np.float32)[:, None]


def as_window_starts(probabilities: np.ndarray, stride_samples: int) -> np.ndarray:
    """kwtui's curve indexes a score by the start of its 1 s window; a streaming probability comes at its end."""
    lag = int(round(16000 / stride_samples)) - 1
    return probabilities[lag:]


def measure(manifest: Path, test_root: Path, meta: dict, keyword: str, work: Path) -> dict:
    from kwtui.core import detection_curve as DC
    from kwtui.core.stages import evaluate as E

    ambient_plan, keyword_plan = detect.test_streams(test_root, meta, [keyword])
    stride, hop_ms, refractory_ms = 480, 30.0, 1000.0
    started = time.monotonic()
    a = as_window_starts(raw_probabilities(manifest, test_root / "ambient.f32", work), stride)
    k = as_window_starts(raw_probabilities(manifest, test_root / "keywords.f32", work), stride)
    hours = ambient_plan.seconds / 3600
    windows = list(range(1, 17))
    thresholds = sorted({*np.round(np.arange(0.3, 0.99, 0.02), 2), 0.97, 0.98, 0.99, 0.995, 0.999})
    scored = DC.Scored(a, k, keyword_plan, [keyword], [0], hop_ms, refractory_ms, hours)
    curve = DC.detection_curve(scored, windows, [float(t) for t in thresholds])
    out: dict = {
        "hours": round(hours, 2),
        "placed": len(keyword_plan.keywords),
        "score_s": round(time.monotonic() - started, 1),
    }
    for target in (0.5, 1.0):
        point, met = E.best_point(curve, target)
        out[f"at_{target:g}"] = {
            "met": met,
            "frr": point.false_reject_rate,
            "threshold": point.threshold,
            "window": point.average_window,
            "fa_per_hour": point.false_accepts_per_hour,
        }
    micro = json.loads(manifest.read_text())["micro"]
    own = DC.detection_curve(scored, [int(micro["sliding_window_size"])], [float(micro["probability_cutoff"])])[0]
    out["own_manifest"] = {
        "cutoff": micro["probability_cutoff"],
        "window": micro["sliding_window_size"],
        "frr": own.false_reject_rate,
        "fa_per_hour": own.false_accepts_per_hour,
    }
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--per-word", type=int, default=300)
    parser.add_argument("--test-per-keyword", type=int, default=100)
    parser.add_argument("--ambient-minutes", type=float, default=60.0)
    parser.add_argument("--work", default="/tmp/kwtui-bench-detect")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    from kwtui.core import events as ev
    from kwtui.core.io.layout import RunLayout
    from kwtui.core.native import import_tensorflow_quietly
    from kwtui.core.preset import from_dict, load_preset
    from kwtui.core.stages.pipeline import run_pipeline, run_stage

    import_tensorflow_quietly()
    work = Path(args.work)
    started = time.monotonic()
    dataset = work / f"train-{args.per_word}-v{detect.DATASET_VERSION}-wakewords"
    detect.build_training_set(dataset, args.per_word, args.seed, words=detect.WORDS + WAKE_WORDS)
    test_root = work / "test2-wakewords"
    meta = detect.build_test_set(
        test_root, list(WAKE_WORDS), args.test_per_keyword, args.ambient_minutes, args.seed, detect.TEST_SETS[2]
    )
    print(f"data ready [{time.monotonic() - started:.0f} s]", flush=True)
    published = Path(__import__("pymicro_wakeword").__file__).parent / "models"
    results = {}
    for word in WAKE_WORDS:
        base = load_preset(REPO / "presets" / "esphome.toml").to_dict()
        base.update(name=f"esphome-{word}", run_dir=str(work / "runs" / f"esphome-{word}"))
        base["dataset"]["path"] = str(dataset)
        base["classes"]["keywords"] = [word]
        preset = from_dict(base)
        t0 = time.monotonic()
        run_pipeline(preset, ev.ignore, ev.CancelToken(), until="evaluate")
        run_stage("esphome", preset, ev.ignore, ev.CancelToken(), force_deploy=True)
        train_s = round(time.monotonic() - t0, 1)
        ours = next((RunLayout(preset).run_dir / "esphome").glob("*.json"))
        for who, manifest in (("kwtui", ours), ("published", published / f"{word}.json")):
            result = measure(manifest, test_root, meta, word, work)
            if who == "kwtui":
                result["train_s"] = train_s
            results[f"{word} {who}"] = result
            print(json.dumps({f"{word} {who}": result}), flush=True)
    print()
    print(f"{'model':<22}{'FRR <= 0.5 FA/h':>18}{'FRR <= 1 FA/h':>16}  its own manifest")
    for key, r in results.items():

        def cell(at):
            return f"{at['frr']:.0%}" + ("" if at["met"] else f" ({at['fa_per_hour']}/h)")

        own = r["own_manifest"]
        mine = f"{own['frr']:.0%} at {own['fa_per_hour']}/h (cutoff {own['cutoff']}, window {own['window']})"
        print(f"{key:<22}{cell(r['at_0.5']):>18}{cell(r['at_1']):>16}  {mine}")


if __name__ == "__main__":
    main()
