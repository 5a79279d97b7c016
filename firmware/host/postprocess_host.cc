// postprocess_host [START_MS]: the firmware's PostProcessor over a score sequence, from stdin.
// Inference i happens at START_MS + i * hop_ms, in uint32 milliseconds like millis() (so it can wrap).
// Input lines: "num_classes num_keywords refractory_ms hop_ms", then "average_window threshold" for each keyword,
// then one line of num_classes labels, then one line of num_classes probabilities per inference.
// Output: one detection line per detection (the firmware's format), the score also with full precision:
//   DETECT label=<label> score=<0.000> t_ms=<n> index=<i> exact=<%.9g>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "postprocess/detection_line.h"
#include "postprocess/postprocess.h"

int main(int argc, char** argv) {
  const uint32_t start_ms = argc > 1 ? static_cast<uint32_t>(std::strtoul(argv[1], nullptr, 10)) : 0;
  kwt::PostProcessConfig config;
  unsigned long refractory = 0, hop = 0;
  if (std::scanf("%d %d %lu %lu", &config.num_classes, &config.num_keywords, &refractory, &hop) != 4 ||
      config.num_keywords < 1 || config.num_keywords > kwt::kMaxClasses) {
    std::fprintf(stderr, "bad config line\n");
    return 2;
  }
  for (int k = 0; k < config.num_keywords; ++k) {
    if (std::scanf("%d %f", &config.average_window[k], &config.threshold[k]) != 2) {
      std::fprintf(stderr, "bad keyword line\n");
      return 2;
    }
  }
  config.refractory_ms = static_cast<uint32_t>(refractory);
  std::vector<std::string> labels(config.num_classes);
  char word[64];
  for (auto& label : labels) {
    if (std::scanf("%63s", word) != 1) return 2;
    label = word;
  }
  kwt::PostProcessor post;
  if (!post.configure(config)) {
    std::fprintf(stderr, "configuration out of range\n");
    return 2;
  }
  std::vector<float> row(config.num_classes);
  char line[160];
  for (uint32_t i = 0;; ++i) {
    for (int c = 0; c < config.num_classes; ++c) {
      if (std::scanf("%f", &row[c]) != 1) return 0;
    }
    const uint32_t now = start_ms + static_cast<uint32_t>(i * hop);
    const kwt::Detection d = post.update(row.data(), now);
    if (d.detected) {
      kwt::format_detection(line, sizeof line, labels[d.class_index].c_str(), d.score, d.time_ms);
      std::printf("%s index=%d exact=%.9g\n", line, d.class_index, static_cast<double>(d.score));
    }
  }
}
