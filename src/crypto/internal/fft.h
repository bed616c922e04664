// Negacyclic FFT: products in R = Z[X]/(X^N+1) through a complex FFT of size N/2 (fold + twist).
// A real polynomial a is mapped to z_j = (a_j + i·a_{j+N/2})·e^{iπj/N}, j < N/2, then to its DFT;
// these are the evaluations of a at N/2 of the primitive 2N-th roots of unity (the other half are
// their conjugates), so pointwise products are negacyclic products. Spectra are N/2 interleaved
// complex values (N doubles, 64-byte aligned), in the transform's own (permuted) order: only
// pointwise operations happen between forward and backward, so every spectrum must come from
// forward_i64 of this same object. The transform is SimdFft (AVX-512) when the build has it, else
// FFTW (interleaved, in place, FFTW_MEASURE plans).
//
// Thread safety: get() is thread-safe; a NegacyclicFft is immutable and its methods reentrant.
#pragma once

#include <cstdint>
#include <memory>

#include "blindml/crypto/aligned.h"

namespace blindml::crypto::internal {

class SimdFft;

class NegacyclicFft {
 public:
  static const NegacyclicFft& get(uint64_t poly_size);

  uint64_t size() const { return n_; }
  // in: N signed integers (digits, or torus words read as signed); out: N doubles (spectrum).
  void forward_i64(const int64_t* in, double* out) const;
  // The gadget decomposition of a torus polynomial (base 2^base_log, `levels` digits, as
  // decompose_polynomial) straight to the Fourier domain: the spectrum of level j (1..l) at
  // out + (j−1)·N. The same doubles as decompose_polynomial then forward_i64 per level, in one
  // pass over the input instead of three.
  void forward_decomposed(const uint64_t* in, uint64_t base_log, uint64_t levels, double* out) const;
  // The same for the CMux difference X^t·in − in (t in [0, 2N)), computed on the fly.
  void forward_decomposed_cmux(const uint64_t* in, uint64_t t, uint64_t base_log, uint64_t levels,
                               double* out) const;
  // spectrum (destroyed): out[j] += round(result_j) mod 2^64 for j < N.
  void backward_add_torus(double* spectrum, uint64_t* out) const;
  // spectrum (destroyed): out[j] = result_j, unrounded.
  void backward_f64(double* spectrum, double* out) const;
  // out[j] += (a·s)[j] mod 2^64, exactly, for a binary (or small) polynomial s given by its
  // spectrum: a is split into four 16-bit limbs so every product is exact in double precision.
  // scratch: 2N doubles.
  void mul_add_exact_small(const uint64_t* a, const double* s_spectrum, uint64_t* out, double* scratch) const;

  ~NegacyclicFft();
  NegacyclicFft(const NegacyclicFft&) = delete;
  NegacyclicFft& operator=(const NegacyclicFft&) = delete;

 private:
  explicit NegacyclicFft(uint64_t n);
  void forward_transform(double* twisted) const;
  void inverse_transform(double* spectrum) const;
  uint64_t n_;
  std::unique_ptr<SimdFft> simd_;  // set when built with AVX-512: then the FFTW plans are unused
  void* plan_;          // fftw_plan, forward
  void* inverse_plan_;  // fftw_plan, real and imaginary parts swapped
  AlignedF64 tw_re_, tw_im_;    // cos(πj/N), sin(πj/N)
  AlignedF64 itw_re_, itw_im_;  // same divided by N/2 (inverse twist with normalisation)
};

// Pointwise out += a ⊙ b on spectra of N doubles (N/2 interleaved complex).
void spectrum_mul_add(double* __restrict out, const double* __restrict a, const double* __restrict b, uint64_t n);
// out[col] = Σ_r digits[r] ⊙ ggsw[r][col] for col < cols (each a spectrum of n doubles): the
// multiply-accumulate of an external product, in one pass. next_ggsw (same shape, may be null) is
// prefetched to L2 line by line for the next call.
void spectrum_mac_ggsw(double* __restrict out, const double* __restrict digits, const double* __restrict ggsw,
                       const double* next_ggsw, uint64_t rows, uint64_t cols, uint64_t n);
// Pointwise out = a ⊙ b; out may be a (the exact product multiplies in place).
void spectrum_mul(double* out, const double* a, const double* b, uint64_t n);

}  // namespace blindml::crypto::internal
