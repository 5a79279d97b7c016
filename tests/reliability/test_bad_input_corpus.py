"""The bad-input corpus: every kind of input a real user hands kwtui, generated at test time, each run through
`scan`, `features`, `run` and `flash --dry-run` with its expected exit code and message. One table, two halves:

- DATASET_KINDS live together in one messy dataset (each a file, folder or split-list entry of it): the dataset as a
  whole is usable, so every command exits 0, and each kind is *used* (a feature file in the manifests), *skipped*
  with its reason (features.json and a warning; scan lists it), or *ignored* (not audio, not a clip).
- REFUSED_KINDS each make one command line or preset that cannot work: exit 2 with one `error:` line naming the
  file, field or argument (or "n/a" where a command does not take that input).

For every run: no traceback, no "internal error", no hang (each command runs under a timeout). File permissions
apply even as root (no_dac_prefix).
"""

from __future__ import annotations

import csv
import json
import os
import socket
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import soundfile
import tomli_w

from kwtui.core.data.micro_frontend import SHAPE as FEATURE_SHAPE  # the default frontend's
from tests.helpers.corpus import clip_name, kwtui, no_dac_prefix, noise, speech_clip, write_wav

COMMANDS = ("scan", "features", "run", "flash")
TIMEOUT = 600

# --- the messy dataset ------------------------------------------------------------------------------------------


@dataclass
class DatasetKind:
    kind: str
    category: str
    rel: bytes  # path inside the dataset (bytes: names need not be UTF-8)
    outcome: str  # "used" | "skipped" | "either" | "ignored" | "validation" (a split-list entry that must match)
    reason: tuple[str, ...] = ()  # words one of which the skip reason contains
    make: Callable[[Path], None] | None = None
    header_tells: bool = True  # scan reads headers only: it lists a skipped kind only when the header tells


def _yes(variant: int, rate: int = 16000, seconds: float = 1.0) -> np.ndarray:
    return speech_clip("yes", 30 + variant, rate, seconds)


def _wav(rel: str, x_fn: Callable[[], np.ndarray], rate: int = 16000, subtype: str = "PCM_16"):
    def make(root: Path) -> None:
        write_wav(root / rel, x_fn(), rate, subtype)

    return make


def _raw(rel: bytes, data: bytes):
    def make(root: Path) -> None:
        path = os.path.join(os.fsencode(root), rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(data)

    return make


def _wav_bytes(x: np.ndarray, rate: int = 16000, subtype: str = "PCM_16", fmt: str = "WAV") -> bytes:
    import io

    buffer = io.BytesIO()
    soundfile.write(buffer, x, rate, subtype=subtype, format=fmt)
    return buffer.getvalue()


def _lying_header(rate: int) -> bytes:
    data = bytearray(_wav_bytes(_yes(40)))
    data[24:28] = rate.to_bytes(4, "little")  # fmt chunk: sample rate
    data[28:32] = (rate * 2).to_bytes(4, "little")  # byte rate
    return bytes(data)


def _huge_floats() -> bytes:
    x = _yes(41).astype(np.float32) * np.float32(1e30)
    return _wav_bytes(x, subtype="FLOAT")


def _nan_floats() -> bytes:
    x = _yes(42).astype(np.float32)
    x[::7] = np.nan
    return _wav_bytes(x, subtype="FLOAT")


def _special(rel: str, kind: str):
    def make(root: Path) -> None:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if kind == "fifo":
            os.mkfifo(path)
        elif kind == "socket":
            server = socket.socket(socket.AF_UNIX)
            server.bind(str(path))
            server.close()
        elif kind == "dir":
            path.mkdir()
            write_wav(path / "inner.wav", _yes(43))
        elif kind == "device":
            os.symlink("/dev/zero", path)
        elif kind == "dangling":
            os.symlink("nowhere.wav", path)
        elif kind == "loop":
            os.symlink(path.name + ".b", path)
            os.symlink(path.name, str(path) + ".b")
        elif kind == "unreadable":
            write_wav(path, _yes(44))
            path.chmod(0)
        elif kind == "unreadable_dir":
            path.mkdir()
            write_wav(path / clip_name("blocked", 0), speech_clip("blocked", 0))
            path.chmod(0)
        elif kind == "word_link":
            os.symlink("no", path)  # a keyword folder that is another word's audio under a second name
        elif kind == "up_loop":
            os.symlink("..", path)

    return make


DATASET_KINDS: list[DatasetKind] = [
    # audio: formats and rates that are converted, not refused
    DatasetKind(
        "pcm_u8", "audio", b"yes/fmt_u8.wav", "used", make=_wav("yes/fmt_u8.wav", lambda: _yes(0), subtype="PCM_U8")
    ),
    DatasetKind(
        "pcm_24", "audio", b"yes/fmt_24.wav", "used", make=_wav("yes/fmt_24.wav", lambda: _yes(1), subtype="PCM_24")
    ),
    DatasetKind(
        "pcm_32", "audio", b"yes/fmt_32.wav", "used", make=_wav("yes/fmt_32.wav", lambda: _yes(2), subtype="PCM_32")
    ),
    DatasetKind(
        "float32", "audio", b"yes/fmt_f32.wav", "used", make=_wav("yes/fmt_f32.wav", lambda: _yes(3), subtype="FLOAT")
    ),
    DatasetKind(
        "float64", "audio", b"yes/fmt_f64.wav", "used", make=_wav("yes/fmt_f64.wav", lambda: _yes(4), subtype="DOUBLE")
    ),
    DatasetKind(
        "stereo",
        "audio",
        b"yes/stereo.wav",
        "used",
        make=_wav("yes/stereo.wav", lambda: np.stack([_yes(5), 0.5 * _yes(5)], axis=1)),
    ),
    DatasetKind(
        "six_channels",
        "audio",
        b"yes/six_ch.wav",
        "used",
        make=_wav("yes/six_ch.wav", lambda: np.repeat(_yes(6)[:, None], 6, axis=1) / 2),
    ),
    *[
        DatasetKind(
            f"rate_{rate}",
            "audio",
            f"yes/rate_{rate}.wav".encode(),
            "used",
            make=_wav(f"yes/rate_{rate}.wav", lambda rate=rate: _yes(7, rate), rate),
        )
        for rate in (8000, 11025, 22050, 44100, 48000, 96000)
    ],
    DatasetKind(
        "short_0.1s",
        "audio",
        b"no/short.wav",
        "used",
        make=_wav("no/short.wav", lambda: speech_clip("no", 30, seconds=0.1)),
    ),
    DatasetKind(
        "long_3s",
        "audio",
        b"no/long.wav",
        "used",
        make=_wav(
            "no/long.wav",
            lambda: np.concatenate([noise(1, 7, volume=0.01), speech_clip("no", 31), noise(1, 8, volume=0.01)]),
        ),
    ),
    DatasetKind(
        "minute_long",
        "audio",
        b"no/minute.wav",
        "used",
        make=_wav("no/minute.wav", lambda: np.concatenate([noise(59, 9, volume=0.01), speech_clip("no", 32)])),
    ),
    DatasetKind(
        "full_scale_clipping",
        "audio",
        b"yes/clipped.wav",
        "used",
        make=_wav("yes/clipped.wav", lambda: np.clip(_yes(8) * 50, -1, 1)),
    ),
    DatasetKind("dc_offset", "audio", b"yes/dc.wav", "used", make=_wav("yes/dc.wav", lambda: 0.5 + 0.4 * _yes(9))),
    DatasetKind(
        "silent",
        "audio",
        b"no/silent.wav",
        "either",
        ("silent", "silence"),
        make=_wav("no/silent.wav", lambda: np.zeros(16000, np.float32)),
    ),
    DatasetKind(
        "flac_named_wav",
        "audio",
        b"yes/flac_inside.wav",
        "used",
        make=_raw(b"yes/flac_inside.wav", _wav_bytes(_yes(10), fmt="FLAC")),
    ),
    DatasetKind(
        "upper_case_extension",
        "audio",
        b"yes/LOUD.WAV",
        "either",
        ("extension", "wav"),
        make=_raw(b"yes/LOUD.WAV", _wav_bytes(_yes(11))),
    ),
    # audio: broken or impossible, skipped with the reason
    DatasetKind(
        "empty_file",
        "audio",
        b"yes/empty.wav",
        "skipped",
        ("empty", "readable", "samples"),
        make=_raw(b"yes/empty.wav", b""),
    ),
    DatasetKind(
        "header_only",
        "audio",
        b"no/header_only.wav",
        "skipped",
        ("empty", "samples", "short"),
        make=_wav("no/header_only.wav", lambda: np.zeros(0, np.float32)),
    ),
    DatasetKind(
        "text_named_wav",
        "audio",
        b"yes/text.wav",
        "skipped",
        ("readable", "audio", "format"),
        make=_raw(b"yes/text.wav", b"not a wav at all\n" * 40),
    ),
    DatasetKind(
        "truncated_header",
        "audio",
        b"yes/trunc_head.wav",
        "skipped",
        ("readable", "header", "truncated", "empty"),
        make=_raw(b"yes/trunc_head.wav", _wav_bytes(_yes(12))[:30]),
    ),
    DatasetKind(
        "truncated_data",
        "audio",
        b"no/trunc_data.wav",
        "either",
        ("truncated", "short", "readable"),
        make=_raw(b"no/trunc_data.wav", _wav_bytes(speech_clip("no", 33))[:16044]),
    ),
    DatasetKind(
        "header_says_1_hz",
        "audio",
        b"yes/lying_1hz.wav",
        "skipped",
        ("sample rate",),
        make=_raw(b"yes/lying_1hz.wav", _lying_header(1)),
    ),
    DatasetKind(
        "header_says_3_khz",
        "audio",
        b"yes/lying_3k.wav",
        "skipped",
        ("sample rate",),
        make=_raw(b"yes/lying_3k.wav", _lying_header(3000)),
    ),
    DatasetKind(
        "header_says_1_mhz",
        "audio",
        b"yes/lying_1m.wav",
        "skipped",
        ("sample rate",),
        make=_raw(b"yes/lying_1m.wav", _lying_header(1_000_000)),
    ),
    DatasetKind(
        "huge_float_samples",
        "audio",
        b"yes/huge.wav",
        "either",
        ("finite", "range", "sample", "loud"),
        make=_raw(b"yes/huge.wav", _huge_floats()),
    ),
    DatasetKind(
        "nan_samples",
        "audio",
        b"yes/nan.wav",
        "skipped",
        ("finite", "nan", "sample"),
        make=_raw(b"yes/nan.wav", _nan_floats()),
        header_tells=False,
    ),
    # names
    DatasetKind(
        "space_in_name", "names", b"yes/with space.wav", "used", make=_wav("yes/with space.wav", lambda: _yes(13))
    ),
    DatasetKind(
        "utf8_name",
        "names",
        "no/ñandú 語.wav".encode(),
        "used",
        make=_wav("no/ñandú 語.wav", lambda: speech_clip("no", 34)),
    ),
    DatasetKind(
        "latin1_name", "names", b"yes/caf\xe9.wav", "used", make=_raw(b"yes/caf\xe9.wav", _wav_bytes(_yes(14)))
    ),
    DatasetKind(
        "latin1_name_flac_inside",
        "names",
        b"yes/caf\xe9_flac.wav",
        "used",
        make=_raw(b"yes/caf\xe9_flac.wav", _wav_bytes(_yes(18), fmt="FLAC")),
    ),  # read by libsndfile, not RIFF
    DatasetKind(
        "name_of_255_bytes",
        "names",
        b"no/" + b"n" * 251 + b".wav",
        "used",
        make=_raw(b"no/" + b"n" * 251 + b".wav", _wav_bytes(speech_clip("no", 35))),
    ),
    DatasetKind(
        "carriage_return_in_name",
        "names",
        b"yes/odd\rname.wav",
        "used",
        make=_raw(b"yes/odd\rname.wav", _wav_bytes(_yes(15))),
    ),
    DatasetKind(
        "newline_in_name",
        "names",
        b"yes/two\nlines.wav",
        "used",
        make=_raw(b"yes/two\nlines.wav", _wav_bytes(_yes(16))),
    ),
    DatasetKind(
        "comma_and_quote_in_name",
        "names",
        b'no/a,"b".wav',
        "used",
        make=_raw(b'no/a,"b".wav', _wav_bytes(speech_clip("no", 36))),
    ),
    DatasetKind(
        "backslash_in_name",
        "names",
        b"no/back\\slash.wav",
        "used",
        make=_raw(b"no/back\\slash.wav", _wav_bytes(speech_clip("no", 37))),
    ),
    DatasetKind("leading_dash", "names", b"yes/-dash.wav", "used", make=_raw(b"yes/-dash.wav", _wav_bytes(_yes(17)))),
    DatasetKind(
        "unknown_word_with_odd_name",
        "names",
        "straße café/clip one.wav".encode(),
        "used",
        make=_wav("straße café/clip one.wav", lambda: speech_clip("street", 0)),
    ),
    DatasetKind("stray_text_file", "names", b"yes/README.txt", "ignored", make=_raw(b"yes/README.txt", b"notes")),
    DatasetKind("ds_store", "names", b"no/.DS_Store", "ignored", make=_raw(b"no/.DS_Store", b"\0\0\1")),
    # special files
    DatasetKind(
        "fifo_named_wav",
        "special",
        b"yes/fifo.wav",
        "skipped",
        ("regular", "fifo", "not a file"),
        make=_special("yes/fifo.wav", "fifo"),
    ),
    DatasetKind(
        "socket_named_wav",
        "special",
        b"no/sock.wav",
        "skipped",
        ("regular", "socket", "not a file"),
        make=_special("no/sock.wav", "socket"),
    ),
    DatasetKind(
        "device_link_named_wav",
        "special",
        b"yes/zero.wav",
        "skipped",
        ("regular", "device", "not a file"),
        make=_special("yes/zero.wav", "device"),
    ),
    DatasetKind(
        "folder_named_wav",
        "special",
        b"yes/folder.wav",
        "skipped",
        ("regular", "folder", "directory", "not a file"),
        make=_special("yes/folder.wav", "dir"),
    ),
    DatasetKind(
        "dangling_symlink",
        "special",
        b"no/dangling.wav",
        "skipped",
        ("link", "no such file", "readable"),
        make=_special("no/dangling.wav", "dangling"),
    ),
    DatasetKind(
        "symlink_loop",
        "special",
        b"yes/loop.wav",
        "skipped",
        ("link", "loop", "readable"),
        make=_special("yes/loop.wav", "loop"),
    ),
    DatasetKind(
        "unreadable_file",
        "special",
        b"no/unreadable.wav",
        "skipped",
        ("permission", "readable", "denied"),
        make=_special("no/unreadable.wav", "unreadable"),
    ),
    DatasetKind(
        "unreadable_word_folder",
        "special",
        b"blocked",
        "skipped",
        ("permission", "readable", "denied"),
        make=_special("blocked", "unreadable_dir"),
    ),
    DatasetKind(
        "keyword_folder_linking_another_word",
        "special",
        b"yes_alias",
        "skipped",
        ("link", "alias", "same"),
        make=_special("yes_alias", "word_link"),
    ),
    DatasetKind("directory_link_up", "special", b"yes/up", "ignored", make=_special("yes/up", "up_loop")),
    DatasetKind(
        "empty_word_folder", "special", b"empty_word", "ignored", make=lambda root: (root / "empty_word").mkdir()
    ),
    # split lists (validation_list.txt: one entry per spelling; written by _write_split_lists)
    DatasetKind("list_entry_dot_slash", "split lists", b"yes/" + clip_name("yes", 1).encode(), "validation"),
    DatasetKind("list_entry_absolute_path", "split lists", b"no/" + clip_name("no", 1).encode(), "validation"),
    DatasetKind("list_entry_backslashes", "split lists", b"yes/" + clip_name("yes", 2).encode(), "validation"),
    DatasetKind("list_with_bom_and_crlf", "split lists", b"no/" + clip_name("no", 2).encode(), "validation"),
    DatasetKind("list_entry_naming_nothing", "split lists", b"yes/does_not_exist.wav", "unmatched"),
]


def _write_split_lists(root: Path) -> None:
    entries = [
        "./yes/" + clip_name("yes", 1),
        str(root / "no" / clip_name("no", 1)),
        "yes\\" + clip_name("yes", 2),
        "yes/does_not_exist.wav",
    ]
    (root / "validation_list.txt").write_bytes(
        ("\ufeff" + "no/" + clip_name("no", 2) + "\r\n").encode() + "".join(e + "\n" for e in entries).encode()
    )
    (root / "testing_list.txt").write_text(
        "".join(f"{w}/{clip_name(w, i)}\n" for w in ("yes", "no", "cat") for i in (3, 4))
    )


def make_every_kind_dataset(root: Path) -> Path:
    for word, count in {"yes": 10, "no": 10, "cat": 6}.items():
        for i in range(count):
            write_wav(root / word / clip_name(word, i), speech_clip(word, i))
    (root / "_background_noise_").mkdir()
    write_wav(root / "_background_noise_/hum.wav", noise(6.0, 3))
    for kind in DATASET_KINDS:
        if kind.make is not None:
            kind.make(root)
    _write_split_lists(root)
    return root


def _preset(folder: Path, dataset: Path, run_dir: Path, **sections) -> Path:
    data = {
        "name": "corpus",
        "run_dir": str(run_dir),
        "dataset": {"path": str(dataset)},
        "classes": {"keywords": ["yes", "no"], "unknown_ratio": 1.0},
        "features": {"variants": 0, "workers": 2},
        "train": {"epochs": 1, "batch_size": 16},
        "convert": {"representative_samples": 20},
    }
    for key, value in sections.items():
        data.setdefault(key, {}).update(value)
    path = folder / "corpus.toml"
    path.write_text(tomli_w.dumps(data))
    return path


def _clean(result) -> None:
    for text in (result.stderr, result.stdout):
        assert "Traceback" not in text and "internal error" not in text, text[-3000:]


def _events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


@dataclass
class CorpusRun:
    root: Path
    results: dict[str, object] = field(default_factory=dict)
    skipped: dict[str, dict[bytes, str]] = field(default_factory=dict)  # command -> path -> reason
    made: dict[str, dict[bytes, str]] = field(default_factory=dict)  # command -> clip path (no .wav) -> split
    scan_problems: set[bytes] = field(default_factory=set)


def _store(run_dir: Path) -> tuple[dict[bytes, str], dict[bytes, str]]:
    features = run_dir / "features"
    made: dict[bytes, str] = {}
    for split in ("train", "validation", "test"):
        with (features / f"{split}.csv").open(newline="", encoding="utf-8", errors="surrogateescape") as handle:
            for row in csv.DictReader(handle):
                made[os.fsencode(row["path"].split("__v")[0].removesuffix(".npy"))] = split
    info = json.loads((features / "features.json").read_text(encoding="utf-8"))
    skipped = {os.fsencode(item["path"]): item["reason"] for item in info["skipped"]}
    return made, skipped


@pytest.fixture(scope="module")
def corpus_run(tmp_path_factory) -> CorpusRun:
    """The messy dataset through all four commands, once."""
    base = tmp_path_factory.mktemp("corpus")
    root = make_every_kind_dataset(base / "every kind ü")
    state = CorpusRun(root)
    prefix = no_dac_prefix()
    try:
        scan = kwtui("scan", root, "--json", prefix=prefix, timeout=TIMEOUT)
        state.results["scan"] = scan
        found = [e for e in _events(scan.stdout) if e.get("event") == "result"]
        if found:
            state.scan_problems = {os.fsencode(p["path"]) for p in found[-1]["scan"]["problems"]}
        features_preset = _preset(base, root, base / "features-run")
        state.results["features"] = kwtui("features", features_preset, "--json", prefix=prefix, timeout=TIMEOUT)
        state.made["features"], state.skipped["features"] = _store(base / "features-run")
        (base / "r").mkdir()
        run_preset = _preset(base / "r", root, base / "full-run")
        state.results["run"] = kwtui("run", run_preset, "--json", prefix=prefix, timeout=TIMEOUT)
        state.made["run"], state.skipped["run"] = _store(base / "full-run")
        state.results["flash"] = kwtui("flash", run_preset, "--dry-run", prefix=prefix, timeout=TIMEOUT)
    finally:
        for kind in DATASET_KINDS:
            path = os.path.join(os.fsencode(root), kind.rel)
            if kind.kind.startswith("unreadable") and os.path.lexists(path):
                os.chmod(path, 0o755)
    return state


def test_every_command_completes_on_the_messy_dataset(corpus_run):
    for command in COMMANDS:
        result = corpus_run.results[command]
        _clean(result)
        assert result.returncode == 0, (command, result.stderr[-3000:])
    flash = corpus_run.results["flash"]
    assert "model_partition.bin" in flash.stdout + flash.stderr
    for run in ("features-run", "full-run"):  # whatever was used became finite features of the right shape
        for path in (corpus_run.root.parent / run / "features").rglob("*.npy"):
            array = np.load(path)
            assert array.shape == FEATURE_SHAPE and np.isfinite(array).all(), path
    assert len(DATASET_KINDS) >= 50


@pytest.mark.parametrize("kind", DATASET_KINDS, ids=lambda k: f"{k.category}:{k.kind}")
def test_each_dataset_kind_is_used_skipped_with_its_reason_or_ignored(corpus_run, kind):
    clip = kind.rel.removesuffix(b".wav").removesuffix(b".WAV")
    for command in ("features", "run"):
        made, skipped = corpus_run.made[command], corpus_run.skipped[command]
        # a name too long for a suffix is stored under a shortened stem that keeps its first 200 bytes
        under = [
            path
            for path in made
            if path == clip or path.startswith(kind.rel + b"/") or (len(clip) > 200 and path.startswith(clip[:200]))
        ]
        if kind.outcome == "used":
            assert under, f"{command}: {kind.rel!r} has no feature file ({skipped.get(kind.rel)})"
        elif kind.outcome == "validation":
            assert made.get(clip) == "validation", f"{command}: {kind.rel!r} landed in {made.get(clip)}"
        elif kind.outcome == "unmatched":
            warned = corpus_run.results[command].stdout
            assert "split-list entries match no clip" in warned
        elif kind.outcome == "ignored":
            assert not under
        else:
            if kind.outcome == "either" and under:
                continue
            assert not under, f"{command}: {kind.rel!r} made a feature file"
            reasons = [r for p, r in skipped.items() if p == kind.rel or p.startswith(kind.rel + b"/")]
            assert reasons, f"{command}: {kind.rel!r} skipped without a reason in features.json"
            assert any(w in reasons[0].lower() for w in kind.reason), (kind.rel, reasons[0])
    if kind.outcome == "skipped" and kind.header_tells:
        assert any(p == kind.rel or p.startswith(kind.rel + b"/") for p in corpus_run.scan_problems), (
            f"scan does not list {kind.rel!r}"
        )


# --- inputs that cannot work: exit 2, one line ----------------------------------------------------------------


NO_MODEL = (2, "no converted model")  # flash reads no dataset: without a converted model that is what it says


@dataclass
class RefusedKind:
    kind: str
    category: str
    # builds the input in a folder, given a good dataset and a preset of a converted run; returns argv per
    # command (None: the command does not take this input)
    setup: Callable[[Path, Path, Path], dict[str, list | None]]
    says: str  # the one error line contains this (exit 2) ...
    other: dict[str, tuple[int, str]] = field(default_factory=dict)  # ... unless a command expects otherwise

    def expected(self, command: str) -> tuple[int, str]:
        return self.other.get(command, (2, self.says))


def _small_dataset(folder: Path) -> Path:
    root = folder / "data"
    if not root.exists():
        for word in ("yes", "no", "cat"):
            for i in range(3):
                write_wav(root / word / clip_name(word, i), speech_clip(word, i))
        (root / "_background_noise_").mkdir()
        write_wav(root / "_background_noise_/hum.wav", noise(3.0, 3))
    return root


def _with_preset(**sections):
    """A preset over a good dataset with these values; scan gets the good dataset (it takes no preset)."""

    def setup(folder: Path, dataset: Path, converted: Path) -> dict[str, list | None]:
        preset = _preset(folder, dataset, folder / "run", **sections)
        return {"scan": None, "features": [preset], "run": [preset], "flash": [preset, "--dry-run"]}

    return setup


def _with_set(*overrides: str):
    def setup(folder: Path, dataset: Path, converted: Path) -> dict[str, list | None]:
        preset = _preset(folder, dataset, folder / "run")
        args = [a for o in overrides for a in ("--set", o)]
        return {
            "scan": None,
            "features": [preset, *args],
            "run": [preset, *args],
            "flash": [preset, "--dry-run", *args],
        }

    return setup


def _with_preset_text(text: str | bytes):
    def setup(folder: Path, dataset: Path, converted: Path) -> dict[str, list | None]:
        path = folder / "raw.toml"
        (path.write_bytes if isinstance(text, bytes) else path.write_text)(
            text if isinstance(text, bytes) else text.replace("{dataset}", str(dataset))
        )
        return {"scan": None, "features": [path], "run": [path], "flash": [path, "--dry-run"]}

    return setup


def _with_dataset(change: Callable[[Path], Path]):
    """A dataset changed so that it cannot be used; every command gets it (scan directly, the others by preset)."""

    def setup(folder: Path, dataset: Path, converted: Path) -> dict[str, list | None]:
        import shutil

        copy = folder / "dataset"
        shutil.copytree(dataset, copy, symlinks=True)
        target = change(copy)
        preset = _preset(folder, target, folder / "run")
        return {"scan": [target], "features": [preset], "run": [preset], "flash": [preset, "--dry-run"]}

    return setup


def _with_flash_args(*args: str):
    """Flash of a converted run with these arguments (the other commands take no port)."""

    def setup(folder: Path, dataset: Path, converted: Path) -> dict[str, list | None]:
        return {"scan": None, "features": None, "run": None, "flash": [converted, *args]}

    return setup


def _with_args(command_args: dict[str, list]):
    def setup(folder: Path, dataset: Path, converted: Path) -> dict[str, list | None]:
        preset = _preset(folder, dataset, folder / "run")
        return {
            c: ([a if a != "{preset}" else preset for a in args] if args is not None else None)
            for c, args in command_args.items()
        }

    return setup


def _make_file(path: Path, data: bytes = b"x") -> Path:
    path.write_bytes(data)
    return path


def _unreadable(path: Path) -> Path:
    path.chmod(0)
    return path


def _non_utf8_list(root: Path) -> Path:
    (root / "validation_list.txt").write_bytes(b"yes/caf\xe9.wav\n")
    return root


def _unreadable_list(root: Path) -> Path:
    (root / "validation_list.txt").write_text("yes/x.wav\n")
    (root / "validation_list.txt").chmod(0)
    return root


def _no_wavs(root: Path) -> Path:
    for wav in root.rglob("*.wav"):
        wav.unlink()
    return root


def _with_partition_table(text: str, encoding: str = "utf-8"):
    """A partition table the preset names: `run` with flashing on checks it before any work, flash when it writes
    (scan and features take no partition table)."""

    def setup(folder: Path, dataset: Path, converted: Path) -> dict[str, list | None]:
        table = folder / "partitions.csv"
        table.write_text("# Name, Type, SubType, Offset, Size\n" + text, encoding=encoding)
        preset = _preset(folder, dataset, folder / "run", flash={"partition_table": str(table), "enabled": True})
        override = ["--set", f"flash.partition_table={table}"]
        return {"scan": None, "features": None, "run": [preset], "flash": [converted, "--dry-run", *override]}

    return setup


def _run_dir_is_a_file(folder: Path, dataset: Path, converted: Path) -> dict[str, list | None]:
    blocker = _make_file(folder / "run_here")
    preset = _preset(folder, dataset, blocker)
    return {"scan": None, "features": [preset], "run": [preset], "flash": [preset, "--dry-run"]}


def _run_dir_read_only(folder: Path, dataset: Path, converted: Path) -> dict[str, list | None]:
    parent = folder / "ro"
    parent.mkdir()
    parent.chmod(0o555)
    preset = _preset(folder, dataset, parent / "run")
    return {"scan": None, "features": [preset], "run": [preset], "flash": [preset, "--dry-run"]}


def _missing_preset(folder: Path, dataset: Path, converted: Path) -> dict[str, list | None]:
    path = folder / "nope.toml"
    return {"scan": None, "features": [path], "run": [path], "flash": [path, "--dry-run"]}


REFUSED_KINDS: list[RefusedKind] = [
    # datasets that cannot be used at all
    RefusedKind(
        "dataset_missing", "dataset", _with_dataset(lambda r: r / "nothing_here"), "nothing_here", {"flash": NO_MODEL}
    ),
    RefusedKind(
        "dataset_is_a_file",
        "dataset",
        _with_dataset(lambda r: _make_file(r / "file.wav")),
        "file.wav",
        {"flash": NO_MODEL},
    ),
    RefusedKind("dataset_unreadable", "dataset", _with_dataset(_unreadable), "dataset", {"flash": NO_MODEL}),
    RefusedKind(
        "split_list_not_utf8", "dataset", _with_dataset(_non_utf8_list), "validation_list.txt", {"flash": NO_MODEL}
    ),
    RefusedKind(
        "split_list_unreadable", "dataset", _with_dataset(_unreadable_list), "validation_list.txt", {"flash": NO_MODEL}
    ),
    # (a word folder named like a manifest, `train.csv/`, is skipped as another word and refused as a keyword:
    # tests/reliability/test_bad_input_kinds.py::test_a_word_folder_named_like_a_manifest_is_an_unknown_word_...)
    RefusedKind(
        "dataset_without_clips",
        "dataset",
        _with_dataset(_no_wavs),
        "dataset",
        {"scan": (0, "0 clips"), "flash": NO_MODEL},
    ),
    # preset values outside their field's domain
    *[
        RefusedKind(
            f"preset_{section}_{key}_{label}", "presets", _with_preset(**{section: {key: value}}), f"{section}.{key}"
        )
        for section, key, value, label in [
            ("classes", "unknown_ratio", float("nan"), "nan"),
            ("classes", "unknown_ratio", -1.0, "negative"),
            ("train", "seed", -5, "negative"),
            ("train", "seed", 2**63 - 1, "int64_max"),
            ("train", "learning_rate", float("nan"), "nan"),
            ("train", "learning_rate", 0.0, "zero"),
            ("train", "epochs", 0, "zero"),
            ("train", "batch_size", 10**9, "huge"),
            ("evaluate", "hop_ms", float("inf"), "inf"),
            ("evaluate", "hop_ms", 1e-9, "tiny"),
            ("evaluate", "refractory_ms", float("nan"), "nan"),
            ("evaluate", "refractory_ms", 1e300, "huge"),
            ("evaluate", "average_window", 2**63 - 1, "int64_max"),
            ("features", "time_shift_ms", float("nan"), "nan"),
            ("features", "time_shift_ms", 1e300, "huge"),
            ("features", "background_stride_s", float("inf"), "inf"),
            ("features", "variants", 10**9, "huge"),
            ("features", "workers", -1, "negative"),
            ("classes", "keywords", [], "empty"),
            ("classes", "keywords", 5, "not_a_list"),
        ]
    ],
    RefusedKind(
        "preset_keyword_not_in_dataset",
        "presets",
        _with_preset(classes={"keywords": ["nosuchword"]}),
        "nosuchword",
        {"flash": NO_MODEL},
    ),
    RefusedKind("preset_unknown_field", "presets", _with_preset(train={"epochz": 3}), "train.epochz"),
    RefusedKind("preset_wrong_type", "presets", _with_preset(train={"epochs": "ten"}), "train.epochs"),
    RefusedKind(
        "preset_nested_5000_levels",
        "presets",
        _with_preset_text("a = " + "[" * 5000 + "]" * 5000 + "\n"),
        "nested too deeply",
    ),
    RefusedKind("preset_not_toml", "presets", _with_preset_text("this is = = not toml\n"), "raw.toml"),
    RefusedKind("preset_not_utf8", "presets", _with_preset_text(b'name = "caf\xe9"\n'), "raw.toml"),
    RefusedKind("preset_missing", "presets", _missing_preset, "nope.toml"),
    RefusedKind("preset_run_dir_is_a_file", "presets", _run_dir_is_a_file, "run_here"),
    RefusedKind("preset_run_dir_read_only", "presets", _run_dir_read_only, "ro"),
    RefusedKind(
        "partition_table_utf16",
        "presets",
        _with_partition_table("model, data, 0x40, 0x2D0000, 1M\n", "utf-16"),
        "partitions.csv",
    ),
    RefusedKind(
        "partition_offset_negative",
        "presets",
        _with_partition_table("model, data, 0x40, 0x-1000, 1M\n"),
        "partitions.csv",
    ),
    RefusedKind(
        "partition_table_without_model",
        "presets",
        _with_partition_table("nvs, data, nvs, 0x9000, 0x6000\n"),
        "partitions.csv",
    ),
    # --set values
    RefusedKind("set_without_equals", "--set", _with_set("train.epochs"), "--set"),
    RefusedKind("set_unknown_key", "--set", _with_set("train.nosuch=1"), "train.nosuch"),
    RefusedKind("set_not_a_number", "--set", _with_set("train.epochs=abc"), "train.epochs"),
    RefusedKind("set_nan", "--set", _with_set("evaluate.hop_ms=nan"), "evaluate.hop_ms"),
    RefusedKind("set_unknown_section", "--set", _with_set("nosection.x=1"), "nosection"),
    RefusedKind(
        "set_dataset_under_missing_home",
        "--set",
        _with_set("dataset.path=~/no_such_speech"),
        "no_such_speech",
        {"flash": NO_MODEL},
    ),
    # command-line arguments
    RefusedKind("flash_port_dev_null", "CLI", _with_flash_args("--port", "/dev/null"), "/dev/null"),
    RefusedKind("flash_port_regular_file", "CLI", _with_flash_args("--port", "/etc/hostname"), "/etc/hostname"),
    RefusedKind("flash_port_loop_url", "CLI", _with_flash_args("--port", "loop://"), "loop://"),
    RefusedKind(
        "unknown_option",
        "CLI",
        _with_args({c: (["{preset}", "--frobnicate"] if c != "scan" else ["x", "--frobnicate"]) for c in COMMANDS}),
        "--frobnicate",
    ),
    RefusedKind("missing_argument", "CLI", _with_args({c: [] for c in COMMANDS}), "Missing argument"),
    RefusedKind(
        "run_from_unknown_stage",
        "CLI",
        _with_args({"scan": None, "features": None, "flash": None, "run": ["{preset}", "--from", "nowhere"]}),
        "nowhere",
    ),
    RefusedKind(
        "scan_a_device",
        "CLI",
        _with_args({"scan": ["/dev/null"], "features": None, "run": None, "flash": None}),
        "/dev/null",
    ),
]


@pytest.fixture(scope="module")
def good_dataset(tmp_path_factory) -> Path:
    return _small_dataset(tmp_path_factory.mktemp("good"))


@pytest.fixture(scope="module")
def converted_preset(corpus_run, tmp_path_factory) -> Path:
    """A preset of the corpus's fully run (converted) run folder."""
    assert corpus_run.results["run"].returncode == 0
    return _preset(tmp_path_factory.mktemp("converted"), corpus_run.root, corpus_run.root.parent / "full-run")


def _restore_permissions(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | stat.S_IRWXU)


@pytest.mark.parametrize("kind", REFUSED_KINDS, ids=lambda k: f"{k.category}:{k.kind}")
def test_each_refused_kind_exits_2_with_one_line_in_every_command(kind, good_dataset, converted_preset, tmp_path):
    argv = kind.setup(tmp_path, good_dataset, converted_preset)
    jobs = {command: args for command, args in argv.items() if args is not None}
    assert jobs, "a kind must reach at least one command"
    try:
        results = {
            command: kwtui(command, *args, prefix=no_dac_prefix(), timeout=120, env={"HOME": str(tmp_path)})
            for command, args in jobs.items()
        }
    finally:
        _restore_permissions(tmp_path)
    for command, result in results.items():
        _clean(result)
        code, says = kind.expected(command)
        assert result.returncode == code, (command, result.returncode, result.stderr[-2000:])
        if code == 0:
            assert says in result.stdout, (command, result.stdout[-2000:])
            continue
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1, (command, result.stderr[-2000:])
        assert says in errors[0], (command, errors[0])


def test_the_corpus_is_large_enough():
    assert len(DATASET_KINDS) + len(REFUSED_KINDS) >= 60
    assert {k.category for k in DATASET_KINDS} == {"audio", "names", "special", "split lists"}
    assert {k.category for k in REFUSED_KINDS} == {"dataset", "presets", "--set", "CLI"}
