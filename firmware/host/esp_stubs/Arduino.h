#pragma once
#include <cstddef>
#include <cstdint>
#include <cmath>
#define HIGH 1
#define LOW 0
#define OUTPUT 3
struct HardwareSerialStub {
  void begin(unsigned long);
  size_t println(const char*);
  size_t println();
  size_t printf(const char*, ...) __attribute__((format(printf, 2, 3)));
};
extern HardwareSerialStub Serial;
struct EspClassStub { uint32_t getFreeHeap(); };
extern EspClassStub ESP;
unsigned long millis();
unsigned long micros();
void delay(uint32_t);
void pinMode(uint8_t, uint8_t);
void digitalWrite(uint8_t, uint8_t);
