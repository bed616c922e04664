// The parameter optimizer against independent recomputations with crypto/noise.h: security,
// error probabilities, cost monotonicity, the named sets as upper bounds, local optimality, the
// global-probability option, leveled circuits and the refusals.
#include "blindml/compiler/optimizer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "blindml/crypto/noise.h"
#include "blindml/crypto/params.h"

using namespace blindml;
using namespace blindml::crypto;
using blindml::circuit::Analysis;
using blindml::circuit::NoiseConstraint;
using blindml::compiler::choose_parameters;
using blindml::compiler::estimated_pbs_ms;
using blindml::compiler::OptimizerChoice;
using blindml::compiler::OptimizerOptions;
using Kind = NoiseConstraint::Kind;

namespace {

NoiseConstraint pbs_input(std::string where, uint32_t bits, double pbs_norm2, double fresh_norm2 = 0,
                          uint32_t amplify_log2 = 0, uint64_t count = 1) {
  return NoiseConstraint{.kind = Kind::kPbsInput,
                         .where = std::move(where),
                         .node = 1,
                         .read_bits = bits,
                         .amplify_log2 = amplify_log2,
                         .fresh_norm2 = fresh_norm2,
                         .pbs_norm2 = pbs_norm2,
                         .count = count};
}

NoiseConstraint decryption(std::string where, uint32_t bits, double pbs_norm2, double fresh_norm2 = 0,
                           uint64_t count = 1) {
  return NoiseConstraint{.kind = Kind::kDecryption,
                         .where = std::move(where),
                         .node = 2,
                         .read_bits = bits,
                         .amplify_log2 = 0,
                         .fresh_norm2 = fresh_norm2,
                         .pbs_norm2 = pbs_norm2,
                         .count = count};
}

Analysis make_analysis(uint32_t carrier, std::vector<NoiseConstraint> constraints) {
  Analysis a;
  a.carrier_bits = carrier;
  for (const auto& c : constraints) {
    if (c.kind == Kind::kPbsInput) {
      a.max_lookup_bits = std::max(a.max_lookup_bits, c.read_bits);
      a.pbs_count += c.count;
    }
  }
  a.keyswitch_count = a.pbs_count;
  a.constraints = std::move(constraints);
  return a;
}

// One p-bit lookup on a PBS output scaled by weights of squared norm pbs_norm2, whose result is
// decrypted at the carrier precision.
Analysis one_lookup(uint32_t bits, double pbs_norm2) {
  return make_analysis(bits, {pbs_input("lookup 'f' (" + std::to_string(bits) + "-bit input)", bits, pbs_norm2),
                              decryption("output 'y'", bits, 1.0)});
}

// The variance a constraint sees, recomputed from noise.h as shared/crypto.md states it.
double variance_of(const ParameterSet& p, const NoiseConstraint& c) {
  double v = std::pow(4.0, c.amplify_log2) *
             (c.fresh_norm2 * variance_from_log2_std(p.glwe_noise_log2_std) + c.pbs_norm2 * pbs_variance(p));
  if (c.kind == Kind::kPbsInput) {
    const uint64_t big = p.big_lwe_dimension().value;
    v += keyswitch_variance(big, p.ks_base_log, p.ks_level_count, variance_from_log2_std(p.lwe_noise_log2_std)) +
         keyswitch_truncation_variance(big, p.ks_base_log, p.ks_level_count) +
         modulus_switch_variance(p.lwe_dimension, p.polynomial_size);
  }
  return v;
}

// log2 P(error) of one read (erfc for moderate arguments; the tests only need that range, and an
// underflow to 0 is a success for "≤ target").
double log2_p_of(const ParameterSet& p, const NoiseConstraint& c) {
  const double v = variance_of(p, c);
  const double pe =
      c.read_bits >= 1 ? error_probability(c.read_bits, v) : std::erfc(0.5 / (2.0 * std::sqrt(2.0 * v)));  // Δ = 1/2
  return std::log2(pe);
}

bool satisfies(const ParameterSet& p, const Analysis& a, double log2_target) {
  for (const auto& c : a.constraints) {
    if (c.kind == Kind::kPbsInput && p.polynomial_size.value < (uint64_t{2} << c.read_bits)) return false;
    if (log2_p_of(p, c) > log2_target) return false;
  }
  return true;
}

double worst_log2_p(const ParameterSet& p, const Analysis& a) {
  double worst = -INFINITY;
  for (const auto& c : a.constraints) worst = std::max(worst, log2_p_of(p, c));
  return worst;
}

double secure_std(uint64_t d, double margin) { return std::ceil((min_secure_log2_std(d) + margin) * 100.0) / 100.0; }

OptimizerChoice choose_ok(const Analysis& a, const OptimizerOptions& o = {}) {
  auto r = choose_parameters(a, o);
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  if (!r.ok()) std::abort();
  return *r;
}

class PerPrecision : public ::testing::TestWithParam<uint32_t> {};

TEST_P(PerPrecision, SecureMeetsTargetAndNoCostlierThanNamedSet) {
  const uint32_t bits = GetParam();
  const Analysis a = one_lookup(bits, 1.0);
  const OptimizerChoice c = choose_ok(a);
  const ParameterSet& p = c.params;
  EXPECT_TRUE(check_security(p).ok()) << check_security(p).to_string();
  EXPECT_GE(security_margin_bits(p.lwe_dimension.value, p.lwe_noise_log2_std), 1.0);
  EXPECT_GE(security_margin_bits(p.big_lwe_dimension().value, p.glwe_noise_log2_std), 1.0);
  EXPECT_TRUE(c.needs_bootstrapping);
  EXPECT_EQ(p.message_bits, bits);
  EXPECT_STREQ(p.name, "optimized");
  EXPECT_GE(p.polynomial_size.value, uint64_t{2} << bits);
  EXPECT_LE(p.pbs_base_log.value * p.pbs_level_count.value, 53u);
  EXPECT_LE(p.ks_base_log.value * p.ks_level_count.value, 32u);
  const double worst = worst_log2_p(p, a);
  EXPECT_LE(worst, -40.0);
  EXPECT_NEAR(c.log2_worst_p_error, worst, 0.01);
  EXPECT_DOUBLE_EQ(c.estimated_pbs_ms, estimated_pbs_ms(p));
  EXPECT_DOUBLE_EQ(c.estimated_circuit_ms, c.estimated_pbs_ms);  // one PBS
  // The named set was sized for exactly this problem: it is a candidate, so never cheaper.
  const ParameterSet named = parameters_for_bits(bits).value();
  EXPECT_TRUE(satisfies(named, a, -40.0)) << named.name;
  EXPECT_GE(estimated_pbs_ms(named), c.estimated_pbs_ms) << named.name;
  std::printf("%s", c.report().c_str());
}

// Local optimality, recomputed by brute force over every base: one LWE dimension less, or one
// level less in the PBS or the key switch (any bases), misses the target.
TEST_P(PerPrecision, LocallyOptimal) {
  const uint32_t bits = GetParam();
  const Analysis a = one_lookup(bits, 1.0);
  const ParameterSet p = choose_ok(a).params;
  auto any_bases_feasible = [&](ParameterSet q) {
    for (uint64_t b = 1; b * q.pbs_level_count.value <= 53; ++b) {
      q.pbs_base_log = DecompBaseLog(b);
      for (uint64_t bk = 1; bk * q.ks_level_count.value <= 32; ++bk) {
        q.ks_base_log = DecompBaseLog(bk);
        if (satisfies(q, a, -40.0)) return true;
      }
    }
    return false;
  };
  if (p.lwe_dimension.value > 450) {
    ParameterSet q = p;
    q.lwe_dimension = LweDimension(p.lwe_dimension.value - 1);
    q.lwe_noise_log2_std = secure_std(q.lwe_dimension.value, 1.0);
    EXPECT_FALSE(any_bases_feasible(q)) << "n - 1 would do";
  }
  if (p.pbs_level_count.value > 1) {
    ParameterSet q = p;
    q.pbs_level_count = DecompLevelCount(p.pbs_level_count.value - 1);
    EXPECT_FALSE(any_bases_feasible(q)) << "one PBS level less would do";
  }
  if (p.ks_level_count.value > 1) {
    ParameterSet q = p;
    q.ks_level_count = DecompLevelCount(p.ks_level_count.value - 1);
    EXPECT_FALSE(any_bases_feasible(q)) << "one KS level less would do";
  }
}

INSTANTIATE_TEST_SUITE_P(Bits, PerPrecision, ::testing::Range(1u, 9u));

// Global optimality against a brute force without the optimizer's budgets, ordering or bounds:
// every (k, N, l, l_ks, n) with, per candidate, the key-switching base of least variance, and per
// (k, N, l) the PBS base of least variance (the PBS variance is n times a function of the rest,
// so that base does not depend on n); feasibility by the direct erfc of satisfies(). Within one
// (k, N, l, l_ks) the cost grows with n, so the scan of n stops at the first feasible one.
TEST(Optimizer, AgreesWithBruteForce) {
  for (auto [bits, norm] : {std::pair{3u, 1.0}, std::pair{6u, 256.0}}) {
    const Analysis a = one_lookup(bits, norm);
    const OptimizerChoice c = choose_ok(a);
    double best = INFINITY;
    for (uint64_t k = 1; k <= 3; ++k) {
      for (uint64_t n_poly = 256; n_poly <= 65536 && k * n_poly <= 65536; n_poly *= 2) {
        if (k * n_poly < 450 || n_poly < (uint64_t{2} << bits)) continue;
        const double glwe_std = secure_std(k * n_poly, 1.0);
        for (uint64_t l = 1; l <= 6; ++l) {
          ParameterSet q{.name = "brute",
                         .message_bits = bits,
                         .lwe_dimension = LweDimension(1000),
                         .glwe_dimension = GlweDimension(k),
                         .polynomial_size = PolynomialSize(n_poly),
                         .lwe_noise_log2_std = 40,
                         .glwe_noise_log2_std = glwe_std,
                         .pbs_base_log = DecompBaseLog(1),
                         .pbs_level_count = DecompLevelCount(l),
                         .ks_base_log = DecompBaseLog(1),
                         .ks_level_count = DecompLevelCount(1)};
          double least = INFINITY;
          uint64_t base = 1;
          for (uint64_t b = 1; b * l <= 53; ++b) {
            q.pbs_base_log = DecompBaseLog(b);
            if (pbs_variance(q) < least) least = pbs_variance(q), base = b;
          }
          q.pbs_base_log = DecompBaseLog(base);
          for (uint64_t lk = 1; lk <= 32; ++lk) {
            q.ks_level_count = DecompLevelCount(lk);
            for (uint64_t n = 450; n <= 2000; ++n) {
              q.lwe_dimension = LweDimension(n);
              q.lwe_noise_log2_std = secure_std(n, 1.0);
              if (estimated_pbs_ms(q) >= best) break;
              double least_ks = INFINITY;
              uint64_t ks_base = 1;
              for (uint64_t b = 1; b * lk <= 32; ++b) {
                const double v = keyswitch_variance(k * n_poly, DecompBaseLog(b), q.ks_level_count,
                                                    variance_from_log2_std(q.lwe_noise_log2_std)) +
                                 keyswitch_truncation_variance(k * n_poly, DecompBaseLog(b), q.ks_level_count);
                if (v < least_ks) least_ks = v, ks_base = b;
              }
              q.ks_base_log = DecompBaseLog(ks_base);
              if (satisfies(q, a, -40.0)) {
                best = estimated_pbs_ms(q);
                break;
              }
            }
          }
        }
      }
    }
    EXPECT_NEAR(c.estimated_pbs_ms, best, 1e-9 * best) << bits << " bits, norm " << norm;
  }
}

TEST(Optimizer, CostIsMonotoneInPrecision) {
  double previous = 0;
  for (uint32_t bits = 1; bits <= 8; ++bits) {
    const double ms = choose_ok(one_lookup(bits, 1.0)).estimated_pbs_ms;
    EXPECT_LE(previous, ms) << bits << " bits";
    previous = ms;
  }
}

TEST(Optimizer, LargerNormNeverCheaper) {
  for (uint32_t bits = 1; bits <= 7; ++bits) {
    const OptimizerChoice small = choose_ok(one_lookup(bits, 1.0));
    const OptimizerChoice large = choose_ok(one_lookup(bits, 1024.0));
    EXPECT_LE(small.estimated_pbs_ms, large.estimated_pbs_ms) << bits << " bits";
    EXPECT_LE(worst_log2_p(large.params, one_lookup(bits, 1024.0)), -40.0);
    EXPECT_TRUE(check_security(large.params).ok());
  }
}

// 4^amplify multiplies the norms: amplify 2 with norm 1 is the problem of norm 16.
TEST(Optimizer, AmplificationActsAsASquaredFactor) {
  Analysis amplified = make_analysis(4, {pbs_input("lookup 'g'", 3, 1.0, 0.0, 2), decryption("output 'y'", 4, 1.0)});
  Analysis scaled = make_analysis(4, {pbs_input("lookup 'g'", 3, 16.0), decryption("output 'y'", 4, 1.0)});
  const OptimizerChoice a = choose_ok(amplified), b = choose_ok(scaled);
  EXPECT_EQ(fingerprint_hex(a.params), fingerprint_hex(b.params));
  EXPECT_LE(worst_log2_p(a.params, amplified), -40.0);
}

// A sign read (bit extraction) has Δ = 1/2; amplified by 2^10 it is as hard as a 10-bit read of
// the plain value but needs no large polynomial.
TEST(Optimizer, SignReadOfBitExtraction) {
  Analysis a = make_analysis(10, {pbs_input("bit 9 of rounding 'r'", 0, 1.0, 0.0, 9), decryption("output", 10, 1.0)});
  const OptimizerChoice c = choose_ok(a);
  EXPECT_TRUE(check_security(c.params).ok());
  EXPECT_LE(worst_log2_p(c.params, a), -40.0);
  EXPECT_EQ(c.params.message_bits, 1u);
}

TEST(Optimizer, GlobalErrorProbabilityIsSplitOverReads) {
  const double g = std::exp2(-20.0);
  Analysis a =
      make_analysis(4, {pbs_input("lookup 'a'", 4, 1.0, 0.0, 0, 1000), pbs_input("lookup 'b'", 3, 4.0, 2.0, 0, 23),
                        decryption("output 'y'", 4, 1.0, 0.0, 10)});
  const uint64_t reads = 1000 + 23 + 10;
  OptimizerOptions o;
  o.global_p_error = g;
  const OptimizerChoice c = choose_ok(a, o);
  // Per read: 1 - (1 - g)^(1/R), about g / R.
  const double per_read = 1.0 - std::pow(1.0 - g, 1.0 / static_cast<double>(reads));
  EXPECT_NEAR(c.log2_p_error_per_read, std::log2(per_read), 1e-6);
  EXPECT_NEAR(c.log2_p_error_per_read, std::log2(g / reads), 1e-3);
  EXPECT_TRUE(satisfies(c.params, a, std::log2(per_read)));
  // The circuit's probability, recomputed: 1 - Π (1 - p_i)^count_i ≤ g.
  double log_ok = 0;
  for (const auto& k : a.constraints) log_ok += k.count * std::log1p(-std::exp2(log2_p_of(c.params, k)));
  EXPECT_LE(-std::expm1(log_ok), g);
  EXPECT_NEAR(c.global_p_error, -std::expm1(log_ok), 1e-3 * g);
  // Targets order the costs: global 2^-20 (about 2^-30 per read) ≤ 2^-40 per read (the default)
  // ≤ global 2^-40 (about 2^-50 per read).
  const OptimizerChoice d = choose_ok(a);
  EXPECT_NEAR(d.log2_p_error_per_read, -40.0, 1e-12);
  EXPECT_LE(c.estimated_pbs_ms, d.estimated_pbs_ms);
  o.global_p_error = std::exp2(-40.0);
  const OptimizerChoice e = choose_ok(a, o);
  EXPECT_NEAR(e.log2_p_error_per_read, std::log2(std::exp2(-40.0) / reads), 1e-3);
  EXPECT_TRUE(satisfies(e.params, a, e.log2_p_error_per_read));
  EXPECT_FALSE(satisfies(d.params, a, e.log2_p_error_per_read));
  EXPECT_LE(d.estimated_pbs_ms, e.estimated_pbs_ms);
}

// Dominated constraints (same kind, width and amplification, smaller norms) change nothing, and
// thousands of them are handled quickly.
TEST(Optimizer, ManyConstraintsSameChoiceAndFast) {
  std::vector<NoiseConstraint> cs = {pbs_input("lookup 'big'", 5, 40.0, 3.0), decryption("output 'y'", 6, 2.0, 1.0)};
  Analysis base = make_analysis(6, cs);
  for (int i = 0; i < 5000; ++i) {
    const double t = (i % 97) / 97.0;
    cs.push_back(pbs_input("lookup " + std::to_string(i), 5, 40.0 * t, 3.0 * (1 - t)));
    cs.push_back(pbs_input("lookup s" + std::to_string(i), 1 + i % 5, 40.0 * t, 3.0 * t, 0, 3));
    cs.push_back(decryption("output " + std::to_string(i), 6, 2.0 * t, 1.0));
  }
  Analysis many = make_analysis(6, cs);
  const auto t0 = std::chrono::steady_clock::now();
  const OptimizerChoice c = choose_ok(many);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::printf("15002 constraints: %.1f ms, %llu candidates\n", ms,
              static_cast<unsigned long long>(c.candidates_evaluated));
  EXPECT_LT(ms, 1000.0);
  EXPECT_EQ(fingerprint_hex(c.params), fingerprint_hex(choose_ok(base).params));
  EXPECT_TRUE(satisfies(c.params, many, -40.0));
  EXPECT_EQ(c.worst_constraint.find("lookup 'big'") != std::string::npos ||
                c.worst_constraint.find("output") != std::string::npos,
            true)
      << c.worst_constraint;
}

TEST(Optimizer, RefusesTwelveBitLookupNamingIt) {
  Analysis a =
      make_analysis(12, {pbs_input("lookup 'wide' (12-bit input)", 12, 1.0), decryption("output 'y'", 12, 1.0)});
  auto r = choose_parameters(a);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNonConformant);
  const std::string& m = r.status().message();
  EXPECT_NE(m.find("lookup 'wide' (12-bit input)"), std::string::npos) << m;
  EXPECT_NE(m.find("12-bit"), std::string::npos) << m;
  EXPECT_NE(m.find("fewer bits"), std::string::npos) << m;
  std::printf("%s\n", m.c_str());
}

TEST(Optimizer, RefusesHugeNormNamingTheCulprit) {
  // A harmless constraint first, the culprit second: the message must pick the culprit.
  Analysis a = make_analysis(
      6, {pbs_input("lookup 'ok' (2-bit input)", 2, 1.0), pbs_input("lookup 'noisy' (6-bit input)", 6, std::exp2(40.0)),
          decryption("output 'y'", 6, 1.0)});
  auto r = choose_parameters(a);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNonConformant);
  const std::string& m = r.status().message();
  EXPECT_NE(m.find("lookup 'noisy' (6-bit input)"), std::string::npos) << m;
  EXPECT_EQ(m.find("lookup 'ok'"), std::string::npos) << m;
  EXPECT_NE(m.find("6-bit"), std::string::npos) << m;
  EXPECT_NE(m.find("n_bits"), std::string::npos) << m;
  EXPECT_NE(m.find("error probability"), std::string::npos) << m;
  std::printf("%s\n", m.c_str());
}

TEST(Optimizer, LeveledCircuitNeedsOnlyTheGlweKey) {
  const double norm = 30.0 * std::exp2(14.0);
  Analysis a = make_analysis(24, {decryption("output 'y'", 24, 0.0, norm)});
  const OptimizerChoice c = choose_ok(a);
  std::printf("%s", c.report().c_str());
  EXPECT_FALSE(c.needs_bootstrapping);
  EXPECT_EQ(c.estimated_pbs_ms, 0.0);
  EXPECT_EQ(c.estimated_circuit_ms, 0.0);
  EXPECT_TRUE(check_security(c.params).ok()) << check_security(c.params).to_string();
  EXPECT_EQ(c.params.message_bits, 1u);
  const double v = norm * variance_from_log2_std(c.params.glwe_noise_log2_std);
  EXPECT_LE(std::log2(error_probability(24, v)), -40.0);
  EXPECT_EQ(c.worst_constraint, "output 'y'");
  // No smaller big-key dimension k·N with a secure σ (1 bit of margin) would do.
  const uint64_t chosen = c.params.big_lwe_dimension().value;
  for (uint64_t k = 1; k <= 3; ++k) {
    for (uint64_t n_poly = 256; k * n_poly < chosen; n_poly *= 2) {
      if (k * n_poly < 450) continue;
      const double s = variance_from_log2_std(secure_std(k * n_poly, 1.0));
      EXPECT_GT(std::log2(error_probability(24, norm * s)), -40.0) << k << "x" << n_poly;
    }
  }
}

TEST(Optimizer, LeveledFortyEightBitsWithHugeNormRefused) {
  Analysis a = make_analysis(48, {decryption("output 'wide'", 48, 0.0, std::exp2(60.0))});
  auto r = choose_parameters(a);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNonConformant);
  const std::string& m = r.status().message();
  EXPECT_NE(m.find("output 'wide'"), std::string::npos) << m;
  EXPECT_NE(m.find("48-bit"), std::string::npos) << m;
  EXPECT_NE(m.find("error probability"), std::string::npos) << m;
  std::printf("%s\n", m.c_str());
}

// A 48-bit output that is satisfiable: the astronomically small probabilities of the rest stay
// finite in the log domain.
TEST(Optimizer, FortyEightBitOutputFeasibleWithSmallNorm) {
  Analysis a = make_analysis(48, {decryption("output 'wide'", 48, 0.0, 1.0)});
  const OptimizerChoice c = choose_ok(a);
  EXPECT_FALSE(c.needs_bootstrapping);
  EXPECT_LE(c.log2_worst_p_error, -40.0);
  EXPECT_TRUE(std::isfinite(c.log2_worst_p_error));
  // A 4-bit output of the same noise is astronomically safe: its log2 p is finite and far below.
  Analysis b =
      make_analysis(48, {decryption("output 'wide'", 48, 0.0, 1.0), decryption("output 'narrow'", 4, 0.0, 1.0)});
  const OptimizerChoice d = choose_ok(b);
  EXPECT_EQ(d.worst_constraint, "output 'wide'");
}

TEST(Optimizer, RejectsMalformedInput) {
  OptimizerOptions o;
  o.log2_p_error = 0.0;
  EXPECT_EQ(choose_parameters(one_lookup(3, 1.0), o).status().code(), StatusCode::kInvalidArgument);
  o = {};
  o.global_p_error = 1.5;
  EXPECT_EQ(choose_parameters(one_lookup(3, 1.0), o).status().code(), StatusCode::kInvalidArgument);
  Analysis a = one_lookup(3, 1.0);
  a.constraints[0].pbs_norm2 = -1;
  EXPECT_EQ(choose_parameters(a).status().code(), StatusCode::kInvalidArgument);
}

// The table of docs/optimizer.md: choices for 1..8-bit lookups at squared norms 1 and 2^8, with
// the search time.
TEST(Optimizer, PrintTableOfChoices) {
  std::printf(
      "| bits | norm² | n | k | N | PBS | KS | σ_lwe | σ_glwe | log2 p | est. ms | named est. ms | search ms |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (double norm : {1.0, 256.0}) {
    for (uint32_t bits = 1; bits <= 8; ++bits) {
      const Analysis a = one_lookup(bits, norm);
      const auto t0 = std::chrono::steady_clock::now();
      auto r = choose_parameters(a);
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      if (!r.ok()) {
        std::printf("| %u | %g | refused: %s |\n", bits, norm, r.status().message().c_str());
        continue;
      }
      const ParameterSet& p = r->params;
      EXPECT_LT(ms, 1000.0);
      std::printf(
          "| %u | %g | %llu | %llu | %llu | 2^%llu×%llu | 2^%llu×%llu | 2^%.2f | 2^%.2f | %.1f | %.2f | %.2f | %.1f "
          "|\n",
          bits, norm, static_cast<unsigned long long>(p.lwe_dimension.value),
          static_cast<unsigned long long>(p.glwe_dimension.value),
          static_cast<unsigned long long>(p.polynomial_size.value),
          static_cast<unsigned long long>(p.pbs_base_log.value),
          static_cast<unsigned long long>(p.pbs_level_count.value),
          static_cast<unsigned long long>(p.ks_base_log.value), static_cast<unsigned long long>(p.ks_level_count.value),
          p.lwe_noise_log2_std, p.glwe_noise_log2_std, worst_log2_p(p, a), r->estimated_pbs_ms,
          estimated_pbs_ms(parameters_for_bits(bits).value()), ms);
    }
  }
}

}  // namespace
