#include "detection_hook.h"

#include <driver/gpio.h>

#include "../config.h"
#include "../platform/platform.h"

namespace kwt {

namespace {
bool g_led_on = false;
uint32_t g_led_since = 0;

}  // namespace

void led_set(bool on) {
  gpio_set_level(static_cast<gpio_num_t>(kwt_config::kLedPin), on == kwt_config::kLedActiveHigh ? 1 : 0);
}

void led_begin() {
  gpio_reset_pin(static_cast<gpio_num_t>(kwt_config::kLedPin));
  gpio_set_direction(static_cast<gpio_num_t>(kwt_config::kLedPin), GPIO_MODE_OUTPUT);
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

extern "C" __attribute__((weak)) void kwt_on_detection(int, const char*, float) { kwt::led_flash(kwt::now_ms()); }
