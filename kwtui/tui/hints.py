"""Core messages name CLI commands and flags; inside the wizard the same advice names wizard actions."""

from __future__ import annotations

import re

_REWRITES = [
    (re.compile(r"run `kwtui features [^`]*`( first| again)?"), "run step 3 Features (Ctrl+R there)"),
    (
        re.compile(r"run `kwtui train [^`]*`, then `kwtui convert [^`]*`( first)?"),
        "run step 4 Training, then Evaluate + convert in step 5",
    ),
    (re.compile(r"run `kwtui train [^`]*`( first| again)?"), "run step 4 Training (Ctrl+R there)"),
    (re.compile(r"run `kwtui (evaluate|convert) [^`]*`( first| again)?"), "run Evaluate + convert in step 5"),
    (re.compile(r"run without --resume( to start over)?"), "press Start (not Resume) to start over"),
    (re.compile(r"re-run with --resume( to continue)?"), "press Resume to continue"),
    (re.compile(r"re-run to continue \(--resume; --restart starts over\)"), "press Resume to continue"),
    (re.compile(r"re-run to resume"), "press Resume to continue"),  # what the Start button reads after a cancel
    (
        re.compile(r"(pick one|pick another port) with --port( \(see `ls /dev/tty\*`\))?"),
        "pick the port in step 6's Port list",
    ),
    (re.compile(r"pass --port /dev/\w+"), "pick the port in step 6's Port list"),
    (re.compile(r"`kwtui presets show (\w+)`"), r"Ctrl+O loads it"),
    (
        re.compile(r"set (features\.output|run_dir|convert\.firmware_dir) "),
        r"change \1 in the preset (Ctrl+S saves it) ",
    ),
]


def in_wizard(message: str) -> str:
    for pattern, replacement in _REWRITES:
        message = pattern.sub(replacement, message)
    return message
