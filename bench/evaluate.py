"""Streaming evaluation: peak RSS and speed against hours of ambient audio.

Run: .venv/bin/python bench/evaluate.py [--minutes 10 120]

A small trained model (the tone store of the tests, two epochs) is evaluated with `evaluate.ambient_folders`
holding one recording of each length: stereo, 48 kHz, 16-bit (a user's own recording, converted block by block
to the 16 kHz cache, then streamed). Each evaluation runs in a fresh process; printed: the hours of ambient audio,
sliding windows, windows per second, wall time, and the child's peak RSS, with the ratio of the longest to the
shortest in the same run (memory must not grow with the hours of audio; the limit is 600 MB). Evaluation runs
the model in TFLite Micro without loading TensorFlow; "converter" is the short child process that makes the
float TFLite model once per training run (the first evaluation of a run pays it, later ones reuse the file).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CHILD = """
import json, resource, sys
from kwtui.core import events as ev
from kwtui.core.preset import load_preset
from kwtui.core.stages.evaluate import run_evaluate
preset = load_preset(sys.argv[1])
preset.evaluate.ambient_folders = [sys.argv[2]]
summary = run_evaluate(preset, ev.ignore, ev.CancelToken())
# VmHWM: this process's own peak (ru_maxrss would carry over the parent's at fork, and it holds TensorFlow)
status = open("/proc/self/status").read()
summary["peak_rss_mb"] = int(status.split("VmHWM:")[1].split()[0]) / 1024
summary["converter_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
summary["tensorflow_loaded"] = "tensorflow" in sys.modules
print(json.dumps(summary))
"""


def write_recording(path: Path, minutes: float, rate: int = 48000) -> None:
    """Stereo noise with a hum, written a minute at a time (the bench itself stays small)."""
    rng = np.random.default_rng(0)
    with sf.SoundFile(str(path), "w", samplerate=rate, channels=2, subtype="PCM_16") as out:
        for minute in range(int(np.ceil(minutes))):
            n = int(min(1.0, minutes - minute) * 60 * rate)
            t = (np.arange(n) + minute * 60 * rate) / rate
            hum = 0.1 * np.sin(2 * np.pi * 50 * t)
            out.write(np.stack([0.2 * rng.standard_normal(n) + hum, 0.2 * rng.standard_normal(n) + hum], axis=1))


CHILD_NOISE = CHILD.replace("preset.evaluate.ambient_folders = [sys.argv[2]]\n", "")


def noise_folder_run(minutes: float, work: Path) -> None:
    """A dataset whose noise folder holds one long stereo 44.1 kHz recording: features (the recording converted
    block by block into the noise cache), two epochs of training, then evaluation in a fresh process, which
    plays the held-out part of that noise through the cache."""
    import shutil

    from kwtui.core import events as ev
    from kwtui.core.preset import from_dict, save_preset
    from kwtui.core.stages.pipeline import run_pipeline
    from tests.helpers.data import demo_preset_data, make_cached_demo_dataset

    demo = make_cached_demo_dataset()
    dataset = work / "dataset"
    shutil.copytree(demo, dataset, copy_function=os.link, ignore=shutil.ignore_patterns("_background_noise_"))
    (dataset / "_background_noise_").mkdir()
    write_recording(dataset / "_background_noise_" / "long_room.wav", minutes, rate=44100)
    preset = from_dict(
        demo_preset_data(dataset, work / "run", features={"variants": 0, "workers": 2, "background_stride_s": 5.0})
    )
    run_pipeline(preset, ev.ignore, ev.CancelToken(), until="train")
    preset_file = work / "noise.toml"
    save_preset(preset, preset_file)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", CHILD_NOISE, str(preset_file)], capture_output=True, text=True, cwd=REPO
    )
    if done.returncode != 0:
        sys.exit(done.stderr[-2000:])
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    print(
        f"noise folder: one {minutes:g}-min stereo 44.1 kHz recording; evaluation {time.monotonic() - started:.0f} s,"
        f" ambient {summary['ambient_hours']:.2f} h, peak RSS {summary['peak_rss_mb']:.0f} MB, TensorFlow loaded: "
        f"{summary['tensorflow_loaded']} ({'within' if summary['peak_rss_mb'] <= 600 else 'over'} 600 MB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, nargs="+", default=[10.0, 120.0])
    parser.add_argument(
        "--noise-folder",
        type=float,
        metavar="MINUTES",
        help="instead: a recording of MINUTES in the dataset's noise folder (not ambient_folders)",
    )
    args = parser.parse_args()
    if args.noise_folder:
        from kwtui.core.native import import_tensorflow_quietly

        import_tensorflow_quietly()
        noise_folder_run(args.noise_folder, Path(tempfile.mkdtemp(prefix="kwtui-bench-evaluate-")))
        return
    from kwtui.core import events as ev
    from kwtui.core.native import import_tensorflow_quietly
    from kwtui.core.preset import save_preset
    from kwtui.core.stages.train import run_train
    from tests.helpers.model import make_tone_store

    import_tensorflow_quietly()
    work = Path(tempfile.mkdtemp(prefix="kwtui-bench-evaluate-"))
    preset = make_tone_store(work / "run", train={"epochs": 2})
    run_train(preset, ev.ignore, ev.CancelToken())
    preset_file = work / "preset.toml"
    save_preset(preset, preset_file)
    rows = []
    for minutes in args.minutes:
        folder = work / f"ambient_{minutes:g}"
        folder.mkdir()
        write_recording(folder / "room.wav", minutes)
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-c", CHILD, str(preset_file), str(folder)], capture_output=True, text=True, cwd=REPO
        )
        if done.returncode != 0:
            sys.exit(done.stderr[-2000:])
        summary = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append((minutes, summary, time.monotonic() - started))
        (folder / "room.wav").unlink()
    print(
        f"{'recording':>10}{'ambient h':>11}{'windows/s':>11}{'wall s':>8}{'peak RSS MB':>13}"
        f"{'TF loaded':>11}{'converter MB':>14}"
    )
    for minutes, summary, wall in rows:
        print(
            f"{minutes:>8g} m{summary['ambient_hours']:>11.2f}{summary['windows_per_second']:>11.0f}"
            f"{wall:>8.0f}{summary['peak_rss_mb']:>13.0f}{str(summary['tensorflow_loaded']):>11}"
            f"{summary['converter_rss_mb']:>14.0f}"
        )
    first, last = rows[0][1]["peak_rss_mb"], rows[-1][1]["peak_rss_mb"]
    print(
        f"peak RSS {rows[-1][0]:g} min / {rows[0][0]:g} min: {last / first:.2f}x; "
        f"{'within' if max(r[1]['peak_rss_mb'] for r in rows) <= 600 else 'over'} 600 MB"
    )


if __name__ == "__main__":
    main()
