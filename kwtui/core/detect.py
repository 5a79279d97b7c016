"""The deployed detector on the host: the int8 streaming model, its micro frontend, its streaming state, its
quantization and its post-processing at the chosen operating point, exactly as the device runs them, over
recordings (`kwtui detect`) or a microphone (`kwtui listen`).

A target is a preset (its run folder's converted model), a run folder (`model.tflite` + `model.json`), or an
ESPHome manifest (`<wake word>.json` beside its `.tflite`). kwtui's firmware and ESPHome's micro_wake_word turn
outputs into detections differently (kwtui.core.postprocess, kwtui.core.esphome_rules): each target gets
its own device's rule.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from kwtui.core import esphome_rules
from kwtui.core.data import micro_frontend
from kwtui.core.data.spectrogram import SAMPLE_RATE
from kwtui.core.errors import UserError
from kwtui.core.postprocess import PostProcessor, per_keyword
from kwtui.core.streaming import OUTPUT_SCALE, quantize_slices

Rule = Literal["kwtui", "esphome"]
BLOCK_SECONDS = 10  # audio read, resampled and scored at a time: memory stays flat with the file's length


@dataclass(frozen=True)
class Detector:
    """What a device runs. `labels` name the model's outputs (one per output); the first `num_keywords` of them
    are keywords, each with its threshold and averaging window (in inferences)."""

    name: str
    model_path: Path
    tflite: bytes
    arena_bytes: int
    labels: tuple[str, ...]
    num_keywords: int
    stride: int  # feature slices (10 ms each) per inference
    thresholds: tuple[float, ...]
    average_windows: tuple[int, ...]
    refractory_ms: float
    rule: Rule

    @property
    def hop_ms(self) -> int:
        return self.stride * micro_frontend.STEP_MS

    @property
    def keywords(self) -> tuple[str, ...]:
        return self.labels[: self.num_keywords]

    def at(self, threshold: float | None = None, window: int | None = None) -> Detector:
        """The same detector at another operating point (one threshold and/or window for every keyword)."""
        changes: dict[str, Any] = {}
        if threshold is not None:
            if not 0 < threshold <= 1:
                raise UserError(f"--threshold {threshold:g}: must be in (0, 1]")
            changes["thresholds"] = tuple(per_keyword(threshold, self.num_keywords))
        if window is not None:
            if not 1 <= window <= 16:
                raise UserError(f"--window {window}: must be 1-16 inferences (the firmware keeps 16)")
            changes["average_windows"] = (int(window),) * self.num_keywords
        return dataclasses.replace(self, **changes)

    def summary(self) -> dict[str, Any]:
        """The operating point as `kwtui detect --json` reports it with every file."""
        return {
            "labels": list(self.labels),
            "hop_ms": self.hop_ms,
            "average_window": list(self.average_windows),
            "thresholds": list(self.thresholds),
            "refractory_ms": self.refractory_ms,
            "rule": self.rule,
        }


# --- targets ------------------------------------------------------------------------------------------------------


def load_detector(target: str | Path) -> Detector:
    """The detector a target names: an ESPHome manifest (.json), a run folder, or a preset (name or file)."""
    path = Path(target)
    if path.suffix == ".json" and path.is_file():
        return _from_manifest(path)
    if path.is_dir():
        return _from_run_folder(path, str(path))
    from kwtui.core.io.layout import RunLayout
    from kwtui.core.preset import find_preset, load_preset

    preset = load_preset(find_preset(str(target)))
    run_dir = RunLayout(preset).run_dir
    if not (run_dir / "model.json").is_file():
        raise UserError(
            f"{run_dir}: no converted model for preset {preset.name}: run `kwtui run {target}` "
            f"(or `kwtui convert {target}`) first"
        )
    return _from_run_folder(run_dir, preset.name)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: not readable JSON ({str(exc).splitlines()[0][:100]})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: not a kwtui model.json or ESPHome manifest (not a JSON object)")
    return data


def _read_model(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UserError(f"{path}: cannot read the model ({exc.strerror or exc})") from None


def _field(data: dict[str, Any], key: str, path: Path, kind: type | tuple[type, ...]) -> Any:
    value = data.get(key)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise UserError(f"{path}: field {key!r} is missing or not valid ({value!r}); convert the model again")
    return value


def _from_run_folder(folder: Path, name: str) -> Detector:
    meta_path = folder / "model.json"
    if not meta_path.is_file():
        raise UserError(f"{folder}: no model.json: not a kwtui run folder with a converted model (run `kwtui convert`)")
    meta = _read_json(meta_path)
    if meta.get("frontend") != micro_frontend.NAME or not isinstance(meta.get("stride"), int):
        raise UserError(
            f"{meta_path}: a legacy spectrogram model; kwtui detect runs the streaming models "
            '(features.frontend = "micro", train.model = "stream", the shipped default)'
        )
    labels = _field(meta, "labels", meta_path, list)
    keywords = _field(meta, "num_keywords", meta_path, int)
    outputs = 1 if meta.get("sigmoid_output") else len(labels)
    thresholds = meta.get("thresholds", [meta.get("threshold")] * keywords)
    windows = meta.get("average_windows", [meta.get("average_window")] * keywords)
    try:
        point = (tuple(per_keyword(thresholds, keywords)), tuple(int(w) for w in per_keyword(windows, keywords)))
    except (TypeError, ValueError):
        raise UserError(
            f"{meta_path}: thresholds / average_windows do not give one value per keyword; convert the model again"
        ) from None
    from kwtui.core.io.records import model_file_problem

    problem = model_file_problem(folder / "model.tflite", meta)
    if problem:
        raise UserError(f"{problem}; convert it again")
    return Detector(
        name=name,
        model_path=folder / "model.tflite",
        tflite=_read_model(folder / "model.tflite"),
        arena_bytes=_field(meta, "arena_bytes", meta_path, int),
        labels=tuple(labels[:outputs]),
        num_keywords=keywords,
        stride=int(meta["stride"]),
        thresholds=point[0],
        average_windows=point[1],
        refractory_ms=float(meta.get("refractory_ms", 1000)),
        rule="kwtui",
    )


def _from_manifest(path: Path) -> Detector:
    manifest = _read_json(path)
    micro = manifest.get("micro")
    if manifest.get("type") != "micro" or not isinstance(micro, dict):
        raise UserError(f'{path}: not an ESPHome micro_wake_word manifest ("type": "micro" with a "micro" section)')
    model_file = _field(manifest, "model", path, str)
    model_path = (path.parent / model_file) if not Path(model_file).is_absolute() else Path(model_file)
    tflite = _read_model(model_path)
    arena = int(_field(micro, "tensor_arena_size", path, int))
    stride = _input_stride(model_path, tflite, arena)
    cutoff = float(_field(micro, "probability_cutoff", path, (int, float)))
    window = int(_field(micro, "sliding_window_size", path, int))
    return Detector(
        name=str(manifest.get("wake_word") or path.stem),
        model_path=model_path,
        tflite=tflite,
        arena_bytes=arena,
        labels=(str(manifest.get("wake_word") or path.stem),),
        num_keywords=1,
        stride=stride,
        thresholds=(cutoff,),
        average_windows=(window,),
        refractory_ms=esphome_rules.IGNORED_SLICES_AFTER_DETECTION * micro_frontend.STEP_MS,
        rule="esphome",
    )


def _input_stride(model_path: Path, tflite: bytes, arena: int) -> int:
    """Feature slices per inference: the model input's second dimension ([1, stride, 40])."""
    from tflite_micro.python.tflite_micro import runtime

    try:
        shape = runtime.Interpreter.from_bytes(tflite, arena_size=arena).get_input_details(0)["shape"]
    except Exception as exc:  # noqa: BLE001 - TFLM reports a bad model or too small an arena as RuntimeError/ValueError
        raise UserError(
            f"{model_path}: TFLite Micro cannot run it with its manifest's tensor_arena_size {arena} "
            f"({str(exc).splitlines()[0][:100] if str(exc) else type(exc).__name__})"
        ) from None
    if len(shape) != 3 or shape[2] != micro_frontend.CHANNELS:
        raise UserError(f"{model_path}: input shape {list(shape)} is not a streaming model's [1, stride, 40]")
    return int(shape[1])


# --- running it ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hit:
    """One detection: the keyword, its averaged score and the time (s) of the end of the audio it had heard."""

    keyword: str
    score: float
    time_s: float
    inference: int


class Session:
    """One device from power-on: a fresh frontend, model state and post-processor. `push(audio)` (16 kHz float)
    returns the raw outputs (inferences, labels) of the inferences the audio completed, and the detections."""

    def __init__(self, detector: Detector) -> None:
        from tflite_micro.python.tflite_micro import runtime

        self.detector = detector
        self._interpreter = runtime.Interpreter.from_bytes(detector.tflite, arena_size=detector.arena_bytes)
        self._frontend = micro_frontend.FeatureStream()
        self._pending = np.zeros((0, micro_frontend.CHANNELS), np.float32)
        self._inferences = 0
        keywords = list(range(detector.num_keywords))
        if detector.rule == "esphome":
            self._post: Any = esphome_rules.WakeWordPostProcessor(
                detector.thresholds[0], detector.average_windows[0], detector.stride
            )
        else:
            self._post = PostProcessor(
                list(detector.labels),
                keywords,
                list(detector.average_windows),
                list(detector.thresholds),
                detector.refractory_ms,
            )

    def push(self, audio: np.ndarray) -> tuple[np.ndarray, list[Hit]]:
        stride = self.detector.stride
        slices = np.concatenate([self._pending, self._frontend.push(audio)])
        usable = len(slices) // stride * stride
        self._pending = slices[usable:]
        rows, hits = [], []
        for block in slices[:usable].reshape(-1, stride, micro_frontend.CHANNELS):
            self._interpreter.set_input(quantize_slices(block)[np.newaxis], 0)
            self._interpreter.invoke()
            row = np.asarray(self._interpreter.get_output(0), dtype=np.float32).reshape(-1) * np.float32(OUTPUT_SCALE)
            rows.append(row)
            n = self._inferences
            self._inferences += 1
            found = self._post.update(row, n * self.detector.hop_ms)
            if found is not None:
                hits.append(
                    Hit(
                        self.detector.labels[found.class_index],
                        round(float(found.score), 4),
                        round(self.time_of(n), 3),
                        n,
                    )
                )
        outputs = np.stack(rows) if rows else np.zeros((0, len(self.detector.labels)), np.float32)
        return outputs, hits

    @property
    def inferences(self) -> int:
        """Inferences run so far: the index the next one gets."""
        return self._inferences

    def time_of(self, inference: int) -> float:
        return heard_until_s(inference, self.detector.stride)


def heard_until_s(inference: int, stride: int) -> float:
    """Seconds from the start to the end of the audio inference `inference` had heard (its last slice's 30 ms
    window)."""
    last_slice = (inference + 1) * stride - 1
    return (last_slice * micro_frontend.STEP_SAMPLES + micro_frontend.WINDOW_SAMPLES) / SAMPLE_RATE


def check_audio(paths: Sequence[Path]) -> None:
    """Refuse (one line naming the file) before any work when a recording cannot be read."""
    import soundfile as sf

    for path in paths:
        if not path.is_file():
            raise UserError(f"{path}: no such audio file")
        try:
            info = sf.info(os.fsencode(path))
        except (sf.LibsndfileError, RuntimeError, ValueError, TypeError, OSError) as exc:
            raise UserError(f"{path}: not readable audio ({str(exc).splitlines()[0][:80]})") from None
        if info.frames == 0 or info.samplerate <= 0:
            raise UserError(f"{path}: empty (no samples)")


def audio_blocks(path: Path, block_seconds: float = BLOCK_SECONDS) -> Iterator[np.ndarray]:
    """A recording as 16 kHz mono float32 blocks, as kwtui loads audio (channels averaged, libsoxr HQ
    resampling, here streamed), holding one block at a time."""
    import soundfile as sf
    import soxr

    from kwtui.core.data.audio import RESAMPLE_QUALITY

    with sf.SoundFile(os.fsencode(path)) as source:
        rate = source.samplerate
        resampler = (
            None
            if rate == SAMPLE_RATE
            else soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="float32", quality=RESAMPLE_QUALITY)
        )
        frames = max(1, int(block_seconds * rate))
        while True:
            data = source.read(frames, dtype="float32", always_2d=True)
            last = len(data) < frames
            mono = np.nan_to_num(data.mean(axis=1) if data.shape[1] > 1 else data[:, 0])
            out = mono if resampler is None else resampler.resample_chunk(mono, last=last)
            if len(out):
                yield np.ascontiguousarray(out, dtype=np.float32)
            if last:
                return


@dataclass
class FileResult:
    file: str
    seconds: float
    hits: list[Hit]


def seconds_of(path: Path) -> float:
    import soundfile as sf

    info = sf.info(os.fsencode(path))
    return info.frames / info.samplerate if info.samplerate else 0.0


def detect_file(detector: Detector, path: Path, on_outputs: Any = None, on_progress: Any = None) -> FileResult:
    """Run a fresh device over one recording. `on_outputs(first_inference, outputs)` sees every block's raw
    outputs (for --scores); `on_progress(seconds_done)` is called after each block."""
    session = Session(detector)
    hits: list[Hit] = []
    samples = 0
    for block in audio_blocks(path):
        first = session.inferences
        outputs, found = session.push(block)
        hits.extend(found)
        samples += len(block)
        if on_outputs is not None and len(outputs):
            on_outputs(first, outputs)
        if on_progress is not None:
            on_progress(samples / SAMPLE_RATE)
    return FileResult(str(path), round(samples / SAMPLE_RATE, 3), hits)


class ScoresWriter:
    """`DIR/<stem>.scores.csv`: time_s and one column per output label, the raw (dequantized) output of every
    inference before averaging; written to a kwtui temp and renamed into place when the file is done."""

    def __init__(self, folder: Path, audio: Path, detector: Detector) -> None:
        from kwtui.core.io import writer

        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"{audio.stem}.scores.csv"
        self._stride = detector.stride
        self._temp = self.path.with_name(writer.temp_name(self.path.name))
        self._handle = open(self._temp, "w", encoding="utf-8", newline="")
        self._handle.write(",".join(["time_s", *(_csv_name(label) for label in detector.labels)]) + "\n")

    def __call__(self, first: int, outputs: np.ndarray) -> None:
        for k, row in enumerate(outputs):
            self._handle.write(
                f"{heard_until_s(first + k, self._stride):.3f}," + ",".join(f"{v:.6g}" for v in row) + "\n"
            )

    def close(self, ok: bool) -> None:
        self._handle.close()
        if ok:
            os.replace(self._temp, self.path)
        else:
            with contextlib.suppress(OSError):
                os.unlink(self._temp)


def _csv_name(label: str) -> str:
    return label if not any(c in label for c in ',"\n') else json.dumps(label)
