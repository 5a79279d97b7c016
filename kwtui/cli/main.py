"""`kwtui` entry point. Thin: parse arguments, load the preset, call kwtui.core, render events.

Exit codes (kwtui.core.errors.ExitCode): 0 ok, 1 failure during work, 2 bad input, 130 interrupted.
Nothing here imports TensorFlow or Textual at module level: `kwtui --help` must be instant.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Optional

import typer

from kwtui.cli.runtime import fail, run_with_events
from kwtui.core.errors import ExitCode, KwtuiError

app = typer.Typer(
    name="kwtui",
    help="From a folder of speech clips to a keyword detector on an ESP32. Run without a command for the wizard.",
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: option placeholders in capitals, as in any Unix tool, no <bool> after flags
)
presets_app = typer.Typer(help="List, show and validate presets.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(presets_app, name="presets")
export_app = typer.Typer(
    help="Export the trained model for another runtime.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(export_app, name="export")

PresetArg = typer.Argument(
    ..., metavar="PRESET", help="Preset file, or the name of a shipped/saved preset (see `kwtui presets list`)."
)
SetOpt = typer.Option([], "--set", metavar="KEY=VALUE", help="Override a preset field: section.key=value (repeatable).")
JsonOpt = typer.Option(False, "--json", help="Write one JSON event per line to stdout.")
ForceOpt = typer.Option(
    False,
    "--force",
    help="Deploy even a model that detects fewer than half of the held-out keyword clips at its operating point.",
)


def load(preset: str, overrides: list[str]):
    from kwtui.core.preset import find_preset, load_preset

    try:
        return load_preset(find_preset(preset), overrides)
    except KwtuiError as exc:
        fail(str(exc), exc.exit_code)


def stage_command(stage: str, preset: str, overrides: list[str], json_output: bool, **options: Any) -> None:
    """`kwtui <stage>`: the same orchestrator, pre-checks and locks as `kwtui run` and the wizard's buttons."""
    from kwtui.core.stages.pipeline import run_command

    loaded = load(preset, overrides)
    run_with_events(json_output, lambda report, cancel: run_command(stage, loaded, report, cancel, **options))


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"kwtui {version('kwtui')}")
        except PackageNotFoundError:  # run from a checkout that was never installed
            typer.echo("kwtui (not installed: run from a source checkout)")
        raise typer.Exit()


@app.callback(invoke_without_command=True)
def root(
    ctx: typer.Context,
    show_version: bool = typer.Option(
        False, "--version", help="Print kwtui's version and exit.", callback=_print_version, is_eager=True
    ),
) -> None:
    """Without a command, open the wizard."""
    if ctx.invoked_subcommand is None:
        from kwtui.tui.app import run_wizard

        run_wizard(None)


@app.command()
def wizard(
    preset: Optional[str] = typer.Argument(None, metavar="PRESET", help="Preset to pre-fill the wizard with."),
) -> None:
    """Open the interactive wizard (Textual)."""
    loaded = load(preset, []) if preset else None
    from kwtui.core.preset import find_preset
    from kwtui.tui.app import run_wizard

    run_wizard(loaded, find_preset(preset) if preset else None)


@app.command()
def run(
    preset: str = PresetArg,
    overrides: list[str] = SetOpt,
    start: Optional[str] = typer.Option(
        None, "--from", metavar="STAGE", help="First stage: features, train, evaluate, convert, flash."
    ),
    until: Optional[str] = typer.Option(None, "--until", metavar="STAGE", help="Last stage."),
    resume: Optional[bool] = typer.Option(
        None,
        "--resume/--restart",
        help="Training: continue after the last finished epoch, or start over (default: continue an interrupted "
        "run of these settings, else start over); a training up to date is not run again (`kwtui train` runs it).",
    ),
    json_output: bool = JsonOpt,
) -> None:
    """Replay a preset headless: features, train, evaluate, convert (and flash if the preset enables it)."""
    from kwtui.core.stages.pipeline import run_pipeline

    loaded = load(preset, overrides)
    run_with_events(
        json_output,
        lambda report, cancel: run_pipeline(loaded, report, cancel, start=start, until=until, resume=resume),
    )


@app.command()
def features(preset: str = PresetArg, overrides: list[str] = SetOpt, json_output: bool = JsonOpt) -> None:
    """Generate the .npy feature store (resumable: re-run to continue)."""
    stage_command("features", preset, overrides, json_output)


@app.command()
def train(
    preset: str = PresetArg,
    overrides: list[str] = SetOpt,
    resume: Optional[bool] = typer.Option(
        None,
        "--resume/--restart",
        help="Continue after the last finished epoch, or start over (default: continue an interrupted run of "
        "these settings, else start over).",
    ),
    json_output: bool = JsonOpt,
) -> None:
    """Train the model, streaming features from disk."""
    stage_command("train", preset, overrides, json_output, resume=resume)


@app.command()
def evaluate(preset: str = PresetArg, overrides: list[str] = SetOpt, json_output: bool = JsonOpt) -> None:
    """Confusion matrix, precision/recall, false accepts per hour, threshold sweep."""
    stage_command("evaluate", preset, overrides, json_output)


@app.command()
def convert(preset: str = PresetArg, overrides: list[str] = SetOpt, json_output: bool = JsonOpt) -> None:
    """int8 TFLite, checked in TFLite Micro, exported as model.cc/model.h."""
    stage_command("convert", preset, overrides, json_output)


@app.command()
def flash(
    preset: str = PresetArg,
    overrides: list[str] = SetOpt,
    port: Optional[str] = typer.Option(
        None, "--port", metavar="PORT", help="Serial port (default: the preset's, 'auto' finds it)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the esptool command instead of flashing."),
    force: bool = ForceOpt,
    json_output: bool = JsonOpt,
) -> None:
    """Write the model (and optionally the firmware) to the ESP32 with esptool."""
    stage_command("flash", preset, overrides, json_output, dry_run=dry_run, port=port, force_deploy=force)


@export_app.command("esphome")
def export_esphome(
    preset: str = PresetArg,
    overrides: list[str] = SetOpt,
    out: Optional[Path] = typer.Option(
        None, "--out", metavar="DIR", help="Folder for <wake_word>.tflite and .json (default: runs/<name>/esphome)."
    ),
    force: bool = ForceOpt,
    json_output: bool = JsonOpt,
) -> None:
    """A model and manifest (v2) that ESPHome's micro_wake_word runs unchanged (features.frontend = "micro",
    train.model = "stream"); prints the YAML to use it."""
    stage_command("esphome", preset, overrides, json_output, out=out, force_deploy=force)


TargetArg = typer.Argument(
    ...,
    metavar="TARGET",
    help="A preset (its run folder's converted model), a run folder, or an ESPHome "
    "manifest (<wake word>.json beside its .tflite).",
)
ThresholdOpt = typer.Option(
    None, "--threshold", metavar="SCORE", help="One threshold for every keyword instead of the chosen ones."
)
WindowOpt = typer.Option(None, "--window", metavar="N", help="One averaging window (inferences) for every keyword.")


@app.command()
def detect(
    target: str = TargetArg,
    audio: list[Path] = typer.Argument(..., metavar="AUDIO", help="Recordings (any length, any format kwtui reads)."),
    json_output: bool = typer.Option(False, "--json", help="One JSON line per detection and one summary per file."),
    threshold: Optional[float] = ThresholdOpt,
    window: Optional[int] = WindowOpt,
    scores: Optional[Path] = typer.Option(
        None,
        "--scores",
        metavar="DIR",
        help="Write DIR/<file stem>.scores.csv: the model's raw output per label at every inference, before averaging.",
    ),
) -> None:
    """Run the deployed detector over recordings exactly as the device runs it (int8 model, its frontend,
    streaming state, post-processing at the chosen operating point); each file from a fresh start."""
    from kwtui.cli.detect_cmds import detect_command

    detect_command(target, audio, json_output, threshold, window, scores)


@app.command()
def listen(
    target: str = TargetArg,
    json_output: bool = typer.Option(False, "--json", help="One JSON line per detection."),
    threshold: Optional[float] = ThresholdOpt,
    window: Optional[int] = WindowOpt,
) -> None:
    """The deployed detector on this machine's microphone: a live score per keyword, detections as they happen;
    Ctrl-C stops."""
    from kwtui.cli.detect_cmds import listen_command

    listen_command(target, json_output, threshold, window)


@app.command()
def monitor(
    port: Optional[str] = typer.Option(None, "--port", metavar="PORT", help="Serial port (default: auto)."),
    baud: int = typer.Option(
        115200, "--baud", metavar="RATE", min=300, max=5_000_000, help="The firmware prints at 115200."
    ),
    json_output: bool = JsonOpt,
) -> None:
    """Show the detections the firmware prints on serial."""
    from kwtui.cli.device_cmds import monitor_command

    monitor_command(port, baud, json_output)


@app.command()
def scan(
    dataset: Path = typer.Argument(..., metavar="DATASET", help="A Speech-Commands-style folder."),
    json_output: bool = JsonOpt,
    verbose: bool = typer.Option(False, "--verbose", "-v", help="List every file with a problem or a conversion."),
) -> None:
    """Words, clip counts, durations and problems of a dataset (reads headers only)."""
    from kwtui.cli.data_cmds import scan_command

    scan_command(dataset, json_output, verbose)


@app.command("demo-data")
def demo_data(
    out_dir: Path = typer.Argument(Path("data/demo"), metavar="OUT_DIR", help="Where to write the dataset."),
    words: Optional[str] = typer.Option(
        None, "--words", metavar="WORDS", help="Comma-separated words (default: a built-in list)."
    ),
    per_word: int = typer.Option(40, "--per-word", metavar="N", help="Clips per word."),
    seed: int = typer.Option(
        0, "--seed", metavar="N", help="Seed for voices, variants and noise: the same seed, the same dataset."
    ),
    json_output: bool = JsonOpt,
) -> None:
    """Synthesize a small Speech-Commands-shaped dataset with espeak-ng."""
    from kwtui.cli.data_cmds import demo_data_command

    demo_data_command(out_dir, words, per_word, seed, json_output)


@presets_app.command("list")
def presets_list() -> None:
    """Shipped and saved presets."""
    from kwtui.core.preset import list_presets

    for path in list_presets():
        typer.echo(f"{path.stem:20s} {path}")


@presets_app.command("show")
def presets_show(preset: str = PresetArg, overrides: list[str] = SetOpt) -> None:
    """Print a preset (with --set overrides applied) with every default filled in, each key under what it does."""
    typer.echo(load(preset, overrides).to_documented_toml(), nl=False)


@presets_app.command("validate")
def presets_validate(preset: str = PresetArg, overrides: list[str] = SetOpt) -> None:
    """Check a preset; exit 2 with the field named when it is invalid."""
    loaded = load(preset, overrides)
    typer.echo(f"ok: {loaded.name} ({', '.join(loaded.class_names)})")


def save_crash_report() -> Path | None:
    """Write the current exception's traceback to the user's log folder; None if that fails too."""
    import time
    import traceback

    try:
        import platformdirs

        folder = Path(platformdirs.user_log_dir("kwtui"))
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
        # argv and paths may hold bytes that are not UTF-8 (surrogate escapes): the report keeps them escaped
        path.write_text(
            f"kwtui {' '.join(sys.argv[1:])}\n\n{traceback.format_exc()}", encoding="utf-8", errors="backslashreplace"
        )
        return path
    except (OSError, ValueError):
        return None


def main() -> None:
    try:
        code = app(standalone_mode=False)  # returns the exit code of typer.Exit / click's Exit
        if isinstance(code, int) and code:
            sys.exit(code)
    except typer.TyperException as exc:  # click's errors (typer exports their base): bad arguments, one line, exit 2
        ctx = getattr(exc, "ctx", None)
        command = ctx.command_path if ctx is not None else "kwtui"
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        if type(exc).__name__ == "NoArgsIsHelpError":  # a group called bare: its help (the message), then one line
            typer.echo(message, err=True)
            message = ""
        typer.echo(f"error: {message or 'missing command'} (see `{command} --help`)", err=True)
        sys.exit(int(getattr(exc, "exit_code", ExitCode.USAGE)))
    except typer.Exit as exc:  # from fail(), --help
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):  # Ctrl-C while click parsed, or before a command's clean stop took it
        typer.echo("error: interrupted", err=True)
        sys.exit(int(ExitCode.INTERRUPTED))
    except KwtuiError as exc:  # a stray one from a command without run_with_events
        typer.echo(f"error: {exc}", err=True)
        sys.exit(int(exc.exit_code))
    except Exception as exc:  # a bug, not a user error: one line here, the traceback in a file
        if os.environ.get("KWTUI_DEBUG"):
            raise
        report = save_crash_report()
        where = f"; traceback in {report}" if report else ""
        typer.echo(f"error: internal error ({type(exc).__name__}: {exc}){where}; please report it", err=True)
        sys.exit(int(ExitCode.FAILURE))
