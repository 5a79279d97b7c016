"""`kwtui scan` and `kwtui demo-data`: thin adapters over kwtui.core.data.scan / kwtui.core.data.demo."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from kwtui.cli.runtime import run_with_events


def _fmt_seconds(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.1f} s"


def _rates_text(rates: dict[int, int]) -> str:
    return ", ".join(f"{rate / 1000:g} kHz" + (f" ({n})" if len(rates) > 1 else "") for rate, n in rates.items())


MAX_LISTED = 20  # files listed per group without --verbose


def print_scan(scan: Any, verbose: bool = False) -> None:
    """Words and clips, then problems by severity: what cannot be used first (every file), conversions one line
    per kind, notes last; --verbose lists every file."""
    from rich.console import Console

    console = Console()
    console.print(_words_table(scan))
    _print_folders(console, scan)
    groups = scan.problems_by_severity()
    _print_problem_count(console, scan, groups)
    if groups["unusable"]:
        console.print(f"[red]cannot be used ({len(groups['unusable'])} files, skipped):[/]", highlight=False)
        _print_files(console, groups["unusable"], verbose)
    if groups["converted"]:
        console.print(f"[yellow]used after a conversion ({len(groups['converted'])} files):[/]", highlight=False)
        for label, n in scan.conversion_summary().items():
            console.print(f"  {label}: {n} file{'s' if n != 1 else ''}", highlight=False, markup=False)
        if verbose:
            for problem in groups["converted"]:
                console.print(f"    {problem.path}: {problem.message}", highlight=False, markup=False)
    if groups["notes"]:
        console.print(f"notes ({len(groups['notes'])}):", highlight=False)
        _print_files(console, groups["notes"], verbose)
    console.print(f"(headers read in {scan.seconds_taken:.1f} s)", style="dim")


def _words_table(scan: Any) -> Any:
    """One row per word: clips, duration, sample rates and how many of its files cannot be used."""
    from rich.table import Table

    per_word: dict[str, int] = {}  # unusable files per word (conversions are not problems of a word)
    for problem in scan.problems_by_severity()["unusable"]:
        per_word[problem.path.split("/")[0]] = per_word.get(problem.path.split("/")[0], 0) + 1
    table = Table(
        title=f"{scan.path}: {len(scan.words)} words, {scan.total_clips:,} clips, {_fmt_seconds(scan.total_seconds)}"
    )
    table.add_column("word")
    table.add_column("clips", justify="right")
    table.add_column("duration", justify="right")
    table.add_column("sample rates")
    table.add_column("unusable", justify="right")
    for name, word in scan.words.items():
        problems = per_word.get(name, 0)
        table.add_row(
            name,
            f"{len(word.clips):,}",
            _fmt_seconds(word.seconds),
            _rates_text(word.rates),
            f"[yellow]{problems}[/]" if problems else "0",
        )
    return table


def _print_folders(console: Any, scan: Any) -> None:
    """The noise folders' files, and where the splits come from."""
    for folder, files in scan.noise.items():
        total = sum(c.seconds for c in files)
        console.print(
            f"[bold]{folder}[/]: {len(files)} noise files, {_fmt_seconds(total)}: "
            + ", ".join(f"{c.name} ({_fmt_seconds(c.seconds)}, {c.rate / 1000:g} kHz)" for c in files),
            highlight=False,
        )
    splits = (
        "validation_list.txt / testing_list.txt" if scan.validation_list is not None else "none (hash of speaker id)"
    )
    console.print(f"split lists: {splits}", highlight=False)


def _print_problem_count(console: Any, scan: Any, groups: dict[str, Any]) -> None:
    if not scan.problems:
        console.print("[green]no problems found[/]")
        return
    kinds = ", ".join(sorted({p.kind for p in groups["unusable"]}))
    console.print(
        f"problems: {len(groups['unusable'])} cannot be used"
        + (f" ({kinds})" if kinds else "")
        + f", {len(groups['converted'])} used after a conversion, {len(groups['notes'])} notes",
        highlight=False,
        markup=False,
    )


def _print_files(console: Any, problems: list[Any], verbose: bool) -> None:
    """Each file with its problem; without --verbose the first MAX_LISTED and how many more."""
    shown = problems if verbose else problems[:MAX_LISTED]
    for problem in shown:
        console.print(f"  {problem.path}: {problem.message}", highlight=False, markup=False)
    if len(problems) > len(shown):
        console.print(f"  ... {len(problems) - len(shown)} more (--verbose lists every file)", style="dim")


def scan_command(dataset: Path, json_output: bool, verbose: bool = False) -> None:
    from kwtui.core.data.scan import scan_dataset

    def work(report: Any, cancel: Any) -> Any:
        # progress goes to stderr (or as events with --json); the result is printed after the renderer closes
        return scan_dataset(dataset, report if json_output else _quiet_progress(report), cancel)

    scan = run_with_events(json_output, work)
    if json_output:
        sys.stdout.write(json.dumps({"event": "result", "stage": "scan", "scan": scan.to_dict(10_000)}) + "\n")
    else:
        print_scan(scan, verbose)


def _quiet_progress(report: Any) -> Any:
    """Only show a progress bar when the scan is big enough to take a while."""
    from kwtui.core import events as ev

    def forward(event: Any) -> None:
        if isinstance(event, (ev.Started, ev.Progress)) and (event.total or 0) < 5000:
            return
        report(event)

    return forward


def demo_data_command(out_dir: Path, words: str | None, per_word: int, seed: int, json_output: bool) -> None:
    from kwtui.core.data.demo import make_demo_dataset

    word_list = [w.strip() for w in words.split(",") if w.strip()] if words else None
    summary = run_with_events(
        json_output,
        lambda report, cancel: make_demo_dataset(out_dir, word_list, per_word, seed, report, cancel),
    )
    if not json_output:
        print(
            f"wrote {summary['clips']} clips ({summary['words']} words, {summary['speakers']} speakers), "
            f"{summary['noise_files']} noise files and {summary['running_speech_files']} files of running speech "
            f"to {summary['path']}; next: kwtui scan {summary['path']}"
        )
