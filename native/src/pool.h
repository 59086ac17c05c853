// The calling thread plus `threads − 1` worker threads. A job is `tasks` independent tasks that every thread claims
// in turn; the caller works too and returns when all are done. The split of a job into tasks never depends on the
// thread count, so 1 and N threads give the same bits. A thread that makes no progress for `hangMs` fails the job.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace lora {

using Task = std::function<void(int task, int thread)>;

class Pool {
 public:
  // simulateHang: test seam, the worker with this index (1-based) blocks for good on its first task.
  Pool(int threads, int hangMs, int simulateHang);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  int threads() const { return (int)workers_.size() + 1; }
  bool broken() const { return broken_; }

  // Runs task(i, thread) for i in [0, tasks); false, with `why`, when a thread hung. `parallel` false runs them all here.
  bool run(int tasks, const Task& task, std::string& why, bool parallel = true);

  // Per-thread scratch of at least `floats` floats, 64-byte aligned (grown only by its own thread, during a task).
  float* scratch(int thread, size_t floats, int slot = 0);

  // Tell the workers to leave and wait for them (a hung one is left behind, detached: it ends with the process).
  void close();

 private:
  void workerLoop(int index);
  void claimAndRun(uint64_t generation, int thread);

  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::mutex doneMu_;
  std::condition_variable doneCv_;
  uint64_t generation_ = 0;
  bool quit_ = false;
  const Task* task_ = nullptr;
  int tasks_ = 0;
  // see claimWord in pool.cc
  std::atomic<uint64_t> claim_{0};
  std::atomic<int> done_{0};
  std::atomic<int> active_{0};
  bool broken_ = false;
  int hangMs_;
  int simulateHang_;
  struct Scratch {
    float* data = nullptr;
    size_t floats = 0;
  };
  std::vector<std::vector<Scratch>> scratch_;
};

}  // namespace lora
