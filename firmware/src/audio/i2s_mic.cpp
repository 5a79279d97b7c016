#include "i2s_mic.h"

#include <driver/i2s_std.h>
#include <freertos/FreeRTOS.h>
#include <freertos/stream_buffer.h>
#include <freertos/task.h>

#include <cstdio>

#include "../config.h"

namespace kwt {

namespace {

i2s_chan_handle_t g_rx = nullptr;
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
    if (i2s_channel_read(g_rx, raw, sizeof raw, &bytes, portMAX_DELAY) != ESP_OK) continue;
    const size_t n = bytes / sizeof(int32_t);
    for (size_t i = 0; i < n; ++i) pcm[i] = to_int16(raw[i]);
    // Send whole samples only (a partial send could split one and misalign the stream); drop the rest.
    const size_t room = xStreamBufferSpacesAvailable(g_stream) / sizeof(int16_t);
    const size_t keep = n < room ? n : room;
    if (keep > 0) xStreamBufferSend(g_stream, pcm, keep * sizeof(int16_t), 0);
    g_dropped += n - keep;
  }
}

bool fail(const char* what, esp_err_t err) {
  std::printf("kwtui: error: %s failed (%s; check the pins in src/config.h)\n", what, esp_err_to_name(err));
  return false;
}

}  // namespace

bool mic_begin() {
  i2s_chan_config_t channel = I2S_CHANNEL_DEFAULT_CONFIG(static_cast<i2s_port_t>(kwt_config::kI2sPort),
                                                         I2S_ROLE_MASTER);
  channel.dma_desc_num = kwt_config::kDmaBufferCount;
  channel.dma_frame_num = kwt_config::kDmaBufferSamples;
  esp_err_t err = i2s_new_channel(&channel, nullptr, &g_rx);
  if (err != ESP_OK) return fail("I2S channel", err);

  // INMP441: Philips (I2S) format, 24 bits left-aligned in 32-bit slots, one microphone on the L or R slot.
  i2s_std_config_t config = {};
  config.clk_cfg = I2S_STD_CLK_DEFAULT_CONFIG(kwt_config::kSampleRate);
  config.slot_cfg = I2S_STD_PHILIPS_SLOT_DEFAULT_CONFIG(I2S_DATA_BIT_WIDTH_32BIT, I2S_SLOT_MODE_MONO);
  config.slot_cfg.slot_mask = kwt_config::kMicLeftChannel ? I2S_STD_SLOT_LEFT : I2S_STD_SLOT_RIGHT;
  config.gpio_cfg.mclk = I2S_GPIO_UNUSED;
  config.gpio_cfg.bclk = static_cast<gpio_num_t>(kwt_config::kI2sSckPin);
  config.gpio_cfg.ws = static_cast<gpio_num_t>(kwt_config::kI2sWsPin);
  config.gpio_cfg.dout = I2S_GPIO_UNUSED;
  config.gpio_cfg.din = static_cast<gpio_num_t>(kwt_config::kI2sSdPin);
  err = i2s_channel_init_std_mode(g_rx, &config);
  if (err != ESP_OK) return fail("I2S standard mode", err);
  err = i2s_channel_enable(g_rx);
  if (err != ESP_OK) return fail("I2S enable", err);

  const size_t queue_bytes = kwt_config::kSampleRate * kwt_config::kAudioQueueMs / 1000 * sizeof(int16_t);
  g_stream = xStreamBufferCreate(queue_bytes, sizeof(int16_t));
  if (g_stream == nullptr) {
    std::printf("kwtui: error: no memory for the audio queue\n");
    return false;
  }
  // Core 0, above the main task's priority (1), so capture never waits for inference.
  return xTaskCreatePinnedToCore(capture_task, "i2s_capture", 4096, nullptr, 5, nullptr, 0) == pdPASS;
}

size_t mic_read(int16_t* out, size_t max, uint32_t wait_ms) {
  if (g_stream == nullptr) return 0;
  return xStreamBufferReceive(g_stream, out, max * sizeof(int16_t), pdMS_TO_TICKS(wait_ms)) / sizeof(int16_t);
}

uint32_t mic_dropped_samples() { return g_dropped; }

}  // namespace kwt
