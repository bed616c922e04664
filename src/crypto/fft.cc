#include "internal/fft.h"

#include <fftw3.h>

#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>

#if defined(__AVX512F__) && defined(__AVX512DQ__)
#include <immintrin.h>
#define BLINDML_AVX512 1
#endif

namespace blindml::crypto::internal {
namespace {
std::mutex& planner_mutex() {
  static std::mutex mu;
  return mu;
}

// round(x) mod 2^64 for any finite double: x - 2^64·round(x/2^64) is exact (both are multiples
// of ulp(x) and the result is below 2^63 in magnitude), then an ordinary conversion.
inline uint64_t f64_to_torus(double x) {
  double y = x - std::nearbyint(x * 0x1.0p-64) * 0x1.0p64;
  double r = std::nearbyint(y);
  if (r >= 0x1.0p63) r -= 0x1.0p64;
  return static_cast<uint64_t>(static_cast<int64_t>(r));
}
}  // namespace

NegacyclicFft::NegacyclicFft(uint64_t n) : n_(n) {
  uint64_t h = n / 2;
  tw_re_.resize(h);
  tw_im_.resize(h);
  itw_re_.resize(h);
  itw_im_.resize(h);
  for (uint64_t j = 0; j < h; ++j) {
    // Angles computed in long double then rounded: the twist's own error stays at 1 ulp.
    long double a = static_cast<long double>(M_PI) * static_cast<long double>(j) / static_cast<long double>(n);
    tw_re_[j] = static_cast<double>(std::cos(a));
    tw_im_[j] = static_cast<double>(std::sin(a));
    itw_re_[j] = static_cast<double>(std::cos(a) / static_cast<long double>(h));
    itw_im_[j] = static_cast<double>(std::sin(a) / static_cast<long double>(h));
  }
  AlignedF64 buf(n);
  fftw_iodim dim{static_cast<int>(h), 1, 1};
  std::lock_guard<std::mutex> lock(planner_mutex());
  // FFTW requires new-array executions of a split plan to keep the plan's ii - ri offset: the
  // inverse transform (real and imaginary parts swapped) therefore needs a plan of its own.
  plan_ = fftw_plan_guru_split_dft(1, &dim, 0, nullptr, buf.data(), buf.data() + h, buf.data(), buf.data() + h,
                                   FFTW_MEASURE);
  inverse_plan_ = fftw_plan_guru_split_dft(1, &dim, 0, nullptr, buf.data() + h, buf.data(), buf.data() + h,
                                           buf.data(), FFTW_MEASURE);
  if (plan_ == nullptr || inverse_plan_ == nullptr) std::abort();
}

NegacyclicFft::~NegacyclicFft() {
  std::lock_guard<std::mutex> lock(planner_mutex());
  fftw_destroy_plan(static_cast<fftw_plan>(plan_));
  fftw_destroy_plan(static_cast<fftw_plan>(inverse_plan_));
}

const NegacyclicFft& NegacyclicFft::get(uint64_t poly_size) {
  static std::mutex mu;
  static std::map<uint64_t, std::unique_ptr<NegacyclicFft>> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto& slot = cache[poly_size];
  if (!slot) slot.reset(new NegacyclicFft(poly_size));
  return *slot;
}

void NegacyclicFft::forward_i64(const int64_t* __restrict in, double* __restrict out) const {
  const uint64_t h = n_ / 2;
  double* __restrict re = out;
  double* __restrict im = out + h;
  const double* __restrict c = tw_re_.data();
  const double* __restrict s = tw_im_.data();
  for (uint64_t j = 0; j < h; ++j) {
    double x = static_cast<double>(in[j]);
    double y = static_cast<double>(in[j + h]);
    re[j] = x * c[j] - y * s[j];
    im[j] = x * s[j] + y * c[j];
  }
  fftw_execute_split_dft(static_cast<fftw_plan>(plan_), re, im, re, im);
}

void NegacyclicFft::backward_f64(double* spectrum, double* __restrict out) const {
  const uint64_t h = n_ / 2;
  double* re = spectrum;
  double* im = spectrum + h;
  // Swapping real and imaginary parts turns FFTW's forward split transform into the inverse one.
  fftw_execute_split_dft(static_cast<fftw_plan>(inverse_plan_), im, re, im, re);
  const double* __restrict c = itw_re_.data();
  const double* __restrict s = itw_im_.data();
  for (uint64_t j = 0; j < h; ++j) {
    double x = re[j], y = im[j];
    out[j] = x * c[j] + y * s[j];
    out[j + h] = y * c[j] - x * s[j];
  }
}

void NegacyclicFft::backward_add_torus(double* spectrum, uint64_t* __restrict out) const {
  const uint64_t h = n_ / 2;
  double* __restrict re = spectrum;
  double* __restrict im = spectrum + h;
  fftw_execute_split_dft(static_cast<fftw_plan>(inverse_plan_), im, re, im, re);
  const double* __restrict c = itw_re_.data();
  const double* __restrict s = itw_im_.data();
  uint64_t j = 0;
#ifdef BLINDML_AVX512
  const __m512d inv = _mm512_set1_pd(0x1.0p-64);
  const __m512d two64 = _mm512_set1_pd(0x1.0p64);
  for (; j + 8 <= h; j += 8) {
    __m512d x = _mm512_load_pd(re + j), y = _mm512_load_pd(im + j);
    __m512d cc = _mm512_load_pd(c + j), ss = _mm512_load_pd(s + j);
    __m512d lo = _mm512_fmadd_pd(x, cc, _mm512_mul_pd(y, ss));
    __m512d hi = _mm512_fmsub_pd(y, cc, _mm512_mul_pd(x, ss));
    __m512d qlo = _mm512_roundscale_pd(_mm512_mul_pd(lo, inv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512d qhi = _mm512_roundscale_pd(_mm512_mul_pd(hi, inv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    lo = _mm512_fnmadd_pd(qlo, two64, lo);
    hi = _mm512_fnmadd_pd(qhi, two64, hi);
    // Conversion overflow (exactly 2^63) yields 0x8000000000000000, which is 2^63 mod 2^64.
    __m512i ilo = _mm512_cvt_roundpd_epi64(lo, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512i ihi = _mm512_cvt_roundpd_epi64(hi, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512i olo = _mm512_loadu_si512(out + j), ohi = _mm512_loadu_si512(out + j + h);
    _mm512_storeu_si512(out + j, _mm512_add_epi64(olo, ilo));
    _mm512_storeu_si512(out + j + h, _mm512_add_epi64(ohi, ihi));
  }
#endif
  for (; j < h; ++j) {
    double x = re[j], y = im[j];
    out[j] += f64_to_torus(x * c[j] + y * s[j]);
    out[j + h] += f64_to_torus(y * c[j] - x * s[j]);
  }
}

void NegacyclicFft::mul_add_exact_small(const uint64_t* a, const double* s_spectrum, uint64_t* out,
                                        double* scratch) const {
  double* spec = scratch;
  double* res = scratch + n_;
  for (int t = 0; t < 4; ++t) {
    // Limb t as int64, staged in res's memory (free until backward_f64 writes it).
    int64_t* limb = reinterpret_cast<int64_t*>(res);
    for (uint64_t j = 0; j < n_; ++j) limb[j] = static_cast<int64_t>((a[j] >> (16 * t)) & 0xffff);
    forward_i64(limb, spec);
    spectrum_mul(spec, spec, s_spectrum, n_);
    backward_f64(spec, res);
    for (uint64_t j = 0; j < n_; ++j) {
      uint64_t v = static_cast<uint64_t>(static_cast<int64_t>(std::nearbyint(res[j])));
      out[j] += v << (16 * t);
    }
  }
}

void spectrum_mul_add(double* __restrict out, const double* __restrict a, const double* __restrict b, uint64_t n) {
  const uint64_t h = n / 2;
  double* __restrict ore = out;
  double* __restrict oim = out + h;
  const double* __restrict are = a;
  const double* __restrict aim = a + h;
  const double* __restrict bre = b;
  const double* __restrict bim = b + h;
  for (uint64_t j = 0; j < h; ++j) {
    ore[j] += are[j] * bre[j] - aim[j] * bim[j];
    oim[j] += are[j] * bim[j] + aim[j] * bre[j];
  }
}

void spectrum_mul(double* out, const double* a, const double* b, uint64_t n) {
  const uint64_t h = n / 2;
  for (uint64_t j = 0; j < h; ++j) {
    double ar = a[j], ai = a[j + h], br = b[j], bi = b[j + h];
    out[j] = ar * br - ai * bi;
    out[j + h] = ar * bi + ai * br;
  }
}

}  // namespace blindml::crypto::internal
