// Complex FFT of size h, in place on interleaved, 64-byte aligned doubles: SimdFft against FFTW
// (FFTW_MEASURE plans, as fft.cc uses). BM_*_FwdInv: forward then inverse (one TFHE product's worth
// of transforms); BM_*_Fwd: forward alone. Unnormalised transforms make the data grow, so every 16
// iterations the buffer is rescaled in the timed loop (same cost for both, < 1%).
#include <benchmark/benchmark.h>
#include <fftw3.h>

#include <cmath>
#include <random>

#include "blindml/crypto/aligned.h"
#include "internal/simd_fft.h"

using blindml::crypto::AlignedF64;
using blindml::crypto::internal::SimdFft;

namespace {

AlignedF64 random_buffer(uint64_t h) {
  std::mt19937_64 rng(h);
  std::uniform_real_distribution<double> dist(-1.0, 1.0);
  AlignedF64 v(2 * h);
  for (auto& e : v) e = dist(rng);
  return v;
}

void rescale(AlignedF64& buf, double s) {
  for (auto& e : buf) e *= s;
}

template <bool kInverse>
void BM_Simd(benchmark::State& state) {
  const uint64_t h = static_cast<uint64_t>(state.range(0));
  SimdFft fft(h);
  AlignedF64 buf = random_buffer(h);
  // Growth per iteration: h (forward + inverse) or √h (forward).
  const double s = kInverse ? std::pow(static_cast<double>(h), -16.0) : std::pow(static_cast<double>(h), -8.0);
  uint64_t iter = 0;
  for (auto _ : state) {
    fft.forward(buf.data());
    if constexpr (kInverse) fft.inverse(buf.data());
    benchmark::ClobberMemory();
    if ((++iter & 15) == 0) rescale(buf, s);
  }
  state.SetLabel(SimdFft::available() ? "avx512" : "portable");
}

template <bool kInverse>
void BM_Fftw(benchmark::State& state) {
  const uint64_t h = static_cast<uint64_t>(state.range(0));
  AlignedF64 buf(2 * h);
  auto* c = reinterpret_cast<fftw_complex*>(buf.data());
  fftw_plan fwd = fftw_plan_dft_1d(static_cast<int>(h), c, c, FFTW_FORWARD, FFTW_MEASURE);
  fftw_plan bwd = fftw_plan_dft_1d(static_cast<int>(h), c, c, FFTW_BACKWARD, FFTW_MEASURE);
  buf = random_buffer(h);
  c = reinterpret_cast<fftw_complex*>(buf.data());
  const double s = kInverse ? std::pow(static_cast<double>(h), -16.0) : std::pow(static_cast<double>(h), -8.0);
  uint64_t iter = 0;
  for (auto _ : state) {
    fftw_execute_dft(fwd, c, c);
    if constexpr (kInverse) fftw_execute_dft(bwd, c, c);
    benchmark::ClobberMemory();
    if ((++iter & 15) == 0) rescale(buf, s);
  }
  fftw_destroy_plan(fwd);
  fftw_destroy_plan(bwd);
}

void sizes(benchmark::internal::Benchmark* b) {
  for (int64_t h : {256, 512, 1024, 2048, 8192, 16384}) b->Arg(h);
}

}  // namespace

BENCHMARK(BM_Simd<true>)->Name("BM_Simd_FwdInv")->Apply(sizes);
BENCHMARK(BM_Fftw<true>)->Name("BM_Fftw_FwdInv")->Apply(sizes);
BENCHMARK(BM_Simd<false>)->Name("BM_Simd_Fwd")->Apply(sizes);
BENCHMARK(BM_Fftw<false>)->Name("BM_Fftw_Fwd")->Apply(sizes);

BENCHMARK_MAIN();
