"""Keyboard-only helpers for driving the wizard with Textual's Pilot."""

from __future__ import annotations

import time
from typing import Callable

from textual.pilot import Pilot


async def wait_until(pilot: Pilot, condition: Callable[[], bool], timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what or condition}")
        await pilot.pause(0.05)


async def focus(pilot: Pilot, widget_id: str, max_tabs: int = 40) -> None:
    """Press Tab until the widget with this id has focus (as a keyboard user would)."""
    for _ in range(max_tabs):
        focused = pilot.app.focused
        if focused is not None and focused.id == widget_id:
            return
        await pilot.press("tab")
    raise AssertionError(f"could not Tab to #{widget_id}; focus is on {pilot.app.focused}")


async def type_into(pilot: Pilot, widget_id: str, text: str) -> None:
    """Focus an Input by Tab, clear it (End, Ctrl+U) and type."""
    await focus(pilot, widget_id)
    await pilot.press("end", "ctrl+u", *text)


async def press_button(pilot: Pilot, widget_id: str) -> None:
    await focus(pilot, widget_id)
    await pilot.press("enter")


async def wait_stage(pilot: Pilot, step, name: str, timeout: float = 120.0) -> None:
    """Wait for a background task of the wizard to finish."""
    app = pilot.app
    await pilot.pause(0.1)
    await wait_until(pilot, lambda: not app.task_running(name), timeout, f"task {name}")
    await pilot.pause(0.1)
