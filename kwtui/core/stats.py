"""Confidence intervals for the figures a report shows, so a rate resting on little audio says so.

- A proportion (FRR: missed keyword clips among n): the Wilson score interval.
- A rate from a count of events in some hours (FA/h): the Poisson interval by the Wilson-Hilferty cube-root
  approximation of the exact (Garwood) bounds; for 0 events the upper bound is the exact -ln(0.025) = 3.69 events.
Both at 95 %.
"""

from __future__ import annotations

import math

Z95 = 1.959964
MIN_HOURS_PER_RATE = 2.0  # below this, an FA/h figure is flagged: too little audio for a rate of ~0.5/h
MIN_CLIPS_PER_KEYWORD = 50  # below this, a per-keyword FRR is flagged


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    if n <= 0:
        return None
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def poisson_rate_interval(events: int, hours: float, z: float = Z95) -> tuple[float, float] | None:
    """95 % interval of a rate per hour from `events` counted in `hours`."""
    if hours <= 0:
        return None
    if events == 0:
        return 0.0, -math.log(0.025) / hours
    k = events
    lower = k * (1 - 1 / (9 * k) - z / (3 * math.sqrt(k))) ** 3
    upper = (k + 1) * (1 - 1 / (9 * (k + 1)) + z / (3 * math.sqrt(k + 1))) ** 3
    return max(0.0, lower) / hours, upper / hours


def rounded(interval: tuple[float, float] | None, digits: int) -> tuple[float, float] | None:
    """An interval as reports write it."""
    return None if interval is None else (round(interval[0], digits), round(interval[1], digits))
