// Measured noise against the formulas of shared/crypto.md (src/crypto/noise.cc): fresh
// encryption, key switching, modulus switching and PBS output must agree within a factor of 2;
// and a reduced-margin stress test whose observed failure rate must match the predicted one.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "blindml/crypto/algorithms.h"
#include "blindml/crypto/noise.h"
#include "key_cache.h"

using namespace blindml;
using namespace blindml::crypto;
using blindml::crypto::testing::keys_for_bits;
using blindml::crypto::testing::test_pool;

namespace {

double torus_signed(uint64_t x) { return static_cast<double>(static_cast<int64_t>(x)) * 0x1.0p-64; }

struct Moments {
  double sum = 0, sum_sq = 0;
  uint64_t count = 0;
  void add(double x) {
    sum += x;
    sum_sq += x * x;
    ++count;
  }
  double mean() const { return sum / count; }
  double variance() const { return sum_sq / count - mean() * mean(); }
};

void expect_close(const char* what, const char* set, double measured, double predicted, uint64_t samples) {
  std::printf("noise %-18s %-20s measured 2^%7.2f  formula 2^%7.2f  ratio %.3f  (%llu samples)\n", what, set,
              std::log2(measured), std::log2(predicted), measured / predicted,
              static_cast<unsigned long long>(samples));
  EXPECT_GT(measured, predicted / 2) << what << " " << set;
  EXPECT_LT(measured, predicted * 2) << what << " " << set;
}

class NoisePerSet : public ::testing::TestWithParam<uint32_t> {};

TEST_P(NoisePerSet, FreshEncryption) {
  const auto& keys = keys_for_bits(GetParam());
  const auto& p = keys.params;
  CsprngStream mask(os_seed()), noise(os_seed());
  Moments big, small;
  std::vector<uint64_t> ct_big(p.big_lwe_dimension().value + 1), ct_small(p.lwe_dimension.value + 1);
  for (int i = 0; i < 4000; ++i) {
    encrypt_lwe(keys.client->big_lwe_key(), 0, std::exp2(p.glwe_noise_log2_std), mask, noise, ct_big);
    big.add(torus_signed(decrypt_lwe_phase(keys.client->big_lwe_key(), ct_big)));
    encrypt_lwe(keys.client->lwe_key().bits(), 0, std::exp2(p.lwe_noise_log2_std), mask, noise, ct_small);
    small.add(torus_signed(decrypt_lwe_phase(keys.client->lwe_key().bits(), ct_small)));
  }
  // σ_glwe of the large sets is 4 on the 2^64 scale: rounding to integers adds 1/12.
  expect_close("fresh (big key)", p.name, big.variance(),
               variance_from_log2_std(p.glwe_noise_log2_std) + std::exp2(-128.0) / 12.0, big.count);
  expect_close("fresh (small key)", p.name, small.variance(), variance_from_log2_std(p.lwe_noise_log2_std),
               small.count);
}

TEST_P(NoisePerSet, KeySwitchingAndModulusSwitching) {
  const auto& keys = keys_for_bits(GetParam());
  const auto& p = keys.params;
  const uint64_t samples = 1500;
  std::vector<int64_t> zeros(samples, 0);
  auto in = expand_seeded_lwe_list(encrypt_seeded(*keys.client, zeros, 1));
  LweCiphertextList out(p.lwe_dimension, samples);
  test_pool().parallel_for(samples, [&](size_t i, size_t) { keyswitch(keys.eval->keyswitch_key(), in.at(i), out.at(i)); });
  Moments ks, ms;
  const uint64_t two_n = 2 * p.polynomial_size.value;
  std::vector<uint64_t> switched(p.lwe_dimension.value + 1);
  for (uint64_t i = 0; i < samples; ++i) {
    const uint64_t phase = decrypt_lwe_phase(keys.client->lwe_key().bits(), out.at(i));
    ks.add(torus_signed(phase));
    // Modulus switching: the phase computed in Z_2N minus the phase rounded from Z_2^64.
    modulus_switch(out.at(i), p.polynomial_size, switched);
    uint64_t ms_phase = switched.back();
    for (uint64_t j = 0; j < p.lwe_dimension.value; ++j) ms_phase -= switched[j] * keys.client->lwe_key().bits()[j];
    ms_phase &= two_n - 1;
    double ms_torus = static_cast<double>(ms_phase) / static_cast<double>(two_n);
    if (ms_torus >= 0.5) ms_torus -= 1.0;
    ms.add(ms_torus - torus_signed(phase));
  }
  const double predicted_ks = variance_from_log2_std(p.glwe_noise_log2_std) +
                              keyswitch_variance(p.big_lwe_dimension().value, p.ks_base_log, p.ks_level_count,
                                                 variance_from_log2_std(p.lwe_noise_log2_std)) +
                              keyswitch_truncation_variance(p.big_lwe_dimension().value, p.ks_base_log,
                                                            p.ks_level_count);
  expect_close("key switching", p.name, ks.variance(), predicted_ks, ks.count);
  expect_close("modulus switching", p.name, ms.variance(), modulus_switch_variance(p.lwe_dimension, p.polynomial_size),
               ms.count);
}

TEST_P(NoisePerSet, PbsOutput) {
  const auto& keys = keys_for_bits(GetParam());
  const auto& p = keys.params;
  const uint64_t N = p.polynomial_size.value;
  // Blind rotation of an identity table: after it, the accumulator must be X^(-φ)·LUT exactly,
  // with φ the modulus-switched phase (computed here with the secret key); every coefficient's
  // deviation is output noise (sample extraction copies one coefficient and adds none), so each
  // rotation gives N samples.
  const uint64_t rotations = std::max<uint64_t>(4, 40000 / N);
  std::vector<int64_t> identity(8);
  for (int i = 0; i < 8; ++i) identity[i] = i;
  const auto lut = make_lookup_table(identity, 3, 3, p.polynomial_size);
  std::vector<Moments> per(rotations);
  test_pool().parallel_for(rotations, [&](size_t r, size_t) {
    PbsScratch scratch(p);
    auto ct = encrypt(*keys.client, static_cast<int64_t>(r % 8), 3);
    std::vector<uint64_t> small(p.lwe_dimension.value + 1), ms(p.lwe_dimension.value + 1);
    keyswitch(keys.eval->keyswitch_key(), ct.data(), small);
    modulus_switch(small, p.polynomial_size, ms);
    uint64_t phi = ms.back();
    for (uint64_t j = 0; j < p.lwe_dimension.value; ++j) phi -= ms[j] * keys.client->lwe_key().bits()[j];
    phi &= 2 * N - 1;
    GlweCiphertext acc(p.glwe_dimension, p.polynomial_size);
    std::copy(lut.polynomial().begin(), lut.polynomial().end(), acc.body().begin());
    blind_rotate(keys.eval->bootstrap_key(), ms, acc, scratch);
    std::vector<uint64_t> phase(N);
    decrypt_glwe_phase(keys.client->glwe_key(), acc, phase);
    // expected = X^(-φ)·LUT: coefficient j is LUT[j + φ] with a sign flip per wrap past N.
    for (uint64_t j = 0; j < N; ++j) {
      const uint64_t idx = (j + phi) % (2 * N);
      const uint64_t want = idx < N ? lut.polynomial()[idx] : 0 - lut.polynomial()[idx - N];
      per[r].add(torus_signed(phase[j] - want));
    }
  });
  Moments all;
  for (const auto& m : per) {
    all.sum += m.sum;
    all.sum_sq += m.sum_sq;
    all.count += m.count;
  }
  expect_close("PBS output", p.name, all.variance(), pbs_variance(p), all.count);
}

INSTANTIATE_TEST_SUITE_P(Bits, NoisePerSet, ::testing::Values(2u, 4u, 5u),
                         [](const auto& info) { return std::to_string(info.param) + "bit"; });

// Enlarged input noise puts the predicted per-PBS failure rate near 5e-3; over 4000 bootstraps
// the observed count must lie within [0.4, 2.2] × the expectation (a Poisson(20) count falls
// outside with probability < 1e-3).
TEST(FailureRate, ObservedMatchesPredictedUnderReducedMargin) {
  const uint32_t bits = 2;
  const auto& keys = keys_for_bits(bits);
  const auto& p = keys.params;
  const double target = 5e-3;
  // erfc(x/√2) = target → x; σ_tot = Δ/(2x).
  double lo = 0, hi = 10;
  for (int i = 0; i < 200; ++i) {
    double mid = (lo + hi) / 2;
    (std::erfc(mid / std::sqrt(2.0)) > target ? lo : hi) = mid;
  }
  const double delta = std::exp2(63.0 - bits) * 0x1.0p-64;
  const double total_var = (delta / (2 * hi)) * (delta / (2 * hi));
  const double base_var = pbs_input_total_variance(p, variance_from_log2_std(p.glwe_noise_log2_std));
  ASSERT_LT(base_var, total_var);
  const double add_std = std::sqrt(total_var - base_var) * 0x1.0p64;
  const double predicted = error_probability(bits, pbs_input_total_variance(
                                                       p, variance_from_log2_std(p.glwe_noise_log2_std) +
                                                              (add_std * 0x1.0p-64) * (add_std * 0x1.0p-64)));
  const uint64_t trials = 4000;
  std::vector<int64_t> messages(trials);
  for (uint64_t i = 0; i < trials; ++i) messages[i] = static_cast<int64_t>(i % 4);
  auto in = expand_seeded_lwe_list(encrypt_seeded(*keys.client, messages, bits));
  CsprngStream noise(os_seed());
  for (uint64_t i = 0; i < trials; ++i) in.at(i).back() += noise.gaussian(add_std);
  std::vector<int64_t> identity = {0, 1, 2, 3};
  std::vector<LookupTable> luts = {make_lookup_table(identity, bits, bits, p.polynomial_size)};
  LweCiphertextList out(p.big_lwe_dimension(), trials);
  programmable_bootstrap_batch(*keys.eval, in, luts, {}, out, test_pool());
  uint64_t failures = 0;
  for (uint64_t i = 0; i < trials; ++i) failures += decrypt(*keys.client, out.at(i), bits, false) != messages[i];
  const double expected = predicted * trials;
  std::printf("failure rate: predicted %.2e (%.1f of %llu), observed %llu (%.2e)\n", predicted, expected,
              static_cast<unsigned long long>(trials), static_cast<unsigned long long>(failures),
              static_cast<double>(failures) / trials);
  EXPECT_GE(static_cast<double>(failures), 0.4 * expected);
  EXPECT_LE(static_cast<double>(failures), 2.2 * expected);
}

}  // namespace
