// Host stand-in for ESP-IDF's esp_timer.h, which esp-tflite-micro's ESP-NN kernels include to time
// themselves; defined in platform_host.cc.
#pragma once

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif
int64_t esp_timer_get_time(void);
#ifdef __cplusplus
}
#endif
