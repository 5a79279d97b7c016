#!/usr/bin/env bash
# Install what kwtui needs on a fresh Debian/Ubuntu machine: espeak-ng, flite and g++ (apt, when missing),
# a virtualenv in .venv with kwtui and its test extras. Safe to re-run: does nothing already done.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v espeak-ng >/dev/null 2>&1 || need_apt+=(espeak-ng)
command -v flite >/dev/null 2>&1 || need_apt+=(flite)  # kwtui demo-data: voices made from real people's recordings
command -v g++ >/dev/null 2>&1 || need_apt+=(g++)
command -v make >/dev/null 2>&1 || need_apt+=(make)
command -v tmux >/dev/null 2>&1 || need_apt+=(tmux)  # tests/tui: the wizard in a real terminal
command -v cmake >/dev/null 2>&1 || need_apt+=(cmake)  # firmware/host build (tests/firmware)
# 4-byte pointers, as on the ESP32: the firmware's inference code against its pinned TFLM (tests/firmware)
[ "$(uname -m)" != x86_64 ] || echo 'int main(){}' | g++ -m32 -x c++ - -o /dev/null >/dev/null 2>&1 \
  || need_apt+=(g++-multilib)
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing ${need_apt[*]} with apt-get" >&2
  # another apt (unattended-upgrades at boot) may hold the lock: wait for it instead of failing at once
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${need_apt[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.kwtui-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[dev]"
  touch "$stamp"
fi
