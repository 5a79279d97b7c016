"""Step 6: serial port, chip and baud; a dry run showing the exact esptool command; flashing with a log. Beside
kwtui's firmware, ESPHome: the export for micro_wake_word and the YAML that loads it."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, Label, ProgressBar, Select

from kwtui.core.events import Finished, Progress, StageWarning, Started
from kwtui.core.io.layout import RunLayout
from kwtui.core.preset import Preset
from kwtui.tui.form import FormState
from kwtui.tui.messages import MonitorLine, StageDone, StageEvents
from kwtui.tui.steps.base import int_value
from kwtui.tui.steps.features import StageStep
from kwtui.tui.widgets.log import WrappedLog
from kwtui.tui.widgets.pathinput import PathSuggester
from kwtui.tui.widgets.textinput import Input

CHIPS = ("auto", "esp32", "esp32s3", "esp32s2", "esp32c3")
MONITOR_BAUD = 115200  # the firmware's serial speed (kwtui monitor's default)


def serial_ports() -> list[tuple[str, str]]:
    """(label, device) for each serial port: USB bridges first (likely ESP32 boards), then built-in UARTs."""
    from kwtui.core.device.ports import USB_BRIDGES, list_ports, rank_ports

    ports = list_ports()
    ranked = rank_ports(ports)
    ordered = ranked + [p for p in ports if p not in ranked]
    return [(f"{p.device} {USB_BRIDGES.get(p.vid or 0, p.description)}".strip(), p.device) for p in ordered]


def esp32_like_ports() -> set[str]:
    """The ports `auto` (and the flash stage's discovery) would consider: USB serial bridges."""
    from kwtui.core.device.ports import list_ports, rank_ports

    return {p.device for p in rank_ports(list_ports())}


class FlashStep(StageStep):
    step_id = "flash"
    short_title = "Flash"
    stage = "flash"

    def __init__(self) -> None:
        super().__init__()
        self.ports: list[tuple[str, str]] = []
        self.last_command: str = ""
        self.detections = 0
        self.loaded_run_dir: Path | None = None  # the run folder of the preset the step was last filled from

    def compose(self) -> ComposeResult:
        yield Label("[b]6 Flash[/b]  write the model to the ESP32 model partition with esptool", classes="step-title")
        with Horizontal(classes="fields"):
            yield Label("port", classes="inline-label")
            yield Select([("auto", "auto")], allow_blank=False, id="port", classes="port-select", compact=True)
            yield Button("Refresh", id="refresh-ports", compact=True)
            yield Label("chip", classes="inline-label")
            yield Select([(c, c) for c in CHIPS], allow_blank=False, id="chip", classes="select", compact=True)
            yield Label("baud", classes="inline-label")
            yield Input(id="baud", classes="medium", compact=True)
        with Horizontal(classes="field"):
            yield Label("firmware bins", classes="field-label")
            yield Input(
                id="firmware-bin",
                placeholder="optional: built firmware folder (.bin files)",
                suggester=PathSuggester(),
                compact=True,
            )
            yield Button(
                "ESPHome",
                id="esphome-export",
                compact=True,
                tooltip="instead of kwtui's firmware: export for ESPHome's micro_wake_word",
            )
        with Horizontal(classes="row"):
            yield Button("Dry run", id="flash-dry-run", variant="primary", compact=True)
            yield Button("Flash", id="flash-start", variant="warning", compact=True)
            yield Button("Monitor", id="monitor-start", compact=True, tooltip="show the board's detections")
            yield Button("Cancel", id="flash-cancel", variant="error", disabled=True, compact=True)
        yield Label("", id="flash-status", classes="status")
        yield ProgressBar(total=100, id="flash-progress", show_eta=False)
        yield Label("", id="flash-rate", classes="status")
        yield WrappedLog(id="flash-log", max_lines=1000, markup=False, classes="log")

    def on_mount(self) -> None:
        self.refresh_ports()

    def load_from(self, preset: Preset) -> None:
        # another run folder's dry run is not this one's (a preset saved under a name keeps its folder and its log)
        run_dir = RunLayout(preset).run_dir.absolute()
        if self.loaded_run_dir is not None and run_dir != self.loaded_run_dir:
            self.query_one("#flash-log", WrappedLog).clear()
        self.loaded_run_dir = run_dir
        self.preset_port = preset.flash.port
        self.refresh_ports()
        self.query_one("#chip", Select).value = preset.flash.chip if preset.flash.chip in CHIPS else "auto"
        self.query_one("#baud", Input).value = str(preset.flash.baud)
        self.query_one("#firmware-bin", Input).value = preset.flash.firmware_bin
        self.set_running(self.wizard.task_running(self.stage))

    def apply_to(self, form: FormState) -> None:
        form.set("flash.port", str(self.query_one("#port", Select).value))
        form.set("flash.chip", str(self.query_one("#chip", Select).value))  # the list holds CHIPS only
        form.set("flash.baud", int_value(self.query_one("#baud", Input)))
        form.set("flash.firmware_bin", self.query_one("#firmware-bin", Input).value.strip())

    def refresh_ports(self) -> None:
        self.esp32_like: set[str] = set()
        try:
            self.ports = (self.wizard.port_lister or serial_ports)()
            self.esp32_like = {device for _, device in self.ports} if self.wizard.port_lister else esp32_like_ports()
        except Exception as exc:  # listing ports must never break the step
            self.ports = []
            self.set_status(f"[red]cannot list serial ports: {exc}[/]")
        options = [("auto (first ESP32-like port)", "auto")] + self.ports
        wanted = getattr(self, "preset_port", "auto")
        if wanted not in [v for _, v in options]:
            options.append((f"{wanted} (from preset, not present)", wanted))
        from kwtui.core.device.ports import USB_BRIDGES

        select = self.query_one("#port", Select)
        select.set_options(options)
        select.value = wanted
        if not self.ports:
            self.set_status("no serial port found: plug the board in, then Refresh")
        else:
            likely = [device for _, device in self.ports if device in self.esp32_like]
            self.set_status(
                f"{len(likely)} ESP32-like USB serial port(s) of {len(self.ports)}"
                if likely
                else f"none of the {len(self.ports)} serial port(s) is a USB port of an ESP32 board "
                f"({', '.join(USB_BRIDGES.values())}): auto will not find one; pick the port, or plug the board in "
                "and Refresh"
            )

    def start_button_label(self) -> str:
        return "Flash"

    def set_running(self, running: bool) -> None:
        super().set_running(running)
        self.query_one("#flash-dry-run", Button).disabled = running
        self.query_one("#monitor-start", Button).disabled = running
        self.query_one("#esphome-export", Button).disabled = running

    def on_button_pressed(self, event: Button.Pressed) -> None:
        button = event.button.id
        if button == "refresh-ports":
            self.preset_port = str(self.query_one("#port", Select).value)
            self.refresh_ports()
        elif button in ("flash-dry-run", "flash-start"):
            self.start(dry_run=button == "flash-dry-run")
        elif button == "monitor-start":
            self.start_monitor()
        elif button == "esphome-export":
            self.start_esphome_export()
        elif button == "flash-cancel":
            self.cancel()
            if self.wizard.task_running("monitor"):
                self.wizard.cancel_task("monitor")
                self.set_status("stopping the monitor ...")

    def start(self, dry_run: bool) -> None:
        preset = self.validated_preset()
        if preset is None:
            return
        port = None if preset.flash.port == "auto" else preset.flash.port
        self.query_one("#flash-log", WrappedLog).write(f"--- {'dry run' if dry_run else 'flashing'} ---")
        if self.wizard.start_stage(self.stage, self, preset, dry_run=dry_run, port=port):
            self.set_running(True)
            self.set_status("dry run ..." if dry_run else "flashing ...")

    def start_esphome_export(self) -> None:
        preset = self.validated_preset()
        if preset is None:
            return
        self.query_one("#flash-log", WrappedLog).write("--- ESPHome export ---")
        if self.wizard.start_stage("esphome", self, preset):
            self.set_running(True)
            self.set_status("exporting for ESPHome ...")

    def show_esphome_result(self, summary: dict) -> None:
        from kwtui.core.stages.esphome import yaml_snippet

        log = self.query_one("#flash-log", WrappedLog)
        manifest = Path(str(summary["manifest"]))
        log.write(
            f"wrote {summary['model']} ({summary['model_bytes']:,} B, arena {summary['tensor_arena_size']:,} B,"
            f" cutoff {summary['probability_cutoff']}, window {summary['sliding_window_size']})"
        )
        log.write(
            f"copy {manifest.name} and {Path(str(summary['model'])).name} next to your device's YAML "
            "(e.g. config/esphome/), then add:"
        )
        for line in yaml_snippet(Path(manifest.name)).splitlines():
            log.write(Text(line, style="bold"))
        self.set_status(f"[green]ESPHome export in {manifest.parent}[/]")

    def start_monitor(self) -> None:
        """Read the board's serial output (115200 baud, the firmware's) until Cancel."""
        port = str(self.query_one("#port", Select).value)
        post = self.post_message

        def work(report, cancel):
            from kwtui.core.device.ports import discover_port
            from kwtui.core.device.serial_monitor import DetectionEvent, monitor

            device = discover_port().device if port == "auto" else port
            post(MonitorLine(f"--- monitoring {device} at {MONITOR_BAUD} baud (Cancel stops) ---"))

            def on_event(event) -> None:
                if isinstance(event, DetectionEvent):
                    post(
                        MonitorLine(
                            f"DETECT {event.label} score {event.score:.3f} (device {event.device_ms} ms)", event
                        )
                    )
                else:
                    post(MonitorLine(event.text))

            monitor(device, MONITOR_BAUD, on_event, cancel)
            return {}

        if self.wizard.start_task("monitor", self, work):
            self.set_running(True)
            self.set_status("monitoring ...")

    def on_monitor_line(self, message: MonitorLine) -> None:
        log = self.query_one("#flash-log", WrappedLog)
        if message.detection is not None:
            self.detections += 1
            log.write(Text(message.text, style="bold green"))
            self.set_status(f"monitoring: {self.detections} detection(s), last: {message.detection.label}")
        else:
            log.write(message.text)

    def on_stage_events(self, message: StageEvents) -> None:
        log = self.query_one("#flash-log", WrappedLog)
        for event in message.events:
            if isinstance(event, Progress):
                self.show_progress(event)
                if event.message:
                    log.write(event.message)
            elif isinstance(event, (Started, StageWarning)) and event.message:
                log.write(event.message)
            elif isinstance(event, Finished) and event.summary.get("command"):
                self.last_command = str(event.summary["command"])

    def on_stage_done(self, message: StageDone) -> None:
        message.stop()
        self.set_running(False)
        log = self.query_one("#flash-log", WrappedLog)
        if message.stage == "monitor":
            if message.status == "failed":
                log.write(f"error: {message.message}")
                self.set_status(f"[red]{message.message}[/]")
            else:
                log.write("--- monitor stopped ---")
                self.set_status(f"monitor stopped: {self.detections} detection(s)")
            return
        if message.ok and message.stage == "esphome":
            self.show_esphome_result(message.summary)
            return
        if message.ok:
            command = message.summary.get("command") or self.last_command
            if command:
                self.last_command = command if isinstance(command, str) else " ".join(map(str, command))
                for line in shell_lines(self.last_command):
                    log.write(line)
            self.set_status(
                "[green]dry run: the esptool command is in the log below[/]"
                if message.summary.get("dry_run", True)
                else "[green]flashed[/]"
            )
            if not message.summary.get("dry_run", True):
                self.wizard.mark_step_done(5)
        else:
            colour = "yellow" if message.status == "cancelled" else "red"
            log.write(f"error: {message.message}")
            self.set_status(f"[{colour}]{message.message}[/]")


def shell_lines(command: str) -> list[str]:
    """A long command as the lines of one shell command (`\\` continuations): each option with its value and each
    flash offset with its file on a line of its own, so a narrow log wraps no argument into two and a copy of the
    lines still runs."""
    import shlex

    words = shlex.split(command)
    groups: list[list[str]] = [[]]
    for i, word in enumerate(words):
        starts = word.startswith("--") or (word.startswith("0x") and i > 0 and not words[i - 1].startswith("--"))
        if starts and groups[-1]:
            groups.append([])
        groups[-1].append(word)
    lines = [shlex.join(group) for group in groups]
    return ["$ " + lines[0] + (" \\" if len(lines) > 1 else "")] + [
        "    " + line + (" \\" if k < len(lines) - 2 else "") for k, line in enumerate(lines[1:])
    ]
