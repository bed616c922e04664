#include "internal/fft.h"

#include "internal/simd_fft.h"

#include <fftw3.h>

#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>

#if defined(__AVX512F__) && defined(__AVX512DQ__)
#include <immintrin.h>
#define BLINDML_AVX512 1
// GCC 12 warns "'__Y' may be used uninitialized" inside avx512fintrin.h for intrinsics whose
// unused pass-through operand is _mm512_undefined_pd() (GCC bug 105593): a
// false positive in the compiler's own header, silenced for this file only.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
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
  // Our AVX-512 transform where the build has it (about 1.7x FFTW's AVX codelets, as accurate:
  // tests/crypto/simd_fft_test.cc, bench/fft_bench.cc); FFTW otherwise.
  if (SimdFft::available() && h >= 64) {
    simd_ = std::make_unique<SimdFft>(h);
    plan_ = inverse_plan_ = nullptr;
    return;
  }
  AlignedF64 buf(n);
  auto* c = reinterpret_cast<fftw_complex*>(buf.data());
  std::lock_guard<std::mutex> lock(planner_mutex());
  plan_ = fftw_plan_dft_1d(static_cast<int>(h), c, c, FFTW_FORWARD, FFTW_MEASURE);
  inverse_plan_ = fftw_plan_dft_1d(static_cast<int>(h), c, c, FFTW_BACKWARD, FFTW_MEASURE);
  if (plan_ == nullptr || inverse_plan_ == nullptr) std::abort();
}

NegacyclicFft::~NegacyclicFft() {
  if (simd_) return;
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

namespace {
// The forward twist's complex product (x + iy)·(c + is) for one coefficient pair. The AVX-512 loops
// compute it with fused multiply-adds (fmsub / fmadd); the scalar tails must round the same way,
// since the CMux form sends any coefficient to either loop depending on the rotation. Whether the
// compiler contracts x·c − y·s into an FMA by itself depends on the optimisation level (GCC does
// it at -O2 and above only), so the FMAs are written out. Without AVX-512 there is only the scalar
// loop, and plain products (no libm fma on machines without FMA instructions).
inline void twist_product(double x, double y, double c, double s, double* re, double* im) {
#ifdef BLINDML_AVX512
  *re = std::fma(x, c, -(y * s));
  *im = std::fma(x, s, y * c);
#else
  *re = x * c - y * s;
  *im = x * s + y * c;
#endif
}
}  // namespace

void NegacyclicFft::forward_i64(const int64_t* __restrict in, double* __restrict out) const {
  const uint64_t h = n_ / 2;
  const double* __restrict c = tw_re_.data();
  const double* __restrict s = tw_im_.data();
  uint64_t j = 0;
#ifdef BLINDML_AVX512
  const __m512i lo_idx = _mm512_set_epi64(11, 3, 10, 2, 9, 1, 8, 0);
  const __m512i hi_idx = _mm512_set_epi64(15, 7, 14, 6, 13, 5, 12, 4);
  for (; j + 8 <= h; j += 8) {
    __m512d x = _mm512_cvtepi64_pd(_mm512_loadu_si512(in + j));
    __m512d y = _mm512_cvtepi64_pd(_mm512_loadu_si512(in + j + h));
    __m512d cc = _mm512_load_pd(c + j), ss = _mm512_load_pd(s + j);
    __m512d re = _mm512_fmsub_pd(x, cc, _mm512_mul_pd(y, ss));
    __m512d im = _mm512_fmadd_pd(x, ss, _mm512_mul_pd(y, cc));
    _mm512_store_pd(out + 2 * j, _mm512_permutex2var_pd(re, lo_idx, im));
    _mm512_store_pd(out + 2 * j + 8, _mm512_permutex2var_pd(re, hi_idx, im));
  }
#endif
  for (; j < h; ++j) {
    twist_product(static_cast<double>(in[j]), static_cast<double>(in[j + h]), c[j], s[j], &out[2 * j],
                  &out[2 * j + 1]);
  }
  forward_transform(out);
}

void NegacyclicFft::forward_transform(double* twisted) const {
  if (simd_) {
    simd_->forward(twisted);
    return;
  }
  auto* z = reinterpret_cast<fftw_complex*>(twisted);
  fftw_execute_dft(static_cast<fftw_plan>(plan_), z, z);
}

namespace {
// The decomposition and twist of forward_decomposed for coefficient pairs (j, j + N/2), given the
// torus words x = d[j], y = d[j + N/2]: the same integer steps as decompose_polynomial and the same
// floating-point operations as forward_i64.
struct DecompTwist {
  uint64_t n, h, base_log, levels, shift, kept_mask, mask;
  bool round;
  const double* c;
  const double* s;
  double* out;

  void scalar(uint64_t j, uint64_t x, uint64_t y) const {
    if (round) {
      x = ((x >> shift) + ((x >> (shift - 1)) & 1)) & kept_mask;
      y = ((y >> shift) + ((y >> (shift - 1)) & 1)) & kept_mask;
    }
    for (uint64_t lev = levels; lev >= 1; --lev) {
      const uint64_t dx = x & mask, dy = y & mask;
      const uint64_t cx = (dx >> (base_log - 1)) & 1, cy = (dy >> (base_log - 1)) & 1;
      x = (x >> base_log) + cx;
      y = (y >> base_log) + cy;
      const double fx = static_cast<double>(static_cast<int64_t>(dx) - static_cast<int64_t>(cx << base_log));
      const double fy = static_cast<double>(static_cast<int64_t>(dy) - static_cast<int64_t>(cy << base_log));
      double* o = out + (lev - 1) * n;
      twist_product(fx, fy, c[j], s[j], &o[2 * j], &o[2 * j + 1]);
    }
  }

#ifdef BLINDML_AVX512
  struct Vec {
    __m512i lo_idx, hi_idx, one, vmask, vkept, vshift, vshift1, vbeta, vbeta1;
  };
  Vec vec() const {
    return {_mm512_set_epi64(11, 3, 10, 2, 9, 1, 8, 0), _mm512_set_epi64(15, 7, 14, 6, 13, 5, 12, 4),
            _mm512_set1_epi64(1), _mm512_set1_epi64(static_cast<int64_t>(mask)),
            _mm512_set1_epi64(static_cast<int64_t>(kept_mask)), _mm512_set1_epi64(static_cast<int64_t>(shift)),
            _mm512_set1_epi64(static_cast<int64_t>(round ? shift - 1 : 0)),
            _mm512_set1_epi64(static_cast<int64_t>(base_log)), _mm512_set1_epi64(static_cast<int64_t>(base_log - 1))};
  }
  // Coefficients j..j+7 (any j: unaligned accesses).
  void vector(const Vec& v, uint64_t j, __m512i x, __m512i y) const {
    if (round) {
      x = _mm512_and_si512(_mm512_add_epi64(_mm512_srlv_epi64(x, v.vshift),
                                            _mm512_and_si512(_mm512_srlv_epi64(x, v.vshift1), v.one)), v.vkept);
      y = _mm512_and_si512(_mm512_add_epi64(_mm512_srlv_epi64(y, v.vshift),
                                            _mm512_and_si512(_mm512_srlv_epi64(y, v.vshift1), v.one)), v.vkept);
    }
    const __m512d cc = _mm512_loadu_pd(c + j), ss = _mm512_loadu_pd(s + j);
    for (uint64_t lev = levels; lev >= 1; --lev) {
      const __m512i dx = _mm512_and_si512(x, v.vmask), dy = _mm512_and_si512(y, v.vmask);
      const __m512i cx = _mm512_and_si512(_mm512_srlv_epi64(dx, v.vbeta1), v.one);
      const __m512i cy = _mm512_and_si512(_mm512_srlv_epi64(dy, v.vbeta1), v.one);
      x = _mm512_add_epi64(_mm512_srlv_epi64(x, v.vbeta), cx);
      y = _mm512_add_epi64(_mm512_srlv_epi64(y, v.vbeta), cy);
      const __m512d fx = _mm512_cvtepi64_pd(_mm512_sub_epi64(dx, _mm512_sllv_epi64(cx, v.vbeta)));
      const __m512d fy = _mm512_cvtepi64_pd(_mm512_sub_epi64(dy, _mm512_sllv_epi64(cy, v.vbeta)));
      const __m512d re = _mm512_fmsub_pd(fx, cc, _mm512_mul_pd(fy, ss));
      const __m512d im = _mm512_fmadd_pd(fx, ss, _mm512_mul_pd(fy, cc));
      double* o = out + (lev - 1) * n + 2 * j;
      _mm512_storeu_pd(o, _mm512_permutex2var_pd(re, v.lo_idx, im));
      _mm512_storeu_pd(o + 8, _mm512_permutex2var_pd(re, v.hi_idx, im));
    }
  }
#endif
};
}  // namespace

void NegacyclicFft::forward_decomposed(const uint64_t* __restrict in, uint64_t base_log, uint64_t levels,
                                       double* __restrict out) const {
  forward_decomposed_cmux(in, 0, base_log, levels, out);
}

void NegacyclicFft::forward_decomposed_cmux(const uint64_t* __restrict in, uint64_t t, uint64_t base_log,
                                            uint64_t levels, double* __restrict out) const {
  const uint64_t n = n_, h = n_ / 2;
  const uint64_t kept = base_log * levels;
  const bool round = kept < 64;
  DecompTwist dt{n,
                 h,
                 base_log,
                 levels,
                 round ? 64 - kept : 0,
                 round ? (uint64_t{1} << kept) - 1 : ~uint64_t{0},
                 (uint64_t{1} << base_log) - 1,
                 round,
                 tw_re_.data(),
                 tw_im_.data(),
                 out};
#ifdef BLINDML_AVX512
  const DecompTwist::Vec v = dt.vec();
#endif
  if (t == 0) {
    uint64_t j = 0;
#ifdef BLINDML_AVX512
    for (; j + 8 <= h; j += 8) dt.vector(v, j, _mm512_loadu_si512(in + j), _mm512_loadu_si512(in + j + h));
#endif
    for (; j < h; ++j) dt.scalar(j, in[j], in[j + h]);
  } else {
    // d[m] = (X^t·in)[m] − in[m]: with t' = t mod N, (X^t·in)[m] = ±in[m − t'] for m ≥ t' and
    // ∓in[m − t' + N] below (the sign flips when t ≥ N). Coefficient j (< N/2) and j + N/2 change
    // side at the same j, p = t' mod N/2, so [0, p) and [p, N/2) are each one contiguous case.
    const bool neg = t >= n;
    const uint64_t tp = neg ? t - n : t;
    const uint64_t p = tp % h;
    for (int seg = 0; seg < 2; ++seg) {
      const uint64_t j0 = seg == 0 ? 0 : p, j1 = seg == 0 ? p : h;
      // Source offsets and signs for x = coefficient j and y = coefficient j + N/2 in this segment.
      const bool x_high = j0 >= tp;         // m = j ≥ t'
      const bool y_high = j0 + h >= tp;     // m = j + N/2 ≥ t'
      const uint64_t* xs = in + ((x_high ? 0 : n) + j0 - tp);  // source of coefficient j0
      const uint64_t* ys = in + ((y_high ? 0 : n) + j0 + h - tp);
      const bool xneg = x_high ? neg : !neg, yneg = y_high ? neg : !neg;
      uint64_t j = j0;
#ifdef BLINDML_AVX512
      const __m512i zero = _mm512_setzero_si512();
      for (; j + 8 <= j1; j += 8) {
        __m512i rx = _mm512_loadu_si512(xs + (j - j0)), ry = _mm512_loadu_si512(ys + (j - j0));
        if (xneg) rx = _mm512_sub_epi64(zero, rx);
        if (yneg) ry = _mm512_sub_epi64(zero, ry);
        dt.vector(v, j, _mm512_sub_epi64(rx, _mm512_loadu_si512(in + j)),
                  _mm512_sub_epi64(ry, _mm512_loadu_si512(in + j + h)));
      }
#endif
      for (; j < j1; ++j) {
        const uint64_t rx = xneg ? 0 - xs[j - j0] : xs[j - j0], ry = yneg ? 0 - ys[j - j0] : ys[j - j0];
        dt.scalar(j, rx - in[j], ry - in[j + h]);
      }
    }
  }
  for (uint64_t lev = 0; lev < levels; ++lev) forward_transform(out + lev * n_);
}

void NegacyclicFft::inverse_transform(double* spectrum) const {
  if (simd_) {
    simd_->inverse(spectrum);
    return;
  }
  auto* z = reinterpret_cast<fftw_complex*>(spectrum);
  fftw_execute_dft(static_cast<fftw_plan>(inverse_plan_), z, z);
}

void NegacyclicFft::backward_f64(double* spectrum, double* __restrict out) const {
  const uint64_t h = n_ / 2;
  inverse_transform(spectrum);
  const double* __restrict c = itw_re_.data();
  const double* __restrict s = itw_im_.data();
  for (uint64_t j = 0; j < h; ++j) {
    double x = spectrum[2 * j], y = spectrum[2 * j + 1];
    out[j] = x * c[j] + y * s[j];
    out[j + h] = y * c[j] - x * s[j];
  }
}

void NegacyclicFft::backward_add_torus(double* spectrum, uint64_t* __restrict out) const {
  const uint64_t h = n_ / 2;
  inverse_transform(spectrum);
  const double* __restrict c = itw_re_.data();
  const double* __restrict s = itw_im_.data();
  uint64_t j = 0;
#ifdef BLINDML_AVX512
  const __m512d inv = _mm512_set1_pd(0x1.0p-64);
  const __m512d two64 = _mm512_set1_pd(0x1.0p64);
  const __m512i even = _mm512_set_epi64(14, 12, 10, 8, 6, 4, 2, 0);
  const __m512i odd = _mm512_set_epi64(15, 13, 11, 9, 7, 5, 3, 1);
  for (; j + 8 <= h; j += 8) {
    __m512d v0 = _mm512_load_pd(spectrum + 2 * j), v1 = _mm512_load_pd(spectrum + 2 * j + 8);
    __m512d x = _mm512_permutex2var_pd(v0, even, v1), y = _mm512_permutex2var_pd(v0, odd, v1);
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
    double x = spectrum[2 * j], y = spectrum[2 * j + 1];
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
  uint64_t j = 0;
#ifdef BLINDML_AVX512
  for (; j + 8 <= n; j += 8) {
    _mm_prefetch(reinterpret_cast<const char*>(b + j + 1024), _MM_HINT_T0);
    __m512d va = _mm512_load_pd(a + j), vb = _mm512_load_pd(b + j), vo = _mm512_load_pd(out + j);
    __m512d a_re = _mm512_movedup_pd(va);             // (ar, ar)
    __m512d a_im = _mm512_permute_pd(va, 0xff);       // (ai, ai)
    __m512d b_sw = _mm512_permute_pd(vb, 0x55);       // (bi, br)
    // (ar·br − ai·bi, ar·bi + ai·br)
    __m512d prod = _mm512_fmaddsub_pd(a_re, vb, _mm512_mul_pd(a_im, b_sw));
    _mm512_store_pd(out + j, _mm512_add_pd(vo, prod));
  }
#endif
  for (; j < n; j += 2) {
    double ar = a[j], ai = a[j + 1], br = b[j], bi = b[j + 1];
    out[j] += ar * br - ai * bi;
    out[j + 1] += ar * bi + ai * br;
  }
}

#ifdef BLINDML_AVX512
namespace {
// spectrum_mac_ggsw for compile-time rows × cols (the shapes of the named sets: k+1 = 2, 3, 4
// with l = 1, and 2 × 2 levels). Per block of 4 complex values, each digit's (re, re) and (im, im)
// are formed once for all columns, and each product is two FMAs into two accumulators per column
// (Σ a_re·b and Σ a_im·swap(b)) combined once at the end: 1 shuffle and 2 FMAs per term instead
// of 3 shuffles, a multiply, an fmaddsub and an add.
template <int kRows, int kCols>
void mac_fixed(double* __restrict out, const double* __restrict digits, const double* __restrict ggsw,
               const double* next_ggsw, uint64_t n) {
  const __m512d ones = _mm512_set1_pd(1.0);
  for (uint64_t j = 0; j < n; j += 8) {
    __m512d are[kRows], aim[kRows];
    for (int r = 0; r < kRows; ++r) {
      const __m512d va = _mm512_load_pd(digits + r * n + j);
      are[r] = _mm512_movedup_pd(va);
      aim[r] = _mm512_permute_pd(va, 0xff);
    }
    for (int col = 0; col < kCols; ++col) {
      __m512d p = _mm512_setzero_pd(), q = _mm512_setzero_pd();
      for (int r = 0; r < kRows; ++r) {
        const double* kb = ggsw + (r * kCols + col) * n + j;
        if (next_ggsw != nullptr)
          _mm_prefetch(reinterpret_cast<const char*>(next_ggsw + (r * kCols + col) * n + j), _MM_HINT_T1);
        const __m512d vb = _mm512_load_pd(kb);
        p = _mm512_fmadd_pd(are[r], vb, p);                                 // (ar·br, ar·bi)
        q = _mm512_fmadd_pd(aim[r], _mm512_permute_pd(vb, 0x55), q);        // (ai·bi, ai·br)
      }
      _mm512_store_pd(out + col * n + j, _mm512_fmaddsub_pd(p, ones, q));  // (re: p − q, im: p + q)
    }
  }
}
}  // namespace
#endif

void spectrum_mac_ggsw(double* __restrict out, const double* __restrict digits, const double* __restrict ggsw,
                       const double* next_ggsw, uint64_t rows, uint64_t cols, uint64_t n) {
  uint64_t j = 0;
#ifdef BLINDML_AVX512
  if (n % 8 == 0) {
    if (rows == 2 && cols == 2) return mac_fixed<2, 2>(out, digits, ggsw, next_ggsw, n);
    if (rows == 3 && cols == 3) return mac_fixed<3, 3>(out, digits, ggsw, next_ggsw, n);
    if (rows == 4 && cols == 4) return mac_fixed<4, 4>(out, digits, ggsw, next_ggsw, n);
    if (rows == 4 && cols == 2) return mac_fixed<4, 2>(out, digits, ggsw, next_ggsw, n);
  }
  // Other shapes: one pass over the coefficients, every (row, column) product accumulated in
  // registers and each output written once; the key is read in storage order within each block.
  const __m512d ones = _mm512_set1_pd(1.0);
  for (; j + 8 <= n; j += 8) {
    for (uint64_t col = 0; col < cols; ++col) {
      __m512d p = _mm512_setzero_pd(), q = _mm512_setzero_pd();
      for (uint64_t r = 0; r < rows; ++r) {
        const double* kb = ggsw + (r * cols + col) * n + j;
        if (next_ggsw != nullptr)
          _mm_prefetch(reinterpret_cast<const char*>(next_ggsw + (r * cols + col) * n + j), _MM_HINT_T1);
        __m512d va = _mm512_load_pd(digits + r * n + j), vb = _mm512_load_pd(kb);
        p = _mm512_fmadd_pd(_mm512_movedup_pd(va), vb, p);
        q = _mm512_fmadd_pd(_mm512_permute_pd(va, 0xff), _mm512_permute_pd(vb, 0x55), q);
      }
      _mm512_store_pd(out + col * n + j, _mm512_fmaddsub_pd(p, ones, q));
    }
  }
#endif
  // Portable builds (no AVX-512: FFTW spectra, other roundings anyway): plain products.
  (void)next_ggsw;
  for (; j < n; j += 2) {
    for (uint64_t col = 0; col < cols; ++col) {
      double re = 0, im = 0;
      for (uint64_t r = 0; r < rows; ++r) {
        const double* a = digits + r * n;
        const double* b = ggsw + (r * cols + col) * n;
        re += a[j] * b[j] - a[j + 1] * b[j + 1];
        im += a[j] * b[j + 1] + a[j + 1] * b[j];
      }
      out[col * n + j] = re;
      out[col * n + j + 1] = im;
    }
  }
}

void spectrum_mul(double* out, const double* a, const double* b, uint64_t n) {
  for (uint64_t j = 0; j < n; j += 2) {
    double ar = a[j], ai = a[j + 1], br = b[j], bi = b[j + 1];
    out[j] = ar * br - ai * bi;
    out[j + 1] = ar * bi + ai * br;
  }
}

}  // namespace blindml::crypto::internal
