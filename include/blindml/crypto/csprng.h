// Randomness (shared/crypto.md, "Randomness").
//
// - Seed: 128 bits that key an AES-128-CTR keystream (OpenSSL's AES, hardware accelerated).
// - CsprngStream: the deterministic keystream of a seed, from any 16-byte block offset. Masks of
//   seeded ciphertexts and keys come from such a stream, so the receiver regenerates them exactly.
// - os_seed(): 128 bits from OpenSSL's RAND_bytes (seeded by the operating system). Secret keys
//   and noise come from streams keyed by os_seed(), never from a seed that leaves the client.
// - Gaussian noise: Box-Muller on 53-bit uniforms from the stream, rounded to the integer grid.
//
// Thread safety: a CsprngStream is not thread-safe; give each thread its own.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

namespace blindml::crypto {

using Seed = std::array<uint8_t, 16>;

Seed os_seed();

class CsprngStream {
 public:
  // Keystream of seed, starting at the given 16-byte block.
  explicit CsprngStream(const Seed& seed, uint64_t block_offset = 0);
  ~CsprngStream();
  CsprngStream(const CsprngStream&) = delete;
  CsprngStream& operator=(const CsprngStream&) = delete;

  void fill_bytes(std::span<uint8_t> out);
  // Uniform 64-bit words (torus elements).
  void fill_uniform(std::span<uint64_t> out);
  uint64_t next_u64();
  // Uniform double in [0, 1) with 53 random bits.
  double next_unit();
  // Uniform bits {0,1}.
  void fill_binary(std::span<uint64_t> out);
  // Adds round(N(0, σ²)) (σ on the 2^64 scale) to each word, wrapping mod 2^64.
  void add_gaussian(std::span<uint64_t> inout, double std_dev);
  uint64_t gaussian(double std_dev);

 private:
  void refill();
  void* ctx_;  // EVP_CIPHER_CTX
  std::vector<uint8_t> buffer_;
  size_t pos_;
};

// The number of 16-byte blocks a stream consumes for count 64-bit words (for block offsets).
constexpr uint64_t blocks_for_words(uint64_t count) { return (count + 1) / 2; }

}  // namespace blindml::crypto
