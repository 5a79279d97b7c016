#include "partition_esp32.h"

#include <esp_partition.h>

#include <cstdio>

namespace kwt {

namespace {
constexpr esp_partition_subtype_t kModelSubtype = static_cast<esp_partition_subtype_t>(0x40);
}

const uint8_t* map_model_partition(size_t* len) {
  *len = 0;
  const esp_partition_t* part = esp_partition_find_first(ESP_PARTITION_TYPE_DATA, kModelSubtype, "model");
  if (part == nullptr) {
    std::printf("kwtui: no `model` partition in the partition table (flash firmware/partitions.csv once)\n");
    return nullptr;
  }
  const void* mapped = nullptr;
  esp_partition_mmap_handle_t handle;
  const esp_err_t err = esp_partition_mmap(part, 0, part->size, ESP_PARTITION_MMAP_DATA, &mapped, &handle);
  if (err != ESP_OK) {
    std::printf("kwtui: cannot map the model partition (%s)\n", esp_err_to_name(err));
    return nullptr;
  }
  *len = part->size;
  return static_cast<const uint8_t*>(mapped);
}

}  // namespace kwt
