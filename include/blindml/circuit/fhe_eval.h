// The FHE evaluator: a circuit on ciphertexts, with the semantics of the clear evaluator.
//
// Encoding (analysis.h): every ciphertext is an LWE ciphertext under the big key (dimension kN)
// of v·Δ, Δ = 2^(63 - P), P = carrier_bits, two's complement for negative values. Leveled ops are
// the torus operations of crypto/algorithms.h. A lookup on v reads y = (v - input_min)·2^(P - w)
// through a KS-PBS whose table has 2^w boxes and whose entries are encoded at Δ. A rounding that
// drops s bits is read by its consumers at 2^(P - w - s) (the PBS sees only the top bits); an
// approximate rounding adds half a step first, for the clear evaluator's half-up rule, but a value
// within the key-switching and modulus-switching noise of a half-way point may still round the
// other way (off by one); an exact one first clears the s low bits of x + 2^(s-1), one bit at a time: bit j is
// moved to the torus' top bit (multiplication by 2^(P - j)), offset by a quarter turn, and a PBS
// with a constant table returns ±2^(j-1)·Δ by the sign of the negacyclic rotation. A rounding
// whose value is used by anything but a lookup gets an identity lookup (it is "materialized").
//
// Scheduling: the evaluator proceeds in waves; each wave runs every leveled op whose operands
// are ready, then every PBS whose input is ready — all lookups of a layer, every element, as one
// batch on the thread pool (crypto::programmable_bootstrap_batch).
//
// Thread safety: an FheEvaluator is immutable after create(); evaluate() may run concurrently
// from several threads (each call with its own pool or sharing one pool sequentially).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "blindml/base/status.h"
#include "blindml/base/thread_pool.h"
#include "blindml/circuit/analysis.h"
#include "blindml/circuit/circuit.h"
#include "blindml/crypto/entities.h"
#include "blindml/crypto/keys.h"
#include "blindml/crypto/params.h"

namespace blindml::circuit {

struct EncryptedTensor {
  Shape shape;
  crypto::LweCiphertextList ciphertexts;  // one per element, row-major, dimension kN
};

class FheEvaluator {
 public:
  // Analyses the circuit and prepares its lookup tables for params. Refuses a carrier wider than
  // the analysis' (the caller's P must leave room for every value) and tables the polynomial size
  // cannot hold (N < 2^(w+1)).
  static Result<FheEvaluator> create(const Circuit& circuit, const crypto::ParameterSet& params,
                                     uint32_t carrier_bits);

  // One evaluation. inputs: one EncryptedTensor per circuit input, of its shape and dimension kN.
  // keys may be null only when the circuit has no PBS (needs_bootstrapping() is false).
  Result<std::vector<EncryptedTensor>> evaluate(std::vector<EncryptedTensor> inputs,
                                                const crypto::EvaluationKeys* keys, ThreadPool& pool) const;

  const Circuit& circuit() const;
  const Analysis& analysis() const;
  uint32_t carrier_bits() const;
  bool needs_bootstrapping() const;

  FheEvaluator(FheEvaluator&&) noexcept;
  FheEvaluator& operator=(FheEvaluator&&) noexcept;
  ~FheEvaluator();

 private:
  struct State;
  explicit FheEvaluator(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// Client side: each element v encrypted as v·2^(63 - carrier_bits) under the big key.
EncryptedTensor encrypt_tensor(const crypto::ClientKey& key, const Tensor& values, uint32_t carrier_bits);
// Decrypts and decodes at carrier_bits (signed: two's complement).
Tensor decrypt_tensor(const crypto::ClientKey& key, const EncryptedTensor& ct, uint32_t carrier_bits, bool is_signed);

}  // namespace blindml::circuit
