"""Picking the operating point (averaging window and threshold) from an evaluation's FRR / false-accept curve."""

from __future__ import annotations

from typing import Any


def choose_operating_point(points: list[dict[str, Any]], target: float) -> tuple[dict[str, Any], bool]:
    """The point with the lowest FRR among those at or under `target` FA/h (ties: fewer false accepts, shorter
    averaging window, higher threshold). None meets it: the point with the fewest false accepts. -> (point, met)"""
    measured = [p for p in points if p["false_accepts_per_hour"] is not None and p["false_reject_rate"] is not None]
    meeting = [p for p in measured if p["false_accepts_per_hour"] <= target]
    if meeting:
        return min(meeting, key=lambda p: (p["false_reject_rate"], p["false_accepts"], p["average_window"],
                                           -p["threshold"])), True
    pool = measured or points
    return min(pool, key=lambda p: (p["false_accepts"] if p["false_accepts"] is not None else 0,
                                    p["false_reject_rate"] if p["false_reject_rate"] is not None else 1,
                                    p["average_window"], -p["threshold"])), False
