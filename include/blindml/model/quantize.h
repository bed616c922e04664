// Uniform affine quantization (shared/models.md §1, the reference's formulas).
//
//   n bits; signed ⇒ offset o = 2^(n-1), else 0; q ∈ [-o, 2^n - 1 - o].
//   asymmetric: scale = (rmax - rmin)/(2^n - 1), zero point
//               zp = round((rmax·(-o) - rmin·(2^n - 1 - o)) / (rmax - rmin));
//   symmetric (signed): zp = 0, scale = max(|rmin|, |rmax|)/(2^(n-1) - 1);
//   degenerate range (rmax - rmin < 1e-6): scale = 1, zp = rint(-rmin) if |rmax| < 1e-6, else
//               scale = rmax, zp = 0.
//   quantize    q = clip(rint(x/scale + zp), -o, 2^n - 1 - o)   (rint: half to even)
//   dequantize  x = scale·(q - zp)
//
// Thread safety: a value type; pure functions.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace blindml::model {

struct Quantizer {
  uint32_t n_bits = 8;
  bool is_signed = false;
  double scale = 1.0;
  int64_t zero_point = 0;

  int64_t qmin() const { return is_signed ? -(int64_t{1} << (n_bits - 1)) : 0; }
  int64_t qmax() const { return is_signed ? (int64_t{1} << (n_bits - 1)) - 1 : (int64_t{1} << n_bits) - 1; }
  int64_t quantize(double x) const;
  double dequantize(int64_t q) const { return scale * static_cast<double>(q - zero_point); }

  // From the range [rmin, rmax] of a calibration set (rmin <= rmax), by the formulas above.
  static Quantizer calibrate(double rmin, double rmax, uint32_t n_bits, bool is_signed, bool symmetric);
  // From the values themselves (their min and max).
  static Quantizer calibrate(std::span<const double> values, uint32_t n_bits, bool is_signed, bool symmetric);
};

}  // namespace blindml::model
