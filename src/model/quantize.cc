#include "blindml/model/quantize.h"

#include <algorithm>
#include <cmath>

namespace blindml::model {

int64_t Quantizer::quantize(double x) const {
  const double v = std::nearbyint(x / scale + static_cast<double>(zero_point));  // half to even
  if (!(v >= static_cast<double>(qmin()))) return qmin();  // also NaN
  if (v > static_cast<double>(qmax())) return qmax();
  return static_cast<int64_t>(v);
}

Quantizer Quantizer::calibrate(double rmin, double rmax, uint32_t n_bits, bool is_signed, bool symmetric) {
  Quantizer q;
  q.n_bits = n_bits;
  q.is_signed = is_signed || symmetric;
  const double levels = std::exp2(n_bits) - 1;
  const double o = q.is_signed ? std::exp2(n_bits - 1) : 0.0;
  if (rmax - rmin < 1e-6) {
    if (std::fabs(rmax) < 1e-6) {
      q.scale = 1.0;
      q.zero_point = static_cast<int64_t>(std::nearbyint(-rmin));
    } else {
      q.scale = rmax;
      q.zero_point = 0;
    }
    return q;
  }
  if (symmetric) {
    q.scale = std::max(std::fabs(rmin), std::fabs(rmax)) / (std::exp2(n_bits - 1) - 1);
    q.zero_point = 0;
    return q;
  }
  q.scale = (rmax - rmin) / levels;
  q.zero_point = static_cast<int64_t>(std::nearbyint((rmax * (-o) - rmin * (levels - o)) / (rmax - rmin)));
  return q;
}

Quantizer Quantizer::calibrate(std::span<const double> values, uint32_t n_bits, bool is_signed, bool symmetric) {
  double lo = 0, hi = 0;
  if (!values.empty()) {
    auto [a, b] = std::minmax_element(values.begin(), values.end());
    lo = *a;
    hi = *b;
  }
  return calibrate(lo, hi, n_bits, is_signed, symmetric);
}

}  // namespace blindml::model
