"""Dataset scan (headers only) and the class plan: every feature file the features stage will write.

Speech-Commands layout: <word>/<speaker>_nohash_<n>.wav, noise folders starting with "_" (e.g.
_background_noise_), optional validation_list.txt / testing_list.txt naming clips as "<word>/<file>.wav".

Splits: from the lists when present, else a stable hash of the speaker id (the Speech Commands `which_set`
scheme), so all clips of one speaker land in one split. Noise files are split by time region (first 80 %
train, next 10 % validation, last 10 % test) so overlapping windows never leak across splits.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import struct
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import soundfile as sf

from kwtui.core.errors import UserError
from kwtui.core.events import CancelToken, Progress, Reporter, Started, ignore
from kwtui.core.spectrogram import SAMPLE_RATE

STAGE = "scan"
NOISE_REGIONS = (("train", 0.0, 0.8), ("validation", 0.8, 0.9), ("test", 0.9, 1.0))
CLIP_SECONDS_TOLERANCE = 0.02  # a "1 s" clip may be this much off before it counts as wrong length
_MAX_WAVS_PER_CLASS = 2**27 - 1  # as in Speech Commands' which_set
_TOP_LEVEL_OK = {"validation_list.txt", "testing_list.txt", "README.md", "README.txt", "LICENSE", ".DS_Store"}


@dataclass(slots=True)
class ClipInfo:
    name: str  # file name inside the word folder
    frames: int = 0
    rate: int = 0
    channels: int = 0
    subtype: str = ""
    error: str = ""  # non-empty: header unreadable

    @property
    def seconds(self) -> float:
        return self.frames / self.rate if self.rate else 0.0


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
    problems: list[Problem] = field(default_factory=list)
    validation_list: set[str] | None = None
    testing_list: set[str] | None = None
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
                folder: [{"file": c.name, "seconds": round(c.seconds, 2), "rate": c.rate, "channels": c.channels}
                         for c in files]
                for folder, files in self.noise.items()
            },
            "has_split_lists": self.validation_list is not None or self.testing_list is not None,
            "problem_counts": self.problem_counts(),
            "problems": [{"path": p.path, "kind": p.kind, "message": p.message} for p in self.problems[:max_problems]],
            "scan_seconds": round(self.seconds_taken, 2),
        }


_PCM_SUBTYPES = {(1, 8): "PCM_U8", (1, 16): "PCM_16", (1, 24): "PCM_24", (1, 32): "PCM_32", (3, 32): "FLOAT",
                 (3, 64): "DOUBLE"}


def _plain_wav_header(path: str, name: str) -> ClipInfo | None:
    """Fast path for plain PCM/float RIFF WAVs (one small read); None = let libsndfile decide."""
    try:
        fd = os.open(path, os.O_RDONLY)  # not open(): no file object (4k headers: 36 -> 20 ms)
    except OSError:
        return None
    try:
        head = os.read(fd, 1024)
        size = os.fstat(fd).st_size
    except OSError:
        return None
    finally:
        os.close(fd)
    layout = parse_wav_layout(head, size)
    if layout is None:
        return None
    channels, rate, subtype, _offset, frames = layout
    return ClipInfo(name, frames, rate, channels, subtype)


def parse_wav_layout(head: bytes, size: int) -> tuple[int, int, str, int, int] | None:
    """(channels, rate, subtype, data offset, frames) of a plain PCM/float RIFF WAV from its first bytes
    (the whole file, or enough to reach the data chunk) and its size; None = not plain, let libsndfile decide.
    Shared by the scan and the audio reader (kwtui.core.audio)."""
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    pos, fmt = 12, None
    while pos + 8 <= len(head):
        chunk, length = head[pos : pos + 4], int.from_bytes(head[pos + 4 : pos + 8], "little")
        body = pos + 8
        if chunk == b"fmt ":
            if body + 16 > len(head):
                return None
            tag, channels, rate, _, align, bits = struct.unpack_from("<HHIIHH", head, body)
            subtype = _PCM_SUBTYPES.get((tag, bits))
            if subtype is None or channels == 0 or align != channels * bits // 8 or rate == 0:
                return None
            fmt = (channels, rate, align, subtype)
        elif chunk == b"data":
            if fmt is None:
                return None
            channels, rate, align, subtype = fmt
            frames = min(length, max(0, size - body)) // align  # a truncated file: what is really there
            return channels, rate, subtype, body, frames
        pos = body + length + (length & 1)
    return None


def read_header(path: str) -> ClipInfo:
    name = os.path.basename(path)
    fast = _plain_wav_header(path, name)
    if fast is not None:
        return fast
    try:
        info = sf.info(path)
    except Exception as exc:  # libsndfile raises several types; any means "unreadable"
        text = (str(exc).splitlines() or [exc.__class__.__name__])[0]
        reason = text.split("': ", 1)[-1].strip() if "': " in text else text  # drop libsndfile's path prefix
        return ClipInfo(name, error=_os_reason(path) or f"not readable as audio ({reason[:100]})")
    return ClipInfo(name, int(info.frames), int(info.samplerate), int(info.channels), str(info.subtype))


def _read_headers(paths: list[str]) -> list[ClipInfo]:
    return [read_header(p) for p in paths]


def _os_reason(path: str) -> str:
    """libsndfile says only "System error." for OS failures: name the real one (permission, symlink loop)."""
    try:
        with open(path, "rb"):
            return ""
    except OSError as exc:
        return f"cannot open: {exc.strerror or exc}"


def _is_dir(entry: os.DirEntry) -> bool:
    """False for a symlink loop (is_dir raises ELOOP) instead of a crash."""
    try:
        return entry.is_dir()
    except OSError:
        return False


def _read_list(path: Path) -> set[str]:
    return {line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()}


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
    return [Problem(rel, kind, message)
            for kind, message in _header_problems(clip.frames, clip.seconds, clip.channels, clip.rate, clip.subtype)]


@functools.lru_cache(maxsize=4096)  # one shared message per kind of header (100k clips share a handful)
def _header_problems(frames: int, seconds: float, channels: int, rate: int, subtype: str) -> tuple[tuple[str, str], ...]:
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
    root = Path(path)
    if not root.is_dir():
        raise UserError(f"{root}: dataset folder not found (make one with `kwtui demo-data {root}`)")
    scan = DatasetScan(path=root.resolve())
    folders: list[tuple[str, list[str]]] = []
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if _is_dir(entry):
            if entry.name.startswith("."):
                continue
            # broken or looping symlinks are kept: reading their header fails, so they are listed as unreadable
            names = sorted(e.name for e in os.scandir(entry.path) if not _is_dir(e) and not e.name.startswith("."))
            folders.append((entry.name, names))
        elif entry.name not in _TOP_LEVEL_OK and not entry.name.startswith("."):
            scan.problems.append(Problem(entry.name, "stray_file", "unexpected file at the top level"))

    paths: list[str] = []
    for folder, names in folders:
        wavs = [n for n in names if n.lower().endswith(".wav")]
        is_noise = folder.startswith("_")
        for n in names:
            if n not in wavs and not (is_noise and n.lower().endswith((".md", ".txt"))):
                scan.problems.append(Problem(f"{folder}/{n}", "stray_file", "not a .wav file (ignored)"))
        if not wavs:
            scan.problems.append(Problem(folder, "empty_folder", "no .wav files"))
        paths.extend(os.path.join(root, folder, n) for n in wavs)
    report(Started(STAGE, total=len(paths), unit="files", message=f"reading headers under {root}"))

    headers: list[ClipInfo] = []
    chunk = 2000
    # From a warm page cache (a re-run, the features stage after a scan) a header takes ~15 us in one thread;
    # 16 threads then only add GIL hand-offs (4k clips: 0.05 s vs 0.1-0.25 s). Threads are for a cold disk.
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

    present = {f"{w}/{c.name}" for w, info in scan.words.items() for c in info.clips}
    for attr, configured, default in (
        ("validation_list", validation_list, "validation_list.txt"),
        ("testing_list", testing_list, "testing_list.txt"),
    ):
        list_file = _list_path(root, configured, default)
        if list_file is None:
            continue
        listed = _read_list(list_file)
        setattr(scan, attr, listed)
        missing = sorted(listed - present)
        for rel in missing[:20]:
            scan.problems.append(Problem(rel, "missing_listed", f"named in {list_file.name} but not found"))
        if len(missing) > 20:
            scan.problems.append(Problem(list_file.name, "missing_listed", f"{len(missing) - 20} more missing files"))
    scan.seconds_taken = time.monotonic() - started
    return scan


# --- the class plan ------------------------------------------------------------

UNKNOWN, BACKGROUND = "_unknown", "_background"


@dataclass(slots=True)
class Job:
    """One feature file to write."""

    source: str  # absolute or dataset-relative path of the wav
    output: str  # relative to the features dir, e.g. "yes/abc_nohash_0__v1.npy"
    label: str  # class name
    split: str  # train / validation / test
    variant: int = 0  # 0 = the clip as is; k > 0 = k-th augmented copy
    seed: int = 0  # stable: from (preset seed, output path, variant)
    start_s: float = -1.0  # background windows: offset in the noise file; -1 for clips
    notes: tuple[str, ...] = ()  # conversions predicted from the header (resample, downmix, pad/crop)


@dataclass
class NoiseRegion:
    file: str  # relative to the dataset
    split: str
    start_s: float
    end_s: float


@dataclass
class ClipPlan:
    jobs: list[Job]
    classes: list[str]
    noise_regions: list[NoiseRegion]
    excluded: list[dict[str, str]]  # files left out of the plan, with the reason

    def counts(self) -> dict[str, dict[str, int]]:
        table: dict[str, dict[str, int]] = {s: {c: 0 for c in self.classes} for s in ("train", "validation", "test")}
        for job in self.jobs:
            table[job.split][job.label] += 1
        return table

    def train_noise(self) -> list[NoiseRegion]:
        return [r for r in self.noise_regions if r.split == "train"]

    def test_noise(self) -> list[NoiseRegion]:
        return [r for r in self.noise_regions if r.split == "test"]


def stable_int(*parts: Any) -> int:
    """A 63-bit integer from a hash of the parts: the same on every machine and run."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def speaker_of(file_name: str) -> str:
    return re.sub(r"_nohash_.*$", "", file_name)


def hash_split(file_name: str, validation_percent: float, testing_percent: float) -> str:
    """Speech Commands' which_set: a stable hash of the speaker id -> split."""
    hashed = hashlib.sha1(speaker_of(file_name).encode()).hexdigest()
    percentage = (int(hashed, 16) % (_MAX_WAVS_PER_CLASS + 1)) * (100.0 / _MAX_WAVS_PER_CLASS)
    if percentage < validation_percent:
        return "validation"
    if percentage < validation_percent + testing_percent:
        return "test"
    return "train"


def _notes(clip: ClipInfo) -> tuple[str, ...]:
    return _conversion_notes(clip.channels, clip.rate, round(clip.seconds, 2))


@functools.lru_cache(maxsize=4096)  # shared tuples: plans of 100k clips hold a handful of distinct notes
def _conversion_notes(channels: int, rate: int, seconds: float) -> tuple[str, ...]:
    notes = []
    if channels > 1:
        notes.append(f"downmixed {channels} channels")
    if rate != SAMPLE_RATE:
        notes.append(f"resampled {rate} Hz")
    if abs(seconds - 1.0) > CLIP_SECONDS_TOLERANCE:
        notes.append(f"{'padded' if seconds < 1.0 else 'cropped'} {seconds:.2f} s to 1 s")
    return tuple(notes)


def _stem(name: str) -> str:
    return name[:-4] if name.lower().endswith(".wav") else name


def plan_clips(preset: Any, scan: DatasetScan) -> ClipPlan:
    """Every output job of the features stage, in a stable order (independent of worker count or timing)."""
    keywords = list(preset.classes.keywords)
    seed = preset.features.seed
    missing = [k for k in keywords if k not in scan.words]
    if missing:
        available = ", ".join(sorted(scan.words)) or "none"
        raise UserError(f"classes.keywords: no folder for {', '.join(missing)} in {scan.path} (words: {available})")
    ds = preset.dataset
    use_lists = scan.validation_list is not None or scan.testing_list is not None
    val_list, test_list = scan.validation_list or set(), scan.testing_list or set()

    def split_of(word: str, name: str) -> str:
        if use_lists:
            rel = f"{word}/{name}"
            return "validation" if rel in val_list else "test" if rel in test_list else "train"
        return hash_split(name, ds.validation_percent, ds.testing_percent)

    jobs: list[Job] = []
    excluded: list[dict[str, str]] = []
    root = scan.path
    root_str = str(root)

    def clip_job(word: str, clip: ClipInfo, label: str, split: str, variant: int = 0) -> Job:
        suffix = f"__v{variant}" if variant else ""
        output = f"{word}/{_stem(clip.name)}{suffix}.npy"
        return Job(os.path.join(root_str, word, clip.name), output, label, split, variant,
                   stable_int(seed, output, variant), notes=_notes(clip))

    keyword_counts: Counter[str] = Counter()
    for word in keywords:
        for clip in scan.words[word].clips:
            if clip.error:
                excluded.append({"path": f"{word}/{clip.name}", "reason": clip.error})
                continue
            split = split_of(word, clip.name)
            keyword_counts[split] += 1
            jobs.append(clip_job(word, clip, word, split))
            if split == "train":  # augmented copies for training only; evaluation stays on real clips
                jobs.extend(clip_job(word, clip, word, split, v) for v in range(1, preset.features.variants + 1))
    empty = [w for w in keywords if all(c.error for c in scan.words[w].clips)]
    if empty:  # stop now, not after making every other feature file (training would refuse later)
        raise UserError(f"classes.keywords: no readable clips for {', '.join(empty)} in {scan.path}; "
                        "add clips or remove the keyword")

    negatives_only = preset.single_sigmoid  # a binary model still needs other words and noise as negatives
    if preset.classes.unknown or negatives_only:
        candidates: dict[str, list[tuple[int, str, ClipInfo]]] = {s: [] for s in ("train", "validation", "test")}
        for word, info in scan.words.items():
            if word in keywords:
                continue
            for clip in info.clips:
                if clip.error:
                    excluded.append({"path": f"{word}/{clip.name}", "reason": clip.error})
                    continue
                split = split_of(word, clip.name)
                candidates[split].append((stable_int(seed, "unknown", word, clip.name), word, clip))
        ratio = preset.classes.unknown_ratio
        for split, items in candidates.items():
            items.sort(key=lambda item: item[0])
            keep = len(items) if ratio == 0 else min(len(items), int(round(ratio * keyword_counts[split])))
            for _, word, clip in sorted(items[:keep], key=lambda item: (item[1], item[2].name)):
                jobs.append(clip_job(word, clip, UNKNOWN, split))

    # Noise files are split by time region even without a _background class: train regions feed augmentation.
    regions: list[NoiseRegion] = []
    stride = preset.features.background_stride_s
    found_any = False
    for folder in preset.classes.noise_folders:
        for clip in scan.noise.get(folder, []):
            rel = f"{folder}/{clip.name}"
            if clip.error or clip.seconds < 1.0:
                excluded.append({"path": rel, "reason": clip.error or "noise file shorter than 1 s"})
                continue
            found_any = True
            # other noise folders (e.g. _problem_noise_) are prefixed so equal file names cannot collide
            stem = _stem(clip.name)
            noise_stem = stem if folder == "_background_noise_" else f"{folder.strip('_')}__{stem}"
            duration = clip.seconds
            noise_notes = tuple(n for n in _notes(clip) if not n.startswith(("padded", "cropped")))
            for split, lo, hi in NOISE_REGIONS:
                start_s, end_s = round(lo * duration, 3), round(hi * duration, 3)
                regions.append(NoiseRegion(rel, split, start_s, end_s))
                k = 0
                while (preset.classes.background or negatives_only) and start_s + k * stride + 1.0 <= end_s + 1e-9:
                    offset = round(start_s + k * stride, 3)
                    output = f"{BACKGROUND}/{noise_stem}__{int(round(offset * 1000))}.npy"
                    jobs.append(Job(os.path.join(root_str, folder, clip.name), output, BACKGROUND, split, 0,
                                    stable_int(seed, output, 0), offset, noise_notes))
                    k += 1
    if preset.classes.background and not found_any:
        folders = ", ".join(preset.classes.noise_folders) or "none"
        raise UserError(
            f"classes.noise_folders: no usable noise files in {folders} under {scan.path}; "
            "add noise wavs or set classes.background = false"
        )
    outputs = [j.output for j in jobs]
    if len(set(outputs)) != len(outputs):
        dupes = sorted({o for o in outputs if outputs.count(o) > 1})[:3]
        raise UserError(f"{scan.path}: two sources map to the same feature file ({', '.join(dupes)})")
    return ClipPlan(jobs, preset.class_names, regions, excluded)
