"""esptool as a library: its progress forwarded as kwtui events, its errors mapped to one-line kwtui errors."""

from __future__ import annotations

import struct
import time
from pathlib import Path
from typing import Any

from kwtui.core import events as ev
from kwtui.core.errors import Cancelled, KwtuiError, UserError

STAGE = "flash"


def _template_logger_base() -> type:
    from esptool.logger import TemplateLogger

    logger_base: type = TemplateLogger
    return logger_base


def make_progress_logger(report: ev.Reporter, cancel: ev.CancelToken, total_bytes: int, files: int = 1) -> Any:
    """An esptool logger turning its per-file progress into byte Progress events over all files.

    esptool 5 draws one progress task per file written (log.progress -> progress_bar(bytes done, file bytes));
    a restart from zero means the next file. Other output is kept in `lines` for error messages.
    """

    base: Any = _template_logger_base()

    class ProgressLogger(base):
        def __init__(self) -> None:
            self.lines: list[str] = []
            self.started = time.monotonic()
            self.file_index = 0
            self.finished_bytes = 0  # bytes of the files already written
            self._file_total = 0
            self._last_iter: int | None = None

        def print(self, *args: Any, **kwargs: Any) -> None:
            text = " ".join(str(a) for a in args).strip()
            if text:
                self.lines.append(text)

        def note(self, message: str) -> None:
            self.lines.append(f"note: {message}")

        def warning(self, message: str) -> None:
            report(ev.StageWarning(STAGE, f"esptool: {message}"))

        def error(self, message: str) -> None:
            self.lines.append(f"error: {message}")

        def stage(self, finish: bool = False) -> None:
            pass

        def set_verbosity(self, verbosity: str) -> None:
            pass

        def progress_bar(
            self, cur_iter: int, total_iters: int, prefix: str = "", suffix: str = "", bar_length: int = 30
        ) -> None:
            if cancel.cancelled:
                # The partition is left with a bad CRC: the firmware then boots its compiled-in model.
                raise Cancelled("flash cancelled; the device falls back to its compiled-in model until re-flashed")
            previous_done = self._last_iter is not None and self._last_iter >= self._file_total
            restarted = self._last_iter is not None and cur_iter < self._last_iter
            if restarted or (previous_done and (cur_iter, total_iters) != (self._last_iter, self._file_total)):
                self.finished_bytes += self._file_total
                self.file_index += 1
            self._last_iter, self._file_total = cur_iter, total_iters
            total = max(total_bytes, self.finished_bytes + total_iters)
            done = min(self.finished_bytes + cur_iter, total)
            elapsed = max(time.monotonic() - self.started, 1e-6)
            rate = done / elapsed
            eta = (total - done) / rate if rate > 0 else None
            report(
                ev.Progress(
                    STAGE,
                    done,
                    total,
                    rate=rate,
                    eta_s=eta,
                    unit="bytes",
                    message=f"writing file {min(self.file_index + 1, files)}/{files}",
                )
            )

    return ProgressLogger()


class _quiet_esptool:
    """Install a logger on esptool for the duration of a call; restore the previous one after."""

    def __init__(self, logger: Any | None = None) -> None:
        self.logger = logger

    def __enter__(self) -> Any:
        from esp_pylib.logger import EspLog
        from esptool.logger import log

        self._previous = EspLog.instance
        logger = self.logger or make_progress_logger(ev.ignore, ev.CancelToken(), 0)
        log.set_logger(logger)
        return logger

    def __exit__(self, *exc: Any) -> None:
        from esp_pylib.logger import EspLog

        EspLog.instance = self._previous


def esptool_error(exc: BaseException, port: str | None) -> KwtuiError:
    """Map esptool's and pyserial's messages onto one-line kwtui errors."""
    text = " ".join(str(exc).split()).split(" For troubleshooting")[0]
    where = port or "serial port"
    if isinstance(exc, (IndexError, struct.error)):  # esptool parsing a reply that is not the ROM loader's
        return KwtuiError(
            f"{where}: what answers there is not an ESP32 bootloader (a malformed reply: {text[:60]}); "
            "check that the port is the board's, close any other program using it, then retry"
        )
    if "Permission denied" in text or "Errno 13" in text:
        return UserError(
            f"{where}: permission denied; add yourself to the dialout group "
            "(`sudo usermod -aG dialout $USER`, then log out and back in)"
        )
    if "Wrong chip argument" in text or "not " in text and "This chip is" in text:
        return UserError(f'flash.chip: {text}; set flash.chip to the board\'s chip or "auto"')
    if "No such file" in text or "Errno 2" in text or "could not open port" in text.lower():
        return UserError(f"{where}: no such serial port; plug the board in or pick one with --port")
    if "Failed to connect" in text or "No serial data received" in text:
        return KwtuiError(
            f"{where}: the ESP32 did not answer ({text[:120]}); hold BOOT while flashing starts, "
            "or check the cable and the port"
        )
    return KwtuiError(f"esptool: {text[:200]}")


ROM_BAUD = 115200
CONNECT_ATTEMPTS = 3


def flash_board(
    port: str, baud: int, expected_chip: str, plan_for: Any, logger: Any, report: ev.Reporter
) -> tuple[str, Any]:
    """One esptool session through its public API: detect the chip (refusing another than `expected_chip`), load
    the flasher stub, raise the baud rate, attach the flash, write what `plan_for(chip)` plans (its `.writes`:
    (offset, path)), verify (esptool's MD5 check), reset the board. Returns (chip, plan)."""
    from esptool.cmds import attach_flash, reset_chip, run_stub, write_flash
    from esptool.cmds import detect_chip as esptool_detect

    from kwtui.core.device.ports import check_chip

    esp = None
    with _quiet_esptool(logger):
        try:
            esp = esptool_detect(port, ROM_BAUD, connect_mode="default-reset", connect_attempts=CONNECT_ATTEMPTS)
            chip = check_chip(expected_chip, esp.CHIP_NAME, port)
            report(ev.Progress(STAGE, 0, None, unit="bytes", message=f"{esp.CHIP_NAME} on {port}"))
            plan = plan_for(chip)
            esp = run_stub(esp)
            if baud != ROM_BAUD:
                esp.change_baud(baud)
            attach_flash(esp)
            write_flash(
                esp,
                [(offset, str(path)) for offset, path in plan.writes],
                flash_freq="keep",
                flash_mode="keep",
                flash_size="keep",
                compress=True,
            )
            # esptool counts compressed bytes: a file that compresses ends its bar short of its size; written and
            # MD5-verified means all of it
            written = sum(Path(path).stat().st_size for _, path in plan.writes)
            report(ev.Progress(STAGE, written, written, unit="bytes", message="written and verified"))
            reset_chip(esp, "hard-reset")
            return chip, plan
        except (Cancelled, UserError):
            raise
        except Exception as exc:  # noqa: BLE001 - esptool raises FatalError/SerialException/OSError
            raise esptool_error(exc, port) from None
        finally:
            if esp is not None:
                try:
                    esp._port.close()  # noqa: SLF001 - esptool has no public close
                except Exception:  # noqa: BLE001 - the line may already be gone
                    pass
