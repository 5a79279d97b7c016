#pragma once
#include "micro_mutable_op_resolver.h"
#include "../schema/schema_generated.h"
#include "micro_allocator.h"
#include "micro_resource_variable.h"
namespace tflite {
class MicroInterpreter {
 public:
  MicroInterpreter(const Model*, const MicroOpResolver&, uint8_t* arena, size_t arena_size);
  MicroInterpreter(const Model*, const MicroOpResolver&, MicroAllocator*, MicroResourceVariables*);
  ~MicroInterpreter();
  TfLiteStatus AllocateTensors();
  TfLiteStatus Invoke();
  TfLiteTensor* input(size_t);
  TfLiteTensor* output(size_t);
  size_t arena_used_bytes() const;
};
}  // namespace tflite
