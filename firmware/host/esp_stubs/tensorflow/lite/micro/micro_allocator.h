#pragma once
#include "arena_allocator/single_arena_buffer_allocator.h"
#include "memory_planner/greedy_memory_planner.h"
namespace tflite {
class MicroAllocator {
 public:
  static MicroAllocator* Create(SingleArenaBufferAllocator* memory_allocator, MicroMemoryPlanner* memory_planner);
};
}  // namespace tflite
