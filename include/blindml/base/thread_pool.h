// A fixed pool of worker threads for data-parallel loops (batched PBS, key generation).
// parallel_for hands out indices dynamically; the calling thread works too, so a pool of size 1
// runs everything on the caller.
//
// Thread safety: parallel_for may be called from one thread at a time per pool.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <algorithm>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace blindml {

class ThreadPool {
 public:
  // threads == 0: one per hardware thread.
  explicit ThreadPool(size_t threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  size_t size() const { return workers_.size() + 1; }

  // Runs fn(index, worker) for index in [0, count); worker in [0, size()) identifies the thread,
  // for per-thread scratch memory. Returns when all are done.
  void parallel_for(size_t count, const std::function<void(size_t index, size_t worker)>& fn);

 private:
  void worker_loop(size_t worker);
  void run_share(size_t worker);

  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_start_;
  std::condition_variable cv_done_;
  const std::function<void(size_t, size_t)>* job_ = nullptr;
  size_t count_ = 0;
  size_t next_ = 0;
  size_t active_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
};

}  // namespace blindml
