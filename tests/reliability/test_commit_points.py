"""Kill `kwtui run` (SIGKILL, through a test-only hook) at commit points of train, evaluate and convert, then
re-run: the records and files equal an uninterrupted run's (same names, all records fresh, the history has
every epoch once) and no temp file or journal is left.

The hook: KWTUI_TEST_COMMIT_LOG lists every commit (rename) of a run; KWTUI_TEST_KILL_AT_COMMIT=N kills the
process just before the Nth. Commit points are taken from an uninterrupted run's log: for each stage's units,
the journal's commit and a rename inside the unit (the instants where a mix of old and new could appear).
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import tomli_w

from kwtui.core.io import records, writer
from kwtui.core.io.layout import RunLayout
from kwtui.core.preset import load_preset
from tests.helpers.corpus import kwtui
from tests.helpers.model import make_tone_store
from tests.reliability.procs import temp_files

SMALL = (12, 4, 6)


def _run(preset_file: Path, env: dict[str, str] | None = None):
    return kwtui("run", preset_file, "--from", "train", "--until", "convert", "--resume", env=env, timeout=300)


def _files(run: Path) -> set[str]:
    return {str(p.relative_to(run)) for p in run.rglob("*") if p.is_file() and p.name != ".kwtui-lock"}


def _history_epochs(run: Path) -> list[int]:
    with (run / "history.csv").open(newline="") as handle:
        return [int(row["epoch"]) for row in csv.DictReader(handle)]


def _pick_kill_points(log: list[tuple[int, str]], most: int = 8) -> list[int]:
    """For each unit: its journal's commit and the first rename after it; spread over the run if too many."""
    points: list[int] = []
    for i, (n, target) in enumerate(log):
        if target.endswith(writer.JOURNAL_NAME) and i + 1 < len(log):
            points += [n, log[i + 1][0]]
    if len(points) > most:
        points = [points[round(k * (len(points) - 1) / (most - 1))] for k in range(most)]
    return sorted(set(points))


def test_kill_at_commit_points_then_rerun_equals_uninterrupted(tmp_path):
    preset = make_tone_store(
        tmp_path / "base" / "run", per_class=SMALL, train={"epochs": 2}, convert={"representative_samples": 10}
    )
    base_file = tmp_path / "base" / "tones.toml"
    base_file.write_text(tomli_w.dumps(preset.to_dict()))
    log_file = tmp_path / "commits.log"
    done = _run(base_file, env={"KWTUI_TEST_COMMIT_LOG": str(log_file)})
    assert done.returncode == 0, done.stderr
    log = [(int(n), t) for n, t in (line.split("\t", 1) for line in log_file.read_text().splitlines())]
    reference = _files(preset.run_path)
    points = _pick_kill_points(log)
    assert len(points) >= 4, log

    for point in points:
        case = tmp_path / f"kill{point}"
        shutil.copytree(
            tmp_path / "base",
            case,
            ignore=shutil.ignore_patterns(
                "train.json", "report.*", "model.*", "model_*.keras", "history.csv", "checkpoints"
            ),
        )
        case_file = case / "tones.toml"
        data = preset.to_dict()
        data["run_dir"] = str(case / "run")
        data["convert"]["firmware_dir"] = str(case / "run" / "firmware_src")
        case_file.write_text(tomli_w.dumps(data))
        killed = _run(case_file, env={"KWTUI_TEST_KILL_AT_COMMIT": str(point)})
        assert killed.returncode in (-9, 137), (point, killed.returncode, killed.stderr)
        again = _run(case_file)
        assert again.returncode == 0, (point, again.stderr)
        run = case / "run"
        assert _files(run) == reference, (point, _files(run) ^ reference)
        assert temp_files(run) == [], (point, temp_files(run))
        layout = RunLayout(load_preset(case_file))
        assert all(s.done for s in records.status(layout).values()), (point, records.status(layout))
        assert _history_epochs(run) == [1, 2], point
        model = json.loads((run / "model.json").read_text())
        assert model["fingerprint"] == records.model_fingerprint(layout)
