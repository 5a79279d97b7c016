// model_image_host IMAGE: parse a model partition image with the firmware's parser; print every field
// as key=value lines and exit 0, or print "status=<reason>" and exit 1. Either way the last lines say which
// model the firmware would run (select_model: partition, else the compiled-in model.cc, else none).
#include <cstdio>
#include <vector>

#include "model/model_image.h"
#include "model/model_source.h"
#include "read_file.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: model_image_host IMAGE\n");
    return 2;
  }
  std::vector<uint8_t> data;
  if (!kwt_host::read_file(argv[1], &data)) return 2;
  kwt::ModelImage img;
  const kwt::ImageStatus status = kwt::parse_model_image(data.data(), data.size(), &img);
  std::printf("status=%s\n", kwt::image_status_name(status));
  kwt::ModelInfo chosen;
  const bool usable = kwt::select_model(data.data(), data.size(), &chosen);
  std::printf("selected=%s\nselected_usable=%d\nselected_classes=%d\nselected_arena=%lu\n",
              kwt::model_source_name(chosen.source), usable ? 1 : 0, chosen.num_classes,
              static_cast<unsigned long>(chosen.arena_size));
  for (int c = 0; c < chosen.num_classes; ++c) std::printf("selected_label%d=%s\n", c, chosen.labels[c]);
  if (status != kwt::ImageStatus::kOk) return 1;
  std::printf("version=%u\nheader_size=%u\nmodel_len=%lu\nmodel_crc32=%lu\narena_size=%lu\n", img.version,
              img.header_size, static_cast<unsigned long>(img.model_len),
              static_cast<unsigned long>(img.model_crc32), static_cast<unsigned long>(img.arena_size));
  std::printf("num_classes=%u\nnum_keywords=%u\nsigmoid_output=%d\nthreshold=%.9g\naverage_window=%u\n",
              img.num_classes, img.num_keywords, img.sigmoid_output ? 1 : 0, static_cast<double>(img.threshold),
              img.average_window);
  std::printf("refractory_ms=%lu\nhop_ms=%lu\n", static_cast<unsigned long>(img.refractory_ms),
              static_cast<unsigned long>(img.hop_ms));
  std::printf("frontend=%d\nstride=%u\n", static_cast<int>(img.frontend), img.stride);
  for (int k = 0; k < img.num_keywords; ++k) {
    std::printf("keyword%d_threshold=%.9g\nkeyword%d_average_window=%u\n", k, static_cast<double>(img.thresholds[k]),
                k, img.average_windows[k]);
  }
  std::printf("input_scale=%.9g\ninput_zero_point=%ld\noutput_scale=%.9g\noutput_zero_point=%ld\n",
              static_cast<double>(img.input_scale), static_cast<long>(img.input_zero_point),
              static_cast<double>(img.output_scale), static_cast<long>(img.output_zero_point));
  for (int c = 0; c < img.num_classes; ++c) std::printf("label%d=%s\n", c, img.labels[c]);
  std::printf("model_offset=%ld\n", static_cast<long>(img.model - data.data()));
  // A CRC of what the parser points at, so the test knows the model bytes are the right ones.
  std::printf("model_bytes_crc32=%lu\n", static_cast<unsigned long>(kwt::crc32(img.model, img.model_len)));
  return 0;
}
