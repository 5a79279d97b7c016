// PLACEHOLDER - replaced by `kwtui convert PRESET`, which writes the real model.h/model.cc here.
// With this placeholder the firmware builds and runs only the model found in the `model` partition
// (write one with `kwtui flash PRESET`); g_model_len == 0 marks "no compiled-in model".
#pragma once
#include <cstdint>

extern const unsigned char g_model[];  // aligned(16)
extern const unsigned int g_model_len;
constexpr int kTensorArenaSize = 16;
constexpr int kNumClasses = 1;
extern const char* const kClassLabels[kNumClasses];  // defined in model.cc
constexpr int kNumKeywords = 1;  // keywords are classes [0, k)
constexpr bool kSigmoidOutput = false;
constexpr float kInputScale = 1.0f; constexpr int kInputZeroPoint = 0;
constexpr float kOutputScale = 1.0f; constexpr int kOutputZeroPoint = 0;
constexpr bool kMicroFrontend = false; constexpr int kFeatureStride = 1;
constexpr int kFeatureFrames = 99; constexpr int kFeatureBins = 43;
constexpr int kAverageWindow = 3; constexpr float kDetectionThreshold = 0.9f; constexpr int kRefractoryMs = 1000; constexpr int kHopMs = 100;
constexpr int kKeywordAverageWindows[kNumKeywords] = {3};
constexpr float kKeywordThresholds[kNumKeywords] = {0.9f};
constexpr bool kInt8Model = true;
