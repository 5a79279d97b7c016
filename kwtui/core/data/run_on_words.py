"""Each keyword run on into longer words, said alone by many voices: negatives a dataset of clips never holds.

A streaming detector hears a keyword whole before the rest of a word that begins with it ("yes" in "yesterday",
"no" in "nowhere", "left" in "leftover"). Trained on isolated keywords against other whole words, it learns
"keyword, then anything" and fires on every such word in conversation: bench/detect.py traced 18 of the commands
model's 27 false accepts an hour on held-out conversation to "yesterday" alone. These clips teach that a keyword
running on without a break is another word (near_misses.continuations: the keyword's phonemes and one more
syllable, spoken through espeak-ng's phoneme input). They are written once into a folder kwtui owns beside the run,
one sub-folder per run-on word, and trained on as the negative class.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np

from kwtui.core import recipes
from kwtui.core.data import demo, near_misses, synthesized
from kwtui.core.data.audio import resample
from kwtui.core.data.spectrogram import SAMPLE_RATE
from kwtui.core.events import CancelToken, Reporter

VERSION = recipes.RUN_ON_WORDS  # in the folder's manifest and the features' fingerprint
CLIPS_PER_WORD = 20  # voices per run-on word (bench/detect.py measured 20)
SPEAKERS = 24
MANIFEST = "run_on_words.json"


def definition(keywords: list[str], others: list[str], seed: int) -> dict[str, Any]:
    return {
        "version": VERSION,
        "near_misses_version": near_misses.VERSION,
        "keywords": list(keywords),
        "other_words": sorted(others),
        "clips_per_word": CLIPS_PER_WORD,
        "speakers": SPEAKERS,
        "seed": seed,
        "espeak": shutil.which("espeak-ng") or "",
    }


def ensure(
    folder: Path,
    keywords: list[str],
    others: list[str],
    seed: int,
    report: Reporter,
    cancel: CancelToken,
    stage: str,
    make: bool = True,
) -> dict[str, list[Path]] | None:
    """Sub-folder -> its clips, synthesized now unless the manifest says they match; the manifest last.
    `make` False (a preview): None instead of synthesizing."""
    wanted = definition(keywords, others, seed)
    if synthesized.matches(folder, MANIFEST, wanted):
        return _found(folder)
    if not make:
        return None
    with synthesized.rebuilding(folder, MANIFEST, wanted, "run-on words folder"):
        binary = demo.espeak_binary()
        words = near_misses.run_ons(binary, keywords, others)
        speakers = demo.make_speakers(SPEAKERS, np.random.default_rng([seed, 59]))
        total = sum(len(found) for found in words.values()) * CLIPS_PER_WORD
        message = f"{', '.join(keywords)} run on into longer words: synthesizing {total} clips into {folder}"
        done = synthesized.progress(report, stage, total, "clips", message, "synthesizing run-on words")
        count = 0
        for keyword, found in words.items():
            for k, said in enumerate(found):
                cancel.raise_if_cancelled()
                sub = folder / f"{keyword}_{k}"
                sub.mkdir(parents=True, exist_ok=True)
                for i in range(CLIPS_PER_WORD):
                    rng = np.random.default_rng([seed, 61, len(keyword), k, i])
                    speaker = speakers[int(rng.integers(len(speakers)))]
                    audio, rate = demo.synthesize(binary, speaker, f"[[{said}]]", 0)
                    clip = resample(demo.place_in_clip(audio, rate, rng), rate)  # 16 kHz: features read it as is
                    demo.write_wav(sub / f"{speaker.id}_nohash_{i}.wav", clip, SAMPLE_RATE)
                count += CLIPS_PER_WORD
                done(count)
    return _found(folder)


def _found(folder: Path) -> dict[str, list[Path]]:
    return {sub.name: sorted(sub.glob("*.wav")) for sub in sorted(folder.iterdir()) if sub.is_dir()}
