// The whole of a file as bytes, for the host tools (a model partition image, a .tflite).
#pragma once

#include <cstdint>
#include <cstdio>
#include <vector>

namespace kwt_host {

// False (and perror) when the file cannot be opened.
inline bool read_file(const char* path, std::vector<uint8_t>* out) {
  FILE* f = std::fopen(path, "rb");
  if (!f) {
    std::perror(path);
    return false;
  }
  uint8_t buf[4096];
  size_t got;
  while ((got = std::fread(buf, 1, sizeof buf, f)) > 0) out->insert(out->end(), buf, buf + got);
  std::fclose(f);
  return true;
}

}  // namespace kwt_host
