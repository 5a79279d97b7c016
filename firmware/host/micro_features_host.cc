// micro_features_host [IN.raw ...]
// IN: raw little-endian int16 samples at 16 kHz (stdin when no file is named). Writes to stdout the float32
// (n, 40) feature slices of firmware/src/features/micro_frontend.h, row-major, little-endian as on the host.
// Each file starts from a reset frontend (like a fresh one: one clip per file); the slices of all files follow
// each other. The samples are fed in odd-sized chunks on purpose: the features must not depend on the cut.
#include <cstdint>
#include <cstdio>
#include <vector>

#include "features/micro_frontend.h"

namespace {

constexpr size_t kChunkBytes = 4099 * 2;  // not a multiple of the 160-sample step

// False on a read or write error (reported on stderr).
bool run(FILE* in, const char* name, kwt::MicroFrontend* frontend) {
  std::vector<uint8_t> bytes(kChunkBytes + 1);
  std::vector<int16_t> samples;
  float slice[kwt::MicroFrontend::kChannels];
  size_t carry = 0;  // an odd trailing byte waits for the next read
  size_t got;
  while ((got = std::fread(bytes.data() + carry, 1, kChunkBytes, in)) > 0) {
    const size_t total = carry + got;
    samples.resize(total / 2);
    for (size_t i = 0; i < samples.size(); ++i) {  // little-endian whatever the host's byte order
      samples[i] = static_cast<int16_t>(static_cast<uint16_t>(bytes[2 * i] | (bytes[2 * i + 1] << 8)));
    }
    carry = total % 2;
    if (carry) bytes[0] = bytes[total - 1];
    size_t at = 0;
    while (at < samples.size()) {
      size_t used = 0;
      if (frontend->process(samples.data() + at, samples.size() - at, slice, &used) &&
          std::fwrite(slice, sizeof(float), kwt::MicroFrontend::kChannels, stdout) != kwt::MicroFrontend::kChannels) {
        std::perror("stdout");
        return false;
      }
      at += used;
    }
  }
  if (std::ferror(in)) {
    std::perror(name);
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  static kwt::MicroFrontend frontend;
  if (!frontend.ok()) {
    std::fprintf(stderr, "the micro frontend could not be set up (out of memory?)\n");
    return 1;
  }
  if (argc < 2) return run(stdin, "stdin", &frontend) && std::fflush(stdout) == 0 ? 0 : 1;
  for (int arg = 1; arg < argc; ++arg) {
    FILE* in = std::fopen(argv[arg], "rb");
    if (!in) {
      std::perror(argv[arg]);
      return 1;
    }
    frontend.reset();
    const bool done = run(in, argv[arg], &frontend);
    std::fclose(in);
    if (!done) return 1;
  }
  return std::fflush(stdout) == 0 ? 0 : 1;
}
