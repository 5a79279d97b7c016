#pragma once
#include <cstdint>
#include <cstddef>
namespace flatbuffers {
template <typename T> struct Vector { unsigned size() const; T Get(unsigned) const; };
struct Verifier { Verifier(const uint8_t* buf, size_t len); };
struct String { const char* c_str() const; };
}
namespace tflite {
enum BuiltinOperator : int32_t { BuiltinOperator_ADD = 0, BuiltinOperator_CUSTOM = 32, BuiltinOperator_VAR_HANDLE = 142 };
const char* EnumNameBuiltinOperator(BuiltinOperator);
struct OperatorCode { int8_t deprecated_builtin_code() const; BuiltinOperator builtin_code() const; };
struct VarHandleOptions { const flatbuffers::String* container() const; const flatbuffers::String* shared_name() const; };
struct Operator { uint32_t opcode_index() const; const VarHandleOptions* builtin_options_as_VarHandleOptions() const; };
struct Tensor { const flatbuffers::Vector<int32_t>* shape() const; };
struct SubGraph {
  const flatbuffers::Vector<const Tensor*>* tensors() const;
  const flatbuffers::Vector<int32_t>* inputs() const;
  const flatbuffers::Vector<const Operator*>* operators() const;
};
struct Model {
  uint32_t version() const;
  const flatbuffers::Vector<const SubGraph*>* subgraphs() const;
  const flatbuffers::Vector<const OperatorCode*>* operator_codes() const;
};
const Model* GetModel(const void* buf);
bool VerifyModelBuffer(flatbuffers::Verifier& verifier);
}  // namespace tflite
