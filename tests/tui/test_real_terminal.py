"""The real `kwtui` wizard in a real terminal (tmux), at several sizes and after live resizes.

The Textual test harness sets the size itself, so it cannot show whether the wizard reads the terminal's real
size. Here tmux gives the program a pseudo-terminal of a given size; the screen is read back with
capture-pane and checked: the header on the first line, the footer (key bindings) on the last line, nothing
drawn past the window, and the same after the window is resized while the wizard runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

KWTUI = Path(sys.executable).with_name("kwtui")

pytestmark = pytest.mark.skipif(
    shutil.which("tmux") is None, reason="tmux not installed (scripts/setup.sh installs it)"
)


class Tmux:
    def __init__(self, tmp_path: Path, width: int, height: int) -> None:
        self.socket = f"kwtui-test-{os.getpid()}-{width}x{height}"
        self.env = {
            **os.environ,
            "TERM": "xterm-256color",
            "XDG_STATE_HOME": str(tmp_path / "state"),
            "XDG_CONFIG_HOME": str(tmp_path / "config"),
        }
        self.env.pop("COLUMNS", None)
        self.env.pop("LINES", None)
        self.run(
            "new-session",
            "-d",
            "-s",
            "w",
            "-x",
            str(width),
            "-y",
            str(height),
            "-c",
            str(tmp_path),
            f"env -u COLUMNS -u LINES {KWTUI}",
        )

    def run(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", self.socket, *args], env=self.env, capture_output=True, text=True, check=True
        ).stdout

    def screen(self) -> list[str]:
        return self.run("capture-pane", "-p", "-t", "w").split("\n")[:-1]

    def resize(self, width: int, height: int) -> None:
        self.run("resize-window", "-t", "w", "-x", str(width), "-y", str(height))

    def wait_for(self, check, seconds: float = 30.0) -> list[str]:
        deadline = time.monotonic() + seconds
        lines: list[str] = []
        while time.monotonic() < deadline:
            lines = self.screen()
            if check(lines):
                return lines
            time.sleep(0.2)
        raise AssertionError("screen never matched:\n" + "\n".join(lines))

    def wizard_on(self, preset_file: str) -> None:
        """Leave the wizard the session started with and start one on `preset_file` (in the session's folder)."""
        self.run("send-keys", "-t", "w", "C-q")
        time.sleep(1.0)
        self.run("respawn-pane", "-k", "-t", "w", f"env -u COLUMNS -u LINES {KWTUI} wizard {preset_file}")

    def on_finished_run_at(self, preset_file: str, *steps: str) -> None:
        """The wizard on a finished run's preset, scanned, then Ctrl+N through `steps` (titles: "3 Features")."""
        self.wizard_on(preset_file)
        self.wait_for(lambda ls: any("words" in line and "clips" in line for line in ls[:8]), seconds=30)
        for title in steps:
            self.run("send-keys", "-t", "w", "C-n")
            self.wait_for(lambda ls, t=title: any(t in line for line in ls[:4]))
            time.sleep(0.5)  # the step's first field has the focus

    def copied(self, holding: str, seconds: float = 10.0) -> str:
        """What the wizard last copied (OSC 52, kept by tmux as its newest paste buffer once it holds `holding`)."""
        deadline = time.monotonic() + seconds
        copied = ""
        while time.monotonic() < deadline and holding not in copied:
            time.sleep(0.2)
            copied = subprocess.run(
                ["tmux", "-L", self.socket, "show-buffer"], env=self.env, capture_output=True, text=True
            ).stdout
        return copied

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], env=self.env, capture_output=True)


def _fills(width: int, height: int):
    """The wizard fills exactly this window: header first, footer last, the step bar and a step visible."""

    def check(lines: list[str]) -> bool:
        if len(lines) != height:
            return False
        footer = lines[-1]
        return (
            "kwtui" in lines[0]
            and "Quit" in footer
            and "Dataset" in "\n".join(lines[1:4])
            and all(len(line) <= width for line in lines)
        )

    return check


@pytest.mark.parametrize("size", [(120, 40), (80, 24), (200, 60)])
def test_wizard_uses_the_terminal_size(tmp_path: Path, size: tuple[int, int]) -> None:
    width, height = size
    tmux = Tmux(tmp_path, width, height)
    try:
        lines = tmux.wait_for(_fills(width, height))
        # the header bar spans the whole width (its background reaches the last column)
        assert lines[-1].strip() and lines[0].strip()
    finally:
        tmux.close()


def test_wizard_follows_live_resizes(tmp_path: Path) -> None:
    tmux = Tmux(tmp_path, 80, 24)
    try:
        tmux.wait_for(_fills(80, 24))
        for width, height in ((120, 40), (200, 60), (60, 20), (80, 24)):
            tmux.resize(width, height)
            lines = tmux.wait_for(_fills(width, height))
            text = "\n".join(lines)
            assert text.count("Quit") == 1  # one footer, not a stale copy of an earlier size
    finally:
        tmux.close()


STEP_TITLES = ["1 Dataset", "2 Classes", "3 Features", "4 Training", "5 Evaluate", "6 Flash"]


def _finished_run(tmp_path: Path, name: str) -> None:
    """`tmp_path/NAME.toml` on a tiny dataset, with every stage's results written (real records), so that the
    wizard started on it may go on with Ctrl+N."""
    import tomli_w

    from kwtui.core.io.layout import RunLayout
    from kwtui.core.preset import from_dict
    from tests.tui.scripted import write_results, write_tiny_dataset

    write_tiny_dataset(tmp_path / "data" / "tiny")
    data = {"name": name, "dataset": {"path": "data/tiny"}, "classes": {"keywords": ["yes", "no"]}}
    (tmp_path / f"{name}.toml").write_text(tomli_w.dumps(data))
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        write_results(RunLayout(from_dict(data)))
    finally:
        os.chdir(cwd)


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (200, 60), (60, 20)])
def test_every_step_is_reachable_and_drawn_at_each_size(tmp_path: Path, size: tuple[int, int]) -> None:
    """A finished run (real records) so that Ctrl+N may go on; each step's title shows under the step bar and the
    footer stays on the last line. At 60x20 the steps scroll, but nothing overlaps."""
    _finished_run(tmp_path, "pty")
    width, height = size
    tmux = Tmux(tmp_path, width, height)
    try:
        tmux.wizard_on("pty.toml")
        for i, title in enumerate(STEP_TITLES):
            if i:
                time.sleep(0.5 if i != 1 else 2.0)  # the dataset scan runs first
                tmux.run("send-keys", "-t", "w", "C-n")
            lines = tmux.wait_for(
                lambda ls, t=title: len(ls) == height and any(t in line for line in ls[:4]) and "Quit" in ls[-1]
            )
            assert all(len(line) <= width for line in lines)
            if width >= 80:  # the Classes step's own keys cut it to "Save pres" at 80 columns
                assert "^s Save preset" in lines[-1], (title, lines[-1])
    finally:
        tmux.close()


@pytest.mark.parametrize("how", ["burst", "bracketed paste"])
def test_no_key_is_lost_or_reordered_in_bursts(tmp_path: Path, how: str) -> None:
    """60 Backspaces then a 35-character path, sent at once (a fast typist, key repeat, a paste over SSH), 50
    times into the dataset folder field: every time the field holds exactly the new path. Textual ran the
    Backspaces (Input bindings) after the characters that followed them, which then deleted those: the field
    kept only the path's tail in about half of the trials."""
    import random

    rng = random.Random(20261202)
    tmux = Tmux(tmp_path, 120, 40)
    try:
        tmux.wait_for(lambda ls: any("not scanned yet" in line for line in ls[:8]))
        time.sleep(1.0)  # the wizard has started (keys typed while it starts: the test below)
        for trial in range(50):
            # starts with a letter: tmux would read a leading '-' as an option
            path = "p" + "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789_-/.") for _ in range(34))
            tmux.run("send-keys", "-t", "w", *(["BSpace"] * 60))
            if how == "burst":
                tmux.run("send-keys", "-t", "w", "-l", path)
            else:
                tmux.run("set-buffer", path)
                tmux.run("paste-buffer", "-p", "-t", "w")  # -p: bracketed, as terminals paste
            lines = tmux.wait_for(lambda ls, p=path: any(p in line for line in ls[:6]), seconds=15)
            field = next(line for line in lines[:6] if path in line).strip()
            assert field.startswith(path), (trial, path, field)  # a completion may follow it, greyed
    finally:
        tmux.close()


def test_enter_in_a_burst_scans_the_path_it_was_pressed_on(tmp_path: Path) -> None:
    """A path, Enter, and another path typed in one burst: the scan is of the first path, whole (it read the field
    when the Enter was handled, by then holding part of the second: "/tmp/wal: not a folder"), and the status then
    says the table is not of the path now in the field."""
    from tests.tui.scripted import write_tiny_dataset

    write_tiny_dataset(tmp_path / "data" / "tiny")
    tmux = Tmux(tmp_path, 120, 40)
    try:
        tmux.wait_for(lambda ls: any("not scanned yet" in line for line in ls[:8]))
        time.sleep(1.0)
        for trial in range(3):
            later = f"data/typed_after_enter_{trial}"
            tmux.run("send-keys", "-t", "w", *(["BSpace"] * 60), "data/tiny", "Enter", *(["BSpace"] * 70), later)
            lines = tmux.wait_for(lambda ls, p=later: any(f"Enter scans {p}" in line for line in ls[:8]), seconds=20)
            status = " ".join(lines[:8])
            assert "not a folder" not in status and "type a folder first" not in status, (trial, status)
            assert "the table is data/tiny's" in status, (trial, status)
    finally:
        tmux.close()


def test_alt_or_escape_then_a_key_in_a_burst_types_no_stray_caret(tmp_path: Path) -> None:
    """Escape (or Alt) and a character followed at once by an arrow, a paste or another Escape: Textual re-read the
    held Escape as a typed `^` ("data/tin" + Escape y Escape became "data/tin^y"). Each character arrives as typed."""
    from tests.tui.scripted import write_tiny_dataset

    write_tiny_dataset(tmp_path / "data" / "tiny")
    tmux = Tmux(tmp_path, 80, 24)
    try:
        tmux.wait_for(lambda ls: any("not scanned yet" in line for line in ls[:8]))
        time.sleep(1.0)
        tmux.run("send-keys", "-t", "w", *(["BSpace"] * 60), "data/ti", "Escape", "n", "Escape", "M-y", "Left")
        tmux.run("set-buffer", "-b", "p", "Z")
        tmux.run("send-keys", "-t", "w", "Escape", "Q", ";", "paste-buffer", "-p", "-b", "p", "-t", "w")
        lines = tmux.wait_for(lambda ls: any("Zy" in line for line in ls[:8]), seconds=10)  # the paste arrived
        field = next(line for line in lines[:8] if "data/ti" in line)
        assert "^" not in field and "data/tinQZy" in field, field
    finally:
        tmux.close()


def test_keys_behind_a_tab_in_a_burst_go_to_the_field_it_moved_to(tmp_path: Path) -> None:
    """Ctrl+U, a number, Tab, ... across the three Features fields in one burst, 10 times: each field ends with its
    own number. The screen's Tab binding ran after the keys behind it had gone into the field it left ("Tab 5"
    put the 5 in the previous field), and keys that reached a button while a Shift+Tab was still moving the focus
    away from it were lost; each burst here ends on the Start button and comes back with Shift+Tab."""
    import random

    _finished_run(tmp_path, "tabs")
    rng = random.Random(7)
    tmux = Tmux(tmp_path, 120, 40)
    try:
        tmux.on_finished_run_at("tabs.toml", "2 Classes", "3 Features")
        for trial in range(10):
            wanted = [str(rng.randint(1, 9)), str(rng.randint(10, 99)), str(rng.randint(100, 999))]
            keys = []
            for value in wanted:
                keys += ["C-u", value, "Tab"]
            tmux.run("send-keys", "-t", "w", *keys, "BTab", "BTab", "BTab")  # out to the button and back
            expected = f"workers {wanted[0]}"
            lines = tmux.wait_for(
                lambda ls, w=wanted: any(f" {w[2]}" in line and "seed" in line for line in ls[:8]), seconds=15
            )
            row = " ".join(next(line for line in lines[:8] if "workers" in line).split())
            assert row.startswith(expected) and f"variants {wanted[1]} seed {wanted[2]}" in row, (trial, row)
    finally:
        tmux.close()


def test_keys_typed_while_the_wizard_starts_reach_the_first_field(tmp_path: Path) -> None:
    """A path typed right after pressing Enter on `kwtui`, while Python still imports (the terminal holds the
    keys): Textual read them before any field had the focus and dropped them all."""
    tmux = Tmux(tmp_path, 100, 30)
    try:
        time.sleep(0.2)
        tmux.run("send-keys", "-t", "w", "-l", "typed/before/the/screen")
        lines = tmux.wait_for(lambda ls: any("not scanned yet" in line or "not a folder" in line for line in ls[:8]))
        lines = tmux.wait_for(lambda ls: any("typed/before/the/screen" in line for line in ls[:6]), seconds=10)
        field = next(line for line in lines[:6] if "typed/before" in line).strip()
        assert field.startswith("typed/before/the/screen"), field  # replaces the default, in order, whole
    finally:
        tmux.close()


def _on_classes_of_words(tmp_path: Path, words: list[str]) -> Tmux:
    """The wizard at 120x40 on the Classes step of a dataset of one tone per word, keywords yes and no."""
    import numpy as np
    import soundfile
    import tomli_w

    for word in words:
        (tmp_path / "data" / word).mkdir(parents=True)
        tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)
        soundfile.write(tmp_path / "data" / word / "0000000a_nohash_0.wav", tone, 16000, subtype="PCM_16")
    data = {"name": "words", "dataset": {"path": "data"}, "classes": {"keywords": ["yes", "no"]}}
    (tmp_path / "words.toml").write_text(tomli_w.dumps(data))
    tmux = Tmux(tmp_path, 120, 40)
    try:
        tmux.wizard_on("words.toml")
        tmux.wait_for(lambda ls: any(f"{len(words)} words" in line for line in ls))  # scanned
        tmux.run("send-keys", "-t", "w", "C-n")
        tmux.wait_for(lambda ls: any("classes: yes, no, _unknown, _background" in line for line in ls))
    except BaseException:
        tmux.close()
        raise
    time.sleep(0.5)
    return tmux


def test_keys_right_behind_space_in_the_word_list_act_as_typed_slowly(tmp_path: Path) -> None:
    """Space picks a word and gives it the next output number at once: the keys behind it in the same burst
    ([ [ to move its number up; Up Up Space to pick another) act on the list the screen then shows. SelectionList
    toggled through two posted messages, so [ ran before the pick and was undone, and a second Space was dropped.
    No row moves under the cursor, and each keyword shows its number (#1 ...), not only a colour."""
    tmux = _on_classes_of_words(tmp_path, ["yes", "no", "alpha", "bravo", "charlie", "delta"])
    try:
        # the list: alpha, bravo, charlie, delta, no (#2), yes (#1); charlie picked (#3), then moved up twice
        tmux.run("send-keys", "-t", "w", "Down", "Down", "Space", "[", "[")
        lines = tmux.wait_for(lambda ls: any("classes: charlie, yes, no, _unknown" in line for line in ls), seconds=10)
        assert any("#1 charlie" in line for line in lines) and any("#2 yes" in line for line in lines)
        # charlie dropped: the cursor stays on its row; two up from it is alpha, picked
        tmux.run("send-keys", "-t", "w", "Space", "Up", "Up", "Space")
        tmux.wait_for(lambda ls: any("classes: yes, no, alpha, _unknown" in line for line in ls), seconds=10)
    finally:
        tmux.close()


def test_a_word_picked_at_the_bottom_of_the_list_stays_in_view_at_80x24(tmp_path: Path, demo_dataset: Path) -> None:
    """The class table under the list gains a row when a keyword is picked, and the list shrinks by one: the row
    just picked at the bottom of the list went under its border."""
    # the demo's 15 words (the demo dataset of the tests has 9): a list taller than the screen
    data = tmp_path / "data"
    shutil.copytree(demo_dataset / "_background_noise_", data / "_background_noise_")
    sources = sorted(p for p in demo_dataset.iterdir() if p.is_dir() and not p.name.startswith("_"))
    words = ["bird", "down", "go", "house", "left", "marvin", "no", "off", "on", "right", "sheila", "stop", "tree"]
    for k, word in enumerate([*words, "up", "yes"]):
        shutil.copytree(sources[k % len(sources)], data / word)
    (tmp_path / "m.toml").write_text('name = "m"\n[dataset]\npath = "data"\n[classes]\nkeywords = ["marvin"]\n')
    tmux = Tmux(tmp_path, 80, 24)
    try:
        tmux.wizard_on("m.toml")
        tmux.wait_for(lambda ls: any("words" in line and "clips" in line for line in ls[:8]), seconds=30)
        tmux.run("send-keys", "-t", "w", "C-n")
        tmux.wait_for(lambda ls: any("classes: marvin, _unknown" in line for line in ls))
        time.sleep(1.0)
        tmux.run("send-keys", "-t", "w", "End", "Space")  # yes: the last word
        tmux.wait_for(lambda ls: any(line.strip().startswith("yes ") for line in ls), seconds=20)  # its table row
        tmux.wait_for(lambda ls: any("#2 yes" in line for line in ls), seconds=10)  # scrolled back into view
    finally:
        tmux.close()


def test_space_right_before_a_tab_acts_on_the_widget_it_was_typed_on(tmp_path: Path) -> None:
    """Space then Tab in one burst, on the word list and the class checkboxes: each Space toggles the widget that
    had the focus when it was typed. The App read the Tab (moving the focus) before the Space, queued at the list,
    had bubbled up to the binding lookup, which then ran the Space binding of the widget the Tab moved to: "Space
    Tab" from the list toggled _unknown, "Tab Space Tab Space" toggled nothing."""
    tmux = _on_classes_of_words(tmp_path, ["yes", "no", "alpha"])
    try:
        # the list (alpha, no, yes), its cursor on alpha: alpha picked, then the focus moves on to _unknown
        tmux.run("send-keys", "-t", "w", "Space", "Tab")
        tmux.wait_for(lambda ls: any("classes: yes, no, alpha, _unknown, _background" in line for line in ls), 10)
        # _unknown and _background both off, in one burst (the focus starts on _unknown)
        tmux.run("send-keys", "-t", "w", "Space", "Tab", "Space", "Tab")
        tmux.wait_for(lambda ls: any("classes: yes, no, alpha  (" in line for line in ls), 10)
        time.sleep(1.0)  # nothing toggled late
        assert any("classes: yes, no, alpha  (" in line for line in tmux.screen())
    finally:
        tmux.close()


def _step_bar(lines: list[str]) -> str:
    return next((line for line in lines[:3] if "Dataset" in line and "Flash" in line), "")


def test_an_invalid_setting_marks_its_step_and_no_result_is_claimed(tmp_path: Path) -> None:
    """A finished run; "2x" typed into Features' workers: the step bar marks Features ✗ and shows no checkmark over
    Training or Evaluate (their records cannot be judged for settings that do not exist: they kept their ✓), the
    headless line names the field; one Backspace later every mark is back."""
    _finished_run(tmp_path, "marks")
    tmux = Tmux(tmp_path, 80, 24)
    try:
        tmux.on_finished_run_at("marks.toml", "2 Classes", "3 Features")
        tmux.wait_for(lambda ls: "✓ Evalu" in _step_bar(ls))
        tmux.run("send-keys", "-t", "w", "C-u", "2x")
        lines = tmux.wait_for(lambda ls: "✗ Features" in _step_bar(ls), seconds=10)
        bar = _step_bar(lines)
        assert "? Training" in bar and "? Evalu" in bar and "✓ Training" not in bar, bar
        assert any("fix features.workers" in line for line in lines), "\n".join(lines)
        tmux.run("send-keys", "-t", "w", "BSpace")
        lines = tmux.wait_for(lambda ls: "✓ Training" in _step_bar(ls) and "✓ Evalu" in _step_bar(ls), seconds=10)
        assert "✗" not in _step_bar(lines) and "?" not in _step_bar(lines), _step_bar(lines)
    finally:
        tmux.close()


@pytest.mark.parametrize("width", [80, 120])
def test_the_copied_headless_command_pasted_into_bash_replays_the_screen(tmp_path: Path, width: int) -> None:
    """Values typed into Features' fields in a real terminal, then F2: the copy arrives through OSC 52 (tmux keeps
    it as a paste buffer, as a local terminal puts it on the clipboard), the bottom line is one row that starts
    the same command, and that command run by bash (`presets show` in place of `run`: the same preset loading and
    --set handling) gives exactly the values on screen."""
    import tomllib

    _finished_run(tmp_path, "replay")
    tmux = Tmux(tmp_path, width, 24)
    try:
        tmux.run("set-option", "-g", "set-clipboard", "on")
        tmux.on_finished_run_at("replay.toml", "2 Classes", "3 Features")
        tmux.run("send-keys", "-t", "w", "C-u", "3", "Tab", "C-u", "5", "Tab", "C-u", "4096")
        lines = tmux.wait_for(lambda ls: any("features.seed=4096" in line for line in ls[-3:]) or "…" in ls[-2])
        shown = lines[-2].strip()  # the headless line, right above the footer
        assert shown.startswith("headless (F2 copies): kwtui run replay.toml --set"), shown
        tmux.run("send-keys", "-t", "w", "F2")
        copied = tmux.copied("4096")
        assert copied.startswith("kwtui run replay.toml"), copied
        on_screen = shown.removeprefix("headless (F2 copies): ").rstrip("…").rstrip()
        assert copied.startswith(on_screen), (on_screen, copied)  # the row is the command, cut, never another one
        replayed = subprocess.run(
            ["bash", "-c", copied.replace("kwtui run ", f"{KWTUI} presets show ", 1)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
        )
        assert replayed.returncode == 0, replayed.stderr
        features = tomllib.loads(replayed.stdout)["features"]
        assert (features["workers"], features["variants"], features["seed"]) == (3, 5, 4096), features
    finally:
        tmux.close()


@pytest.mark.parametrize("size", [(80, 24), (200, 60)])
def test_the_word_table_takes_the_rows_the_terminal_has(tmp_path: Path, size: tuple[int, int]) -> None:
    """A dataset of 45 words: at 200x60 the Dataset step's table shows 30 or more at once (it stayed at 11 rows
    over 37 blank ones); at 80x24 it keeps rows to read and scrolls, the footer on the last line."""
    import numpy as np
    import soundfile
    import tomli_w

    words = [f"word{k:02d}" for k in range(45)]
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)).astype(np.float32)
    for word in words:
        (tmp_path / "data" / word).mkdir(parents=True)
        soundfile.write(tmp_path / "data" / word / "0000000a_nohash_0.wav", tone, 16000, subtype="PCM_16")
    data = {"name": "tall", "dataset": {"path": "data"}, "classes": {"keywords": ["word00"]}}
    (tmp_path / "tall.toml").write_text(tomli_w.dumps(data))
    width, height = size
    tmux = Tmux(tmp_path, width, height)
    try:
        tmux.wizard_on("tall.toml")
        lines = tmux.wait_for(lambda ls: any("45 words" in line for line in ls) and "Quit" in ls[-1], seconds=30)
        shown = sum(any(f" {w} " in line for line in lines) for w in words)
        assert len(lines) == height and all(len(line) <= width for line in lines)
        if height >= 60:  # two thirds of what the step has below its fields (the scan's log takes the rest)
            assert shown >= height // 2, (shown, "\n".join(lines))
        else:
            assert shown >= 4, (shown, "\n".join(lines))
    finally:
        tmux.close()


def test_evaluate_at_80x24_reads_whole_and_a_picked_row_reaches_the_command(tmp_path: Path) -> None:
    """A finished run's Evaluate step at 80x24 scrolls to each table with Tab: the confusion table's class names
    are whole (they were cut to `_unkno` / `_backg`), the curve's x axis ends in its last label, and Down in the
    threshold sweep picks the next row: the bottom line and F2's copy then carry that threshold."""
    _finished_run(tmp_path, "pick")
    tmux = Tmux(tmp_path, 80, 24)
    try:
        tmux.run("set-option", "-g", "set-clipboard", "on")
        tmux.on_finished_run_at("pick.toml", "2 Classes", "3 Features", "4 Training", "5 Evaluate")
        tmux.run("send-keys", "-t", "w", "Tab", "Tab")  # Convert only, then the confusion table
        lines = tmux.wait_for(lambda ls: any(line.strip().startswith("_background") for line in ls))
        rows = {line.split()[0]: line.split() for line in lines if line.split() and line.split()[0].startswith("_")}
        assert {"_unknown", "_background"} <= set(rows), "\n".join(lines)
        assert all(len(line) <= 80 for line in lines)
        tmux.run("send-keys", "-t", "w", "Tab", "Down")  # the sweep: 0.9 is the chosen row, Down picks 0.95
        lines = tmux.wait_for(lambda ls: "evaluate.threshold=0.95" in ls[-2], seconds=10)
        assert any(line.rstrip().endswith("/h") for line in lines), "\n".join(lines)  # the axis' right label
        tmux.run("send-keys", "-t", "w", "F2")
        copied = tmux.copied("0.95")
        assert "--set evaluate.threshold=0.95" in copied, copied
    finally:
        tmux.close()


def test_a_fresh_wizard_marks_no_step_before_the_user_reaches_it(tmp_path: Path) -> None:
    """`kwtui` with no preset has no keywords yet: the step bar shows plain numbers (it showed ✗ Classes and ? over
    every later step at first sight), and ✗ Classes once the user is on Classes with none picked."""
    from tests.tui.scripted import write_tiny_dataset

    write_tiny_dataset(tmp_path / "data" / "demo")
    tmux = Tmux(tmp_path, 80, 24)
    try:
        lines = tmux.wait_for(lambda ls: any("words" in line and "clips" in line for line in ls[:8]), seconds=30)
        assert _step_bar(lines).split()[1:] == [
            "1", "Dataset", "2", "Classes", "3", "Features", "4", "Training", "5", "Evaluate", "6", "Flash",
        ], _step_bar(lines)  # fmt: skip
        tmux.run("send-keys", "-t", "w", "C-n")
        lines = tmux.wait_for(lambda ls: "✗ Classes" in _step_bar(ls), seconds=10)
        assert "?" not in _step_bar(lines), _step_bar(lines)
    finally:
        tmux.close()


def test_a_long_path_s_dataset_status_is_read_whole_at_80_columns(tmp_path: Path) -> None:
    """The status beside "Make demo dataset" was one row: at 80 columns a long path's "not a folder" and its hint,
    or "the table is ...: Enter scans ...", were cut after a few words."""
    tmux = Tmux(tmp_path, 80, 24)
    try:
        tmux.wait_for(lambda ls: any("not scanned yet" in line for line in ls[:8]))
        time.sleep(1.0)
        path = "data/a_much_longer_folder_name/with/more/parts"
        tmux.run("send-keys", "-t", "w", *(["BSpace"] * 20), path, "Enter")
        lines = tmux.wait_for(lambda ls: "creates one there)" in " ".join(ls[:10]), seconds=15)
        status = " ".join(" ".join(lines[:10]).split())
        assert f"{path}: not a folder (Make demo dataset creates one there)" in status, status
    finally:
        tmux.close()


def test_typing_on_after_a_path_that_is_not_a_folder_says_what_enter_scans(tmp_path: Path) -> None:
    """ "X: not a folder" stayed while the field went on to another path (and Make demo dataset would then have
    made the new one, not the folder the status named)."""
    tmux = Tmux(tmp_path, 80, 24)
    try:
        tmux.wait_for(lambda ls: any("not scanned yet" in line for line in ls[:8]))
        time.sleep(1.0)
        tmux.run("send-keys", "-t", "w", *(["BSpace"] * 20), "nonexist/p", "Enter")
        tmux.wait_for(lambda ls: any("nonexist/p: not a folder" in line for line in ls[:8]), seconds=15)
        tmux.run("send-keys", "-t", "w", "-l", "ath")
        lines = tmux.wait_for(lambda ls: "Enter scans nonexist/path" in " ".join(ls[:8]), seconds=15)
        assert "not a folder" not in " ".join(lines[:8])
    finally:
        tmux.close()


@pytest.mark.parametrize(
    "balanced, named",
    [(True, "best epoch 11 (balanced val acc 0.867)"), (False, "best epoch 9 (val acc 0.990)")],
    ids=["balanced", "written-before-balanced"],
)
def test_a_reopened_wizard_draws_the_training_its_run_folder_holds(tmp_path: Path, balanced: bool, named: str) -> None:
    """A finished run whose history.csv holds 12 epochs, opened at 80x24: Training draws them (it showed ✓ over
    empty charts) with an x axis ending at 12 epochs, names the epoch training kept (not the most accurate one;
    the most accurate in a history written before balanced accuracy chose), and says what Start and Resume would
    do with them."""
    from kwtui.core.stages.train import history_text

    _finished_run(tmp_path, "past")
    rows = [
        {"epoch": e, "loss": 1.2 / e, "accuracy": 0.5 + e / 30, "val_loss": 1.3 / e, "val_accuracy": 0.5 + e / 40}
        for e in range(1, 13)
    ]
    for row in rows:  # training marks each epoch that beat the best so far in balanced accuracy
        row["val_balanced_accuracy"], row["best"] = 0.5 + row["epoch"] / 30, int(row["epoch"] <= 11)
    rows[11]["val_balanced_accuracy"] = 0.7
    rows[8]["val_accuracy"] = 0.99  # the most accurate epoch (9) is not the one training kept (11)
    text = history_text(rows)
    if not balanced:  # the columns of a history.csv written before: no balanced accuracy
        header, *body = text.splitlines()
        keep = [i for i, name in enumerate(header.split(",")) if name != "val_balanced_accuracy"]
        text = "".join(",".join(line.split(",")[i] for i in keep) + "\n" for line in [header, *body])
    (tmp_path / "runs" / "past" / "history.csv").write_text(text)
    tmux = Tmux(tmp_path, 80, 24)
    try:
        tmux.on_finished_run_at("past.toml", "2 Classes", "3 Features", "4 Training")
        lines = tmux.wait_for(lambda ls: "trained earlier" in " ".join(ls), seconds=10)
        text = " ".join(" ".join(lines).split())
        assert f"trained earlier: 12 epochs, {named}" in text, text
        assert "Resume: on after epoch 12" in text and "model_best.previous.keras" in text, text
        axis = [line for line in lines if "epochs" in line and "12" in line]
        assert axis and any(0x2800 < ord(ch) <= 0x28FF for line in lines for ch in line), "\n".join(lines)
    finally:
        tmux.close()
