"""Textual's Input, with every key applied in the order it was typed: the wizard's only text field.

In Textual, a printable key is inserted by the focused Input as soon as the Input reads it, but an editing key
(Backspace, Delete, Ctrl+W, the arrows, End...) is an Input *binding*: the key event first bubbles up to the App,
which then runs the action. In a burst (a paste over SSH, a fast typist, key repeat) the characters that follow a
Backspace are inserted before the Backspace's round trip ends, and the late Backspaces delete them: "60 Backspaces
then a 35-character path" kept only the path's tail in half of the trials in tmux. This Input runs its own bindings
where it reads the key, so the order is the order typed. Tab and Shift+Tab move the focus where they are read too,
and the keys queued here behind them go on to the field they moved to (they went into this one: "Tab 5" put the 5
in the previous field). Priority bindings (the App's, checked before any widget sees the key) are unaffected.
"""

from __future__ import annotations

from textual import events
from textual.binding import Binding
from textual.widgets import Input as TextualInput

# the actions Textual's Input binds itself (cursor_left, delete_left, submit...); inherited scroll bindings stay
# with the usual dispatch
_OWN_ACTIONS = {binding.action.split("(")[0] for binding in TextualInput.BINDINGS if isinstance(binding, Binding)}


class Input(TextualInput):
    async def _on_key(self, event: events.Key) -> None:
        focused = self.screen.focused
        if focused is not None and focused is not self:
            # typed right behind a Tab in one burst: the App had queued it here before the Tab moved the focus;
            # it belongs to the field the Tab moved to
            event.stop()
            event.prevent_default()
            focused.post_message(events.Key(event.key, event.character))
            return
        if event.key in ("tab", "shift+tab"):
            # the screen's Tab binding runs only after the key bubbles up, by when the keys behind it were typed here
            event.stop()
            event.prevent_default()
            self.screen.focus_next() if event.key == "tab" else self.screen.focus_previous()
            return
        if not event.is_printable:
            for binding in self._bindings.key_to_bindings.get(event.key, ()):
                if binding.action.split("(")[0] in _OWN_ACTIONS:
                    event.stop()
                    event.prevent_default()
                    self._restart_blink()
                    await self.run_action(binding.action)
                    return
        await super()._on_key(event)
