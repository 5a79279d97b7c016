#pragma once
#include <cstddef>
#include <cstdint>
#include "../micro_mutable_op_resolver.h"
namespace tflite {
class SingleArenaBufferAllocator {
 public:
  SingleArenaBufferAllocator(uint8_t* buffer, size_t buffer_size);
  virtual ~SingleArenaBufferAllocator();
  virtual TfLiteStatus ResizeBuffer(uint8_t* resizable_buf, size_t size, size_t alignment);
  virtual uint8_t* AllocateResizableBuffer(size_t size, size_t alignment);
  virtual TfLiteStatus ReserveNonPersistentOverlayMemory(size_t size, size_t alignment);
  virtual uint8_t* AllocatePersistentBuffer(size_t size, size_t alignment);
  virtual uint8_t* AllocateTemp(size_t size, size_t alignment);
  size_t GetNonPersistentUsedBytes() const;
 protected:
  uint8_t* tail() const;
};
}  // namespace tflite
