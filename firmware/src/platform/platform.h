// What the firmware needs from the board besides I2S and the partition: time, sleep and memory for the tensor
// arena. platform_esp32.cpp implements it on ESP-IDF; firmware/host/platform_host.cc on the host, so the
// inference code (src/app/inference.cpp) is the same file in both builds.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kwt {

uint32_t now_ms();
uint32_t now_us();
void sleep_ms(uint32_t ms);

// 16-byte aligned memory for the tensor arena: internal RAM first (fast), else PSRAM. nullptr when no block
// of that size is free.
uint8_t* alloc_arena(size_t bytes);

// Frees what alloc_arena returned (nullptr: nothing).
void free_arena(uint8_t* arena);

// The largest block alloc_arena could still return (for the error line when it cannot).
size_t largest_free_block();

}  // namespace kwt
