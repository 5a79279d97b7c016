"""The operating point can never be a useless one, and the verdict says what the figures support."""

from __future__ import annotations

from kwtui.core.operating_point import FALLBACK_MAX_FRR, choose_for_target
from kwtui.core.report import ClassFigures
from kwtui.core.verdict import judge
from tests.helpers.report import operating_point
from tests.helpers.report import point as _point
from tests.helpers.report import report as report_of


def _curve(hours):
    # a small model: only the strictest points have no false accepts, and they hear nothing
    return [
        _point(0.3, 0.0, 40, hours),
        _point(0.6, 0.05, 12, hours),
        _point(0.9, 0.4, 3, hours),
        _point(0.999, 1.0, 0, hours),
    ]


def test_too_little_audio_for_the_target_is_not_measurable_and_falls_back():
    """0.004 h of ambient audio cannot support 0.5 FA/h: not the FRR 100 % point with 0 false accepts (what kwtui
    once chose and called meets_target=True), but the fewest false accepts at FRR <= 10 %."""
    choice = choose_for_target(_curve(0.004), 0.5, 0.004)
    assert not choice.meets_target and not choice.measurable
    assert choice.point.threshold == 0.6 and choice.point.false_reject_rate <= FALLBACK_MAX_FRR
    assert "not measurable on 0.00 h" in choice.chosen_by


def test_a_met_target_that_misses_most_keywords_falls_back():
    hours = 10.0
    curve = [_point(0.5, 0.02, 30, hours), _point(0.999, 0.9, 2, hours)]
    choice = choose_for_target(curve, 0.5, hours)
    assert not choice.meets_target and choice.measurable and choice.point.threshold == 0.5
    assert "misses 90%" in choice.chosen_by


def test_a_met_target_is_kept():
    hours = 10.0
    curve = [_point(0.5, 0.02, 30, hours), _point(0.8, 0.04, 3, hours)]
    choice = choose_for_target(curve, 0.5, hours)
    assert choice.meets_target and choice.point.threshold == 0.8 and choice.chosen_by == "target"


def _report(frr, fa_per_hour, hours, needed, meets, sources=None, words=None, accuracy=None, per_class=None):
    chosen = _point(0.9, frr, round(fa_per_hour * hours), hours, per_keyword={"yes": frr})
    op = operating_point(chosen, meets_target=meets, sources=sources, words=words)
    return report_of(op, hours=hours, needed=needed, accuracy=accuracy, per_class=per_class)


def test_verdicts():
    usable = judge(_report(0.04, 0.2, 5.0, 2.0, True, accuracy=0.95))
    assert usable.status == "usable" and usable.line().startswith("verdict: USABLE: misses 4% ")
    assert usable.next_steps == []
    unmeasured = judge(_report(0.05, 0.0, 0.03, 2.0, False))
    assert unmeasured.status == "not measurable"
    assert "evaluate.ambient_folders" in unmeasured.next_steps[0] and "0.03 h" in unmeasured.next_steps[0]
    useless = judge(
        _report(0.66, 0.0, 0.03, 2.0, False, accuracy=0.5, per_class={"_unknown": ClassFigures(0.9, 0.38, 10)})
    )
    assert useless.status == "not usable"  # misses most keywords: not usable, however little audio
    assert any("_unknown recall 38%" in step for step in useless.next_steps)
    # the keyword is quoted: a keyword named "no" reads as a word of the sentence otherwise
    assert any("'yes' missed 66%" in step and "clips of 'yes'" in step for step in useless.next_steps)
    assert len(useless.next_steps) <= 3
    # 223 false accepts in 0.68 h: too little audio to show 0.5 FA/h is met, enough to show it is not
    firing = judge(_report(0.05, 328.0, 0.68, 2.0, False))
    assert firing.status == "not usable" and "NOT USABLE" in firing.line() and "328 false accepts/h" in firing.line()
    assert any("evaluate.ambient_folders" in step for step in firing.next_steps)  # a point for the target needs it
    # one false accept in 0.03 h could still be chance at 0.5 FA/h (the interval reaches below it)
    assert judge(_report(0.05, 1 / 0.03, 0.03, 2.0, False)).status == "not measurable"
    noisy = judge(_report(0.05, 9.0, 4.0, 2.0, False, sources={"speech": 30, "words": 6}))
    assert noisy.status == "not usable"
    assert any("30 of 36 false accepts on speech" in step for step in noisy.next_steps)


def test_a_point_picked_by_hand_is_judged_itself_against_the_evaluated_target():
    """The wizard's verdict follows a row of the sweep picked by hand: that point is what the device gets."""
    hours = 5.0
    report = _report(0.04, 0.2, hours, 2.0, True, accuracy=0.95)  # usable at its own point
    noisy = _point(0.5, 0.01, 40, hours)  # 8 FA/h against the 0.5/h target
    judged = judge(report, noisy)
    assert judged.status == "not usable" and judged.fa_per_hour == 8.0 and judged.frr == 0.01
    assert judged.line().startswith("verdict at the point picked by hand: NOT USABLE: misses 1% ")
    assert "(the evaluation's target 0.5/h)" in judged.line()
    quiet = _point(0.95, 0.06, 1, hours)
    assert judge(report, quiet).status == "usable"


def test_command_words_say_once_how_much_audio_a_threshold_per_keyword_needs():
    """Each of 4 keywords gets a quarter of the 0.5 FA/h target, so its own threshold needs 8 h of ambient audio,
    not the 2 h the whole target does: the next step says both, and the fallback reason restates neither."""
    from kwtui.core.report import KeywordPoint

    hours = 3.0
    chosen = _point(0.9, 0.05, 1, hours, per_keyword={k: 0.05 for k in ("yes", "no", "left", "right")})
    own = choose_for_target([chosen], 0.125, hours)
    assert "needs" not in own.chosen_by and "not measurable on 3.00 h" in own.chosen_by
    keyword_points = {k: KeywordPoint(chosen, False, own.chosen_by, 0.125) for k in ("yes", "no", "left", "right")}
    op = operating_point(chosen, keywords=4, meets_target=False, per_keyword_points=keyword_points)
    verdict = judge(report_of(op, hours=hours, needed=2.0))
    steps = " ".join(verdict.next_steps)
    assert "the target needs 2 h; a threshold for each of 4 keywords needs 8 h" in steps
    assert steps.count("needs") == 2


def test_any_point_of_a_curve_has_its_miss_rate_interval():
    """The wizard showed "(95% ...)" only at the evaluation's own point: every point counts misses among the same
    held-out keywords, so each has its Wilson interval."""
    from kwtui.core.report import CurvePoint, false_reject_rate_interval
    from kwtui.core.stats import wilson_interval

    curve = [CurvePoint(1, t, 0, 0.0, misses / 120, misses, None) for t, misses in ((0.5, 0), (0.9, 6), (0.99, 30))]
    assert false_reject_rate_interval(curve[2], curve) == wilson_interval(30, 120)
    assert false_reject_rate_interval(curve[0], curve) == wilson_interval(0, 120)  # none missed: still 120 clips
    assert false_reject_rate_interval(curve[0], curve[:1]) is None  # nothing tells how many clips


def test_the_evaluations_own_point_is_judged_by_its_misses_on_audio_it_was_not_chosen_on():
    """Chosen among many points on the same keywords, a point's misses read low: the verdict quotes its misses where
    it was not chosen (report.CrossFitted), so a point that misses few only of the keywords it was chosen on is not
    usable. Its false accepts are its own (choosing does not bias them: bench/selection_bias.py)."""
    from kwtui.core.report import CrossFitted

    hours = 5.0
    chosen = _point(0.9, 0.04, 1, hours, per_keyword={"yes": 0.04})
    unseen = CrossFitted(9, 100, 0.09, (0.05, 0.16), 4, hours, 0.8, (0.2, 2.0))
    usable = judge(report_of(operating_point(chosen, unseen=unseen), hours=hours, needed=2.0, accuracy=0.95))
    assert usable.status == "usable" and (usable.frr, usable.fa_per_hour) == (0.09, 0.2)
    assert usable.line().startswith("verdict: USABLE: misses 9% of held-out keywords, 0.2 false accepts/h")
    missing = CrossFitted(14, 100, 0.14, (0.08, 0.22), 2, hours, 0.4, (0.05, 1.44))
    assert judge(report_of(operating_point(chosen, unseen=missing), hours=hours, needed=2.0)).status == "not usable"
    # a point picked by hand is judged by its own figures
    assert judge(report_of(operating_point(chosen, unseen=missing), hours=hours, needed=2.0), chosen).frr == 0.04
