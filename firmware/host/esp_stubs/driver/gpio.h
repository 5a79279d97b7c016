#pragma once
#include <cstdint>
#include "../esp_err.h"
typedef enum { GPIO_NUM_NC = -1, GPIO_NUM_0 = 0 } gpio_num_t;
typedef enum { GPIO_MODE_INPUT = 1, GPIO_MODE_OUTPUT = 2 } gpio_mode_t;
esp_err_t gpio_reset_pin(gpio_num_t);
esp_err_t gpio_set_direction(gpio_num_t, gpio_mode_t);
esp_err_t gpio_set_level(gpio_num_t, uint32_t);
