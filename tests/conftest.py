"""Shared fixtures live in tests/helpers/*.py, one module per area, imported here so every test sees them."""

from tests.helpers.data import *  # noqa: F401,F403
from tests.helpers.model import *  # noqa: F401,F403
from tests.helpers.corpus import *  # noqa: F401,F403
