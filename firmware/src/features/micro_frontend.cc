#include "features/micro_frontend.h"

#include "frontend_util.h"

namespace kwt {

namespace {

// pymicro-features 2.0.2 (src/micro_features.cpp, init_cfg), which sets the same values ESPHome's micro_wake_word
// uses and microWakeWord trains with. Every field is set here, as there: the library's defaults differ (25 ms
// window, 32 channels, PCAN off), so nothing is left to FrontendFillConfigWithDefaults.
FrontendConfig pymicro_features_config() {
  FrontendConfig config{};
  config.window.size_ms = 30;
  config.window.step_size_ms = 10;
  config.filterbank.num_channels = static_cast<int>(MicroFrontend::kChannels);
  config.filterbank.lower_band_limit = 125.0f;
  config.filterbank.upper_band_limit = 7500.0f;
  config.filterbank.output_scale_shift = 0;  // unused by the library; pymicro-features leaves it unset
  config.noise_reduction.smoothing_bits = 10;
  config.noise_reduction.even_smoothing = 0.025f;
  config.noise_reduction.odd_smoothing = 0.06f;
  config.noise_reduction.min_signal_remaining = 0.05f;
  config.pcan_gain_control.enable_pcan = 1;
  config.pcan_gain_control.strength = 0.95f;
  config.pcan_gain_control.offset = 80.0f;
  config.pcan_gain_control.gain_bits = 21;
  config.log_scale.enable_log = 1;
  config.log_scale.scale_shift = 6;
  return config;
}

}  // namespace

MicroFrontend::MicroFrontend() {
  const FrontendConfig config = pymicro_features_config();
  // Populate ends with FrontendReset; it returns 0 when an allocation fails (then the state is unusable).
  ok_ = FrontendPopulateState(&config, &state_, kSampleRate) == 1 && state_.window.size == kWindowSamples &&
        state_.window.step == kStepSamples && state_.filterbank.num_channels == static_cast<int>(kChannels);
}

MicroFrontend::~MicroFrontend() { FrontendFreeStateContents(&state_); }

// FrontendReset clears every piece of state that changes while processing (window history, FFT buffers,
// filterbank work, noise estimate; PCAN only reads the noise estimate): the result equals a fresh frontend,
// which is what pymicro-features' reset (free and populate again) gives, without touching the heap.
void MicroFrontend::reset() {
  if (ok_) FrontendReset(&state_);
}

bool MicroFrontend::process(const int16_t* samples, size_t n, float* out, size_t* consumed) {
  if (!ok_) {
    *consumed = n;  // nothing can be computed; taking the input keeps a caller's feed loop finite
    return false;
  }
  size_t read = 0;
  const FrontendOutput output = FrontendProcessSamples(&state_, samples, n, &read);
  *consumed = read;
  if (output.values == nullptr || output.size != kChannels) return false;
  for (size_t i = 0; i < kChannels; ++i) out[i] = static_cast<float>(output.values[i]) * kFeatureScale;
  return true;
}

}  // namespace kwt
