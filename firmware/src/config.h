// Every board-specific setting in one place: microphone pins, LED, sample format, timing.
#pragma once

#include <cstdint>

namespace kwt_config {

// --- INMP441 I2S microphone (L/R pin to GND = left channel) -----------------------------------------
#if defined(KWT_BOARD_ESP32S3)
constexpr int kI2sSckPin = 4;   // INMP441 SCK (bit clock)
constexpr int kI2sWsPin = 5;    // INMP441 WS (word select / LRCLK)
constexpr int kI2sSdPin = 6;    // INMP441 SD (data out of the mic)
constexpr int kLedPin = 48;     // on-board LED (RGB on some S3 boards: plain GPIO toggling still lights it)
#else
constexpr int kI2sSckPin = 26;
constexpr int kI2sWsPin = 22;
constexpr int kI2sSdPin = 21;
constexpr int kLedPin = 2;      // on-board blue LED of most ESP32 DevKit boards
#endif
constexpr bool kLedActiveHigh = true;
constexpr int kI2sPort = 0;                 // I2S_NUM_0
constexpr int kSampleRate = 16000;
// INMP441 sends 24-bit samples left-aligned in 32-bit slots. int16 = sample >> kMicShift, saturated:
// 16 keeps full scale, 14 adds 12 dB of gain for quiet rooms (features are peak-normalised anyway).
constexpr int kMicShift = 14;
constexpr bool kMicLeftChannel = true;      // L/R pin tied to GND

// --- timing -------------------------------------------------------------------------------------------
constexpr int kDmaBufferCount = 4;
constexpr int kDmaBufferSamples = 256;
constexpr int kAudioQueueMs = 400;          // audio held between the I2S task and the inference loop
constexpr int kLedOnMs = 500;               // how long the LED stays on after a detection
constexpr bool kPrintScores = false;        // also print "SCORES ..." for every inference (debugging)

}  // namespace kwt_config
