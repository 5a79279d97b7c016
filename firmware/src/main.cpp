// kwtui keyword spotter, two kinds of model (the model partition image says which):
// - streaming (the default): INMP441 -> TFLM's micro frontend (a 40-value slice every 10 ms) -> the streaming model
//   every `stride` slices (30 ms; its state lives in the arena) -> post-processing per keyword;
// - legacy whole-window: INMP441 -> ring buffer -> the spectrogram of the last second (docs/feature.md) every hop
//   -> TFLM -> post-processing.
// Then one serial line per detection (`DETECT label=<label> score=<0.000> t_ms=<n>`) and the LED hook.
//
// Hardware-independent parts (features, post-processing, model image, model choice) live in features/,
// postprocess/ and model/ and are built and tested on the host (firmware/host, tests/firmware).
#include <cstdio>
#include <new>

#include "app/detection_hook.h"
#include "app/inference.h"
#include "audio/i2s_mic.h"
#include "audio/ring_buffer.h"
#include "config.h"
#include "features/micro_frontend.h"
#include "features/spectrogram.h"
#include "model/model_source.h"
#include "model/partition_esp32.h"
#include "platform/platform.h"
#include "postprocess/detection_line.h"
#include "postprocess/postprocess.h"

namespace {

kwt::RingBuffer<int16_t, kwt::kClipSamples> g_ring;  // the last second of audio, 32 KB
kwt::FeatureExtractor g_extractor;
float g_features[kwt::kFrames * kwt::kBins];          // 17 KB
float g_probabilities[kwt::kMaxClasses];
kwt::PostProcessor g_post;
kwt::ModelInfo g_model;
// Streaming models: the frontend (allocated only for them) and the slices of the stride being collected.
kwt::MicroFrontend* g_frontend = nullptr;
float g_slices[kwt::kModelImageMaxStride * kwt::MicroFrontend::kChannels];
int g_slices_held = 0;
uint32_t g_samples_since_inference = 0;
uint32_t g_hop_samples = 1600;
// Timing, printed every kTimingPeriodMs: can this chip keep the hop with this model?
constexpr uint32_t kTimingPeriodMs = 10000;
uint32_t g_max_inference_us = 0;
uint32_t g_max_hop_work_us = 0;  // features + inference + post-processing of one hop: what the hop must exceed
uint32_t g_hops_missed = 0;  // inferences that started a whole hop (or more) late
uint32_t g_inferences = 0;
uint32_t g_last_timing_ms = 0;

void print_timing(uint32_t now_ms) {
  const uint32_t hop_us = g_model.hop_ms * 1000u;
  // The shortest hop (a multiple of 10 ms, as evaluate.hop_ms) this chip keeps with this model, from the slowest hop.
  const uint32_t min_hop_ms = (g_max_hop_work_us / 1000u / 10u + 1u) * 10u;
  std::printf("TIMING t_ms=%lu inferences=%lu last_us=%lu max_us=%lu hop_work_max_us=%lu hop_us=%lu hops_missed=%lu "
              "dropped_samples=%lu keeps_hop=%s min_hop_ms=%lu\n",
              static_cast<unsigned long>(now_ms), static_cast<unsigned long>(g_inferences),
              static_cast<unsigned long>(kwt::inference_last_us()), static_cast<unsigned long>(g_max_inference_us),
              static_cast<unsigned long>(g_max_hop_work_us), static_cast<unsigned long>(hop_us),
              static_cast<unsigned long>(g_hops_missed), static_cast<unsigned long>(kwt::mic_dropped_samples()),
              g_max_hop_work_us < hop_us && g_hops_missed == 0 ? "yes" : "no", static_cast<unsigned long>(min_hop_ms));
}

void halt(const char* why) {
  std::printf("kwtui: stopped: %s\n", why);
  for (;;) {  // slow blink: nothing to run
    kwt::led_set(true);
    kwt::sleep_ms(200);
    kwt::led_set(false);
    kwt::sleep_ms(800);
  }
}

void print_model() {
  std::printf("kwtui: model from %s (%lu bytes, arena %lu, %d classes:", kwt::model_source_name(g_model.source),
                static_cast<unsigned long>(g_model.model_len), static_cast<unsigned long>(g_model.arena_size),
                g_model.num_classes);
  for (int c = 0; c < g_model.num_classes; ++c) std::printf(" %s", g_model.labels[c]);
  std::printf("; keywords %d:", g_model.post.num_keywords);
  for (int k = 0; k < g_model.post.num_keywords; ++k) {
    std::printf(" %s (window %d, threshold %.3f)", g_model.labels[k], g_model.post.average_window[k],
                static_cast<double>(g_model.post.threshold[k]));
  }
  std::printf("; refractory %lu ms, hop %lu ms)\n", static_cast<unsigned long>(g_model.post.refractory_ms),
              static_cast<unsigned long>(g_model.hop_ms));
}

void run_inference(uint32_t now_ms) {
  const bool ran = g_frontend != nullptr ? kwt::inference_run_stride(g_slices, g_probabilities)
                                         : g_extractor.compute(g_ring, g_features) &&
                                               kwt::inference_run(g_features, g_probabilities);
  if (!ran) {
    std::printf("kwtui: error: inference failed\n");
    return;
  }
  ++g_inferences;
  if (kwt::inference_last_us() > g_max_inference_us) g_max_inference_us = kwt::inference_last_us();
  if (kwt_config::kPrintScores) {
    std::printf("SCORES t_ms=%lu us=%lu", static_cast<unsigned long>(now_ms),
                  static_cast<unsigned long>(kwt::inference_last_us()));
    for (int c = 0; c < g_model.num_classes; ++c) std::printf(" %.3f", static_cast<double>(g_probabilities[c]));
    std::printf("\n");
  }
  const kwt::Detection hit = g_post.update(g_probabilities, now_ms);
  if (hit.detected) {
    char line[96];
    kwt::format_detection(line, sizeof line, g_model.labels[hit.class_index], hit.score, hit.time_ms);
    std::printf("%s\n", line);
    kwt_on_detection(hit.class_index, g_model.labels[hit.class_index], hit.score);
  }
}

// Streaming models: every 10 ms slice of the frontend joins the stride; a full stride is one inference (30 ms
// of audio for stride 3), so the model runs exactly as often as the audio allows, never on a stale window.
void feed_frontend(const int16_t* samples, size_t n) {
  const size_t channels = kwt::MicroFrontend::kChannels;
  size_t at = 0;
  while (at < n) {
    size_t consumed = 0;
    const bool slice = g_frontend->process(samples + at, n - at, g_slices + g_slices_held * channels, &consumed);
    at += consumed;
    if (slice && ++g_slices_held == g_model.stride) {
      g_slices_held = 0;
      const uint32_t start_us = kwt::now_us();
      run_inference(kwt::now_ms());
      const uint32_t work_us = kwt::now_us() - start_us;
      if (work_us > g_max_hop_work_us) g_max_hop_work_us = work_us;
    }
    if (consumed == 0) break;  // cannot happen with n > at; guards against a frontend that stops consuming
  }
}

void setup();
void loop();

}  // namespace

// ESP-IDF's entry point, on the main task (CONFIG_ESP_MAIN_TASK_STACK_SIZE in sdkconfig.defaults). loop() waits in
// mic_read for audio, so the task yields between hops.
extern "C" void app_main() {
  setup();
  for (;;) loop();
}

namespace {

void setup() {
  // Lines go to the console UART (sdkconfig.defaults: UART0 at 115200); unbuffered, so no line waits.
  std::setvbuf(stdout, nullptr, _IONBF, 0);
  kwt::led_begin();
  std::printf("kwtui: keyword spotter starting\n");

  size_t partition_len = 0;
  const uint8_t* partition = kwt::map_model_partition(&partition_len);
  if (!kwt::select_model(partition, partition_len, &g_model)) {
    std::printf("kwtui: model partition: %s\n", kwt::image_status_name(g_model.partition_status));
    halt("no model: run `kwtui flash PRESET` (partition) or `kwtui convert PRESET` and rebuild (compiled-in)");
  }
  if (g_model.source != kwt::ModelSource::kPartition && partition != nullptr) {
    std::printf("kwtui: model partition not used (%s)\n", kwt::image_status_name(g_model.partition_status));
  }
  print_model();
  if (!g_post.configure(g_model.post)) halt("post-processing parameters out of range");
  if (!kwt::inference_begin(g_model)) {
    // a partition model whose image checks passed but which cannot run (damaged bytes, refused above in one line):
    // the compiled-in model, when there is one, rather than no detector at all
    if (g_model.source != kwt::ModelSource::kPartition || !kwt::select_compiled_in(&g_model)) {
      halt("the model cannot run (see the error above)");
    }
    std::printf("kwtui: model partition not used (its model cannot run); falling back to the compiled-in model\n");
    print_model();
    if (!g_post.configure(g_model.post)) halt("post-processing parameters out of range");
    if (!kwt::inference_begin(g_model)) halt("the compiled-in model cannot run either (see the error above)");
  }
  const bool streaming = g_model.frontend == kwt::Frontend::kMicro;
  if (streaming != kwt::inference_is_streaming() || (streaming && kwt::inference_stride() != g_model.stride)) {
    halt("the model's input does not match the features its image names (re-run `kwtui convert` and `kwtui flash`)");
  }
  if (streaming) {
    g_frontend = new (std::nothrow) kwt::MicroFrontend();
    if (g_frontend == nullptr || !g_frontend->ok()) halt("no memory for the micro frontend");
  }
  g_hop_samples = g_model.hop_ms * kwt::kSampleRate / 1000;
  if (!kwt::mic_begin()) halt("microphone capture did not start");
  std::printf("kwtui: listening (arena uses %lu of %lu bytes)\n", static_cast<unsigned long>(kwt::inference_arena_used()),
              static_cast<unsigned long>(g_model.arena_size));
}

void loop() {
  static int16_t block[512];
  // Drain the capture queue into the ring buffer (waits up to 20 ms for audio).
  size_t n;
  while ((n = kwt::mic_read(block, sizeof block / sizeof block[0], 20)) > 0) {
    if (g_frontend != nullptr) {
      feed_frontend(block, n);
    } else {
      g_ring.push(block, static_cast<int>(n));
      g_samples_since_inference += n;
    }
    if (n < sizeof block / sizeof block[0]) break;
  }
  const uint32_t now = kwt::now_ms();
  kwt::led_update(now);
  if (g_frontend == nullptr && g_ring.full() && g_samples_since_inference >= g_hop_samples) {
    if (g_samples_since_inference >= 2 * g_hop_samples) g_hops_missed += g_samples_since_inference / g_hop_samples - 1;
    g_samples_since_inference = 0;
    const uint32_t start_us = kwt::now_us();
    run_inference(now);
    const uint32_t work_us = kwt::now_us() - start_us;
    if (work_us > g_max_hop_work_us) g_max_hop_work_us = work_us;
  }
  if (now - g_last_timing_ms >= kTimingPeriodMs) {
    g_last_timing_ms = now;
    print_timing(now);
  }
}

}  // namespace
