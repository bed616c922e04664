// TFHE operations as free functions (shared/crypto.md): encoding, encryption, leveled ops, key
// switching, modulus switching, external product, blind rotation, sample extraction and the
// programmable bootstrap (KS-PBS order), single and batched.
//
// Encoding: a p-bit message m (unsigned 0 <= m < 2^p, or two's complement) is μ = m·Δ mod 2^64
// with Δ = 2^(63-p): one padding bit above the message.
//
// Thread safety: functions are reentrant; the scratch objects are per thread.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "blindml/base/thread_pool.h"
#include "blindml/crypto/entities.h"
#include "blindml/crypto/keys.h"

namespace blindml::crypto {

// ---- encoding ----
constexpr uint64_t delta_for_bits(uint32_t bits) { return uint64_t{1} << (63 - bits); }
constexpr uint64_t encode_message(int64_t m, uint32_t bits) {
  return static_cast<uint64_t>(m) * delta_for_bits(bits);
}
// Rounds the phase to the nearest multiple of Δ and returns it as a (bits+1)-bit value
// (message plus padding bit): in [0, 2^(bits+1)) unsigned, in [-2^bits, 2^bits) signed.
int64_t decode_message(uint64_t phase, uint32_t bits, bool is_signed);

// ---- encryption ----
// out = (a, ⟨a,key⟩ + mu + e), a from mask_rng, e ~ N(0, σ²) from noise_rng.
void encrypt_lwe(std::span<const uint64_t> key, uint64_t mu, double std_dev, CsprngStream& mask_rng,
                 CsprngStream& noise_rng, std::span<uint64_t> out);
// b - ⟨a, key⟩.
uint64_t decrypt_lwe_phase(std::span<const uint64_t> key, std::span<const uint64_t> ct);

// Seeded list: ciphertext i takes its mask from words [i·n, (i+1)·n) of mask_seed's stream.
SeededLweCiphertextList encrypt_lwe_seeded(std::span<const uint64_t> key, std::span<const uint64_t> mus,
                                           double std_dev, const Seed& mask_seed, CsprngStream& noise_rng);
LweCiphertextList expand_seeded_lwe_list(const SeededLweCiphertextList& seeded);

// Client-level: encrypt/decrypt p-bit messages under the big key with σ_glwe.
LweCiphertext encrypt(const ClientKey& key, int64_t message, uint32_t bits);
SeededLweCiphertextList encrypt_seeded(const ClientKey& key, std::span<const int64_t> messages, uint32_t bits);
int64_t decrypt(const ClientKey& key, std::span<const uint64_t> ct, uint32_t bits, bool is_signed);

// GLWE under S: B = Σ A_i·S_i + M + E (exact negacyclic products).
void encrypt_glwe(const GlweSecretKey& key, std::span<const uint64_t> message, double std_dev,
                  CsprngStream& mask_rng, CsprngStream& noise_rng, GlweCiphertext& out);
// B - Σ A_i·S_i.
void decrypt_glwe_phase(const GlweSecretKey& key, const GlweCiphertext& ct, std::span<uint64_t> out);

// ---- leveled ops (any dimension; all arguments of one dimension) ----
void add_inplace(std::span<uint64_t> acc, std::span<const uint64_t> other);
void sub_inplace(std::span<uint64_t> acc, std::span<const uint64_t> other);
void negate_inplace(std::span<uint64_t> ct);
void add_plain_inplace(std::span<uint64_t> ct, uint64_t mu);
void mul_scalar_inplace(std::span<uint64_t> ct, int64_t w);
// out = Σ w_i · in_i.
void dot_product(const LweCiphertextList& in, std::span<const int64_t> weights, std::span<uint64_t> out);

// ---- key switching and modulus switching ----
// out (dimension n) encrypts under s the phase of in (dimension kN) under S.
void keyswitch(const LweKeyswitchKey& ksk, std::span<const uint64_t> in, std::span<uint64_t> out);
// keyswitch of in[first], …, in[first+count−1] in one pass over the key (each key block read once
// for all of them): out holds count rows of n+1 words, bit for bit keyswitch's.
void keyswitch_many(const LweKeyswitchKey& ksk, const LweCiphertextList& in, uint64_t first, uint64_t count,
                    std::span<uint64_t> out);
// Each of the n+1 words rounded to Z_2N: round(x · 2N / 2^64) mod 2N.
void modulus_switch(std::span<const uint64_t> in, PolynomialSize poly_size, std::span<uint64_t> out);

// ---- lookup tables ----
// The accumulator body for a table of 2^input_bits entries: box of N/2^p coefficients per entry,
// shifted by half a box; entries are torus values (already encoded).
class LookupTable {
 public:
  LookupTable(PolynomialSize n, uint32_t input_bits, std::vector<uint64_t> polynomial)
      : n_(n), input_bits_(input_bits), poly_(std::move(polynomial)) {}
  PolynomialSize polynomial_size() const { return n_; }
  uint32_t input_bits() const { return input_bits_; }
  std::span<const uint64_t> polynomial() const { return poly_; }

 private:
  PolynomialSize n_;
  uint32_t input_bits_;
  std::vector<uint64_t> poly_;
};
// Entries given as torus values (for arbitrary output encodings).
LookupTable make_lookup_table_encoded(std::span<const uint64_t> encoded_entries, uint32_t input_bits,
                                      PolynomialSize poly_size);
// Entries given as integers, encoded for an output precision of output_bits (two's complement
// for negative entries).
LookupTable make_lookup_table(std::span<const int64_t> entries, uint32_t input_bits, uint32_t output_bits,
                              PolynomialSize poly_size);

// ---- bootstrapping ----
// Per-thread working memory for external products, blind rotation and PBS. Its size is
// pbs_scratch_size(params) bytes; nothing is allocated inside the blind rotation.
class PbsScratch {
 public:
  explicit PbsScratch(const ParameterSet& params);
  ~PbsScratch();
  PbsScratch(const PbsScratch&) = delete;
  PbsScratch& operator=(const PbsScratch&) = delete;
  struct Buffers;
  Buffers& buffers() { return *buffers_; }

 private:
  std::unique_ptr<Buffers> buffers_;
};
uint64_t pbs_scratch_size(const ParameterSet& params);

// acc ← acc ⊡ GGSW(i) (external product with bootstrapping-key entry i), in place.
void external_product_inplace(const FourierBootstrapKey& bsk, uint64_t ggsw_index, GlweCiphertext& acc,
                              PbsScratch& scratch);
// acc ← X^(-ms[n]) · acc, then for each i: acc ← CMux(BSK_i, acc, X^(ms[i])·acc).
// ms: the n+1 modulus-switched words (mask then body).
void blind_rotate(const FourierBootstrapKey& bsk, std::span<const uint64_t> ms, GlweCiphertext& acc,
                  PbsScratch& scratch);
// Coefficient 0 of the GLWE as an LWE ciphertext under the flattened key (dimension kN).
void sample_extract(const GlweCiphertext& glwe, std::span<uint64_t> out);
// KS → MS → blind rotation → sample extract. in and out have dimension kN.
void programmable_bootstrap(const EvaluationKeys& keys, std::span<const uint64_t> in, const LookupTable& lut,
                            std::span<uint64_t> out, PbsScratch& scratch);
// Batched PBS on a pool: out[i] = PBS(in[i], luts[lut_index[i]]) (lut_index empty: luts[0]).
// Bit-for-bit equal to the serial form. Each worker takes chunks of up to `width` ciphertexts and
// runs their blind rotations in one pass over the bootstrapping key (each CMux step's key loaded
// once for the chunk); the chunks are balanced over the pool's threads.
inline constexpr uint64_t kMaxPbsBatchWidth = 64;
inline constexpr uint64_t kDefaultMaxPbsBatchWidth = 16;
struct PbsBatchOptions {
  uint64_t width = 0;  // ciphertexts per key pass; 0: pbs_batch_width(params); 1: one at a time
};
void programmable_bootstrap_batch(const EvaluationKeys& keys, const LweCiphertextList& in,
                                  std::span<const LookupTable> luts, std::span<const uint32_t> lut_index,
                                  LweCiphertextList& out, ThreadPool& pool);
void programmable_bootstrap_batch(const EvaluationKeys& keys, const LweCiphertextList& in,
                                  std::span<const LookupTable> luts, std::span<const uint32_t> lut_index,
                                  LweCiphertextList& out, ThreadPool& pool, const PbsBatchOptions& options);
// The default width: as many accumulators as fit next to one CMux step's key and the scratch in
// three quarters of this machine's L2, or next to the key in an eighth of its L3, whichever is
// more, within [2, kDefaultMaxPbsBatchWidth].
uint64_t pbs_batch_width(const ParameterSet& params);

}  // namespace blindml::crypto
