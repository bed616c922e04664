// The server's Prometheus metrics (docs/server.md, "GET /metrics"): request counts by route and
// status code, request latency histograms by route, computations, rows and PBS, rejections for a
// full queue. Gauges that live elsewhere (key store, cache, queue) are passed to render().
//
// Thread safety: thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "blindml/serve/key_cache.h"
#include "blindml/serve/key_store.h"

namespace blindml::serve::internal {

class Metrics {
 public:
  // Upper bounds of the latency buckets, seconds.
  static constexpr std::array<double, 14> kBuckets = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                      0.5,   1,     2.5,  5,     10,  30,  60};

  void record_request(const std::string& route, int status, double seconds);
  void record_compute(uint64_t rows, uint64_t pbs);
  void record_rejected();

  struct Gauges {
    bool store_ok = false;
    KeyStoreStats store;
    KeyCache::Stats cache;
    uint64_t queue_waiting = 0;
    uint64_t computing = 0;
    uint64_t body_bytes = 0;  // request bodies held in memory
    uint64_t body_budget = 0;
    uint64_t connections = 0;           // open now
    uint64_t connection_limit = 0;      // max_connections
    uint64_t refused_connections = 0;   // closed at once, beyond the overflow room (counter)
  };
  std::string render(const Gauges& gauges) const;

 private:
  struct Histogram {
    std::array<uint64_t, kBuckets.size()> counts{};
    uint64_t count = 0;
    double sum = 0;
  };
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  std::map<std::string, Histogram> latency_;
  uint64_t computations_ = 0;
  uint64_t rows_ = 0;
  uint64_t pbs_ = 0;
  uint64_t rejected_ = 0;
};

}  // namespace blindml::serve::internal
