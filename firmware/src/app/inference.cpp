#include "inference.h"

#include <cmath>
#include <cstdio>
#include <new>

#include "../features/spectrogram.h"
#include "../platform/platform.h"
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
#include "tensorflow/lite/schema/schema_generated.h"

namespace kwt {

namespace {

// The flatbuffer schema every TFLM since 2019 reads (TFLM dropped the TFLITE_SCHEMA_VERSION macro).
constexpr uint32_t kSchemaVersion = 3;
// Below this no model of ours can run: the interpreter's own bookkeeping takes about this much.
constexpr uint32_t kMinArenaBytes = 2048;

using OpResolver = tflite::MicroMutableOpResolver<kRegisteredOps>;

alignas(OpResolver) uint8_t g_resolver_storage[sizeof(OpResolver)];
alignas(tflite::MicroInterpreter) uint8_t g_interpreter_storage[sizeof(tflite::MicroInterpreter)];
OpResolver* g_resolver = nullptr;
tflite::MicroInterpreter* g_interpreter = nullptr;
TfLiteTensor* g_input = nullptr;
TfLiteTensor* g_output = nullptr;
int g_num_classes = 0;
uint32_t g_last_us = 0;
size_t g_arena_used = 0;

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

tflite::BuiltinOperator builtin_code(const tflite::OperatorCode* code) {
  // Schema 3 keeps small codes in the deprecated byte and large ones in builtin_code; the larger one is right.
  const int deprecated = code->deprecated_builtin_code();
  const int current = static_cast<int>(code->builtin_code());
  return static_cast<tflite::BuiltinOperator>(deprecated > current ? deprecated : current);
}

// What can be checked on the flatbuffer itself, so a wrong model is one line instead of a failure (or, in some
// TFLM versions, an abort) inside AllocateTensors.
bool model_fits_this_firmware(const tflite::Model* model, const OpResolver& resolver) {
  if (model->version() != kSchemaVersion) {
    std::printf("kwtui: error: model schema %lu, this firmware reads %lu (re-run `kwtui convert`)\n",
                static_cast<unsigned long>(model->version()), static_cast<unsigned long>(kSchemaVersion));
    return false;
  }
  const auto* graphs = model->subgraphs();
  const auto* codes = model->operator_codes();
  if (graphs == nullptr || graphs->size() < 1 || codes == nullptr) {
    std::printf("kwtui: error: the model has no graph (re-run `kwtui convert`)\n");
    return false;
  }
  for (unsigned i = 0; i < codes->size(); ++i) {
    const tflite::BuiltinOperator op = builtin_code(codes->Get(i));
    if (op == tflite::BuiltinOperator_CUSTOM || resolver.FindOp(op) == nullptr) {
      std::printf("kwtui: error: the model uses op %s, which this firmware does not register "
                  "(convert it with the kwtui that matches this firmware)\n", tflite::EnumNameBuiltinOperator(op));
      return false;
    }
  }
  const auto* graph = graphs->Get(0);
  if (graph->inputs() == nullptr || graph->inputs()->size() != 1 || graph->tensors() == nullptr) {
    std::printf("kwtui: error: the model must take exactly one input\n");
    return false;
  }
  const auto* shape = graph->tensors()->Get(graph->inputs()->Get(0))->shape();
  int inputs = 1;
  for (unsigned i = 0; shape != nullptr && i < shape->size(); ++i) inputs *= shape->Get(i);
  if (inputs != kFrames * kBins) {
    std::printf("kwtui: error: the model takes %d inputs, the features are %d x %d\n", inputs, kFrames, kBins);
    return false;
  }
  return true;
}

}  // namespace

bool inference_begin(const ModelInfo& info) {
  const tflite::Model* model = tflite::GetModel(info.model);
  if (g_resolver == nullptr) {
    g_resolver = new (g_resolver_storage) OpResolver();
    if (!register_ops(*g_resolver)) {
      std::printf("kwtui: error: op registration failed\n");
      return false;
    }
  }
  if (!model_fits_this_firmware(model, *g_resolver)) return false;
  if (info.arena_size < kMinArenaBytes) {
    std::printf("kwtui: error: the model header asks for a %lu byte arena, below the %lu bytes any model needs "
                "(re-run `kwtui convert`)\n", static_cast<unsigned long>(info.arena_size),
                static_cast<unsigned long>(kMinArenaBytes));
    return false;
  }
  uint8_t* arena = alloc_arena(info.arena_size);
  if (arena == nullptr) {
    std::printf("kwtui: error: no memory for a %lu byte tensor arena (largest free block %lu bytes)\n",
                static_cast<unsigned long>(info.arena_size), static_cast<unsigned long>(largest_free_block()));
    return false;
  }
  g_interpreter = new (g_interpreter_storage) tflite::MicroInterpreter(model, *g_resolver, arena, info.arena_size);
  if (g_interpreter->AllocateTensors() != kTfLiteOk) {
    std::printf("kwtui: error: the model does not fit its %lu byte tensor arena (AllocateTensors failed; "
                "re-run `kwtui convert`, which measures the arena)\n", static_cast<unsigned long>(info.arena_size));
    return false;
  }
  g_arena_used = g_interpreter->arena_used_bytes();
  g_input = g_interpreter->input(0);
  g_output = g_interpreter->output(0);
  if (element_count(g_output) != info.num_classes ||
      (g_input->type != kTfLiteInt8 && g_input->type != kTfLiteFloat32) ||
      (g_output->type != kTfLiteInt8 && g_output->type != kTfLiteFloat32)) {
    std::printf("kwtui: error: model output (%d values, type %d) does not match %d classes\n",
                element_count(g_output), static_cast<int>(g_output->type), info.num_classes);
    return false;
  }
  g_num_classes = info.num_classes;
  return true;
}

bool inference_run(const float* features, float* probabilities) {
  const uint32_t start = now_us();
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
  g_last_us = now_us() - start;
  return true;
}

uint32_t inference_last_us() { return g_last_us; }

size_t inference_arena_used() { return g_arena_used; }

}  // namespace kwt
