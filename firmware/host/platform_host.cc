// The host's side of src/platform/platform.h, for the host builds of the firmware's inference code.
// KWT_HOST_HEAP_BYTES (environment) caps what alloc_arena hands out, to exercise the out-of-memory path.
#include "platform/platform.h"

#include <chrono>
#include <cstdlib>
#include <thread>

namespace kwt {

namespace {
size_t heap_cap() {
  const char* cap = std::getenv("KWT_HOST_HEAP_BYTES");
  return cap != nullptr ? static_cast<size_t>(std::strtoull(cap, nullptr, 10)) : static_cast<size_t>(-1);
}

uint64_t since_start_us() {
  static const auto start = std::chrono::steady_clock::now();
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start).count();
}
}  // namespace

uint32_t now_ms() { return static_cast<uint32_t>(since_start_us() / 1000); }

uint32_t now_us() { return static_cast<uint32_t>(since_start_us()); }

void sleep_ms(uint32_t ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

uint8_t* alloc_arena(size_t bytes) {
  if (bytes > heap_cap()) return nullptr;
  return static_cast<uint8_t*>(std::aligned_alloc(16, (bytes + 15) / 16 * 16));
}

void free_arena(uint8_t* arena) { std::free(arena); }

size_t largest_free_block() { return heap_cap(); }

}  // namespace kwt

extern "C" int64_t esp_timer_get_time(void) { return static_cast<int64_t>(kwt::since_start_us()); }
