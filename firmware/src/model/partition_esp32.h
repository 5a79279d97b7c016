// Memory-map the `model` data partition (ESP32 only). The mapping stays for the program's lifetime.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kwt {

// Returns the mapped bytes and their length, or nullptr when the table has no model partition or the
// mapping fails. Looks for type data / subtype 0x40, label "model".
const uint8_t* map_model_partition(size_t* len);

}  // namespace kwt
