"""ESPHome's streaming model against kwtui's default model, on the detection benchmark (bench/detect.py's data).

Run: .venv/bin/python bench/esphome.py [--per-word 300] [--ambient-minutes 60] [--work /tmp/kwtui-bench-detect]

Both are trained by kwtui's own pipeline with their preset's defaults on the same training set (training voices):
`presets/marvin.toml` (default cnn, kwtui's spectrogram, for kwtui's firmware) and `presets/esphome.toml` (micro
frontend, streaming model). Both are slid over the same held-out test (other voices, "marvin" inside sentences
over noise, an hour of running speech with near misses) by kwtui's scorer, through the post-processing at each
one's own hop (100 ms; ESPHome's 30 ms). Printed: FRR at <= 0.5 and <= 1 FA/h, int8 model bytes, tensor arena,
MACs per inference and per second of audio; then the published ESPHome v2 models pymicro-wakeword bundles.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import bench.detect as detect  # noqa: E402


def deployed_figures(preset, name: str) -> dict:
    """Model bytes, arena and compute of what each target deploys: model.json (kwtui firmware) or the export."""
    from kwtui.core import events as ev
    from kwtui.core.io.layout import RunLayout
    from kwtui.core.stages.pipeline import run_stage

    if name == "esphome":
        summary = run_stage("esphome", preset, ev.ignore, ev.CancelToken())
        return {
            "model_bytes": summary["model_bytes"],
            "arena_bytes": summary["tensor_arena_size"],
            "macs_per_inference": summary["macs_per_inference"],
            "macs_per_second": summary["macs_per_second"],
            "host_runtime": json.loads((RunLayout(preset).run_dir / "esphome.json").read_text())["held_out_detection"],
        }
    run_stage("convert", preset, ev.ignore, ev.CancelToken())
    meta = json.loads(RunLayout(preset).model_json.read_text())
    compute = meta["compute"]
    return {
        "model_bytes": meta["model_bytes"],
        "arena_bytes": meta["arena_bytes"],
        "macs_per_inference": compute["macs_per_inference"],
        "macs_per_second": round(compute["macs_per_inference"] * 1000 / preset.evaluate.hop_ms),
    }


def published() -> list[dict]:
    models = Path(__import__("pymicro_wakeword").__file__).parent / "models"
    rows = []
    for manifest in sorted(models.glob("*.json")):
        micro = json.loads(manifest.read_text())["micro"]
        rows.append(
            {
                "model": manifest.stem,
                "model_bytes": (models / f"{manifest.stem}.tflite").stat().st_size,
                "arena_bytes": micro["tensor_arena_size"],
                "cutoff": micro["probability_cutoff"],
                "window": micro["sliding_window_size"],
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--per-word", type=int, default=300)
    parser.add_argument("--test-per-keyword", type=int, default=100)
    parser.add_argument("--ambient-minutes", type=float, default=60.0)
    parser.add_argument("--work", default="/tmp/kwtui-bench-detect")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    from kwtui.core import events as ev
    from kwtui.core.native import import_tensorflow_quietly
    from kwtui.core.stages.pipeline import run_pipeline

    import_tensorflow_quietly()
    work = Path(args.work)
    dataset = work / f"train-{args.per_word}-v{detect.DATASET_VERSION}"
    detect.build_training_set(dataset, args.per_word, args.seed)
    test_root = work / "test"
    meta = detect.build_test_set(
        test_root, ["yes", "no", "left", "right", "marvin"], args.test_per_keyword, args.ambient_minutes, args.seed
    )
    results = {}
    for name, model in (("marvin", "cnn"), ("esphome", "stream")):
        preset = detect.preset_for(name, model, dataset, work)
        started = time.monotonic()
        run_pipeline(preset, ev.ignore, ev.CancelToken(), until="evaluate")
        result = detect.measure(preset, test_root, meta)
        result.update(deployed_figures(preset, name))
        result["pipeline_s"] = round(time.monotonic() - started, 1)
        results[f"{name}/{model}"] = result
        print(json.dumps({f"{name}/{model}": result}), flush=True)
    print()
    print(
        f"{'preset/model':<16}{'FRR <=0.5 FA/h':>15}{'FRR <=1 FA/h':>14}{'model B':>10}{'arena B':>10}"
        f"{'MACs/inference':>16}{'MACs/s audio':>14}"
    )
    for key, r in results.items():

        def frr(at, r=r):
            return f"{r[at]['frr']['marvin']:.0%}" + ("" if r[at]["met"] else "*")

        print(
            f"{key:<16}{frr('at_0.5'):>15}{frr('at_1'):>14}{r['model_bytes']:>10,}{r['arena_bytes']:>10,}"
            f"{r['macs_per_inference']:>16,}{r['macs_per_second']:>14,}"
        )
    for row in published():
        print(f"{'published ' + row['model']:<45}{row['model_bytes']:>10,}{row['arena_bytes']:>10,}")
    print("* target not met on this test: the point with the fewest false accepts")


if __name__ == "__main__":
    main()
