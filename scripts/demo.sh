#!/usr/bin/env bash
# The main job end to end on a synthesized demo dataset:
# espeak-ng dataset -> features -> training -> evaluation -> int8 TFLite checked in TFLM -> model.cc.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
[ -f data/demo/validation_list.txt ] || .venv/bin/kwtui demo-data data/demo --per-word 80
.venv/bin/kwtui run presets/commands.toml "$@"
echo "demo: results in runs/commands/ (report.txt, model.tflite, model.cc/model.h)"
