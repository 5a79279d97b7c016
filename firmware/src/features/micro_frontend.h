// ESPHome's "micro" feature on the chip: TensorFlow Lite Micro's audio frontend from ESPMicroSpeechFeatures
// (the C library ESPHome's micro_wake_word links), configured exactly as pymicro-features 2.0.2 configures it,
// which is what kwtui computes in Python (kwtui/core/data/micro_frontend.py).
//
// 16 kHz int16 -> 30 ms Hann window every 10 ms -> FFT 512 -> 40 mel channels 125-7500 Hz -> noise reduction ->
// PCAN gain control -> log scale. One slice of 40 values per 160-sample step once 480 samples have arrived.
//
// Scale: the frontend yields uint16 values; a slice holds value * 0.0390625f (= value / 25.6, roughly 0-26), the
// float pymicro-features returns and kwtui trains on. value * 5/128 is exact in float32 for every uint16.
//
// Stateful (noise estimate per channel, window history): a clip is computed from a fresh or reset() frontend,
// a stream keeps one frontend throughout. The features depend only on the sample sequence, not on how it is cut.
#pragma once

#include <cstddef>
#include <cstdint>

#include "frontend.h"

namespace kwt {

class MicroFrontend {
 public:
  static constexpr int kSampleRate = 16000;
  static constexpr size_t kStepSamples = 160;    // 10 ms: one slice per step
  static constexpr size_t kWindowSamples = 480;  // 30 ms: the first slice needs this many samples
  static constexpr size_t kChannels = 40;
  static constexpr float kFeatureScale = 0.0390625f;  // 1 / 25.6, pymicro-features' FLOAT32_SCALE

  // Allocates the frontend's tables and buffers (about 12 KB of heap with 4-byte pointers); ok() says whether
  // that worked.
  MicroFrontend();
  ~MicroFrontend();
  MicroFrontend(const MicroFrontend&) = delete;
  MicroFrontend& operator=(const MicroFrontend&) = delete;

  bool ok() const { return ok_; }

  // Back to the state of a fresh frontend: empty window, noise estimate zero.
  void reset();

  // Feeds samples[0..n). Consumes until one slice completes (at most one slice per call) or the input ends;
  // *consumed says how many were taken. True when a slice of kChannels floats was written to `out`.
  // Call again with the rest until *consumed covers n.
  bool process(const int16_t* samples, size_t n, float* out, size_t* consumed);

 private:
  FrontendState state_{};
  bool ok_ = false;
};

}  // namespace kwt
