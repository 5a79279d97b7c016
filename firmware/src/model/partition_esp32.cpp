#include "partition_esp32.h"

#include <Arduino.h>
#include <esp_idf_version.h>
#include <esp_partition.h>

namespace kwt {

namespace {
constexpr esp_partition_subtype_t kModelSubtype = static_cast<esp_partition_subtype_t>(0x40);
}

const uint8_t* map_model_partition(size_t* len) {
  *len = 0;
  const esp_partition_t* part = esp_partition_find_first(ESP_PARTITION_TYPE_DATA, kModelSubtype, "model");
  if (part == nullptr) {
    Serial.println("kwtui: no `model` partition in the partition table (flash firmware/partitions.csv once)");
    return nullptr;
  }
  const void* mapped = nullptr;
#if ESP_IDF_VERSION_MAJOR >= 5
  esp_partition_mmap_handle_t handle;
  const esp_err_t err = esp_partition_mmap(part, 0, part->size, ESP_PARTITION_MMAP_DATA, &mapped, &handle);
#else
  spi_flash_mmap_handle_t handle;
  const esp_err_t err = esp_partition_mmap(part, 0, part->size, SPI_FLASH_MMAP_DATA, &mapped, &handle);
#endif
  if (err != ESP_OK) {
    Serial.printf("kwtui: cannot map the model partition (%s)\n", esp_err_to_name(err));
    return nullptr;
  }
  *len = part->size;
  return static_cast<const uint8_t*>(mapped);
}

}  // namespace kwt
