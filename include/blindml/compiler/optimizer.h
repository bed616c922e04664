// The parameter optimizer: the cheapest 128-bit-secure TFHE parameter set under which every
// place a circuit reads ciphertexts (circuit::NoiseConstraint) is right with the target
// probability.
//
// Search space: k ∈ {1, 2, 3}, N = 2^8 … 2^16 (kN ≤ 2^16), n = 450 … 2000, PBS decomposition
// base 2^β × l (β·l ≤ 53, l ≤ 6), key-switching base 2^β_ks × l_ks (β_ks·l_ks ≤ 32: the key switch
// runs on the top 32 bits). σ_lwe and σ_glwe sit security_margin_bits above the 128-bit line of
// crypto::min_secure_log2_std (rounded up to 0.01 bit, as the named sets). For every candidate
// the noise formulas of crypto/noise.h give, per constraint,
//   PBS input:   4^amplify·(fresh_norm2·σ²_glwe + pbs_norm2·σ²_pbs) + σ²_ks + σ²_ks_trunc + σ²_ms
//                against Δ = 2^(63 - read_bits), and N ≥ 2^(read_bits + 1);
//   decryption:  4^amplify·(fresh_norm2·σ²_glwe + pbs_norm2·σ²_pbs) against Δ = 2^(63 - read_bits);
// and p = erfc(Δ / (2√2·σ)) must be ≤ the per-read target. The search is exhaustive over (k, N, n,
// l, l_ks) with, for each level count, the base of least variance, so the least-cost feasible set
// is found exactly; hence the choice for a problem that is easier in every constraint never costs
// more.
//
// Cost: an operation-count model (Concrete's: FFT = N·log2 N + N, CMux = (k+1)·l·FFT +
// (k+1)·IFFT + (k+1)²·l·N, PBS = n·CMux, KS = kN·l_ks + 2·kN·l_ks·(n+1)) turned into milliseconds
// by constants fitted to the PBS latencies measured by scripts/bench (docs/benchmarks.md; the
// constants, their fit and the search's pruning: src/compiler/optimizer.cc, docs/optimizer.md).
// A circuit without PBS constraints needs only the GLWE key: the smallest secure kN whose σ_glwe
// leaves room for the widest value (cost: ciphertext size); its LWE, PBS and KS fields are filled
// with a valid secure set that is never used for evaluation keys.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "blindml/base/status.h"
#include "blindml/circuit/analysis.h"
#include "blindml/crypto/params.h"

namespace blindml::compiler {

struct OptimizerOptions {
  // Per-read target (every PBS and every output decryption): log2 of the probability.
  double log2_p_error = crypto::kDefaultLog2ErrorProbability;
  // When set, a target for the whole circuit instead: each of the R reads gets
  // 1 - (1 - global)^(1/R).
  std::optional<double> global_p_error;
  double security_margin_bits = 1.0;
};

struct OptimizerChoice {
  crypto::ParameterSet params;        // name "optimized"; message_bits = the circuit's max lookup bits (≥ 1)
  bool needs_bootstrapping = false;   // false: leveled circuit, no evaluation keys at all
  double log2_p_error_per_read = 0;   // the target that was applied
  double log2_worst_p_error = 0;      // the largest predicted per-read probability of the choice
  double global_p_error = 0;          // 1 - Π(1 - p_i) over every read of one evaluation
  double estimated_pbs_ms = 0;        // one KS-PBS, one thread (0 when leveled)
  double estimated_circuit_ms = 0;    // pbs_count · estimated_pbs_ms (one thread)
  std::string worst_constraint;       // where of the tightest constraint
  uint64_t candidates_evaluated = 0;
  std::string report() const;         // a few readable lines: the set, margins, probabilities, cost
};

// The choice, or non_conformant naming the constraint that no secure set satisfies (its op, bit
// width, amplification and noise growth) and what would help (round to fewer bits, lower the
// weights' precision, raise the error probability). invalid_argument for a malformed analysis.
Result<OptimizerChoice> choose_parameters(const circuit::Analysis& analysis, const OptimizerOptions& options = {});

// log2 of the probability that one read of this constraint is wrong under params (the noise
// formulas of the search; -inf when the variance is 0).
double log2_read_error_probability(const crypto::ParameterSet& params, const circuit::NoiseConstraint& constraint);

// The estimated milliseconds of one KS-PBS with these parameters on one thread (the cost model).
double estimated_pbs_ms(const crypto::ParameterSet& params);

}  // namespace blindml::compiler
