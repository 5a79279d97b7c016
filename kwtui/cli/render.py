"""Turn core events into terminal output: Rich progress on a TTY, plain lines otherwise, or JSON lines."""

from __future__ import annotations

import json
import sys
import time
from typing import Any, TextIO

from rich.markup import escape
from rich.progress import Progress
from rich.text import Text

from kwtui.core import events as ev


def _resources_text(r: ev.Resources) -> str:
    """RAM (the process tree's, its mapped files apart, and what the system has available), written, free disk:
    within 80 columns for the figures of any laptop."""
    return (
        f"RAM {_size(r.rss_bytes)}"
        + (f" (+{_size(r.mapped_bytes)} mapped)" if r.mapped_bytes else "")
        + f", {_size(r.available_bytes)} avail | wrote {_size(r.written_bytes)} | disk {_size(r.free_disk_bytes)} free"
    )


def _size(n: int) -> str:
    return f"{n / 1e6:,.0f} MB" if n < 1e9 else f"{n / 1e9:,.1f} GB"


class JsonRenderer:
    """One JSON object per event per line on stdout: an API for scripts and CI."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def __call__(self, event: ev.Event) -> None:
        self.stream.write(json.dumps(event_to_jsonable(event)) + "\n")
        self.stream.flush()

    def close(self) -> None:
        pass


def event_to_jsonable(event: ev.Event) -> dict[str, Any]:
    return ev.event_to_json(event)


class EpochLines:
    """Collects the per-epoch metrics of a stage into one line: `epoch 3: loss 0.41, accuracy 0.88, ...`."""

    def __init__(self) -> None:
        self._pending: dict[str, tuple[int, dict[str, float]]] = {}

    def add(self, event: ev.Metric) -> str | None:
        """Buffer an epoch metric; returns a finished line when a new epoch begins."""
        line = None
        current = self._pending.get(event.stage)
        if current is not None and current[0] != event.epoch:
            line = self.flush(event.stage)
        self._pending.setdefault(event.stage, (event.epoch or 0, {}))[1][event.name] = event.value
        return line

    def flush_all(self) -> list[str]:
        return [line for stage in list(self._pending) if (line := self.flush(stage))]

    def flush(self, stage: str) -> str | None:
        if stage not in self._pending:
            return None
        epoch, values = self._pending.pop(stage)
        return f"[{stage}] epoch {epoch}: " + ", ".join(f"{k} {v:.4f}" for k, v in values.items())


class PlainRenderer:
    """Line-oriented output for logs, pipes and dumb terminals; progress at most every `interval` s."""

    def __init__(self, stream: TextIO | None = None, interval: float = 2.0) -> None:
        self.stream = stream or sys.stderr
        self.interval = interval
        self._last: dict[str, float] = {}
        self._phases: dict[str, str] = {}  # the last progress message shown per stage
        self._epochs = EpochLines()

    def _due(self, key: str) -> bool:
        now = time.monotonic()
        last = self._last.get(key)  # the first is due at once, however long the machine has been up
        if last is None or now - last >= self.interval:
            self._last[key] = now
            return True
        return False

    def _print(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.Metric):
            if event.epoch is not None and event.step is None and (line := self._epochs.add(event)):
                self._print(line)
            return
        if (line := self._epochs.flush(event.stage)) is not None:
            self._print(line)
        for line in self._lines(event):
            self._print(line)

    def _lines(self, event: ev.Event) -> list[str]:
        """What `event` prints now: nothing for progress and resources until `interval` has passed."""
        match event:
            case ev.Started(stage=stage, total=total, unit=unit, message=message):
                return [
                    f"[{stage}] started" + (f": {total} {unit}" if total else "") + (f" - {message}" if message else "")
                ]
            case ev.Progress():
                return self._progress(event)
            case ev.Resources() as r:
                return [f"[{r.stage}] {_resources_text(r)}"] if self._due(f"r:{r.stage}") else []
            case ev.StageWarning(stage=stage, message=message, path=path):
                return [f"[{stage}] warning: {path + ': ' if path else ''}{message}"]
            case ev.Finished(stage=stage, summary=summary):
                brief = ", ".join(
                    f"{k}={v}" for k, v in summary.items() if isinstance(v, (int, float, str)) and k != "verdict"
                )
                return [*verdict_lines(summary), f"[{stage}] done" + (f": {brief}" if brief else "")]
        return []

    def _progress(self, event: ev.Progress) -> list[str]:
        """A new named phase ("preparing: ...") and the last step show at once; other steps every `interval`."""
        stage, done, total, message = event.stage, event.done, event.total, event.message
        new_phase = bool(message) and message != self._phases.get(stage)
        last_step = total is not None and done >= total
        if not (new_phase or last_step or self._due(f"p:{stage}")):
            return []
        self._last[f"p:{stage}"] = time.monotonic()  # the next step waits `interval` from this line
        self._phases[stage] = message
        of = f"/{total}" if total else ""
        eta_text = f", ETA {event.eta_s:.0f} s" if event.eta_s is not None else ""
        return [f"[{stage}] {done}{of} {event.unit} ({event.rate:.1f}/s{eta_text}) {message}".rstrip()]

    def close(self) -> None:
        for line in self._epochs.flush_all():
            self._print(line)


class BarsAndResources(Progress):
    """rich's Progress with one more line under the bars: RAM and disk, cut to the terminal's width (beside the
    bars, a line this long squeezed the bar and the counts out of an 80-column terminal)."""

    resources = ""

    def get_renderables(self) -> Any:
        yield self.make_tasks_table(self.tasks)
        if self.resources:
            line = Text(self.resources, style="dim", no_wrap=True)
            line.truncate(self.console.width, overflow="ellipsis")
            yield line


class RichRenderer:
    """A live progress bar per stage with rate and ETA, and the resource line below them."""

    def __init__(self, console: Any = None) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
        from rich.table import Column

        self.console = console or Console(stderr=True)
        self.progress = BarsAndResources(
            TextColumn("[bold]{task.description}"),
            # the bar takes what the counts leave, never less than 10 columns: an 80-column terminal keeps it
            BarColumn(bar_width=None, table_column=Column(min_width=10, ratio=1)),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
            console=self.console,
            refresh_per_second=4,
        )
        self.progress.start()
        self.tasks: dict[str, Any] = {}
        self._epochs = EpochLines()

    def _task(self, stage: str, total: int | None = None) -> Any:
        if stage not in self.tasks:
            self.tasks[stage] = self.progress.add_task(stage, total=total, rate="")
        return self.tasks[stage]

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.Metric):
            if event.epoch is not None and event.step is None and (line := self._epochs.add(event)):
                self.console.print(line, markup=False, highlight=False)
            return
        if (line := self._epochs.flush(event.stage)) is not None:
            self.console.print(line, markup=False, highlight=False)
        match event:
            case ev.Started(stage=stage, total=total, message=message):
                task = self._task(stage, total)
                self.progress.update(task, total=total)
                if message:
                    self.console.print(f"[{stage}] {message}", markup=False, highlight=False)
            case ev.Progress(stage=stage, done=done, total=total, rate=rate, unit=unit):
                self.progress.update(self._task(stage, total), completed=done, total=total, rate=f"{rate:.1f} {unit}/s")
            case ev.Resources() as r:
                self.progress.resources = _resources_text(r)
            case ev.StageWarning(stage=stage, message=message, path=path):
                detail = escape(f"{path + ': ' if path else ''}{message}")
                self.console.print(f"[yellow]\\[{stage}] warning:[/] {detail}", highlight=False)
            case ev.Finished(stage=stage, summary=summary):
                task = self._task(stage)
                total = self.progress.tasks[task].total
                if total is not None:
                    self.progress.update(task, completed=total)
                for line in verdict_lines(summary):
                    self.console.print(escape(line), highlight=False)
                brief = ", ".join(
                    f"{k}={v}" for k, v in summary.items() if isinstance(v, (int, float, str)) and k != "verdict"
                )
                self.console.print(
                    f"[green]\\[{stage}] done[/]" + escape(f": {brief}" if brief else ""), highlight=False
                )

    def close(self) -> None:
        for line in self._epochs.flush_all():
            self.console.print(line, markup=False, highlight=False)
        self.progress.stop()


def verdict_lines(summary: dict) -> list[str]:
    """An evaluation's verdict and next steps, printed before its figures."""
    if not isinstance(summary.get("verdict"), str):
        return []
    return [summary["verdict"], *(f"  next: {step}" for step in summary.get("next_steps") or [])]


def make_renderer(json_output: bool) -> JsonRenderer | PlainRenderer | RichRenderer:
    if json_output:
        return JsonRenderer()
    if sys.stderr.isatty():
        return RichRenderer()
    return PlainRenderer()
