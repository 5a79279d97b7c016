#include "model_image.h"

#include <cstring>

namespace kwt {

namespace {

uint16_t u16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t u32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}
int32_t i32(const uint8_t* p) {
  const uint32_t v = u32(p);
  int32_t out;
  std::memcpy(&out, &v, sizeof out);
  return out;
}
float f32(const uint8_t* p) {
  const uint32_t v = u32(p);
  float out;
  std::memcpy(&out, &v, sizeof out);
  return out;
}

constexpr int kHeaderCrcOffset = 60;

}  // namespace

const char* image_status_name(ImageStatus status) {
  switch (status) {
    case ImageStatus::kOk: return "ok";
    case ImageStatus::kTooSmall: return "too_small";
    case ImageStatus::kBadMagic: return "bad_magic";
    case ImageStatus::kBadVersion: return "bad_version";
    case ImageStatus::kBadHeader: return "bad_header";
    case ImageStatus::kBadHeaderCrc: return "bad_header_crc";
    case ImageStatus::kTruncated: return "truncated";
    case ImageStatus::kBadModelCrc: return "bad_model_crc";
  }
  return "unknown";
}

uint32_t crc32_update(uint32_t crc, const uint8_t* data, size_t len) {
  crc = ~crc;
  for (size_t i = 0; i < len; ++i) {
    crc ^= data[i];
    for (int b = 0; b < 8; ++b) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

ImageStatus parse_model_image(const uint8_t* data, size_t len, ModelImage* out) {
  if (data == nullptr || len < static_cast<size_t>(kModelImageFixedSize)) return ImageStatus::kTooSmall;
  if (u32(data) != kModelImageMagic) return ImageStatus::kBadMagic;
  ModelImage img;
  img.version = u16(data + 4);
  if (img.version < kModelImageOldestVersion || img.version > kModelImageVersion) return ImageStatus::kBadVersion;
  img.header_size = u16(data + 6);
  img.model_len = u32(data + 8);
  img.model_crc32 = u32(data + 12);
  img.arena_size = u32(data + 16);
  img.num_classes = u16(data + 20);
  img.num_keywords = u16(data + 22);
  const uint16_t flags = u16(data + 24);
  const uint16_t labels_len = u16(data + 26);
  img.sigmoid_output = (flags & 1u) != 0;
  img.threshold = f32(data + 28);
  img.average_window = u16(data + 32);
  const uint8_t frontend = img.version >= 2 ? data[34] : 0;
  img.stride = img.version >= 2 ? data[35] : 1;
  img.refractory_ms = u32(data + 36);
  img.hop_ms = u32(data + 40);
  img.input_scale = f32(data + 44);
  img.input_zero_point = i32(data + 48);
  img.output_scale = f32(data + 52);
  img.output_zero_point = i32(data + 56);

  const uint32_t table = (kModelImageFixedSize + labels_len + 3u) / 4u * 4u;  // v2: the per-keyword table
  const uint32_t needed = img.version >= 2 ? table + 8u * img.num_keywords : kModelImageFixedSize + labels_len;
  if (img.header_size < needed || img.header_size % 16 != 0) return ImageStatus::kBadHeader;
  if (len < img.header_size) return ImageStatus::kTooSmall;
  uint32_t header_crc = crc32_update(0, data, kHeaderCrcOffset);
  static const uint8_t kZero[4] = {0, 0, 0, 0};
  header_crc = crc32_update(header_crc, kZero, 4);
  header_crc = crc32_update(header_crc, data + kModelImageFixedSize, img.header_size - kModelImageFixedSize);
  if (header_crc != u32(data + kHeaderCrcOffset)) return ImageStatus::kBadHeaderCrc;

  if (img.num_classes < 1 || img.num_classes > kModelImageMaxClasses || img.num_keywords < 1 ||
      img.num_keywords > img.num_classes || img.model_len == 0 || img.arena_size == 0 ||
      img.refractory_ms > kModelImageMaxRefractoryMs || frontend > 1) {
    return ImageStatus::kBadHeader;
  }
  img.frontend = static_cast<Frontend>(frontend);
  if (img.frontend == Frontend::kMicro) {
    if (img.stride < 1 || img.stride > kModelImageMaxStride || img.hop_ms != 10u * img.stride) {
      return ImageStatus::kBadHeader;
    }
  } else if (img.stride != 1 || img.hop_ms < 10 || img.hop_ms > 1000) {
    return ImageStatus::kBadHeader;
  }
  for (int k = 0; k < img.num_keywords; ++k) {
    const uint8_t* entry = data + table + 8 * k;
    img.thresholds[k] = img.version >= 2 ? f32(entry) : img.threshold;
    img.average_windows[k] = img.version >= 2 ? u16(entry + 4) : img.average_window;
    // NaN fails both comparisons, so a damaged threshold is refused too
    if (img.average_windows[k] < 1 || img.average_windows[k] > kModelImageMaxWindow ||
        !(img.thresholds[k] > 0.0f && img.thresholds[k] <= 1.0f)) {
      return ImageStatus::kBadHeader;
    }
  }
  // Labels: exactly num_classes non-empty NUL-terminated strings filling labels_len bytes.
  const char* p = reinterpret_cast<const char*>(data + kModelImageFixedSize);
  const char* end = p + labels_len;
  for (int c = 0; c < img.num_classes; ++c) {
    const char* nul = static_cast<const char*>(std::memchr(p, '\0', end - p));
    if (nul == nullptr || nul == p || nul - p > kModelImageMaxLabel) return ImageStatus::kBadHeader;
    img.labels[c] = p;
    p = nul + 1;
  }
  if (p != end) return ImageStatus::kBadHeader;

  if (len - img.header_size < img.model_len) return ImageStatus::kTruncated;
  img.model = data + img.header_size;
  if (crc32(img.model, img.model_len) != img.model_crc32) return ImageStatus::kBadModelCrc;
  *out = img;
  return ImageStatus::kOk;
}

}  // namespace kwt
