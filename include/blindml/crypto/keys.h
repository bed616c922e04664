// Key roles (style.md: client and server state are different types).
//
//   ClientKey       the secret: small LWE key s (dimension n) and GLWE key S (k, N). Stays on the
//                   client; wiped on destruction. Fresh ciphertexts are encrypted under the big
//                   key (flattened S) with σ_glwe, as PBS outputs are.
//   SeededEvaluationKeys  what the client uploads: seeded bootstrapping key and seeded
//                   key-switching key (bodies + one seed each).
//   EvaluationKeys  what the server computes with: the Fourier-domain bootstrapping key and the
//                   expanded key-switching key. Immutable after construction, so threads share it.
#pragma once

#include "blindml/base/status.h"
#include "blindml/base/thread_pool.h"
#include "blindml/crypto/entities.h"
#include "blindml/crypto/params.h"

namespace blindml::crypto {

// Not thread-safe to mutate; immutable after generation (safe to share for reading).
class ClientKey {
 public:
  // Refuses sets that fail check_security.
  static Result<ClientKey> generate(const ParameterSet& params);
  ClientKey(const ParameterSet& params, LweSecretKey lwe, GlweSecretKey glwe)
      : params_(params), lwe_(std::move(lwe)), glwe_(std::move(glwe)) {}

  const ParameterSet& parameters() const { return params_; }
  const LweSecretKey& lwe_key() const { return lwe_; }
  const GlweSecretKey& glwe_key() const { return glwe_; }
  std::span<const uint64_t> big_lwe_key() const { return glwe_.as_lwe_key(); }

 private:
  ParameterSet params_;
  LweSecretKey lwe_;
  GlweSecretKey glwe_;
};

struct SeededEvaluationKeys {
  ParameterSet params;
  SeededBootstrapKey bootstrap_key;
  SeededLweKeyswitchKey keyswitch_key;
};

// Immutable; thread-safe for concurrent evaluation.
class EvaluationKeys {
 public:
  EvaluationKeys(const ParameterSet& params, FourierBootstrapKey bsk, LweKeyswitchKey ksk)
      : params_(params), bsk_(std::move(bsk)), ksk_(std::move(ksk)) {}
  const ParameterSet& parameters() const { return params_; }
  const FourierBootstrapKey& bootstrap_key() const { return bsk_; }
  const LweKeyswitchKey& keyswitch_key() const { return ksk_; }

 private:
  ParameterSet params_;
  FourierBootstrapKey bsk_;
  LweKeyswitchKey ksk_;
};

// Generates the seeded evaluation keys of a client key (pool may be null: single thread).
SeededEvaluationKeys generate_seeded_evaluation_keys(const ClientKey& key, ThreadPool* pool = nullptr);

// Regenerates masks from the seeds and moves the bootstrapping key to the Fourier domain.
EvaluationKeys expand_evaluation_keys(const SeededEvaluationKeys& seeded, ThreadPool* pool = nullptr);

// Bytes of the seeded and expanded forms (64-bit words / doubles, without headers).
uint64_t seeded_evaluation_keys_bytes(const ParameterSet& params);
uint64_t expanded_evaluation_keys_bytes(const ParameterSet& params);

}  // namespace blindml::crypto
