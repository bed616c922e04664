#include "blindml/serve/key_cache.h"

#include "blindml/crypto/keys.h"

namespace blindml::serve {

uint64_t KeyCache::entry_bytes(const deploy::Server::Keys& keys) {
  constexpr uint64_t kOverhead = 256;  // the entry, its uid and the shared pointers
  if (!keys.keys) return kOverhead;
  return kOverhead + crypto::expanded_evaluation_keys_bytes(keys.keys->parameters());
}

KeyCache::Keys KeyCache::get(std::string_view uid) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = index_.find(std::string(uid));
  if (it == index_.end()) {
    ++misses_;
    return nullptr;
  }
  ++hits_;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->keys;
}

void KeyCache::put(std::string_view uid, Keys keys) {
  if (!keys) return;
  const uint64_t bytes = entry_bytes(*keys);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = index_.find(std::string(uid));
  if (it != index_.end()) {
    bytes_ -= it->second->bytes;
    lru_.erase(it->second);
    index_.erase(it);
  }
  if (bytes > budget_) return;
  lru_.push_front(Entry{std::string(uid), std::move(keys), bytes});
  index_.emplace(lru_.front().uid, lru_.begin());
  bytes_ += bytes;
  evict_locked();
}

void KeyCache::erase(std::string_view uid) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = index_.find(std::string(uid));
  if (it == index_.end()) return;
  bytes_ -= it->second->bytes;
  lru_.erase(it->second);
  index_.erase(it);
}

void KeyCache::evict_locked() {
  while (bytes_ > budget_ && !lru_.empty()) {
    bytes_ -= lru_.back().bytes;
    index_.erase(lru_.back().uid);
    lru_.pop_back();
    ++evictions_;
  }
}

KeyCache::Stats KeyCache::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return Stats{index_.size(), bytes_, budget_, hits_, misses_, evictions_};
}

}  // namespace blindml::serve
