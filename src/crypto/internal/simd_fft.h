// In-place complex FFT of size h (a power of two, 16 ≤ h ≤ 65536) on interleaved complex doubles,
// written for AVX-512 (F + DQ), with a portable scalar fallback that computes the same thing.
//
// forward(x) is the DFT X[k] = Σ_n x[n]·e^{-2πi·nk/h} (FFTW_FORWARD), stored in a fixed permuted
// order (no permutation pass is ever run): with Lb = log2(h) − 3 and C = min(8, h/8),
//
//   X[κ·h/8 + bitrev_Lb(b)] is stored at index  (b / C)·8C + κ·C + (b mod C),
//   for κ < 8 and b < h/8 (bitrev_Lb reverses the Lb low bits; bitrev_0 is the identity).
//
// For h ≥ 64 (C = 8): index 64c + 8κ + β holds X[κ·h/8 + bitrev_Lb(8c + β)]. spectrum_index(k)
// gives the index of X[k]. inverse() takes that order back to natural order, unnormalised
// (FFTW_BACKWARD): inverse(forward(x)) = h·x, and, since only the order is permuted,
// inverse(forward(x) ⊙ forward(y)) = h·(x ⊛ y) (cyclic convolution).
//
// Algorithm: decimation in frequency (forward) / in time (inverse, the exact mirror) on a split
// layout: each block of 8 complex values (the 128 bytes it occupies in the interleaved array) is
// held as 8 re then 8 im, one __m512d each; the first forward pass de-interleaves as it loads and the
// last inverse pass re-interleaves as it stores. Radix-8/4/2 passes over blocks, twiddles
// precomputed (long double, rounded once) per pass in the order the loop reads them, then a last
// pass per 64 values: a radix-4 step across blocks, two 8×8 transpositions (re, im), an 8-point DFT
// per lane and interleaved stores (which is where the order above comes from). No permutation pass.
// Arrays above 1024 values go depth first once the sub-transforms fit in L1. Accuracy: that of a
// radix-2 FFT with correctly rounded twiddles, error/magnitude ~ 1e-16·log2(h) (on par with FFTW,
// see tests/crypto/simd_fft_test.cc).
//
// Thread safety: immutable after construction; methods reentrant. No allocation in forward/inverse.
#pragma once

#include <cstdint>
#include <vector>

#include "blindml/crypto/aligned.h"

namespace blindml::crypto::internal {

class SimdFft {
 public:
  explicit SimdFft(uint64_t h);  // power of two, 16 <= h <= 65536 (aborts otherwise)

  uint64_t size() const { return h_; }
  // In place on h interleaved complex doubles (2h doubles, 64-byte aligned).
  // forward: DFT with e^{-2πi jk/h}, output in the order documented above.
  void forward(double* data) const;
  // inverse: takes forward's order, returns natural order, unnormalised: inverse(forward(x)) = h·x.
  void inverse(double* data) const;
  // true when compiled with AVX-512F and AVX-512DQ (the SIMD path is used for h ≥ 64).
  static bool available();

  // Index (in complex values) at which forward() stores X[k], for k < h.
  uint64_t spectrum_index(uint64_t k) const;
  // The portable scalar path (used without AVX-512, and for h < 64): same order, same contract.
  // Public for tests.
  void forward_portable(double* data) const;
  void inverse_portable(double* data) const;

 private:
  struct Pass {
    uint32_t radix;       // 2, 4 or 8
    uint64_t m;           // size (complex values) of the sub-transforms this pass splits
    uint64_t tw_offset;   // into tw_: for each block j of 8 (j < m/radix/8), for r = 1..radix−1,
                          // 8 re then 8 im of e^{-2πi·r·j/m}
  };
  void run_forward(size_t pass, double* d, uint64_t n) const;
  void run_inverse(size_t pass, double* d, uint64_t n) const;

  uint64_t h_;
  int log_h_;
  std::vector<Pass> passes_;  // forward order, before the last (per 64 values) pass
  uint32_t final_radix_ = 8;  // radix of the step across blocks in the last pass (4 or 8)
  uint64_t final_tw_offset_ = 0;
  AlignedF64 tw_;             // SIMD twiddles
  AlignedF64 scalar_tw_;      // e^{-2πi·k/h}, k < h/2, interleaved (portable path)
};

}  // namespace blindml::crypto::internal
