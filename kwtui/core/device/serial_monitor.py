"""Read the firmware's serial output and turn its detection lines into typed events.

The firmware prints one line per detection (firmware/src/postprocess/detection_line.h):
    DETECT label=<label> score=<0.000> t_ms=<n>
Other lines (boot log, status) are passed on as `StatusLine`s or ignored by the caller.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from kwtui.core.errors import KwtuiError, UserError
from kwtui.core.events import CancelToken

# a score is one decimal number: a line the UART garbled ("score=0..63") is shown as text, never a detection
DETECTION_RE = re.compile(
    r"^DETECT label=(?P<label>.+?) score=(?P<score>\d+(?:\.\d*)?|\.\d+) t_ms=(?P<t_ms>\d{1,15})\b"
)


@dataclass(frozen=True)
class DetectionEvent:
    label: str
    score: float
    device_ms: int  # the device's millis() at the detection
    host_time: float  # time.time() when the line arrived


@dataclass(frozen=True)
class StatusLine:
    """Any other line the firmware printed (boot messages, model source, errors)."""

    text: str
    host_time: float


def parse_line(line: str, host_time: float | None = None) -> DetectionEvent | None:
    """A DetectionEvent for a detection line, else None."""
    match = DETECTION_RE.match(line.strip())
    if not match:
        return None
    return DetectionEvent(
        label=match["label"],
        score=float(match["score"]),
        device_ms=int(match["t_ms"]),
        host_time=time.time() if host_time is None else host_time,
    )


def open_serial(port: str, baud: int) -> Any:
    """Open a port for reading (no reset: DTR/RTS left low so the board keeps running)."""
    import serial

    try:
        conn = serial.serial_for_url(port, baudrate=baud, timeout=0.2, do_not_open=True)
        conn.dtr = False
        conn.rts = False
        conn.open()
        return conn
    except serial.SerialException as exc:
        raise _port_error(port, exc) from None


def _port_error(port: str, exc: Exception) -> KwtuiError:
    text = str(exc)
    if (
        isinstance(getattr(exc, "__context__", None), PermissionError)
        or "Permission denied" in text
        or "[Errno 13]" in text
    ):
        return UserError(
            f"{port}: permission denied; add yourself to the serial group "
            "(`sudo usermod -aG dialout $USER`, then log out and in) or pick another port with --port"
        )
    if "No such file" in text or "[Errno 2]" in text or "could not open port" in text:
        return UserError(f"{port}: no such serial port; plug the board in or pick one with --port")
    return KwtuiError(f"{port}: serial error: {text}")


def read_lines(conn: Any, cancel: CancelToken | None = None, max_line: int = 512) -> Iterator[str]:
    """Decoded lines from an open serial connection until cancelled or the port closes."""
    import serial

    buffer = b""
    while cancel is None or not cancel.cancelled:
        try:
            chunk = conn.read(256)
        except (serial.SerialException, OSError) as exc:
            if cancel is not None and cancel.cancelled:
                return
            raise KwtuiError(f"serial port lost: {exc}; is the board still plugged in?") from None
        if not chunk:
            continue
        buffer += chunk
        while b"\n" in buffer:
            raw, buffer = buffer.split(b"\n", 1)
            yield printable(raw.decode("utf-8", errors="replace").rstrip("\r"))
        if len(buffer) > max_line:  # garbage without newlines (wrong baud rate): drop it
            yield printable(buffer.decode("utf-8", errors="replace"))
            buffer = b""


_CONTROL = {c: "\ufffd" for c in [*range(0, 9), *range(10, 32), 127, *range(0x80, 0xA0)]}


def printable(text: str) -> str:
    """A line as it may reach a terminal: control characters (ESC starts terminal escape sequences that could
    move the cursor, retitle or clear the screen) become U+FFFD; a tab stays."""
    return text.translate(_CONTROL)


def monitor(
    port: str,
    baud: int,
    on_event: Callable[[DetectionEvent | StatusLine], None],
    cancel: CancelToken,
) -> None:
    """Read `port` until `cancel` is set, calling `on_event` for every detection and every other line."""
    conn = open_serial(port, baud)
    try:
        for line in read_lines(conn, cancel):
            now = time.time()
            event = parse_line(line, now)
            if event is not None:
                on_event(event)
            elif line.strip():
                on_event(StatusLine(line, now))
    finally:
        conn.close()
