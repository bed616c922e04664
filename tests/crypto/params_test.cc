// The named parameter sets against the security line and the error-probability target, and the
// security check's refusals.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "blindml/crypto/noise.h"
#include "blindml/crypto/params.h"

using namespace blindml;
using namespace blindml::crypto;

namespace {

TEST(Curve, MatchesPublishedPoints) {
  // Points given in shared/crypto.md from concrete-security-curves (λ = 128, q = 2^64).
  EXPECT_NEAR(min_secure_log2_std(742), 47.6, 0.05);
  EXPECT_NEAR(min_secure_log2_std(918), 43.1, 0.05);
  EXPECT_NEAR(min_secure_log2_std(2048), 14.05, 0.05);
  EXPECT_DOUBLE_EQ(min_secure_log2_std(4096), 2.0);  // floor: σ = 4 on the 2^64 scale
}

TEST(NamedSets, OnePerPrecisionAllSecureWithMarginAndBelowTargetErrorProbability) {
  ASSERT_EQ(named_parameter_sets().size(), 8u);
  std::printf("%-20s %4s %5s %2s %6s %10s %10s %8s %8s %10s\n", "set", "bits", "n", "k", "N", "pbs", "ks",
              "lwe_mgn", "glwe_mgn", "log2 perr");
  for (uint32_t bits = 1; bits <= 8; ++bits) {
    auto p = parameters_for_bits(bits).value();
    EXPECT_EQ(p.message_bits, bits);
    EXPECT_TRUE(check_security(p).ok()) << check_security(p).to_string();
    const double lwe_margin = security_margin_bits(p.lwe_dimension.value, p.lwe_noise_log2_std);
    const double glwe_margin = security_margin_bits(p.big_lwe_dimension().value, p.glwe_noise_log2_std);
    EXPECT_GE(lwe_margin, 1.0) << p.name;
    EXPECT_GE(glwe_margin, 1.0) << p.name;
    const double log2_perr = log2_pbs_error_probability(p, kDefaultSquaredNorm);
    EXPECT_LE(log2_perr, kDefaultLog2ErrorProbability) << p.name;
    // The lookup table must have at least one coefficient per half box.
    EXPECT_GE(p.polynomial_size.value, uint64_t{2} << bits);
    std::printf("%-20s %4u %5llu %2llu %6llu %6s2^%llux%llu 2^%llux%llu %8.2f %8.2f %10.1f\n", p.name, bits,
                static_cast<unsigned long long>(p.lwe_dimension.value),
                static_cast<unsigned long long>(p.glwe_dimension.value),
                static_cast<unsigned long long>(p.polynomial_size.value), "",
                static_cast<unsigned long long>(p.pbs_base_log.value),
                static_cast<unsigned long long>(p.pbs_level_count.value),
                static_cast<unsigned long long>(p.ks_base_log.value),
                static_cast<unsigned long long>(p.ks_level_count.value), lwe_margin, glwe_margin, log2_perr);
  }
  EXPECT_FALSE(parameters_for_bits(0).ok());
  EXPECT_FALSE(parameters_for_bits(9).ok());
}

TEST(SecurityCheck, RejectsTooLittleNoiseForTheDimension) {
  auto p = parameters_for_bits(4).value();
  ParameterSet weak = p;
  weak.lwe_noise_log2_std = min_secure_log2_std(p.lwe_dimension.value) - 0.5;
  Status s = check_security(weak);
  EXPECT_EQ(s.code(), StatusCode::kNonConformant);
  EXPECT_NE(s.message().find("LWE"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("128-bit"), std::string::npos) << s.message();

  ParameterSet weak_glwe = p;
  weak_glwe.glwe_noise_log2_std = min_secure_log2_std(p.big_lwe_dimension().value) - 1.0;
  s = check_security(weak_glwe);
  EXPECT_EQ(s.code(), StatusCode::kNonConformant);
  EXPECT_NE(s.message().find("GLWE"), std::string::npos) << s.message();

  ParameterSet small = p;
  small.lwe_dimension = LweDimension(256);
  EXPECT_EQ(check_security(small).code(), StatusCode::kNonConformant);
}

TEST(SecurityCheck, RejectsMalformedStructure) {
  auto p = parameters_for_bits(4).value();
  ParameterSet bad = p;
  bad.polynomial_size = PolynomialSize(3000);
  EXPECT_EQ(check_structure(bad).code(), StatusCode::kNonConformant);
  bad = p;
  bad.pbs_base_log = DecompBaseLog(30);
  bad.pbs_level_count = DecompLevelCount(2);  // 60 bits: more than a double carries
  EXPECT_EQ(check_structure(bad).code(), StatusCode::kNonConformant);
  bad = p;
  bad.ks_base_log = DecompBaseLog(0);
  EXPECT_EQ(check_structure(bad).code(), StatusCode::kNonConformant);
}

TEST(Fingerprint, StableAndDistinct) {
  auto a = parameters_for_bits(3).value();
  auto b = parameters_for_bits(4).value();
  EXPECT_EQ(fingerprint(a), fingerprint(parameters_for_bits(3).value()));
  EXPECT_NE(fingerprint(a), fingerprint(b));
  ParameterSet c = b;
  c.glwe_noise_log2_std += 0.01;
  EXPECT_NE(fingerprint(b), fingerprint(c));
  EXPECT_EQ(fingerprint_hex(a).size(), 32u);
}

TEST(NoiseFormulas, HandComputedValues) {
  // Modulus switching n = 1000, N = 1024: (1 + 500) / (48 · 2^20).
  EXPECT_DOUBLE_EQ(modulus_switch_variance(LweDimension(1000), PolynomialSize(1024)), 501.0 / (48.0 * 1048576.0));
  // erfc(x/√2) = 2·(1 − Φ(x)); at Δ/2 = 1σ: ≈ 0.3173.
  const double delta = std::exp2(63.0 - 4) / std::exp2(64.0);
  EXPECT_NEAR(error_probability(4, (delta / 2) * (delta / 2)), 0.3173, 1e-4);
  // Key switching with σ = 0 is only the rounding term n·B^(-2l)/24 (minus q^-2 terms).
  EXPECT_NEAR(keyswitch_variance(1024, DecompBaseLog(4), DecompLevelCount(3), 0.0),
              1024.0 * std::exp2(-24.0) / 24.0, 1e-15);
}

}  // namespace
