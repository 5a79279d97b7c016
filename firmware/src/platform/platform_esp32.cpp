#include "platform.h"

#include <esp_heap_caps.h>
#include <esp_timer.h>
#include <freertos/FreeRTOS.h>
#include <freertos/task.h>

namespace kwt {

uint32_t now_ms() { return static_cast<uint32_t>(esp_timer_get_time() / 1000); }

uint32_t now_us() { return static_cast<uint32_t>(esp_timer_get_time()); }

void sleep_ms(uint32_t ms) { vTaskDelay(pdMS_TO_TICKS(ms)); }

uint8_t* alloc_arena(size_t bytes) {
  void* p = heap_caps_aligned_alloc(16, bytes, MALLOC_CAP_INTERNAL | MALLOC_CAP_8BIT);
  if (p == nullptr) p = heap_caps_aligned_alloc(16, bytes, MALLOC_CAP_SPIRAM | MALLOC_CAP_8BIT);
  return static_cast<uint8_t*>(p);
}

void free_arena(uint8_t* arena) { heap_caps_free(arena); }

size_t largest_free_block() {
  const size_t internal = heap_caps_get_largest_free_block(MALLOC_CAP_INTERNAL | MALLOC_CAP_8BIT);
  const size_t spiram = heap_caps_get_largest_free_block(MALLOC_CAP_SPIRAM | MALLOC_CAP_8BIT);
  return internal > spiram ? internal : spiram;
}

}  // namespace kwt
