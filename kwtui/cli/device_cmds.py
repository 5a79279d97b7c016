"""`kwtui monitor`: show the detections the firmware prints on serial (Rich/plain lines, or JSON lines)."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from datetime import datetime
from typing import Optional

import typer

from kwtui.core.errors import KwtuiError


def resolve_port(port: Optional[str]) -> str:
    """The given port, or the auto-discovered ESP32 port (UserError when none)."""
    from kwtui.core.device.ports import check_port_access, discover_port

    chosen = discover_port().device if port is None or port in ("", "auto") else port
    check_port_access(chosen)
    return chosen


def monitor_command(port: Optional[str], baud: int, json_output: bool) -> None:
    from kwtui.cli.runtime import fail, graceful_interrupt
    from kwtui.core.device.serial_monitor import DetectionEvent, StatusLine, monitor

    try:
        chosen = resolve_port(port)
    except KwtuiError as exc:
        fail(str(exc), exc.exit_code)
        return
    if not json_output:
        typer.echo(f"listening on {chosen} at {baud} baud (Ctrl-C to stop)", err=True)
    count = 0

    def show(event: DetectionEvent | StatusLine) -> None:
        nonlocal count
        if json_output:
            kind = "detection" if isinstance(event, DetectionEvent) else "line"
            sys.stdout.write(json.dumps({"event": kind, **asdict(event)}) + "\n")
            sys.stdout.flush()
        elif isinstance(event, DetectionEvent):
            count += 1
            stamp = datetime.fromtimestamp(event.host_time).strftime("%H:%M:%S")
            typer.echo(f"{stamp}  {event.label:<16} score {event.score:.3f}  (device t={event.device_ms} ms)")
        else:
            typer.echo(f"  | {event.text}", err=True)

    try:
        with graceful_interrupt() as cancel:
            monitor(chosen, baud, show, cancel)
    except KwtuiError as exc:
        fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        pass
    if not json_output:
        typer.echo(f"stopped: {count} detection(s)", err=True)
