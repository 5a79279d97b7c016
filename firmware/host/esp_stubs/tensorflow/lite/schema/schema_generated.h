#pragma once
#include <cstdint>
#include <cstddef>
namespace flatbuffers {
template <typename T> struct Vector { unsigned size() const; T Get(unsigned) const; };
struct Verifier { Verifier(const uint8_t* buf, size_t len); };
struct String { const char* c_str() const; };
}
namespace tflite {
enum BuiltinOperator : int32_t {
  BuiltinOperator_ADD = 0, BuiltinOperator_AVERAGE_POOL_2D = 1, BuiltinOperator_CONCATENATION = 2,
  BuiltinOperator_CONV_2D = 3, BuiltinOperator_DEPTHWISE_CONV_2D = 4, BuiltinOperator_DEQUANTIZE = 6,
  BuiltinOperator_FULLY_CONNECTED = 9, BuiltinOperator_LOGISTIC = 14, BuiltinOperator_MAX_POOL_2D = 17,
  BuiltinOperator_RESHAPE = 22, BuiltinOperator_SOFTMAX = 25, BuiltinOperator_CUSTOM = 32,
  BuiltinOperator_MEAN = 40, BuiltinOperator_STRIDED_SLICE = 45, BuiltinOperator_QUANTIZE = 114,
  BuiltinOperator_CALL_ONCE = 129, BuiltinOperator_VAR_HANDLE = 142, BuiltinOperator_READ_VARIABLE = 143,
  BuiltinOperator_ASSIGN_VARIABLE = 144,
};
enum TensorType : int8_t { TensorType_FLOAT32 = 0, TensorType_INT32 = 2, TensorType_UINT8 = 3, TensorType_INT64 = 4,
                           TensorType_BOOL = 6, TensorType_INT16 = 7, TensorType_INT8 = 9, TensorType_RESOURCE = 13 };
const char* EnumNameBuiltinOperator(BuiltinOperator);
struct OperatorCode { int8_t deprecated_builtin_code() const; BuiltinOperator builtin_code() const; };
struct VarHandleOptions { const flatbuffers::String* container() const; const flatbuffers::String* shared_name() const; };
struct CallOnceOptions { int32_t init_subgraph_index() const; };
struct Operator {
  uint32_t opcode_index() const;
  const flatbuffers::Vector<int32_t>* inputs() const;
  const flatbuffers::Vector<int32_t>* outputs() const;
  const flatbuffers::Vector<int32_t>* intermediates() const;
  const VarHandleOptions* builtin_options_as_VarHandleOptions() const;
  const CallOnceOptions* builtin_options_as_CallOnceOptions() const;
};
struct QuantizationParameters {
  const flatbuffers::Vector<float>* scale() const;
  const flatbuffers::Vector<int64_t>* zero_point() const;
  int32_t quantized_dimension() const;
};
struct Tensor {
  const flatbuffers::Vector<int32_t>* shape() const;
  TensorType type() const;
  uint32_t buffer() const;
  const QuantizationParameters* quantization() const;
};
struct Buffer { const flatbuffers::Vector<uint8_t>* data() const; };
struct SubGraph {
  const flatbuffers::Vector<const Tensor*>* tensors() const;
  const flatbuffers::Vector<int32_t>* inputs() const;
  const flatbuffers::Vector<int32_t>* outputs() const;
  const flatbuffers::Vector<const Operator*>* operators() const;
};
struct Model {
  uint32_t version() const;
  const flatbuffers::Vector<const SubGraph*>* subgraphs() const;
  const flatbuffers::Vector<const OperatorCode*>* operator_codes() const;
  const flatbuffers::Vector<const Buffer*>* buffers() const;
};
const Model* GetModel(const void* buf);
bool VerifyModelBuffer(flatbuffers::Verifier& verifier);
}  // namespace tflite
