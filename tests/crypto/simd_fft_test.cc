// SimdFft against its contract: round trip, cyclic convolution (exact integers, FFTW), the documented
// output order (against FFTW's forward transform), the portable path, and accuracy against a
// long-double reference, compared with FFTW's own (FFTW_MEASURE plans, as fft.cc uses).
#include <fftw3.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdio>
#include <numbers>
#include <random>
#include <vector>

#include "blindml/crypto/aligned.h"
#include "internal/simd_fft.h"

using blindml::crypto::AlignedF64;
using blindml::crypto::internal::SimdFft;

namespace {

using cld = std::complex<long double>;

const std::vector<uint64_t> kSizes = {16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384};

struct Fftw {
  explicit Fftw(uint64_t h) : buf(2 * h) {
    auto* c = reinterpret_cast<fftw_complex*>(buf.data());
    fwd = fftw_plan_dft_1d(static_cast<int>(h), c, c, FFTW_FORWARD, FFTW_MEASURE);
    bwd = fftw_plan_dft_1d(static_cast<int>(h), c, c, FFTW_BACKWARD, FFTW_MEASURE);
  }
  ~Fftw() {
    fftw_destroy_plan(fwd);
    fftw_destroy_plan(bwd);
  }
  void forward(double* d) const {
    fftw_execute_dft(fwd, reinterpret_cast<fftw_complex*>(d), reinterpret_cast<fftw_complex*>(d));
  }
  void backward(double* d) const {
    fftw_execute_dft(bwd, reinterpret_cast<fftw_complex*>(d), reinterpret_cast<fftw_complex*>(d));
  }
  AlignedF64 buf;
  fftw_plan fwd, bwd;
};

// Pointwise a ⊙= b on interleaved complex.
void pointwise(double* a, const double* b, uint64_t h) {
  for (uint64_t k = 0; k < h; ++k) {
    const double ar = a[2 * k], ai = a[2 * k + 1], br = b[2 * k], bi = b[2 * k + 1];
    a[2 * k] = ar * br - ai * bi;
    a[2 * k + 1] = ar * bi + ai * br;
  }
}

// Long-double FFT (radix 2, twiddles from long-double sin/cos): reference for large sizes.
// sign −1: forward. Natural order in and out.
void ref_fft(std::vector<cld>& a, int sign) {
  const size_t n = a.size();
  for (size_t i = 1, j = 0; i < n; ++i) {
    size_t bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) std::swap(a[i], a[j]);
  }
  for (size_t len = 2; len <= n; len <<= 1) {
    for (size_t j = 0; j < len / 2; ++j) {
      const long double ang = sign * 2 * std::numbers::pi_v<long double> * static_cast<long double>(j) /
                              static_cast<long double>(len);
      const cld w(std::cos(ang), std::sin(ang));
      for (size_t s = 0; s < n; s += len) {
        const cld u = a[s + j], v = a[s + j + len / 2] * w;
        a[s + j] = u + v;
        a[s + j + len / 2] = u - v;
      }
    }
  }
}

// h·(x ⊛ y) in long double: direct for h ≤ 2048, through the long-double FFT above otherwise.
std::vector<cld> ref_convolution(const std::vector<cld>& x, const std::vector<cld>& y) {
  const size_t h = x.size();
  std::vector<cld> out(h);
  if (h <= 2048) {
    for (size_t n = 0; n < h; ++n) {
      cld acc = 0;
      for (size_t m = 0; m < h; ++m) acc += x[m] * y[(n + h - m) % h];
      out[n] = acc * static_cast<long double>(h);
    }
  } else {
    std::vector<cld> fx = x, fy = y;
    ref_fft(fx, -1);
    ref_fft(fy, -1);
    for (size_t k = 0; k < h; ++k) out[k] = fx[k] * fy[k];
    ref_fft(out, +1);
  }
  return out;
}

// Direct DFT in long double (h ≤ 2048) or the long-double FFT.
std::vector<cld> ref_dft(const std::vector<cld>& x) {
  const size_t h = x.size();
  if (h > 2048) {
    std::vector<cld> a = x;
    ref_fft(a, -1);
    return a;
  }
  std::vector<cld> w(h), out(h);
  for (size_t k = 0; k < h; ++k) {
    const long double ang = -2 * std::numbers::pi_v<long double> * static_cast<long double>(k) / static_cast<long double>(h);
    w[k] = cld(std::cos(ang), std::sin(ang));
  }
  for (size_t k = 0; k < h; ++k) {
    cld acc = 0;
    for (size_t n = 0; n < h; ++n) acc += x[n] * w[(n * k) % h];
    out[k] = acc;
  }
  return out;
}

std::vector<double> random_data(std::mt19937_64& rng, uint64_t count, double mag) {
  std::uniform_real_distribution<double> dist(-mag, mag);
  std::vector<double> v(count);
  for (auto& e : v) e = dist(rng);
  return v;
}

class SimdFftSizes : public ::testing::TestWithParam<uint64_t> {};

TEST(SimdFft, Available) {
#if defined(__AVX512F__) && defined(__AVX512DQ__)
  EXPECT_TRUE(SimdFft::available());
#else
  EXPECT_FALSE(SimdFft::available());
#endif
}

TEST_P(SimdFftSizes, RoundTrip) {
  const uint64_t h = GetParam();
  SimdFft fft(h);
  ASSERT_EQ(fft.size(), h);
  std::mt19937_64 rng(h);
  for (int portable = 0; portable < 2; ++portable) {
    auto x = random_data(rng, 2 * h, 1.0);
    AlignedF64 d(x.begin(), x.end());
    if (portable) {
      fft.forward_portable(d.data());
      fft.inverse_portable(d.data());
    } else {
      fft.forward(d.data());
      fft.inverse(d.data());
    }
    double err = 0;
    for (uint64_t i = 0; i < 2 * h; ++i) err = std::max(err, std::abs(d[i] - static_cast<double>(h) * x[i]));
    EXPECT_LE(err / static_cast<double>(h), 1e-12) << "portable=" << portable;
  }
}

// The documented order: X[κ·h/8 + bitrev_Lb(b)] at (b / C)·8C + κ·C + (b mod C).
TEST_P(SimdFftSizes, SpectrumIndexIsTheDocumentedPermutation) {
  const uint64_t h = GetParam();
  SimdFft fft(h);
  int lb = 0;
  while ((uint64_t{8} << lb) < h) ++lb;
  const uint64_t blocks = h / 8, c = std::min<uint64_t>(8, blocks);
  std::vector<int> seen(h, 0);
  for (uint64_t kappa = 0; kappa < 8; ++kappa)
    for (uint64_t b = 0; b < blocks; ++b) {
      uint64_t rb = 0;
      for (int i = 0; i < lb; ++i) rb |= ((b >> i) & 1) << (lb - 1 - i);
      const uint64_t k = kappa * blocks + rb;
      const uint64_t o = fft.spectrum_index(k);
      ASSERT_EQ(o, (b / c) * 8 * c + kappa * c + b % c);
      if (h >= 64) {
        ASSERT_EQ(o, 64 * (b / 8) + 8 * kappa + b % 8);
      }
      ++seen[o];
    }
  for (uint64_t o = 0; o < h; ++o) ASSERT_EQ(seen[o], 1) << o;
}

// forward() against FFTW's forward transform, read through spectrum_index; the portable path too.
TEST_P(SimdFftSizes, ForwardMatchesFftwInDocumentedOrder) {
  const uint64_t h = GetParam();
  SimdFft fft(h);
  Fftw ref(h);
  std::mt19937_64 rng(h + 1);
  auto x = random_data(rng, 2 * h, 1.0);
  AlignedF64 a(x.begin(), x.end()), p(x.begin(), x.end()), f(x.begin(), x.end());
  fft.forward(a.data());
  fft.forward_portable(p.data());
  ref.forward(f.data());
  double err = 0, err_portable = 0, mag = 0;
  for (uint64_t k = 0; k < h; ++k) {
    const uint64_t o = fft.spectrum_index(k);
    mag = std::max(mag, std::hypot(f[2 * k], f[2 * k + 1]));
    err = std::max(err, std::hypot(a[2 * o] - f[2 * k], a[2 * o + 1] - f[2 * k + 1]));
    err_portable = std::max(err_portable, std::hypot(p[2 * o] - f[2 * k], p[2 * o + 1] - f[2 * k + 1]));
  }
  EXPECT_LE(err / mag, 1e-14);
  EXPECT_LE(err_portable / mag, 1e-14);
}

// inverse(forward(x) ⊙ forward(y)) = h·(x ⊛ y): exact for small integers (direct product for
// h ≤ 2048), and equal to FFTW's result after rounding for all sizes.
TEST_P(SimdFftSizes, CyclicConvolutionOfSmallIntegers) {
  const uint64_t h = GetParam();
  SimdFft fft(h);
  Fftw ref(h);
  std::mt19937_64 rng(h + 2);
  std::uniform_int_distribution<int> dist(-1000, 1000);
  std::vector<int64_t> x(2 * h), y(2 * h);
  for (auto& v : x) v = dist(rng);
  for (auto& v : y) v = dist(rng);
  AlignedF64 a(x.begin(), x.end()), b(y.begin(), y.end()), fa(x.begin(), x.end()), fb(y.begin(), y.end());
  fft.forward(a.data());
  fft.forward(b.data());
  pointwise(a.data(), b.data(), h);
  fft.inverse(a.data());
  ref.forward(fa.data());
  ref.forward(fb.data());
  pointwise(fa.data(), fb.data(), h);
  ref.backward(fa.data());
  const double inv_h = 1.0 / static_cast<double>(h);
  double max_frac = 0;
  for (uint64_t i = 0; i < 2 * h; ++i) {
    const double v = a[i] * inv_h;
    max_frac = std::max(max_frac, std::abs(v - std::nearbyint(v)));
    ASSERT_EQ(std::nearbyint(v), std::nearbyint(fa[i] * inv_h)) << i;
  }
  EXPECT_LT(max_frac, 0.01);
  if (h <= 2048) {
    for (uint64_t n = 0; n < h; ++n) {
      int64_t re = 0, im = 0;
      for (uint64_t m = 0; m < h; ++m) {
        const uint64_t k = (n + h - m) % h;
        re += x[2 * m] * y[2 * k] - x[2 * m + 1] * y[2 * k + 1];
        im += x[2 * m] * y[2 * k + 1] + x[2 * m + 1] * y[2 * k];
      }
      ASSERT_EQ(static_cast<int64_t>(std::nearbyint(a[2 * n] * inv_h)), re) << n;
      ASSERT_EQ(static_cast<int64_t>(std::nearbyint(a[2 * n + 1] * inv_h)), im) << n;
    }
  }
}

struct ErrorStats {
  double max = 0, sum_sq = 0, ref_sum_sq = 0;
  uint64_t count = 0;
  void add(const double* got, const std::vector<cld>& ref, uint64_t h) {
    for (uint64_t k = 0; k < h; ++k) {
      const long double er = static_cast<long double>(got[2 * k]) - ref[k].real();
      const long double ei = static_cast<long double>(got[2 * k + 1]) - ref[k].imag();
      const double e2 = static_cast<double>(er * er + ei * ei);
      max = std::max(max, std::sqrt(e2));
      sum_sq += e2;
      ref_sum_sq += static_cast<double>(std::norm(ref[k]));
      ++count;
    }
  }
  double rms() const { return std::sqrt(sum_sq / static_cast<double>(count)); }
  double ref_rms() const { return std::sqrt(ref_sum_sq / static_cast<double>(count)); }
};

// Random doubles of magnitude 2^40: errors of forward() and of inverse(forward(x) ⊙ forward(y))
// against long-double references, next to FFTW's measured the same way. RMS must stay within 1.3×
// FFTW's (the noise model of the bootstrap assumes FFTW-like rounding errors).
TEST_P(SimdFftSizes, AccuracyAgainstLongDoubleReferenceComparedWithFftw) {
  const uint64_t h = GetParam();
  SimdFft fft(h);
  Fftw ref(h);
  std::mt19937_64 rng(h + 3);
  const int trials = h <= 256 ? 16 : (h <= 2048 ? 4 : 2);
  ErrorStats fwd_ours, fwd_fftw, conv_ours, conv_fftw;
  AlignedF64 a(2 * h), b(2 * h), fa(2 * h), fb(2 * h), spec(2 * h);
  for (int t = 0; t < trials; ++t) {
    auto x = random_data(rng, 2 * h, 0x1.0p40);
    auto y = random_data(rng, 2 * h, 0x1.0p40);
    std::vector<cld> xl(h), yl(h);
    for (uint64_t k = 0; k < h; ++k) {
      xl[k] = cld(x[2 * k], x[2 * k + 1]);
      yl[k] = cld(y[2 * k], y[2 * k + 1]);
    }
    // Forward transform alone, ours read back into natural order.
    const std::vector<cld> xf = ref_dft(xl);
    std::copy(x.begin(), x.end(), a.begin());
    std::copy(x.begin(), x.end(), fa.begin());
    fft.forward(a.data());
    ref.forward(fa.data());
    for (uint64_t k = 0; k < h; ++k) {
      const uint64_t o = fft.spectrum_index(k);
      spec[2 * k] = a[2 * o];
      spec[2 * k + 1] = a[2 * o + 1];
    }
    fwd_ours.add(spec.data(), xf, h);
    fwd_fftw.add(fa.data(), xf, h);
    // Convolution.
    const std::vector<cld> conv = ref_convolution(xl, yl);
    std::copy(x.begin(), x.end(), a.begin());
    std::copy(y.begin(), y.end(), b.begin());
    std::copy(x.begin(), x.end(), fa.begin());
    std::copy(y.begin(), y.end(), fb.begin());
    fft.forward(a.data());
    fft.forward(b.data());
    pointwise(a.data(), b.data(), h);
    fft.inverse(a.data());
    ref.forward(fa.data());
    ref.forward(fb.data());
    pointwise(fa.data(), fb.data(), h);
    ref.backward(fa.data());
    conv_ours.add(a.data(), conv, h);
    conv_fftw.add(fa.data(), conv, h);
  }
  std::printf(
      "h=%6llu forward    rel. RMS ours %.3e FFTW %.3e (ratio %.3f), rel. max ours %.3e FFTW %.3e\n"
      "         convolution rel. RMS ours %.3e FFTW %.3e (ratio %.3f), rel. max ours %.3e FFTW %.3e\n",
      static_cast<unsigned long long>(h), fwd_ours.rms() / fwd_ours.ref_rms(), fwd_fftw.rms() / fwd_ours.ref_rms(),
      fwd_ours.rms() / fwd_fftw.rms(), fwd_ours.max / fwd_ours.ref_rms(), fwd_fftw.max / fwd_ours.ref_rms(),
      conv_ours.rms() / conv_ours.ref_rms(), conv_fftw.rms() / conv_ours.ref_rms(), conv_ours.rms() / conv_fftw.rms(),
      conv_ours.max / conv_ours.ref_rms(), conv_fftw.max / conv_ours.ref_rms());
  EXPECT_LE(fwd_ours.rms(), 1.3 * fwd_fftw.rms());
  EXPECT_LE(conv_ours.rms(), 1.3 * conv_fftw.rms());
  // Absolute sanity: ~1e-16·log2(h) relative.
  EXPECT_LE(conv_ours.rms() / conv_ours.ref_rms(), 1e-15);
}

INSTANTIATE_TEST_SUITE_P(Sizes, SimdFftSizes, ::testing::ValuesIn(kSizes));

// The two sizes above the tested range that the class accepts: round trip and agreement with
// FFTW's forward transform (FFTW_ESTIMATE plans, to keep the test short).
TEST(SimdFft, LargestSizes) {
  for (uint64_t h : {32768, 65536}) {
    SimdFft fft(h);
    std::mt19937_64 rng(h);
    auto x = random_data(rng, 2 * h, 1.0);
    AlignedF64 a(x.begin(), x.end()), f(x.begin(), x.end());
    auto* c = reinterpret_cast<fftw_complex*>(f.data());
    fftw_plan plan = fftw_plan_dft_1d(static_cast<int>(h), c, c, FFTW_FORWARD, FFTW_ESTIMATE);
    fftw_execute(plan);
    fftw_destroy_plan(plan);
    fft.forward(a.data());
    double err = 0, mag = 0;
    for (uint64_t k = 0; k < h; ++k) {
      const uint64_t o = fft.spectrum_index(k);
      mag = std::max(mag, std::hypot(f[2 * k], f[2 * k + 1]));
      err = std::max(err, std::hypot(a[2 * o] - f[2 * k], a[2 * o + 1] - f[2 * k + 1]));
    }
    EXPECT_LE(err / mag, 1e-14) << h;
    fft.inverse(a.data());
    err = 0;
    for (uint64_t i = 0; i < 2 * h; ++i) err = std::max(err, std::abs(a[i] - static_cast<double>(h) * x[i]));
    EXPECT_LE(err / static_cast<double>(h), 1e-12) << h;
  }
}

}  // namespace
