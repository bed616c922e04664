// An in-memory cache of deserialised evaluation keys (design.md §5): expanding a client's keys
// (masks regenerated from seeds, the bootstrapping key moved to the Fourier domain) costs far more
// than a computation on a few rows, so the server keeps the expanded keys of the clients it served
// last, under a byte budget, and evicts the least recently used first. An entry larger than the
// whole budget is not cached.
//
// Thread safety: thread-safe. Entries are shared, immutable Server::Keys.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "blindml/deploy/deploy.h"

namespace blindml::serve {

class KeyCache {
 public:
  using Keys = std::shared_ptr<const deploy::Server::Keys>;

  explicit KeyCache(uint64_t budget_bytes) : budget_(budget_bytes) {}

  // The memory an entry costs: the expanded keys' size (a small constant for a leveled model).
  static uint64_t entry_bytes(const deploy::Server::Keys& keys);

  // Null when absent; a hit makes the entry the most recently used.
  Keys get(std::string_view uid);
  void put(std::string_view uid, Keys keys);
  void erase(std::string_view uid);

  struct Stats {
    uint64_t entries = 0;
    uint64_t bytes = 0;
    uint64_t budget = 0;
    uint64_t hits = 0;
    uint64_t misses = 0;
    uint64_t evictions = 0;
  };
  Stats stats() const;

 private:
  struct Entry {
    std::string uid;
    Keys keys;
    uint64_t bytes = 0;
  };
  void evict_locked();

  const uint64_t budget_;
  mutable std::mutex mu_;
  std::list<Entry> lru_;  // front: most recently used
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
  uint64_t bytes_ = 0;
  uint64_t hits_ = 0;
  uint64_t misses_ = 0;
  uint64_t evictions_ = 0;
};

}  // namespace blindml::serve
