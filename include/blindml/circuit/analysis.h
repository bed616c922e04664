// Static analysis of a circuit: value ranges, bit widths, the encoding every ciphertext uses, the
// noise each PBS input and each output carries, and op counts.
//
// Ranges: interval arithmetic per element from the inputs' declared ranges (exact for leveled ops
// with clear weights; lookups give the range of the table entries their inputs can reach).
// Widths: an interval [lo, hi] with lo >= 0 needs ceil(log2(hi + 1)) unsigned bits (at least 1);
// one with lo < 0 the smallest w with -2^(w-1) <= lo and hi < 2^(w-1) (two's complement).
//
// Encoding (the FHE evaluator's): every ciphertext encodes its value v as v·Δ with one global
// Δ = 2^(63 - P), P = carrier_bits, wide enough for every value and for every lookup's offset
// input. A lookup of input_bits w on a value that a rounding has scaled by 2^s reads it after a
// clear multiplication by 2^(P - w - s): its noise is amplified by that factor before the PBS.
// An exact rounding's bit extraction j reads bit j of the value at the sign of the torus: a
// "PBS input" of 0 bits amplified by 2^(P - j).
//
// Noise: each value element is a linear form over noise sources (fresh encryptions with σ_glwe,
// PBS outputs with the PBS output variance); the variance of the form is Σ (coefficient)²·σ²,
// computed exactly per source, so that a value used twice is counted coherently. A constraint
// keeps, for one place where ciphertexts are read, the largest squared norms over its elements.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "blindml/base/status.h"
#include "blindml/circuit/circuit.h"

namespace blindml::circuit {

struct ValueInfo {
  std::vector<int64_t> min, max;  // per element, inclusive
  int64_t lo = 0, hi = 0;         // over all elements
  uint32_t bits = 0;              // width of [lo, hi]
  bool is_signed = false;         // lo < 0
  bool encrypted = true;          // every value of a circuit is (outputs carry their input's)
  // P of this value's ciphertexts (encoding.h): v·2^(63 - P). A materialized rounding: of its
  // identity lookup's output; lookups reading through a rounding read it at its input's P.
  uint32_t carrier_bits = 0;
};

// One place where the evaluator reads ciphertexts (the optimizer's unit of error probability).
struct NoiseConstraint {
  enum class Kind : uint8_t {
    kPbsInput,    // a PBS reads a value: key switch + modulus switch + table of 2^read_bits boxes
    kDecryption,  // the client decrypts an output at Δ = 2^(63 - read_bits)
  };
  Kind kind;
  std::string where;      // "lookup 'relu_1' (6-bit input)", "output 'y'": for error messages
  ValueId node;
  uint32_t read_bits;     // PBS: 0..8 (0: a sign read of a bit extraction); decryption: P
  uint32_t amplify_log2;  // the value's variance is multiplied by 4^amplify_log2 before the read
  double fresh_norm2;     // Σ coefficient² over fresh-encryption sources (max over elements)
  double pbs_norm2;       // Σ coefficient² over PBS-output sources (max over elements)
  uint64_t count;         // ciphertexts read this way (PBS count for kPbsInput)
};

struct Analysis {
  std::vector<ValueInfo> values;  // indexed by ValueId (outputs repeat their input's info)
  uint32_t carrier_bits = 0;      // P
  uint32_t max_lookup_bits = 0;   // largest read_bits of a PBS constraint (0 if none)
  std::vector<NoiseConstraint> constraints;
  uint64_t pbs_count = 0;         // PBS per evaluation (lookups, materialized roundings, extractions)
  uint64_t keyswitch_count = 0;   // = pbs_count (KS-PBS order)
  uint64_t leveled_ops = 0;       // ciphertext-level additions / scalar products per evaluation
  uint32_t pbs_depth = 0;         // longest chain of PBS from an input to an output
  uint64_t noise_terms = 0;       // terms of the noise forms the analysis held (at most kMaxNoiseTerms)
  bool needs_bootstrapping() const { return pbs_count > 0; }
};

// A rounding needs its own identity PBS (is "materialized") unless all its consumers are lookups.
bool round_is_materialized(const Circuit& circuit, ValueId round_node);

// An exact rounding clears the s low bits of x + 2^(s-1) in chunks, from bit 0 up (encoding.h):
// a chunk of one bit is one sign PBS (the bit at the torus' top); a chunk of c >= 2 bits is a
// sign PBS for its top bit, then one (c-1)-bit table lookup for the bits below it. A chunk reads
// at most the precision of the lookups that read the rounding (c - 1 <= their input bits), so the
// parameter set needs no more precision; s bits cost 2·ceil(s / (w + 1)) PBS or so instead of s.
// The first chunks hold the extra bit when s does not divide evenly.
struct RoundingChunk {
  uint32_t first_bit = 0;
  uint32_t bits = 1;
  uint32_t pbs() const { return bits == 1 ? 1 : 2; }
};
std::vector<RoundingChunk> rounding_chunks(const Circuit& circuit, ValueId round_node);

// Ranges, widths, encoding, noise constraints and counts. Errors name the op: a lookup whose
// table does not cover its input's range, a value beyond ±2^62 (or a matmul whose partial sums
// pass 2^125), a carrier wider than kMaxCarrierBits, noise forms beyond kMaxNoiseTerms.
inline constexpr uint32_t kMaxCarrierBits = 48;
// The analysis refuses (resource_exhausted, naming the node) a circuit whose noise forms would
// hold more terms than this in all (16 bytes each: 128 MiB), so its memory is bounded whatever
// the circuit; real models hold a few thousand to a few hundred thousand.
inline constexpr uint64_t kMaxNoiseTerms = uint64_t{1} << 23;
Result<Analysis> analyze(const Circuit& circuit);

// A readable summary: per value its shape, range, width; the constraints; the counts.
std::string describe(const Circuit& circuit, const Analysis& analysis);

}  // namespace blindml::circuit
