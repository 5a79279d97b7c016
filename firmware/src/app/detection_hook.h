// What happens on a detection besides the serial line. The default lights the LED for kLedOnMs;
// define your own `kwt_on_detection` (same signature, in any .cpp) to drive a relay, buzzer, etc.
#pragma once

#include <cstdint>

extern "C" void kwt_on_detection(int class_index, const char* label, float score);

namespace kwt {
void led_begin();
void led_update(uint32_t now_ms);  // turns the LED off once kLedOnMs has passed
void led_flash(uint32_t now_ms);
void led_set(bool on);
}  // namespace kwt
