"""Serial ports and chips: find the ESP32's port by USB vendor id, check access, detect and check the chip."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterable

from kwtui.core.errors import UserError

# USB vendor ids of the USB-UART bridges found on ESP32 boards, best first.
USB_BRIDGES = {
    0x303A: "Espressif USB JTAG/serial",
    0x10C4: "Silicon Labs CP210x",
    0x1A86: "WCH CH340/CH9102",
    0x0403: "FTDI",
}


@dataclass(frozen=True)
class PortInfo:
    device: str
    vid: int | None
    description: str = ""


def list_ports() -> list[PortInfo]:
    from serial.tools import list_ports as lp

    return [PortInfo(p.device, p.vid, p.description or "") for p in lp.comports()]


def rank_ports(ports: Iterable[PortInfo]) -> list[PortInfo]:
    """USB serial ports, known ESP32 bridges first; built-in UARTs (no USB vendor id) are left out."""
    order = list(USB_BRIDGES)
    usb = [p for p in ports if p.vid is not None]
    return sorted(usb, key=lambda p: (order.index(p.vid) if p.vid in USB_BRIDGES else len(order), p.device))


def discover_port(ports: Iterable[PortInfo] | None = None) -> PortInfo:
    """The most likely ESP32 port. Raises UserError when there is none."""
    ranked = rank_ports(list_ports() if ports is None else ports)
    if not ranked:
        raise UserError(
            "no serial port found: plug the ESP32 in with a data USB cable (check `dmesg` for ttyUSB/ttyACM), "
            "or pass --port /dev/ttyUSB0"
        )
    return ranked[0]


def _is_serial_device(port: str) -> bool:
    """A character device that is a terminal (ioctl TCGETS works): /dev/null or a regular file is not."""
    import stat
    import termios

    try:
        if not stat.S_ISCHR(os.stat(port).st_mode):
            return False
        fd = os.open(port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError:
        return True  # cannot tell (e.g. permission): the access check below says why
    try:
        termios.tcgetattr(fd)
        return True
    except termios.error:
        return False
    finally:
        os.close(fd)


def check_port_access(port: str) -> None:
    """Clear errors before esptool tries: the port must exist and be readable and writable."""
    if "://" in port:  # rfc2217:// and socket:// URLs are checked when opened; pyserial's test URLs are no board
        if port.split("://", 1)[0] in ("loop", "spy", "alt", "hwgrep"):
            raise UserError(f"{port}: not a board's serial port; pick one with --port (see `ls /dev/tty*`)")
        return
    if not os.path.exists(port):
        raise UserError(f"{port}: no such serial port; plug the board in or pick one with --port (see `ls /dev/tty*`)")
    if not os.access(port, os.R_OK | os.W_OK):
        raise UserError(
            f"{port}: permission denied; add yourself to the dialout group "
            "(`sudo usermod -aG dialout $USER`, then log out and back in)"
        )
    if not _is_serial_device(port):
        raise UserError(
            f"{port}: not a serial port (a serial port is a character device such as /dev/ttyUSB0); "
            "pick one with --port (see `ls /dev/tty*`)"
        )


def normalize_chip(name: str) -> str:
    """'ESP32-S3' -> 'esp32s3'."""
    return name.lower().replace("-", "").replace("_", "").split("(")[0].strip()


def check_chip(expected: str, detected: str, port: str) -> str:
    found = normalize_chip(detected)
    if expected != "auto" and found != expected:
        raise UserError(
            f"flash.chip: the preset says {expected} but the board on {port} is {detected}; "
            f'set flash.chip = "{found}" (or "auto")'
        )
    return found
