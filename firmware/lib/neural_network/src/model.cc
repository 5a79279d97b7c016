// PLACEHOLDER - replaced by `kwtui convert PRESET`. Empty model: the firmware uses the model partition.
#include "model.h"

alignas(16) const unsigned char g_model[16] = {0};
const unsigned int g_model_len = 0;

const char* const kClassLabels[kNumClasses] = {"placeholder"};
