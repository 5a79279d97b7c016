#pragma once
#define ESP_IDF_VERSION_MAJOR 4
