#!/usr/bin/env bash
# Install (if needed) and run the whole test suite: the command CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The device-truth tests build the firmware against the pinned sources (tests/helpers/firmware_runtime.py unpacks
# the archives once into ~/.cache/kwtui/sources); under CI=true a test that would skip fails instead.
sources="${KWT_FIRMWARE_SOURCES:-../shared/firmware-sources}"
if [ -d "$sources" ]; then
  echo "test: pinned firmware sources from $sources"
else
  echo "test: no pinned firmware sources at $sources: the firmware runtime tests skip (under CI=true they fail)"
fi
.venv/bin/ruff check --quiet kwtui tests bench  # lint first: an unused or undefined name fails in seconds
.venv/bin/ruff format --check --quiet kwtui tests bench  # one layout ([tool.ruff] in pyproject.toml)
.venv/bin/mypy  # then types ([tool.mypy] in pyproject.toml)
exec .venv/bin/python -m pytest -q -p no:cacheprovider --durations=25 "$@"
