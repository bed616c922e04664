#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>

#include "blindml/crypto/algorithms.h"

using namespace blindml::crypto;

TEST(Smoke, Pbs4) {
  auto p = parameters_for_bits(4).value();
  auto ck = ClientKey::generate(p);
  ASSERT_TRUE(ck.ok()) << ck.status().to_string();
  auto t0 = std::chrono::steady_clock::now();
  auto sk = generate_seeded_evaluation_keys(*ck);
  auto t1 = std::chrono::steady_clock::now();
  auto ek = expand_evaluation_keys(sk);
  auto t2 = std::chrono::steady_clock::now();
  std::printf("keygen %.1f ms expand %.1f ms\n", std::chrono::duration<double, std::milli>(t1 - t0).count(),
              std::chrono::duration<double, std::milli>(t2 - t1).count());
  std::vector<int64_t> table(16);
  for (int i = 0; i < 16; ++i) table[i] = (i * 3 + 1) % 16;
  auto lut = make_lookup_table(table, 4, 4, p.polynomial_size);
  PbsScratch scratch(p);
  for (int m = 0; m < 16; ++m) {
    auto ct = encrypt(*ck, m, 4);
    EXPECT_EQ(decrypt(*ck, ct.data(), 4, false), m);
    LweCiphertext out(p.big_lwe_dimension());
    auto a = std::chrono::steady_clock::now();
    programmable_bootstrap(ek, ct.data(), lut, out.data(), scratch);
    auto b = std::chrono::steady_clock::now();
    EXPECT_EQ(decrypt(*ck, out.data(), 4, false), table[m]) << m;
    std::printf("pbs %.2f ms\n", std::chrono::duration<double, std::milli>(b - a).count());
  }
}
