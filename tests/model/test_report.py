"""report.json is a typed, versioned record: it round-trips, and a report of another version is refused in one
line (exit 2) naming the command that makes a new one."""

from __future__ import annotations

import json

import pytest

from kwtui.core import recipes
from kwtui.core.errors import ExitCode, UserError
from kwtui.core.io import records
from kwtui.core.io.layout import RunLayout
from kwtui.core.preset import from_dict
from kwtui.core.report import REPORT_VERSION, KeywordPoint, Report, StaleReport
from tests.helpers.records import write_fresh_records
from tests.helpers.report import operating_point, point, report


def _commands_report() -> Report:
    """Command words with a point per keyword: every kind of field is set."""
    hours = 2.0
    curve = [
        point(t, frr, fa, hours, w, {"yes": frr, "no": frr / 2}, misses=int(frr * 40))
        for w in (1, 3)
        for t, frr, fa in ((0.5, 0.02, 30), (0.9, 0.1, 2), (0.99, 0.6, 0))
    ]
    own = {
        kw: KeywordPoint(point(0.9, 0.1, 1, hours, 3), kw == "yes", "target" if kw == "yes" else "fallback: x", 0.25)
        for kw in ("yes", "no")
    }
    op = operating_point(
        curve[4],
        keywords=2,
        meets_target=False,
        chosen_by="per keyword",
        sources={"speech": 2},
        words={"yet": 1},
        frr_ci=(0.05, 0.2),
        per_keyword_false_reject_rate_ci={"yes": (0.1, 0.3), "no": None},
        per_keyword_clips={"yes": 20, "no": 20},
        false_accepts_per_hour_ci=(0.1, 3.6),
        per_keyword_points=own,
    )
    return report(
        op,
        curve,
        hours=hours,
        needed=2.0,
        labels=("yes", "no", "_unknown"),
        support_warnings=("FRR rests on few test clips",),
    )


def test_a_report_round_trips_through_its_json() -> None:
    original = _commands_report()
    data = json.loads(json.dumps(original.to_dict()))
    assert data["version"] == REPORT_VERSION and data["kind"] == "report"
    assert Report.from_dict(data) == original
    # the derived parts are written for people and other tools (bench/, the firmware tests)
    assert data["verdict"]["line"] == original.verdict.line()
    assert [p["threshold"] for p in data["threshold_sweep"]] == [0.5, 0.9, 0.99]
    assert data["operating_point"]["false_reject_rate"] == 0.1 and set(
        data["operating_point"]["per_keyword_points"]
    ) == {"yes", "no"}


@pytest.mark.parametrize("version", [1, REPORT_VERSION + 1, None])
def test_a_report_of_another_version_is_refused_in_one_line(version) -> None:
    data = {**_commands_report().to_dict(), "version": version}
    with pytest.raises(StaleReport) as refused:
        Report.from_dict(data, "runs/x/report.json", "kwtui evaluate x")
    message = str(refused.value)
    assert "\n" not in message and refused.value.exit_code == ExitCode.USAGE
    assert message.startswith("runs/x/report.json: report version") and message.endswith("re-run `kwtui evaluate x`")


def test_a_report_missing_a_field_is_refused_in_one_line() -> None:
    data = _commands_report().to_dict()
    del data["operating_point"]["meets_target"]
    with pytest.raises(StaleReport, match=r"^report.json: no 'meets_target' in it: re-run `kwtui evaluate`$"):
        Report.from_dict(data)


def test_a_stale_report_makes_the_evaluation_stale_and_readers_refuse_it(tmp_path, monkeypatch) -> None:
    preset = from_dict(
        {
            "name": "rep",
            "run_dir": str(tmp_path / "run"),
            "classes": {"keywords": ["yes", "no"]},
            "evaluate": {"target_fa_per_hour": 0.5},
        }
    )
    layout = RunLayout(preset)
    write_fresh_records(layout)
    fresh = _commands_report().to_dict() | {
        "fingerprint": records.report_fingerprint(layout),
        "labels": preset.class_names,
    }
    layout.report_json.write_text(json.dumps(fresh))
    assert records.evaluate_status(layout).done
    assert records.detector_settings(layout).thresholds == (0.9, 0.9)
    layout.report_json.write_text(json.dumps({**fresh, "version": 1}))
    status = records.evaluate_status(layout)
    assert status.state == "stale" and "report version 1" in status.reason
    assert records.detector_settings(layout).chosen_by.startswith("preset")  # never the stale report's point
    with pytest.raises(UserError) as refused:
        records.require(layout, "evaluate", "convert")
    assert "\n" not in str(refused.value) and str(refused.value).endswith("run `kwtui evaluate rep` first")
    with pytest.raises(StaleReport, match="re-run `kwtui evaluate rep`$"):
        records.load_report(layout)
    # a report made before the held-out audio was built another way: its figures are not this kwtui's
    layout.report_json.write_text(json.dumps(fresh))
    assert records.evaluate_status(layout).done
    monkeypatch.setattr(recipes, "HELD_OUT_AUDIO", recipes.HELD_OUT_AUDIO + 1)
    assert records.evaluate_status(layout).state == "stale"
