"""LinePlot: a small multi-series line chart drawn with braille dots (2x4 dots per cell), no dependencies."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.text import Text
from textual.widget import Widget

# bit of each dot in a braille cell, indexed [row][column]
DOTS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))
_LABEL_WIDTH = 6


@dataclass
class Series:
    name: str
    color: str
    points: list[tuple[float, float]] = field(default_factory=list)


class LinePlot(Widget):
    """Series of (x, y) points, auto-scaled between their first and last x; the legend shows the last value of
    each series, the bottom row the x axis's ends and unit."""

    DEFAULT_CSS = """
    LinePlot { height: 9; min-height: 5; }
    """

    def __init__(
        self,
        title: str,
        series: list[tuple[str, str]],
        *,
        y_range: tuple[float, float] | None = None,
        y_floor: float | None = None,
        x_label: str = "",
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.title = title
        self.series = {name: Series(name, color) for name, color in series}
        self.y_range = y_range
        self.y_floor = y_floor  # the y axis reaches down to it at least (a loss: 0, so a small change looks small)
        self.x_label = x_label

    def add_point(self, name: str, x: float, y: float) -> None:
        if y == y:  # skip NaN
            self.series[name].points.append((float(x), float(y)))
            self.refresh()

    def clear(self) -> None:
        for s in self.series.values():
            s.points.clear()
        self.refresh()

    def last(self, name: str) -> float | None:
        points = self.series[name].points
        return points[-1][1] if points else None

    def _bounds(self) -> tuple[float, float, float, float]:
        all_points = [p for s in self.series.values() for p in s.points]
        x_min = min((p[0] for p in all_points), default=0.0)
        x_max = max((p[0] for p in all_points), default=1.0)
        if x_max - x_min < 1e-9:
            x_max = x_min + 1.0
        if self.y_range:
            y_min, y_max = self.y_range
        else:
            y_min = min((p[1] for p in all_points), default=0.0)
            y_max = max((p[1] for p in all_points), default=1.0)
            if self.y_floor is not None:
                y_min = min(y_min, self.y_floor)
        if y_max - y_min < 1e-9:
            y_max = y_min + 1.0
        return x_min, x_max, y_min, y_max

    def render(self) -> Text:
        width = max(self.size.width - _LABEL_WIDTH, 4)
        rows = max(self.size.height - 2, 1)  # the legend above, the x axis below
        x_min, x_max, y_min, y_max = self._bounds()
        dots_w, dots_h = width * 2, rows * 4
        cells: list[list[int]] = [[0] * width for _ in range(rows)]
        colors: list[list[str | None]] = [[None] * width for _ in range(rows)]

        def plot_dot(dx: int, dy: int, color: str) -> None:
            if 0 <= dx < dots_w and 0 <= dy < dots_h:
                row, col = dy // 4, dx // 2
                cells[row][col] |= DOTS[dy % 4][dx % 2]
                colors[row][col] = color

        for s in self.series.values():
            previous = None
            for x, y in _thin(s.points, dots_w * 2):
                dx = round((x - x_min) / (x_max - x_min) * (dots_w - 1))
                frac = (min(max(y, y_min), y_max) - y_min) / (y_max - y_min)
                dy = round((1 - frac) * (dots_h - 1))
                if previous is None:
                    plot_dot(dx, dy, s.color)
                else:
                    draw_line(previous, (dx, dy), lambda a, b, c=s.color: plot_dot(a, b, c))
                previous = (dx, dy)

        text = Text(no_wrap=True, overflow="crop")
        text.append(f"{self.title}  ", style="bold")
        for s in self.series.values():
            value = f"{s.points[-1][1]:.3f}" if s.points else "-"
            text.append("━ ", style=s.color)
            text.append(f"{s.name} {value}  ")
        for r in range(rows):
            text.append("\n")
            if r == 0:
                label = _fmt(y_max)
            elif r == rows - 1:
                label = _fmt(y_min)
            else:
                label = ""
            text.append(f"{label:>{_LABEL_WIDTH - 1}}│", style="dim")
            for c in range(width):
                bits = cells[r][c]
                text.append(chr(0x2800 + bits) if bits else " ", style=colors[r][c] or "")
        if any(s.points for s in self.series.values()):
            left, right = _fmt_x(x_min), f"{_fmt_x(x_max)} {self.x_label}".rstrip()
            text.append("\n" + " " * _LABEL_WIDTH + left + right.rjust(max(width - len(left), 0)), style="dim")
        return text


def _thin(points: list[tuple[float, float]], limit: int) -> list[tuple[float, float]]:
    """At most about `limit` points (every k-th, plus the last): rendering cost stays flat on long runs."""
    if len(points) <= limit:
        return points
    step = len(points) / limit
    thinned = [points[int(i * step)] for i in range(limit)]
    return thinned + [points[-1]]


def _fmt_x(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".") if abs(value) < 100 else f"{value:.0f}"


def _fmt(value: float) -> str:
    return f"{value:.2f}" if abs(value) < 100 else f"{value:.0f}"


def draw_line(a: tuple[int, int], b: tuple[int, int], plot) -> None:
    """Bresenham between two dot positions."""
    (x0, y0), (x1, y1) = a, b
    dx, dy = abs(x1 - x0), -abs(y1 - y0)
    sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
    err = dx + dy
    while True:
        plot(x0, y0)
        if x0 == x1 and y0 == y1:
            return
        e2 = 2 * err
        if e2 >= dy:
            err += dy
            x0 += sx
        if e2 <= dx:
            err += dx
            y0 += sy
