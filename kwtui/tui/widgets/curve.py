"""DetectionCurve: FRR against false accepts per hour (log scale), the best FRR at each rate over every averaging
window and threshold, with the chosen operating point marked and the target drawn as a vertical line."""

from __future__ import annotations

import math

from rich.text import Text
from textual.widget import Widget

from kwtui.core.report import CurvePoint
from kwtui.tui.widgets.plot import DOTS, draw_line

_LABEL_WIDTH = 5
X_MIN = 0.1  # FA/h at the left edge; 0 false accepts are drawn there


def frontier(curve: list[CurvePoint]) -> list[tuple[float, float]]:
    """(FA/h, lowest FRR at or under it), ascending FA/h: the curve a user chooses from."""
    points = sorted(
        (p.false_accepts_per_hour, p.false_reject_rate)
        for p in curve
        if p.false_accepts_per_hour is not None and p.false_reject_rate is not None
    )
    best: list[tuple[float, float]] = []
    for fa, frr in points:
        if not best or frr < best[-1][1]:
            best.append((fa, frr))
    return best


class DetectionCurve(Widget):
    DEFAULT_CSS = """
    DetectionCurve { height: 7; min-height: 4; }
    """

    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id)
        self.points: list[tuple[float, float]] = []
        self.chosen: tuple[float, float] | None = None
        self.target = 0.0
        self.per_keyword = False  # the marker is keywords at thresholds of their own: off this one-threshold curve

    def show(
        self, curve: list[CurvePoint], chosen: CurvePoint | None, target: float, per_keyword: bool = False
    ) -> None:
        self.points = frontier(curve)
        fa = chosen.false_accepts_per_hour if chosen else None
        frr = chosen.false_reject_rate if chosen else None
        self.chosen = (fa, frr) if fa is not None and frr is not None else None
        self.target = target
        self.per_keyword = per_keyword
        self.refresh()

    def set_choice(self, fa_per_hour: float | None, frr: float | None, target: float) -> None:
        """Move the marker to the point picked (by hand: target 0, no target line; one threshold for all)."""
        self.chosen = (fa_per_hour, frr) if fa_per_hour is not None and frr is not None else None
        self.target = target
        self.per_keyword = False
        self.refresh()

    def render(self) -> Text:
        width = max(self.size.width - _LABEL_WIDTH, 8)
        rows = max(self.size.height - 2, 1)
        # the axis reaches the point picked too: a row of the sweep off the frontier (more false accepts than the
        # frontier's last point) was left off the chart, its marker with it
        x_max = max([X_MIN * 10] + [p[0] for p in self.points] + ([self.chosen[0]] if self.chosen else []))
        span = math.log10(x_max / X_MIN)
        dots_w, dots_h = width * 2, rows * 4
        cells = [[0] * width for _ in range(rows)]

        def position(fa: float, frr: float) -> tuple[int, int]:
            x = math.log10(max(fa, X_MIN) / X_MIN) / span
            return round(x * (dots_w - 1)), round((1 - min(max(frr, 0.0), 1.0)) * (dots_h - 1))

        def dot(dx: int, dy: int) -> None:
            if 0 <= dx < dots_w and 0 <= dy < dots_h:
                cells[dy // 4][dx // 2] |= DOTS[dy % 4][dx % 2]

        previous = None
        for fa, frr in self.points:
            here = position(fa, frr)
            if previous is not None:  # a step: FRR holds until the next rate lowers it
                draw_line(previous, (here[0], previous[1]), dot)
                draw_line((here[0], previous[1]), here, dot)
            dot(*here)
            previous = here
        target_col = position(self.target, 0)[0] // 2 if self.target > 0 else None
        chosen_cell = None
        if self.chosen is not None:
            cx, cy = position(*self.chosen)
            chosen_cell = (cy // 4, cx // 2)
        text = Text(no_wrap=True, overflow="crop")
        title, chosen = "FRR vs FA/h  ", "● chosen" + (", per keyword" if self.per_keyword else "")
        target = f"  ┊ target {self.target:g}/h"
        if len(title + chosen + target) > self.size.width:  # a narrow column: the legend stays whole, shorter
            title, target = "FRR/FA/h ", f" ┊ {self.target:g}/h"
        text.append(title, style="bold")
        text.append(chosen, style="bold yellow")
        if target_col is not None:
            text.append(target, style="cyan")
        for r in range(rows):
            text.append("\n")
            label = "100%" if r == 0 else ("0%" if r == rows - 1 else "")
            text.append(f"{label:>{_LABEL_WIDTH - 1}}│", style="dim")
            for c in range(width):
                if chosen_cell == (r, c):
                    text.append("●", style="bold yellow")
                elif cells[r][c]:
                    text.append(chr(0x2800 + cells[r][c]))
                elif c == target_col:
                    text.append("┊", style="cyan")
                else:
                    text.append(" ")
        text.append("\n" + " " * _LABEL_WIDTH + axis_labels(X_MIN, x_max, width), style="dim")
        return text


def rate_label(value: float) -> str:
    """A false-accept rate as an axis label: 0.1, 3.2, 18, 1,200 (no exponent)."""
    return f"{value:.2g}" if value < 10 else f"{value:,.0f}"


def axis_labels(x_min: float, x_max: float, width: int) -> str:
    """`width` characters: the left, middle (geometric) and right rates of a log axis where each falls, the right
    one ending in /h; a label that would overlap another is left out rather than cut."""
    line = [" "] * width
    right = rate_label(x_max) + "/h"
    spans = [
        (0, rate_label(x_min)),
        (width // 2 - 1, rate_label(math.sqrt(x_min * x_max))),
        (width - len(right), right),
    ]
    taken = -1
    for start, label in spans:
        if start <= taken or start < 0 or start + len(label) > width:
            continue
        line[start : start + len(label)] = label
        taken = start + len(label)
    return "".join(line)
