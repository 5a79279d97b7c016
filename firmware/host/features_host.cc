// features_host [--int16] [--every N] IN.raw OUT.raw
// IN: little-endian float32 (or int16 with --int16) samples at 16 kHz, at least one second.
// The samples go through the firmware's ring buffer in 160-sample blocks, like the I2S task pushes them;
// OUT gets the float32 (99 x 43) features of the last second, or with --every N one feature block every N
// samples once the buffer holds a second (the streaming path the device runs).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "audio/ring_buffer.h"
#include "features/spectrogram.h"

namespace {

constexpr int kBlock = 160;

template <typename T>
int run(FILE* in, FILE* out, long every) {
  std::vector<T> samples;
  T block[4096];
  size_t got;
  while ((got = std::fread(block, sizeof(T), 4096, in)) > 0) samples.insert(samples.end(), block, block + got);
  if (samples.size() < static_cast<size_t>(kwt::kClipSamples)) {
    std::fprintf(stderr, "need at least %d samples, got %zu\n", kwt::kClipSamples, samples.size());
    return 2;
  }
  static kwt::RingBuffer<T, kwt::kClipSamples> ring;
  static kwt::FeatureExtractor extractor;
  static float features[kwt::kFrames * kwt::kBins];
  long since_last = 0;
  int blocks_written = 0;
  for (size_t pos = 0; pos < samples.size(); pos += kBlock) {
    const int n = static_cast<int>(samples.size() - pos < kBlock ? samples.size() - pos : kBlock);
    ring.push(samples.data() + pos, n);
    since_last += n;
    const bool last = pos + n >= samples.size();
    const bool due = every > 0 && ring.full() && (since_last >= every || blocks_written == 0);
    if ((every > 0 && due) || (every <= 0 && last)) {
      extractor.compute(ring, features);
      std::fwrite(features, sizeof(float), kwt::kFrames * kwt::kBins, out);
      since_last = 0;
      ++blocks_written;
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  bool int16 = false;
  long every = 0;
  int arg = 1;
  for (; arg < argc && argv[arg][0] == '-'; ++arg) {
    if (std::strcmp(argv[arg], "--int16") == 0) {
      int16 = true;
    } else if (std::strcmp(argv[arg], "--every") == 0 && arg + 1 < argc) {
      every = std::atol(argv[++arg]);
    } else {
      break;
    }
  }
  if (argc - arg != 2) {
    std::fprintf(stderr, "usage: features_host [--int16] [--every N] IN.raw OUT.raw\n");
    return 2;
  }
  FILE* in = std::fopen(argv[arg], "rb");
  FILE* out = std::fopen(argv[arg + 1], "wb");
  if (!in || !out) {
    std::perror("open");
    return 2;
  }
  const int rc = int16 ? run<int16_t>(in, out, every) : run<float>(in, out, every);
  std::fclose(in);
  return std::fclose(out) == 0 ? rc : 1;
}
