// The feature of docs/feature.md, in float32 C++ (host-buildable; mirrors kwtui/core/data/spectrogram.py).
//
// 1 s at 16 kHz -> remove the mean and scale by max |x| (silence stays zeros) -> 99 frames of 320 samples
// every 160, periodic Hann window -> FFT 512 -> 257 |X|^2 bins -> average-pool groups of 6 (43 bins, the
// last one has 5 and is divided by 5) -> log10(x + 1e-6). Output row-major [99][43].
//
// Normalisation uses the statistics of the whole second, so every inference recomputes all 99 frames from
// the ring buffer, one 320-sample frame at a time (compute_frame), with a 2 KB scratch buffer.
#pragma once

#include <cstdint>

#include "../audio/ring_buffer.h"
#include "fft.h"

namespace kwt {

constexpr int kSampleRate = 16000;
constexpr int kClipSamples = 16000;
constexpr int kWindowSamples = 320;
constexpr int kStrideSamples = 160;
constexpr int kFftLength = RealFft512::kSize;
constexpr int kFftBins = RealFft512::kBins;  // 257
constexpr int kPoolSize = 6;
constexpr int kFrames = (kClipSamples - kWindowSamples) / kStrideSamples + 1;  // 99
constexpr int kBins = (kFftBins + kPoolSize - 1) / kPoolSize;                  // 43
constexpr float kLogEpsilon = 1e-6f;
constexpr float kSilencePeak = 1e-6f;  // max |x - mean| below this: silence, features of all zeros

// Mean and 1/peak of a clip; scale is 0 for silence (normalised samples are then all zeros).
struct ClipStats {
  float mean = 0.0f;
  float scale = 0.0f;
};

inline float to_float(float x) { return x; }
inline float to_float(int16_t x) { return static_cast<float>(x); }

class FeatureExtractor {
 public:
  FeatureExtractor();

  // One frame: `frame` holds kWindowSamples raw samples; writes kBins features.
  void compute_frame(const float* frame, const ClipStats& stats, float* out);

  // Statistics of the n samples held by a ring buffer (mean accumulated in double).
  template <typename T, int N>
  static ClipStats stats(const RingBuffer<T, N>& ring, int first, int n);

  // The full (kFrames x kBins) feature of the last second held by `ring`; false while it holds less.
  template <typename T, int N>
  bool compute(const RingBuffer<T, N>& ring, float* out);

 private:
  RealFft512 fft_;
  float window_[kWindowSamples];
  float frame_raw_[kWindowSamples];
  float fft_in_[kFftLength];
  float power_[kFftBins];
};

template <typename T, int N>
ClipStats FeatureExtractor::stats(const RingBuffer<T, N>& ring, int first, int n) {
  double sum = 0.0;
  float lo = 0.0f, hi = 0.0f;
  for (int i = 0; i < n; ++i) {
    const float x = to_float(ring.at(first + i));
    sum += x;
    if (i == 0 || x < lo) lo = x;
    if (i == 0 || x > hi) hi = x;
  }
  ClipStats s;
  const double mean = n > 0 ? sum / n : 0.0;
  const double peak = (hi - mean) > (mean - lo) ? (hi - mean) : (mean - lo);
  s.mean = static_cast<float>(mean);
  s.scale = peak > kSilencePeak ? static_cast<float>(1.0 / peak) : 0.0f;
  return s;
}

template <typename T, int N>
bool FeatureExtractor::compute(const RingBuffer<T, N>& ring, float* out) {
  static_assert(N >= kClipSamples, "the ring buffer must hold one second");
  if (ring.size() < kClipSamples) return false;
  const int first = ring.size() - kClipSamples;
  const ClipStats s = stats(ring, first, kClipSamples);
  T raw[kWindowSamples];
  for (int f = 0; f < kFrames; ++f) {
    ring.copy(first + f * kStrideSamples, kWindowSamples, raw);
    for (int i = 0; i < kWindowSamples; ++i) frame_raw_[i] = to_float(raw[i]);
    compute_frame(frame_raw_, s, out + f * kBins);
  }
  return true;
}

}  // namespace kwt
