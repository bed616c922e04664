// TFHE parameter sets: the typed dimensions, the named sets for p = 1..8 message bits, the
// 128-bit security check and the parameter fingerprint.
//
// A ParameterSet fixes everything key generation and evaluation need (shared/crypto.md):
//   n  = lwe_dimension           small LWE key, input of the blind rotation
//   k  = glwe_dimension, N = polynomial_size; kN is the "big" LWE key (output of sample extract)
//   σ_lwe, σ_glwe                Gaussian noise standard deviations on the 2^64 scale (log2)
//   PBS decomposition            base 2^pbs_base_log, pbs_level_count levels
//   KS decomposition             base 2^ks_base_log, ks_level_count levels
// and message_bits p, the precision the set was sized for (Δ = 2^(63-p)).
//
// Thread safety: plain constants and pure functions.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <span>
#include <string>

#include "blindml/base/status.h"

namespace blindml::crypto {

// A dimension or count with its own type, so that n cannot be passed where n+1 or N is meant.
// Explicit construction from its value; no arithmetic: code spells out .value where it computes.
template <typename Tag>
struct TypedCount {
  constexpr explicit TypedCount(uint64_t v) : value(v) {}
  uint64_t value;
  constexpr auto operator<=>(const TypedCount&) const = default;
};

// n: the number of mask coefficients of an LWE ciphertext.
using LweDimension = TypedCount<struct LweDimensionTag>;
// n + 1: the number of 64-bit words of an LWE ciphertext (mask and body).
struct LweSize : TypedCount<struct LweSizeTag> {
  using TypedCount::TypedCount;
  constexpr explicit LweSize(LweDimension d) : TypedCount(d.value + 1) {}
};
// k: the number of mask polynomials of a GLWE ciphertext.
using GlweDimension = TypedCount<struct GlweDimensionTag>;
// N: polynomials live in Z_{2^64}[X]/(X^N + 1); a power of two.
using PolynomialSize = TypedCount<struct PolynomialSizeTag>;
// β: the decomposition base is 2^β.
using DecompBaseLog = TypedCount<struct DecompBaseLogTag>;
// l: the number of digits kept by a gadget decomposition.
using DecompLevelCount = TypedCount<struct DecompLevelCountTag>;

// kN: the dimension of the LWE key obtained by flattening a GLWE key.
constexpr LweDimension flattened_dimension(GlweDimension k, PolynomialSize n) {
  return LweDimension(k.value * n.value);
}

struct ParameterSet {
  const char* name;
  uint32_t message_bits;            // p: precision the set is sized for
  LweDimension lwe_dimension;       // n
  GlweDimension glwe_dimension;     // k
  PolynomialSize polynomial_size;   // N
  double lwe_noise_log2_std;        // log2 σ_lwe, absolute on the 2^64 torus
  double glwe_noise_log2_std;       // log2 σ_glwe, absolute on the 2^64 torus
  DecompBaseLog pbs_base_log;
  DecompLevelCount pbs_level_count;
  DecompBaseLog ks_base_log;
  DecompLevelCount ks_level_count;

  LweDimension big_lwe_dimension() const { return flattened_dimension(glwe_dimension, polynomial_size); }
};

// The named sets, one per precision p = 1..8, sized for a per-PBS error probability of at most
// 2^-40 when the PBS input is a PBS output (or a fresh big-key ciphertext) times integer weights of
// squared 2-norm at most kDefaultSquaredNorm. Each is 128-bit secure with >= 1 bit of margin on
// σ above the security curve (see check_security). Derived by tools/param_search.py.
inline constexpr double kDefaultSquaredNorm = 1.0;
inline constexpr double kDefaultLog2ErrorProbability = -40.0;

// The set for p message bits (1 <= p <= 8), or invalid_argument.
Result<ParameterSet> parameters_for_bits(uint32_t bits);
// All named sets, in increasing precision.
std::span<const ParameterSet> named_parameter_sets();

// 128-bit security line of Zama's concrete-security-curves (lattice-estimator, MATZOV cost
// model, 2024; λ = 128, q = 2^64, binary secret, Gaussian noise), for dimension d >= 450:
//   log2(σ/q) >= max(-0.025696778711484593·d + 2.675931372549016, -62)
// Returned as the minimal log2 σ on the 2^64 scale.
double min_secure_log2_std(uint64_t dimension);

// Bits by which log2 σ exceeds the 128-bit line for that dimension (negative: insecure).
double security_margin_bits(uint64_t dimension, double log2_std);

// ok when both the LWE (n, σ_lwe) and the GLWE (kN, σ_glwe) pairs are on or above the line,
// else non_conformant naming the failing pair. Also rejects dimensions below 450 (outside the
// curve's domain), non power-of-two N and decompositions that do not fit in 64 bits.
Status check_security(const ParameterSet& params);
// Structural validity only (sizes, powers of two, decomposition widths).
Status check_structure(const ParameterSet& params);

// 16 bytes identifying the cryptographic content of a set (everything but name and
// message_bits): keys and ciphertexts carry it, loaders compare it.
using Fingerprint = std::array<uint8_t, 16>;
Fingerprint fingerprint(const ParameterSet& params);
std::string fingerprint_hex(const ParameterSet& params);

}  // namespace blindml::crypto
