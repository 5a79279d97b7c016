#include "inference.h"

#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <new>

#include "../features/spectrogram.h"
#include "../platform/platform.h"
#include "tensorflow/lite/micro/arena_allocator/single_arena_buffer_allocator.h"
#include "tensorflow/lite/micro/memory_helpers.h"
#include "tensorflow/lite/micro/memory_planner/greedy_memory_planner.h"
#include "tensorflow/lite/micro/micro_allocator.h"
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
#include "tensorflow/lite/micro/micro_resource_variable.h"
#include "tensorflow/lite/schema/schema_generated.h"

namespace kwt {

namespace {

// The flatbuffer schema every TFLM since 2019 reads (TFLM dropped the TFLITE_SCHEMA_VERSION macro).
constexpr uint32_t kSchemaVersion = 3;
// Below this no model of ours can run: the interpreter's own bookkeeping takes about this much.
constexpr uint32_t kMinArenaBytes = 2048;
// TFLM aligns the arena's start to 16 bytes.
constexpr size_t kArenaAlign = 16;

using OpResolver = tflite::MicroMutableOpResolver<kRegisteredOps>;

// The arena's allocator: TFLM's own, with the checks TFLM 1.3.8 lacks, and "out of arena" made a clean failure.
// With an arena too small by more than a little, 1.3.8 crashes instead of failing (measured on the host: segfaults
// at arenas from about 25% to 90% of a streaming model's minimum), for two reasons:
// - not every allocation made while it allocates a model is checked (an op's Init or Prepare, the flatbuffer
//   parsers, temporary tensors, MicroResourceVariables::Create), so a failed one is dereferenced;
// - SingleArenaBufferAllocator lets the two ends overlap: AllocateTemp's unsigned check passes when the aligned
//   start lies beyond the tail, and AllocatePersistentBuffer checks the tail against the head but not against live
//   temporary allocations (the TfLiteTensors an op's Prepare is reading).
// Here both ends are checked against each other, and while AllocateTensors runs an allocation that does not fit
// jumps back to allocate_in(), which reports it; the half-built interpreter is abandoned, never used or destroyed.
// Nothing TFLM leaves on the stack owns memory (its allocations live in the arena), so no clean-up is skipped.
class GuardedArena : public tflite::SingleArenaBufferAllocator {
 public:
  GuardedArena(uint8_t* buffer, size_t size) : tflite::SingleArenaBufferAllocator(buffer, size), start_(buffer) {}

  std::jmp_buf* on_failure = nullptr;  // set while AllocateTensors runs

  uint8_t* AllocatePersistentBuffer(size_t size, size_t alignment) override {
    const uintptr_t low = temp_end();
    const uintptr_t high = reinterpret_cast<uintptr_t>(tail());
    if (high - low < size || (high - size) / alignment * alignment < low) return failed();
    return checked(tflite::SingleArenaBufferAllocator::AllocatePersistentBuffer(size, alignment));
  }
  uint8_t* AllocateTemp(size_t size, size_t alignment) override {
    const uintptr_t low = (temp_end() + alignment - 1) / alignment * alignment;
    const uintptr_t high = reinterpret_cast<uintptr_t>(tail());
    if (low > high || high - low < size) return failed();
    return checked(tflite::SingleArenaBufferAllocator::AllocateTemp(size, alignment));
  }
  uint8_t* AllocateResizableBuffer(size_t size, size_t alignment) override {
    return checked(tflite::SingleArenaBufferAllocator::AllocateResizableBuffer(size, alignment));
  }
  TfLiteStatus ResizeBuffer(uint8_t* buffer, size_t size, size_t alignment) override {
    return checked(tflite::SingleArenaBufferAllocator::ResizeBuffer(buffer, size, alignment));
  }
  TfLiteStatus ReserveNonPersistentOverlayMemory(size_t size, size_t alignment) override {
    return checked(tflite::SingleArenaBufferAllocator::ReserveNonPersistentOverlayMemory(size, alignment));
  }

 private:
  // The end of the head section and of the temporary allocations above it (never below the head).
  uintptr_t temp_end() const { return reinterpret_cast<uintptr_t>(start_) + GetNonPersistentUsedBytes(); }
  uint8_t* failed() {
    if (on_failure != nullptr) std::longjmp(*on_failure, 1);
    return nullptr;
  }
  uint8_t* checked(uint8_t* allocated) { return allocated != nullptr ? allocated : failed(); }
  TfLiteStatus checked(TfLiteStatus status) {
    if (status != kTfLiteOk && on_failure != nullptr) std::longjmp(*on_failure, 1);
    return status;
  }

  uint8_t* start_;
};

alignas(OpResolver) uint8_t g_resolver_storage[sizeof(OpResolver)];
alignas(tflite::MicroInterpreter) uint8_t g_interpreter_storage[sizeof(tflite::MicroInterpreter)];
alignas(GuardedArena) uint8_t g_arena_allocator_storage[sizeof(GuardedArena)];
alignas(tflite::GreedyMemoryPlanner) uint8_t g_planner_storage[sizeof(tflite::GreedyMemoryPlanner)];
OpResolver* g_resolver = nullptr;
tflite::MicroInterpreter* g_interpreter = nullptr;
const tflite::Model* g_model = nullptr;
uint8_t* g_arena = nullptr;
size_t g_arena_size = 0;
bool g_ready = false;  // the interpreter is allocated and may be invoked
TfLiteTensor* g_input = nullptr;
TfLiteTensor* g_output = nullptr;
int g_num_classes = 0;
int g_stride = 0;  // slices per inference of a streaming model; 0: whole-window model
int g_state_variables = 0;
uint32_t g_last_us = 0;
size_t g_arena_used = 0;

bool register_ops(OpResolver& r) {
  return r.AddConv2D() == kTfLiteOk && r.AddDepthwiseConv2D() == kTfLiteOk && r.AddMaxPool2D() == kTfLiteOk &&
         r.AddAveragePool2D() == kTfLiteOk && r.AddReshape() == kTfLiteOk && r.AddFullyConnected() == kTfLiteOk &&
         r.AddSoftmax() == kTfLiteOk && r.AddLogistic() == kTfLiteOk && r.AddMean() == kTfLiteOk &&
         r.AddQuantize() == kTfLiteOk && r.AddDequantize() == kTfLiteOk &&
         // Streaming models: state in resource variables, initialised once, and the ops that shift it.
         r.AddVarHandle() == kTfLiteOk && r.AddReadVariable() == kTfLiteOk && r.AddAssignVariable() == kTfLiteOk &&
         r.AddCallOnce() == kTfLiteOk && r.AddConcatenation() == kTfLiteOk && r.AddStridedSlice() == kTfLiteOk;
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

// One float32 operation at a time, as numpy computes kwtui's quantization (and as the ESP32's single-precision FPU
// does anyway). A host that evaluates float expressions in a wider type (x87, FLT_EVAL_METHOD 2: the -m32 host
// build) would otherwise round x / scale + zero_point once instead of twice, and a value within an ulp of .5 would
// quantize one step away from kwtui's.
#if defined(__FLT_EVAL_METHOD__) && __FLT_EVAL_METHOD__ != 0
inline float as_float32(float x) {
  volatile float stored = x;
  return stored;
}
#else
inline float as_float32(float x) { return x; }
#endif

// q = clip(round_half_even(x / scale + zero_point), -128, 127) in float32: kwtui's rule (convert.py _tflm_run,
// kwtui.core.streaming.quantize_slices), so the chip feeds the model exactly what kwtui verified.
inline int8_t quantize_int8(float x, float scale, float zero_point) {
  const float v = as_float32(as_float32(x / scale) + zero_point);
  const float clipped = v < -128.0f ? -128.0f : (v > 127.0f ? 127.0f : v);  // clip first: lrintf cannot overflow
  return static_cast<int8_t>(lrintf(clipped));  // the default rounding mode: to nearest, ties to even
}

bool same_name(const flatbuffers::String* a, const flatbuffers::String* b) {
  return a == nullptr ? b == nullptr : (b != nullptr && std::strcmp(a->c_str(), b->c_str()) == 0);
}

// Distinct resource variables of the model (VAR_HANDLE ops of every subgraph, told apart by container and name, as
// MicroResourceVariables does), or -1 with an error line when a VAR_HANDLE lacks the names TFLM compares (it would
// strcmp a null pointer).
int count_state_variables(const tflite::Model* model) {
  const auto* graphs = model->subgraphs();
  const auto* codes = model->operator_codes();
  int count = 0;
  bool any_container = false, any_without = false;
  for (unsigned g = 0; g < graphs->size(); ++g) {
    const auto* ops = graphs->Get(g)->operators();
    for (unsigned i = 0; ops != nullptr && i < ops->size(); ++i) {
      const auto* op = ops->Get(i);
      if (op->opcode_index() >= codes->size() ||
          builtin_code(codes->Get(op->opcode_index())) != tflite::BuiltinOperator_VAR_HANDLE) {
        continue;
      }
      const auto* options = op->builtin_options_as_VarHandleOptions();
      if (options == nullptr || options->shared_name() == nullptr) {
        std::printf("kwtui: error: the model has a VAR_HANDLE without a variable name (re-run `kwtui convert`)\n");
        return -1;
      }
      (options->container() != nullptr ? any_container : any_without) = true;
      bool seen = false;  // the same variable from an earlier VAR_HANDLE (e.g. the CALL_ONCE subgraph's)
      for (unsigned h = 0; h <= g && !seen; ++h) {
        const auto* earlier_ops = graphs->Get(h)->operators();
        const unsigned end = h == g ? i : (earlier_ops != nullptr ? earlier_ops->size() : 0);
        for (unsigned j = 0; j < end && !seen; ++j) {
          const auto* earlier = earlier_ops->Get(j);
          if (earlier->opcode_index() >= codes->size() ||
              builtin_code(codes->Get(earlier->opcode_index())) != tflite::BuiltinOperator_VAR_HANDLE) {
            continue;
          }
          const auto* e = earlier->builtin_options_as_VarHandleOptions();
          seen = same_name(e->shared_name(), options->shared_name()) && same_name(e->container(), options->container());
        }
      }
      if (!seen) ++count;
    }
  }
  if (any_container && any_without) {
    std::printf("kwtui: error: the model's VAR_HANDLEs mix named and unnamed containers (re-run `kwtui convert`)\n");
    return -1;
  }
  return count;
}

// Largest tensor a model may declare (elements): far above any keyword model, small enough that a byte count
// never overflows 32 bits.
constexpr uint64_t kMaxTensorElements = 1u << 24;

// An index list where every entry names a tensor of the graph (or is -1, "no tensor", where that is allowed).
bool indices_in_range(const flatbuffers::Vector<int32_t>* indices, uint32_t tensors, bool optional) {
  for (unsigned i = 0; indices != nullptr && i < indices->size(); ++i) {
    const int32_t index = indices->Get(i);
    if (!(index >= 0 && static_cast<uint32_t>(index) < tensors) && !(optional && index == -1)) return false;
  }
  return true;
}

// Bytes per element of the tensor types a keyword model holds (0: a type this firmware does not run).
uint32_t element_bytes(tflite::TensorType type) {
  switch (type) {
    case tflite::TensorType_INT8: case tflite::TensorType_UINT8: case tflite::TensorType_BOOL: return 1;
    case tflite::TensorType_INT16: return 2;
    case tflite::TensorType_FLOAT32: case tflite::TensorType_INT32: case tflite::TensorType_RESOURCE: return 4;
    case tflite::TensorType_INT64: return 8;
    default: return 0;
  }
}

// A tensor's shape, buffer and quantization as TFLM reads them without checking: a buffer index inside the model,
// dimensions >= 0 whose product (in 64 bits) stays sane, constant data at least as long as the shape needs, and
// per-channel scales / zero points as many as the quantized dimension has channels.
bool tensor_is_consistent(const tflite::Tensor* tensor, const tflite::Model* model) {
  const auto* buffers = model->buffers();
  if (tensor->buffer() >= (buffers != nullptr ? buffers->size() : 0)) return false;
  const uint32_t type_size = element_bytes(tensor->type());
  if (type_size == 0) return false;
  uint64_t elements = 1;
  const auto* shape = tensor->shape();
  for (unsigned d = 0; shape != nullptr && d < shape->size(); ++d) {
    if (shape->Get(d) < 0) return false;
    elements *= static_cast<uint64_t>(shape->Get(d));
    if (elements > kMaxTensorElements) return false;
  }
  const auto* data = buffers->Get(tensor->buffer())->data();
  if (data != nullptr && data->size() > 0 && data->size() < elements * type_size) return false;
  const auto* quantization = tensor->quantization();
  for (unsigned i = 0; quantization != nullptr && quantization->scale() != nullptr &&
                       i < quantization->scale()->size(); ++i) {
    const float scale = quantization->scale()->Get(i);
    if (!(std::isfinite(scale) && scale > 0.0f)) return false;  // NaN, infinite, zero or negative: damaged
  }
  if (quantization != nullptr && quantization->scale() != nullptr && quantization->scale()->size() > 1) {
    const int32_t axis = quantization->quantized_dimension();
    const uint32_t channels = quantization->scale()->size();
    if (shape == nullptr || axis < 0 || static_cast<uint32_t>(axis) >= shape->size() ||
        static_cast<uint32_t>(shape->Get(axis)) != channels) {
      return false;
    }
    const auto* zero_points = quantization->zero_point();
    if (zero_points == nullptr || (zero_points->size() != channels && zero_points->size() != 1)) return false;
  }
  return true;
}

// How many inputs and outputs each op this firmware registers takes (TFLM's kernels read node->inputs->data[k]
// for the slots they expect, not all of them after checking the count), and which input may be absent (-1).
struct OpArity {
  tflite::BuiltinOperator op;
  uint8_t min_inputs, max_inputs, outputs;
  int8_t optional_input;  // -1: none (a conv's or fully-connected's bias may be absent)
};
constexpr OpArity kArities[] = {
    {tflite::BuiltinOperator_CONV_2D, 2, 3, 1, 2}, {tflite::BuiltinOperator_DEPTHWISE_CONV_2D, 2, 3, 1, 2},
    {tflite::BuiltinOperator_FULLY_CONNECTED, 2, 3, 1, 2}, {tflite::BuiltinOperator_MAX_POOL_2D, 1, 1, 1, -1},
    {tflite::BuiltinOperator_AVERAGE_POOL_2D, 1, 1, 1, -1}, {tflite::BuiltinOperator_RESHAPE, 1, 2, 1, -1},
    {tflite::BuiltinOperator_SOFTMAX, 1, 1, 1, -1}, {tflite::BuiltinOperator_LOGISTIC, 1, 1, 1, -1},
    {tflite::BuiltinOperator_MEAN, 2, 2, 1, -1}, {tflite::BuiltinOperator_QUANTIZE, 1, 1, 1, -1},
    {tflite::BuiltinOperator_DEQUANTIZE, 1, 1, 1, -1}, {tflite::BuiltinOperator_VAR_HANDLE, 0, 0, 1, -1},
    {tflite::BuiltinOperator_READ_VARIABLE, 1, 1, 1, -1}, {tflite::BuiltinOperator_ASSIGN_VARIABLE, 2, 2, 0, -1},
    {tflite::BuiltinOperator_CALL_ONCE, 0, 0, 0, -1}, {tflite::BuiltinOperator_CONCATENATION, 1, 255, 1, -1},
    {tflite::BuiltinOperator_STRIDED_SLICE, 4, 4, 1, -1},
};

// The op's inputs and outputs: as many as it takes, each a tensor of the graph (or -1 in its optional slot).
bool operands_fit(const tflite::Operator* op, tflite::BuiltinOperator code, uint32_t tensors) {
  const OpArity* arity = nullptr;
  for (const OpArity& a : kArities) {
    if (a.op == code) arity = &a;
  }
  if (arity == nullptr) return false;  // not registered: refused earlier with its name
  const auto* inputs = op->inputs();
  const auto* outputs = op->outputs();
  const uint32_t n_in = inputs != nullptr ? inputs->size() : 0;
  const uint32_t n_out = outputs != nullptr ? outputs->size() : 0;
  if (n_in < arity->min_inputs || n_in > arity->max_inputs || n_out != arity->outputs) return false;
  for (uint32_t i = 0; i < n_in; ++i) {
    const int32_t index = inputs->Get(i);
    const bool absent_ok = arity->optional_input == static_cast<int32_t>(i) && index == -1;
    if (!absent_ok && !(index >= 0 && static_cast<uint32_t>(index) < tensors)) return false;
  }
  return indices_in_range(outputs, tensors, false) && indices_in_range(op->intermediates(), tensors, true);
}

// Every index TFLM follows on trust, checked: the Verifier only keeps the flatbuffer's own offsets inside it, so a
// model whose bytes are wrong but well-formed (a damaged partition with matching CRCs) could still name a tensor,
// buffer, op code or subgraph that does not exist and read past the model or the arena at every boot.
bool model_is_consistent(const tflite::Model* model) {
  const auto* graphs = model->subgraphs();
  const auto* codes = model->operator_codes();
  if (graphs == nullptr || codes == nullptr || model->buffers() == nullptr) return false;
  for (unsigned g = 0; g < graphs->size(); ++g) {
    const auto* graph = graphs->Get(g);
    const auto* tensors = graph->tensors();
    const uint32_t count = tensors != nullptr ? tensors->size() : 0;
    if (!indices_in_range(graph->inputs(), count, false) || !indices_in_range(graph->outputs(), count, false)) {
      return false;
    }
    for (unsigned t = 0; t < count; ++t) {
      if (!tensor_is_consistent(tensors->Get(t), model)) return false;
    }
    const auto* ops = graph->operators();
    for (unsigned i = 0; ops != nullptr && i < ops->size(); ++i) {
      const auto* op = ops->Get(i);
      if (op->opcode_index() >= codes->size()) return false;
      const tflite::BuiltinOperator code = builtin_code(codes->Get(op->opcode_index()));
      if (!operands_fit(op, code, count)) return false;
      if (code == tflite::BuiltinOperator_CALL_ONCE) {
        const auto* once = op->builtin_options_as_CallOnceOptions();
        if (once == nullptr || once->init_subgraph_index() < 0 ||
            static_cast<uint32_t>(once->init_subgraph_index()) >= graphs->size()) {
          return false;
        }
      }
    }
  }
  return true;
}

// What can be checked on the flatbuffer itself, so a wrong model is one line instead of a failure (or, in some
// TFLM versions, an abort) inside AllocateTensors. Sets *stride (0 for a whole-window model).
bool model_fits_this_firmware(const tflite::Model* model, const OpResolver& resolver, int* stride) {
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
  if (!model_is_consistent(model)) {
    std::printf("kwtui: error: the model is damaged (an index, shape or buffer in it is out of range); flash it "
                "again with `kwtui flash PRESET` or re-run `kwtui convert`\n");
    return false;
  }
  const auto* graph = graphs->Get(0);
  if (graph->inputs() == nullptr || graph->inputs()->size() != 1 || graph->tensors() == nullptr) {
    std::printf("kwtui: error: the model must take exactly one input\n");
    return false;
  }
  const auto* shape = graph->tensors()->Get(graph->inputs()->Get(0))->shape();
  int inputs = 1;
  for (unsigned i = 0; shape != nullptr && i < shape->size(); ++i) inputs *= shape->Get(i);
  // [1, stride, 40]: a streaming model; anything else must hold one whole window.
  const bool streaming = shape != nullptr && shape->size() == 3 && shape->Get(0) == 1 && shape->Get(1) >= 1 &&
                         shape->Get(2) == kSliceFeatures;
  if (!streaming && inputs != kFrames * kBins) {
    std::printf("kwtui: error: the model takes %d inputs, the features are %d x %d (or [1, stride, %d] slices)\n",
                inputs, kFrames, kBins, kSliceFeatures);
    return false;
  }
  *stride = streaming ? shape->Get(1) : 0;
  return true;
}

// The interpreter (g_interpreter) on `arena`, allocated; false when the model does not fit (TFLM's own clean
// failure, or an allocation that jumped back here). No locals change after setjmp, so none can be clobbered.
bool allocate_in(GuardedArena* arena, tflite::GreedyMemoryPlanner* planner) {
  std::jmp_buf out_of_arena;
  if (setjmp(out_of_arena) != 0) {
    arena->on_failure = nullptr;
    return false;
  }
  arena->on_failure = &out_of_arena;
  tflite::MicroAllocator* allocator = tflite::MicroAllocator::Create(arena, planner);
  tflite::MicroResourceVariables* variables =
      g_state_variables > 0 ? tflite::MicroResourceVariables::Create(allocator, g_state_variables) : nullptr;
  g_interpreter = new (g_interpreter_storage) tflite::MicroInterpreter(g_model, *g_resolver, allocator, variables);
  const bool allocated = g_interpreter->AllocateTensors() == kTfLiteOk;
  arena->on_failure = nullptr;
  return allocated;
}

// (Re)builds the interpreter in the arena: a fresh allocator, the model's resource variables, AllocateTensors
// (which also runs every op's Init and Prepare: the variables' buffers are allocated there, set to their zero
// point; CALL_ONCE fills them at the first Invoke). One error line on failure.
bool build_interpreter() {
  g_ready = false;
  if (g_interpreter != nullptr) g_interpreter->~MicroInterpreter();
  g_interpreter = nullptr;
  uint8_t* start = tflite::AlignPointerUp(g_arena, kArenaAlign);
  const size_t usable = g_arena_size - static_cast<size_t>(start - g_arena);
  auto* arena = new (g_arena_allocator_storage) GuardedArena(start, usable);
  auto* planner = new (g_planner_storage) tflite::GreedyMemoryPlanner();
  if (!allocate_in(arena, planner)) {
    g_interpreter = nullptr;  // half-built: abandoned, not destroyed
    std::printf("kwtui: error: the model does not fit its %lu byte tensor arena (AllocateTensors failed; "
                "re-run `kwtui convert`, which measures the arena)\n", static_cast<unsigned long>(g_arena_size));
    return false;
  }
  g_arena_used = g_interpreter->arena_used_bytes();
  g_input = g_interpreter->input(0);
  g_output = g_interpreter->output(0);
  g_ready = true;
  return true;
}

// Gives the arena back: the interpreter in it first (its ops' Free runs on memory in the arena), then the arena.
void release_arena() {
  g_ready = false;
  if (g_interpreter != nullptr) g_interpreter->~MicroInterpreter();
  g_interpreter = nullptr;
  free_arena(g_arena);
  g_arena = nullptr;
  g_arena_size = 0;
}

bool invoke_and_read(float* probabilities, uint32_t start) {
  if (g_interpreter->Invoke() != kTfLiteOk) return false;
  const float scale = g_output->params.scale;
  const int32_t zero = g_output->params.zero_point;
  for (int c = 0; c < g_num_classes; ++c) {
    switch (g_output->type) {
      case kTfLiteInt8: probabilities[c] = (g_output->data.int8[c] - zero) * scale; break;
      case kTfLiteUInt8: probabilities[c] = (g_output->data.uint8[c] - zero) * scale; break;
      default: probabilities[c] = g_output->data.f[c]; break;
    }
  }
  g_last_us = now_us() - start;
  return true;
}

void set_input(const float* values, int n) {
  if (g_input->type == kTfLiteInt8) {
    const float scale = g_input->params.scale;
    const float zero = static_cast<float>(g_input->params.zero_point);
    int8_t* q = g_input->data.int8;
    for (int i = 0; i < n; ++i) q[i] = quantize_int8(values[i], scale, zero);
  } else {
    for (int i = 0; i < n; ++i) g_input->data.f[i] = values[i];
  }
}

}  // namespace

bool inference_begin(const ModelInfo& info) {
  // Every offset in the flatbuffer is checked before any is followed: a damaged model (a CRC-valid image of
  // wrong bytes, a cut-off file) is one error line instead of a read past its end at every boot.
  flatbuffers::Verifier verifier(info.model, info.model_len);
  if (info.model == nullptr || !tflite::VerifyModelBuffer(verifier)) {
    std::printf("kwtui: error: the model is damaged (its flatbuffer does not verify); flash it again with "
                "`kwtui flash PRESET` or re-run `kwtui convert`\n");
    return false;
  }
  const tflite::Model* model = tflite::GetModel(info.model);
  if (g_resolver == nullptr) {
    g_resolver = new (g_resolver_storage) OpResolver();
    if (!register_ops(*g_resolver)) {
      std::printf("kwtui: error: op registration failed\n");
      return false;
    }
  }
  int stride = 0;
  if (!model_fits_this_firmware(model, *g_resolver, &stride)) return false;
  const bool header_streaming = info.frontend == Frontend::kMicro;
  if ((stride > 0) != header_streaming || (stride > 0 && stride != info.stride)) {
    std::printf("kwtui: error: the model takes %s, its header says %s features, stride %d (re-run `kwtui convert`)\n",
                stride > 0 ? "feature slices" : "whole windows", header_streaming ? "micro frontend" : "spectrogram",
                info.stride);
    return false;
  }
  const int state_variables = count_state_variables(model);
  if (state_variables < 0) return false;
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
  g_model = model;
  g_arena = arena;
  g_arena_size = info.arena_size;
  g_stride = stride;
  g_state_variables = state_variables;
  if (!build_interpreter()) {
    release_arena();  // the next inference_begin (the compiled-in model, after a partition model that cannot run)
    return false;     // needs the heap this one took
  }
  const bool input_ok = g_input->type == kTfLiteInt8 || g_input->type == kTfLiteFloat32;
  const bool output_ok =
      g_output->type == kTfLiteInt8 || g_output->type == kTfLiteUInt8 || g_output->type == kTfLiteFloat32;
  if (element_count(g_output) != info.num_classes || !input_ok || !output_ok) {
    std::printf("kwtui: error: model output (%d values, type %d) does not match %d classes\n",
                element_count(g_output), static_cast<int>(g_output->type), info.num_classes);
    release_arena();
    return false;
  }
  g_num_classes = info.num_classes;
  return true;
}

bool inference_is_streaming() { return g_stride > 0; }

int inference_stride() { return g_stride; }

bool inference_run(const float* features, float* probabilities) {
  if (!g_ready || g_stride > 0) return false;
  const uint32_t start = now_us();
  set_input(features, kFrames * kBins);
  return invoke_and_read(probabilities, start);
}

bool inference_run_stride(const float* slices, float* probabilities) {
  if (!g_ready || g_stride == 0) return false;
  const uint32_t start = now_us();
  set_input(slices, g_stride * kSliceFeatures);
  return invoke_and_read(probabilities, start);
}

bool inference_reset() {
  if (g_stride == 0 || g_state_variables == 0) return g_ready;
  return build_interpreter();
}

uint32_t inference_last_us() { return g_last_us; }

size_t inference_arena_used() { return g_arena_used; }

int inference_state_variables() { return g_state_variables; }

}  // namespace kwt
