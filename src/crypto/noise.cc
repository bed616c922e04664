#include "blindml/crypto/noise.h"

#include <cmath>

namespace blindml::crypto {
namespace {
constexpr double kTwoPow64 = 18446744073709551616.0;

// FFT rounding model. In an external product each output coefficient is a sum of (k+1)·l·N
// products digit × key word, computed in double precision: each carries a relative error of about
// 2^-53 per FFT stage, so the absolute error variance per coefficient and product is
//   kFftErrorConstant · 2^-106 · log2(N) · E[digit²] · E[key²],
// with E[digit²] = B²/12 and E[key²] = q²/3 (uniform torus words; q = 1 here). The phase sees
// the body's error plus the mask errors times the key: a factor 1 + kN/2.
// kFftErrorConstant was fitted by tests/crypto/fft_test.cc (FftErrorMatchesModel), which measures
// the error of FFT external products against exact integer ones and checks it stays within 2× of this.
constexpr double kFftErrorConstant = 0.3;
}  // namespace

double variance_from_log2_std(double log2_std) {
  double s = std::exp2(log2_std) / kTwoPow64;
  return s * s;
}

double keyswitch_variance(uint64_t input_dimension, DecompBaseLog base_log, DecompLevelCount levels,
                          double ksk_variance) {
  double n_in = static_cast<double>(input_dimension);
  double l = static_cast<double>(levels.value);
  double b = std::exp2(static_cast<double>(base_log.value));
  double key_part = n_in * l * (b * b + 2.0) / 12.0 * ksk_variance;
  double q2 = kTwoPow64 * kTwoPow64;
  double rounding = n_in * (std::exp2(-2.0 * base_log.value * levels.value) - 1.0 / q2) / 24.0;
  return key_part + rounding;
}

double keyswitch_truncation_variance(uint64_t input_dimension, DecompBaseLog base_log, DecompLevelCount levels) {
  const double b = std::exp2(static_cast<double>(base_log.value));
  // Each key word rounded to a multiple of 2^-32: uniform error of variance 2^-64/12, times the
  // digits (E[d²] = (B²+2)/12) over kN·l terms.
  return static_cast<double>(input_dimension) * static_cast<double>(levels.value) * (b * b + 2.0) / 12.0 *
         std::exp2(-64.0) / 12.0;
}

double modulus_switch_variance(LweDimension n, PolynomialSize poly_size) {
  double N = static_cast<double>(poly_size.value);
  return (1.0 + static_cast<double>(n.value) / 2.0) / (48.0 * N * N);
}

namespace {
// The bootstrap's dimensions as doubles, for the formulas.
struct PbsDims {
  explicit PbsDims(const ParameterSet& p)
      : n(static_cast<double>(p.lwe_dimension.value)), k(static_cast<double>(p.glwe_dimension.value)),
        N(static_cast<double>(p.polynomial_size.value)), l(static_cast<double>(p.pbs_level_count.value)),
        b(std::exp2(static_cast<double>(p.pbs_base_log.value))) {}
  double n, k, N, l, b;
};
}  // namespace

double pbs_fft_variance(const ParameterSet& p) {
  const auto [n, k, N, l, b] = PbsDims(p);
  // Error per output polynomial, times (1 + kN/2): the k mask polynomials' errors are multiplied
  // by the binary key (kN/2 ones on average) when the phase is computed.
  return kFftErrorConstant * n * (k + 1.0) * l * N * (b * b / 12.0) * (1.0 / 3.0) * std::exp2(-106.0) *
         std::log2(N) * (1.0 + k * N / 2.0);
}

double pbs_variance(const ParameterSet& p) {
  const auto [n, k, N, l, b] = PbsDims(p);
  double q2 = kTwoPow64 * kTwoPow64;
  double s2 = variance_from_log2_std(p.glwe_noise_log2_std);
  double v = n * l * (k + 1.0) * N * (b * b + 2.0) / 12.0 * s2;
  v += n * (q2 / std::pow(b, 2.0 * l) - 1.0) / (24.0 * q2) * (1.0 + k * N / 2.0);
  v += n * k * N / (32.0 * q2);
  v += n / (16.0 * q2) * (1.0 - k * N / 2.0) * (1.0 - k * N / 2.0);
  return v + pbs_fft_variance(p);
}

double pbs_input_total_variance(const ParameterSet& p, double input_variance) {
  double ks = keyswitch_variance(p.big_lwe_dimension().value, p.ks_base_log, p.ks_level_count,
                                 variance_from_log2_std(p.lwe_noise_log2_std)) +
              keyswitch_truncation_variance(p.big_lwe_dimension().value, p.ks_base_log, p.ks_level_count);
  return input_variance + ks + modulus_switch_variance(p.lwe_dimension, p.polynomial_size);
}

double error_probability(uint32_t bits, double variance) {
  double delta = std::exp2(63.0 - bits) / kTwoPow64;
  return std::erfc(delta / (2.0 * std::sqrt(2.0 * variance)));
}

double log2_pbs_error_probability(const ParameterSet& p, double squared_norm) {
  double v = pbs_input_total_variance(p, squared_norm * pbs_variance(p));
  double pe = error_probability(p.message_bits, v);
  if (pe > 0) return std::log2(pe);
  // erfc underflows far below 2^-1000; use its asymptotic form.
  double delta = std::exp2(63.0 - p.message_bits) / kTwoPow64;
  double x = delta / (2.0 * std::sqrt(2.0 * v));
  return (-x * x - std::log(x * std::sqrt(M_PI))) / std::log(2.0);
}

}  // namespace blindml::crypto
