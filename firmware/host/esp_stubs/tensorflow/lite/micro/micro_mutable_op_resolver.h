#pragma once
#include <cstddef>
#include <cstdint>
#include "../schema/schema_generated.h"
typedef enum { kTfLiteOk = 0, kTfLiteError = 1 } TfLiteStatus;
typedef enum { kTfLiteFloat32 = 1, kTfLiteUInt8 = 3, kTfLiteInt8 = 9 } TfLiteType;
struct TfLiteIntArray { int size; int data[8]; };
struct TfLiteQuantizationParams { float scale; int32_t zero_point; };
union TfLitePtrUnion { int8_t* int8; uint8_t* uint8; float* f; };
struct TfLiteTensor { TfLiteType type; TfLitePtrUnion data; TfLiteIntArray* dims; TfLiteQuantizationParams params; };
namespace tflite {
struct TFLMRegistration;
class MicroOpResolver {
 public:
  const TFLMRegistration* FindOp(BuiltinOperator) const;
};
template <unsigned int N>
class MicroMutableOpResolver : public MicroOpResolver {
 public:
  TfLiteStatus AddConv2D(); TfLiteStatus AddDepthwiseConv2D(); TfLiteStatus AddMaxPool2D();
  TfLiteStatus AddAveragePool2D(); TfLiteStatus AddReshape(); TfLiteStatus AddFullyConnected();
  TfLiteStatus AddSoftmax(); TfLiteStatus AddLogistic(); TfLiteStatus AddMean();
  TfLiteStatus AddQuantize(); TfLiteStatus AddDequantize();
  TfLiteStatus AddVarHandle(); TfLiteStatus AddReadVariable(); TfLiteStatus AddAssignVariable();
  TfLiteStatus AddCallOnce(); TfLiteStatus AddConcatenation(); TfLiteStatus AddStridedSlice();
};
}  // namespace tflite
