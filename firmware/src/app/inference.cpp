#include "inference.h"

#include <Arduino.h>
#include <TensorFlowLite_ESP32.h>
#include <esp_heap_caps.h>

#include <cmath>
#include <new>

#include "../features/spectrogram.h"
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
#include "tensorflow/lite/schema/schema_generated.h"
#if __has_include("tensorflow/lite/version.h")
#include "tensorflow/lite/version.h"
#endif
#ifndef TFLITE_SCHEMA_VERSION  // newer TFLM dropped version.h; the flatbuffer schema is still version 3
#define TFLITE_SCHEMA_VERSION 3
#endif
#if __has_include("tensorflow/lite/micro/micro_error_reporter.h")
#include "tensorflow/lite/micro/micro_error_reporter.h"
#define KWT_TFLM_HAS_ERROR_REPORTER 1
#endif

namespace kwt {

namespace {

using OpResolver = tflite::MicroMutableOpResolver<kRegisteredOps>;

alignas(OpResolver) uint8_t g_resolver_storage[sizeof(OpResolver)];
alignas(tflite::MicroInterpreter) uint8_t g_interpreter_storage[sizeof(tflite::MicroInterpreter)];
tflite::MicroInterpreter* g_interpreter = nullptr;
TfLiteTensor* g_input = nullptr;
TfLiteTensor* g_output = nullptr;
int g_num_classes = 0;
uint32_t g_last_us = 0;

bool register_ops(OpResolver& r) {
  return r.AddConv2D() == kTfLiteOk && r.AddDepthwiseConv2D() == kTfLiteOk && r.AddMaxPool2D() == kTfLiteOk &&
         r.AddAveragePool2D() == kTfLiteOk && r.AddReshape() == kTfLiteOk && r.AddFullyConnected() == kTfLiteOk &&
         r.AddSoftmax() == kTfLiteOk && r.AddLogistic() == kTfLiteOk && r.AddMean() == kTfLiteOk &&
         r.AddQuantize() == kTfLiteOk && r.AddDequantize() == kTfLiteOk;
}

int element_count(const TfLiteTensor* t) {
  int n = 1;
  for (int i = 0; i < t->dims->size; ++i) n *= t->dims->data[i];
  return n;
}

}  // namespace

bool inference_begin(const ModelInfo& info) {
  const tflite::Model* model = tflite::GetModel(info.model);
  if (model->version() != TFLITE_SCHEMA_VERSION) {
    Serial.printf("kwtui: error: model schema %lu, this TFLM reads %d\n",
                  static_cast<unsigned long>(model->version()), TFLITE_SCHEMA_VERSION);
    return false;
  }
  auto* resolver = new (g_resolver_storage) OpResolver();
  if (!register_ops(*resolver)) {
    Serial.println("kwtui: error: op registration failed");
    return false;
  }
  // Internal RAM first (fast); PSRAM only when the arena does not fit there.
  uint8_t* arena = static_cast<uint8_t*>(
      heap_caps_aligned_alloc(16, info.arena_size, MALLOC_CAP_INTERNAL | MALLOC_CAP_8BIT));
  if (arena == nullptr) {
    arena = static_cast<uint8_t*>(heap_caps_aligned_alloc(16, info.arena_size, MALLOC_CAP_SPIRAM));
  }
  if (arena == nullptr) {
    Serial.printf("kwtui: error: no memory for a %lu byte tensor arena (free heap %u)\n",
                  static_cast<unsigned long>(info.arena_size), static_cast<unsigned>(ESP.getFreeHeap()));
    return false;
  }
#ifdef KWT_TFLM_HAS_ERROR_REPORTER
  static tflite::MicroErrorReporter error_reporter;
  g_interpreter = new (g_interpreter_storage)
      tflite::MicroInterpreter(model, *resolver, arena, info.arena_size, &error_reporter);
#else
  g_interpreter = new (g_interpreter_storage) tflite::MicroInterpreter(model, *resolver, arena, info.arena_size);
#endif
  if (g_interpreter->AllocateTensors() != kTfLiteOk) {
    Serial.printf("kwtui: error: AllocateTensors failed in %lu bytes (re-run `kwtui convert`)\n",
                  static_cast<unsigned long>(info.arena_size));
    return false;
  }
  g_input = g_interpreter->input(0);
  g_output = g_interpreter->output(0);
  if (element_count(g_input) != kFrames * kBins) {
    Serial.printf("kwtui: error: the model takes %d inputs, the features are %d x %d\n", element_count(g_input),
                  kFrames, kBins);
    return false;
  }
  if (element_count(g_output) != info.num_classes ||
      (g_input->type != kTfLiteInt8 && g_input->type != kTfLiteFloat32) ||
      (g_output->type != kTfLiteInt8 && g_output->type != kTfLiteFloat32)) {
    Serial.printf("kwtui: error: model output (%d values, type %d) does not match %d classes\n",
                  element_count(g_output), static_cast<int>(g_output->type), info.num_classes);
    return false;
  }
  g_num_classes = info.num_classes;
  return true;
}

bool inference_run(const float* features, float* probabilities) {
  const uint32_t start = micros();
  const int n = kFrames * kBins;
  if (g_input->type == kTfLiteInt8) {
    // q = round_half_even(x / scale + zero_point), clipped: as kwtui/core/stages/convert.py checks it in TFLM.
    const float scale = g_input->params.scale;
    const float zero = static_cast<float>(g_input->params.zero_point);
    int8_t* q = g_input->data.int8;
    for (int i = 0; i < n; ++i) {
      const long v = lrintf(features[i] / scale + zero);
      q[i] = static_cast<int8_t>(v < -128 ? -128 : (v > 127 ? 127 : v));
    }
  } else {
    for (int i = 0; i < n; ++i) g_input->data.f[i] = features[i];
  }
  if (g_interpreter->Invoke() != kTfLiteOk) return false;
  for (int c = 0; c < g_num_classes; ++c) {
    probabilities[c] = g_output->type == kTfLiteInt8
                           ? (g_output->data.int8[c] - g_output->params.zero_point) * g_output->params.scale
                           : g_output->data.f[c];
  }
  g_last_us = micros() - start;
  return true;
}

uint32_t inference_last_us() { return g_last_us; }

}  // namespace kwt
