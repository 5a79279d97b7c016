"""Shared fixtures live in tests/helpers/*.py, one module per area, imported here so every test sees them."""

import hashlib  # noqa: E402
import os  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from tests.helpers.corpus import *  # noqa: F401,F403
from tests.helpers.data import *  # noqa: F401,F403
from tests.helpers.model import *  # noqa: F401,F403

_FIRMWARE_MODEL_DIR = Path(__file__).resolve().parents[1] / "firmware" / "lib" / "neural_network" / "src"


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*")) if p.is_file()}


@pytest.fixture(scope="session", autouse=True)
def firmware_tree_untouched():
    """No test may overwrite the firmware's model files: tests convert into tmp dirs (convert.firmware_dir)."""
    before = _digest(_FIRMWARE_MODEL_DIR)
    yield
    assert _digest(_FIRMWARE_MODEL_DIR) == before, f"a test wrote into {_FIRMWARE_MODEL_DIR}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under CI=true a skip is a failure: CI has every tool and source a test needs (the pinned firmware sources
    from ../shared/firmware-sources included), so a skip there means a check silently did not run."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("CI") == "true" and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"CI=true: this test would skip ({reason}); CI must run it"
