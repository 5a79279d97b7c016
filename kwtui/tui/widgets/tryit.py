"""The Evaluate step's "Try it": the converted model run over a recording exactly as `kwtui detect` runs it, its
score timeline per keyword with the threshold and the detections marked, and another threshold tried on the
same scores with [ and ] (no re-run), then kept as the operating point with "Use this threshold"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from rich.markup import escape
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Label, Static

from kwtui.tui.widgets.pathinput import PathSuggester
from kwtui.tui.widgets.textinput import Input

BLOCKS = " ▁▂▃▄▅▆▇█"
STEP = 0.05


def timeline(
    means: np.ndarray, keywords: list[str], thresholds: list[float], hits: list[tuple[int, int]], width: int
) -> Text:
    """One row per keyword: the averaged score's maximum over each column's stretch of inferences (blocks, red
    from its threshold up), then a row marking each detection (^ under the column it happened in)."""
    n = len(means)
    width = max(10, width)
    edges = np.linspace(0, n, width + 1).astype(int) if n else np.zeros(width + 1, int)
    name_width = max(len(k) for k in keywords) + 1
    out = Text()
    for k, keyword in enumerate(keywords):
        out.append(f"{keyword:<{name_width}}", style="bold")
        for c in range(width):
            lo, hi = edges[c], max(edges[c + 1], edges[c] + 1)
            peak = float(means[lo:hi, k].max()) if n and lo < n else 0.0
            char = BLOCKS[min(len(BLOCKS) - 1, int(round(peak * (len(BLOCKS) - 1))))]
            out.append(char, style="red" if peak >= thresholds[k] else "green")
        out.append(f" thr {thresholds[k]:.2f}\n")
        marks = [" "] * width
        for at, which in hits:
            if which == k and n:
                marks[min(width - 1, int(at * width / n))] = "^"
        out.append(" " * name_width + "".join(marks) + "\n", style="yellow")
    return out


class TryIt(Vertical):
    """Pick a recording, see what the device would detect in it."""

    class UseThreshold(Message):
        def __init__(self, threshold: float) -> None:
            super().__init__()
            self.threshold = threshold

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.detector: Any = None
        self.outputs = np.zeros((0, 1), np.float32)
        self.seconds = 0.0
        self.thresholds: list[float] = []
        self.recording = ""  # the recording the scores are of

    def compose(self) -> ComposeResult:
        with Horizontal(classes="row"):
            yield Input(
                placeholder="recording: .wav, .flac ...",  # fits the field at 80 columns
                id="try-path",
                suggester=PathSuggester(directories_only=False),
                compact=True,  # one row, as every input of a .row (a bordered input there showed its top edge only)
            )
            yield Button("Try it", id="try-run", compact=True)
            yield Button("Use this threshold", id="try-use", compact=True, disabled=True)
        yield Label("", id="try-status", classes="status")
        yield Static("", id="try-plot")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "try-path":
            event.stop()
            self.start()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "try-run":
            event.stop()
            self.start()
        elif event.button.id == "try-use" and self.thresholds:
            event.stop()
            self.post_message(self.UseThreshold(self.thresholds[0]))

    def start(self) -> None:
        step: Any = self.parent
        while step is not None and not hasattr(step, "wizard"):
            step = step.parent
        run_dir = step.wizard.run_layout().run_dir if step is not None else Path(".")
        path = Path(self.query_one("#try-path", Input).value.strip()).expanduser()
        self.query_one("#try-status", Label).update(f"running the device model over {escape(path.name)} ...")
        self._clear()  # the last recording's traces must not pass for this one's
        self.run_worker(
            lambda: self._detect(run_dir, path), thread=True, exclusive=True, group="try-it", exit_on_error=False
        )

    def _detect(self, run_dir: Path, path: Path) -> None:
        from kwtui.core.detect import check_audio, detect_file, load_detector
        from kwtui.core.errors import KwtuiError

        try:
            detector = load_detector(run_dir)
            check_audio([path])
            rows: list[np.ndarray] = []
            result = detect_file(detector, path, on_outputs=lambda first, outputs: rows.append(outputs))
        except KwtuiError as exc:
            self.app.call_from_thread(self._status, f"[red]{escape(str(exc))}[/]")
            return
        outputs = np.concatenate(rows) if rows else np.zeros((0, len(detector.labels)), np.float32)
        self.app.call_from_thread(self._show, detector, outputs, result.seconds, path.name)

    def _status(self, text: str) -> None:
        self.query_one("#try-status", Label).update(text)

    def _clear(self) -> None:
        self.detector, self.thresholds, self.recording = None, [], ""
        self.query_one("#try-use", Button).disabled = True
        self.query_one("#try-plot", Static).update("")

    def _show(self, detector: Any, outputs: np.ndarray, seconds: float, name: str) -> None:
        self.detector, self.outputs, self.seconds, self.recording = detector, outputs, seconds, name
        self.thresholds = list(detector.thresholds)
        self.query_one("#try-use", Button).disabled = False
        self.redraw()

    def nudge(self, delta: float) -> None:
        """Raise or lower every keyword's threshold by `delta` and redraw from the scores already computed."""
        if not self.thresholds:
            return
        self.thresholds = [float(min(0.99, max(0.05, round(t + delta, 2)))) for t in self.thresholds]
        self.redraw()

    def redraw(self) -> None:
        from kwtui.core.postprocess import detect_indices, keyword_means

        detector = self.detector
        keywords = list(range(detector.num_keywords))
        means = keyword_means(self.outputs, keywords, list(detector.average_windows))
        at, which = detect_indices(means, keywords, detector.hop_ms, self.thresholds, detector.refractory_ms, True)
        hits = list(zip(at.tolist(), which.tolist()))
        counts = {detector.keywords[k]: sum(1 for _, w in hits if w == k) for k in keywords}
        width = max(10, (self.size.width or 80) - 20)
        self.query_one("#try-plot", Static).update(
            timeline(means, list(detector.keywords), self.thresholds, hits, width)
        )
        self.query_one("#try-status", Label).update(
            f"{escape(self.recording)}, {self.seconds:.1f} s: {len(hits)} detection(s) ("
            + ", ".join(f"{k} {n}" for k, n in counts.items())
            + ")  [ and ] lower/raise the threshold; 'Use this threshold' keeps it"
        )

    def key_left_square_bracket(self) -> None:
        self.nudge(-STEP)

    def key_right_square_bracket(self) -> None:
        self.nudge(STEP)
