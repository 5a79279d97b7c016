"""Where each stage reads and writes. One run folder per preset tells the whole story.

runs/<name>/
  preset.toml               the preset as run (written by `kwtui run` and the wizard)
  features/                 mirror of the dataset: <word>/<clip>.npy, <word>/<clip>__v1.npy (variants),
                            _background/<noisefile>__<start_ms>.npy
  features/train.csv        manifests: columns `path,label` (path relative to features/, label = class name)
  features/validation.csv
  features/test.csv
  features/features.json    classes, feature parameters, counts, skipped files, noise test regions
  features/.params.json     the settings the feature files were made with (what changed, when they are stale)
  noise_cache/              noise files converted once to 16 kHz float32, memory-mapped by feature workers
  synthetic_speech/         running speech synthesized when classes.negative_speech finds none (espeak-ng)
  near_misses/              sentences with near misses of the keywords (classes.near_miss_negatives, espeak-ng)
  run_on_words/             the keywords run on into longer words, one folder each (classes.run_on_negatives)
  .kwtui-owned              marker: kwtui created this folder (it never writes into a non-empty folder without one)
  checkpoints/last.keras    model after the last finished epoch; train_state.json beside it
  model_best.keras          best validation checkpoint (never deleted by a later run)
  model_best.previous.keras the best of the run before, when training started over
  model_final_all.keras     train.final_fit_all: refit on train + validation (then what evaluate/convert use)
  history.csv               per-epoch metrics
  train.json                record of a finished training run (fingerprint, labels), written last
  model_float.tflite        the float model evaluation streams in TFLite Micro
  report.json, report.txt   evaluation
  model.tflite              int8 model; model.cc/model.h also copied to preset.convert.firmware_dir
  model.json                the conversion's record (sizes, sha256, quantization, arena, labels), written last
  model_partition.bin       model + header for the firmware's model partition
  esphome/                  `kwtui export esphome`: <wake_word>.tflite and its manifest (default --out)
  esphome.json              the export's record
"""

from __future__ import annotations

from pathlib import Path

from kwtui.core.preset import Preset

SPLITS = ("train", "validation", "test")
FEATURE_PARAMS_NAME = ".params.json"  # in the features folder: the settings its files were made with


class RunLayout:
    def __init__(self, preset: Preset) -> None:
        self.preset = preset
        self.run_dir = preset.run_path
        self.features_dir = preset.features_path

    def manifest(self, split: str) -> Path:
        return self.features_dir / f"{split}.csv"

    @property
    def features_info(self) -> Path:
        return self.features_dir / "features.json"

    @property
    def features_params(self) -> Path:
        return self.features_dir / FEATURE_PARAMS_NAME

    @property
    def noise_cache_dir(self) -> Path:
        return self.run_dir / "noise_cache"

    @property
    def synthetic_speech_dir(self) -> Path:
        return self.run_dir / "synthetic_speech"

    @property
    def near_miss_speech_dir(self) -> Path:
        return self.run_dir / "near_misses"

    @property
    def run_on_words_dir(self) -> Path:
        return self.run_dir / "run_on_words"

    @property
    def preset_copy(self) -> Path:
        return self.run_dir / "preset.toml"

    @property
    def checkpoints_dir(self) -> Path:
        return self.run_dir / "checkpoints"

    @property
    def last_checkpoint(self) -> Path:
        return self.checkpoints_dir / "last.keras"

    @property
    def train_state(self) -> Path:
        return self.checkpoints_dir / "train_state.json"

    @property
    def train_record(self) -> Path:
        return self.run_dir / "train.json"

    @property
    def model_json(self) -> Path:
        return self.run_dir / "model.json"

    @property
    def best_model(self) -> Path:
        return self.run_dir / "model_best.keras"

    @property
    def history(self) -> Path:
        return self.run_dir / "history.csv"

    @property
    def report_json(self) -> Path:
        return self.run_dir / "report.json"

    @property
    def report_txt(self) -> Path:
        return self.run_dir / "report.txt"

    @property
    def tflite(self) -> Path:
        return self.run_dir / "model.tflite"

    @property
    def model_cc(self) -> Path:
        return self.run_dir / "model.cc"

    @property
    def model_h(self) -> Path:
        return self.run_dir / "model.h"

    @property
    def firmware_dir(self) -> Path:
        return Path(self.preset.convert.firmware_dir)

    @property
    def model_partition_image(self) -> Path:
        return self.run_dir / "model_partition.bin"

    @property
    def previous_best_model(self) -> Path:
        return self.run_dir / "model_best.previous.keras"

    @property
    def final_model(self) -> Path:
        return self.run_dir / "model_final_all.keras"

    @property
    def float_tflite(self) -> Path:
        return self.run_dir / "model_float.tflite"

    @property
    def esphome_dir(self) -> Path:
        return self.run_dir / "esphome"

    @property
    def esphome_record(self) -> Path:
        return self.run_dir / "esphome.json"
