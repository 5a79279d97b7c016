"""Running speech synthesized for a dataset that has none, so that a model never becomes a speech detector.

Speech Commands has no running speech, and neither has a user's own folder of clips: trained without it, a wake
word model detects every isolated keyword yet fires hundreds of times an hour on conversation. When no folder of
`classes.negative_speech` holds usable audio, the features stage asks for this: espeak-ng sentences (two talkers
taking turns, as `kwtui demo-data` writes them) that never say the dataset's words, written once into a folder kwtui
owns beside the run and reused while its definition (the words left out, the seed, the voices) stays the same.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np

from kwtui.core.data import demo, near_misses, synthesized
from kwtui.core.events import CancelToken, Reporter

FILES = 8  # about 1 min each: 8 min of negatives, 2 of them held out for the ambient evaluation
NEAR_MISS_FILES = 24  # each sentence holds one near miss: about 480, a dozen or more of each edit
SPEAKERS = 16
MANIFEST = "synthetic_speech.json"
VERSION = 2  # 2: no homophones of the left-out words ("know" for "no")


def _files(near_misses_of: tuple[str, ...]) -> int:
    return NEAR_MISS_FILES if near_misses_of else FILES


def definition(banned: set[str], seed: int, near_misses_of: tuple[str, ...] = ()) -> dict[str, Any]:
    found = {
        "version": VERSION,
        "files": _files(near_misses_of),
        "speakers": SPEAKERS,
        "seed": seed,
        "without_words": sorted(banned),
        "espeak": shutil.which("espeak-ng") or "",
    }
    if near_misses_of:
        found.update(near_misses_of=list(near_misses_of), near_miss_version=near_misses.VERSION)
    return found


def ensure(
    folder: Path,
    banned: set[str],
    seed: int,
    report: Reporter,
    cancel: CancelToken,
    stage: str,
    near_misses_of: tuple[str, ...] = (),
    make: bool = True,
) -> list[Path] | None:
    """The synthesized files in `folder` (made now unless its manifest says they match); the manifest last.
    With `near_misses_of` (keywords), every sentence holds one near miss of one of them (near_misses.py).
    `make` False (a preview): None instead of synthesizing."""
    wanted = definition({w.lower() for w in banned}, seed, near_misses_of)
    if synthesized.matches(folder, MANIFEST, wanted):
        return sorted(folder.glob("conversation_*.wav"))
    if not make:
        return None
    paths = []
    with synthesized.rebuilding(folder, MANIFEST, wanted, "synthetic running speech folder"):
        binary = demo.espeak_binary()
        speakers = demo.make_speakers(SPEAKERS, np.random.default_rng([seed, 31]))
        sentences = demo.sentences_without(sorted(banned))
        what = "no running speech in classes.negative_speech"
        if near_misses_of:
            keywords = list(near_misses_of)
            edits = near_misses.near_misses(binary, keywords, sorted(set(banned) - set(keywords)))
            sentences = near_misses.sentences(
                edits, sentences, NEAR_MISS_FILES * demo.SENTENCES_PER_FILE, np.random.default_rng([seed, 41])
            )
            what = f"near misses of {', '.join(keywords)}"
        files = wanted["files"]
        message = f"{what}: synthesizing {files} files into {folder}"
        done = synthesized.progress(report, stage, files, "files", message, f"synthesizing {what.split(':')[0]}")
        for k in range(files):
            cancel.raise_if_cancelled()
            audio, rate = demo.running_speech(
                binary,
                sentences,
                speakers,
                np.random.default_rng([seed, 37, k]),
                None if near_misses_of else set(wanted["without_words"]),
            )
            path = folder / f"conversation_{k}.wav"
            demo.write_wav(path, audio, rate)
            paths.append(path)
            done(k + 1)
    return paths
