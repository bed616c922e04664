// Every message of every precision 1..8 through encryption and decryption, plain and seeded, and
// the leveled operations on ciphertexts.
#include <gtest/gtest.h>

#include "blindml/crypto/algorithms.h"

using namespace blindml::crypto;

namespace {

class EveryPrecision : public ::testing::TestWithParam<uint32_t> {};

TEST_P(EveryPrecision, EveryMessageRoundTrips) {
  const uint32_t bits = GetParam();
  auto params = parameters_for_bits(bits).value();
  auto key = ClientKey::generate(params).value();
  for (int64_t m = 0; m < (int64_t{1} << bits); ++m) {
    auto ct = encrypt(key, m, bits);
    ASSERT_EQ(decrypt(key, ct.data(), bits, false), m) << "bits " << bits;
  }
  // Signed messages use the same encoding (two's complement modulo the padding bit).
  for (int64_t m = -(int64_t{1} << (bits - 1)); m < (int64_t{1} << (bits - 1)); ++m) {
    auto ct = encrypt(key, m, bits);
    ASSERT_EQ(decrypt(key, ct.data(), bits, true), m) << "bits " << bits;
  }
}

TEST_P(EveryPrecision, SeededListRoundTripsAndRegeneratesTheMask) {
  const uint32_t bits = GetParam();
  auto params = parameters_for_bits(bits).value();
  auto key = ClientKey::generate(params).value();
  std::vector<int64_t> messages;
  for (int64_t m = 0; m < (int64_t{1} << bits); ++m) messages.push_back(m);
  auto seeded = encrypt_seeded(key, messages, bits);
  ASSERT_EQ(seeded.count(), messages.size());
  auto list = expand_seeded_lwe_list(seeded);
  for (size_t i = 0; i < messages.size(); ++i) EXPECT_EQ(decrypt(key, list.at(i), bits, false), messages[i]);
  // Another seed gives another mask: the bodies alone do not decrypt. 64 ciphertexts, so that
  // chance agreement (probability 2^-(bits+1) each) on all of them is out of the question.
  std::vector<int64_t> many(64);
  for (size_t i = 0; i < many.size(); ++i) many[i] = static_cast<int64_t>(i % (uint64_t{1} << bits));
  auto good = encrypt_seeded(key, many, bits);
  SeededLweCiphertextList wrong_seed(good.dimension(), os_seed(),
                                     std::vector<uint64_t>(good.bodies().begin(), good.bodies().end()));
  auto wrong = expand_seeded_lwe_list(wrong_seed);
  int same = 0;
  for (size_t i = 0; i < many.size(); ++i) same += decrypt(key, wrong.at(i), bits, false) == many[i];
  EXPECT_LT(same, static_cast<int>(many.size()));
}

INSTANTIATE_TEST_SUITE_P(Bits, EveryPrecision, ::testing::Range(1u, 9u));

TEST(Leveled, AddSubNegateScalarAndDotProduct) {
  const uint32_t bits = 6;
  auto params = parameters_for_bits(4).value();  // any key; the encoding is what matters here
  auto key = ClientKey::generate(params).value();
  auto a = encrypt(key, 5, bits);
  auto b = encrypt(key, 3, bits);
  auto sum = a;
  add_inplace(sum.data(), b.data());
  EXPECT_EQ(decrypt(key, sum.data(), bits, false), 8);
  auto diff = a;
  sub_inplace(diff.data(), b.data());
  EXPECT_EQ(decrypt(key, diff.data(), bits, false), 2);
  auto neg = b;
  negate_inplace(neg.data());
  EXPECT_EQ(decrypt(key, neg.data(), bits, true), -3);
  auto plain = a;
  add_plain_inplace(plain.data(), encode_message(7, bits));
  EXPECT_EQ(decrypt(key, plain.data(), bits, false), 12);
  auto scaled = b;
  mul_scalar_inplace(scaled.data(), -4);
  EXPECT_EQ(decrypt(key, scaled.data(), bits, true), -12);

  // Dot product of 30 inputs with small signed weights.
  std::vector<int64_t> xs, ws;
  LweCiphertextList list(params.big_lwe_dimension(), 30);
  int64_t expected = 0;
  for (int i = 0; i < 30; ++i) {
    xs.push_back(i % 4);
    ws.push_back((i % 3) - 1);
    expected += xs.back() * ws.back();
    auto ct = encrypt(key, xs.back(), bits);
    std::copy(ct.data().begin(), ct.data().end(), list.at(i).begin());
  }
  LweCiphertext out(params.big_lwe_dimension());
  dot_product(list, ws, out.data());
  EXPECT_EQ(decrypt(key, out.data(), bits, true), expected);
}

TEST(Decode, RoundsToNearestMultipleOfDelta) {
  const uint32_t bits = 3;
  const uint64_t delta = delta_for_bits(bits);
  EXPECT_EQ(decode_message(5 * delta + delta / 2 - 1, bits, false), 5);
  EXPECT_EQ(decode_message(5 * delta + delta / 2, bits, false), 6);
  EXPECT_EQ(decode_message(0 - delta / 3, bits, false), 0);
  EXPECT_EQ(decode_message(0 - delta, bits, true), -1);
  EXPECT_EQ(decode_message(0 - delta, bits, false), 15);  // padding bit set: value 2^(p+1) - 1
}

}  // namespace

TEST(ClientKeyGeneration, RefusesAnInsecureSet) {
  auto p = parameters_for_bits(4).value();
  p.lwe_noise_log2_std = min_secure_log2_std(p.lwe_dimension.value) - 1.0;
  auto key = ClientKey::generate(p);
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.status().code(), blindml::StatusCode::kNonConformant);
}
