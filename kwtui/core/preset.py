"""Presets: every choice of a run, as TOML. Strict: unknown keys and wrong types are errors naming the field.

Relative paths in a preset are resolved against the current working directory when used.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import difflib
import math
import os
import re
import textwrap
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import tomli_w

from kwtui.core.choices import Chip, ClassWeights, Frontend, Model, Output, Quantization
from kwtui.core.errors import UserError
from kwtui.core.io import writer


class PresetError(UserError):
    """A preset problem; the message names the file, the field and (when known) the line."""

    @property
    def field(self) -> str | None:
        """The `section.key` the message starts with ("train.epochs: expected an integer ..."), or None."""
        found = re.match(r"([a-z_]+(?:\.[a-z_]+)+)[: ]", str(self))
        return found.group(1) if found else None


INT32_MAX = 2**31 - 1  # everything that reaches model.h is an int32 there
SEED_MAX = 2**32 - 1


def setting(default: Any, doc: str, lo: float | None = None, hi: float | None = None) -> Any:
    """A field with its documentation (`kwtui presets show` prints it above the key) and, for numbers, its domain
    lo <= value <= hi (checked by `validate`, which names the field). Lists are copied per preset."""
    metadata: dict[str, Any] = {"doc": doc}
    if lo is not None and hi is not None:
        metadata["range"] = (lo, hi)
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass
class DatasetSection:
    path: str = setting("data/demo", "the dataset folder: one sub-folder of clips per word (Speech Commands' layout)")
    validation_list: str = setting(
        "",
        "clips held out for validation; default: <path>/validation_list.txt when it "
        "exists, else a hash split of the speakers",
    )
    testing_list: str = setting("", "clips held out for the test; default: <path>/testing_list.txt when it exists")
    validation_percent: float = setting(10.0, "hash split, used when no lists exist", 0, 100)
    testing_percent: float = setting(10.0, "hash split, used when no lists exist", 0, 100)


@dataclass
class ClassesSection:
    keywords: list[str] = setting(["marvin"], "the words to detect, in the model's output order (model_classes)")
    unknown: bool = setting(True, "every other word folder trains one more class, _unknown")
    background: bool = setting(True, "1 s windows of the noise folders train one more class, _background")
    noise_folders: list[str] = setting(
        ["_background_noise_"],
        "long recordings of noise: dataset sub-folders by name, or any path (~ and $VAR expanded)",
    )
    unknown_ratio: float = setting(1.0, "at most this many _unknown clips per keyword clip (0 = all)", 0, 1000)
    negative_speech: list[str] = setting(
        ["_running_speech_"],
        "long recordings of speech without the keywords, "
        "cut into 1 s negatives like noise (split by time region): dataset "
        "sub-folders by name, or any path",
    )
    synthesize_negative_speech: bool = setting(
        True,
        "when no folder of negative_speech holds usable audio: "
        "synthesize running speech without the dataset's words (espeak-ng) "
        "and train on it, so that the model does not fire on conversation",
    )
    run_on_negatives: bool = setting(
        False,
        "synthesize each keyword run on into longer words (espeak-ng: yes -> yesin, as yesterday begins with yes) "
        "and train on them as negatives, so that the model does not fire on every word that begins with a keyword",
    )
    near_miss_negatives: bool = setting(
        False,
        "also synthesize near misses of each keyword inside sentences "
        "(espeak-ng phoneme edits: marvin -> marvelling, carvin; left -> lift, "
        "lefty) and train on them as negatives",
    )


@dataclass
class FeaturesSection:
    output: str = setting("", "the features folder; default: <run_dir>/features")
    frontend: Frontend = setting(
        "micro",
        "micro: TFLite Micro's audio frontend (noise reduction, PCAN gain control), "
        "what kwtui's firmware and ESPHome's micro_wake_word compute on the chip, for "
        "train.model = stream; spectrogram: diy-alexa's feature (docs/feature.md), the "
        "legacy path for the cnn/dscnn models",
    )
    workers: int = setting(0, "feature processes; 0 = all cores", 0, 256)
    variants: int = setting(2, "extra augmented variants per keyword clip (the plan holds clips x variants)", 0, 100)
    time_shift_ms: float = setting(
        250.0,
        "variants move the word by up to +/- this, never cutting it (a clip is "
        "1000 ms): a streaming model then fires wherever the whole word is in its window "
        "(BENCHMARKS.md: 250 missed fewer held-out keywords than 100 or 400)",
        0,
        1000,
    )
    noise_snr_db: list[float] = setting(
        [0.0, 20.0],
        "[min, max]: variants are mixed with noise or speech at a signal-to-noise ratio drawn from this range",
    )
    augment: bool = setting(True, "variants also get speed (tempo + pitch), loudness, EQ and room reverb")
    augment_negatives: bool = setting(
        True,
        "training negatives (other words, running speech) go through the same "
        "augmentation, so that noise or reverb never tells a keyword apart",
    )
    background_stride_s: float = setting(0.5, "hop between 1 s windows cut from noise and speech files", 0.05, 60)
    seed: int = setting(42, "the augmentation's draws (a resumed run writes the same files)", 0, SEED_MAX)


@dataclass
class TrainSection:
    model: Model = setting(
        "stream",
        "stream: convolutions over time, run one 30 ms stride at a time on the chip "
        "(kwtui's firmware and ESPHome), with features.frontend = micro; legacy, on the "
        "spectrogram: cnn (diy-alexa style), dscnn, dscnn_s",
    )
    epochs: int = setting(30, "passes over the training set", 1, 100_000)
    batch_size: int = setting(64, "clips per training step", 1, 65_536)
    learning_rate: float = setting(0.001, "Adam's learning rate", 1e-12, 10)
    class_weights: ClassWeights = setting(
        "balanced",
        "balanced: each class weighs the same in the loss, whatever its clip count; none: each clip weighs the same",
    )
    output: Output = setting(
        "softmax",
        "with several classes: softmax (their scores share one probability) or sigmoid (each class its own score, "
        "trained one against the rest, so a sound like none of them can score low on all); one keyword alone is "
        "always one sigmoid",
    )
    negative_weight: float = setting(
        1.0, "times the weight of _unknown/_background (> 1: fewer false accepts, more misses)", 0.01, 100
    )
    early_stopping: int = setting(0, "patience in epochs, 0 = off", 0, 100_000)
    final_fit_all: int = setting(
        0,
        "extra epochs on train+validation+test from the best checkpoint (the test "
        "figures then stop being held out; the report says so)",
        0,
        100_000,
    )
    spec_augment: bool = setting(True, "random time and frequency masks on training batches")
    seed: int = setting(42, "weights' initialisation and the batches' order", 0, SEED_MAX)


@dataclass
class EvaluateSection:
    average_window: int = setting(
        3, "a detection is the average of the last N outputs over the threshold (the firmware keeps at most 16)", 1, 16
    )
    threshold: float = setting(0.9, "the score a detection needs, when target_fa_per_hour = 0", 1e-6, 1)
    refractory_ms: float = setting(1000.0, "after a detection, none for this long (int32 ms in model.h)", 0, 600_000)
    hop_ms: float = setting(
        30.0,
        "inference every hop on continuous audio: 30 for the streaming model (its "
        "stride); legacy models slide their 1 s window every hop (>= 10 ms: a feature frame; "
        "diy-alexa's firmware used 100)",
        10,
        1000,
    )
    target_fa_per_hour: float = setting(
        0.5,
        "> 0: pick threshold and average_window for this many false accepts "
        "per hour of ambient audio (lowest FRR); 0: use them as set",
        0,
        3600,
    )
    ambient_folders: list[str] = setting(
        [],
        "your own long recordings without the keywords (any path), scored as "
        "ambient audio for the false accepts per hour",
    )
    snr_db: list[float] = setting([5.0, 20.0], "[min, max]: held-out speech over held-out noise in the ambient audio")


@dataclass
class ConvertSection:
    quantization: Quantization = setting("int8", "int8: full integer, what the chip runs; float: legacy models only")
    representative_samples: int = setting(300, "clips that calibrate the int8 ranges", 1, 100_000)
    firmware_dir: str = setting(
        "", 'also write model.cc/model.h here (e.g. firmware/lib/neural_network/src); "" = the run folder only'
    )


@dataclass
class FlashSection:
    enabled: bool = setting(False, "kwtui run also flashes the model partition")
    port: str = setting("auto", "the board's serial port; auto: the one ESP32 found")
    chip: Chip = setting("esp32", "the board's chip; auto: as esptool detects it")
    baud: int = setting(460800, "esptool's baud rate", 9600, 5_000_000)
    firmware_bin: str = setting(
        "", "folder of a built firmware (bootloader/partitions/firmware .bin) to flash with the model"
    )
    partition_table: str = setting("", "partitions.csv holding the `model` partition; default: firmware/partitions.csv")


@dataclass
class Preset:
    name: str = setting("kwtui", "names the run folder and the files in it")
    run_dir: str = setting("", "the run folder; default: runs/<name>")
    dataset: DatasetSection = field(default_factory=DatasetSection)
    classes: ClassesSection = field(default_factory=ClassesSection)
    features: FeaturesSection = field(default_factory=FeaturesSection)
    train: TrainSection = field(default_factory=TrainSection)
    evaluate: EvaluateSection = field(default_factory=EvaluateSection)
    convert: ConvertSection = field(default_factory=ConvertSection)
    flash: FlashSection = field(default_factory=FlashSection)

    # --- derived paths -------------------------------------------------
    @property
    def run_path(self) -> Path:
        return Path(self.run_dir or f"runs/{self.name}")

    @property
    def features_path(self) -> Path:
        return Path(self.features.output) if self.features.output else self.run_path / "features"

    @property
    def dataset_path(self) -> Path:
        return Path(self.dataset.path)

    @property
    def class_names(self) -> list[str]:
        names = list(self.classes.keywords)
        if self.classes.unknown:
            names.append("_unknown")
        if self.classes.background:
            names.append("_background")
        return names

    @property
    def single_sigmoid(self) -> bool:
        """One keyword and no other class asked for: a binary model (one sigmoid output, keyword vs. rest, as in
        diy-alexa). Other words and noise windows are still made into features: they are its negatives."""
        return len(self.classes.keywords) == 1 and not self.classes.unknown and not self.classes.background

    @property
    def model_outputs(self) -> tuple[int, bool]:
        """The model's output units and whether they are sigmoids: one for a single keyword alone, else one per
        class, sigmoids (each trained one against the rest) when train.output asks for them."""
        if self.single_sigmoid:
            return 1, True
        return len(self.class_names), self.train.output == "sigmoid"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_toml(self) -> str:
        return tomli_w.dumps(self.to_dict())

    def to_documented_toml(self) -> str:
        """The TOML of `to_toml`, each key under its field's documentation (`kwtui presets show`)."""
        lines: list[str] = []

        def keys(section: Any) -> None:
            for f in dataclasses.fields(section):
                value = getattr(section, f.name)
                if dataclasses.is_dataclass(value):
                    continue
                lines.extend("# " + line for line in textwrap.wrap(f.metadata.get("doc", ""), 100))
                lines.append(tomli_w.dumps({f.name: value}).rstrip("\n"))

        keys(self)
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if dataclasses.is_dataclass(value):
                lines += ["", f"[{f.name}]"]
                keys(value)
        return "\n".join(lines) + "\n"


# --- validation ------------------------------------------------------------

_RENAMED = {"features.noise_volume": "features.noise_snr_db (noise mixed at a signal-to-noise ratio, in dB)"}
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
NAME_MAX = 64


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        return "one of " + ", ".join(typing.get_args(tp))
    if origin is list:
        return f"list of {typing.get_args(tp)[0].__name__}"
    return getattr(tp, "__name__", str(tp))


def _check_value(where: str, tp: Any, value: Any) -> Any:
    """`value` as field type `tp` wants it (an int where a float is wanted becomes a float); PresetError if not."""
    origin = typing.get_origin(tp)
    if origin is typing.Literal:  # a choice: the field's type lists what it accepts (kwtui.core.choices)
        allowed = typing.get_args(tp)
        if value not in allowed or not isinstance(value, str):
            raise PresetError(f"{where}: must be one of {', '.join(allowed)}, got {value!r}")
        return value
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise PresetError(f"{where}: expected a {_type_name(tp)}, got {value!r}")
        return [_check_value(f"{where}[{i}]", item_tp, v) for i, v in enumerate(value)]
    if tp is float:
        return _checked_float(where, value)
    if tp is bool and not isinstance(value, bool):
        raise PresetError(f"{where}: expected true or false, got {value!r}")
    if tp is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise PresetError(f"{where}: expected an integer, got {value!r}")
    if tp is str:
        return _checked_text(where, value)
    if not isinstance(value, tp):
        raise PresetError(f"{where}: expected a {_type_name(tp)}, got {value!r}")
    return value


def _checked_float(where: str, value: Any) -> float:
    if isinstance(value, int) and not isinstance(value, bool):
        if abs(value) > 1e300:
            raise PresetError(f"{where}: {value} is out of range")
        return float(value)
    if not isinstance(value, float):
        raise PresetError(f"{where}: expected a float, got {value!r}")
    if not math.isfinite(value):
        raise PresetError(f"{where}: must be a finite number, got {value!r}")
    return value


def _checked_text(where: str, value: Any) -> str:
    if isinstance(value, (int, float, datetime.date, datetime.time)):
        # TOML read 2024 as a number, 2024-01-02 as a date: text must be quoted (the shell eats one pair)
        field = where.removeprefix("--set ")
        raise PresetError(
            f'{where}: expected text, got {value}: quote it, {field} = "{value}" in a preset, '
            f"--set '{field}=\"{value}\"' on the command line"
        )
    if not isinstance(value, str):
        raise PresetError(f"{where}: expected a str, got {value!r}")
    if not _is_utf8(value):  # a name in another encoding, as the shell passed it (surrogate escapes)
        shown = value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        raise PresetError(
            f"{where}: '{shown}' is not UTF-8 text, and a preset is; rename it, or link it under a "
            "UTF-8 name (ln -s) and use that"
        )
    return value


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _hint(key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    return f" (did you mean '{close[0]}'?)" if close else f" (known keys: {', '.join(known)})"


def _build(cls: type, data: dict[str, Any], prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    known = [f.name for f in dataclasses.fields(cls)]
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        where = f"{prefix}{key}"
        if key not in hints:
            if where in _RENAMED:
                raise PresetError(f"{where}: replaced by {_RENAMED[where]}; rename the key")
            raise PresetError(f"{where}: unknown key{_hint(key, known)}")
        tp = hints[key]
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            if not isinstance(value, dict):
                raise PresetError(f"{where}: expected a [{key}] section, got {value!r}")
            kwargs[key] = _build(tp, value, f"{where}.")
        else:
            kwargs[key] = _check_value(where, tp, value)
    return cls(**kwargs)


def validate(preset: Preset) -> Preset:
    """Check choices, ranges and cross-field rules; changes nothing. Raises PresetError naming the field."""
    for check in (
        _check_fields,
        _check_name,
        _check_keywords,
        _check_snr_ranges,
        _check_model_family,
        _check_splits,
        _check_paths,
    ):
        check(preset)
    return preset


def _check_fields(preset: Preset) -> None:
    """Each field's own rule: a choice among its Literal's values, a number inside its declared range."""
    for section in dataclasses.fields(preset):
        value = getattr(preset, section.name)
        if not dataclasses.is_dataclass(value):
            continue
        hints = typing.get_type_hints(type(value))
        for f in dataclasses.fields(value):
            where = f"{section.name}.{f.name}"
            v = getattr(value, f.name)
            if typing.get_origin(hints[f.name]) is typing.Literal:
                _check_value(where, hints[f.name], v)
            bounds = f.metadata.get("range")
            if bounds is not None and not bounds[0] <= v <= bounds[1]:
                raise PresetError(f"{where}: must be between {_num(bounds[0])} and {_num(bounds[1])}, got {v!r}")


def _check_name(preset: Preset) -> None:
    if not _NAME_RE.match(preset.name):
        raise PresetError(f"name: use letters, digits, '_', '-' or '.', got {preset.name!r}")
    if len(preset.name) > NAME_MAX:  # it names the run folder and files in it: keep well under 255 bytes
        raise PresetError(f"name: at most {NAME_MAX} characters, got {len(preset.name)}; choose a shorter name")


def _check_keywords(preset: Preset) -> None:
    kws = preset.classes.keywords
    if not kws:
        raise PresetError('classes.keywords: list at least one keyword, e.g. keywords = ["marvin"]')
    for kw in kws:
        if not kw or kw.startswith("_") or "/" in kw:
            raise PresetError(f"classes.keywords: {kw!r} is not a word folder name")
    dupes = sorted({k for k in kws if kws.count(k) > 1})
    if dupes:
        raise PresetError(f"classes.keywords: duplicate keyword(s) {', '.join(dupes)}")


def _check_snr_ranges(preset: Preset) -> None:
    for where, lo_hi in (
        ("features.noise_snr_db", preset.features.noise_snr_db),
        ("evaluate.snr_db", preset.evaluate.snr_db),
    ):
        if len(lo_hi) != 2 or not all(math.isfinite(v) for v in lo_hi) or not -20 <= lo_hi[0] <= lo_hi[1] <= 80:
            raise PresetError(f"{where}: expected [min, max] in dB with -20 <= min <= max <= 80, got {lo_hi}")


def _check_model_family(preset: Preset) -> None:
    """A model kind brings its feature, its hop, its quantization and (for ESPHome) its highest cutoff."""
    from kwtui.core.esphome_rules import MAX_CUTOFF
    from kwtui.core.model import STREAM_HOP_MS

    if (preset.train.model == "stream") != (preset.features.frontend == "micro"):
        raise PresetError(
            f"train.model: {preset.train.model!r} with features.frontend = {preset.features.frontend!r}: the "
            "streaming model runs on the micro frontend's slices; the legacy models (cnn, dscnn, dscnn_s) on the "
            'spectrogram: set both, e.g. train.model = "stream" with features.frontend = "micro"'
        )
    if round(preset.evaluate.hop_ms, 6) % 10:  # both frontends make one feature frame every 10 ms
        raise PresetError(
            f"evaluate.hop_ms: the features have one frame every 10 ms and the device counts whole "
            f"milliseconds: use a multiple of 10 (the streaming model runs every 30 ms), got "
            f"{preset.evaluate.hop_ms:g}"
        )
    if preset.features.frontend == "micro" and preset.evaluate.threshold > MAX_CUTOFF:
        raise PresetError(
            f"evaluate.threshold: at most {MAX_CUTOFF} for ESPHome (its host runtime averages uint8 "
            f"probabilities / 256 and never exceeds 0.996), got {preset.evaluate.threshold:g}"
        )
    if preset.train.model == "stream" and preset.convert.quantization != "int8":
        raise PresetError(
            "convert.quantization: the streaming model is converted to int8 only (its state variables "
            'and ESPHome\'s fixed input scale are int8); set "int8", or a legacy train.model for float'
        )
    if preset.train.model == "stream" and round(preset.evaluate.hop_ms, 6) != STREAM_HOP_MS:
        raise PresetError(
            f"evaluate.hop_ms: the streaming model runs once per stride of {STREAM_HOP_MS} ms (3 feature "
            f"slices), on the chip and in the evaluation: set {STREAM_HOP_MS}, got "
            f"{preset.evaluate.hop_ms:g}"
        )


def _check_splits(preset: Preset) -> None:
    if preset.dataset.validation_percent + preset.dataset.testing_percent >= 100:
        raise PresetError("dataset.validation_percent + dataset.testing_percent: must be under 100")


def _check_paths(preset: Preset) -> None:
    if not preset.dataset.path.strip():  # empty would silently mean the current folder
        raise PresetError(f"dataset.path: empty; set it to your dataset folder (e.g. {DatasetSection().path})")
    for dotted, _owner, _key, value in _path_fields(preset):
        if any("\0" in v for v in (value if isinstance(value, list) else [value])):
            raise PresetError(f"{dotted}: a path cannot hold a NUL character")


_PATH_FIELDS = (
    "run_dir",
    "dataset.path",
    "dataset.validation_list",
    "dataset.testing_list",
    "features.output",
    "convert.firmware_dir",
    "flash.firmware_bin",
    "flash.partition_table",
    "evaluate.ambient_folders",
)


def _path_fields(preset: Preset) -> Iterator[tuple[str, Any, str, Any]]:
    """(dotted name, owning section, key, value) of every path field."""
    for dotted in _PATH_FIELDS:
        *section, key = dotted.split(".")
        owner = getattr(preset, section[0]) if section else preset
        yield dotted, owner, key, getattr(owner, key)


def anchored(preset: Preset, base: str | Path) -> Preset:
    """A copy whose paths no longer depend on the folder kwtui runs in: every path field given relative to `base`
    (the wizard's folder) made absolute, the default run folder (runs/<name>) included, so a saved preset replays
    from anywhere. A split list that is not a file under `base` stays relative (it names a file inside the
    dataset), and so do classes.negative_speech / classes.noise_folders entries naming dataset sub-folders."""
    out = copy.deepcopy(preset)
    base = Path(base)
    if not out.run_dir:
        out.run_dir = f"runs/{out.name}"

    def absolute(value: str, must_exist: bool = False) -> str:
        if not value or os.path.isabs(os.path.expanduser(value)) or value.startswith("$"):
            return value
        path = base / value
        return os.path.abspath(path) if (path.exists() or not must_exist) else value

    for dotted, owner, key, value in _path_fields(out):
        lists = dotted in ("dataset.validation_list", "dataset.testing_list")
        if isinstance(value, list):
            setattr(owner, key, [absolute(v) for v in value])
        else:
            setattr(owner, key, absolute(value, must_exist=lists))
    dataset = Path(out.dataset.path)
    for key in ("negative_speech", "noise_folders"):
        names = getattr(out.classes, key)
        setattr(
            out.classes, key, [n if (dataset / n).exists() or not (base / n).exists() else absolute(n) for n in names]
        )
    return out


def expand_paths(preset: Preset) -> Preset:
    """The preset with `~` and `$VAR` in its path fields expanded as a shell would (the README's own examples use
    `~`): the one normalisation a loaded preset gets, after `validate`."""
    for _dotted, owner, key, value in _path_fields(preset):
        if isinstance(value, list):
            setattr(owner, key, [os.path.expandvars(os.path.expanduser(v)) for v in value])
        elif value and ("~" in value or "$" in value):
            setattr(owner, key, os.path.expandvars(os.path.expanduser(value)))
    return preset


def _line_of(text: str, key: str) -> int | None:
    """Line of `section.key` (inside its [section]), or of a `[section]` header itself."""
    *sections, leaf = key.split("[")[0].split(".")
    section = ".".join(sections)
    current = ""
    for number, line in enumerate(text.splitlines(), 1):
        header = re.match(r"\s*\[([^\]]+)\]", line)
        if header:
            current = header.group(1).strip()
            if not section and current == leaf:
                return number
        elif current == section and re.match(rf"\s*{re.escape(leaf)}\s*=", line):
            return number
    return None


def parse_value(raw: str, key: str = "") -> Any:
    """A --set value: TOML syntax when it parses (42, true, ["a","b"]), else a plain string. A value written as
    TOML text or a list (it starts with a quote or a bracket) that does not parse is an error: kept as plain text
    it would name another path than the one meant."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError as exc:
        if raw.lstrip()[:1] in ('"', "'", "["):
            reason = str(exc).split(" (at ")[0]
            raise PresetError(f"--set {key or raw}: not a TOML value ({reason}): {raw}") from None
        return raw


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `section.key=value` strings to raw preset data (before validation)."""
    for item in overrides:
        if "=" not in item:
            raise PresetError(f"--set {item!r}: expected section.key=value, e.g. train.epochs=5")
        dotted, raw = item.split("=", 1)
        parts = dotted.strip().split(".")
        node = data
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise PresetError(f"--set {dotted}: {part} is not a section")
        node[parts[-1]] = parse_value(raw.strip(), dotted.strip())
    return data


def from_dict(data: dict[str, Any]) -> Preset:
    """A checked preset from TOML data: built (types, unknown keys), validated, then its paths expanded."""
    return expand_paths(validate(_build(Preset, data, "")))


def load_preset(path: str | Path, overrides: list[str] | None = None) -> Preset:
    """Read, override and validate a preset. Raises PresetError with a one-line message."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        # `kwtui run presets/esphome.toml` outside a checkout: the shipped preset goes by its name
        shipped = shipped_presets_dir() / path.name
        hint = (
            f"; the shipped preset of that name is `{path.stem}`"
            if path.suffix == ".toml" and shipped.is_file()
            else ""
        )
        raise PresetError(f"{path}: preset not found (see `kwtui presets list`){hint}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PresetError(f"{path}: cannot read preset ({exc.__class__.__name__}: {exc})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PresetError(f"{path}: invalid TOML: {exc}") from None
    except RecursionError:
        raise PresetError(f"{path}: invalid TOML: nested too deeply") from None
    data.setdefault("name", path.stem)
    try:
        return from_dict(apply_overrides(data, overrides or []))
    except PresetError as exc:
        message = str(exc)
        field_name = message.split(":")[0]
        overridden = {item.split("=", 1)[0].strip() for item in overrides or []}
        if field_name.split("[")[0] in overridden:
            raise PresetError(f"--set {message}") from None
        line = _line_of(text, field_name)
        where = f"{path}:{line}" if line else str(path)
        raise PresetError(f"{where}: {message}") from None


def save_preset(preset: Preset, path: str | Path) -> Path:
    """Write atomically (temp file + rename) so a crash never leaves half a preset."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer.write_text(path, preset.to_toml())
    return path


def shipped_presets_dir() -> Path:
    """The presets shipped as package data (the repository's top-level presets/ links to the same folder)."""
    from importlib.resources import files

    return Path(str(files("kwtui") / "resources" / "presets"))


def user_presets_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_config_dir("kwtui")) / "presets"


def find_preset(name_or_path: str) -> Path:
    """A path as given (a run folder stands for the preset.toml saved in it: the settings it was run with), else
    a preset name looked up in the user's and the shipped folders."""
    candidate = Path(name_or_path)
    if candidate.is_dir():
        saved = candidate / "preset.toml"
        if not saved.is_file():
            raise PresetError(f"{candidate}: a folder without preset.toml: give a preset, or a kwtui run folder")
        return saved
    if candidate.exists() or candidate.suffix == ".toml" or "/" in name_or_path:
        return candidate
    for folder in (user_presets_dir(), shipped_presets_dir()):
        path = folder / f"{name_or_path}.toml"
        if path.exists():
            return path
    return candidate


def list_presets() -> list[Path]:
    found: dict[str, Path] = {}
    for folder in (shipped_presets_dir(), user_presets_dir()):
        if folder.is_dir():
            for path in sorted(folder.glob("*.toml")):
                found[path.stem] = path  # the user's copy wins
    return [found[k] for k in sorted(found)]


def headless_command(
    preset_path: str | Path, preset: Preset | dict[str, Any] | None = None, base: Preset | None = None
) -> str:
    """A command that, pasted into a shell, replays `preset`: the preset file (a shipped one by name), plus a
    `--set` for every field where `preset` differs from `base` (the file's content). `preset` may also be a
    preset's TOML data, unvalidated (the wizard's form: a field may hold the text typed where a number goes)."""
    import shlex

    path = Path(preset_path)
    shown = path.stem if path.parent == shipped_presets_dir() else str(path)
    parts = ["kwtui", "run", shlex.quote(shown)]
    if preset is not None and base is not None:
        data = preset.to_dict() if isinstance(preset, Preset) else preset
        for key, value in differences(base.to_dict(), data):
            parts += ["--set", shlex.quote(f"{key}={_toml_literal(value)}")]
    return " ".join(parts)


def _toml_literal(value: Any) -> str:
    """One TOML value on one line (tomli_w spreads arrays over lines)."""
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_literal(v) for v in value) + "]"
    # a JSON string is a valid TOML basic string, but for its \uD83D\uDE00 pairs outside the BMP, which TOML
    # refuses: those characters are written as themselves
    return json.dumps(str(value), ensure_ascii=False)


def differences(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """(dotted key, new value) of every field where `new` differs from `old`."""
    found = []
    for key, value in new.items():
        if isinstance(value, dict):
            found += differences(old.get(key) or {}, value, f"{prefix}{key}.")
        elif old.get(key) != value:
            found.append((f"{prefix}{key}", value))
    return found
