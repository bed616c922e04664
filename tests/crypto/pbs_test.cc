// Programmable bootstrapping, for each precision 1..8: every input value through the identity, a
// random table and a signed function; output encodings of other precisions; the batched form bit
// for bit against the serial one.
#include <gtest/gtest.h>

#include <cmath>
#include <algorithm>
#include <cstdio>

#include "blindml/crypto/algorithms.h"
#include "blindml/crypto/noise.h"
#include "key_cache.h"

using namespace blindml;
using namespace blindml::crypto;
using blindml::crypto::testing::keys_for_bits;
using blindml::crypto::testing::test_pool;

namespace {

struct Check {
  LookupTable lut;
  std::vector<int64_t> expected;  // per input value
  uint32_t output_bits;
  bool output_signed;
  const char* name;
};

// Runs input values of `bits` through each table, batched on the pool, and counts errors: every
// value, or every `stride`-th one (offset by a random start) where a full sweep is too slow for CI.
void run_all_inputs(uint32_t bits, const std::vector<Check>& checks, uint64_t stride = 1) {
  const auto& keys = keys_for_bits(bits);
  const uint64_t all_values = uint64_t{1} << bits;
  const uint64_t values = all_values / stride;
  const uint64_t start = stride > 1 ? CsprngStream(os_seed()).next_u64() % stride : 0;
  const uint64_t total = values * checks.size();
  std::vector<int64_t> messages(total);
  for (uint64_t i = 0; i < total; ++i) messages[i] = static_cast<int64_t>(start + (i % values) * stride);
  auto in = expand_seeded_lwe_list(encrypt_seeded(*keys.client, messages, bits));
  std::vector<LookupTable> luts;
  std::vector<uint32_t> index(total);
  for (const auto& c : checks) luts.push_back(c.lut);
  for (uint64_t i = 0; i < total; ++i) index[i] = static_cast<uint32_t>(i / values);
  LweCiphertextList out(keys.params.big_lwe_dimension(), total);
  programmable_bootstrap_batch(*keys.eval, in, luts, index, out, test_pool());
  for (uint64_t i = 0; i < total; ++i) {
    const Check& c = checks[index[i]];
    const int64_t got = decrypt(*keys.client, out.at(i), c.output_bits, c.output_signed);
    EXPECT_EQ(got, c.expected[messages[i]]) << c.name << ", " << bits << "-bit input " << messages[i];
  }
}

class PbsEveryPrecision : public ::testing::TestWithParam<uint32_t> {};

TEST_P(PbsEveryPrecision, IdentityRandomTableAndSignedFunctionOnEveryInput) {
  const uint32_t bits = GetParam();
  const auto& p = keys_for_bits(bits).params;
  const int64_t values = int64_t{1} << bits;
  CsprngStream rng(os_seed());
  std::vector<int64_t> identity(values), random(values), signed_fn(values);
  for (int64_t m = 0; m < values; ++m) {
    identity[m] = m;
    random[m] = static_cast<int64_t>(rng.next_u64() % static_cast<uint64_t>(values));
    // A signed function of the input read as two's complement: f(x) = -x/2 - 1 (fits in p bits).
    const int64_t x = m >= values / 2 ? m - values : m;
    signed_fn[m] = -(x / 2) - 1;
  }
  std::vector<Check> checks = {
      {make_lookup_table(identity, bits, bits, p.polynomial_size), identity, bits, false, "identity"},
      {make_lookup_table(random, bits, bits, p.polynomial_size), random, bits, false, "random table"},
      {make_lookup_table(signed_fn, bits, bits, p.polynomial_size), signed_fn, bits, true, "signed function"},
  };
  run_all_inputs(bits, checks);
}

TEST_P(PbsEveryPrecision, OutputEncodingsOfOtherPrecisions) {
  const uint32_t bits = GetParam();
  const auto& p = keys_for_bits(bits).params;
  const int64_t values = int64_t{1} << bits;
  std::vector<Check> checks;
  // Narrower output (requantization: keep the top bit) and wider output (3·x in a wider encoding).
  std::vector<int64_t> top_bit(values);
  for (int64_t m = 0; m < values; ++m) top_bit[m] = m >> (bits - 1);
  checks.push_back({make_lookup_table(top_bit, bits, 1, p.polynomial_size), top_bit, 1, false, "to 1 bit"});
  // A wider output is exact only where the PBS output noise leaves room for it: a parameter set is
  // sized for its own precision, so decoding its output at bits+2 spends two bits of margin. Take
  // the widest of bits+2, bits+1 whose predicted error rate stays within the 2^-40 target (7-bit
  // parameters have no such room: their PBS output would read wrong at 9 bits about 1 time in 300).
  const double out_var = pbs_variance(p);
  uint32_t wide = 0;
  for (uint32_t w : {bits + 2, bits + 1})
    if (wide == 0 && error_probability(w, out_var) <= std::ldexp(1.0, -40)) wide = w;
  std::printf("%u-bit parameters: PBS output std 2^%.2f; wider output: %s\n", bits, 0.5 * std::log2(out_var),
              wide ? (std::to_string(wide) + " bits").c_str() : "none within 2^-40");
  if (wide != 0) {
    std::vector<int64_t> wider(values);
    for (int64_t m = 0; m < values; ++m) wider[m] = (3 * m) % (int64_t{1} << wide);
    checks.push_back({make_lookup_table(wider, bits, wide, p.polynomial_size), wider, wide, false,
                      wide == bits + 2 ? "to bits+2" : "to bits+1"});
  }
  // Every input up to 6 bits; a quarter (7 bits) or an eighth (8 bits) of them above, where each
  // bootstrap costs a tenth of a second or more (the full sweep of the test above covers them all).
  run_all_inputs(bits, checks, bits <= 6 ? 1 : (bits == 7 ? 4 : 8));
}

INSTANTIATE_TEST_SUITE_P(Bits, PbsEveryPrecision, ::testing::Range(1u, 9u),
                         [](const auto& info) { return std::to_string(info.param) + "bit"; });

TEST(PbsBatch, BitForBitEqualToSerial) {
  const auto& keys = keys_for_bits(3);
  const auto& p = keys.params;
  std::vector<int64_t> messages = {0, 1, 2, 3, 4, 5, 6, 7, 7, 0, 3};
  auto in = expand_seeded_lwe_list(encrypt_seeded(*keys.client, messages, 3));
  std::vector<int64_t> table = {3, 1, 4, 1, 5, 2, 6, 5};
  std::vector<LookupTable> luts = {make_lookup_table(table, 3, 3, p.polynomial_size)};
  LweCiphertextList batched(p.big_lwe_dimension(), messages.size());
  programmable_bootstrap_batch(*keys.eval, in, luts, {}, batched, test_pool());
  PbsScratch scratch(p);
  for (size_t i = 0; i < messages.size(); ++i) {
    LweCiphertext serial(p.big_lwe_dimension());
    programmable_bootstrap(*keys.eval, in.at(i), luts[0], serial.data(), scratch);
    EXPECT_TRUE(std::equal(serial.data().begin(), serial.data().end(), batched.at(i).begin())) << i;
    EXPECT_EQ(decrypt(*keys.client, serial.data(), 3, false), table[messages[i]]);
  }
}

// The one-key-pass batches (chunks of `width` blind rotations key step by key step) against the
// serial form, bit for bit, over several precisions, widths (1: one at a time; widths that leave a
// ragged last chunk; the default from the cache size), pools of 1 and 2 threads, and two tables
// interleaved; every output also decrypts to the table's entry.
TEST(PbsBatch, OneKeyPassBitForBitEqualToSerialAcrossWidths) {
  ThreadPool one(1), two(2);
  for (uint32_t bits : {1u, 3u, 4u}) {
    const auto& keys = keys_for_bits(bits);
    const auto& p = keys.params;
    const int64_t values = int64_t{1} << bits;
    const uint64_t count = 13;
    std::vector<int64_t> messages(count);
    for (uint64_t i = 0; i < count; ++i) messages[i] = static_cast<int64_t>((5 * i + 3) % values);
    auto in = expand_seeded_lwe_list(encrypt_seeded(*keys.client, messages, bits));
    std::vector<int64_t> t0(values), t1(values);
    for (int64_t m = 0; m < values; ++m) {
      t0[m] = (m * 7 + 1) % values;
      t1[m] = values - 1 - m;
    }
    std::vector<LookupTable> luts = {make_lookup_table(t0, bits, bits, p.polynomial_size),
                                     make_lookup_table(t1, bits, bits, p.polynomial_size)};
    std::vector<uint32_t> index(count);
    for (uint64_t i = 0; i < count; ++i) index[i] = static_cast<uint32_t>(i % 3 == 1);
    // The serial reference.
    PbsScratch scratch(p);
    LweCiphertextList serial(p.big_lwe_dimension(), count);
    for (uint64_t i = 0; i < count; ++i) {
      programmable_bootstrap(*keys.eval, in.at(i), luts[index[i]], serial.at(i), scratch);
      const auto& table = index[i] ? t1 : t0;
      ASSERT_EQ(decrypt(*keys.client, serial.at(i), bits, false), table[messages[i]]) << bits << "-bit, " << i;
    }
    for (uint64_t width : {uint64_t{1}, uint64_t{2}, uint64_t{5}, uint64_t{13}, uint64_t{0}}) {
      for (ThreadPool* pool : {&one, &two}) {
        LweCiphertextList batched(p.big_lwe_dimension(), count);
        programmable_bootstrap_batch(*keys.eval, in, luts, index, batched, *pool, PbsBatchOptions{width});
        for (uint64_t i = 0; i < count; ++i)
          EXPECT_TRUE(std::equal(serial.at(i).begin(), serial.at(i).end(), batched.at(i).begin()))
              << bits << "-bit, width " << width << ", " << pool->size() << " threads, ciphertext " << i;
      }
    }
  }
}

TEST(PbsBatch, DefaultWidthFitsTheCacheAndIsClamped) {
  for (const auto& p : named_parameter_sets()) {
    const uint64_t w = pbs_batch_width(p);
    EXPECT_GE(w, 2u) << p.name;
    EXPECT_LE(w, kDefaultMaxPbsBatchWidth) << p.name;
  }
  // An empty batch is a no-op, a width beyond the maximum is clamped (not an allocation of it).
  const auto& keys = keys_for_bits(1);
  std::vector<LookupTable> luts = {make_lookup_table(std::vector<int64_t>{1, 0}, 1, 1, keys.params.polynomial_size)};
  LweCiphertextList none(keys.params.big_lwe_dimension(), 0), none_out(keys.params.big_lwe_dimension(), 0);
  programmable_bootstrap_batch(*keys.eval, none, luts, {}, none_out, test_pool());
  auto in = expand_seeded_lwe_list(encrypt_seeded(*keys.client, std::vector<int64_t>{0, 1, 1}, 1));
  LweCiphertextList out(keys.params.big_lwe_dimension(), 3);
  programmable_bootstrap_batch(*keys.eval, in, luts, {}, out, test_pool(), PbsBatchOptions{uint64_t{1} << 40});
  EXPECT_EQ(decrypt(*keys.client, out.at(0), 1, false), 1);
  EXPECT_EQ(decrypt(*keys.client, out.at(1), 1, false), 0);
  EXPECT_EQ(decrypt(*keys.client, out.at(2), 1, false), 0);
}

TEST(Pbs, ChainedLookupsAfterLeveledOps) {
  // PBS output → leveled sum → PBS: the input noise of the second PBS is a PBS output's.
  const auto& keys = keys_for_bits(4);
  const auto& p = keys.params;
  PbsScratch scratch(p);
  std::vector<int64_t> half(16), square_mod(16);
  for (int m = 0; m < 16; ++m) {
    half[m] = m / 2;
    square_mod[m] = (m * m) % 16;
  }
  auto lut_half = make_lookup_table(half, 4, 4, p.polynomial_size);
  auto lut_sq = make_lookup_table(square_mod, 4, 4, p.polynomial_size);
  for (int a = 0; a < 16; a += 5) {
    auto ct = encrypt(*keys.client, a, 4);
    LweCiphertext h(p.big_lwe_dimension()), s(p.big_lwe_dimension());
    programmable_bootstrap(*keys.eval, ct.data(), lut_half, h.data(), scratch);
    mul_scalar_inplace(h.data(), 2);  // 2·(a/2), leveled
    programmable_bootstrap(*keys.eval, h.data(), lut_sq, s.data(), scratch);
    const int64_t twice = 2 * (a / 2);
    EXPECT_EQ(decrypt(*keys.client, s.data(), 4, false), (twice * twice) % 16) << a;
  }
}

TEST(Pbs, CiphertextOfAnotherKeyDoesNotDecrypt) {
  const auto& keys = keys_for_bits(2);
  auto other = ClientKey::generate(keys.params).value();
  int same = 0;
  for (int i = 0; i < 20; ++i) {
    auto ct = encrypt(other, 1, 2);
    same += decrypt(*keys.client, ct.data(), 2, false) == 1;
  }
  EXPECT_LT(same, 20);
}

}  // namespace
