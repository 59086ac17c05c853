#include "pool.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>

namespace lora {

Pool::Pool(int threads, int hangMs, int simulateHang) : hangMs_(hangMs), simulateHang_(simulateHang) {
  if (threads < 1) threads = 1;
  scratch_.resize(threads);
  for (int i = 1; i < threads; i++) workers_.emplace_back([this, i] { workerLoop(i); });
}

Pool::~Pool() {
  close();
  for (auto& slots : scratch_)
    for (auto& s : slots) free(s.data);
}

void Pool::close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (quit_) return;
    quit_ = true;
  }
  wake_.notify_all();
  for (auto& w : workers_) {
    // a worker stuck in a task (a hang) never comes back: leave it to end with the process
    if (broken_)
      w.detach();
    else
      w.join();
  }
  workers_.clear();
}

float* Pool::scratch(int thread, size_t floats, int slot) {
  auto& slots = scratch_[thread];
  if ((int)slots.size() <= slot) slots.resize(slot + 1);
  Scratch& s = slots[slot];
  if (s.floats < floats) {
    free(s.data);
    size_t bytes = ((floats * sizeof(float) + 63) / 64) * 64 + 64;
    s.data = static_cast<float*>(aligned_alloc(64, bytes));
    s.floats = floats;
  }
  return s.data;
}

// The claim word: generation (28 bits) | task count (18) | next index (18). A late worker reads the count of the
// job it woke for from the same word it claims with, so it can never take a task of the next job.
static constexpr int kIndexBits = 18;
static constexpr uint64_t kIndexMask = (1u << kIndexBits) - 1;
static uint64_t claimWord(uint64_t generation, int tasks) {
  return ((generation & 0xfffffffu) << (2 * kIndexBits)) | ((uint64_t)tasks << kIndexBits);
}

void Pool::claimAndRun(uint64_t generation, int thread) {
  for (;;) {
    uint64_t cur = claim_.load(std::memory_order_acquire);
    if ((cur >> (2 * kIndexBits)) != (generation & 0xfffffffu)) return;
    int index = (int)(cur & kIndexMask);
    if (index >= (int)((cur >> kIndexBits) & kIndexMask)) return;
    if (!claim_.compare_exchange_weak(cur, cur + 1, std::memory_order_acq_rel)) continue;
    if (simulateHang_ > 0 && thread == simulateHang_) {
      // test seam: this thread stops answering, for good
      std::mutex never;
      std::unique_lock<std::mutex> lock(never);
      std::condition_variable().wait(lock, [] { return false; });
    }
    (*task_)(index, thread);
    if (done_.fetch_add(1, std::memory_order_acq_rel) + 1 == tasks_) {
      std::lock_guard<std::mutex> lock(doneMu_);
      doneCv_.notify_all();
    }
  }
}

void Pool::workerLoop(int index) {
  uint64_t seen = 0;
  for (;;) {
    uint64_t generation;
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, [&] { return quit_ || generation_ != seen; });
      if (quit_) return;
      generation = seen = generation_;
      active_.fetch_add(1);
    }
    claimAndRun(generation, index);
    active_.fetch_sub(1);
  }
}

bool Pool::run(int tasks, const Task& task, std::string& why, bool parallel) {
  if (broken_) {
    why = "the CPU kernels' thread pool failed earlier in this process";
    return false;
  }
  if (tasks <= 0) return true;
  if (tasks > (int)kIndexMask) {
    why = "a CPU kernel job of " + std::to_string(tasks) + " tasks (more than the pool takes)";
    return false;
  }
  if (!parallel || tasks == 1 || workers_.empty()) {
    for (int i = 0; i < tasks; i++) task(i, 0);
    return true;
  }
  uint64_t generation;
  {
    std::lock_guard<std::mutex> lock(mu_);
    generation = ++generation_;
    task_ = &task;
    tasks_ = tasks;
    done_.store(0);
    claim_.store(claimWord(generation, tasks), std::memory_order_release);
  }
  wake_.notify_all();
  claimAndRun(generation, 0);
  // wait for the tasks other threads took; fail if none finishes for hangMs
  int seen = done_.load(std::memory_order_acquire);
  auto since = std::chrono::steady_clock::now();
  std::unique_lock<std::mutex> lock(doneMu_);
  while (seen < tasks) {
    doneCv_.wait_for(lock, std::chrono::milliseconds(50));
    int now = done_.load(std::memory_order_acquire);
    if (now != seen) {
      seen = now;
      since = std::chrono::steady_clock::now();
    } else if (std::chrono::steady_clock::now() - since > std::chrono::milliseconds(hangMs_)) {
      broken_ = true;
      char seconds[32];
      snprintf(seconds, sizeof seconds, "%g", hangMs_ / 1000.0);
      why = std::string("a CPU kernel thread stopped answering: no task finished for ") + seconds + " s (" +
            std::to_string(seen) + " of " + std::to_string(tasks) + " done); the machine may be overloaded, or try --threads 1";
      return false;
    }
  }
  // tasks are all done; a worker still inside claimAndRun only finds the job empty
  return true;
}

}  // namespace lora
