// Which model runs: the model partition when it holds a valid image, else the compiled-in model.cc.
// Host-buildable (the partition is just bytes here; src/model/partition_esp32.cpp maps the real one).
#pragma once

#include <cstddef>
#include <cstdint>

#include "../postprocess/postprocess.h"
#include "model_image.h"

namespace kwt {

enum class ModelSource { kNone, kPartition, kCompiledIn };

const char* model_source_name(ModelSource source);

struct ModelInfo {
  ModelSource source = ModelSource::kNone;
  ImageStatus partition_status = ImageStatus::kTooSmall;  // why the partition was not used, if it was not
  const uint8_t* model = nullptr;
  uint32_t model_len = 0;
  uint32_t arena_size = 0;
  int num_classes = 0;
  bool sigmoid_output = false;
  const char* labels[kMaxClasses] = {};
  PostProcessConfig post;  // num_classes, num_keywords, a window and threshold per keyword, refractory
  uint32_t hop_ms = 100;
  Frontend frontend = Frontend::kSpectrogram;  // which features the model takes
  int stride = 1;  // feature slices per inference (micro frontend); 1 = the whole window at every hop
};

// `partition` may be null (no model partition in the table). Returns false when neither source is usable
// (the compiled-in model is the placeholder and the partition is empty or corrupted).
bool select_model(const uint8_t* partition, size_t partition_len, ModelInfo* out);

// The compiled-in model alone: what runs when the partition's model passed its image checks but cannot run (a
// damaged model the interpreter's checks refuse). False when only the placeholder is compiled in.
bool select_compiled_in(ModelInfo* out);

}  // namespace kwt
