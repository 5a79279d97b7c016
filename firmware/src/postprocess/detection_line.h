// The one serial line the firmware prints per detection (parsed by kwtui/core/device/serial_monitor.py):
//   DETECT label=<label> score=<0.000> t_ms=<n>
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>

namespace kwt {

// Writes the line without a newline; returns the snprintf result.
inline int format_detection(char* buf, size_t size, const char* label, float score, uint32_t time_ms) {
  return std::snprintf(buf, size, "DETECT label=%s score=%.3f t_ms=%lu", label, static_cast<double>(score),
                       static_cast<unsigned long>(time_ms));
}

}  // namespace kwt
