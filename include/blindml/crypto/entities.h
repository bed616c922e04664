// TFHE entities (shared/crypto.md, "Objects"). Each owns one contiguous buffer of 64-bit torus
// words (or doubles for Fourier-domain keys); accessors return spans over it. Rule of zero:
// copies are deep, moves are cheap.
//
//   LWE ciphertext   (a_1..a_n, b),  b = Σ a_i·s_i + μ + e  (mod 2^64)
//   GLWE ciphertext  (A_1..A_k, B),  B = Σ A_i·S_i + M + E  in Z_{2^64}[X]/(X^N+1)
//   LWE keyswitch key  for each big-key coefficient i and level j (1..l):
//                      LWE_s( S_i · 2^64 / B^j ), stored [i][j][n+1] (top 32 bits, see below)
//   Fourier bootstrap key  for each small-key bit s_i: GGSW_S(s_i), rows (c, j) for c in 0..k and
//                      level j: GLWE_S( s_i · 2^64/B^j · e_c ); each polynomial stored as N/2
//                      complex values in split form (N/2 real parts, then N/2 imaginary parts)
//                      of the twisted half-size FFT, layout [i][row][column][re|im][N/2].
//   Seeded forms keep only the bodies and the seed of the mask stream (design.md §4).
//
// Thread safety: entities are values; immutable ones may be shared by threads.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "blindml/crypto/aligned.h"
#include "blindml/crypto/csprng.h"
#include "blindml/crypto/params.h"

namespace blindml::crypto {

// Binary LWE secret key s ∈ {0,1}^n. Wiped on destruction.
class LweSecretKey {
 public:
  LweSecretKey(LweDimension n, SecretU64 bits);
  static LweSecretKey generate(LweDimension n, CsprngStream& rng);
  LweDimension dimension() const { return LweDimension(bits_.size()); }
  std::span<const uint64_t> bits() const { return bits_; }

 private:
  SecretU64 bits_;
};

// Binary GLWE secret key S = (S_1..S_k), polynomials of size N. Its flattening is the big LWE key.
class GlweSecretKey {
 public:
  GlweSecretKey(GlweDimension k, PolynomialSize n, SecretU64 coefficients);
  static GlweSecretKey generate(GlweDimension k, PolynomialSize n, CsprngStream& rng);
  GlweDimension glwe_dimension() const { return k_; }
  PolynomialSize polynomial_size() const { return n_; }
  std::span<const uint64_t> polynomial(uint64_t i) const {
    return std::span<const uint64_t>(coefficients_).subspan(i * n_.value, n_.value);
  }
  // The flattened LWE key of dimension kN.
  std::span<const uint64_t> as_lwe_key() const { return coefficients_; }

 private:
  GlweDimension k_;
  PolynomialSize n_;
  SecretU64 coefficients_;
};

class LweCiphertext {
 public:
  explicit LweCiphertext(LweDimension n) : data_(n.value + 1, 0) {}
  LweDimension dimension() const { return LweDimension(data_.size() - 1); }
  std::span<uint64_t> mask() { return std::span<uint64_t>(data_).first(data_.size() - 1); }
  std::span<const uint64_t> mask() const { return std::span<const uint64_t>(data_).first(data_.size() - 1); }
  uint64_t& body() { return data_.back(); }
  uint64_t body() const { return data_.back(); }
  std::span<uint64_t> data() { return data_; }
  std::span<const uint64_t> data() const { return data_; }

 private:
  std::vector<uint64_t> data_;
};

// count LWE ciphertexts of one dimension, contiguous.
class LweCiphertextList {
 public:
  LweCiphertextList(LweDimension n, uint64_t count) : n_(n), count_(count), data_((n.value + 1) * count, 0) {}
  LweDimension dimension() const { return n_; }
  uint64_t count() const { return count_; }
  std::span<uint64_t> at(uint64_t i) { return std::span<uint64_t>(data_).subspan(i * (n_.value + 1), n_.value + 1); }
  std::span<const uint64_t> at(uint64_t i) const {
    return std::span<const uint64_t>(data_).subspan(i * (n_.value + 1), n_.value + 1);
  }
  std::span<uint64_t> data() { return data_; }
  std::span<const uint64_t> data() const { return data_; }

 private:
  LweDimension n_;
  uint64_t count_;
  std::vector<uint64_t> data_;
};

// count LWE ciphertexts whose masks are the consecutive words of seed's stream: ciphertext i's
// mask is words [i·n, (i+1)·n). Only the bodies are stored (8 bytes per ciphertext).
class SeededLweCiphertextList {
 public:
  SeededLweCiphertextList(LweDimension n, Seed seed, std::vector<uint64_t> bodies)
      : n_(n), seed_(seed), bodies_(std::move(bodies)) {}
  LweDimension dimension() const { return n_; }
  uint64_t count() const { return bodies_.size(); }
  const Seed& seed() const { return seed_; }
  std::span<const uint64_t> bodies() const { return bodies_; }
  std::span<uint64_t> bodies() { return bodies_; }

 private:
  LweDimension n_;
  Seed seed_;
  std::vector<uint64_t> bodies_;
};

class GlweCiphertext {
 public:
  GlweCiphertext(GlweDimension k, PolynomialSize n) : k_(k), n_(n), data_((k.value + 1) * n.value, 0) {}
  GlweDimension glwe_dimension() const { return k_; }
  PolynomialSize polynomial_size() const { return n_; }
  // Polynomial i: mask A_{i+1} for i < k, body B for i = k.
  std::span<uint64_t> polynomial(uint64_t i) { return std::span<uint64_t>(data_).subspan(i * n_.value, n_.value); }
  std::span<const uint64_t> polynomial(uint64_t i) const {
    return std::span<const uint64_t>(data_).subspan(i * n_.value, n_.value);
  }
  std::span<uint64_t> body() { return polynomial(k_.value); }
  std::span<uint64_t> data() { return data_; }
  std::span<const uint64_t> data() const { return data_; }

 private:
  GlweDimension k_;
  PolynomialSize n_;
  AlignedU64 data_;
};

// The expanded key-switching key is kept rounded to the top 32 bits of each word and the key switch
// computes modulo 2^32: its output is read only to log2(2N) bits by the modulus switch, and the
// rounding adds kN·l·(B²+2)/12 · 2^-64/12 to the variance (keyswitch_truncation_variance), some
// 2^-30 of the key switch's own noise. Rounding public samples is post-processing: no security
// changes. It halves the bytes the key switch streams from memory.
class LweKeyswitchKey {
 public:
  LweKeyswitchKey(LweDimension input, LweDimension output, DecompBaseLog base_log, DecompLevelCount levels)
      : input_(input), output_(output), base_log_(base_log), levels_(levels),
        data_(input.value * levels.value * (output.value + 1), 0) {}
  LweDimension input_dimension() const { return input_; }
  LweDimension output_dimension() const { return output_; }
  DecompBaseLog base_log() const { return base_log_; }
  DecompLevelCount level_count() const { return levels_; }
  // The l ciphertexts for input coefficient i, level-major (level 1 first), top 32 bits per word.
  std::span<const uint32_t> block(uint64_t i) const {
    uint64_t s = levels_.value * (output_.value + 1);
    return std::span<const uint32_t>(data_).subspan(i * s, s);
  }
  std::span<uint32_t> data() { return data_; }
  std::span<const uint32_t> data() const { return data_; }

 private:
  LweDimension input_;
  LweDimension output_;
  DecompBaseLog base_log_;
  DecompLevelCount levels_;
  std::vector<uint32_t, AlignedAllocator<uint32_t>> data_;
};

// Bodies only: for each input coefficient i and level j, the body of LWE_s(S_i·2^64/B^j); the
// masks are the consecutive words of seed's stream in the same order (n words each).
class SeededLweKeyswitchKey {
 public:
  SeededLweKeyswitchKey(LweDimension input, LweDimension output, DecompBaseLog base_log,
                        DecompLevelCount levels, Seed seed, std::vector<uint64_t> bodies)
      : input_(input), output_(output), base_log_(base_log), levels_(levels), seed_(seed),
        bodies_(std::move(bodies)) {}
  LweDimension input_dimension() const { return input_; }
  LweDimension output_dimension() const { return output_; }
  DecompBaseLog base_log() const { return base_log_; }
  DecompLevelCount level_count() const { return levels_; }
  const Seed& seed() const { return seed_; }
  std::span<const uint64_t> bodies() const { return bodies_; }
  std::span<uint64_t> bodies() { return bodies_; }

 private:
  LweDimension input_;
  LweDimension output_;
  DecompBaseLog base_log_;
  DecompLevelCount levels_;
  Seed seed_;
  std::vector<uint64_t> bodies_;
};

class FourierBootstrapKey {
 public:
  FourierBootstrapKey(LweDimension n, GlweDimension k, PolynomialSize poly, DecompBaseLog base_log,
                      DecompLevelCount levels)
      : n_(n), k_(k), poly_(poly), base_log_(base_log), levels_(levels),
        data_(n.value * ggsw_size(), 0.0) {}
  LweDimension input_dimension() const { return n_; }
  GlweDimension glwe_dimension() const { return k_; }
  PolynomialSize polynomial_size() const { return poly_; }
  DecompBaseLog base_log() const { return base_log_; }
  DecompLevelCount level_count() const { return levels_; }
  // Doubles per GGSW: (k+1)·l rows × (k+1) columns × N (N/2 re + N/2 im).
  uint64_t ggsw_size() const { return (k_.value + 1) * levels_.value * (k_.value + 1) * poly_.value; }
  std::span<const double> ggsw(uint64_t i) const {
    return std::span<const double>(data_).subspan(i * ggsw_size(), ggsw_size());
  }
  std::span<double> ggsw(uint64_t i) { return std::span<double>(data_).subspan(i * ggsw_size(), ggsw_size()); }
  uint64_t size_bytes() const { return data_.size() * sizeof(double); }

 private:
  LweDimension n_;
  GlweDimension k_;
  PolynomialSize poly_;
  DecompBaseLog base_log_;
  DecompLevelCount levels_;
  AlignedF64 data_;
};

// Bodies only: for each key bit i, row (c, j): the body polynomial (N words) of the row's GLWE;
// the masks (k polynomials per row) are the consecutive words of seed's stream in that order.
class SeededBootstrapKey {
 public:
  SeededBootstrapKey(LweDimension n, GlweDimension k, PolynomialSize poly, DecompBaseLog base_log,
                     DecompLevelCount levels, Seed seed, std::vector<uint64_t> bodies)
      : n_(n), k_(k), poly_(poly), base_log_(base_log), levels_(levels), seed_(seed), bodies_(std::move(bodies)) {}
  LweDimension input_dimension() const { return n_; }
  GlweDimension glwe_dimension() const { return k_; }
  PolynomialSize polynomial_size() const { return poly_; }
  DecompBaseLog base_log() const { return base_log_; }
  DecompLevelCount level_count() const { return levels_; }
  const Seed& seed() const { return seed_; }
  std::span<const uint64_t> bodies() const { return bodies_; }
  std::span<uint64_t> bodies() { return bodies_; }

 private:
  LweDimension n_;
  GlweDimension k_;
  PolynomialSize poly_;
  DecompBaseLog base_log_;
  DecompLevelCount levels_;
  Seed seed_;
  std::vector<uint64_t> bodies_;
};

}  // namespace blindml::crypto
