#pragma once
#include <cstdint>
typedef uint32_t TickType_t;
typedef int BaseType_t;
#define portMAX_DELAY 0xffffffffu
#define pdPASS 1
#define pdMS_TO_TICKS(ms) ((TickType_t)(ms))
