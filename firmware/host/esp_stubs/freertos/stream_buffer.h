#pragma once
#include <cstddef>
#include "FreeRTOS.h"
typedef struct StreamBufferStub* StreamBufferHandle_t;
StreamBufferHandle_t xStreamBufferCreate(size_t, size_t);
size_t xStreamBufferSend(StreamBufferHandle_t, const void*, size_t, TickType_t);
size_t xStreamBufferSpacesAvailable(StreamBufferHandle_t);
size_t xStreamBufferReceive(StreamBufferHandle_t, void*, size_t, TickType_t);
