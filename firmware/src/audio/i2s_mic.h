// INMP441 capture (ESP32 only): an I2S task reads 32-bit samples, converts them to int16 and queues them.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kwt {

// Installs the I2S driver and starts the capture task. Returns false (and logs why) on failure.
bool mic_begin();

// Copies up to `max` queued samples into `out`, waiting at most `wait_ms` for the first ones.
size_t mic_read(int16_t* out, size_t max, uint32_t wait_ms);

// Samples dropped because the inference loop fell behind (the queue was full).
uint32_t mic_dropped_samples();

}  // namespace kwt
