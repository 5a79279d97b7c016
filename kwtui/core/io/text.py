"""Reading a small text file a user wrote (a split list, a partition table): UTF-8, a BOM tolerated, and every
failure one UserError naming the file and what to do."""

from __future__ import annotations

from pathlib import Path

from kwtui.core.errors import UserError


def read_user_text(path: Path, what: str, if_unreadable: str) -> str:
    """The text of `path` (`what` names it in messages; `if_unreadable` says what to do when it cannot be read)."""
    try:
        return Path(path).read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise UserError(f"{path}: cannot read the {what} ({exc.strerror or exc}); {if_unreadable}") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: the {what} is not UTF-8 text; save it as UTF-8") from None
