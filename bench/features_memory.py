"""Memory of the features stage with a shipped preset as it is (augmentation on), measured three ways.

Run: .venv/bin/python bench/features_memory.py [--preset commands] [--per-word 40] [--variants N]

`kwtui features` runs on a fresh `kwtui demo-data` set; its process tree (main, forkserver, pool workers) is
sampled every 50 ms. Printed per process and for the tree, at their peaks:
- RSS: what kwtui's own `peak_rss_mb` sums; it counts every shared library and memory-mapped noise-cache page once
  per process that touched it,
- PSS: each shared page divided among the processes sharing it (the RAM the tree really takes),
- private anonymous memory (RssAnon: heaps, arrays; what no other process shares, except copy-on-write pages
  after a fork).
The baseline in the same run is the same preset with `features.variants = 0` and `features.augment = false`
(no augmented copies, no audiomentations in the workers): the ratios say what augmentation adds.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
KWTUI = Path(sys.executable).with_name("kwtui")


def _anon(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("RssAnon"):
            return int(line.split()[1]) * 1024
    return 0


def sample(command: list[str]) -> dict[str, float]:
    """Peak RSS, PSS and private anonymous memory of `command`'s process tree (MB), and its wall time."""
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    root = psutil.Process(process.pid)
    peak = {"rss": 0, "pss": 0, "anon": 0}
    while process.poll() is None:
        total = {"rss": 0, "pss": 0, "anon": 0}
        try:
            tree = [root, *root.children(recursive=True)]
        except psutil.Error:
            break
        for member in tree:
            try:
                info = member.memory_full_info()
                total["rss"] += info.rss
                total["pss"] += info.pss
                total["anon"] += _anon(member.pid)
            except (psutil.Error, OSError):
                continue
        peak = {k: max(peak[k], total[k]) for k in peak}
        time.sleep(0.05)
    _, errors = process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"kwtui features failed:\n{errors[-2000:]}")
    return {**{k: v / 1e6 for k, v in peak.items()}, "seconds": time.monotonic() - started}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="commands")
    parser.add_argument("--per-word", type=int, default=40)
    parser.add_argument("--variants", type=int, default=None, help="override the preset's features.variants")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kwtui-mem-") as folder:
        work = Path(folder)
        subprocess.run(
            [str(KWTUI), "demo-data", str(work / "ds"), "--per-word", str(args.per_word)],
            check=True,
            capture_output=True,
        )
        base = [str(KWTUI), "features", args.preset, "--set", f"dataset.path={work / 'ds'}"]
        shipped = (
            base
            + ["--set", f"run_dir={work / 'shipped'}"]
            + (["--set", f"features.variants={args.variants}"] if args.variants is not None else [])
        )
        plain = base + [
            "--set",
            f"run_dir={work / 'plain'}",
            "--set",
            "features.variants=0",
            "--set",
            "features.augment=false",
        ]
        results = {"shipped defaults": sample(shipped), "no augmentation (baseline)": sample(plain)}
    print(f"preset {args.preset}, {args.per_word} clips per word of kwtui demo-data")
    print(f"{'':28}{'RSS MB':>9}{'PSS MB':>9}{'anon MB':>9}{'seconds':>9}")
    for name, r in results.items():
        print(f"{name:28}{r['rss']:9.0f}{r['pss']:9.0f}{r['anon']:9.0f}{r['seconds']:9.1f}")
    shipped_r, plain_r = results["shipped defaults"], results["no augmentation (baseline)"]
    print(
        "ratio shipped / baseline: "
        + ", ".join(f"{k} {shipped_r[k] / plain_r[k]:.2f}x" for k in ("rss", "pss", "anon", "seconds"))
    )


if __name__ == "__main__":
    main()
