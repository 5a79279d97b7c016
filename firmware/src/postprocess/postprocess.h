// Detection post-processing (host-buildable; mirrors kwtui/core/postprocess.py exactly).
// Each keyword has its own averaging window and threshold: keyword k is a candidate when the average of its last
// average_window[k] probabilities reaches threshold[k]; the candidate with the highest average is detected,
// unless a detection (of any keyword) happened less than `refractory_ms` before.
#pragma once

#include <cstdint>

namespace kwt {

constexpr int kMaxClasses = 32;
constexpr int kMaxAverageWindow = 16;

struct PostProcessConfig {
  int num_classes = 0;
  int num_keywords = 0;  // keywords are classes [0, num_keywords)
  int average_window[kMaxClasses] = {};  // per keyword, 1..kMaxAverageWindow
  float threshold[kMaxClasses] = {};     // per keyword, (0, 1]
  uint32_t refractory_ms = 1000;

  // The same window and threshold for every keyword (a legacy model, or one keyword).
  void set_all(int window, float value) {
    for (int k = 0; k < kMaxClasses; ++k) {
      average_window[k] = window;
      threshold[k] = value;
    }
  }
};

struct Detection {
  bool detected = false;
  int class_index = -1;
  float score = 0.0f;  // the averaged probability that crossed the threshold
  uint32_t time_ms = 0;
};

class PostProcessor {
 public:
  // Returns false (and keeps the previous configuration) when the configuration is out of range.
  bool configure(const PostProcessConfig& config);
  void reset();
  // Feed one inference's probabilities (num_classes values) taken at `time_ms` (millis(), may wrap).
  Detection update(const float* probabilities, uint32_t time_ms);
  const PostProcessConfig& config() const { return config_; }

 private:
  PostProcessConfig config_;
  int rows_ = 1;  // history rows kept: the longest keyword window
  float history_[kMaxAverageWindow][kMaxClasses] = {};
  int history_count_ = 0;  // rows held, <= rows_
  int history_next_ = 0;   // row to overwrite next
  bool has_detection_ = false;
  uint32_t last_detection_ms_ = 0;
};

// Whether a configuration is in range (what configure() accepts).
bool postprocess_config_valid(const PostProcessConfig& config);

}  // namespace kwt
