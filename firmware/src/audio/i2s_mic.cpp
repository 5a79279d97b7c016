#include "i2s_mic.h"

#include <Arduino.h>
#include <driver/i2s.h>
#include <freertos/FreeRTOS.h>
#include <freertos/stream_buffer.h>
#include <freertos/task.h>

#include "../config.h"

namespace kwt {

namespace {

StreamBufferHandle_t g_stream = nullptr;
volatile uint32_t g_dropped = 0;

inline int16_t to_int16(int32_t raw) {
  int32_t v = raw >> kwt_config::kMicShift;
  if (v > INT16_MAX) v = INT16_MAX;
  if (v < INT16_MIN) v = INT16_MIN;
  return static_cast<int16_t>(v);
}

void capture_task(void*) {
  static int32_t raw[kwt_config::kDmaBufferSamples];
  static int16_t pcm[kwt_config::kDmaBufferSamples];
  for (;;) {
    size_t bytes = 0;
    if (i2s_read(static_cast<i2s_port_t>(kwt_config::kI2sPort), raw, sizeof raw, &bytes, portMAX_DELAY) != ESP_OK) {
      continue;
    }
    const size_t n = bytes / sizeof(int32_t);
    for (size_t i = 0; i < n; ++i) pcm[i] = to_int16(raw[i]);
    // Send whole samples only (a partial send could split one and misalign the stream); drop the rest.
    const size_t room = xStreamBufferSpacesAvailable(g_stream) / sizeof(int16_t);
    const size_t keep = n < room ? n : room;
    if (keep > 0) xStreamBufferSend(g_stream, pcm, keep * sizeof(int16_t), 0);
    g_dropped += n - keep;
  }
}

}  // namespace

bool mic_begin() {
  i2s_config_t config = {};
  config.mode = static_cast<i2s_mode_t>(I2S_MODE_MASTER | I2S_MODE_RX);
  config.sample_rate = kwt_config::kSampleRate;
  config.bits_per_sample = I2S_BITS_PER_SAMPLE_32BIT;
  config.channel_format = kwt_config::kMicLeftChannel ? I2S_CHANNEL_FMT_ONLY_LEFT : I2S_CHANNEL_FMT_ONLY_RIGHT;
  config.communication_format = I2S_COMM_FORMAT_STAND_I2S;
  config.intr_alloc_flags = ESP_INTR_FLAG_LEVEL1;
  config.dma_buf_count = kwt_config::kDmaBufferCount;
  config.dma_buf_len = kwt_config::kDmaBufferSamples;
  config.use_apll = false;

  i2s_pin_config_t pins = {};
  pins.mck_io_num = I2S_PIN_NO_CHANGE;
  pins.bck_io_num = kwt_config::kI2sSckPin;
  pins.ws_io_num = kwt_config::kI2sWsPin;
  pins.data_out_num = I2S_PIN_NO_CHANGE;
  pins.data_in_num = kwt_config::kI2sSdPin;

  const i2s_port_t port = static_cast<i2s_port_t>(kwt_config::kI2sPort);
  if (i2s_driver_install(port, &config, 0, nullptr) != ESP_OK || i2s_set_pin(port, &pins) != ESP_OK) {
    Serial.println("kwtui: error: I2S driver install failed (check the pins in src/config.h)");
    return false;
  }
  const size_t queue_bytes = kwt_config::kSampleRate * kwt_config::kAudioQueueMs / 1000 * sizeof(int16_t);
  g_stream = xStreamBufferCreate(queue_bytes, sizeof(int16_t));
  if (g_stream == nullptr) {
    Serial.println("kwtui: error: no memory for the audio queue");
    return false;
  }
  // Core 0, above the Arduino loop's priority, so capture never waits for inference.
  return xTaskCreatePinnedToCore(capture_task, "i2s_capture", 4096, nullptr, 5, nullptr, 0) == pdPASS;
}

size_t mic_read(int16_t* out, size_t max, uint32_t wait_ms) {
  if (g_stream == nullptr) return 0;
  return xStreamBufferReceive(g_stream, out, max * sizeof(int16_t), pdMS_TO_TICKS(wait_ms)) / sizeof(int16_t);
}

uint32_t mic_dropped_samples() { return g_dropped; }

}  // namespace kwt
