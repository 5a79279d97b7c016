"""Picking the operating point (averaging window and threshold) from an evaluation's FRR / false-accept curve."""

from __future__ import annotations

from dataclasses import dataclass

from kwtui.core.report import CurvePoint


def best_point(points: list[CurvePoint], target: float) -> tuple[CurvePoint, bool]:
    """The point with the lowest FRR among those at or under `target` FA/h (ties: fewer false accepts, shorter
    averaging window, higher threshold). None meets it: the point with the fewest false accepts. -> (point, met)"""
    measured = [p for p in points if p.false_accepts_per_hour is not None and p.false_reject_rate is not None]
    meeting = [p for p in measured if p.false_accepts_per_hour is not None and p.false_accepts_per_hour <= target]
    if meeting:
        return min(
            meeting, key=lambda p: (p.false_reject_rate or 0.0, p.false_accepts or 0, p.average_window, -p.threshold)
        ), True
    pool = measured or points
    return min(
        pool,
        key=lambda p: (
            p.false_accepts if p.false_accepts is not None else 0,
            p.false_reject_rate if p.false_reject_rate is not None else 1,
            p.average_window,
            -p.threshold,
        ),
    ), False


FALLBACK_MAX_FRR = 0.10  # the fallback keeps at least 90 % of the held-out keywords detected, where a point can
MOSTLY_MISSED_FRR = 0.5  # a point that misses more than this is never chosen while another point detects more


@dataclass(frozen=True)
class Choice:
    point: CurvePoint
    meets_target: bool
    chosen_by: str  # in words, written everywhere the point is (report, model.json, manifests)
    measurable: bool  # the ambient audio can tell the target rate from zero


def _frr(point: CurvePoint) -> float:
    return point.false_reject_rate if point.false_reject_rate is not None else 1.0


def fallback_point(points: list[CurvePoint]) -> CurvePoint:
    """The documented fallback: the fewest false accepts among points that miss at most FALLBACK_MAX_FRR of the
    held-out keywords; without such a point, the lowest miss rate (then the fewest false accepts)."""
    measured = [p for p in points if p.false_reject_rate is not None] or points
    keeping = [p for p in measured if p.false_reject_rate is not None and p.false_reject_rate <= FALLBACK_MAX_FRR]
    if keeping:
        return min(keeping, key=lambda p: (p.false_accepts or 0, _frr(p), p.average_window, -p.threshold))
    return min(measured, key=lambda p: (_frr(p), p.false_accepts or 0, p.average_window, -p.threshold))


def choose_for_target(points: list[CurvePoint], target: float, hours: float) -> Choice:
    """The operating point for `target` FA/h on `hours` of ambient audio, never a useless one:
    - the audio cannot support the target (less than 1 / target hours): not measurable, the fallback point;
    - the target is met: the lowest miss rate at or under it, unless that point misses most held-out keywords while
      another point detects more: then the fallback, and the target counts as not met;
    - not met: the fallback (the fewest false accepts alone would pick a point that hears nothing)."""
    if hours <= 0 or hours < 1.0 / target:
        return Choice(
            fallback_point(points),
            False,
            f"fallback: {target:g} FA/h is not measurable on {hours:.2f} h "
            f"of ambient audio; fewest false accepts at FRR <= "
            f"{FALLBACK_MAX_FRR:.0%}",
            False,
        )
    best, met = best_point(points, target)
    if met:
        fallback = fallback_point(points)
        if _frr(best) > MOSTLY_MISSED_FRR and _frr(fallback) < _frr(best):
            return Choice(
                fallback,
                False,
                f"fallback: at {target:g} FA/h the model misses "
                f"{_frr(best):.0%} of the held-out keywords; fewest false accepts at FRR <= "
                f"{FALLBACK_MAX_FRR:.0%}",
                True,
            )
        return Choice(best, True, "target", True)
    return Choice(
        fallback_point(points),
        False,
        f"fallback: no point reaches {target:g} FA/h; fewest false accepts at FRR <= {FALLBACK_MAX_FRR:.0%}",
        True,
    )
