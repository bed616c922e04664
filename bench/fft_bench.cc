// Complex FFT of size h, in place on interleaved, 64-byte aligned doubles: SimdFft against FFTW
// (FFTW_MEASURE plans, as fft.cc uses). BM_*_FwdInv: forward then inverse (one TFHE product's worth
// of transforms); BM_*_Fwd: forward alone. Unnormalised transforms make the data grow, so every 16
// iterations the buffer is rescaled in the timed loop (same cost for both, < 1%).
#include <benchmark/benchmark.h>
#include <fftw3.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "blindml/crypto/params.h"

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

// Roofline of one PBS per precision (docs/benchmarks.md). BM_RooflineFft/<bits>: the transforms of a
// blind rotation alone, n·((k+1)·l forward + (k+1) inverse) of size N/2 on L1/L2-resident buffers,
// nothing else: the FFT bound. BM_RooflineKeyStream/<bits>: one read of as many bytes as a PBS
// streams (Fourier bootstrapping key n·(k+1)²·l·N doubles plus the 32-bit key-switching key
// kN·l_ks·(n+1) words) from a buffer larger than L3, on one thread: the bandwidth bound of the
// one-at-a-time PBS (a batch of w divides it by w). The buffer is the key's size up to 512 MiB and
// is read cyclically above that (7 and 8 bits), at the same bandwidth.
void BM_RooflineFft(benchmark::State& state) {
  const auto p = blindml::crypto::parameters_for_bits(static_cast<uint32_t>(state.range(0))).value();
  const uint64_t h = p.polynomial_size.value / 2, k1 = p.glwe_dimension.value + 1, l = p.pbs_level_count.value;
  const uint64_t n = p.lwe_dimension.value;
  SimdFft fft(h);
  std::vector<AlignedF64> bufs;
  for (uint64_t r = 0; r < k1 * l; ++r) bufs.push_back(random_buffer(h));
  const double s_pair = std::pow(static_cast<double>(h), -16.0), s_fwd = std::pow(static_cast<double>(h), -8.0);
  for (auto _ : state) {
    for (uint64_t i = 0; i < n; ++i) {
      for (uint64_t r = 0; r < k1 * l; ++r) fft.forward(bufs[r].data());
      for (uint64_t c = 0; c < k1; ++c) fft.inverse(bufs[c].data());
      benchmark::ClobberMemory();
      if ((i & 15) == 15)
        for (uint64_t r = 0; r < k1 * l; ++r) rescale(bufs[r], r < k1 ? s_pair : s_fwd);
    }
  }
  state.counters["bits"] = static_cast<double>(p.message_bits);
  state.counters["threads"] = 1;
  state.SetLabel(SimdFft::available() ? "avx512" : "portable");
}

void BM_RooflineKeyStream(benchmark::State& state) {
  const auto p = blindml::crypto::parameters_for_bits(static_cast<uint32_t>(state.range(0))).value();
  const uint64_t k1 = p.glwe_dimension.value + 1, N = p.polynomial_size.value, n = p.lwe_dimension.value;
  const uint64_t bytes = n * k1 * k1 * p.pbs_level_count.value * N * 8 +
                         p.big_lwe_dimension().value * p.ks_level_count.value * (n + 1) * 4;
  const uint64_t words = std::min<uint64_t>(bytes, uint64_t{512} << 20) / 8;
  std::vector<uint64_t, blindml::crypto::AlignedAllocator<uint64_t>> buf(words);
  for (uint64_t i = 0; i < words; ++i) buf[i] = i * 0x9E3779B97F4A7C15ull;
  const uint64_t total = bytes / 8;
  for (auto _ : state) {
    // Eight independent XOR chains: the compiler vectorises them, so the loop is load-bound.
    uint64_t x[8] = {};
    for (uint64_t done = 0; done < total;) {
      const uint64_t len = std::min(words, total - done) / 8 * 8;
      const uint64_t* __restrict b = buf.data();
      for (uint64_t i = 0; i < len; i += 8)
        for (int t = 0; t < 8; ++t) x[t] ^= b[i + t];
      done += len == 0 ? total : len;
    }
    benchmark::DoNotOptimize(x);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
  state.counters["bits"] = static_cast<double>(p.message_bits);
  state.counters["threads"] = 1;
  state.counters["stream_mb"] = static_cast<double>(bytes) / 1e6;
}

void sizes(benchmark::internal::Benchmark* b) {
  for (int64_t h : {256, 512, 1024, 2048, 8192, 16384}) b->Arg(h);
}

}  // namespace

BENCHMARK(BM_Simd<true>)->Name("BM_Simd_FwdInv")->Apply(sizes);
BENCHMARK(BM_Fftw<true>)->Name("BM_Fftw_FwdInv")->Apply(sizes);
BENCHMARK(BM_Simd<false>)->Name("BM_Simd_Fwd")->Apply(sizes);
BENCHMARK(BM_Fftw<false>)->Name("BM_Fftw_Fwd")->Apply(sizes);

BENCHMARK(BM_RooflineFft)->DenseRange(1, 8)->Unit(benchmark::kMillisecond)->MinTime(0.3)->Repetitions(3)->ReportAggregatesOnly(true);
BENCHMARK(BM_RooflineKeyStream)->DenseRange(1, 8)->Unit(benchmark::kMillisecond)->MinTime(0.3)->Repetitions(3)->ReportAggregatesOnly(true);

BENCHMARK_MAIN();
