// Model partition image: a little-endian header, the class labels, then the .tflite flatbuffer.
// Host-buildable; kwtui/core/device/model_image.py writes the same layout (keep the two in step).
//
// offset size  field
//  0     4     magic "KWTM"
//  4     2     version (2; version 1 images, without the v2 fields, are still read)
//  6     2     header_size: fixed part + labels, padded to 16; the model starts here (16-byte aligned)
//  8     4     model_len
// 12     4     model_crc32 (zlib CRC-32 of the model bytes)
// 16     4     arena_size (bytes of tensor arena the model needs)
// 20     2     num_classes
// 22     2     num_keywords (keywords are classes [0, num_keywords))
// 24     2     flags (bit 0: sigmoid output)
// 26     2     labels_len (bytes of the NUL-terminated labels that follow the fixed part)
// 28     4     threshold (float32)        keyword 0's (v2: the table after the labels has each keyword's)
// 32     2     average_window             keyword 0's
// 34     1     v2: frontend (0 spectrogram, 1 micro)
// 35     1     v2: stride (feature slices per inference; 1 = the whole window at every hop)
// 36     4     refractory_ms
// 40     4     hop_ms
// 44     4     input_scale (float32)      48  4  input_zero_point (int32)
// 52     4     output_scale (float32)     56  4  output_zero_point (int32)
// 60     4     header_crc32: CRC-32 of bytes [0, header_size) with this field taken as 0
// 64     ...   labels: num_classes strings, each NUL-terminated (labels_len bytes)
// v2: at 64 + labels_len rounded up to 4, per keyword: threshold (f32), average_window (u16), reserved (u16)
// Bounds checked here: thresholds in (0, 1], windows 1..16, stride 1..8 (1 for the spectrogram), hop_ms =
// stride x 10 for the micro frontend and 10..1000 otherwise, refractory_ms <= 600000.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kwt {

constexpr uint32_t kModelImageMagic = 0x4D54574Bu;  // "KWTM" read little-endian
constexpr uint16_t kModelImageVersion = 2;
constexpr uint16_t kModelImageOldestVersion = 1;
constexpr int kModelImageFixedSize = 64;
constexpr int kModelImageMaxClasses = 32;
constexpr int kModelImageMaxLabel = 31;  // characters, without the NUL
constexpr int kModelImageMaxWindow = 16;
constexpr int kModelImageMaxStride = 8;
constexpr uint32_t kModelImageMaxRefractoryMs = 600000;

enum class Frontend : uint8_t { kSpectrogram = 0, kMicro = 1 };

enum class ImageStatus {
  kOk = 0,
  kTooSmall,       // fewer bytes than the fixed header (or than header_size)
  kBadMagic,       // not a model image (an erased partition reads 0xFFFFFFFF)
  kBadVersion,
  kBadHeader,      // inconsistent sizes or counts, labels malformed
  kBadHeaderCrc,
  kTruncated,      // the model extends past the available bytes
  kBadModelCrc,
};

const char* image_status_name(ImageStatus status);

struct ModelImage {
  uint16_t version = 0;
  uint16_t header_size = 0;
  uint32_t model_len = 0;
  uint32_t model_crc32 = 0;
  uint32_t arena_size = 0;
  uint16_t num_classes = 0;
  uint16_t num_keywords = 0;
  bool sigmoid_output = false;
  float threshold = 0.0f;        // keyword 0's
  uint16_t average_window = 0;   // keyword 0's
  Frontend frontend = Frontend::kSpectrogram;
  uint8_t stride = 1;
  float thresholds[kModelImageMaxClasses] = {};         // per keyword
  uint16_t average_windows[kModelImageMaxClasses] = {};  // per keyword
  uint32_t refractory_ms = 0;
  uint32_t hop_ms = 0;
  float input_scale = 0.0f;
  int32_t input_zero_point = 0;
  float output_scale = 0.0f;
  int32_t output_zero_point = 0;
  const char* labels[kModelImageMaxClasses] = {};  // point into the image bytes
  const uint8_t* model = nullptr;                   // points into the image bytes
};

// CRC-32 (IEEE 802.3, reflected, as zlib.crc32); `crc` chains calls.
uint32_t crc32_update(uint32_t crc, const uint8_t* data, size_t len);
inline uint32_t crc32(const uint8_t* data, size_t len) { return crc32_update(0, data, len); }

// Validate and read an image held in `len` bytes (e.g. a memory-mapped partition). On kOk, `out`
// points into `data`, which must stay mapped. Checks magic, version, sizes, labels, both CRCs.
ImageStatus parse_model_image(const uint8_t* data, size_t len, ModelImage* out);

}  // namespace kwt
