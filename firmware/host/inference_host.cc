// inference_host IMAGE [ARENA_BYTES|-] [STRIDES_PER_RECORDING] < FEATURES: the firmware's own inference path
// (src/app/inference.cpp, the model choice and the partition parser) linked against the firmware's TFLM, run on the
// host. IMAGE is a model partition image from `kwtui flash`; ARENA_BYTES overrides the arena size in its header
// ("-": the header's). FEATURES on stdin, float32:
// - whole-window model: windows of 99 x 43 values, one after another; one line of probabilities per window;
// - streaming model (input [1, stride, 40]): strides of stride x 40 slice features, one after another; one line
//   of probabilities per stride (inference_run_stride). With STRIDES_PER_RECORDING = n, the input is recordings
//   of n strides each and the model state is reset (inference_reset) before every recording after the first.
// Prints `arena_used=<n> pointer_bytes=<p> stride=<s> state_variables=<v>` (stride 0: whole-window), then the
// probability lines. Exit 0 ok, 1 when an inference or reset fails, 3 when inference_begin refuses (its error line
// is on stdout).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "app/inference.h"
#include "features/spectrogram.h"
#include "model/model_source.h"
#include "read_file.h"

int main(int argc, char** argv) {
  if (argc < 2 || argc > 4) {
    std::fprintf(stderr, "usage: inference_host IMAGE [ARENA_BYTES|-] [STRIDES_PER_RECORDING] < features.f32\n");
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
  if (argc >= 3 && std::strcmp(argv[2], "-") != 0) {
    model.arena_size = static_cast<uint32_t>(std::strtoul(argv[2], nullptr, 10));
  }
  const long per_recording = argc == 4 ? std::strtol(argv[3], nullptr, 10) : 0;
  if (!kwt::inference_begin(model)) return 3;
  std::printf("arena_used=%lu pointer_bytes=%u stride=%d state_variables=%d\n",
              static_cast<unsigned long>(kwt::inference_arena_used()), static_cast<unsigned>(sizeof(void*)),
              kwt::inference_stride(), kwt::inference_state_variables());
  const bool streaming = kwt::inference_is_streaming();
  std::vector<float> input(streaming ? kwt::inference_stride() * kwt::kSliceFeatures : kwt::kFrames * kwt::kBins);
  float probabilities[kwt::kMaxClasses];
  for (long n = 0; std::fread(input.data(), sizeof(float), input.size(), stdin) == input.size(); ++n) {
    if (streaming && per_recording > 0 && n > 0 && n % per_recording == 0 && !kwt::inference_reset()) {
      std::printf("kwtui: error: resetting the model state failed\n");
      return 1;
    }
    const bool ok = streaming ? kwt::inference_run_stride(input.data(), probabilities)
                              : kwt::inference_run(input.data(), probabilities);
    if (!ok) {
      std::printf("kwtui: error: inference failed\n");
      return 1;
    }
    for (int c = 0; c < model.num_classes; ++c) {
      std::printf(c ? " %.9g" : "%.9g", static_cast<double>(probabilities[c]));
    }
    std::printf("\n");
  }
  return 0;
}
