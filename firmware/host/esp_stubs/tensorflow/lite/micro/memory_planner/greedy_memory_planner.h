#pragma once
namespace tflite {
class MicroMemoryPlanner {
 public:
  virtual ~MicroMemoryPlanner();
};
class GreedyMemoryPlanner : public MicroMemoryPlanner {
 public:
  GreedyMemoryPlanner();
  ~GreedyMemoryPlanner() override;
};
}  // namespace tflite
