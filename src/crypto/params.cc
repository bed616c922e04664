#include "blindml/crypto/params.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "blindml/base/bytes.h"
#include "blindml/crypto/noise.h"

namespace blindml::crypto {
namespace {

// PARAMETER SETS. Chosen by tools/param_search.py (fastest under a time model measured on the
// 2-core AVX-512 CI machine: FFT times and key-streaming bandwidth) with:
// per-PBS error probability <= 2^-40 for an input of squared 2-norm 1 (PBS output or fresh
// big-key ciphertext), σ at least 1 bit above the 128-bit line of min_secure_log2_std for both n
// and kN. tests/crypto/params_test.cc re-checks every claim below with the C++ formulas.
// Measured security margins and error probabilities: params_test prints them (docs/parameters.md).
constexpr ParameterSet kSets[] = {
    // 1 bit: n=732, k=3, N=512, PBS 2^17×1, KS 2^5×2.
    {.name = "blindml_1bit_2m40", .message_bits = 1, .lwe_dimension = LweDimension(732),
     .glwe_dimension = GlweDimension(3), .polynomial_size = PolynomialSize(512),
     .lwe_noise_log2_std = 48.88, .glwe_noise_log2_std = 28.22, .pbs_base_log = DecompBaseLog(17),
     .pbs_level_count = DecompLevelCount(1), .ks_base_log = DecompBaseLog(5),
     .ks_level_count = DecompLevelCount(2)},
    // 2 bits: n=754, k=3, N=512, PBS 2^17×1, KS 2^4×3.
    {.name = "blindml_2bit_2m40", .message_bits = 2, .lwe_dimension = LweDimension(754),
     .glwe_dimension = GlweDimension(3), .polynomial_size = PolynomialSize(512),
     .lwe_noise_log2_std = 48.31, .glwe_noise_log2_std = 28.22, .pbs_base_log = DecompBaseLog(17),
     .pbs_level_count = DecompLevelCount(1), .ks_base_log = DecompBaseLog(4),
     .ks_level_count = DecompLevelCount(3)},
    // 3 bits: n=820, k=2, N=1024, PBS 2^23×1, KS 2^4×3.
    {.name = "blindml_3bit_2m40", .message_bits = 3, .lwe_dimension = LweDimension(820),
     .glwe_dimension = GlweDimension(2), .polynomial_size = PolynomialSize(1024),
     .lwe_noise_log2_std = 46.61, .glwe_noise_log2_std = 15.06, .pbs_base_log = DecompBaseLog(23),
     .pbs_level_count = DecompLevelCount(1), .ks_base_log = DecompBaseLog(4),
     .ks_level_count = DecompLevelCount(3)},
    // 4 bits: n=876, k=1, N=2048, PBS 2^23×1, KS 2^5×3.
    {.name = "blindml_4bit_2m40", .message_bits = 4, .lwe_dimension = LweDimension(876),
     .glwe_dimension = GlweDimension(1), .polynomial_size = PolynomialSize(2048),
     .lwe_noise_log2_std = 45.18, .glwe_noise_log2_std = 15.06, .pbs_base_log = DecompBaseLog(23),
     .pbs_level_count = DecompLevelCount(1), .ks_base_log = DecompBaseLog(5),
     .ks_level_count = DecompLevelCount(3)},
    // 5 bits: n=944, k=1, N=4096, PBS 2^23×1, KS 2^5×3.
    {.name = "blindml_5bit_2m40", .message_bits = 5, .lwe_dimension = LweDimension(944),
     .glwe_dimension = GlweDimension(1), .polynomial_size = PolynomialSize(4096),
     .lwe_noise_log2_std = 43.43, .glwe_noise_log2_std = 3.01, .pbs_base_log = DecompBaseLog(23),
     .pbs_level_count = DecompLevelCount(1), .ks_base_log = DecompBaseLog(5),
     .ks_level_count = DecompLevelCount(3)},
    // 6 bits: n=1038, k=1, N=8192, PBS 2^23×1, KS 2^6×3.
    {.name = "blindml_6bit_2m40", .message_bits = 6, .lwe_dimension = LweDimension(1038),
     .glwe_dimension = GlweDimension(1), .polynomial_size = PolynomialSize(8192),
     .lwe_noise_log2_std = 41.01, .glwe_noise_log2_std = 3.01, .pbs_base_log = DecompBaseLog(23),
     .pbs_level_count = DecompLevelCount(1), .ks_base_log = DecompBaseLog(6),
     .ks_level_count = DecompLevelCount(3)},
    // 7 bits: n=1052, k=1, N=16384, PBS 2^22×1, KS 2^3×7.
    {.name = "blindml_7bit_2m40", .message_bits = 7, .lwe_dimension = LweDimension(1052),
     .glwe_dimension = GlweDimension(1), .polynomial_size = PolynomialSize(16384),
     .lwe_noise_log2_std = 40.65, .glwe_noise_log2_std = 3.01, .pbs_base_log = DecompBaseLog(22),
     .pbs_level_count = DecompLevelCount(1), .ks_base_log = DecompBaseLog(3),
     .ks_level_count = DecompLevelCount(7)},
    // 8 bits: n=1096, k=1, N=32768, PBS 2^15×2, KS 2^4×5.
    {.name = "blindml_8bit_2m40", .message_bits = 8, .lwe_dimension = LweDimension(1096),
     .glwe_dimension = GlweDimension(1), .polynomial_size = PolynomialSize(32768),
     .lwe_noise_log2_std = 39.52, .glwe_noise_log2_std = 3.01, .pbs_base_log = DecompBaseLog(15),
     .pbs_level_count = DecompLevelCount(2), .ks_base_log = DecompBaseLog(4),
     .ks_level_count = DecompLevelCount(5)},
};

constexpr uint64_t kMinCurveDimension = 450;

}  // namespace

std::span<const ParameterSet> named_parameter_sets() { return kSets; }

Result<ParameterSet> parameters_for_bits(uint32_t bits) {
  for (const auto& s : kSets) {
    if (s.message_bits == bits) return s;
  }
  return invalid_argument("no parameter set for " + std::to_string(bits) +
                          "-bit messages: blindml's named sets cover 1 to 8 bits");
}

double min_secure_log2_std(uint64_t dimension) {
  // Zama concrete-security-curves, λ = 128, q = 2^64 (see params.h): a·d + b in log2(σ/q).
  const double a = -0.025696778711484593;
  const double b = 2.675931372549016;
  return std::max(a * static_cast<double>(dimension) + b, 2.0 - 64.0) + 64.0;
}

double security_margin_bits(uint64_t dimension, double log2_std) {
  return log2_std - min_secure_log2_std(dimension);
}

Status check_structure(const ParameterSet& p) {
  auto is_pow2 = [](uint64_t v) { return v != 0 && (v & (v - 1)) == 0; };
  if (p.message_bits < 1 || p.message_bits > 16)
    return non_conformant("message_bits " + std::to_string(p.message_bits) + " outside 1..16");
  if (p.lwe_dimension.value == 0 || p.lwe_dimension.value > (1u << 16))
    return non_conformant("LWE dimension " + std::to_string(p.lwe_dimension.value) + " outside 1..65536");
  if (!is_pow2(p.polynomial_size.value) || p.polynomial_size.value < 256 || p.polynomial_size.value > (1u << 17))
    return non_conformant("polynomial size " + std::to_string(p.polynomial_size.value) +
                          " is not a power of two in 256..131072");
  if (p.glwe_dimension.value == 0 || p.glwe_dimension.value > 8)
    return non_conformant("GLWE dimension " + std::to_string(p.glwe_dimension.value) + " outside 1..8");
  auto check_decomp = [](const char* what, DecompBaseLog b, DecompLevelCount l) -> Status {
    if (b.value == 0 || l.value == 0 || b.value * l.value > 64)
      return non_conformant(std::string(what) + " decomposition 2^" + std::to_string(b.value) + " x " +
                            std::to_string(l.value) + " must have base_log >= 1, levels >= 1, base_log*levels <= 64");
    return Status();
  };
  BLINDML_RETURN_IF_ERROR(check_decomp("PBS", p.pbs_base_log, p.pbs_level_count));
  BLINDML_RETURN_IF_ERROR(check_decomp("key-switching", p.ks_base_log, p.ks_level_count));
  if (p.pbs_base_log.value * p.pbs_level_count.value > 53)
    return non_conformant("PBS decomposition 2^" + std::to_string(p.pbs_base_log.value) + " x " +
                          std::to_string(p.pbs_level_count.value) +
                          " keeps more than the 53 bits a double-precision FFT carries");
  if (!(p.lwe_noise_log2_std > 0 && p.lwe_noise_log2_std < 64) ||
      !(p.glwe_noise_log2_std > 0 && p.glwe_noise_log2_std < 64))
    return non_conformant("noise standard deviations must be between 2^0 and 2^64");
  return Status();
}

Status check_security(const ParameterSet& p) {
  BLINDML_RETURN_IF_ERROR(check_structure(p));
  auto check = [](const char* what, uint64_t d, double log2_std) -> Status {
    if (d < kMinCurveDimension)
      return non_conformant(std::string(what) + " dimension " + std::to_string(d) +
                            " is below 450, where the 128-bit security curve is not defined");
    double margin = security_margin_bits(d, log2_std);
    if (margin < 0) {
      char buf[256];
      std::snprintf(buf, sizeof buf,
                    "%s noise 2^%.2f is below the 128-bit security minimum 2^%.2f for dimension %llu "
                    "(concrete-security-curves, lattice-estimator): raise the noise or the dimension",
                    what, log2_std, min_secure_log2_std(d), static_cast<unsigned long long>(d));
      return non_conformant(buf);
    }
    return Status();
  };
  BLINDML_RETURN_IF_ERROR(check("LWE", p.lwe_dimension.value, p.lwe_noise_log2_std));
  BLINDML_RETURN_IF_ERROR(check("GLWE (k*N)", p.big_lwe_dimension().value, p.glwe_noise_log2_std));
  return Status();
}

Fingerprint fingerprint(const ParameterSet& p) {
  ByteWriter w;
  const char tag[] = "blindml-params-v1";
  w.put_bytes(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(tag), sizeof tag - 1));
  w.put_u64(p.lwe_dimension.value);
  w.put_u64(p.glwe_dimension.value);
  w.put_u64(p.polynomial_size.value);
  w.put_f64(p.lwe_noise_log2_std);
  w.put_f64(p.glwe_noise_log2_std);
  w.put_u64(p.pbs_base_log.value);
  w.put_u64(p.pbs_level_count.value);
  w.put_u64(p.ks_base_log.value);
  w.put_u64(p.ks_level_count.value);
  auto h = sha256(w.bytes());
  Fingerprint f;
  std::copy_n(h.begin(), f.size(), f.begin());
  return f;
}

std::string fingerprint_hex(const ParameterSet& p) {
  auto f = fingerprint(p);
  return to_hex(f);
}

}  // namespace blindml::crypto
