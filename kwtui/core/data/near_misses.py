"""Near misses of the keywords, said inside sentences: the negatives a keyword model most needs and a dataset of
isolated words never holds.

A model trained on clips of its keyword against other whole words learns "starts like marvin" and fires on
"marvelling", "carving", "lefty" in conversation (bench/detect.py: "marvelling" fired for 40 % of held-out voices
at a score of 1.0, most of that test's false accepts). openWakeWord generates adversarial negatives by phoneme edits
for the same reason. Here espeak-ng gives each keyword's phonemes; edits of them (the stressed vowel, the first
consonant, the ending) are spoken through espeak-ng's phoneme input (`[[...]]`) inside ordinary sentences. An edit
that sounds like a keyword or another dataset word (same phonemes, stress ignored) is dropped: that would be label
noise.
"""

from __future__ import annotations

import re
import subprocess

import numpy as np

from kwtui.core import recipes
from kwtui.core.errors import KwtuiError

VERSION = recipes.NEAR_MISSES  # in the synthesized folder's manifest

# espeak-ng's English phoneme mnemonics (`espeak-ng -x`), longest first so "aI@" wins over "aI" and "a"
_VOWELS = (
    "aI@",
    "aU@",
    "A@",
    "A:",
    "aI",
    "aU",
    "a#",
    "a2",
    "e@",
    "eI",
    "i@",
    "i:",
    "I2",
    "O@",
    "O:",
    "oU",
    "OI",
    "o@",
    "U@",
    "u:",
    "3:",
    "@L",
    "@2",
    "@5",
    "a",
    "E",
    "I",
    "i",
    "0",
    "U",
    "V",
    "@",
)
_CONSONANTS = (
    "tS",
    "dZ",
    "p",
    "b",
    "t",
    "d",
    "k",
    "g",
    "f",
    "v",
    "T",
    "D",
    "s",
    "z",
    "S",
    "Z",
    "h",
    "m",
    "n",
    "N",
    "l",
    "r",
    "w",
    "j",
)
_TOKENS = sorted(_VOWELS + _CONSONANTS, key=len, reverse=True)
# Replacements: vowels of clearly other quality, consonants of other places and manners, endings that turn a
# word into a longer one ("marvin" -> "marvelling", "marvellous")
VOWEL_SWAPS = ("i:", "u:", "O:", "a", "E", "I", "0", "V", "eI", "aI", "oU", "aU", "3:")
ONSET_SWAPS = ("b", "d", "g", "k", "p", "t", "s", "f", "h", "m", "n", "l", "r", "w", "S")
ENDINGS = ("@l", "@lIN", "@s", "t@", "i", "@n", "d", "s", "k", "IN")
# Syllables that continue a keyword into a longer word, said as one word ("yes" -> "yes-ter-day", "no" ->
# "no-where", "left" -> "left-over"). A streaming detector hears the keyword whole before the rest of the word comes;
# unless it has learnt that a keyword running on without a break is another word, it fires on every one of them.
# Generic English syllables: consonant-initial after a vowel, vowel-initial after a consonant.
CONTINUATIONS_AFTER_VOWEL = ("m@n", "k@L", "p@", "s@n", "v@", "d@", "l@", "r@", "tS@", "z@", "bI", "g@", "f@", "n@")
CONTINUATIONS_AFTER_CONSONANT = ("@", "I", "i", "@n", "IN", "3", "@s", "@L", "Ik", "@m", "eI", "oU")


def phonemes(binary: str, word: str) -> str:
    """espeak-ng's phonemes of `word` (English), stress marks kept: 'm'A@vIn'."""
    result = subprocess.run([binary, "-q", "-x", "-v", "en", word], capture_output=True, timeout=30)
    if result.returncode != 0:
        raise KwtuiError(f"espeak-ng failed on {word!r}: {result.stderr.decode(errors='replace')[:200]}")
    return " ".join(result.stdout.decode("utf-8", "replace").split())


def tokens(text: str) -> list[str]:
    """Phoneme mnemonics as tokens; stress marks (' ,) and word breaks kept as their own tokens."""
    out, i = [], 0
    while i < len(text):
        if text[i] in "',_ ":
            out.append(text[i])
            i += 1
            continue
        match = next((t for t in _TOKENS if text.startswith(t, i)), text[i])
        out.append(match)
        i += len(match)
    return out


def plain_phonemes(text: str) -> str:
    """Phonemes without stress or breaks: what two pronunciations are compared on."""
    return re.sub(r"[',_ ]|(?<=\w)2", "", text)


def edits(word_phonemes: str) -> list[str]:
    """Phoneme strings one edit away from a keyword's: its stressed vowel, its first consonant, its ending."""
    toks = tokens(word_phonemes)
    found: list[str] = []
    vowels = [i for i, t in enumerate(toks) if t in _VOWELS]
    if vowels:
        stressed = next((i for i in vowels if i > 0 and toks[i - 1] == "'"), vowels[0])
        found += ["".join(toks[:stressed] + [v] + toks[stressed + 1 :]) for v in VOWEL_SWAPS if v != toks[stressed]]
    first = next((i for i, t in enumerate(toks) if t in _CONSONANTS or t in _VOWELS), None)
    if first is not None and toks[first] in _CONSONANTS:
        found += ["".join(toks[:first] + [c] + toks[first + 1 :]) for c in ONSET_SWAPS if c != toks[first]]
    # the ending: from the last vowel on when there are two syllables or more ("marvin" -> "marv-elling"), else
    # the final consonant ("left" -> "lef-ty")
    body = toks[: vowels[-1]] if len(vowels) > 1 else (toks[:-1] if toks and toks[-1] in _CONSONANTS else toks)
    found += ["".join(body + [e]) for e in ENDINGS]
    return list(dict.fromkeys(found))


def continuations(word_phonemes: str) -> list[str]:
    """The keyword's phonemes run on into a longer word, one syllable more, without a break."""
    toks = tokens(word_phonemes)
    last = next((t for t in reversed(toks) if t in _VOWELS or t in _CONSONANTS), "")
    more = CONTINUATIONS_AFTER_VOWEL if last in _VOWELS else CONTINUATIONS_AFTER_CONSONANT
    return [word_phonemes.strip() + syllable for syllable in more]


def near_misses(binary: str, keywords: list[str], others: list[str]) -> dict[str, list[str]]:
    """For each keyword: its edits that sound like no keyword and no other dataset word, and do not hold a keyword
    whole ("n'oU@l", Noel, says "no": a listener would hear the keyword mid-sentence); then its run-ons."""
    said = _sounds(binary, [*keywords, *others])
    taken, whole = set(said.values()), [said[k] for k in keywords]
    runs = _run_ons(binary, keywords, said)
    out = {}
    for keyword in keywords:
        found = [e for e in edits(phonemes(binary, keyword)) if plain_phonemes(e) not in taken]
        out[keyword] = list(dict.fromkeys([e for e in found if not any(k in plain_phonemes(e) for k in whole)]))
        out[keyword] += [r for r in runs[keyword] if r not in out[keyword]]
    return out


def run_ons(binary: str, keywords: list[str], others: list[str]) -> dict[str, list[str]]:
    """For each keyword, its continuations into longer words that sound like no keyword and no other dataset word
    and hold no other keyword (the keyword said as the start of one word is not the keyword)."""
    return _run_ons(binary, keywords, _sounds(binary, [*keywords, *others]))


def _sounds(binary: str, words: list[str]) -> dict[str, str]:
    """Each word's plain phonemes (one espeak-ng call per word)."""
    return {w: plain_phonemes(phonemes(binary, w)) for w in words}


def _run_ons(binary: str, keywords: list[str], said: dict[str, str]) -> dict[str, list[str]]:
    taken = set(said.values())
    out = {}
    for keyword in keywords:
        other_keywords = [said[k] for k in keywords if k != keyword]
        out[keyword] = [
            c
            for c in continuations(phonemes(binary, keyword))
            if plain_phonemes(c) not in taken and not any(k in plain_phonemes(c) for k in other_keywords)
        ]
    return out


def sentences(words: dict[str, list[str]], fillers: list[str], count: int, rng: np.random.Generator) -> list[str]:
    """`count` sentences, each an ordinary sentence (from `fillers`) with one near miss (phoneme input) put at a
    word boundary: the near miss is heard as running speech is, with words on either side."""
    pool = [p for edits_ in words.values() for p in edits_]
    if not pool or not fillers:
        return []
    out = []
    for _ in range(count):
        filler = fillers[int(rng.integers(len(fillers)))].split()
        at = int(rng.integers(len(filler) + 1))
        near = pool[int(rng.integers(len(pool)))]
        out.append(" ".join(filler[:at] + [f"[[{near}]]"] + filler[at:]))
    return out
