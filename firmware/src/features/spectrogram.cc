#include "spectrogram.h"

#include <cmath>

namespace kwt {

FeatureExtractor::FeatureExtractor() {
  constexpr double kPi = 3.14159265358979323846;
  // Periodic Hann: w[n] = 0.5 - 0.5 cos(2 pi n / N), n = 0..N-1 (no half-sample offset).
  for (int n = 0; n < kWindowSamples; ++n) {
    window_[n] = static_cast<float>(0.5 - 0.5 * std::cos(2.0 * kPi * n / kWindowSamples));
  }
  for (int n = kWindowSamples; n < kFftLength; ++n) fft_in_[n] = 0.0f;
}

void FeatureExtractor::compute_frame(const float* frame, const ClipStats& stats, float* out) {
  for (int n = 0; n < kWindowSamples; ++n) {
    fft_in_[n] = (frame[n] - stats.mean) * stats.scale * window_[n];
  }
  fft_.power_spectrum(fft_in_, power_);
  for (int b = 0; b < kBins; ++b) {
    const int start = b * kPoolSize;
    const int count = (start + kPoolSize <= kFftBins) ? kPoolSize : kFftBins - start;  // last group: 5
    float sum = 0.0f;
    for (int k = 0; k < count; ++k) sum += power_[start + k];
    out[b] = std::log10(sum / static_cast<float>(count) + kLogEpsilon);
  }
}

}  // namespace kwt
