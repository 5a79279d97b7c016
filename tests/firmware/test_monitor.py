"""Serial monitor: detection lines from a pseudo-terminal (os.openpty stands in for the ESP32's USB serial).

Verified here: line parsing, partial lines across reads, other lines kept apart, garbage from a wrong baud
rate, cancellation, the CLI's text and JSON output and its errors. NOT verified here: a real board's output.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from kwtui.core.device.serial_monitor import DetectionEvent, StatusLine, monitor, parse_line
from kwtui.core.events import CancelToken

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def pty_port():
    """(writer fd, device path): the test writes what the 'firmware' prints; the monitor opens the path."""
    master, slave = os.openpty()
    path = os.ttyname(slave)
    yield master, path
    os.close(master)
    os.close(slave)


def test_parse_line():
    event = parse_line("DETECT label=marvin score=0.953 t_ms=123456\r\n", host_time=5.0)
    assert event == DetectionEvent("marvin", 0.953, 123456, 5.0)
    assert parse_line("DETECT label=_unknown score=1.000 t_ms=0").label == "_unknown"
    assert (
        parse_line("DETECT label=hey marvin score=0.900 t_ms=7").label == "hey marvin"
    )  # folder names may have spaces
    for other in ("model: partition (v1, 3 classes, arena 24576)", "DETECT label= score=x t_ms=1", "", "DETECTED"):
        assert parse_line(other) is None


def _monitored(master: int, path: str, writes: list[bytes], detections_wanted: int) -> list:
    """Run `monitor` on `path` in a thread while each of `writes` is written to the pty (0.3 s apart, so a line
    may be split across reads); stop once `detections_wanted` detections came (or after 5 s). Its events."""
    got: list = []
    cancel = CancelToken()
    thread = threading.Thread(target=monitor, args=(path, 115200, got.append, cancel), daemon=True)
    thread.start()
    for data in writes:
        time.sleep(0.3)
        os.write(master, data)
    deadline = time.monotonic() + 5
    while sum(isinstance(e, DetectionEvent) for e in got) < detections_wanted and time.monotonic() < deadline:
        time.sleep(0.05)
    cancel.cancel()
    thread.join(timeout=3)
    assert not thread.is_alive()
    return got


def test_any_bytes_never_stop_the_monitor_nor_reach_the_terminal_raw(pty_port):
    """A UART garbles lines: "score=0..63" once killed the monitor (float("0..63")); escape sequences were passed
    to the terminal. Every byte value, garbled detections and ESC sequences: the monitor keeps reading, shows them
    as text without control characters, and still parses the good detection that follows."""
    master, path = pty_port
    noise = bytes(range(256)).replace(b"\n", b"")
    got = _monitored(
        master,
        path,
        [
            b"DETECT label=yes score=0..63 t_ms=5\r\nDETECT label=\x1b[2Jno score=1e999 t_ms=9\r\n"
            + noise
            + b"\r\nDETECT label=yes score=0.9 t_ms=99999999999999999999999\r\n"
            + b"\x1b]0;owned\x07title\r\nDETECT label=left score=0.75 t_ms=42\r\n"
        ],
        1,
    )
    assert [(e.label, e.score, e.device_ms) for e in got if isinstance(e, DetectionEvent)] == [("left", 0.75, 42)]
    texts = [e.text for e in got if isinstance(e, StatusLine)]
    assert len(texts) >= 4 and not any(ch in t for t in texts for ch in "\x1b\x07\x00\x9b")


def test_monitor_reads_detections_and_other_lines_from_a_pty(pty_port):
    master, path = pty_port
    got = _monitored(
        master,
        path,
        [
            b"ets Jun  8 2016 00:22:57\r\nkwtui: model from partition\r\nDETECT label=mar",
            # a line split across two reads
            b"vin score=0.912 t_ms=4000\r\n\xff\xfe garbage\r\nDETECT label=sheila score=0.990 t_ms=6100\r\n",
        ],
        2,
    )
    detections = [(e.label, e.score, e.device_ms) for e in got if isinstance(e, DetectionEvent)]
    assert detections == [("marvin", 0.912, 4000), ("sheila", 0.99, 6100)]
    others = [e.text for e in got if isinstance(e, StatusLine)]
    assert others[:2] == ["ets Jun  8 2016 00:22:57", "kwtui: model from partition"]
    assert len(others) == 3  # the undecodable line is passed on, not fatal


def test_cli_monitor_json_until_ctrl_c(pty_port):
    master, path = pty_port
    proc = subprocess.Popen(
        [sys.executable, "-m", "kwtui", "monitor", "--port", path, "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        time.sleep(1.5)  # start-up of the CLI
        os.write(master, b"boot\r\nDETECT label=marvin score=0.950 t_ms=1000\r\n")
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    assert events[0] == {"event": "line", "text": "boot", "host_time": events[0]["host_time"]}
    assert {k: events[1][k] for k in ("event", "label", "score", "device_ms")} == {
        "event": "detection",
        "label": "marvin",
        "score": 0.95,
        "device_ms": 1000,
    }


def test_cli_monitor_text_output(pty_port):
    master, path = pty_port
    proc = subprocess.Popen(
        [sys.executable, "-m", "kwtui", "monitor", "--port", path],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        time.sleep(1.5)
        os.write(master, b"DETECT label=left score=0.931 t_ms=77\r\n")
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert "left" in out and "score 0.931" in out and "device t=77 ms" in out
    assert "listening on" in err and "stopped: 1 detection(s)" in err


def test_cli_monitor_missing_port_is_a_one_line_error(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "kwtui", "monitor", "--port", str(tmp_path / "ttyUSB5")],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert done.returncode == 2
    assert (
        done.stderr.strip()
        == f"error: {tmp_path / 'ttyUSB5'}: no such serial port; plug the board in or pick one with --port (see `ls /dev/tty*`)"
    )
