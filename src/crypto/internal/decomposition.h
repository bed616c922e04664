// Signed gadget decomposition (shared/crypto.md, "External product"): a torus word x is rounded to
// its top β·l bits and written as Σ_{j=1..l} d_j · 2^(64-βj) with balanced digits d_j in
// [-B/2, B/2), B = 2^β. The carry out of the top digit is dropped (it is a multiple of 2^64).
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>

namespace blindml::crypto::internal {

// The rounded top β·l bits of x, as an integer in [0, 2^(βl)).
inline uint64_t decomposition_closest(uint64_t x, uint64_t base_log, uint64_t levels) {
  uint64_t kept = base_log * levels;
  if (kept >= 64) return x;
  uint64_t shift = 64 - kept;
  uint64_t r = (x >> shift) + ((x >> (shift - 1)) & 1);
  return r & ((uint64_t{1} << kept) - 1);
}

// digits[j-1] for level j = 1..l (level 1 is the most significant).
inline void decompose_word(uint64_t x, uint64_t base_log, uint64_t levels, int64_t* digits) {
  uint64_t v = decomposition_closest(x, base_log, levels);
  const uint64_t mask = (uint64_t{1} << base_log) - 1;
  const uint64_t half = uint64_t{1} << (base_log - 1);
  for (uint64_t j = levels; j >= 1; --j) {
    uint64_t d = v & mask;
    v >>= base_log;
    uint64_t carry = d >= half ? 1 : 0;
    v += carry;
    digits[j - 1] = static_cast<int64_t>(d) - static_cast<int64_t>(carry << base_log);
  }
}

// Decomposes N words at once into level-major digit polynomials: out[(j-1)·N + i]. state: N
// words of scratch. Loops run over coefficients innermost with uniform shifts, so they vectorise.
inline void decompose_polynomial(const uint64_t* __restrict in, uint64_t n, uint64_t base_log, uint64_t levels,
                                 int64_t* __restrict out, uint64_t* __restrict state) {
  const uint64_t kept = base_log * levels;
  const uint64_t mask = (uint64_t{1} << base_log) - 1;
  if (kept < 64) {
    const uint64_t shift = 64 - kept;
    const uint64_t kept_mask = (uint64_t{1} << kept) - 1;
    for (uint64_t i = 0; i < n; ++i) state[i] = ((in[i] >> shift) + ((in[i] >> (shift - 1)) & 1)) & kept_mask;
  } else {
    for (uint64_t i = 0; i < n; ++i) state[i] = in[i];
  }
  for (uint64_t j = levels; j >= 1; --j) {
    int64_t* __restrict o = out + (j - 1) * n;
    for (uint64_t i = 0; i < n; ++i) {
      const uint64_t v = state[i];
      const uint64_t d = v & mask;
      const uint64_t carry = (d >> (base_log - 1)) & 1;  // d >= B/2: use d - B and carry one up
      state[i] = (v >> base_log) + carry;
      o[i] = static_cast<int64_t>(d) - static_cast<int64_t>(carry << base_log);
    }
  }
}

}  // namespace blindml::crypto::internal
