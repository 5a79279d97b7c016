"""Modal dialogs. Escape always closes without doing anything."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Markdown, OptionList
from textual.widgets.button import ButtonVariant

from kwtui.tui.widgets.textinput import Input

HELP = """\
# kwtui wizard

Six steps, each reads the previous step's files from the run folder (`runs/<name>/`),
so any step can be re-run or resumed. Everything works with the keyboard.

The step bar: `✓` done for the settings on screen, `!` made for other settings (out of date), `✗` a field
there holds a value no preset allows, `?` results that cannot be judged until that field is fixed.

| Key | Action |
|---|---|
| `Tab` / `Shift+Tab` | move between fields and buttons |
| `Enter` / `Space` | press a button, toggle a box |
| `Ctrl+N` / `Ctrl+B` | next / previous step |
| `Ctrl+R` | run this step (its main button: Scan, Start, Evaluate + convert, Dry run) |
| `Ctrl+X` or `Ctrl+C` | cancel this step's running work (finished work is kept) |
| `Ctrl+S` | save the current choices as a preset |
| `Ctrl+O` | load a preset (fills every step) |
| `Ctrl+L` | the wizard log (native library output, errors) |
| `Ctrl+P` | command palette: every action above by name |
| `F2` | copy the headless command (the bottom line, whole: over SSH too) |
| `Escape` | dismiss messages |
| `F1` | this help |
| `Ctrl+Q` | quit (asks first while work runs, which is then cancelled cleanly) |

**Dataset**: type a folder (Right arrow accepts the completion), Enter scans it. *Make demo dataset* synthesizes one with espeak-ng.
**Classes**: Space picks a keyword and gives it the next output number (#1 is the model's first output); `[` / `]`
give the highlighted keyword an earlier / later number. No row moves.
The counts are the feature files *planned*; clips that turn out unreadable or silent when read are skipped, and
the Features step reports written + already there + skipped = planned.
**Features / Training**: *Start* runs in the background; *Cancel* stops after the current file or batch. Features
always keep their finished files; on Training *Resume* goes on from the last epoch, and *Start* trains from
epoch 1 after asking (the best model so far is kept as `model_best.previous.keras`).
**Evaluate**: arrow keys in the threshold sweep pick the detection threshold saved in the preset. *Try it* runs
the converted model over a recording you name, exactly as the device would, and draws each keyword's score;
`[` / `]` lower or raise the threshold on those scores, and *Use this threshold* keeps it.
**Flash**: *Dry run* shows the exact esptool command without touching a device; *Monitor* shows the
detections the board prints (115200 baud) until *Cancel*.

The bottom line shows the equivalent headless command: pasted into a shell, `kwtui run PRESET --set ...` replays
exactly the settings on screen. When it is longer than the screen it ends in `…`: `F2` copies it whole. Output that TensorFlow and other
native libraries print is written to the wizard log (`~/.local/state/kwtui/log/wizard.log` on Linux), not to the
screen.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,q", "close", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body", classes="dialog"):
            yield Markdown(HELP)

    def action_close(self) -> None:
        self.dismiss(None)


class NamePrompt(ModalScreen[str | None]):
    """Ask for a name. `check(name)` returns why a name is refused (the prompt stays open and says so);
    `exists(name)` returns what saving under that name would overwrite or hide (then a second Enter saves)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(
        self,
        title: str,
        value: str,
        check: Callable[[str], str | None] | None = None,
        exists: Callable[[str], str | None] | None = None,
    ) -> None:
        super().__init__()
        self.prompt_title = title
        self.value = value
        self.check = check
        self.exists = exists
        self.confirming = ""

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.prompt_title, classes="dialog-title")
            yield Input(self.value, id="name-input", placeholder="letters, digits, - _ .")
            yield Label("", id="name-error", classes="hint")
            yield Label("Enter to save, Escape to cancel", classes="hint")

    def on_input_changed(self, event: Input.Changed) -> None:
        self.confirming = ""
        self.query_one("#name-error", Label).update("")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        name = event.value.strip()
        if not name:
            self.dismiss(None)
            return
        problem = self.check(name) if self.check else None
        if problem:
            self.query_one("#name-error", Label).update(f"[red]{escape(problem)}[/]")
            return
        clash = self.exists(name) if self.exists else None
        if clash and self.confirming != name:
            self.confirming = name
            self.query_one("#name-error", Label).update(
                f"[yellow]{escape(clash)}[/]\n[yellow]Enter again to save anyway, or change the name[/]"
            )
            return
        self.dismiss(name)

    def action_cancel(self) -> None:
        self.dismiss(None)


class Choose(ModalScreen[str | None]):
    """Ask before something that cannot be undone from the wizard: `choices` (id, label) are the ways on, after the
    safe one, which has the focus: Enter or Escape keeps things as they are (None); only a named choice (Tab to it,
    then Enter) goes ahead (its id)."""

    BINDINGS = [Binding("escape", "keep", "Keep")]
    CHOICE_VARIANT: ButtonVariant = "warning"

    def __init__(self, title: str, body: str, choices: list[tuple[str, str]], keep: str = "Keep") -> None:
        super().__init__()
        self.prompt_title, self.body, self.choices, self.keep_label = title, body, choices, keep

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.prompt_title, classes="dialog-title")
            yield Label(self.body, id="choose-body", markup=False)  # "[sheila]" is a class list, not a style
            with Horizontal(classes="row"):
                yield Button(self.keep_label, id="choose-keep", variant="primary", compact=True)
                for key, label in self.choices:
                    yield Button(label, id=f"choose-{key}", variant=self.CHOICE_VARIANT, compact=True)

    def on_mount(self) -> None:
        self.query_one("#choose-keep", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        chosen = (event.button.id or "").removeprefix("choose-")
        self.dismiss(None if chosen == "keep" else chosen)

    def action_keep(self) -> None:
        self.dismiss(None)


class Confirm(Choose):
    """A Choose with one way on, `action` (its id: "go"), drawn as the dangerous one."""

    CHOICE_VARIANT: ButtonVariant = "error"

    def __init__(self, title: str, body: str, action: str, keep: str = "Keep") -> None:
        super().__init__(title, body, [("go", action)], keep)


class PresetPicker(ModalScreen[str | None]):
    """Pick a shipped/saved preset from the list, or type a path."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, choices: dict[str, Path]) -> None:
        super().__init__()
        self.choices = choices

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Load preset", classes="dialog-title")
            yield OptionList(*[f"{name}  [dim]{path}[/]" for name, path in self.choices.items()], id="preset-list")
            yield Input(placeholder="or a preset file path, Enter to load", id="preset-path")
            yield Label("Enter to load, Escape to cancel", classes="hint")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(list(self.choices)[event.option_index])

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class LogScreen(ModalScreen[None]):
    """The wizard log (what native libraries printed, tracebacks of bugs): its last lines, newest at the end."""

    BINDINGS = [Binding("escape,q", "close", "Close")]
    TAIL_BYTES = 200_000

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def compose(self) -> ComposeResult:
        from kwtui.tui.widgets.log import WrappedLog

        with Vertical(classes="dialog", id="log-dialog"):
            yield Label(f"wizard log: {self.path}", classes="dialog-title")
            yield WrappedLog(id="log-view", max_lines=2000, markup=False, highlight=False)
            yield Label("Escape to close", classes="hint")

    def on_mount(self) -> None:
        from kwtui.tui.widgets.log import WrappedLog

        view = self.query_one("#log-view", WrappedLog)
        try:
            with open(self.path, "rb") as handle:
                handle.seek(0, 2)
                size = handle.tell()
                handle.seek(max(0, size - self.TAIL_BYTES))
                text = handle.read().decode("utf-8", "replace")
        except OSError:
            text = "(nothing logged yet)"
        for line in text.splitlines()[-2000:] or ["(the log is empty)"]:
            view.write(line)
        view.focus()

    def action_close(self) -> None:
        self.dismiss(None)
