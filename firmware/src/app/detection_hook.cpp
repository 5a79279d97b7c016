#include "detection_hook.h"

#include <Arduino.h>

#include "../config.h"

namespace kwt {

namespace {
bool g_led_on = false;
uint32_t g_led_since = 0;

}  // namespace

void led_set(bool on) { digitalWrite(kwt_config::kLedPin, (on == kwt_config::kLedActiveHigh) ? HIGH : LOW); }

void led_begin() {
  pinMode(kwt_config::kLedPin, OUTPUT);
  led_set(false);
}

void led_flash(uint32_t now_ms) {
  g_led_on = true;
  g_led_since = now_ms;
  led_set(true);
}

void led_update(uint32_t now_ms) {
  if (g_led_on && now_ms - g_led_since >= static_cast<uint32_t>(kwt_config::kLedOnMs)) {
    g_led_on = false;
    led_set(false);
  }
}

}  // namespace kwt

extern "C" __attribute__((weak)) void kwt_on_detection(int, const char*, float) { kwt::led_flash(millis()); }
