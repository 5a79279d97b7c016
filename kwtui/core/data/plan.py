"""The class plan: every feature file the features stage will write, with its label, split and seed.

Splits come from the dataset's lists when present, else from a stable hash of the speaker id (Speech Commands'
`which_set`), so all clips of one speaker land in one split. Noise files are split by time region (first 80 %
train, next 10 % validation, last 10 % test) so overlapping windows never leak across splits.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kwtui.core.data.scan import CLIP_SECONDS_TOLERANCE, NOISE_REGIONS, DatasetScan
from kwtui.core.data.spectrogram import SAMPLE_RATE
from kwtui.core.data.wav import ClipInfo
from kwtui.core.errors import UserError
from kwtui.core.preset import Preset

UNKNOWN, BACKGROUND = "_unknown", "_background"
AUGMENTED_NEGATIVE = -1  # a training negative written augmented under its own name (no copy)
_MAX_WAVS_PER_CLASS = 2**27 - 1  # as in Speech Commands' which_set


@dataclass(slots=True)
class Job:
    """One feature file to write."""

    source: str  # absolute or dataset-relative path of the wav
    output: str  # relative to the features dir, e.g. "yes/abc_nohash_0__v1.npy"
    label: str  # class name
    split: str  # train / validation / test
    variant: int = 0  # 0 = the clip as is; k > 0 = k-th augmented copy; AUGMENTED_NEGATIVE = augmented in place
    seed: int = 0  # stable: from (preset seed, output path, variant)
    start_s: float = -1.0  # background windows: offset in the noise file; -1 for clips
    notes: tuple[str, ...] = ()  # conversions predicted from the header (resample, downmix, pad/crop)


@dataclass
class NoiseRegion:
    file: str  # relative to the dataset, or absolute (synthesized running speech)
    split: str
    start_s: float
    end_s: float
    kind: str = "noise"  # "noise" (classes.noise_folders) or "speech" (classes.negative_speech)


@dataclass
class ClipPlan:
    jobs: list[Job]
    classes: list[str]
    noise_regions: list[NoiseRegion]
    excluded: list[dict[str, str]]  # files left out of the plan, with the reason
    notes: list[str] = field(default_factory=list)  # a preview's: the planning's warnings (folders still to synthesize)

    def counts(self) -> dict[str, dict[str, int]]:
        table: dict[str, dict[str, int]] = {s: {c: 0 for c in self.classes} for s in ("train", "validation", "test")}
        for job in self.jobs:
            table[job.split][job.label] += 1
        return table

    def regions(self, split: str, kind: str) -> list[NoiseRegion]:
        return [r for r in self.noise_regions if r.split == split and r.kind == kind]

    def train_noise(self) -> list[NoiseRegion]:
        return self.regions("train", "noise")

    def test_noise(self) -> list[NoiseRegion]:
        return self.regions("test", "noise")

    def train_speech(self) -> list[NoiseRegion]:
        return self.regions("train", "speech")

    def test_speech(self) -> list[NoiseRegion]:
        return self.regions("test", "speech")


def stable_int(*parts: Any) -> int:
    """A 63-bit integer from a hash of the parts: the same on every machine and run."""
    # surrogateescape: a file name that is not valid UTF-8 (e.g. latin-1 bytes) hashes from its raw bytes
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def speaker_of(file_name: str) -> str:
    return re.sub(r"_nohash_.*$", "", file_name)


def hash_split(file_name: str, validation_percent: float, testing_percent: float) -> str:
    """Speech Commands' which_set: a stable hash of the speaker id -> split."""
    hashed = hashlib.sha1(speaker_of(file_name).encode("utf-8", "surrogateescape")).hexdigest()
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


NAME_MAX = 255  # bytes in one file name (Linux, macOS)
_ROOM_FOR_SUFFIX = 40  # "__v<k>.npy", "__<start_ms>.npy" and the hash below fit in this


def _stem(name: str) -> str:
    """The clip's name without .wav; a name too long to take a suffix and still fit 255 bytes is cut and given a
    hash of the whole name, so two long names that share a start stay apart."""
    stem = name[:-4] if name.lower().endswith(".wav") else name
    raw = stem.encode("utf-8", "surrogateescape")
    if len(raw) <= NAME_MAX - _ROOM_FOR_SUFFIX:
        return stem
    digest = hashlib.sha1(raw).hexdigest()[:12]
    cut = raw[: NAME_MAX - _ROOM_FOR_SUFFIX - 14].decode("utf-8", "ignore")
    return f"{cut}~{digest}"


def plan_clips(preset: Preset, scan: DatasetScan) -> ClipPlan:
    """Every output job of the features stage, in a stable order (independent of worker count or timing)."""
    _require_keyword_folders(preset, scan)
    planner = _Planner(preset, scan)
    planner.add_keywords()
    if preset.classes.unknown or planner.negatives_only:
        planner.add_unknown_words()
    if preset.classes.unknown or preset.classes.background or planner.negatives_only:
        planner.add_run_on_words()
    regions = planner.add_long_recordings()
    outputs = [j.output for j in planner.jobs]
    if len(set(outputs)) != len(outputs):
        dupes = sorted({o for o in outputs if outputs.count(o) > 1})[:3]
        raise UserError(f"{scan.path}: two sources map to the same feature file ({', '.join(dupes)})")
    return ClipPlan(planner.jobs, preset.class_names, regions, planner.excluded)


def _require_keyword_folders(preset: Preset, scan: DatasetScan) -> None:
    missing = [k for k in preset.classes.keywords if k not in scan.words]
    if not missing:
        return
    available = ", ".join(sorted(scan.words)) or "none"
    same = {unicodedata.normalize("NFC", w): w for w in scan.words}
    twins = [(k, same[unicodedata.normalize("NFC", k)]) for k in missing if unicodedata.normalize("NFC", k) in same]
    if twins:  # macOS file systems and some archivers write names decomposed (NFD): same letters, other bytes
        typed, folder = twins[0]
        raise UserError(
            f"classes.keywords: {typed!r} matches the folder {folder!r} in {scan.path} only in how its "
            f"accents are encoded ({ascii(typed)} vs {ascii(folder)}); rename the folder to the composed "
            f"form: convmv -r -f utf8 -t utf8 --nfc --notest {scan.path}"
        )
    raise UserError(f"classes.keywords: no folder for {', '.join(missing)} in {scan.path} (words: {available})")


class _Planner:
    """The jobs and exclusions of one plan, added source by source (keywords, other words, long recordings)."""

    def __init__(self, preset: Preset, scan: DatasetScan) -> None:
        self.preset, self.scan = preset, scan
        self.keywords = list(preset.classes.keywords)
        self.seed = preset.features.seed
        self.root = str(scan.path)
        self.use_lists = scan.validation_list is not None or scan.testing_list is not None
        self.validation_list, self.testing_list = scan.validation_list or set(), scan.testing_list or set()
        self.augment_negatives = preset.features.augment_negatives and preset.features.variants > 0
        self.negatives_only = preset.single_sigmoid  # a binary model still needs other words and noise as negatives
        self.jobs: list[Job] = []
        self.excluded: list[dict[str, str]] = []
        self.keyword_counts: Counter[str] = Counter()

    def split_of(self, word: str, name: str) -> str:
        if self.use_lists:
            rel = f"{word}/{name}"
            return "validation" if rel in self.validation_list else "test" if rel in self.testing_list else "train"
        return hash_split(name, self.preset.dataset.validation_percent, self.preset.dataset.testing_percent)

    def clip_job(self, word: str, clip: ClipInfo, label: str, split: str, variant: int = 0) -> Job:
        suffix = f"__v{variant}" if variant else ""
        output = f"{word}/{_stem(clip.name)}{suffix}.npy"
        return Job(
            os.path.join(self.root, word, clip.name),
            output,
            label,
            split,
            variant,
            stable_int(self.seed, output, variant),
            notes=_notes(clip),
        )

    def readable(self, word: str, clip: ClipInfo) -> bool:
        if clip.error:
            self.excluded.append({"path": f"{word}/{clip.name}", "reason": clip.error})
        return not clip.error

    def add_keywords(self) -> None:
        variants = self.preset.features.variants
        for word in self.keywords:
            for clip in self.scan.words[word].clips:
                if not self.readable(word, clip):
                    continue
                split = self.split_of(word, clip.name)
                self.keyword_counts[split] += 1
                self.jobs.append(self.clip_job(word, clip, word, split))
                if split == "train":  # augmented copies for training only; evaluation stays on real clips
                    self.jobs.extend(self.clip_job(word, clip, word, split, v) for v in range(1, variants + 1))
        empty = [w for w in self.keywords if all(c.error for c in self.scan.words[w].clips)]
        if empty:  # stop now, not after making every other feature file (training would refuse later)
            raise UserError(
                f"classes.keywords: no readable clips for {', '.join(empty)} in {self.scan.path}; "
                "add clips or remove the keyword"
            )

    def add_unknown_words(self) -> None:
        """Other words as _unknown: per split, a stable hash-ordered sample of `unknown_ratio` times the keywords."""
        candidates: dict[str, list[tuple[int, str, ClipInfo]]] = {s: [] for s in ("train", "validation", "test")}
        for word, info in self.scan.words.items():
            if word in self.keywords:
                continue
            for clip in info.clips:
                if self.readable(word, clip):
                    split = self.split_of(word, clip.name)
                    candidates[split].append((stable_int(self.seed, "unknown", word, clip.name), word, clip))
        ratio = self.preset.classes.unknown_ratio
        for split, items in candidates.items():
            items.sort(key=lambda item: item[0])
            keep = len(items) if ratio == 0 else min(len(items), int(round(ratio * self.keyword_counts[split])))
            for _, word, clip in sorted(items[:keep], key=lambda item: (item[1], item[2].name)):
                job = self.clip_job(word, clip, UNKNOWN, split)
                if split == "train" and self.augment_negatives:
                    job.variant = AUGMENTED_NEGATIVE
                self.jobs.append(job)

    @property
    def negative_label(self) -> str:
        """The class of negatives that are speech (running speech, run-on words): _unknown, or _background without
        an _unknown class."""
        return UNKNOWN if self.preset.classes.unknown or self.negatives_only else BACKGROUND

    def add_run_on_words(self) -> None:
        """The keywords run on into longer words (kwtui.core.data.run_on_words): every clip a negative (_unknown,
        or _background without an _unknown class), split by speaker like a dataset word, never thinned out by
        unknown_ratio."""
        label = self.negative_label
        for folder, clips in sorted(self.scan.run_on.items()):
            for clip in clips:
                if clip.error:
                    self.excluded.append({"path": os.path.join(folder, clip.name), "reason": clip.error})
                    continue
                split = hash_split(
                    clip.name, self.preset.dataset.validation_percent, self.preset.dataset.testing_percent
                )
                output = f"_run_on/{Path(folder).name}/{_stem(clip.name)}.npy"
                augmented = split == "train" and self.augment_negatives
                variant = AUGMENTED_NEGATIVE if augmented else 0
                self.jobs.append(
                    Job(
                        os.path.join(folder, clip.name),
                        output,
                        label,
                        split,
                        variant,
                        stable_int(self.seed, output, 0),
                        notes=_notes(clip),
                    )
                )

    def add_long_recordings(self) -> list[NoiseRegion]:
        """Noise files are split by time region even without a _background class: train regions feed
        augmentation. Running speech (classes.negative_speech) is cut the same way: its windows are negatives
        (_unknown, or _background without an _unknown class), and its held-out regions are part of the ambient
        evaluation."""
        classes = self.preset.classes
        regions: list[NoiseRegion] = []
        found_noise = False
        for folder, kind, label, make_windows, out_folder in self.long_sources():
            for clip in self.scan.noise.get(folder, []):
                rel = f"{folder}/{clip.name}"
                if clip.error or clip.seconds < 1.0:
                    self.excluded.append({"path": rel, "reason": clip.error or f"{kind} file shorter than 1 s"})
                    continue
                found_noise = found_noise or kind == "noise"
                # other folders (e.g. _problem_noise_) are prefixed so equal file names cannot collide
                stem = _stem(clip.name)
                noise_stem = stem if folder == "_background_noise_" else f"{Path(folder).name.strip('_')}__{stem}"
                for region in _regions(rel, clip.seconds, kind):
                    regions.append(region)
                    if make_windows:
                        self.add_windows(folder, clip, region, label, f"{out_folder}/{noise_stem}")
        if classes.background and not found_noise:
            folders = ", ".join(classes.noise_folders) or "none"
            raise UserError(
                f"classes.noise_folders: no usable noise files in {folders} under {self.scan.path}; "
                "add noise wavs or set classes.background = false"
            )
        return regions

    def long_sources(self) -> list[tuple[str, str, str, bool, str]]:
        """(folder, kind, label of its windows, whether windows are made, output folder) per long-recording folder."""
        classes = self.preset.classes
        noise_windows = classes.background or self.negatives_only
        speech_label = self.negative_label
        sources = [(folder, "noise", BACKGROUND, noise_windows, "_background") for folder in classes.noise_folders]
        speech_windows = classes.unknown or classes.background or self.negatives_only
        return sources + [
            (folder, "speech", speech_label, speech_windows, "_negative_speech")
            for folder in classes.negative_speech
            if folder not in classes.noise_folders
        ]

    def add_windows(self, folder: str, clip: ClipInfo, region: NoiseRegion, label: str, prefix: str) -> None:
        """1 s windows of one region every `features.background_stride_s`."""
        stride = self.preset.features.background_stride_s
        notes = tuple(n for n in _notes(clip) if not n.startswith(("padded", "cropped")))
        augmented = region.kind == "speech" and region.split == "train" and self.augment_negatives
        k = 0
        while region.start_s + k * stride + 1.0 <= region.end_s + 1e-9:
            offset = round(region.start_s + k * stride, 3)
            output = f"{prefix}__{int(round(offset * 1000))}.npy"
            self.jobs.append(
                Job(
                    os.path.join(self.root, folder, clip.name),
                    output,
                    label,
                    region.split,
                    AUGMENTED_NEGATIVE if augmented else 0,
                    stable_int(self.seed, output, 0),
                    offset,
                    notes,
                )
            )
            k += 1


def _regions(rel: str, duration: float, kind: str) -> list[NoiseRegion]:
    return [
        NoiseRegion(rel, split, round(lo * duration, 3), round(hi * duration, 3), kind)
        for split, lo, hi in NOISE_REGIONS
    ]
