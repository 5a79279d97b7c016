// TensorFlow Lite Micro: interpreter, op resolver and tensor arena for the selected model (ESP32 build).
#pragma once

#include <cstdint>

#include "../model/model_source.h"

namespace kwt {

// Ops the exported models use (kwtui/core/device/runtime_compat.py FIRMWARE_OPS); exactly these are registered.
constexpr int kRegisteredOps = 11;

// Builds the interpreter in a heap arena of model.arena_size bytes. Returns false (and logs why) on failure.
bool inference_begin(const ModelInfo& model);

// Runs the model on (kFrames x kBins) float features; writes num_classes probabilities.
bool inference_run(const float* features, float* probabilities);

// Microseconds taken by the last inference_run.
uint32_t inference_last_us();

}  // namespace kwt
