#pragma once
#include <cstddef>
#include <cstdint>
#include "../esp_err.h"
#include "gpio.h"
#include "../freertos/FreeRTOS.h"
typedef int i2s_port_t;
typedef enum { I2S_ROLE_MASTER, I2S_ROLE_SLAVE } i2s_role_t;
typedef enum { I2S_DATA_BIT_WIDTH_16BIT = 16, I2S_DATA_BIT_WIDTH_32BIT = 32 } i2s_data_bit_width_t;
typedef enum { I2S_SLOT_MODE_MONO = 1, I2S_SLOT_MODE_STEREO = 2 } i2s_slot_mode_t;
typedef enum { I2S_STD_SLOT_LEFT = 1, I2S_STD_SLOT_RIGHT = 2, I2S_STD_SLOT_BOTH = 3 } i2s_std_slot_mask_t;
typedef struct i2s_channel_obj_t* i2s_chan_handle_t;
typedef struct { i2s_port_t id; i2s_role_t role; uint32_t dma_desc_num; uint32_t dma_frame_num; } i2s_chan_config_t;
typedef struct { uint32_t sample_rate_hz; } i2s_std_clk_config_t;
typedef struct { i2s_data_bit_width_t data_bit_width; i2s_slot_mode_t slot_mode; i2s_std_slot_mask_t slot_mask; } i2s_std_slot_config_t;
typedef struct { gpio_num_t mclk, bclk, ws, dout, din; } i2s_std_gpio_config_t;
typedef struct { i2s_std_clk_config_t clk_cfg; i2s_std_slot_config_t slot_cfg; i2s_std_gpio_config_t gpio_cfg; } i2s_std_config_t;
#define I2S_GPIO_UNUSED GPIO_NUM_NC
#define I2S_CHANNEL_DEFAULT_CONFIG(num, role) {num, role, 6, 240}
#define I2S_STD_CLK_DEFAULT_CONFIG(rate) {rate}
#define I2S_STD_PHILIPS_SLOT_DEFAULT_CONFIG(bits, mode) {bits, mode, I2S_STD_SLOT_LEFT}
esp_err_t i2s_new_channel(const i2s_chan_config_t*, i2s_chan_handle_t*, i2s_chan_handle_t*);
esp_err_t i2s_channel_init_std_mode(i2s_chan_handle_t, const i2s_std_config_t*);
esp_err_t i2s_channel_enable(i2s_chan_handle_t);
esp_err_t i2s_channel_read(i2s_chan_handle_t, void*, size_t, size_t*, uint32_t);
