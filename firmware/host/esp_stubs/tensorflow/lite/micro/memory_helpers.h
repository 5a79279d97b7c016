#pragma once
#include <cstddef>
#include <cstdint>
namespace tflite {
uint8_t* AlignPointerUp(uint8_t* data, size_t alignment);
}  // namespace tflite
