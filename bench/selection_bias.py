"""How optimistic is a miss rate measured on the clips its operating point was chosen on?

Run (after bench/detect.py has trained the models it names):
    .venv/bin/python bench/selection_bias.py [--seeds 42 7] [--work /tmp/kwtui-bench-detect]

kwtui's evaluation chooses each keyword's threshold and window on its held-out audio and reports the misses and false
accepts there. This splits held-out set 1 of bench/detect.py in two halves (every other placed keyword; the first and
the second half of the 0.51 h of ambient audio left after the half hour kwtui's evaluation got), chooses the points
by kwtui's own rule on one half and measures them on both: the difference is what choosing on the measured audio adds.
The models are those of `bench/detect.py --presets commands --models stream --per-word 300 --ambient-minutes 60
--test-set 1 --evaluate-minutes 30 --test-split-voices`, and the same with `--set train.seed=7` (seed 42 is the
default: its run is the one without a seed override).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import detect as D  # noqa: E402

from kwtui.core import detection_curve as DC  # noqa: E402
from kwtui.core.data import ambient  # noqa: E402
from kwtui.core.data.spectrogram import SAMPLE_RATE  # noqa: E402
from kwtui.core.report import CurvePoint  # noqa: E402

EVALUATE_MINUTES = 30  # what --evaluate-minutes gave kwtui's own evaluation; the test keeps the rest


def halves(full: DC.Scored) -> list[DC.Scored]:
    """Every other placed keyword, and one half of the ambient scores, each."""
    middle = len(full.ambient_scores) // 2
    out = []
    for half in (0, 1):
        placed = [k for j, k in enumerate(full.keyword_stream.keywords) if j % 2 == half]
        stream = ambient.Stream(full.keyword_stream.pieces, full.keyword_stream.samples, placed)
        scores = full.ambient_scores[:middle] if half == 0 else full.ambient_scores[middle:]
        hours = full.hours * len(scores) / len(full.ambient_scores)
        out.append(DC.Scored(scores, full.keyword_scores, stream, full.keywords, full.keyword_indices,
                             full.hop_ms, full.refractory_ms, hours))  # fmt: skip
    return out


def describe(point: CurvePoint) -> str:
    per_keyword = " / ".join(f"{v:.0%}" for v in (point.per_keyword_false_reject_rate or {}).values())
    return f"misses {point.false_reject_rate:.1%} ({per_keyword}), {point.false_accepts_per_hour:.0f} FA/h"


def main() -> None:
    from kwtui.core.io.layout import RunLayout
    from kwtui.core.native import import_tensorflow_quietly
    from kwtui.core.stages import evaluate as E
    from kwtui.core.stages.train import deployed_model_path

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 7])
    parser.add_argument("--work", default="/tmp/kwtui-bench-detect")
    args = parser.parse_args()
    import_tensorflow_quietly()
    work = Path(args.work)
    root = work / "test"
    meta = json.loads((root / "test.json").read_text())
    dataset = work / f"train-300-v{D.DATASET_VERSION}-tv"
    evaluate_ambient = root / f"evaluate-ambient-{EVALUATE_MINUTES * 60}s"
    same, other = [], []
    for seed in args.seeds:
        overrides = () if seed == 42 else (f"train.seed={seed}",)  # 42 is the default: its run has no seed tag
        preset = D.preset_for("commands", "stream", dataset, work, overrides, evaluate_ambient)
        layout = RunLayout(preset)
        if not deployed_model_path(layout).exists():
            sys.exit(f"{layout.run_dir}: no trained model; run bench/detect.py as this script's docstring says")
        keywords = list(preset.classes.keywords)
        model = E.load_scorer(layout, deployed_model_path(layout))
        ambient_plan, keyword_plan = D.test_streams(root, meta, keywords, EVALUATE_MINUTES * 60 * SAMPLE_RATE)
        a_scores, _ = D.stream_scores(model, ambient_plan, preset)
        k_scores, _ = D.stream_scores(model, keyword_plan, preset)
        cfg = preset.evaluate
        full = DC.Scored(a_scores, k_scores, keyword_plan, keywords, D.keyword_outputs(preset), cfg.hop_ms,
                         cfg.refractory_ms, ambient_plan.seconds / 3600)  # fmt: skip
        windows = list(E.curve_windows(cfg.hop_ms, cfg.average_window))
        thresholds = list(E.curve_thresholds(preset.features.frontend, cfg.threshold))
        parts = halves(full)
        for chosen_on in (0, 1):
            points, _met = DC.choose_per_keyword(parts[chosen_on], windows, thresholds, cfg.target_fa_per_hour)
            chosen_thresholds = [p.point.threshold for p in points]
            chosen_windows = [p.point.average_window for p in points]
            on_same = DC.combined_point(parts[chosen_on], chosen_thresholds, chosen_windows)
            on_other = DC.combined_point(parts[1 - chosen_on], chosen_thresholds, chosen_windows)
            same.append(on_same)
            other.append(on_other)
            print(f"seed {seed}, chosen on half {chosen_on + 1} (thresholds {chosen_thresholds}, windows "
                  f"{chosen_windows}): that half {describe(on_same)}; the other half {describe(on_other)}")  # fmt: skip

    def mean(points: list[CurvePoint], field: str) -> float:
        return sum(getattr(p, field) for p in points) / len(points)

    print(f"mean over {len(same)} choices: misses {mean(same, 'false_reject_rate'):.1%} where chosen, "
          f"{mean(other, 'false_reject_rate'):.1%} elsewhere; false accepts "
          f"{mean(same, 'false_accepts_per_hour'):.0f} and {mean(other, 'false_accepts_per_hour'):.0f} per hour")  # fmt: skip


if __name__ == "__main__":
    main()
