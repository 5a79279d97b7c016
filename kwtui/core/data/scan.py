"""Dataset scan (headers only): words, clips, noise files, split lists and the problems found.

Speech-Commands layout: <word>/<speaker>_nohash_<n>.wav, noise folders starting with "_" (e.g.
_background_noise_), optional validation_list.txt / testing_list.txt naming clips as "<word>/<file>.wav".

Splits: from the lists when present, else a stable hash of the speaker id (the Speech Commands `which_set`
scheme), so all clips of one speaker land in one split. Noise files are split by time region (first 80 %
train, next 10 % validation, last 10 % test) so overlapping windows never leak across splits.
"""

from __future__ import annotations

import functools
import os
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kwtui.core.data.spectrogram import SAMPLE_RATE
from kwtui.core.data.wav import ClipInfo, read_header
from kwtui.core.errors import UserError
from kwtui.core.events import CancelToken, Progress, Reporter, Started, ignore
from kwtui.core.io.text import read_user_text

STAGE = "scan"
NOISE_REGIONS = (("train", 0.0, 0.8), ("validation", 0.8, 0.9), ("test", 0.9, 1.0))
CLIP_SECONDS_TOLERANCE = 0.02  # a "1 s" clip may be this much off before it counts as wrong length
_TOP_LEVEL_OK = {"validation_list.txt", "testing_list.txt", "README.md", "README.txt", "LICENSE", ".DS_Store"}


@dataclass
class WordInfo:
    name: str
    clips: list[ClipInfo] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return sum(c.seconds for c in self.clips)

    @property
    def rates(self) -> dict[int, int]:
        return dict(Counter(c.rate for c in self.clips if not c.error))


SEVERITY = {  # problem kind -> unusable (skipped) / converted (used after a conversion) / notes
    "unreadable": "unusable",
    "empty_folder": "unusable",
    "duplicate_folder": "unusable",
    "reserved_name": "unusable",
    "wrong_length": "converted",
    "stereo": "converted",
    "sample_rate": "converted",
    "bit_depth": "converted",
    "stray_file": "notes",
    "missing_listed": "notes",
}


_CONVERSION_LABELS = {"wrong_length": "not 1 s long (padded or cropped)", "stereo": "more than one channel (downmixed)"}


def severity(problem: "Problem") -> str:
    if problem.kind == "wrong_length" and problem.message.startswith("empty"):
        return "unusable"
    return SEVERITY.get(problem.kind, "notes")


@dataclass(slots=True)
class Problem:
    path: str  # relative to the dataset
    kind: str  # unreadable, wrong_length, stereo, sample_rate, bit_depth, stray_file, empty_folder, missing_listed
    message: str


@dataclass
class DatasetScan:
    path: Path
    words: dict[str, WordInfo] = field(default_factory=dict)
    noise: dict[str, list[ClipInfo]] = field(default_factory=dict)  # noise folder -> files
    # words kwtui synthesized (classes.run_on_negatives): absolute folder -> clips, every one a negative
    run_on: dict[str, list[ClipInfo]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    validation_list: set[str] | None = None
    testing_list: set[str] | None = None
    unmatched_listed: int = 0  # split-list entries that name no clip found (those clips' splits fall back to train)
    seconds_taken: float = 0.0

    @property
    def total_clips(self) -> int:
        return sum(len(w.clips) for w in self.words.values())

    @property
    def total_seconds(self) -> float:
        return sum(w.seconds for w in self.words.values())

    @property
    def rates(self) -> dict[int, int]:
        counts: Counter[int] = Counter()
        for word in self.words.values():
            counts.update(word.rates)
        return dict(sorted(counts.items()))

    @property
    def channels(self) -> dict[int, int]:
        counts = Counter(c.channels for w in self.words.values() for c in w.clips if not c.error)
        return dict(sorted(counts.items()))

    def problem_counts(self) -> dict[str, int]:
        return dict(Counter(p.kind for p in self.problems))

    def problems_by_severity(self) -> dict[str, list[Problem]]:
        """{"unusable": files no stage can use, "converted": clips used after a conversion, "notes": the rest},
        in that order (what cannot be used comes first)."""
        groups: dict[str, list[Problem]] = {"unusable": [], "converted": [], "notes": []}
        for problem in self.problems:
            groups[severity(problem)].append(problem)
        return groups

    def conversion_summary(self) -> dict[str, int]:
        """One line per kind of conversion ("22050 Hz (resampled to 16 kHz)": 940 files)."""
        return dict(
            Counter(_CONVERSION_LABELS.get(p.kind, p.message) for p in self.problems_by_severity()["converted"])
        )

    def to_dict(self, max_problems: int = 200) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "words": {
                name: {"clips": len(w.clips), "seconds": round(w.seconds, 2), "rates": w.rates}
                for name, w in self.words.items()
            },
            "total_clips": self.total_clips,
            "total_seconds": round(self.total_seconds, 2),
            "rates": self.rates,
            "channels": self.channels,
            "noise": {
                folder: [
                    {"file": c.name, "seconds": round(c.seconds, 2), "rate": c.rate, "channels": c.channels}
                    for c in files
                ]
                for folder, files in self.noise.items()
            },
            "has_split_lists": self.validation_list is not None or self.testing_list is not None,
            "problem_counts": self.problem_counts(),
            "problems_by_severity": {k: len(v) for k, v in self.problems_by_severity().items()},
            "conversions": self.conversion_summary(),
            "problems": [{"path": p.path, "kind": p.kind, "message": p.message} for p in self.problems[:max_problems]],
            "scan_seconds": round(self.seconds_taken, 2),
        }


def _read_headers(paths: list[str]) -> list[ClipInfo]:
    return [read_header(p) for p in paths]


def _is_dir(entry: os.DirEntry[str]) -> bool:
    """False for a symlink loop (is_dir raises ELOOP) instead of a crash."""
    try:
        return entry.is_dir()
    except OSError:
        return False


def _read_list(path: Path, dataset: Path | None = None) -> set[str]:
    """Entries as `word/file.wav`, whatever the list's spelling: a UTF-8 BOM, CRLF, `./`, backslashes and absolute
    paths inside the dataset are normalised. An unreadable or non-UTF-8 list is a UserError naming it."""
    text = read_user_text(path, "split list", "fix its permissions")
    root = str(dataset.resolve()) if dataset is not None else ""
    entries = set()
    for line in text.splitlines():
        entry = line.strip().replace("\\", "/")
        if root and entry.startswith(root + "/"):
            entry = entry[len(root) + 1 :]
        while entry.startswith("./"):
            entry = entry[2:]
        if entry:
            entries.add(entry)
    return entries


def _list_path(dataset: Path, configured: str, default_name: str) -> Path | None:
    if configured:
        path = Path(configured)
        path = path if path.is_absolute() or path.exists() else dataset / configured
        if not path.is_file():
            raise UserError(f"{configured}: split list not found; fix dataset.*_list or leave it empty")
        return path
    path = dataset / default_name
    return path if path.is_file() else None


def _clip_problems(rel: str, clip: ClipInfo) -> list[Problem]:
    if clip.error:
        return [Problem(rel, "unreadable", clip.error)]
    return [
        Problem(rel, kind, message)
        for kind, message in _header_problems(clip.frames, clip.seconds, clip.channels, clip.rate, clip.subtype)
    ]


@functools.lru_cache(maxsize=4096)  # one shared message per kind of header (100k clips share a handful)
def _header_problems(
    frames: int, seconds: float, channels: int, rate: int, subtype: str
) -> tuple[tuple[str, str], ...]:
    found = []
    if frames == 0:
        found.append(("wrong_length", "empty (0 samples)"))
    elif abs(seconds - 1.0) > CLIP_SECONDS_TOLERANCE:
        found.append(("wrong_length", f"{seconds:.2f} s instead of 1 s (padded or cropped)"))
    if channels > 1:
        found.append(("stereo", f"{channels} channels (downmixed)"))
    if rate != SAMPLE_RATE:
        found.append(("sample_rate", f"{rate} Hz (resampled to 16 kHz)"))
    if subtype in ("PCM_U8", "PCM_S8"):
        found.append(("bit_depth", "8-bit samples (low quality, used as is)"))
    return tuple(found)


def require_dataset_folder(path: str | Path) -> Path:
    """The dataset folder, or the one line that says it is not there (before anything is written for it)."""
    root = Path(path)
    if not root.is_dir():
        raise UserError(f"{root}: dataset folder not found (make one with `kwtui demo-data {root}`)")
    return root


def scan_dataset(
    path: str | Path,
    report: Reporter = ignore,
    cancel: CancelToken | None = None,
    validation_list: str = "",
    testing_list: str = "",
    workers: int = 16,
) -> DatasetScan:
    """Read every wav header (not the audio) of a Speech-Commands-style folder."""
    cancel = cancel or CancelToken()
    started = time.monotonic()
    root = require_dataset_folder(path)
    scan = DatasetScan(path=root.resolve())
    folders = _list_folders(root, scan)
    paths = _wav_paths(root, folders, scan)
    report(Started(STAGE, total=len(paths), unit="files", message=f"reading headers under {root}"))
    headers = _read_all_headers(paths, report, cancel, workers, started)
    _file_clips(scan, folders, headers)
    _apply_split_lists(scan, root, validation_list, testing_list)
    scan.seconds_taken = time.monotonic() - started
    return scan


def _list_folders(root: Path, scan: DatasetScan) -> list[tuple[str, list[str]]]:
    """(folder, sorted file names) of each word or noise folder; stray files, links to another word folder and
    unlistable folders become problems."""
    folders: list[tuple[str, list[str]]] = []
    try:
        top = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError as exc:
        raise UserError(
            f"{root}: cannot list the dataset folder ({exc.strerror or exc}); check its permissions"
        ) from None
    real_of: dict[str, str] = {}  # a word folder that links to another one would label the same clips twice
    for entry in top:
        if not _is_dir(entry):
            if entry.name not in _TOP_LEVEL_OK and not entry.name.startswith("."):
                scan.problems.append(Problem(entry.name, "stray_file", "unexpected file at the top level"))
            continue
        if entry.name.startswith("."):
            continue
        real = os.path.realpath(entry.path)
        if real in real_of:
            scan.problems.append(
                Problem(
                    entry.name,
                    "duplicate_folder",
                    f"the same folder as {real_of[real]} (a link): skipped, its clips would get two labels",
                )
            )
            continue
        real_of[real] = entry.name
        # broken or looping symlinks are kept: reading their header fails, so they are listed as unreadable
        try:
            inside = [e for e in os.scandir(entry.path) if not e.name.startswith(".")]
            names = sorted(e.name for e in inside if not _is_dir(e))
            for sub in sorted(e.name for e in inside if _is_dir(e) and e.name.lower().endswith(".wav")):
                scan.problems.append(
                    Problem(f"{entry.name}/{sub}", "unreadable", "a folder named like a clip, not a file: skipped")
                )
        except OSError as exc:
            scan.problems.append(Problem(entry.name, "unreadable", f"cannot list the folder ({exc.strerror or exc})"))
            continue
        folders.append((entry.name, names))
    subfolders = [entry for entry in top if _is_dir(entry) and not entry.name.startswith(".")]
    if not subfolders and any(entry.name.lower().endswith(".wav") and not _is_dir(entry) for entry in top):
        raise UserError(
            f"{root}: holds clips but no word folders, as one word's own folder does; the dataset is the folder "
            f"of word folders ({root.resolve().parent}?)"
        )
    return folders


def _wav_paths(root: Path, folders: list[tuple[str, list[str]]], scan: DatasetScan) -> list[str]:
    paths: list[str] = []
    for folder, names in folders:
        wavs = [n for n in names if n.lower().endswith(".wav")]
        is_noise = folder.startswith("_")
        for n in names:
            if not n.lower().endswith(".wav") and not (is_noise and n.lower().endswith((".md", ".txt"))):
                scan.problems.append(Problem(f"{folder}/{n}", "stray_file", "not a .wav file (ignored)"))
        if not wavs:
            scan.problems.append(Problem(folder, "empty_folder", "no .wav files"))
        paths.extend(os.path.join(root, folder, n) for n in wavs)
    return paths


def _read_all_headers(
    paths: list[str], report: Reporter, cancel: CancelToken, workers: int, started: float
) -> list[ClipInfo]:
    """Every header, in order. The first 256 are read in this thread: when they come as fast as from the page
    cache (a re-run, or the features stage after a scan), threads would only add GIL hand-offs and the rest are
    read here too; threads are for a cold disk (BENCHMARKS.md, "Memory and scan")."""
    headers: list[ClipInfo] = []
    chunk = 2000
    probe_started = time.monotonic()
    headers.extend(_read_headers(paths[:256]))
    threads_ok = time.monotonic() - probe_started > len(headers) * 40e-6
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for i in range(len(headers), len(paths), chunk):
            cancel.raise_if_cancelled()
            part = paths[i : i + chunk]
            batches = [part[j : j + 64] for j in range(0, len(part), 64)]  # a future per file cost more than the read
            if threads_ok:
                try:
                    read = list(pool.map(_read_headers, batches))
                except RuntimeError as exc:  # "can't start new thread": e.g. under `ulimit -v`
                    if "thread" not in str(exc):
                        raise
                    threads_ok = False
            if not threads_ok:
                read = [_read_headers(batch) for batch in batches]
            for headers_read in read:
                headers.extend(headers_read)
            elapsed = time.monotonic() - started
            report(Progress(STAGE, len(headers), len(paths), rate=len(headers) / max(elapsed, 1e-9), unit="files"))
    return headers


def _file_clips(scan: DatasetScan, folders: list[tuple[str, list[str]]], headers: list[ClipInfo]) -> None:
    """The headers into their word or noise folder, with each clip's problems."""
    it = iter(headers)
    for folder, names in folders:
        clips = [next(it) for n in names if n.lower().endswith(".wav")]
        if folder.startswith("_"):
            scan.noise[folder] = clips
            for clip in clips:
                if clip.error:
                    scan.problems.append(Problem(f"{folder}/{clip.name}", "unreadable", clip.error))
                elif clip.seconds < 1.0:
                    scan.problems.append(Problem(f"{folder}/{clip.name}", "wrong_length", "shorter than 1 s"))
        else:
            scan.words[folder] = WordInfo(folder, clips)
            for clip in clips:
                scan.problems.extend(_clip_problems(f"{folder}/{clip.name}", clip))


def _apply_split_lists(scan: DatasetScan, root: Path, validation_list: str, testing_list: str) -> None:
    """validation_list.txt / testing_list.txt (or the configured files) onto the scan; names matching no clip
    are counted and the first 20 listed as problems."""
    present = {f"{w}/{c.name}" for w, info in scan.words.items() for c in info.clips}
    for attr, configured, default in (
        ("validation_list", validation_list, "validation_list.txt"),
        ("testing_list", testing_list, "testing_list.txt"),
    ):
        list_file = _list_path(root, configured, default)
        if list_file is None:
            continue
        listed = _read_list(list_file, root)
        setattr(scan, attr, listed)
        missing = sorted(listed - present)
        scan.unmatched_listed += len(missing)
        for rel in missing[:20]:
            scan.problems.append(Problem(rel, "missing_listed", f"named in {list_file.name} but not found"))
        if len(missing) > 20:
            scan.problems.append(Problem(list_file.name, "missing_listed", f"{len(missing) - 20} more missing files"))
