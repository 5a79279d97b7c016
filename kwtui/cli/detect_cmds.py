"""`kwtui detect` (recordings) and `kwtui listen` (a microphone): the deployed detector, as the device runs it."""

from __future__ import annotations

import json
import queue
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Optional

import numpy as np
import typer

from kwtui.cli.runtime import fail, graceful_interrupt
from kwtui.core.errors import KwtuiError, UserError

LISTEN_BLOCK_S = 0.1  # microphone blocks: a detection is printed within ~0.1 s of its inference


def _emit(record: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


def _load(target: str, threshold: Optional[float], window: Optional[int]) -> Any:
    from kwtui.core.detect import load_detector

    try:
        return load_detector(target).at(threshold, window)
    except KwtuiError as exc:
        fail(str(exc), exc.exit_code)


def detect_command(
    target: str,
    audio: list[Path],
    json_output: bool,
    threshold: Optional[float],
    window: Optional[int],
    scores: Optional[Path],
) -> None:
    from kwtui.core.detect import ScoresWriter, check_audio, detect_file, seconds_of

    detector = _load(target, threshold, window)
    try:
        check_audio(audio)
        if scores is not None and scores.exists() and not scores.is_dir():
            raise UserError(f"--scores {scores}: exists and is not a folder")
    except KwtuiError as exc:
        fail(str(exc), exc.exit_code)
    progress = sys.stderr.isatty() and not json_output
    if not json_output:
        typer.echo(
            f"{detector.name}: {', '.join(_point_text(detector))} "
            f"(one inference every {detector.hop_ms} ms, {detector.rule} post-processing)",
            err=True,
        )
    total = 0
    with graceful_interrupt() as cancel:
        for path in audio:
            length = seconds_of(path)
            started = time.monotonic()
            writer = ScoresWriter(scores, path, detector) if scores is not None else None

            def on_progress(done: float, path: Path = path, length: float = length, started: float = started) -> None:
                cancel.raise_if_cancelled()
                if progress:
                    speed = done / max(time.monotonic() - started, 1e-6)
                    sys.stderr.write(
                        f"\r{path.name}: {min(done / max(length, 1e-9), 1):4.0%} ({speed:.0f}x real time) "
                    )
                    sys.stderr.flush()

            ok = False
            try:
                result = detect_file(detector, path, on_outputs=writer, on_progress=on_progress)
                ok = True
            except KwtuiError as exc:  # cancelled
                if progress:
                    sys.stderr.write("\n")
                fail(str(exc), exc.exit_code)
                return
            finally:
                if writer is not None:
                    writer.close(ok)
            if progress:
                sys.stderr.write("\r\033[K")
            total += len(result.hits)
            for hit in result.hits:
                if json_output:
                    _emit(
                        {
                            "event": "detection",
                            "file": str(path),
                            "time_s": hit.time_s,
                            "keyword": hit.keyword,
                            "score": hit.score,
                        }
                    )
                else:
                    typer.echo(f"{path}\t{hit.time_s:9.2f} s\t{hit.keyword}\t{hit.score:.3f}")
            if json_output:
                _emit(
                    {
                        "event": "summary",
                        "file": str(path),
                        "seconds": result.seconds,
                        "detections": len(result.hits),
                        **detector.summary(),
                    }
                )
            else:
                counts = _counts(result.hits)
                typer.echo(
                    f"{path}: {len(result.hits)} detection(s) in {result.seconds:.1f} s"
                    f"{' (' + counts + ')' if counts else ''}"
                    f"{'; scores in ' + str(writer.path) if writer is not None else ''}",
                    err=True,
                )
    if not json_output and len(audio) > 1:
        typer.echo(f"{total} detection(s) in {len(audio)} files", err=True)


def _point_text(detector: Any) -> list[str]:
    return [
        f"{k} >= {t:g} over {w}" for k, t, w in zip(detector.keywords, detector.thresholds, detector.average_windows)
    ]


def _counts(hits: list[Any]) -> str:
    seen: dict[str, int] = {}
    for hit in hits:
        seen[hit.keyword] = seen.get(hit.keyword, 0) + 1
    return ", ".join(f"{k} {n}" for k, n in seen.items())


# --- listen -------------------------------------------------------------------------------------------------------


def open_microphone(block_s: float = LISTEN_BLOCK_S) -> Iterator[np.ndarray]:
    """16 kHz mono float32 blocks from the default input device (sounddevice / PortAudio). UserError with one
    line, before anything is recorded, when there is none (no PortAudio, no input device: SSH, CI)."""
    from kwtui.core.data.spectrogram import SAMPLE_RATE

    hint = "; run `kwtui detect TARGET RECORDING.wav` on a recording instead"
    try:
        import sounddevice as sd
    except (ImportError, OSError) as exc:  # OSError: the PortAudio library is missing
        raise UserError(f"no audio input: {exc} (install PortAudio, e.g. `apt install libportaudio2`){hint}") from None
    try:
        device = sd.query_devices(kind="input")
    except (sd.PortAudioError, ValueError) as exc:
        raise UserError(f"no audio input device ({str(exc).splitlines()[0][:80]}){hint}") from None
    blocks: queue.Queue[np.ndarray] = queue.Queue()

    def on_audio(data: np.ndarray, frames: int, at: Any, status: Any) -> None:
        blocks.put(data[:, 0].copy())

    try:
        stream = sd.InputStream(
            samplerate=SAMPLE_RATE, channels=1, dtype="float32", blocksize=int(block_s * SAMPLE_RATE), callback=on_audio
        )
    except (sd.PortAudioError, ValueError) as exc:
        raise UserError(f"{device['name']}: cannot record at 16 kHz mono ({str(exc)[:80]}){hint}") from None

    def recorded() -> Iterator[np.ndarray]:
        with stream:
            while True:
                yield blocks.get()

    return recorded()


def listen_loop(detector: Any, blocks: Iterable[np.ndarray], on_hit: Any, on_scores: Any, cancel: Any) -> None:
    """The loop `kwtui listen` runs until the blocks end or `cancel`: a fresh device fed blocks as they come;
    every detection to `on_hit`, each block's latest averaged score per keyword to `on_scores`."""
    from kwtui.core.detect import Session
    from kwtui.core.postprocess import keyword_means

    session = Session(detector)
    recent = np.zeros((0, len(detector.labels)), np.float32)
    longest = max(detector.average_windows)
    for block in blocks:
        if cancel.cancelled:
            return
        outputs, hits = session.push(block)
        for hit in hits:
            on_hit(hit)
        if len(outputs):
            recent = np.concatenate([recent, outputs])[-longest:]
            means = keyword_means(recent, list(range(detector.num_keywords)), list(detector.average_windows))
            on_scores(dict(zip(detector.keywords, (float(v) for v in means[-1]))))


def _bar(value: float, threshold: float, width: int = 10) -> str:
    filled = int(round(min(max(value, 0.0), 1.0) * width))
    mark = min(width - 1, int(threshold * width))
    cells = ["#" if i < filled else "-" for i in range(width)]
    cells[mark] = "|" if cells[mark] == "-" else "!"
    return "".join(cells)


def listen_command(target: str, json_output: bool, threshold: Optional[float], window: Optional[int]) -> None:
    detector = _load(target, threshold, window)
    live = sys.stderr.isatty() and not json_output
    started = time.monotonic()
    hits: list[Any] = []

    def on_hit(hit: Any) -> None:
        hits.append(hit)
        if json_output:
            _emit({"event": "detection", "time_s": hit.time_s, "keyword": hit.keyword, "score": hit.score})
        else:
            if live:
                sys.stderr.write("\r\033[K")
            typer.echo(f"{time.strftime('%H:%M:%S')}  {hit.keyword:<16} score {hit.score:.3f}")

    def on_scores(scores: dict[str, float]) -> None:
        if live:
            line = "  ".join(f"{k} {_bar(v, t)} {v:.2f}" for (k, v), t in zip(scores.items(), detector.thresholds))
            sys.stderr.write("\r" + line[:200])
            sys.stderr.flush()

    try:
        blocks = open_microphone()
    except KwtuiError as exc:
        fail(str(exc), exc.exit_code)
        return
    if not json_output:
        typer.echo(f"listening with {detector.name} ({', '.join(_point_text(detector))}); Ctrl-C stops", err=True)
    try:
        with graceful_interrupt() as cancel:  # Ctrl-C is how listening ends: exit 0
            listen_loop(detector, blocks, on_hit, on_scores, cancel)
    except KeyboardInterrupt:
        pass
    if live:
        sys.stderr.write("\n")
    if not json_output:
        typer.echo(f"stopped: {len(hits)} detection(s) in {time.monotonic() - started:.0f} s", err=True)
