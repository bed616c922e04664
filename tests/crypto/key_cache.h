// Keys are expensive (seconds for 7-8 bits): a test binary generates them once per parameter set
// and shares them between its tests.
#pragma once

#include <map>
#include <memory>
#include <mutex>

#include "blindml/crypto/algorithms.h"

namespace blindml::crypto::testing {

struct TestKeys {
  ParameterSet params;
  std::unique_ptr<ClientKey> client;
  std::unique_ptr<SeededEvaluationKeys> seeded;
  std::unique_ptr<EvaluationKeys> eval;
};

inline ThreadPool& test_pool() {
  static ThreadPool pool;
  return pool;
}

inline const TestKeys& keys_for(const ParameterSet& params) {
  static std::mutex mu;
  static std::map<std::string, std::unique_ptr<TestKeys>> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto& slot = cache[fingerprint_hex(params)];
  if (!slot) {
    auto ck = ClientKey::generate(params);
    if (!ck.ok()) std::abort();
    slot = std::make_unique<TestKeys>(
        TestKeys{params, std::make_unique<ClientKey>(std::move(ck).value()), nullptr, nullptr});
    slot->seeded = std::make_unique<SeededEvaluationKeys>(generate_seeded_evaluation_keys(*slot->client, &test_pool()));
    slot->eval = std::make_unique<EvaluationKeys>(expand_evaluation_keys(*slot->seeded, &test_pool()));
  }
  return *slot;
}

inline const TestKeys& keys_for_bits(uint32_t bits) { return keys_for(parameters_for_bits(bits).value()); }

}  // namespace blindml::crypto::testing
