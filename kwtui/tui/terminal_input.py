"""The terminal's key parser, less one of Textual's habits that typed a stray `^` into the wizard's fields.

Textual (8.2.8, pinned) holds an Escape for up to 100 ms to learn whether a sequence follows. When another Escape
arrives while it holds one followed by a character (Alt+x, or Escape then x typed fast, then an arrow key, a paste
or a mouse report: a fast typist or an SSH burst), it re-reads what it held and turns that Escape into a typed `^`,
which lands in the focused field ("data/demo" became "data/demo^x"). kwtui's parser drops that Escape instead: the
character after it is typed as itself and nothing else changes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from textual import events
from textual._xterm_parser import XTermParser

ESC = "\x1b"


class WizardKeyParser(XTermParser):
    def _sequence_to_key_events(self, sequence: str, alt: bool = False) -> Iterable[events.Key]:
        # a lone Escape is read here only when Textual re-reads a held sequence without Alt (its own Escape key
        # comes another way): that is the Escape it would type as `^`
        if sequence == ESC and not alt:
            return ()
        return super()._sequence_to_key_events(sequence, alt)


def use_wizard_key_parser() -> None:
    """Have Textual's terminal drivers read keys with WizardKeyParser (the drivers name the parser class when their
    input thread starts)."""
    from textual.drivers import linux_driver

    driver: Any = linux_driver
    driver.XTermParser = WizardKeyParser
