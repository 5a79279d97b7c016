"""Training input benchmark: streaming .npy files from disk vs the same data held in RAM arrays.

Run: .venv/bin/python bench/train.py [--sizes 2000 8000] [--epochs 3] [--skip-model] [--model stream|cnn]
                                     [--batch-size N]

Also trains the streaming mode as kwtui did before (TensorFlow's default kernels, TF_ENABLE_ONEDNN_OPTS=0, and one
reading thread: `stream-tfdefault`) as the baseline in the same run, prints the ratio, and projects a
Speech-Commands-sized run (265k samples x 30 epochs) from the largest size's streaming rate.

`--model stream` (the default of every shipped preset: micro-frontend features, the streaming model trained on
whole clips) or `--model cnn` (the legacy spectrogram path). For each dataset size it builds a feature store (tone
clips through that model's frontend, from tests/helpers/model.py, copied under new names up to the size), then trains the default model in a fresh subprocess per mode, timing the epochs
after the first (tracing excluded), and reads the child's peak RSS. Streaming RSS should be flat with size;
streaming throughput should be >= 0.8x in-RAM. It ends with the default model's int8 size, arena and
int8-vs-float accuracy (a short train + convert on the small store).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def build_store(root: Path, size: int, model: str = "cnn", batch_size: int = 64) -> "object":
    """A tone store whose train split is `size` clips (distinct features reused under new names)."""
    from kwtui.core.model import FRONTEND_OF, STREAM_HOP_MS
    from tests.helpers.model import make_tone_store

    family = {"features": {"frontend": FRONTEND_OF[model]}, "train": {"batch_size": batch_size, "model": model}}
    if model == "stream":
        family["evaluate"] = {"hop_ms": float(STREAM_HOP_MS)}
    preset = make_tone_store(root / "run", per_class=(100, 25, 25), **family)
    features = preset.features_path
    with (features / "train.csv").open() as handle:
        base = list(csv.DictReader(handle))
    rows = []
    for i in range(size):
        src = base[i % len(base)]
        rel = f"{src['label']}/bench_{i:06d}.npy"
        shutil.copyfile(features / src["path"], features / rel)
        rows.append((rel, src["label"]))
    with (features / "train.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label"])
        writer.writerows(rows)
    return preset


def child(mode: str, preset_path: str, epochs: int) -> None:
    """Train in this (fresh) process and print throughput and peak RSS as JSON."""
    import numpy as np

    from kwtui.core.data.frontends import frontend
    from kwtui.core.features.store import class_weights, load_arrays, load_splits, make_sequence
    from kwtui.core.io.layout import RunLayout
    from kwtui.core.model import build_model, seed_everything
    from kwtui.core.preset import load_preset

    preset = load_preset(preset_path)
    train = load_splits(RunLayout(preset), ("train",))["train"]
    seed_everything(0)
    n_classes = len(preset.class_names)
    weights = class_weights(train.labels, n_classes, "balanced")
    model = build_model(
        preset.train.model, n_classes, False, 0.001, input_shape=frontend(preset.features.frontend).input_shape
    )
    import keras

    times: list[float] = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.t)

    batch = preset.train.batch_size
    if mode == "stream":
        from kwtui.core.stages.train import READ_THREADS

        threads = int(os.environ.get("KWT_BENCH_READ_THREADS", READ_THREADS))
        seq = make_sequence(train, batch, shuffle=True, seed=0, weights=weights, workers=threads)
        model.fit(seq, epochs=epochs, verbose=0, callbacks=[Timer()])
    else:
        x, y = load_arrays(train)
        model.fit(
            x,
            y,
            sample_weight=weights[y],
            batch_size=batch,
            epochs=epochs,
            shuffle=True,
            verbose=0,
            callbacks=[Timer()],
        )
    steady = float(np.median(times[1:])) if len(times) > 1 else times[0]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"samples_per_s": len(train) / steady, "peak_rss": peak, "clips": len(train)}))


def run_child(mode: str, preset_path: Path, epochs: int) -> dict:
    before = mode == "stream-tfdefault"  # what kwtui did before: TF's default kernels, one reading thread
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS="0" if before else "1")
    if before:
        env["KWT_BENCH_READ_THREADS"] = "1"
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode.split("-")[0], str(preset_path), "--epochs", str(epochs)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def model_figures(preset) -> dict:
    from kwtui.core.events import CancelToken, ignore
    from kwtui.core.preset import from_dict
    from kwtui.core.stages.convert import run_convert
    from kwtui.core.stages.train import run_train

    data = preset.to_dict()
    data["train"].update(epochs=8, batch_size=32)
    data["convert"]["representative_samples"] = 300
    small = from_dict(data)
    run_train(small, ignore, CancelToken())
    return run_convert(small, ignore, CancelToken())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[2000, 8000])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--child", nargs=2, metavar=("MODE", "PRESET"))
    parser.add_argument("--skip-model", action="store_true", help="skip the int8 size / accuracy part")
    parser.add_argument(
        "--model",
        default="cnn",
        choices=("stream", "cnn"),
        help="stream: the shipped presets' model (micro frontend); cnn: the legacy default",
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--project-epochs",
        type=int,
        default=30,
        help="epochs of the projected Speech-Commands-sized run (the marvin preset trains 30)",
    )
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.epochs)
        return

    from kwtui.core.preset import save_preset

    results = {}
    with tempfile.TemporaryDirectory(prefix="kwtui-bench-train-") as tmp:
        for size in args.sizes:
            preset = build_store(Path(tmp) / f"n{size}", size, args.model, args.batch_size)
            path = save_preset(preset, Path(tmp) / f"n{size}.toml")
            for mode in ("stream-tfdefault", "stream", "ram"):
                results[(size, mode)] = r = run_child(mode, path, args.epochs)
                print(
                    f"{size:>6} clips  {mode:<6}  {r['samples_per_s']:8.0f} samples/s  "
                    f"peak RSS {r['peak_rss'] / 1e6:7.1f} MB",
                    flush=True,
                )
        small, large = args.sizes
        print()
        for size in args.sizes:
            gain = results[(size, "stream")]["samples_per_s"] / results[(size, "stream-tfdefault")]["samples_per_s"]
            print(
                f"streaming now / before (TF default kernels, one reader) at {size} clips: {gain:.2f}x (target >= 3x)"
            )
        rate = results[(large, "stream")]["samples_per_s"]
        print(
            f"projected Speech-Commands-sized run ({args.model}, batch {args.batch_size}: 265,000 samples x "
            f"{args.project_epochs} epochs) at {rate:,.0f} samples/s: "
            f"{265_000 * args.project_epochs / rate / 60:.0f} min (target < 15 min)"
        )
        for size in args.sizes:
            ratio = results[(size, "stream")]["samples_per_s"] / results[(size, "ram")]["samples_per_s"]
            print(f"streaming / in-RAM throughput at {size} clips: {ratio:.2f}x (target >= 0.8x)")
        for mode in ("stream", "ram"):
            growth = results[(large, mode)]["peak_rss"] / results[(small, mode)]["peak_rss"] - 1
            print(f"peak RSS growth {small} -> {large} clips, {mode}: {growth * 100:+.1f} %")
        if args.skip_model:
            return
        figures = model_figures(build_store(Path(tmp) / "model", 400, args.model))
    print()
    print(
        f"model ({args.model}) int8: {figures['model_bytes']} bytes (target <= 46080), "
        f"arena {figures['arena_bytes']} bytes incl. margin, measured minimum {figures['arena_min_bytes']} "
        f"(target <= 25600)"
    )
    print(
        f"accuracy on {figures['test_clips']} test clips: float {figures['float_accuracy']:.3f}, "
        f"int8 in TFLite Micro {figures['tflm_accuracy']:.3f}, agreement {figures['tflm_float_agreement']:.3f}"
    )


if __name__ == "__main__":
    main()
