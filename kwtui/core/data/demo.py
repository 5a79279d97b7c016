"""Synthesize a small Speech-Commands-shaped dataset with espeak-ng, and flite where installed (demos and tests).

Layout written under out_dir (like Speech Commands v0.02):
  <word>/<speaker>_nohash_<n>.wav      ~1 s, 16-bit mono at espeak's 22.05 kHz (so resampling gets exercised)
  _background_noise_/*.wav             long white/pink/brown noise and a 100 Hz hum, at several sample rates
  _running_speech_/*.wav               two talkers taking turns, sentences without the dataset's words
                                       (near misses such as "yesterday" or "marvel" included): negatives
  validation_list.txt, testing_list.txt  split by timbre (all clips of a voice + variant in one split)
  README.txt                           says the data is synthetic

A "speaker" is one espeak voice + variant + speed + pitch + amplitude; its id is 8 hex digits of a hash of
that combination. Its timbre is the voice + variant alone: what tells two talkers apart, so the split holds out
timbres. Everything is deterministic for a given seed and the synthesizers installed.

espeak-ng is a formant synthesizer: all its voices share one way of making sound, and a model trained on them alone
misses voices made any other way (BENCHMARKS.md "Voices of other synthesizers": marvin's misses on a held-out set
of flite, Festival and Piper voices fell from 100 % to 57 % with two flite/Festival speakers in training). Where
flite is installed (Debian `flite`, which scripts/setup.sh installs), every FLITE_EVERY-th speaker is one of its
voices, each recorded from a real person ("flite:awb" ...), at its own speed and pitch.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import soundfile as sf

from kwtui.core.errors import KwtuiError, UserError
from kwtui.core.events import CancelToken, Finished, Progress, Reporter, Started, ignore
from kwtui.core.io import ownership, writer

STAGE = "demo-data"
ESPEAK_RATE = 22050
KEYWORDS = ("yes", "no", "left", "right", "marvin")
FILLERS = ("up", "down", "go", "stop", "on", "off", "sheila", "house", "bird", "tree")
DEFAULT_WORDS = KEYWORDS + FILLERS
VOICES = (
    "en",
    "en-us",
    "en-gb",
    "en-gb-scotland",
    "en-gb-x-rp",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
    "en-029",
    "en-us-nyc",
)
VARIANTS = ("", "+f1", "+f2", "+f3", "+f4", "+m1", "+m2", "+m3", "+m4", "+m5", "+m6", "+m7")
# flite's voices (Debian `flite`) with each one's median f0 in Hz: flite takes pitch as a target mean
FLITE_VOICES = {"awb": 131, "kal": 88, "kal16": 89, "rms": 101, "slt": 170}
FLITE_EVERY = 4  # a quarter of the speakers, where flite is installed
# Running speech without the dataset's words: negatives for training and the ambient audio of evaluation. Many
# sentences hold near misses of the keywords (yesterday, nobody, lift, bright, marvel ...), never a keyword's
# homophone ("know" is "no", "write" is "right" to any listener: a negative that says the keyword).
SENTENCES = (
    "I guess we could meet yesterday evening after the chess club",
    "do you recall where I put the notes for the meeting",
    "the lift in our building is broken again this week",
    "what a bright and sunny morning it is outside",
    "that film was a marvel of special effects",
    "my friend Martin is carving a wooden boat",
    "please print your name at the top of the page",
    "there is less milk in the fridge than I thought",
    "the snow will melt when the weather gets warmer",
    "we need a new light for the kitchen ceiling",
    "she rode her bike to the market and back",
    "the margin on this page is far too small",
    "I will ring you tonight if the train is late",
    "nobody knew the answer to the last question",
    "the children played with a yellow kite in the park",
    "can you pass me the salt and the pepper please",
    "my brother is a lefty so he draws with his other hand",
    "the theft of the painting made the news",
    "we watched a marvellous show at the theatre",
    "a loaf of bread costs more than it used to",
    "the cat likes to sleep next to the window",
    "they are planning a trip to the mountains in spring",
    "I cannot remember the last time it rained this much",
    "his nose was red from the cold wind",
    "the coffee machine makes a strange noise in the morning",
    "remind me to buy batteries for the clock",
    "our neighbours have a very friendly dog",
    "the meeting starts at nine and finishes at noon",
    "a good night of sleep makes a big difference",
    "she knows a lot about the history of the city",
    "the bus was full so we walked to the station",
    "it is quite windy near the coast today",
    "the kettle has boiled so let us have some tea",
    "my sister is learning to play the violin",
    "the library closes early on the weekend",
    "the garden looks lovely after the rain",
    "the farmer is moving the sheep to another field",
    "I think the plumber is coming at three",
    "this recipe needs two eggs and a cup of flour",
    "the radio is playing an old song I like",
    "the computer needs an update before it restarts",
    "could you turn the volume a little lower",
    "the shop around the corner sells fresh fish",
    "the baby finally fell asleep after lunch",
    "we painted the fence white last summer",
    "a marvelous idea came to me while I was driving",
    "the wet paint sign is still there",
    "let us hope the weather stays nice for the picnic",
)
# Sentence templates and their words, for variety beyond the fixed sentences (a model must not learn a handful of
# sentences as "not a keyword"): near misses of the demo keywords are among the words.
TEMPLATES = (
    "{name} {did} the {adj} {noun} {time}",
    "did you {do} the {noun} {time}",
    "I think the {noun} is {adj} {time}",
    "{name} said the {noun} was {adj}",
    "we could {do} a {adj} {noun} {place}",
    "there is a {adj} {noun} {place}",
    "please {do} the {noun} {place}",
    "my {family} {did} a {noun} {time}",
    "{name} will {do} the {noun} {time}",
    "have you seen the {adj} {noun} {place}",
    "the {noun} {place} looks {adj}",
    "{name} and {name} {did} the {noun}",
)
WORDS = {
    "name": (
        "Martin",
        "Marvel",
        "Melvin",
        "Shelly",
        "Lefty",
        "Sheldon",
        "Harvey",
        "Kevin",
        "Mervyn",
        "Norman",
        "Nora",
        "Noah",
        "Rita",
        "Bryce",
        "Wyatt",
        "Tess",
        "Jess",
        "Leslie",
        "Marta",
        "Marion",
    ),
    "did": (
        "fixed",
        "painted",
        "lifted",
        "wrote",
        "found",
        "checked",
        "opened",
        "brought",
        "sold",
        "moved",
        "cleaned",
        "guessed",
        "noticed",
        "carved",
        "knitted",
        "wrapped",
        "lost",
        "borrowed",
    ),
    "do": (
        "fix",
        "paint",
        "carry",
        "lift",
        "mend",
        "find",
        "check",
        "open",
        "bring",
        "sell",
        "move",
        "clean",
        "carve",
        "wrap",
        "borrow",
        "measure",
        "ride",
    ),
    "adj": (
        "bright",
        "yellow",
        "heavy",
        "tiny",
        "noisy",
        "lovely",
        "marvellous",
        "nice",
        "light",
        "new",
        "old",
        "tight",
        "lofty",
        "restless",
        "knotted",
        "bigger",
        "narrow",
        "messy",
        "yearly",
    ),
    "noun": (
        "lamp",
        "kettle",
        "garden",
        "letter",
        "bridge",
        "window",
        "ladder",
        "notebook",
        "yacht",
        "kite",
        "nose",
        "note",
        "market",
        "margin",
        "carving",
        "loft",
        "theft",
        "knight",
        "marble",
        "lettuce",
        "necklace",
        "violin",
        "bicycle",
        "chess set",
        "yoghurt",
        "lemon",
    ),
    "time": (
        "yesterday",
        "last night",
        "this morning",
        "yet again",
        "at noon",
        "tonight",
        "in the evening",
        "by Friday",
        "after lunch",
        "last summer",
        "next week",
    ),
    "place": (
        "in the kitchen",
        "near the bridge",
        "by the window",
        "at the market",
        "in the loft",
        "behind the shed",
        "at the station",
        "in the garden",
    ),
    "family": ("sister", "brother", "uncle", "aunt", "neighbour", "cousin", "friend"),
}
SPEECH_FILES = 6  # files of running speech in _running_speech_
CLIP_LIST = ".kwtui-demo-clips.txt"  # the word clips the last run wrote (a dot file: the scan passes over it)
SENTENCES_PER_FILE = 20
CLIPS_PER_SPEAKER_WORD = 2  # repetitions of one word by one speaker (_nohash_0, _nohash_1)
# name, seconds, sample rate, kind
NOISE_FILES = (
    ("white_noise.wav", 30.0, 16000, "white"),
    ("pink_noise.wav", 40.0, 16000, "pink"),
    ("brown_noise.wav", 25.0, 22050, "brown"),
    ("hum_100hz.wav", 20.0, 44100, "hum"),
)


@dataclass(frozen=True)
class Speaker:
    voice: str
    variant: str
    speed: int  # words per minute
    pitch: int  # 0..99
    amplitude: int  # 0..200

    @property
    def id(self) -> str:
        key = f"{self.voice}{self.variant}|{self.speed}|{self.pitch}|{self.amplitude}"
        return hashlib.sha1(key.encode()).hexdigest()[:8]

    @property
    def timbre(self) -> str:
        """Who a listener hears: espeak-ng's voice and variant (speed, pitch and loudness are how it talks)."""
        return f"{self.voice}{self.variant}"

    @property
    def flite_voice(self) -> str | None:
        """The flite voice of a flite speaker ("flite:awb" -> "awb"), else None."""
        return self.voice.removeprefix("flite:") if self.voice.startswith("flite:") else None


def espeak_binary() -> str:
    path = shutil.which("espeak-ng")
    if not path:
        raise UserError("espeak-ng: not found; install it: apt-get install espeak-ng")
    return path


def flite_voices() -> tuple[str, ...]:
    """FLITE_VOICES that the installed flite has (none without flite): flite says an unknown voice in its default
    one, so a build without them would write mislabelled speakers."""
    binary = shutil.which("flite")
    if not binary:
        return ()
    try:
        listed = subprocess.run([binary, "-lv"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    have = set(listed.split(":", 1)[-1].split())  # "Voices available: kal awb_time kal16 awb rms slt"
    return tuple(v for v in FLITE_VOICES if v in have)


def make_speakers(count: int, rng: np.random.Generator, flite: tuple[str, ...] = ()) -> list[Speaker]:
    """`count` speakers; with `flite` voices, every FLITE_EVERY-th is one of them (without, the same espeak speakers
    as ever for a seed)."""
    speakers: dict[str, Speaker] = {}
    while len(speakers) < count:
        if flite and len(speakers) % FLITE_EVERY == FLITE_EVERY - 1:
            voice, variant = f"flite:{flite[rng.integers(len(flite))]}", ""
        else:
            voice, variant = VOICES[rng.integers(len(VOICES))], VARIANTS[rng.integers(len(VARIANTS))]
        speaker = Speaker(
            voice=voice,
            variant=variant,
            speed=int(rng.integers(120, 200)),
            pitch=int(rng.integers(20, 80)),
            amplitude=int(rng.integers(50, 130)),
        )
        speakers.setdefault(speaker.id, speaker)
    return list(speakers.values())


def synthesize(binary: str, speaker: Speaker, word: str, repetition: int) -> tuple[np.ndarray, int]:
    """One utterance as float32 samples; later repetitions are a little faster and higher, like a real person.
    `binary`: espeak-ng's (a flite speaker runs flite)."""
    if speaker.flite_voice is not None:
        return _flite(speaker, speaker.flite_voice, word, repetition)
    cmd = [
        binary,
        "-v",
        f"{speaker.voice}{speaker.variant}",
        "-s",
        str(speaker.speed + 6 * repetition),
        "-p",
        str(min(99, speaker.pitch + 3 * repetition)),
        "-a",
        str(speaker.amplitude),
        "--stdout",
        word,
    ]
    result = subprocess.run(cmd, capture_output=True, timeout=60)
    if result.returncode != 0 or not result.stdout:
        raise KwtuiError(f"espeak-ng failed for {word!r} ({' '.join(cmd[1:-1])}): {result.stderr.decode()[:200]}")
    data, rate = sf.read(io.BytesIO(result.stdout), dtype="float32")
    return (data if data.ndim == 1 else data.mean(axis=1)), int(rate)


def _flite(speaker: Speaker, voice: str, text: str, repetition: int) -> tuple[np.ndarray, int]:
    """`text` said by a flite voice at the speaker's speed (as espeak's words per minute), pitch (0-99: 0.8-1.2
    times the voice's own) and loudness (espeak's amplitude, 100 = as made), at ESPEAK_RATE like every clip."""
    from kwtui.core.data.audio import resample

    binary = shutil.which("flite")
    if not binary:
        raise UserError(f"flite: not found for speaker {speaker.voice}; install it: apt-get install flite")
    stretch = 175 / (speaker.speed + 6 * repetition)
    f0 = FLITE_VOICES[voice] * (0.8 + 0.4 * min(99, speaker.pitch + 3 * repetition) / 99)
    with tempfile.TemporaryDirectory(prefix="kwtui-flite-") as folder:  # flite writes a wav only to a file
        target = Path(folder) / "say.wav"
        cmd = [binary, "-voice", voice, "--setf", f"duration_stretch={stretch:.3f}"]
        cmd += ["--setf", f"int_f0_target_mean={f0:.0f}", "-t", text, "-o", str(target)]
        result = subprocess.run(cmd, capture_output=True, timeout=60)
        if result.returncode != 0 or not target.exists():
            raise KwtuiError(f"flite failed for {text!r} ({voice}): {result.stderr.decode()[:200]}")
        data, rate = sf.read(target, dtype="float32")
    data = data if data.ndim == 1 else data.mean(axis=1)
    audio = resample(data * (speaker.amplitude / 100), int(rate), ESPEAK_RATE)
    return np.clip(audio, -1.0, 1.0).astype(np.float32), ESPEAK_RATE


def place_in_clip(speech: np.ndarray, rate: int, rng: np.random.Generator) -> np.ndarray:
    """Trim espeak's silence, put the word at a random offset in a 1 s clip, add a faint noise floor."""
    n = rate  # 1 s
    loud = np.flatnonzero(np.abs(speech) > 0.01)
    if loud.size:
        speech = speech[max(0, loud[0] - rate // 50) : loud[-1] + rate // 50]
    speech = speech[:n]
    start = int(rng.integers(0, n - len(speech) + 1))
    clip = np.zeros(n, dtype=np.float32)
    clip[start : start + len(speech)] = speech
    clip += rng.normal(0.0, 10 ** rng.uniform(-4, -3), n).astype(np.float32)
    return np.clip(clip, -1.0, 1.0)


def make_noise(kind: str, seconds: float, rate: int, rng: np.random.Generator) -> np.ndarray:
    n = int(seconds * rate)
    if kind == "hum":
        t = np.arange(n) / rate
        x = np.sin(2 * np.pi * 100 * t) + 0.3 * np.sin(2 * np.pi * 200 * t) + 0.1 * np.sin(2 * np.pi * 300 * t)
        x = x + 0.02 * rng.standard_normal(n)
    else:
        white = rng.standard_normal(n)
        if kind == "white":
            x = white
        else:  # shape the spectrum: pink 1/f power, brown 1/f^2
            spectrum = np.fft.rfft(white)
            f = np.fft.rfftfreq(n, 1 / rate)
            f[0] = f[1]
            spectrum /= np.sqrt(f) if kind == "pink" else f
            x = np.fft.irfft(spectrum, n)
    x = x - x.mean()
    return np.asarray(0.5 * x / np.abs(x).max(), dtype=np.float32)


# Words that sound like a Speech Commands word (and the demo's): a sentence saying one says that word.
HOMOPHONES = {
    "no": ("know", "knows"),
    "right": ("write", "writes", "rite", "wright"),
    "two": ("to", "too"),
    "four": ("for", "fore"),
    "eight": ("ate",),
    "one": ("won",),
    "up": (),
    "off": (),
    "on": (),
}


def sounding_like(words: set[str] | list[str]) -> set[str]:
    """`words` (lower case) and their homophones."""
    lowered = {w.lower() for w in words}
    return lowered | {h for w in lowered for h in HOMOPHONES.get(w, ())}


def sentences_without(words: list[str]) -> list[str]:
    """The sentences that say none of the dataset's words nor their homophones (they would be negatives that
    say a keyword)."""
    banned = sounding_like(words)
    return [s for s in SENTENCES if not banned & set(s.lower().split())]


def generated_sentence(rng: np.random.Generator, banned: set[str]) -> str:
    """A sentence from TEMPLATES; a word holding one of `banned` (the dataset's words) is never chosen."""
    template = TEMPLATES[int(rng.integers(len(TEMPLATES)))]
    out = template
    while "{" in out:
        slot = out[out.index("{") + 1 : out.index("}")]
        options = [w for w in WORDS[slot] if not sounding_like(banned) & set(w.lower().split())]
        out = out.replace("{" + slot + "}", options[int(rng.integers(len(options)))], 1)
    return out


def running_speech(
    binary: str, sentences: list[str], speakers: list[Speaker], rng: np.random.Generator, banned: set[str] | None = None
) -> tuple[np.ndarray, int]:
    """Two talkers taking turns, SENTENCES_PER_FILE sentences (half of them from TEMPLATES) with short pauses,
    and a faint noise floor."""
    pair = [speakers[int(i)] for i in rng.choice(len(speakers), size=2, replace=len(speakers) < 2)]
    parts = []
    rate = ESPEAK_RATE
    for i in range(SENTENCES_PER_FILE):
        if banned is not None and rng.random() < 0.5:
            sentence = generated_sentence(rng, banned)
        else:
            sentence = sentences[int(rng.integers(len(sentences)))]
        speech, rate = synthesize(binary, pair[i % 2], sentence, 0)
        parts += [speech, np.zeros(int(rng.uniform(0.2, 0.8) * rate), np.float32)]
    audio = np.concatenate(parts) if parts else np.zeros(rate, np.float32)
    audio = audio + rng.normal(0.0, 10 ** rng.uniform(-4, -3), len(audio)).astype(np.float32)
    return np.clip(audio, -1.0, 1.0).astype(np.float32), rate


def write_wav(path: Path, samples: np.ndarray, rate: int) -> None:
    with writer.temp_for(path) as tmp:
        sf.write(os.fsencode(tmp), samples, rate, subtype="PCM_16", format="WAV")


class _ClipTask(NamedTuple):
    """One keyword clip to synthesize: `speaker` says `word` (its `repetition`-th time), placed by `clip_seed`."""

    word: str
    speaker: Speaker
    repetition: int
    clip_seed: int


@dataclass
class _FileCount:
    """The files written so far, reported (with the rate since `started`) after each one."""

    report: Reporter
    total: int
    started: float
    done: int = 0

    def add_one(self) -> None:
        self.done += 1
        rate = self.done / max(1e-9, time.monotonic() - self.started)
        self.report(Progress(STAGE, self.done, self.total, rate=rate, unit="files"))


def make_demo_dataset(
    out_dir: str | Path,
    words: list[str] | tuple[str, ...] | None = None,
    per_word: int = 40,
    seed: int = 0,
    report: Reporter = ignore,
    cancel: CancelToken | None = None,
    noise_seconds: float | None = None,
    workers: int | None = None,
) -> dict[str, Any]:
    """Write the dataset; returns a summary. `noise_seconds` overrides each noise file's length (tests)."""
    cancel = cancel or CancelToken()
    binary = espeak_binary()
    words = _usable_words(words, per_word)
    out = ownership.claim(Path(out_dir), "demo-data folder")
    started = time.monotonic()
    rng = np.random.default_rng(seed)

    n_speakers = max(6, -(-per_word // CLIPS_PER_SPEAKER_WORD))
    speakers = make_speakers(n_speakers, rng, flite_voices())
    by_flite = sum(s.flite_voice is not None for s in speakers)
    tasks = _clip_tasks(words, per_word, speakers, rng)
    sentences = sentences_without(words)
    running_files = SPEECH_FILES if sentences else 0
    total = len(tasks) + len(NOISE_FILES) + running_files
    report(Started(STAGE, total=total, unit="files", message=f"{len(words)} words x {per_word} clips -> {out}"))

    count = _FileCount(report, total, started)
    _remove_clips_of_an_earlier_demo(out, {_clip_path(task) for task in tasks})
    # listed before they are written: a run stopped half-way leaves no clip of its own unlisted
    writer.write_text(out / CLIP_LIST, "".join(f"{rel}\n" for rel in sorted(_clip_path(task) for task in tasks)))
    _write_clips(binary, out, tasks, workers, cancel, count)
    _write_noise(out, seed, noise_seconds, cancel, count)
    _write_running_speech(binary, out, sentences, speakers, seed, words, cancel, count)
    _write_split_lists(out, speakers, tasks, seed)
    writer.write_text(
        out / "README.txt",
        f"Synthetic Speech-Commands-shaped dataset made by `kwtui demo-data` with espeak-ng"
        f"{' and flite' if by_flite else ''}.\n"
        "Not real speech: good for demos and tests, not for a model you deploy.\n"
        f"words: {', '.join(words)}; clips per word: {per_word}; speakers: {len(speakers)} "
        f"(flite {by_flite}); seed: {seed}\n",
    )
    summary = {
        "path": str(out),
        "words": len(words),
        "clips": len(tasks),
        "speakers": len(speakers),
        "flite_speakers": by_flite,
        "noise_files": len(NOISE_FILES),
        "running_speech_files": running_files,
        "seconds": round(time.monotonic() - started, 2),
    }
    report(Finished(STAGE, summary))
    return summary


def _usable_words(words: list[str] | tuple[str, ...] | None, per_word: int) -> list[str]:
    """The words (DEFAULT_WORDS when none are given); raises UserError for a word or count that cannot be used."""
    words = list(words or DEFAULT_WORDS)
    bad = [w for w in words if not w or w.startswith("_") or "/" in w or w != w.strip()]
    if bad:
        raise UserError(f"--words: {bad[0]!r} is not a usable word (no '/', no leading '_')")
    if per_word < 1:
        raise UserError(f"--per-word: must be at least 1, got {per_word}")
    return words


def _clip_tasks(words: list[str], per_word: int, speakers: list[Speaker], rng: np.random.Generator) -> list[_ClipTask]:
    """Each word: per_word clips, spread over the speakers (speaker k says it CLIPS_PER_SPEAKER_WORD times)."""
    tasks: list[_ClipTask] = []
    for w_index, word in enumerate(words):
        for i in range(per_word):
            speaker = speakers[(i + w_index) % len(speakers)]
            repetition = i // len(speakers)
            tasks.append(_ClipTask(word, speaker, repetition, int(rng.integers(2**31))))
    return tasks


def _clip_path(task: _ClipTask) -> str:
    return f"{task.word}/{task.speaker.id}_nohash_{task.repetition}.wav"


def _remove_clips_of_an_earlier_demo(out: Path, keep: set[str]) -> None:
    """Demo data made again into its folder with other words or counts: the clips the earlier run listed and this
    one does not make are removed (they stayed, and the dataset held both runs' clips); files it did not list, a
    user's own clips among them, stay."""
    try:
        earlier = (out / CLIP_LIST).read_text(encoding="utf-8").splitlines()
    except OSError:
        return
    for rel in sorted(set(earlier) - keep):
        path = out / rel
        if rel and not rel.startswith(("/", "..")) and path.is_file():
            path.unlink()
            with contextlib.suppress(OSError):
                path.parent.rmdir()  # only when empty: a word this run no longer makes


def _write_clip(binary: str, out: Path, task: _ClipTask) -> str:
    """Synthesize and write one keyword clip; returns its path relative to `out`."""
    word, speaker, repetition, clip_seed = task
    speech, rate = synthesize(binary, speaker, word, repetition)
    clip = place_in_clip(speech, rate, np.random.default_rng(clip_seed))
    (out / word).mkdir(exist_ok=True)
    rel = _clip_path(task)
    write_wav(out / rel, clip, rate)
    return rel


def _write_clips(
    binary: str, out: Path, tasks: list[_ClipTask], workers: int | None, cancel: CancelToken, count: _FileCount
) -> None:
    """The keyword clips, on a few threads (espeak runs as a subprocess); on a cancel the clips not started are
    dropped."""
    pool_size = workers or min(4, (os.cpu_count() or 1) + 1)
    with ThreadPoolExecutor(max_workers=pool_size) as pool:
        futures = [pool.submit(_write_clip, binary, out, t) for t in tasks]
        try:
            for future in futures:
                cancel.raise_if_cancelled()
                future.result()
                count.add_one()
        finally:
            for future in futures:
                future.cancel()


def _write_noise(out: Path, seed: int, noise_seconds: float | None, cancel: CancelToken, count: _FileCount) -> None:
    """The NOISE_FILES into _background_noise_."""
    noise_dir = out / "_background_noise_"
    noise_dir.mkdir(exist_ok=True)
    for name, seconds, rate, kind in NOISE_FILES:
        cancel.raise_if_cancelled()
        noise = make_noise(kind, noise_seconds or seconds, rate, np.random.default_rng([seed, len(name)]))
        write_wav(noise_dir / name, noise, rate)
        count.add_one()


def _write_running_speech(
    binary: str,
    out: Path,
    sentences: list[str],
    speakers: list[Speaker],
    seed: int,
    words: list[str],
    cancel: CancelToken,
    count: _FileCount,
) -> None:
    """SPEECH_FILES conversations into _running_speech_ (none when every sentence says one of the words)."""
    speech_dir = out / "_running_speech_"
    speech_dir.mkdir(exist_ok=True)
    for k in range(SPEECH_FILES if sentences else 0):
        cancel.raise_if_cancelled()
        audio, rate = running_speech(
            binary, sentences, speakers, np.random.default_rng([seed, 7, k]), {w.lower() for w in words}
        )
        write_wav(speech_dir / f"conversation_{k}.wav", audio, rate)
        count.add_one()


def held_out_speakers(speakers: list[Speaker], seed: int) -> tuple[set[str], set[str]]:
    """(validation, testing) speaker ids: ~10 % of the timbres each, at least one, with every speaker of a timbre.
    Held out by speaker id alone, a test "speaker" was a training voice and variant at another speed and pitch: the
    evaluation then measured voices the model had learnt, not other voices (a leaky split)."""
    timbres = sorted({s.timbre for s in speakers})
    order = [timbres[i] for i in np.random.default_rng(seed + 1).permutation(len(timbres))]
    n_holdout = max(1, round(0.1 * len(order)))
    validation, testing = set(order[:n_holdout]), set(order[n_holdout : 2 * n_holdout])
    return {s.id for s in speakers if s.timbre in validation}, {s.id for s in speakers if s.timbre in testing}


def _write_split_lists(out: Path, speakers: list[Speaker], tasks: list[_ClipTask], seed: int) -> None:
    """validation_list.txt and testing_list.txt, split by timbre (`held_out_speakers`)."""
    validation, testing = held_out_speakers(speakers, seed)
    clips = sorted(f"{word}/{speaker.id}_nohash_{rep}.wav" for word, speaker, rep, _ in tasks)
    lists = {"validation_list.txt": validation, "testing_list.txt": testing}
    for list_name, members in lists.items():
        lines = [c for c in clips if c.split("/")[1].split("_nohash_")[0] in members]
        writer.write_text(out / list_name, "".join(line + "\n" for line in lines))
