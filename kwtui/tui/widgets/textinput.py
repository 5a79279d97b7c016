"""Textual's Input, with every key applied in the order it was typed: the wizard's only text field.

In Textual, a printable key is inserted by the focused Input as soon as the Input reads it, but an editing key
(Backspace, Delete, Ctrl+W, the arrows, End...) is an Input *binding*: the key event first bubbles up to the App,
which then runs the action. In a burst (a paste over SSH, a fast typist, key repeat) the characters that follow a
Backspace are inserted before the Backspace's round trip ends, and the late Backspaces delete them: "60 Backspaces
then a 35-character path" kept only the path's tail in half of the trials in tmux. This Input runs its own bindings
where it reads the key, so the order is the order typed. Priority bindings (the App's, checked before any widget
sees the key) are unaffected: Tab and Shift+Tab are among them (kwtui.tui.app), so the focus moves before the keys
typed behind them are routed.
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
        if not event.is_printable:
            for binding in self._bindings.key_to_bindings.get(event.key, ()):
                if binding.action.split("(")[0] in _OWN_ACTIONS:
                    event.stop()
                    event.prevent_default()
                    self._restart_blink()
                    await self.run_action(binding.action)
                    return
        await super()._on_key(event)
