// Real FFT of a 512-point frame, float32, no dependencies (host-buildable).
// A 256-point complex radix-2 FFT on packed even/odd samples, then the standard split step.
#pragma once

#include <cstddef>

namespace kwt {

class RealFft512 {
 public:
  static constexpr int kSize = 512;
  static constexpr int kBins = kSize / 2 + 1;  // 257

  RealFft512();
  // input: kSize real samples (the caller zero-pads). power: kBins values of |X[k]|^2.
  void power_spectrum(const float* input, float* power);

 private:
  static constexpr int kHalf = kSize / 2;  // 256-point complex FFT
  void complex_fft_half();

  float re_[kHalf];
  float im_[kHalf];
  float tw_re_[kHalf / 2];     // twiddles of the 256-point FFT: exp(-2*pi*i*k/256)
  float tw_im_[kHalf / 2];
  float split_re_[kHalf + 1];  // exp(-2*pi*i*k/512) for the split step
  float split_im_[kHalf + 1];
  unsigned short bitrev_[kHalf];
};

}  // namespace kwt
