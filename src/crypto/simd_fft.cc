#include "internal/simd_fft.h"

#include <cmath>
#include <cstdlib>
#include <numbers>
#include <utility>

#if defined(__AVX512F__) && defined(__AVX512DQ__)
#include <immintrin.h>
#define BLINDML_SIMD_FFT 1
#endif

namespace blindml::crypto::internal {
namespace {

// Sub-transforms up to this many complex values (16 KiB) are finished breadth first: they stay in L1.
constexpr uint64_t kL1Values = 1024;

uint64_t bitrev(uint64_t x, int bits) {
  uint64_t r = 0;
  for (int i = 0; i < bits; ++i) r |= ((x >> i) & 1) << (bits - 1 - i);
  return r;
}

// e^{-2πi·k/m} for m a power of two: the angle is reduced exactly to [0, π/4] by symmetry, then
// cos and sin are taken in long double and rounded once (exact at multiples of π/4 and π/2).
std::pair<double, double> unit_root(uint64_t k, uint64_t m) {
  k %= m;
  long double x = static_cast<long double>(k) / static_cast<long double>(m);  // exact
  bool neg_sin = false, neg_cos = false, swap = false;
  if (x > 0.5L) { x = 1.0L - x; neg_sin = true; }
  if (x > 0.25L) { x = 0.5L - x; neg_cos = true; }
  if (x > 0.125L) { x = 0.25L - x; swap = true; }
  long double a = 2.0L * std::numbers::pi_v<long double> * x;
  long double c = std::cos(a), s = std::sin(a);
  if (x == 0.125L) c = s = std::sqrt(0.5L);
  if (swap) std::swap(c, s);
  if (neg_cos) c = -c;
  if (neg_sin) s = -s;
  return {static_cast<double>(c), -static_cast<double>(s)};
}

constexpr int kBitrev3[8] = {0, 4, 2, 6, 1, 5, 3, 7};
// SIMD path: lane ℓ of a block's vectors holds its value kLane[ℓ] (see load()).
constexpr int kLane[8] = {0, 4, 1, 5, 2, 6, 3, 7};
constexpr int kLaneOf[8] = {0, 2, 4, 6, 1, 3, 5, 7};  // inverse of kLane

// Radices of the passes over blocks, for lb = log2(h) − 3 ≥ 3 block levels; *final_radix: the radix
// of the step across blocks inside the last pass. The last pass does 2 block levels (a radix-4
// step: its dependency chain is short enough for the out-of-order window; radix 8 there measured
// ~10% slower) except at h = 64; the others go in radix-8 passes, with one or two radix-4 passes
// first (a radix-2 pass at h = 128). Measured on Zen 4: the order and the mix matter by a few % at
// most.
std::vector<uint32_t> plan(int lb, uint32_t* final_radix) {
  std::vector<uint32_t> r;
  if (lb == 3) {
    *final_radix = 8;
    return r;
  }
  *final_radix = 4;
  const int rest = lb - 2;
  if (rest == 1) {
    r.push_back(2);
    return r;
  }
  if (rest % 3 == 1) r.push_back(4);
  if (rest % 3 != 0) r.push_back(4);
  for (int i = 0; i < rest / 3 - (rest % 3 == 1 ? 1 : 0); ++i) r.push_back(8);
  return r;
}

}  // namespace

#ifdef BLINDML_SIMD_FFT
// GCC 12 warns about the _mm512_undefined_pd() inside its own unpack/shuffle intrinsics.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
namespace {

struct C8 {
  __m512d r, i;
};

// A load into a register. Without the empty asm, GCC folds the load into each instruction that
// uses the value, loading it twice or more, and the loads (one 512-bit load per cycle on Zen 4)
// become the bottleneck.
inline __m512d ld(const double* p) {
  __m512d v = _mm512_load_pd(p);
  asm("" : "+v"(v));
  return v;
}

inline C8 add(C8 a, C8 b) { return {_mm512_add_pd(a.r, b.r), _mm512_add_pd(a.i, b.i)}; }
inline C8 sub(C8 a, C8 b) { return {_mm512_sub_pd(a.r, b.r), _mm512_sub_pd(a.i, b.i)}; }
// a·w, w given by 8 re then 8 im at w.
inline C8 mul_tw(C8 a, const double* w) {
  __m512d wr = ld(w), wi = ld(w + 8);
  return {_mm512_fmsub_pd(a.r, wr, _mm512_mul_pd(a.i, wi)), _mm512_fmadd_pd(a.r, wi, _mm512_mul_pd(a.i, wr))};
}
// a·conj(w).
inline C8 mul_conj_tw(C8 a, const double* w) {
  __m512d wr = ld(w), wi = ld(w + 8);
  return {_mm512_fmadd_pd(a.r, wr, _mm512_mul_pd(a.i, wi)), _mm512_fmsub_pd(a.i, wr, _mm512_mul_pd(a.r, wi))};
}

// Block of 8 complex values at p (128 bytes), as a pair of vectors (re, im) whose lane ℓ holds value
// kLane[ℓ] of the block: that is the order unpacklo/unpackhi give when they split interleaved data
// (cheaper than a two-source permute on Zen 4), and it costs nothing anywhere else (twiddles are
// stored in the same order, and the last pass relabels). In memory: split (8 re, 8 im, same lane
// order) between passes, interleaved (natural order) at the ends.
template <bool kInterleaved>
inline C8 load(const double* p) {
  __m512d v0 = ld(p), v1 = ld(p + 8);
  if constexpr (kInterleaved) {
    return {_mm512_unpacklo_pd(v0, v1), _mm512_unpackhi_pd(v0, v1)};
  } else {
    return {v0, v1};
  }
}
template <bool kInterleaved>
inline void store(double* p, C8 v) {
  if constexpr (kInterleaved) {
    _mm512_store_pd(p, _mm512_unpacklo_pd(v.r, v.i));
    _mm512_store_pd(p + 8, _mm512_unpackhi_pd(v.r, v.i));
  } else {
    _mm512_store_pd(p, v.r);
    _mm512_store_pd(p + 8, v.i);
  }
}

// out[k] = Σ_n in[n]·ω^{nk}, ω = e^{∓2πi/4} (kInv: +), natural order in and out.
template <bool kInv>
inline void dft4(C8& v0, C8& v1, C8& v2, C8& v3) {
  C8 s0 = add(v0, v2), s1 = sub(v0, v2), s2 = add(v1, v3), s3 = sub(v1, v3);
  v0 = add(s0, s2);
  v2 = sub(s0, s2);
  C8 p{_mm512_add_pd(s1.r, s3.i), _mm512_sub_pd(s1.i, s3.r)};  // s1 − i·s3
  C8 q{_mm512_sub_pd(s1.r, s3.i), _mm512_add_pd(s1.i, s3.r)};  // s1 + i·s3
  if constexpr (kInv) {
    v1 = q;
    v3 = p;
  } else {
    v1 = p;
    v3 = q;
  }
}

// 8-point DFT in place, natural order in and out, ω = e^{∓2πi/8} (kInv: +). The 1/√2 of ω and ω³ is
// applied by the FMAs that form the odd outputs.
// kFma: how many of the first level's 16 additions run as FMAs (x·1 ± y, bit-identical): 0, 8
// (the sums) or 16. Zen 4 adds only on two of its four FP pipes and shuffles on two, FMAs on the
// other two; where adds and shuffles dominate, moving some adds to the FMA pipes balances them.
template <bool kInv, int kFma = 0>
inline void dft8(C8* x) {
  const __m512d c = _mm512_set1_pd(0x1.6a09e667f3bcdp-1);  // √½, correctly rounded
  C8 a0, a1, a2, a3, d0, d1, d2, d3;
  if constexpr (kFma > 0) {
    __m512d one = _mm512_set1_pd(1.0);
    asm("" : "+v"(one));  // opaque, so that the FMAs stay FMAs
    auto fadd = [one](C8 a, C8 b) -> C8 {
      return {_mm512_fmadd_pd(a.r, one, b.r), _mm512_fmadd_pd(a.i, one, b.i)};
    };
    auto fsub = [one](C8 a, C8 b) -> C8 {
      return {_mm512_fmsub_pd(a.r, one, b.r), _mm512_fmsub_pd(a.i, one, b.i)};
    };
    a0 = fadd(x[0], x[4]), a1 = fadd(x[1], x[5]), a2 = fadd(x[2], x[6]), a3 = fadd(x[3], x[7]);
    if constexpr (kFma > 8) {
      d0 = fsub(x[0], x[4]), d1 = fsub(x[1], x[5]), d2 = fsub(x[2], x[6]), d3 = fsub(x[3], x[7]);
    } else {
      d0 = sub(x[0], x[4]), d1 = sub(x[1], x[5]), d2 = sub(x[2], x[6]), d3 = sub(x[3], x[7]);
    }
  } else {
    a0 = add(x[0], x[4]), a1 = add(x[1], x[5]), a2 = add(x[2], x[6]), a3 = add(x[3], x[7]);
    d0 = sub(x[0], x[4]), d1 = sub(x[1], x[5]), d2 = sub(x[2], x[6]), d3 = sub(x[3], x[7]);
  }
  dft4<kInv>(a0, a1, a2, a3);
  x[0] = a0;
  x[2] = a1;
  x[4] = a2;
  x[6] = a3;
  // Odd outputs: DFT4 of b_t = d_t·ω^t. b1 = c·p1, b3 = c·p3, b2 = ∓i·d2.
  C8 s0, s1, u, v;  // s0 = b0 + b2, s1 = b0 − b2, u = p1 + p3, v = p1 − p3
  if constexpr (!kInv) {
    // ω = (1 − i)/√2: p1 = (d1r + d1i, d1i − d1r); ω³ = (−1 − i)/√2: p3 = (d3i − d3r, −(d3r + d3i)).
    __m512d P = _mm512_add_pd(d1.r, d1.i), Q = _mm512_sub_pd(d1.i, d1.r);
    __m512d e = _mm512_sub_pd(d3.i, d3.r), g = _mm512_add_pd(d3.r, d3.i);
    u = {_mm512_add_pd(P, e), _mm512_sub_pd(Q, g)};
    v = {_mm512_sub_pd(P, e), _mm512_add_pd(Q, g)};
    s0 = {_mm512_add_pd(d0.r, d2.i), _mm512_sub_pd(d0.i, d2.r)};  // b2 = −i·d2 = (d2i, −d2r)
    s1 = {_mm512_sub_pd(d0.r, d2.i), _mm512_add_pd(d0.i, d2.r)};
  } else {
    // ω = (1 + i)/√2: p1 = (d1r − d1i, d1i + d1r); ω³ = (−1 + i)/√2: p3 = (−(d3r + d3i), d3r − d3i).
    __m512d P = _mm512_sub_pd(d1.r, d1.i), Q = _mm512_add_pd(d1.i, d1.r);
    __m512d g = _mm512_add_pd(d3.r, d3.i), e = _mm512_sub_pd(d3.r, d3.i);
    u = {_mm512_sub_pd(P, g), _mm512_add_pd(Q, e)};
    v = {_mm512_add_pd(P, g), _mm512_sub_pd(Q, e)};
    s0 = {_mm512_sub_pd(d0.r, d2.i), _mm512_add_pd(d0.i, d2.r)};  // b2 = i·d2 = (−d2i, d2r)
    s1 = {_mm512_add_pd(d0.r, d2.i), _mm512_sub_pd(d0.i, d2.r)};
  }
  // B0 = s0 + c·u, B2 = s0 − c·u; B1 = s1 ∓ i·c·v, B3 = s1 ± i·c·v.
  x[1] = {_mm512_fmadd_pd(c, u.r, s0.r), _mm512_fmadd_pd(c, u.i, s0.i)};
  x[5] = {_mm512_fnmadd_pd(c, u.r, s0.r), _mm512_fnmadd_pd(c, u.i, s0.i)};
  C8 m{_mm512_fmadd_pd(c, v.i, s1.r), _mm512_fnmadd_pd(c, v.r, s1.i)};  // s1 − i·c·v
  C8 p{_mm512_fnmadd_pd(c, v.i, s1.r), _mm512_fmadd_pd(c, v.r, s1.i)};  // s1 + i·c·v
  if constexpr (kInv) {
    x[3] = p;
    x[7] = m;
  } else {
    x[3] = m;
    x[7] = p;
  }
}

// Additions moved to the FMA pipes in the 8-point DFTs (see dft8): none in the radix-8 steps, whose
// twiddle products already load those pipes; 16 in the last pass, where shuffles and additions
// share the other two (measured ~5% faster there).
constexpr int kFmaR8 = 0;
constexpr int kFmaFinal = 16;

// 8×8 transposition: r[i][j] → r[j][i] (unpacks, then two rounds of 128-bit shuffles).
inline void transpose8(__m512d* r) {
  __m512d t[8], u[8];
  for (int k = 0; k < 4; ++k) {
    t[2 * k] = _mm512_unpacklo_pd(r[2 * k], r[2 * k + 1]);      // (r0[0], r1[0], r0[2], r1[2], ...)
    t[2 * k + 1] = _mm512_unpackhi_pd(r[2 * k], r[2 * k + 1]);  // (r0[1], r1[1], r0[3], r1[3], ...)
  }
  for (int k = 0; k < 2; ++k) {
    u[4 * k + 0] = _mm512_shuffle_f64x2(t[4 * k + 0], t[4 * k + 2], 0x88);  // r0[0] r1[0] r0[4] r1[4] r2[0] ..
    u[4 * k + 1] = _mm512_shuffle_f64x2(t[4 * k + 0], t[4 * k + 2], 0xDD);  // r0[2] r1[2] r0[6] r1[6] r2[2] ..
    u[4 * k + 2] = _mm512_shuffle_f64x2(t[4 * k + 1], t[4 * k + 3], 0x88);  // r0[1] r1[1] r0[5] r1[5] ..
    u[4 * k + 3] = _mm512_shuffle_f64x2(t[4 * k + 1], t[4 * k + 3], 0xDD);  // r0[3] r1[3] r0[7] r1[7] ..
  }
  r[0] = _mm512_shuffle_f64x2(u[0], u[4], 0x88);
  r[4] = _mm512_shuffle_f64x2(u[0], u[4], 0xDD);
  r[2] = _mm512_shuffle_f64x2(u[1], u[5], 0x88);
  r[6] = _mm512_shuffle_f64x2(u[1], u[5], 0xDD);
  r[1] = _mm512_shuffle_f64x2(u[2], u[6], 0x88);
  r[5] = _mm512_shuffle_f64x2(u[2], u[6], 0xDD);
  r[3] = _mm512_shuffle_f64x2(u[3], u[7], 0x88);
  r[7] = _mm512_shuffle_f64x2(u[3], u[7], 0xDD);
}

// ---- Forward passes (decimation in frequency). d: `count` consecutive sub-arrays of m values.
// Residue r of a radix-R step goes to the quarter/eighth bitrev(r): the usual in-place DIF order.

template <bool kIn>
void fwd_r2(double* d, uint64_t m, uint64_t count, const double* tw) {
  const uint64_t qb = m / 16, stride = 16 * qb;
  for (uint64_t s = 0; s < count; ++s, d += 2 * m) {
    const double* w = tw;
    for (uint64_t jb = 0; jb < qb; ++jb, w += 16) {
      double* p = d + 16 * jb;
      C8 x0 = load<kIn>(p), x1 = load<kIn>(p + stride);
      store<false>(p, add(x0, x1));
      store<false>(p + stride, mul_tw(sub(x0, x1), w));
    }
  }
}

template <bool kIn>
void fwd_r4(double* d, uint64_t m, uint64_t count, const double* tw) {
  const uint64_t qb = m / 32, stride = 16 * qb;
  for (uint64_t s = 0; s < count; ++s, d += 2 * m) {
    const double* w = tw;
    for (uint64_t jb = 0; jb < qb; ++jb, w += 48) {
      double* p = d + 16 * jb;
      C8 x0 = load<kIn>(p), x1 = load<kIn>(p + stride), x2 = load<kIn>(p + 2 * stride),
         x3 = load<kIn>(p + 3 * stride);
      dft4<false>(x0, x1, x2, x3);
      store<false>(p, x0);
      store<false>(p + stride, mul_tw(x2, w + 16));
      store<false>(p + 2 * stride, mul_tw(x1, w));
      store<false>(p + 3 * stride, mul_tw(x3, w + 32));
    }
  }
}

template <bool kIn>
void fwd_r8(double* d, uint64_t m, uint64_t count, const double* tw) {
  const uint64_t qb = m / 64, stride = 16 * qb;
  for (uint64_t s = 0; s < count; ++s, d += 2 * m) {
    const double* w = tw;
    for (uint64_t jb = 0; jb < qb; ++jb, w += 112) {
      double* p = d + 16 * jb;
      C8 x[8];
      for (int t = 0; t < 8; ++t) x[t] = load<kIn>(p + t * stride);
      dft8<false, kFmaR8>(x);
      store<false>(p, x[0]);
      for (int r = 1; r < 8; ++r) store<false>(p + kBitrev3[r] * stride, mul_tw(x[r], w + 16 * (r - 1)));
    }
  }
}

// Last pass, per 64 values (8 blocks): the last log2(R) block levels (radix R = 8 across the 8 blocks,
// or R = 4 across each half), the transposition, an 8-point DFT per lane and interleaved stores:
// index 8κ + β of the chunk gets frequency κ of block β. Twiddles: e^{-2πi·r·j/(8R)}, r = 1..R−1.
template <int R>
inline void across_fwd(C8* x, const double* tw) {
  if constexpr (R == 8) {
    dft8<false, kFmaR8>(x);
    for (int r = 1; r < 8; ++r) x[r] = mul_tw(x[r], tw + 16 * (r - 1));
    C8 y[8];
    for (int r = 0; r < 8; ++r) y[kBitrev3[r]] = x[r];
    for (int b = 0; b < 8; ++b) x[b] = y[b];
  } else {
    for (int g = 0; g < 8; g += 4) {
      C8 y0 = x[g], y1 = x[g + 1], y2 = x[g + 2], y3 = x[g + 3];
      dft4<false>(y0, y1, y2, y3);
      x[g] = y0;
      x[g + 1] = mul_tw(y2, tw + 16);
      x[g + 2] = mul_tw(y1, tw);
      x[g + 3] = mul_tw(y3, tw + 32);
    }
  }
}
template <int R>
inline void across_inv(C8* x, const double* tw) {
  if constexpr (R == 8) {
    C8 y[8];
    for (int r = 0; r < 8; ++r) y[r] = x[kBitrev3[r]];
    x[0] = y[0];
    for (int r = 1; r < 8; ++r) x[r] = mul_conj_tw(y[r], tw + 16 * (r - 1));
    dft8<true, kFmaR8>(x);
  } else {
    for (int g = 0; g < 8; g += 4) {
      C8 y0 = x[g], y2 = mul_conj_tw(x[g + 1], tw + 16), y1 = mul_conj_tw(x[g + 2], tw),
         y3 = mul_conj_tw(x[g + 3], tw + 32);
      dft4<true>(y0, y1, y2, y3);
      x[g] = y0;
      x[g + 1] = y1;
      x[g + 2] = y2;
      x[g + 3] = y3;
    }
  }
}

template <int R, bool kIn>
void fwd_final(double* d, uint64_t chunks, const double* tw) {
  for (uint64_t c = 0; c < chunks; ++c, d += 128) {
    C8 x[8];
    for (int t = 0; t < 8; ++t) x[t] = load<kIn>(d + 16 * t);
    across_fwd<R>(x, tw);
    // Row ρ of the transposition is block kLane[ρ], so that the unpacks of the interleaved stores
    // put the blocks back in natural order; after it, vector ℓ holds value kLane[ℓ] of every block.
    __m512d re[8], im[8];
    for (int rho = 0; rho < 8; ++rho) {
      re[rho] = x[kLane[rho]].r;
      im[rho] = x[kLane[rho]].i;
    }
    transpose8(re);
    transpose8(im);
    for (int p = 0; p < 8; ++p) x[p] = {re[kLaneOf[p]], im[kLaneOf[p]]};
    dft8<false, kFmaFinal>(x);
    for (int k = 0; k < 8; ++k) store<true>(d + 16 * k, x[k]);
  }
}

// ---- Inverse passes (decimation in time), mirror images of the above.

template <bool kOut>
void inv_r2(double* d, uint64_t m, uint64_t count, const double* tw) {
  const uint64_t qb = m / 16, stride = 16 * qb;
  for (uint64_t s = 0; s < count; ++s, d += 2 * m) {
    const double* w = tw;
    for (uint64_t jb = 0; jb < qb; ++jb, w += 16) {
      double* p = d + 16 * jb;
      C8 x0 = load<false>(p), x1 = mul_conj_tw(load<false>(p + stride), w);
      store<kOut>(p, add(x0, x1));
      store<kOut>(p + stride, sub(x0, x1));
    }
  }
}

template <bool kOut>
void inv_r4(double* d, uint64_t m, uint64_t count, const double* tw) {
  const uint64_t qb = m / 32, stride = 16 * qb;
  for (uint64_t s = 0; s < count; ++s, d += 2 * m) {
    const double* w = tw;
    for (uint64_t jb = 0; jb < qb; ++jb, w += 48) {
      double* p = d + 16 * jb;
      C8 x0 = load<false>(p);
      C8 x2 = mul_conj_tw(load<false>(p + stride), w + 16);
      C8 x1 = mul_conj_tw(load<false>(p + 2 * stride), w);
      C8 x3 = mul_conj_tw(load<false>(p + 3 * stride), w + 32);
      dft4<true>(x0, x1, x2, x3);
      store<kOut>(p, x0);
      store<kOut>(p + stride, x1);
      store<kOut>(p + 2 * stride, x2);
      store<kOut>(p + 3 * stride, x3);
    }
  }
}

template <bool kOut>
void inv_r8(double* d, uint64_t m, uint64_t count, const double* tw) {
  const uint64_t qb = m / 64, stride = 16 * qb;
  for (uint64_t s = 0; s < count; ++s, d += 2 * m) {
    const double* w = tw;
    for (uint64_t jb = 0; jb < qb; ++jb, w += 112) {
      double* p = d + 16 * jb;
      C8 x[8];
      x[0] = load<false>(p);
      for (int r = 1; r < 8; ++r) x[r] = mul_conj_tw(load<false>(p + kBitrev3[r] * stride), w + 16 * (r - 1));
      dft8<true, kFmaR8>(x);
      for (int t = 0; t < 8; ++t) store<kOut>(p + t * stride, x[t]);
    }
  }
}

template <int R, bool kOut>
void inv_final(double* d, uint64_t chunks, const double* tw) {
  for (uint64_t c = 0; c < chunks; ++c, d += 128) {
    C8 x[8];
    for (int k = 0; k < 8; ++k) x[k] = load<true>(d + 16 * k);
    dft8<true, kFmaFinal>(x);
    __m512d re[8], im[8];
    for (int p = 0; p < 8; ++p) {
      re[kLaneOf[p]] = x[p].r;
      im[kLaneOf[p]] = x[p].i;
    }
    transpose8(re);
    transpose8(im);
    for (int rho = 0; rho < 8; ++rho) x[kLane[rho]] = {re[rho], im[rho]};
    across_inv<R>(x, tw);
    for (int t = 0; t < 8; ++t) store<kOut>(d + 16 * t, x[t]);
  }
}

// The last pass: radix 8 across blocks only at h = 64, where it is also the first pass (interleaved
// input / output); radix 4 otherwise, after other passes.
void fwd_final_pass(uint32_t radix, double* d, uint64_t chunks, const double* tw) {
  if (radix == 8) {
    fwd_final<8, true>(d, chunks, tw);
  } else {
    fwd_final<4, false>(d, chunks, tw);
  }
}

void inv_final_pass(uint32_t radix, double* d, uint64_t chunks, const double* tw) {
  if (radix == 8) {
    inv_final<8, true>(d, chunks, tw);
  } else {
    inv_final<4, false>(d, chunks, tw);
  }
}

void fwd_pass(uint32_t radix, bool first, double* d, uint64_t m, uint64_t count, const double* tw) {
  switch (radix * 2 + (first ? 1 : 0)) {
    case 4: fwd_r2<false>(d, m, count, tw); break;
    case 5: fwd_r2<true>(d, m, count, tw); break;
    case 8: fwd_r4<false>(d, m, count, tw); break;
    case 9: fwd_r4<true>(d, m, count, tw); break;
    case 16: fwd_r8<false>(d, m, count, tw); break;
    case 17: fwd_r8<true>(d, m, count, tw); break;
    default: std::abort();
  }
}

void inv_pass(uint32_t radix, bool last, double* d, uint64_t m, uint64_t count, const double* tw) {
  switch (radix * 2 + (last ? 1 : 0)) {
    case 4: inv_r2<false>(d, m, count, tw); break;
    case 5: inv_r2<true>(d, m, count, tw); break;
    case 8: inv_r4<false>(d, m, count, tw); break;
    case 9: inv_r4<true>(d, m, count, tw); break;
    case 16: inv_r8<false>(d, m, count, tw); break;
    case 17: inv_r8<true>(d, m, count, tw); break;
    default: std::abort();
  }
}

}  // namespace
#pragma GCC diagnostic pop
#endif  // BLINDML_SIMD_FFT

SimdFft::SimdFft(uint64_t h) : h_(h), log_h_(0) {
  if (h < 16 || h > 65536 || (h & (h - 1)) != 0) std::abort();
  while ((uint64_t{1} << log_h_) < h) ++log_h_;

  scalar_tw_.resize(h);
  for (uint64_t k = 0; k < h / 2; ++k) {
    auto [c, s] = unit_root(k, h);
    scalar_tw_[2 * k] = c;
    scalar_tw_[2 * k + 1] = s;
  }

#ifndef BLINDML_SIMD_FFT
  return;  // the portable path needs only scalar_tw_
#endif
  if (h < 64) return;
  // Block levels (log2(h) − 3 of them): the last pass does log2(final_radix_) of them, the passes
  // before it the others, in radix-8 and radix-4 passes (one radix-2 pass where nothing else fits).
  std::vector<uint32_t> radices = plan(log_h_ - 3, &final_radix_);
  uint64_t m = h;
  uint64_t offset = 0;
  for (uint32_t radix : radices) {
    passes_.push_back({radix, m, offset});
    offset += (m / radix / 8) * 16 * (radix - 1);
    m /= radix;
  }
  if (m != 8 * final_radix_) std::abort();
  final_tw_offset_ = offset;
  offset += 16 * (final_radix_ - 1);
  tw_.resize(offset);
  for (const Pass& p : passes_) {
    double* w = tw_.data() + p.tw_offset;
    for (uint64_t jb = 0; jb < p.m / p.radix / 8; ++jb)
      for (uint32_t rr = 1; rr < p.radix; ++rr, w += 16)
        for (uint64_t l = 0; l < 8; ++l) {
          auto [c, s] = unit_root(rr * (8 * jb + kLane[l]), p.m);
          w[l] = c;
          w[8 + l] = s;
        }
  }
  double* w = tw_.data() + final_tw_offset_;
  for (uint32_t rr = 1; rr < final_radix_; ++rr, w += 16)
    for (uint64_t l = 0; l < 8; ++l) {
      auto [c, s] = unit_root(rr * kLane[l], 8 * final_radix_);
      w[l] = c;
      w[8 + l] = s;
    }
}

bool SimdFft::available() {
#ifdef BLINDML_SIMD_FFT
  return true;
#else
  return false;
#endif
}

uint64_t SimdFft::spectrum_index(uint64_t k) const {
  const int lb = log_h_ - 3;
  const uint64_t blocks = h_ / 8, c = blocks < 8 ? blocks : 8;
  const uint64_t kappa = k / blocks, b = bitrev(k % blocks, lb);
  return (b / c) * 8 * c + kappa * c + b % c;
}

#ifdef BLINDML_SIMD_FFT
void SimdFft::run_forward(size_t i, double* d, uint64_t n) const {
  if (n > kL1Values && i < passes_.size()) {
    const Pass& p = passes_[i];  // here n == p.m
    fwd_pass(p.radix, i == 0, d, p.m, 1, tw_.data() + p.tw_offset);
    const uint64_t child = p.m / p.radix;
    for (uint32_t c = 0; c < p.radix; ++c) run_forward(i + 1, d + 2 * c * child, child);
    return;
  }
  for (size_t k = i; k < passes_.size(); ++k) {
    const Pass& p = passes_[k];
    fwd_pass(p.radix, k == 0, d, p.m, n / p.m, tw_.data() + p.tw_offset);
  }
  fwd_final_pass(final_radix_, d, n / 64, tw_.data() + final_tw_offset_);
}

void SimdFft::run_inverse(size_t i, double* d, uint64_t n) const {
  if (n > kL1Values && i < passes_.size()) {
    const Pass& p = passes_[i];
    const uint64_t child = p.m / p.radix;
    for (uint32_t c = 0; c < p.radix; ++c) run_inverse(i + 1, d + 2 * c * child, child);
    inv_pass(p.radix, i == 0, d, p.m, 1, tw_.data() + p.tw_offset);
    return;
  }
  inv_final_pass(final_radix_, d, n / 64, tw_.data() + final_tw_offset_);
  for (size_t k = passes_.size(); k-- > i;) {
    const Pass& p = passes_[k];
    inv_pass(p.radix, k == 0, d, p.m, n / p.m, tw_.data() + p.tw_offset);
  }
}

void SimdFft::forward(double* data) const {
  if (h_ < 64) return forward_portable(data);
  run_forward(0, data, h_);
}

void SimdFft::inverse(double* data) const {
  if (h_ < 64) return inverse_portable(data);
  run_inverse(0, data, h_);
}
#else
void SimdFft::run_forward(size_t, double*, uint64_t) const {}
void SimdFft::run_inverse(size_t, double*, uint64_t) const {}
void SimdFft::forward(double* data) const { forward_portable(data); }
void SimdFft::inverse(double* data) const { inverse_portable(data); }
#endif

// Portable path: radix-2 DIF in place (position n ends up holding X[bitrev(n)]), then, per chunk of
// C blocks of 8, the transposition that gives the documented order (through a stack buffer).
void SimdFft::forward_portable(double* x) const {
  const uint64_t h = h_;
  const double* w = scalar_tw_.data();
  for (uint64_t q = h / 2; q >= 1; q /= 2) {
    const uint64_t step = h / (2 * q);  // twiddle e^{-2πi·j/(2q)} = w[j·step]
    for (uint64_t s = 0; s < h; s += 2 * q)
      for (uint64_t j = 0; j < q; ++j) {
        double* a = x + 2 * (s + j);
        double* b = x + 2 * (s + j + q);
        const double ar = a[0], ai = a[1], br = b[0], bi = b[1];
        const double dr = ar - br, di = ai - bi;
        const double wr = w[2 * j * step], wi = w[2 * j * step + 1];
        a[0] = ar + br;
        a[1] = ai + bi;
        b[0] = dr * wr - di * wi;
        b[1] = dr * wi + di * wr;
      }
  }
  const uint64_t blocks = h / 8, c = blocks < 8 ? blocks : 8;
  double buf[128];
  for (double* chunk = x; chunk < x + 2 * h; chunk += 16 * c) {
    for (uint64_t i = 0; i < 16 * c; ++i) buf[i] = chunk[i];
    for (uint64_t bl = 0; bl < c; ++bl)
      for (uint64_t p = 0; p < 8; ++p) {
        const uint64_t o = static_cast<uint64_t>(kBitrev3[p]) * c + bl;
        chunk[2 * o] = buf[2 * (8 * bl + p)];
        chunk[2 * o + 1] = buf[2 * (8 * bl + p) + 1];
      }
  }
}

void SimdFft::inverse_portable(double* x) const {
  const uint64_t h = h_;
  const uint64_t blocks = h / 8, c = blocks < 8 ? blocks : 8;
  double buf[128];
  for (double* chunk = x; chunk < x + 2 * h; chunk += 16 * c) {
    for (uint64_t i = 0; i < 16 * c; ++i) buf[i] = chunk[i];
    for (uint64_t bl = 0; bl < c; ++bl)
      for (uint64_t p = 0; p < 8; ++p) {
        const uint64_t o = static_cast<uint64_t>(kBitrev3[p]) * c + bl;
        chunk[2 * (8 * bl + p)] = buf[2 * o];
        chunk[2 * (8 * bl + p) + 1] = buf[2 * o + 1];
      }
  }
  const double* w = scalar_tw_.data();
  for (uint64_t q = 1; q < h; q *= 2) {
    const uint64_t step = h / (2 * q);
    for (uint64_t s = 0; s < h; s += 2 * q)
      for (uint64_t j = 0; j < q; ++j) {
        double* a = x + 2 * (s + j);
        double* b = x + 2 * (s + j + q);
        const double wr = w[2 * j * step], wi = w[2 * j * step + 1];
        const double br = b[0] * wr + b[1] * wi, bi = b[1] * wr - b[0] * wi;  // b·conj(w)
        const double ar = a[0], ai = a[1];
        a[0] = ar + br;
        a[1] = ai + bi;
        b[0] = ar - br;
        b[1] = ai - bi;
      }
  }
}

}  // namespace blindml::crypto::internal
