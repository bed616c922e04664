#include <gtest/gtest.h>
#include <cstdio>
#include <cmath>
#include "blindml/crypto/algorithms.h"
#include "internal/fft.h"
using namespace blindml::crypto;

TEST(Debug, Pieces) {
  auto p = parameters_for_bits(4).value();
  auto ck = ClientKey::generate(p).value();
  const uint64_t N = p.polynomial_size.value;
  // GLWE round trip
  CsprngStream m(os_seed()), nz(os_seed());
  GlweCiphertext g(p.glwe_dimension, p.polynomial_size);
  std::vector<uint64_t> msg(N);
  for (uint64_t i = 0; i < N; ++i) msg[i] = encode_message(i % 16, 4);
  encrypt_glwe(ck.glwe_key(), msg, std::exp2(p.glwe_noise_log2_std), m, nz, g);
  std::vector<uint64_t> ph(N);
  decrypt_glwe_phase(ck.glwe_key(), g, ph);
  int bad = 0;
  for (uint64_t i = 0; i < N; ++i) bad += decode_message(ph[i], 4, false) != (int64_t)(i % 16);
  EXPECT_EQ(bad, 0) << "glwe";
  // sample extract
  LweCiphertext l(p.big_lwe_dimension());
  sample_extract(g, l.data());
  EXPECT_EQ(decrypt(ck, l.data(), 4, false), 0);
  // keyswitch
  auto sk = generate_seeded_evaluation_keys(ck);
  auto ek = expand_evaluation_keys(sk);
  for (int v = 0; v < 16; ++v) {
    auto ct = encrypt(ck, v, 4);
    LweCiphertext o(p.lwe_dimension);
    keyswitch(ek.keyswitch_key(), ct.data(), o.data());
    EXPECT_EQ(decode_message(decrypt_lwe_phase(ck.lwe_key().bits(), o.data()), 4, false), v) << "ks";
  }
  // external product with GGSW(s_0)
  PbsScratch scr(p);
  GlweCiphertext g2 = g;
  external_product_inplace(ek.bootstrap_key(), 0, g2, scr);
  decrypt_glwe_phase(ck.glwe_key(), g2, ph);
  uint64_t s0 = ck.lwe_key().bits()[0];
  bad = 0;
  for (uint64_t i = 0; i < N; ++i) bad += decode_message(ph[i], 4, false) != (int64_t)(s0 * (i % 16));
  EXPECT_EQ(bad, 0) << "extprod s0=" << s0;
  // FFT exactness on small ints
  const auto& fft = internal::NegacyclicFft::get(N);
  std::vector<int64_t> a(N), b(N);
  for (uint64_t i = 0; i < N; ++i) { a[i] = (int64_t)(i % 7) - 3; b[i] = (int64_t)(i % 5) - 2; }
  AlignedF64 fa(N), fb(N), prod(N);
  fft.forward_i64(a.data(), fa.data()); fft.forward_i64(b.data(), fb.data());
  internal::spectrum_mul(prod.data(), fa.data(), fb.data(), N);
  std::vector<uint64_t> res(N, 0);
  fft.backward_add_torus(prod.data(), res.data());
  std::vector<int64_t> ref(N, 0);
  for (uint64_t i = 0; i < N; ++i) for (uint64_t j = 0; j < N; ++j) {
    uint64_t k = i + j; if (k < N) ref[k] += a[i]*b[j]; else ref[k-N] -= a[i]*b[j]; }
  bad = 0;
  for (uint64_t i = 0; i < N; ++i) bad += (int64_t)res[i] != ref[i];
  EXPECT_EQ(bad, 0) << "fft " << res[0] << " " << ref[0] << " " << res[5] << " " << ref[5];
}
