#include "fft.h"

#include <cmath>

namespace kwt {

namespace {
constexpr double kPi = 3.14159265358979323846;
}

RealFft512::RealFft512() {
  // Twiddles are computed in double and rounded once, so they are exact to float precision.
  for (int k = 0; k < kHalf / 2; ++k) {
    tw_re_[k] = static_cast<float>(std::cos(2.0 * kPi * k / kHalf));
    tw_im_[k] = static_cast<float>(-std::sin(2.0 * kPi * k / kHalf));
  }
  for (int k = 0; k <= kHalf; ++k) {
    split_re_[k] = static_cast<float>(std::cos(2.0 * kPi * k / kSize));
    split_im_[k] = static_cast<float>(-std::sin(2.0 * kPi * k / kSize));
  }
  int bits = 0;
  while ((1 << bits) < kHalf) ++bits;
  for (int i = 0; i < kHalf; ++i) {
    int r = 0;
    for (int b = 0; b < bits; ++b) r |= ((i >> b) & 1) << (bits - 1 - b);
    bitrev_[i] = static_cast<unsigned short>(r);
  }
}

void RealFft512::complex_fft_half() {
  for (int i = 0; i < kHalf; ++i) {
    const int j = bitrev_[i];
    if (j > i) {
      float t = re_[i]; re_[i] = re_[j]; re_[j] = t;
      t = im_[i]; im_[i] = im_[j]; im_[j] = t;
    }
  }
  for (int len = 2; len <= kHalf; len <<= 1) {
    const int half = len >> 1;
    const int step = kHalf / len;
    for (int start = 0; start < kHalf; start += len) {
      for (int k = 0; k < half; ++k) {
        const float wr = tw_re_[k * step];
        const float wi = tw_im_[k * step];
        const int a = start + k;
        const int b = a + half;
        const float tr = re_[b] * wr - im_[b] * wi;
        const float ti = re_[b] * wi + im_[b] * wr;
        re_[b] = re_[a] - tr;
        im_[b] = im_[a] - ti;
        re_[a] += tr;
        im_[a] += ti;
      }
    }
  }
}

void RealFft512::power_spectrum(const float* input, float* power) {
  // Pack x[2n] + i*x[2n+1] into a half-size complex sequence z.
  for (int n = 0; n < kHalf; ++n) {
    re_[n] = input[2 * n];
    im_[n] = input[2 * n + 1];
  }
  complex_fft_half();
  // Split: E[k] = (Z[k] + conj(Z[M-k]))/2, O[k] = (Z[k] - conj(Z[M-k]))/(2i), X[k] = E[k] + W^k O[k].
  for (int k = 0; k <= kHalf; ++k) {
    const int a = k % kHalf;
    const int b = (kHalf - k) % kHalf;
    const float zr = re_[a], zi = im_[a];
    const float cr = re_[b], ci = -im_[b];  // conj(Z[M-k])
    const float er = 0.5f * (zr + cr), ei = 0.5f * (zi + ci);
    const float dr = 0.5f * (zr - cr), di = 0.5f * (zi - ci);
    const float or_ = di, oi = -dr;  // (dr + i*di) / i
    const float wr = split_re_[k], wi = split_im_[k];
    const float xr = er + (wr * or_ - wi * oi);
    const float xi = ei + (wr * oi + wi * or_);
    power[k] = xr * xr + xi * xi;
  }
}

}  // namespace kwt
