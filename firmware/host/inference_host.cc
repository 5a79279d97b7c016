// inference_host IMAGE [ARENA_BYTES] < FEATURES: the firmware's own inference path (src/app/inference.cpp, the
// model choice and the partition parser) linked against the firmware's TFLM, run on the host. IMAGE is a model
// partition image from `kwtui flash`; ARENA_BYTES overrides the arena size in its header. FEATURES on stdin:
// float32 windows of 99 x 43 values, one after another. Prints `arena_used=<n>`, then one line of
// probabilities per window. Exit 0 ok, 3 when inference_begin refuses (its error line is on stdout).
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "app/inference.h"
#include "features/spectrogram.h"
#include "model/model_source.h"
#include "read_file.h"

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: inference_host IMAGE [ARENA_BYTES] < features.f32\n");
    return 2;
  }
  std::vector<uint8_t> image;
  if (!kwt_host::read_file(argv[1], &image)) return 2;
  // The partition is memory-mapped flash on the chip: 16-byte aligned, like this copy.
  std::vector<uint8_t, std::allocator<uint8_t>> aligned(image.size() + 16);
  uint8_t* base = aligned.data() + (16 - reinterpret_cast<uintptr_t>(aligned.data()) % 16) % 16;
  std::copy(image.begin(), image.end(), base);

  kwt::ModelInfo model;
  if (!kwt::select_model(base, image.size(), &model)) {
    std::printf("kwtui: error: no usable model in %s\n", argv[1]);
    return 3;
  }
  if (argc == 3) model.arena_size = static_cast<uint32_t>(std::strtoul(argv[2], nullptr, 10));
  if (!kwt::inference_begin(model)) return 3;
  std::printf("arena_used=%lu pointer_bytes=%u\n", static_cast<unsigned long>(kwt::inference_arena_used()),
              static_cast<unsigned>(sizeof(void*)));
  std::vector<float> window(kwt::kFrames * kwt::kBins);
  float probabilities[kwt::kMaxClasses];
  while (std::fread(window.data(), sizeof(float), window.size(), stdin) == window.size()) {
    if (!kwt::inference_run(window.data(), probabilities)) {
      std::printf("kwtui: error: inference failed\n");
      return 1;
    }
    for (int c = 0; c < model.num_classes; ++c) std::printf(c ? " %.9g" : "%.9g", static_cast<double>(probabilities[c]));
    std::printf("\n");
  }
  return 0;
}
