#include "postprocess.h"

namespace kwt {

bool PostProcessor::configure(const PostProcessConfig& config) {
  if (config.num_classes < 1 || config.num_classes > kMaxClasses || config.num_keywords < 1 ||
      config.num_keywords > config.num_classes || config.average_window < 1 ||
      config.average_window > kMaxAverageWindow) {
    return false;
  }
  config_ = config;
  reset();
  return true;
}

void PostProcessor::reset() {
  history_count_ = 0;
  history_next_ = 0;
  has_detection_ = false;
  last_detection_ms_ = 0;
}

Detection PostProcessor::update(const float* probabilities, uint32_t time_ms) {
  const int window = config_.average_window;
  for (int c = 0; c < config_.num_classes; ++c) history_[history_next_][c] = probabilities[c];
  history_next_ = (history_next_ + 1) % window;
  if (history_count_ < window) ++history_count_;

  Detection result;
  // Unsigned subtraction keeps the refractory check right across millis() wrap-around.
  if (has_detection_ && time_ms - last_detection_ms_ < config_.refractory_ms) return result;

  // Rows are summed oldest first in float32, then divided by the count: the same order as numpy's mean.
  const int oldest = (history_count_ < window) ? 0 : history_next_;
  int best = -1;
  float best_mean = 0.0f;
  for (int c = 0; c < config_.num_keywords; ++c) {
    float sum = 0.0f;
    for (int r = 0; r < history_count_; ++r) sum += history_[(oldest + r) % window][c];
    const float mean = sum / static_cast<float>(history_count_);
    if (best < 0 || mean > best_mean) {  // first maximum wins, like Python's max()
      best = c;
      best_mean = mean;
    }
  }
  if (best >= 0 && best_mean >= config_.threshold) {
    has_detection_ = true;
    last_detection_ms_ = time_ms;
    result.detected = true;
    result.class_index = best;
    result.score = best_mean;
    result.time_ms = time_ms;
  }
  return result;
}

}  // namespace kwt
