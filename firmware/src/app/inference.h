// TensorFlow Lite Micro (Espressif's esp-tflite-micro with ESP-NN kernels): interpreter, op resolver and tensor
// arena for the selected model. Portable: the host build links the same file against the same TFLM (tests).
//
// Two kinds of model, told apart by the input shape:
// - whole-window (the legacy spectrogram models): kFrames x kBins features in, one inference per hop
//   (inference_run);
// - streaming (microWakeWord / ESPHome style): [1, stride, kSliceFeatures] micro-frontend feature slices in, one
//   inference per stride of slices (inference_run_stride); the layers keep their recent inputs in TFLite resource
//   variables (VAR_HANDLE / READ_VARIABLE / ASSIGN_VARIABLE, set up by CALL_ONCE), allocated from the arena.
#pragma once

#include <cstddef>
#include <cstdint>

#include "../model/model_source.h"

namespace kwt {

// Ops the exported models use (kwtui/core/tflite/runtime_compat.py FIRMWARE_OPS); exactly these are registered.
constexpr int kRegisteredOps = 17;

// Features per slice of a streaming model's input (the micro frontend's channels).
constexpr int kSliceFeatures = 40;

// Checks the model against this firmware (schema, ops, input shape, state variables), then builds the interpreter
// (and the model's resource variables) in a heap arena of model.arena_size bytes. Returns false (and prints one
// `kwtui: error:` line saying why) on any failure.
bool inference_begin(const ModelInfo& model);

// Whether the model is a streaming one (input [1, stride, kSliceFeatures]); valid after inference_begin.
bool inference_is_streaming();

// Feature slices per inference of a streaming model (its input's second dimension); 0 for a whole-window model.
int inference_stride();

// Whole-window models: runs the model on (kFrames x kBins) float features; writes num_classes probabilities.
// False for a streaming model or when Invoke fails.
bool inference_run(const float* features, float* probabilities);

// Streaming models: one inference on the next stride of slices (inference_stride() x kSliceFeatures floats, in the
// unit the model was trained in), quantized with the input tensor's scale and zero point; writes num_classes
// probabilities (the uint8 or int8 output dequantized). The model's state advances. False for a whole-window model
// or when Invoke fails.
bool inference_run_stride(const float* slices, float* probabilities);

// Fresh state, as just after inference_begin: the interpreter is rebuilt in the same arena, so the model's
// CALL_ONCE initialisation runs again at the next inference (the same state a newly loaded model has). For a
// whole-window model it is a no-op. False (one `kwtui: error:` line) if the rebuild fails.
bool inference_reset();

// Microseconds taken by the last inference_run / inference_run_stride.
uint32_t inference_last_us();

// Bytes of the arena the interpreter actually uses (after inference_begin), resource variables included.
size_t inference_arena_used();

// Distinct resource variables (state tensors) of the model; 0 for a model without VAR_HANDLE.
int inference_state_variables();

}  // namespace kwt
