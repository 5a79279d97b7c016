// Stand-in for ESPMicroSpeechFeatures' frontend.h (TFLM's audio frontend): only the state type that
// src/features/micro_frontend.h holds, so the stub compile sees main.cpp. The real header is checked by
// tests/firmware/test_micro_frontend_parity.py (host build) and test_idf_headers.py.
#pragma once

struct FrontendState {
  int stub;
};
