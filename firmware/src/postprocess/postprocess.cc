#include "postprocess.h"

namespace kwt {

bool postprocess_config_valid(const PostProcessConfig& config) {
  if (config.num_classes < 1 || config.num_classes > kMaxClasses || config.num_keywords < 1 ||
      config.num_keywords > config.num_classes) {
    return false;
  }
  for (int k = 0; k < config.num_keywords; ++k) {
    // NaN fails both comparisons, so a damaged threshold is refused too
    if (config.average_window[k] < 1 || config.average_window[k] > kMaxAverageWindow ||
        !(config.threshold[k] > 0.0f && config.threshold[k] <= 1.0f)) {
      return false;
    }
  }
  return true;
}

bool PostProcessor::configure(const PostProcessConfig& config) {
  if (!postprocess_config_valid(config)) return false;
  config_ = config;
  rows_ = 1;
  for (int k = 0; k < config.num_keywords; ++k) {
    if (config.average_window[k] > rows_) rows_ = config.average_window[k];
  }
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
  for (int c = 0; c < config_.num_classes; ++c) history_[history_next_][c] = probabilities[c];
  history_next_ = (history_next_ + 1) % rows_;
  if (history_count_ < rows_) ++history_count_;

  Detection result;
  // Unsigned subtraction keeps the refractory check right across millis() wrap-around.
  if (has_detection_ && time_ms - last_detection_ms_ < config_.refractory_ms) return result;

  int best = -1;
  float best_mean = 0.0f;
  for (int k = 0; k < config_.num_keywords; ++k) {
    const int count = history_count_ < config_.average_window[k] ? history_count_ : config_.average_window[k];
    // This keyword's last `count` rows, summed oldest first in float32 and then divided: numpy's order.
    const int oldest = (history_next_ - count + rows_) % rows_;
    float sum = 0.0f;
    for (int r = 0; r < count; ++r) sum += history_[(oldest + r) % rows_][k];
    const float mean = sum / static_cast<float>(count);
    if (mean >= config_.threshold[k] && (best < 0 || mean > best_mean)) {  // first maximum wins, like Python
      best = k;
      best_mean = mean;
    }
  }
  if (best >= 0) {
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
