// TensorFlow Lite Micro (Espressif's esp-tflite-micro with ESP-NN kernels): interpreter, op resolver and tensor
// arena for the selected model. Portable: the host build links the same file against the same TFLM (tests).
#pragma once

#include <cstddef>
#include <cstdint>

#include "../model/model_source.h"

namespace kwt {

// Ops the exported models use (kwtui/core/device/runtime_compat.py FIRMWARE_OPS); exactly these are registered.
constexpr int kRegisteredOps = 11;

// Checks the model against this firmware (schema, ops, input size), then builds the interpreter in a heap arena
// of model.arena_size bytes. Returns false (and prints one `kwtui: error:` line saying why) on any failure.
bool inference_begin(const ModelInfo& model);

// Runs the model on (kFrames x kBins) float features; writes num_classes probabilities.
bool inference_run(const float* features, float* probabilities);

// Microseconds taken by the last inference_run.
uint32_t inference_last_us();

// Bytes of the arena the interpreter actually uses (after inference_begin).
size_t inference_arena_used();

}  // namespace kwt
