"""Shared fixtures live in tests/helpers/*.py, one module per area, imported here so every test sees them."""

from tests.helpers.data import *  # noqa: F401,F403
from tests.helpers.model import *  # noqa: F401,F403
from tests.helpers.corpus import *  # noqa: F401,F403


import hashlib  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

_FIRMWARE_MODEL_DIR = Path(__file__).resolve().parents[1] / "firmware" / "lib" / "neural_network" / "src"


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*")) if p.is_file()}


@pytest.fixture(scope="session", autouse=True)
def firmware_tree_untouched():
    """No test may overwrite the firmware's model files: tests convert into tmp dirs (convert.firmware_dir)."""
    before = _digest(_FIRMWARE_MODEL_DIR)
    yield
    assert _digest(_FIRMWARE_MODEL_DIR) == before, f"a test wrote into {_FIRMWARE_MODEL_DIR}"
