"""Continuous audio for evaluation, built from held-out material only, rendered a chunk at a time.

Two streams, both at 16 kHz:
- **ambient**: what a device hears all day without its keywords. Held-out other words (the test split's
  `_unknown` clips) and held-out running speech (test regions of `classes.negative_speech`) in a seeded order,
  joined by natural gaps, each over held-out noise (test regions of the noise files) at an SNR drawn from
  `evaluate.snr_db`; then every held-out noise region on its own; then the user's own long recordings
  (`evaluate.ambient_folders`) as they are. Every source is played once, so the hours reported are hours of
  distinct audio.
- **keywords**: each held-out keyword inside that kind of audio, as a sentence says it: the clip's speech (its
  silence trimmed) between other held-out words *of the same talker* (1-3 before, 0-2 after, each trimmed, a
  word's gap apart: "so yes and wait" as its speaker says it), or, for a talker with no other held-out words,
  held-out running speech a word's gap before and after it; over noise at a drawn SNR. A keyword said alone with
  half a second of silence around it is easier to detect than one inside a sentence, and a verdict must hold for
  the second. The keyword's position is recorded, so a detection can be matched to it.

Material is read region by region (noise and speech through the 16 kHz cache, read with ordinary reads rather than
a mapping), so memory stays bounded by one chunk whatever the hours of audio.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from kwtui.core.data.mixing import active_rms, rms, speech_span
from kwtui.core.data.spectrogram import SAMPLE_RATE

PIECE_SECONDS = 10.0  # long speech is cut into pieces this long, each over its own noise at its own SNR
GAP_SECONDS = (0.3, 1.5)  # pauses between utterances (noise only)
CONTEXT_SECONDS = (1.0, 2.0)  # speech before and after a placed keyword
WORD_GAP_SECONDS = (0.03, 0.15)  # between a placed keyword and the speech around it, as between words of a sentence
# words of the keyword's own talker before and after it (numpy's integers: high exclusive), as the carriers of a
# spoken command go ("so yes and wait", "the answer is no"): a keyword is never said with nothing around it
SENTENCE_WORDS_BEFORE, SENTENCE_WORDS_AFTER = (1, 4), (0, 3)
SAID_MARGIN_SECONDS = 0.05  # silence kept on each side of a held-out keyword's speech
KEYWORD_LEAD_SECONDS = 0.25  # a placed keyword's "1 s around the word" (what hits match) starts this long before it
# changing how the streams are built changes every report's figures: bump kwtui.core.recipes.HELD_OUT_AUDIO
KEYWORD_MARGIN_SECONDS = 1.0  # noise only, after the speech that follows a keyword
SPEECH_RMS = 0.1  # the level speech is rendered at (the features are level-independent)


@dataclass(frozen=True)
class Region:
    """Some seconds of a 16 kHz source: a converted cache file (`cache`) or a wav decoded whole (`clip`)."""

    source: str  # path of the cache file or wav
    start: int  # samples
    end: int
    kind: str  # "words", "speech", "noise", "recording" or "keyword"
    label: str  # word, file name, or keyword
    is_clip: bool = False
    speaker: str = ""  # a clip's talker (its file name's speaker id), "" where unknown

    @property
    def seconds(self) -> float:
        return (self.end - self.start) / SAMPLE_RATE


@dataclass(frozen=True)
class Piece:
    """One stretch of a stream: a region (or silence), over noise at an SNR, placed at `offset` samples."""

    offset: int
    length: int
    region: Region | None  # None: noise only
    snr_db: float | None = None  # None: the region as it is (noise regions, recordings)
    noise: Region | None = None  # the noise bed under the piece (a region at least `length` long, looped)


@dataclass
class Stream:
    pieces: list[Piece] = field(default_factory=list)
    samples: int = 0
    # (where the keyword's "1 s around the word" starts: KEYWORD_LEAD_SECONDS before its speech, keyword index, label)
    keywords: list[tuple[int, int, str]] = field(default_factory=list)
    keyword_speakers: list[str] = field(default_factory=list)  # each placed keyword's talker ("" where unknown)

    def add(self, length: int, region: Region | None, snr_db: float | None, noise: Region | None) -> Piece:
        piece = Piece(self.samples, length, region, snr_db, noise)
        self.pieces.append(piece)
        self.samples += length
        return piece

    @property
    def seconds(self) -> float:
        return self.samples / SAMPLE_RATE

    def seconds_by_kind(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for piece in self.pieces:
            kind = piece.region.kind if piece.region is not None else "pause"
            totals[kind] = totals.get(kind, 0.0) + piece.length / SAMPLE_RATE
        return {k: round(v, 1) for k, v in sorted(totals.items())}

    def kinds_at(self, samples: list[int]) -> list[tuple[str, str]]:
        """(kind, label) of the piece that holds each of `samples` (one search over the piece offsets)."""
        if not self.pieces:
            return [("pause", "")] * len(samples)
        found = np.searchsorted([p.offset for p in self.pieces], samples, side="right") - 1
        regions = [self.pieces[max(0, int(i))].region for i in found]
        return [(r.kind, r.label) if r is not None else ("pause", "") for r in regions]


@dataclass
class Material:
    words: list[Region] = field(default_factory=list)  # held-out other words (1 s clips)
    speech: list[Region] = field(default_factory=list)  # held-out running speech
    noise: list[Region] = field(default_factory=list)  # held-out noise
    recordings: list[Region] = field(default_factory=list)  # the user's own ambient recordings
    keywords: list[tuple[Region, int]] = field(default_factory=list)  # held-out keyword clips, keyword index
    # each talker's held-out other words, their silence trimmed (`said`): the sentence a keyword is placed in
    said_words: dict[str, list[Region]] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return sum(r.seconds for group in (self.words, self.speech, self.noise, self.recordings) for r in group)


def pieces_of(region: Region) -> list[Region]:
    step = int(PIECE_SECONDS * SAMPLE_RATE)
    if region.end - region.start <= step * 1.5:
        return [region]
    return [
        Region(region.source, s, min(region.end, s + step), region.kind, region.label, region.is_clip)
        for s in range(region.start, region.end, step)
        if min(region.end, s + step) - s >= SAMPLE_RATE // 2
    ]


def _noise_bed(material: Material, rng: np.random.Generator) -> Region | None:
    return material.noise[int(rng.integers(len(material.noise)))] if material.noise else None


def _snr(rng: np.random.Generator, snr_db: tuple[float, float]) -> float:
    return float(rng.uniform(*snr_db))


def ambient_stream(material: Material, snr_db: tuple[float, float], seed: int) -> Stream:
    """The ambient stream's plan (no audio yet)."""
    rng = np.random.default_rng(seed)
    stream = Stream()
    utterances = list(material.words) + [p for r in material.speech for p in pieces_of(r)]
    order = rng.permutation(len(utterances))
    for i in order:
        region = utterances[int(i)]
        noise = _noise_bed(material, rng)
        snr = _snr(rng, snr_db)
        stream.add(int(rng.uniform(*GAP_SECONDS) * SAMPLE_RATE), None, snr, noise)
        stream.add(region.end - region.start, region, snr, noise)
    for region in material.noise:
        for piece in pieces_of(region):
            stream.add(piece.end - piece.start, piece, None, None)
    for region in material.recordings:
        for piece in pieces_of(region):
            stream.add(piece.end - piece.start, piece, None, None)
    return stream


def keyword_stream(material: Material, snr_db: tuple[float, float], seed: int) -> Stream:
    """Each held-out keyword clip inside a sentence of its talker's other held-out words (or between stretches of
    held-out speech), over noise; positions in `keywords`."""
    rng = np.random.default_rng(seed + 1)
    stream = Stream()
    context = list(material.words) + [p for r in material.speech for p in pieces_of(r)]

    def speech_context(noise: Region | None, snr: float, before: bool) -> None:
        want = int(rng.uniform(*CONTEXT_SECONDS) * SAMPLE_RATE)
        if not context:
            stream.add(want, None, snr, noise)
            return
        region = context[int(rng.integers(len(context)))]
        length = min(want, region.end - region.start)
        start = region.start + int(rng.integers(0, region.end - region.start - length + 1))
        part = Region(region.source, start, start + length, region.kind, region.label, region.is_clip)
        gap = int(rng.uniform(*WORD_GAP_SECONDS) * SAMPLE_RATE)
        if before:
            stream.add(length, part, snr, noise)
            stream.add(gap, None, snr, noise)
        else:
            stream.add(gap, None, snr, noise)
            stream.add(length, part, snr, noise)

    def own_words(words: list[Region], noise: Region | None, snr: float, before: bool) -> None:
        """A sentence's words around the keyword: some of `words`, its talker's, each once, a word's gap apart."""
        count = int(rng.integers(*(SENTENCE_WORDS_BEFORE if before else SENTENCE_WORDS_AFTER)))
        for pick in rng.permutation(len(words))[:count]:
            word = words[int(pick)]
            gap = int(rng.uniform(*WORD_GAP_SECONDS) * SAMPLE_RATE)
            if before:
                stream.add(word.end - word.start, word, snr, noise)
                stream.add(gap, None, snr, noise)
            else:
                stream.add(gap, None, snr, noise)
                stream.add(word.end - word.start, word, snr, noise)

    lead = int((KEYWORD_LEAD_SECONDS - SAID_MARGIN_SECONDS) * SAMPLE_RATE)
    for clip, index in material.keywords:
        noise, snr = _noise_bed(material, rng), _snr(rng, snr_db)  # one talker in one room: one SNR around it
        stream.add(int(rng.uniform(*GAP_SECONDS) * SAMPLE_RATE), None, snr, noise)
        words = material.said_words.get(clip.speaker) if clip.speaker else None
        around = partial(own_words, words) if words else speech_context  # its talker's sentence, or running speech
        around(noise, snr, before=True)
        piece = stream.add(clip.end - clip.start, clip, snr, noise)
        stream.keywords.append((max(0, piece.offset - lead), index, clip.label))
        stream.keyword_speakers.append(clip.speaker)
        around(noise, snr, before=False)
        stream.add(int(KEYWORD_MARGIN_SECONDS * SAMPLE_RATE), None, snr, noise)
    return stream


def said(clip: Region, samples: np.ndarray) -> Region:
    """The part of a held-out clip (`samples`, the whole clip) that says its word, with a short margin: what a
    sentence around it would leave of the clip. A clip without speech stays whole."""
    span = speech_span(samples)
    if span is None:
        return clip
    margin = int(SAID_MARGIN_SECONDS * SAMPLE_RATE)
    start, end = max(0, span[0] - margin), min(len(samples), span[1] + margin)
    return replace(clip, start=start, end=end)


def read_cache_region(path: str, start: int, end: int) -> np.ndarray:
    """Samples [start, end) of a 16 kHz float32 cache file, by an ordinary read (pages are not kept mapped)."""
    with open(path, "rb") as f:
        f.seek(start * 4, os.SEEK_SET)
        return np.fromfile(f, dtype="<f4", count=max(0, end - start))


def render(
    stream: Stream, read: Callable[[Region, int, int], np.ndarray], chunk_seconds: float = 30.0
) -> Iterator[np.ndarray]:
    """The stream's audio, in chunks of about `chunk_seconds` (whole pieces; a piece is at most ~15 s)."""
    chunk: list[np.ndarray] = []
    size = 0
    limit = int(chunk_seconds * SAMPLE_RATE)
    for piece in stream.pieces:
        audio = np.zeros(piece.length, dtype=np.float32)
        if piece.region is not None:
            got = read(piece.region, piece.region.start, piece.region.end)[: piece.length]
            audio[: len(got)] = got
        if piece.noise is not None and piece.snr_db is not None:
            bed = _looped(read, piece.noise, piece.offset, piece.length)
            noise = bed / max(rms(bed), 1e-9) * SPEECH_RMS / 10 ** (piece.snr_db / 20)
            level = active_rms(audio) if piece.region is not None else 0.0
            # speech at one steady level, so the noise of a pause matches the speech beside it
            audio = ((audio * (SPEECH_RMS / level) if level > 0 else audio) + noise).astype(np.float32)
        chunk.append(audio.astype(np.float32, copy=False))
        size += piece.length
        if size >= limit:
            yield np.concatenate(chunk)
            chunk, size = [], 0
    if chunk:
        yield np.concatenate(chunk)


def _looped(read: Callable[[Region, int, int], np.ndarray], noise: Region, offset: int, length: int) -> np.ndarray:
    """`length` samples of a noise region, starting where `offset` falls in it (looped when it is shorter)."""
    span = noise.end - noise.start
    out = np.empty(length, dtype=np.float32)
    done = 0
    position = offset % span
    while done < length:
        take = min(length - done, span - position)
        part = read(noise, noise.start + position, noise.start + position + take)
        out[done : done + len(part)] = part
        out[done + len(part) : done + take] = 0.0
        done += take
        position = 0
    return out


def needed_hours(target_fa_per_hour: float) -> float:
    """Hours of ambient audio needed before a rate of `target` false accepts per hour can be told apart from
    zero: one false accept in that much audio is the target itself."""
    return 1.0 / target_fa_per_hour if target_fa_per_hour > 0 else 0.0


def recordings_in(folders: list[str]) -> tuple[list[Path], list[tuple[str, str]]]:
    """The wavs of `evaluate.ambient_folders` (recursively, sorted) and the folders that could not be read."""
    found: list[Path] = []
    problems: list[tuple[str, str]] = []
    for folder in folders:
        root = Path(folder)
        if not root.is_dir():
            problems.append((folder, "not a folder"))
            continue
        try:
            for dirpath, dirnames, filenames in os.walk(
                root, onerror=lambda e: problems.append((str(e.filename), e.strerror or str(e)))
            ):
                dirnames.sort()
                for name in sorted(filenames):
                    if not name.lower().endswith(".wav") or name.startswith("."):
                        continue
                    path = Path(dirpath) / name
                    try:
                        regular = stat.S_ISREG(path.stat().st_mode)
                    except OSError as exc:
                        problems.append((str(path), exc.strerror or str(exc)))
                        continue
                    if regular:  # a FIFO or device would block the read: not a recording
                        found.append(path)
                    else:
                        problems.append((str(path), "not a regular file"))
        except OSError as exc:
            problems.append((folder, exc.strerror or str(exc)))
    return found, problems
