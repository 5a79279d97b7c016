#pragma once
#include "FreeRTOS.h"
typedef void (*TaskFunction_t)(void*);
typedef void* TaskHandle_t;
BaseType_t xTaskCreatePinnedToCore(TaskFunction_t, const char*, uint32_t, void*, unsigned, TaskHandle_t*, int);
void vTaskDelay(TickType_t);
