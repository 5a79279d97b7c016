// Fixed-size ring buffer of the most recent audio samples (host-buildable, no allocation).
// The I2S task pushes blocks; the inference loop reads the last second in order, oldest first.
#pragma once

#include <cstddef>

namespace kwt {

template <typename T, int N>
class RingBuffer {
 public:
  static constexpr int kCapacity = N;

  void clear() {
    head_ = 0;
    count_ = 0;
  }

  void push(const T* samples, int n) {
    for (int i = 0; i < n; ++i) {
      data_[head_] = samples[i];
      head_ = (head_ + 1) % N;
    }
    count_ = (count_ + n < N) ? count_ + n : N;
  }

  bool full() const { return count_ == N; }
  int size() const { return count_; }

  // i-th of the samples held, 0 = oldest.
  T at(int i) const { return data_[(head_ - count_ + i + 2 * N) % N]; }

  // Copy `n` samples starting at the i-th held one into `out` (two memcpy-like runs at most).
  void copy(int first, int n, T* out) const {
    int pos = (head_ - count_ + first + 2 * N) % N;
    for (int k = 0; k < n; ++k) {
      out[k] = data_[pos];
      pos = (pos + 1 == N) ? 0 : pos + 1;
    }
  }

 private:
  T data_[N] = {};
  int head_ = 0;   // next write position
  int count_ = 0;  // samples held (<= N)
};

}  // namespace kwt
