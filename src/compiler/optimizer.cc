// The parameter optimizer (include/blindml/compiler/optimizer.h, docs/optimizer.md).
//
// How the search stays exact and fast:
//  - Every constraint becomes a variance budget: p = erfc(Δ/(2√2·σ)) is increasing in σ, so
//    p ≤ target ⇔ V ≤ Δ²/(8·x*²) with erfc(x*) = target. x* is found once per call (bisection on
//    log erfc) and widened by a relative 1e-9, so that a candidate within budget also passes the
//    direct probability computation (which reports the figures).
//  - Constraints are deduplicated: within one (kind, read_bits, amplify) group only the
//    Pareto-maximal (fresh_norm2, pbs_norm2) pairs can bind, since the variance is increasing in
//    both norms.
//  - The PBS output variance is n times a function of (k, N, β, l, σ_glwe(kN)), so for each
//    (k, N, l) the base of least variance does not depend on n; the key-switching variance is kN
//    times a function of (β_ks, l_ks, σ_lwe(n)), so for each (n, l_ks) the best base does not
//    depend on (k, N). Both tables are computed once per call.
//  - The cost is strictly increasing in n for fixed (k, N, l, l_ks). The combinations are
//    visited in increasing order of their cost at n = 450; each scans n upwards and stops at its
//    first feasible n or as soon as its cost passes the best found so far, and the whole loop
//    stops at the first combination whose cheapest cost already does. Each scan also stops when
//    the terms that grow with n (PBS output, modulus switch) alone exceed a budget: no larger n
//    can do better. Nothing feasible and cheaper is ever skipped.
#include "blindml/compiler/optimizer.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <optional>
#include <tuple>

#include "blindml/crypto/noise.h"

namespace blindml::compiler {
namespace {

using circuit::NoiseConstraint;
using Kind = NoiseConstraint::Kind;

// ---------------------------------------------------------------------------------------------
// Cost model. Concrete's operation counts (shared/crypto.md):
//   FFT = N·log2 N + N, CMux = (k+1)·l·FFT + (k+1)·IFFT + (k+1)²·l·N, PBS = n·CMux,
//   KS = kN·l_ks + 2·kN·l_ks·(n+1),
// turned into milliseconds with one constant per part, fitted by least squares on the relative
// error (minimise Σ ((a·PBS_i + b·KS_i)/t_i − 1)²) to the single-thread KS-PBS latencies t_i of
// the eight named sets measured by `scripts/bench` on 2026-11-24 (docs/benchmarks.md: 2-core
// AMD EPYC, AVX-512, medians of three runs). The model reproduces those eight figures within
// −20 % … +11 % (ratios per set in docs/optimizer.md); it is a ranking tool, not a promise.
constexpr double kNsPerCmuxOp = 0.11084;  // ns per blind-rotation operation
constexpr double kNsPerKsOp = 0.15501;    // ns per key-switching operation

constexpr uint64_t kMinLweDimension = 450;  // the security curve's domain starts there
constexpr uint64_t kMaxLweDimension = 2000;
constexpr uint64_t kMinLogPolySize = 8;
constexpr uint64_t kMaxLogPolySize = 16;
constexpr uint64_t kMaxGlweDimension = 3;
constexpr uint64_t kMaxBigDimension = uint64_t{1} << 16;
constexpr uint64_t kMaxPbsLevels = 6;
constexpr uint64_t kMaxPbsBits = 53;  // base_log·levels: what a double-precision FFT carries
constexpr uint64_t kMaxKsBits = 32;   // the key switch runs on the top 32 bits
constexpr uint64_t kMaxKsLevels = kMaxKsBits;

double cmux_ops(uint64_t k, uint64_t N, uint64_t l) {
  const double n_poly = static_cast<double>(N);
  const double fft = n_poly * std::log2(n_poly) + n_poly;
  const double k1 = static_cast<double>(k + 1);
  const double lv = static_cast<double>(l);
  return k1 * lv * fft + k1 * fft + k1 * k1 * lv * n_poly;
}

double ks_ops(uint64_t big_dim, uint64_t l_ks, uint64_t n) {
  const double kn = static_cast<double>(big_dim), lk = static_cast<double>(l_ks);
  return kn * lk + 2.0 * kn * lk * static_cast<double>(n + 1);
}

double cost_ms(uint64_t n, uint64_t k, uint64_t N, uint64_t l, uint64_t l_ks) {
  return (kNsPerCmuxOp * static_cast<double>(n) * cmux_ops(k, N, l) + kNsPerKsOp * ks_ops(k * N, l_ks, n)) * 1e-6;
}

// σ at the security line plus the margin, rounded up to 0.01 bit (as the named sets).
double secure_log2_std(uint64_t dimension, double margin_bits) {
  const double x = crypto::min_secure_log2_std(dimension) + margin_bits;
  double r = std::ceil(x * 100.0) / 100.0;
  while (r < x) r += 0.01;  // the division may land a hair below x
  return r;
}

// ---------------------------------------------------------------------------------------------
// Probabilities in the log domain. log(erfc(x)) for x ≥ 0: the library function while it does
// not underflow, else the asymptotic series exp(−x²)/(x√π)·(1 − 1/(2x²) + 3/(4x⁴) − 15/(8x⁶)),
// whose relative error at x = 25 is below 1e-10.
double log_erfc(double x) {
  if (x < 25.0) return std::log(std::erfc(x));
  const double u = 1.0 / (2.0 * x * x);
  const double series = 1.0 - u + 3.0 * u * u - 15.0 * u * u * u;
  return -x * x - std::log(x * std::sqrt(M_PI)) + std::log(series);
}

// Δ on the unit torus for a read of read_bits with one padding bit: 2^(63 − read_bits)/2^64.
double delta_of(uint32_t read_bits) { return std::exp2(-1.0 - static_cast<double>(read_bits)); }

// log2 P(|e| > Δ/2) for a centred Gaussian of this variance (−inf when the variance is 0).
double log2_error_probability(uint32_t read_bits, double variance) {
  if (!(variance > 0)) return -std::numeric_limits<double>::infinity();
  const double x = delta_of(read_bits) / (2.0 * std::sqrt(2.0 * variance));
  return log_erfc(x) / std::log(2.0);
}

// The smallest x (up to a relative 1e-9 of widening) with log erfc(x) ≤ log_target.
double erfc_threshold(double log_target) {
  double lo = 0.0, hi = 1.0;
  while (log_erfc(hi) > log_target) hi *= 2.0;
  for (int i = 0; i < 200 && hi - lo > 0; ++i) {
    const double mid = 0.5 * (lo + hi);
    if (mid <= lo || mid >= hi) break;
    if (log_erfc(mid) > log_target)
      lo = mid;
    else
      hi = mid;
  }
  return hi * (1.0 + 1e-9);
}

double variance_budget(uint32_t read_bits, double x_star) {
  const double d = delta_of(read_bits);
  return d * d / (8.0 * x_star * x_star);
}

// ---------------------------------------------------------------------------------------------
// The variance a constraint sees under a full parameter set, with the functions of noise.h
// exactly as optimizer.h states (used to report, never to search).
double constraint_variance(const crypto::ParameterSet& p, const NoiseConstraint& c) {
  const double amp = std::exp2(2.0 * static_cast<double>(c.amplify_log2));
  double v = amp * (c.fresh_norm2 * crypto::variance_from_log2_std(p.glwe_noise_log2_std) +
                    (c.pbs_norm2 > 0 ? c.pbs_norm2 * crypto::pbs_variance(p) : 0.0));
  if (c.kind == Kind::kPbsInput) {
    const uint64_t big = p.big_lwe_dimension().value;
    v += crypto::keyswitch_variance(big, p.ks_base_log, p.ks_level_count,
                                    crypto::variance_from_log2_std(p.lwe_noise_log2_std)) +
         crypto::keyswitch_truncation_variance(big, p.ks_base_log, p.ks_level_count) +
         crypto::modulus_switch_variance(p.lwe_dimension, p.polynomial_size);
  }
  return v;
}

crypto::ParameterSet make_set(uint32_t message_bits, uint64_t n, uint64_t k, uint64_t N, double lwe_std,
                              double glwe_std, uint64_t pbs_base, uint64_t pbs_levels, uint64_t ks_base,
                              uint64_t ks_levels) {
  return crypto::ParameterSet{.name = "optimized",
                              .message_bits = message_bits,
                              .lwe_dimension = crypto::LweDimension(n),
                              .glwe_dimension = crypto::GlweDimension(k),
                              .polynomial_size = crypto::PolynomialSize(N),
                              .lwe_noise_log2_std = lwe_std,
                              .glwe_noise_log2_std = glwe_std,
                              .pbs_base_log = crypto::DecompBaseLog(pbs_base),
                              .pbs_level_count = crypto::DecompLevelCount(pbs_levels),
                              .ks_base_log = crypto::DecompBaseLog(ks_base),
                              .ks_level_count = crypto::DecompLevelCount(ks_levels)};
}

// ---------------------------------------------------------------------------------------------
// Deduplicated constraints.
struct Reduced {
  const NoiseConstraint* origin;  // the first constraint with this (kind, bits, amplify, norms)
  bool pbs_input;
  uint32_t read_bits;
  double fresh;   // 4^amplify·fresh_norm2
  double pbs;     // 4^amplify·pbs_norm2
  double budget;  // largest variance that meets the per-read target
};

std::vector<Reduced> dedupe(const std::vector<NoiseConstraint>& constraints, double x_star) {
  std::map<std::tuple<int, uint32_t, uint32_t>, std::vector<const NoiseConstraint*>> groups;
  for (const auto& c : constraints) groups[{static_cast<int>(c.kind), c.read_bits, c.amplify_log2}].push_back(&c);
  std::vector<Reduced> out;
  for (auto& [key, members] : groups) {
    // Sort by fresh norm descending, then PBS norm descending; a member is Pareto-maximal iff its
    // PBS norm exceeds every PBS norm seen before it (stable: the first of equal pairs is kept).
    std::stable_sort(members.begin(), members.end(), [](const NoiseConstraint* a, const NoiseConstraint* b) {
      if (a->fresh_norm2 != b->fresh_norm2) return a->fresh_norm2 > b->fresh_norm2;
      return a->pbs_norm2 > b->pbs_norm2;
    });
    double best_pbs = -1.0;
    for (const NoiseConstraint* c : members) {
      if (c->pbs_norm2 <= best_pbs) continue;
      best_pbs = c->pbs_norm2;
      const double amp = std::exp2(2.0 * static_cast<double>(c->amplify_log2));
      out.push_back(Reduced{.origin = c,
                            .pbs_input = c->kind == Kind::kPbsInput,
                            .read_bits = c->read_bits,
                            .fresh = amp * c->fresh_norm2,
                            .pbs = amp * c->pbs_norm2,
                            .budget = variance_budget(c->read_bits, x_star)});
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Precomputed tables of one call.

// One GLWE shape (k, N): σ_glwe and, per PBS level count, the base of least output variance
// with that variance per unit of n.
struct Shape {
  uint64_t k = 0, N = 0;
  double glwe_std = 0, glwe_var = 0;
  std::array<double, kMaxPbsLevels + 1> pbs_unit{};  // index l
  std::array<uint64_t, kMaxPbsLevels + 1> pbs_base{};
};

// One LWE dimension n: σ_lwe and, per KS level count, the base of least key-switching variance
// (key part plus both rounding terms) per unit of input dimension kN.
struct LweRow {
  double lwe_std = 0;
  std::array<double, kMaxKsLevels + 1> ks_unit{};  // index l_ks
  std::array<uint64_t, kMaxKsLevels + 1> ks_base{};
  double ks_unit_min = 0;  // over every l_ks (diagnosis)
};

std::vector<Shape> make_shapes(double margin) {
  std::vector<Shape> shapes;
  for (uint64_t k = 1; k <= kMaxGlweDimension; ++k) {
    for (uint64_t log_n = kMinLogPolySize; log_n <= kMaxLogPolySize; ++log_n) {
      const uint64_t N = uint64_t{1} << log_n;
      if (k * N > kMaxBigDimension || k * N < kMinLweDimension) continue;
      Shape s;
      s.k = k;
      s.N = N;
      s.glwe_std = secure_log2_std(k * N, margin);
      s.glwe_var = crypto::variance_from_log2_std(s.glwe_std);
      for (uint64_t l = 1; l <= kMaxPbsLevels; ++l) {
        double best = std::numeric_limits<double>::infinity();
        for (uint64_t beta = 1; beta * l <= kMaxPbsBits; ++beta) {
          const double v = crypto::pbs_variance(make_set(1, 1, k, N, 64.0, s.glwe_std, beta, l, 1, 1));
          if (v < best) {
            best = v;
            s.pbs_base[l] = beta;
          }
        }
        s.pbs_unit[l] = best;
      }
      shapes.push_back(s);
    }
  }
  return shapes;
}

std::vector<LweRow> make_lwe_rows(double margin) {
  std::vector<LweRow> rows(kMaxLweDimension - kMinLweDimension + 1);
  for (uint64_t n = kMinLweDimension; n <= kMaxLweDimension; ++n) {
    LweRow& r = rows[n - kMinLweDimension];
    r.lwe_std = secure_log2_std(n, margin);
    const double var = crypto::variance_from_log2_std(r.lwe_std);
    r.ks_unit_min = std::numeric_limits<double>::infinity();
    for (uint64_t l = 1; l <= kMaxKsLevels; ++l) {
      double best = std::numeric_limits<double>::infinity();
      for (uint64_t beta = 1; beta * l <= kMaxKsBits; ++beta) {
        const auto b = crypto::DecompBaseLog(beta);
        const auto lv = crypto::DecompLevelCount(l);
        const double v = crypto::keyswitch_variance(1, b, lv, var) + crypto::keyswitch_truncation_variance(1, b, lv);
        if (v < best) {
          best = v;
          r.ks_base[l] = beta;
        }
      }
      r.ks_unit[l] = best;
      r.ks_unit_min = std::min(r.ks_unit_min, best);
    }
  }
  return rows;
}

double modulus_switch(uint64_t n, uint64_t N) {
  const double np = static_cast<double>(N);
  return (1.0 + static_cast<double>(n) / 2.0) / (48.0 * np * np);
}

uint64_t min_poly_size(const Reduced& c) { return c.pbs_input ? uint64_t{2} << c.read_bits : 0; }

// The least variance any candidate of the search space gives this constraint on its own, and the
// least ratio variance/budget it reaches (> 1: infeasible on its own). +inf when no polynomial
// size is large enough.
double least_variance_alone(const Reduced& c, const std::vector<Shape>& shapes, const std::vector<LweRow>& rows) {
  double best = std::numeric_limits<double>::infinity();
  for (const Shape& s : shapes) {
    if (c.pbs_input && (c.read_bits + 1 >= 64 || s.N < min_poly_size(c))) continue;
    double g = std::numeric_limits<double>::infinity();
    for (uint64_t l = 1; l <= kMaxPbsLevels; ++l) g = std::min(g, s.pbs_unit[l]);
    const double big = static_cast<double>(s.k * s.N);
    for (uint64_t n = kMinLweDimension; n <= kMaxLweDimension; ++n) {
      double v = c.fresh * s.glwe_var + c.pbs * static_cast<double>(n) * g;
      if (c.pbs_input) v += big * rows[n - kMinLweDimension].ks_unit_min + modulus_switch(n, s.N);
      best = std::min(best, v);
      if (!c.pbs_input) break;  // decryption: increasing in n
    }
  }
  return best;
}

std::string format_g(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

std::string format_log2(double v) {
  if (v > -0.05) return "about 1";
  char buf[32];
  std::snprintf(buf, sizeof buf, "2^%.1f", v);
  return buf;
}

std::string describe_constraint(const NoiseConstraint& c) {
  std::string s = c.where + " (" + (c.kind == Kind::kPbsInput ? "PBS input" : "decryption") + ", " +
                  std::to_string(c.read_bits) + "-bit read";
  if (c.amplify_log2 > 0) s += ", noise amplified by 2^" + std::to_string(c.amplify_log2);
  s += ", squared norms: fresh " + format_g(c.fresh_norm2) + ", PBS output " + format_g(c.pbs_norm2) + ")";
  return s;
}

std::string way_out(const NoiseConstraint& c) {
  if (c.kind == Kind::kPbsInput)
    return "round the value to fewer bits before the lookup, lower the weights' precision (n_bits) so that "
           "fewer bits and smaller norms reach it, or raise the error probability";
  return "narrow the output: fewer bits in its weights or leaves (n_bits, leaf_bits) or fewer terms summed "
         "into it, or raise the error probability";
}

Status validate(const circuit::Analysis& analysis, const OptimizerOptions& options) {
  if (!std::isfinite(options.log2_p_error) || options.log2_p_error >= 0)
    return invalid_argument("log2_p_error must be a negative number, got " + format_g(options.log2_p_error));
  if (options.global_p_error && !(*options.global_p_error > 0 && *options.global_p_error < 1))
    return invalid_argument("global_p_error must be in (0, 1), got " + format_g(*options.global_p_error));
  if (!std::isfinite(options.security_margin_bits) || options.security_margin_bits < 0 ||
      options.security_margin_bits > 30)
    return invalid_argument("security_margin_bits must be in [0, 30], got " + format_g(options.security_margin_bits));
  for (const auto& c : analysis.constraints) {
    if (c.kind != Kind::kPbsInput && c.kind != Kind::kDecryption)
      return invalid_argument("constraint at " + c.where + " has an unknown kind");
    if (c.read_bits > 62)
      return invalid_argument("constraint at " + c.where + " reads " + std::to_string(c.read_bits) +
                              " bits: at most 62 fit the torus with a padding bit");
    if (c.amplify_log2 > 100)
      return invalid_argument("constraint at " + c.where + " amplifies its noise by 2^" +
                              std::to_string(c.amplify_log2) + ": at most 2^100 is meaningful");
    if (!(c.fresh_norm2 >= 0) || !(c.pbs_norm2 >= 0) || !std::isfinite(c.fresh_norm2) || !std::isfinite(c.pbs_norm2))
      return invalid_argument("constraint at " + c.where + " has a negative or non-finite squared norm");
  }
  return Status();
}

}  // namespace

// ---------------------------------------------------------------------------------------------

double estimated_pbs_ms(const crypto::ParameterSet& p) {
  return cost_ms(p.lwe_dimension.value, p.glwe_dimension.value, p.polynomial_size.value, p.pbs_level_count.value,
                 p.ks_level_count.value);
}

Result<OptimizerChoice> choose_parameters(const circuit::Analysis& analysis, const OptimizerOptions& options) {
  BLINDML_RETURN_IF_ERROR(validate(analysis, options));

  // Per-read target.
  uint64_t reads = 0;
  for (const auto& c : analysis.constraints) reads += c.count;
  double log_target;  // natural log
  if (options.global_p_error) {
    const double r = static_cast<double>(std::max<uint64_t>(reads, 1));
    log_target = std::log(-std::expm1(std::log1p(-*options.global_p_error) / r));
    if (!std::isfinite(log_target))
      return invalid_argument("the per-read error probability underflows: global_p_error " +
                              format_g(*options.global_p_error) + " over " + std::to_string(reads) + " reads");
  } else {
    log_target = options.log2_p_error * std::log(2.0);
  }
  const double x_star = erfc_threshold(log_target);

  const std::vector<Reduced> reduced = dedupe(analysis.constraints, x_star);
  std::vector<const Reduced*> pbs_cs, dec_cs;
  uint32_t max_bits = std::max<uint32_t>(1, analysis.max_lookup_bits);
  for (const Reduced& c : reduced) {
    (c.pbs_input ? pbs_cs : dec_cs).push_back(&c);
    if (c.pbs_input) max_bits = std::max(max_bits, c.read_bits);
  }
  if (pbs_cs.empty()) {
    for (const Reduced* c : dec_cs)
      if (c->pbs > 0)
        return invalid_argument("malformed analysis: " + c->origin->where +
                                " carries PBS-output noise but the circuit has no PBS input constraint");
  }
  const uint32_t message_bits = std::min<uint32_t>(max_bits, 16);

  const double margin = options.security_margin_bits;
  const std::vector<Shape> shapes = make_shapes(margin);
  const std::vector<LweRow> rows = make_lwe_rows(margin);
  auto row = [&](uint64_t n) -> const LweRow& { return rows[n - kMinLweDimension]; };

  const double log2_target = log_target / std::log(2.0);
  std::optional<crypto::ParameterSet> chosen;
  bool needs_bootstrapping = false;
  uint64_t evaluated = 0;

  if (pbs_cs.empty()) {
    // Leveled: the smallest kN whose secure σ_glwe meets every decryption (cost: ciphertext size);
    // shapes are ordered by k then N, so the first of equal kN has the smallest k.
    const Shape* best = nullptr;
    for (const Shape& s : shapes) {
      ++evaluated;
      bool ok = true;
      for (const Reduced* c : dec_cs) ok = ok && c->fresh * s.glwe_var <= c->budget;
      if (ok && (best == nullptr || s.k * s.N < best->k * best->N)) best = &s;
    }
    if (best != nullptr) {
      // Placeholder LWE/PBS/KS fields: the cheapest secure combination (never used for keys).
      const uint64_t n = kMinLweDimension;
      chosen = make_set(message_bits, n, best->k, best->N, row(n).lwe_std, best->glwe_std, best->pbs_base[1], 1,
                        row(n).ks_base[1], 1);
    }
  } else {
    // Bootstrapped: exhaustive over (k, N, l, l_ks) in increasing order of their cost at the
    // smallest n, scanning n upwards in each.
    uint64_t min_n_poly = 0;
    for (const Reduced* c : pbs_cs) {
      if (c->read_bits + 1 >= 64) {
        min_n_poly = std::numeric_limits<uint64_t>::max();
        break;
      }
      min_n_poly = std::max(min_n_poly, min_poly_size(*c));
    }
    struct Combo {
      double base_cost;
      const Shape* shape;
      uint64_t l, l_ks;
    };
    std::vector<Combo> combos;
    for (const Shape& s : shapes) {
      if (s.N < min_n_poly) continue;
      for (uint64_t l = 1; l <= kMaxPbsLevels; ++l)
        for (uint64_t l_ks = 1; l_ks <= kMaxKsLevels; ++l_ks)
          combos.push_back(Combo{cost_ms(kMinLweDimension, s.k, s.N, l, l_ks), &s, l, l_ks});
    }
    // Total order: cost, then smaller N, k, l, l_ks (the deterministic tie-break).
    auto key = [](double cost, const Shape& s, uint64_t l, uint64_t l_ks, uint64_t n) {
      return std::make_tuple(cost, s.N, s.k, l, l_ks, n);
    };
    std::sort(combos.begin(), combos.end(), [&](const Combo& a, const Combo& b) {
      return key(a.base_cost, *a.shape, a.l, a.l_ks, 0) < key(b.base_cost, *b.shape, b.l, b.l_ks, 0);
    });

    using Key = decltype(key(0.0, shapes.front(), 0, 0, 0));
    Key best_key{std::numeric_limits<double>::infinity(), 0, 0, 0, 0, 0};
    const Combo* best_combo = nullptr;
    uint64_t best_n = 0;

    for (const Combo& combo : combos) {
      const Shape& s = *combo.shape;
      if (key(combo.base_cost, s, combo.l, combo.l_ks, kMinLweDimension) >= best_key) break;
      const double g = s.pbs_unit[combo.l];
      const double big = static_cast<double>(s.k * s.N);
      // A lower bound over every n (PBS and modulus switch grow with n, key switching shrinks):
      // skip combinations that cannot meet some budget whatever n.
      bool hopeless = false;
      for (const Reduced* c : pbs_cs) {
        const double lb = c->fresh * s.glwe_var + c->pbs * static_cast<double>(kMinLweDimension) * g +
                          big * row(kMaxLweDimension).ks_unit[combo.l_ks] + modulus_switch(kMinLweDimension, s.N);
        hopeless = hopeless || lb > c->budget;
      }
      for (const Reduced* c : dec_cs)
        hopeless = hopeless || c->fresh * s.glwe_var + c->pbs * static_cast<double>(kMinLweDimension) * g > c->budget;
      if (hopeless) continue;

      for (uint64_t n = kMinLweDimension; n <= kMaxLweDimension; ++n) {
        const double cost = cost_ms(n, s.k, s.N, combo.l, combo.l_ks);
        if (key(cost, s, combo.l, combo.l_ks, n) >= best_key) break;
        ++evaluated;
        const double nn = static_cast<double>(n);
        const double pv = nn * g;
        const double ms = modulus_switch(n, s.N);
        const double ks = big * row(n).ks_unit[combo.l_ks];
        bool ok = true, beyond = false;
        for (const Reduced* c : dec_cs) beyond = beyond || c->fresh * s.glwe_var + c->pbs * pv > c->budget;
        for (const Reduced* c : pbs_cs) {
          const double growing = c->fresh * s.glwe_var + c->pbs * pv + ms;
          beyond = beyond || growing > c->budget;
          ok = ok && growing + ks <= c->budget;
        }
        if (beyond) break;  // the terms growing with n alone exceed a budget: no larger n helps
        if (ok) {
          best_key = key(cost, s, combo.l, combo.l_ks, n);
          best_combo = &combo;
          best_n = n;
          break;
        }
      }
    }
    if (best_combo != nullptr) {
      const Shape& s = *best_combo->shape;
      const LweRow& r = row(best_n);
      chosen = make_set(message_bits, best_n, s.k, s.N, r.lwe_std, s.glwe_std, s.pbs_base[best_combo->l], best_combo->l,
                        r.ks_base[best_combo->l_ks], best_combo->l_ks);
      needs_bootstrapping = true;
    }
  }

  if (!chosen) {
    // Find the culprit: a constraint that no candidate satisfies on its own.
    const Reduced* culprit = nullptr;
    double culprit_ratio = -1, culprit_var = 0;
    for (const Reduced& c : reduced) {
      const double v = least_variance_alone(c, shapes, rows);
      const double ratio = v / c.budget;
      if (ratio > culprit_ratio) {
        culprit = &c;
        culprit_ratio = ratio;
        culprit_var = v;
      }
    }
    if (culprit == nullptr) return internal_error("parameter search found nothing and no culprit");
    const NoiseConstraint& c = *culprit->origin;
    std::string msg = "no 128-bit-secure parameter set (security margin " + format_g(margin) + " bits) meets " +
                      describe_constraint(c);
    if (!std::isfinite(culprit_var)) {
      msg += ": a " + std::to_string(c.read_bits) + "-bit lookup needs a polynomial size of at least 2^" +
             std::to_string(c.read_bits + 1) + ", beyond the largest 2^" + std::to_string(kMaxLogPolySize);
    } else {
      msg += ": the best error probability reachable for it is " +
             format_log2(log2_error_probability(c.read_bits, culprit_var)) + " per read, the target is " +
             format_log2(log2_target);
      if (culprit_ratio <= 1.0)
        msg += " (each constraint is satisfiable alone, not all together; this is the tightest)";
    }
    msg += ". What helps: " + way_out(c) + ".";
    return non_conformant(msg);
  }

  // Figures of the choice, from the noise.h functions over every original constraint.
  OptimizerChoice choice{.params = *chosen,
                         .needs_bootstrapping = needs_bootstrapping,
                         .log2_p_error_per_read = log2_target,
                         .log2_worst_p_error = -std::numeric_limits<double>::infinity(),
                         .global_p_error = 0,
                         .estimated_pbs_ms = 0,
                         .estimated_circuit_ms = 0,
                         .worst_constraint = {},
                         .candidates_evaluated = evaluated};
  if (needs_bootstrapping) {
    choice.estimated_pbs_ms = estimated_pbs_ms(choice.params);
    choice.estimated_circuit_ms = static_cast<double>(analysis.pbs_count) * choice.estimated_pbs_ms;
  }
  double log_no_error = 0;  // log Π (1 − p_i)^count_i
  for (const auto& c : analysis.constraints) {
    const double lp = log2_error_probability(c.read_bits, constraint_variance(choice.params, c));
    if (choice.worst_constraint.empty() || lp > choice.log2_worst_p_error) {
      choice.log2_worst_p_error = lp;
      choice.worst_constraint = c.where;
    }
    log_no_error += static_cast<double>(c.count) * std::log1p(-std::exp2(lp));
  }
  choice.global_p_error = log_no_error < 0 ? -std::expm1(log_no_error) : 0.0;
  return choice;
}

double log2_read_error_probability(const crypto::ParameterSet& params, const NoiseConstraint& constraint) {
  return log2_error_probability(constraint.read_bits, constraint_variance(params, constraint));
}

std::string OptimizerChoice::report() const {
  const auto& p = params;
  const uint64_t n = p.lwe_dimension.value, k = p.glwe_dimension.value, N = p.polynomial_size.value;
  char buf[1024];
  std::string out;
  if (needs_bootstrapping) {
    std::snprintf(buf, sizeof buf, "parameters \"%s\" for %u-bit lookups: n = %llu, k = %llu, N = %llu\n", p.name,
                  p.message_bits, static_cast<unsigned long long>(n), static_cast<unsigned long long>(k),
                  static_cast<unsigned long long>(N));
  } else {
    std::snprintf(buf, sizeof buf,
                  "parameters \"%s\": leveled circuit, no bootstrapping; GLWE k = %llu, N = %llu (the LWE, PBS "
                  "and KS fields are placeholders, no evaluation key is made)\n",
                  p.name, static_cast<unsigned long long>(k), static_cast<unsigned long long>(N));
  }
  out += buf;
  std::snprintf(buf, sizeof buf, "  LWE  n = %llu, sigma = 2^%.2f (%.2f bits above the 128-bit line)\n",
                static_cast<unsigned long long>(n), p.lwe_noise_log2_std,
                crypto::security_margin_bits(n, p.lwe_noise_log2_std));
  out += buf;
  std::snprintf(buf, sizeof buf, "  GLWE kN = %llu, sigma = 2^%.2f (%.2f bits above the 128-bit line)\n",
                static_cast<unsigned long long>(k * N), p.glwe_noise_log2_std,
                crypto::security_margin_bits(k * N, p.glwe_noise_log2_std));
  out += buf;
  std::snprintf(
      buf, sizeof buf, "  PBS  base 2^%llu x %llu levels; KS base 2^%llu x %llu levels\n",
      static_cast<unsigned long long>(p.pbs_base_log.value), static_cast<unsigned long long>(p.pbs_level_count.value),
      static_cast<unsigned long long>(p.ks_base_log.value), static_cast<unsigned long long>(p.ks_level_count.value));
  out += buf;
  if (worst_constraint.empty()) {
    std::snprintf(buf, sizeof buf, "  no ciphertext is read (target 2^%.1f per read)\n", log2_p_error_per_read);
  } else {
    std::snprintf(buf, sizeof buf, "  worst read: %s, p = 2^%.1f (target 2^%.1f per read); circuit p = %.3g\n",
                  worst_constraint.c_str(), log2_worst_p_error, log2_p_error_per_read, global_p_error);
  }
  out += buf;
  if (needs_bootstrapping) {
    std::snprintf(buf, sizeof buf, "  estimated KS-PBS %.2f ms, circuit %.1f ms (one thread); %llu candidates\n",
                  estimated_pbs_ms, estimated_circuit_ms, static_cast<unsigned long long>(candidates_evaluated));
    out += buf;
  }
  return out;
}

}  // namespace blindml::compiler
