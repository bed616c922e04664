// Benchmarks of the TFHE core: key generation, key sizes, key switching, PBS latency per precision
// (one thread) and PBS throughput (all threads). scripts/bench turns the output into the table and
// bench/results/latest.json. Keys are generated once per precision and cached for the process.
#include <benchmark/benchmark.h>

#include <map>
#include <memory>
#include <thread>
#include <vector>
#include <algorithm>

#include "blindml/crypto/algorithms.h"

using namespace blindml;
using namespace blindml::crypto;

namespace {

struct Keys {
  ParameterSet params;
  std::unique_ptr<ClientKey> client;
  std::unique_ptr<SeededEvaluationKeys> seeded;
  std::unique_ptr<EvaluationKeys> eval;
};

Keys& keys_for(uint32_t bits) {
  static std::map<uint32_t, std::unique_ptr<Keys>> cache;
  auto& slot = cache[bits];
  if (!slot) {
    slot = std::make_unique<Keys>(Keys{parameters_for_bits(bits).value(), nullptr, nullptr, nullptr});
    ThreadPool pool;
    slot->client = std::make_unique<ClientKey>(ClientKey::generate(slot->params).value());
    slot->seeded = std::make_unique<SeededEvaluationKeys>(generate_seeded_evaluation_keys(*slot->client, &pool));
    slot->eval = std::make_unique<EvaluationKeys>(expand_evaluation_keys(*slot->seeded, &pool));
  }
  return *slot;
}

LookupTable identity_table(const ParameterSet& p, uint32_t bits) {
  std::vector<int64_t> t(size_t{1} << bits);
  for (size_t i = 0; i < t.size(); ++i) t[i] = static_cast<int64_t>(i);
  return make_lookup_table(t, bits, bits, p.polynomial_size);
}

void BM_Keygen(benchmark::State& state) {
  const uint32_t bits = static_cast<uint32_t>(state.range(0));
  auto params = parameters_for_bits(bits).value();
  ThreadPool pool(1);
  {
    // One untimed run first: FFTW plans its transforms (FFTW_MEASURE) on first use of a size.
    auto warm = ClientKey::generate(params).value();
    GlweCiphertext g(params.glwe_dimension, params.polynomial_size);
    std::vector<uint64_t> zero(params.polynomial_size.value, 0);
    CsprngStream a(os_seed()), b(os_seed());
    encrypt_glwe(warm.glwe_key(), zero, 1.0, a, b, g);
  }
  for (auto _ : state) {
    auto ck = ClientKey::generate(params).value();
    auto seeded = generate_seeded_evaluation_keys(ck, &pool);
    benchmark::DoNotOptimize(seeded.bootstrap_key.bodies().data());
  }
  state.counters["bits"] = bits;
  state.counters["threads"] = 1;
  state.counters["seeded_mb"] = seeded_evaluation_keys_bytes(params) / 1e6;
  state.counters["expanded_mb"] = expanded_evaluation_keys_bytes(params) / 1e6;
}

void BM_Keyswitch(benchmark::State& state) {
  const uint32_t bits = static_cast<uint32_t>(state.range(0));
  auto& k = keys_for(bits);
  auto ct = encrypt(*k.client, 1, bits);
  LweCiphertext out(k.params.lwe_dimension);
  for (auto _ : state) {
    keyswitch(k.eval->keyswitch_key(), ct.data(), out.data());
    benchmark::DoNotOptimize(out.data().data());
  }
  state.counters["bits"] = bits;
  state.counters["threads"] = 1;
}

void BM_Pbs(benchmark::State& state) {
  const uint32_t bits = static_cast<uint32_t>(state.range(0));
  auto& k = keys_for(bits);
  auto lut = identity_table(k.params, bits);
  auto ct = encrypt(*k.client, 1, bits);
  LweCiphertext out(k.params.big_lwe_dimension());
  PbsScratch scratch(k.params);
  for (auto _ : state) {
    programmable_bootstrap(*k.eval, ct.data(), lut, out.data(), scratch);
    benchmark::DoNotOptimize(out.data().data());
  }
  state.counters["bits"] = bits;
  state.counters["threads"] = 1;
}

// The bootstrap without its key switch (modulus switch, blind rotation, sample extraction): the
// figure other libraries call "PBS"; BM_Pbs above is the whole lookup (KS-PBS).
void BM_BlindRotate(benchmark::State& state) {
  const uint32_t bits = static_cast<uint32_t>(state.range(0));
  auto& k = keys_for(bits);
  auto lut = identity_table(k.params, bits);
  auto ct = encrypt(*k.client, 1, bits);
  LweCiphertext small(k.params.lwe_dimension), out(k.params.big_lwe_dimension());
  keyswitch(k.eval->keyswitch_key(), ct.data(), small.data());
  std::vector<uint64_t> ms(k.params.lwe_dimension.value + 1);
  GlweCiphertext acc(k.params.glwe_dimension, k.params.polynomial_size);
  PbsScratch scratch(k.params);
  for (auto _ : state) {
    modulus_switch(small.data(), k.params.polynomial_size, ms);
    std::fill(acc.data().begin(), acc.data().end(), 0);
    std::copy(lut.polynomial().begin(), lut.polynomial().end(), acc.body().begin());
    blind_rotate(k.eval->bootstrap_key(), ms, acc, scratch);
    sample_extract(acc, out.data());
    benchmark::DoNotOptimize(out.data().data());
  }
  state.counters["bits"] = bits;
  state.counters["threads"] = 1;
}

void BM_PbsThroughput(benchmark::State& state) {
  const uint32_t bits = static_cast<uint32_t>(state.range(0));
  auto& k = keys_for(bits);
  ThreadPool pool;
  auto lut = identity_table(k.params, bits);
  const uint64_t batch = 8 * pool.size();
  LweCiphertextList in(k.params.big_lwe_dimension(), batch), out(k.params.big_lwe_dimension(), batch);
  for (uint64_t i = 0; i < batch; ++i) {
    auto ct = encrypt(*k.client, static_cast<int64_t>(i % (1u << bits)), bits);
    std::copy(ct.data().begin(), ct.data().end(), in.at(i).begin());
  }
  std::vector<LookupTable> luts{lut};
  for (auto _ : state) {
    programmable_bootstrap_batch(*k.eval, in, luts, {}, out, pool);
    benchmark::DoNotOptimize(out.data().data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * batch));
  state.counters["bits"] = bits;
  state.counters["threads"] = static_cast<double>(pool.size());
}

// Batched PBS throughput per batch width: BM_PbsBatch/<bits>/<width>/<threads>. Width 1 is the
// one-at-a-time path (every PBS streams the whole key); wider batches run each chunk's blind
// rotations in one key pass. Each iteration bootstraps 2·width·threads ciphertexts (at least 8 per
// thread), so every worker takes two chunks.
void BM_PbsBatch(benchmark::State& state) {
  const uint32_t bits = static_cast<uint32_t>(state.range(0));
  const uint64_t width = static_cast<uint64_t>(state.range(1));
  const uint64_t threads = static_cast<uint64_t>(state.range(2));
  auto& k = keys_for(bits);
  ThreadPool pool(threads);
  auto lut = identity_table(k.params, bits);
  const uint64_t batch = threads * std::max<uint64_t>(2 * width, 8);
  LweCiphertextList in(k.params.big_lwe_dimension(), batch), out(k.params.big_lwe_dimension(), batch);
  for (uint64_t i = 0; i < batch; ++i) {
    auto ct = encrypt(*k.client, static_cast<int64_t>(i % (1u << bits)), bits);
    std::copy(ct.data().begin(), ct.data().end(), in.at(i).begin());
  }
  std::vector<LookupTable> luts{lut};
  PbsBatchOptions options{width};
  for (auto _ : state) {
    programmable_bootstrap_batch(*k.eval, in, luts, {}, out, pool, options);
    benchmark::DoNotOptimize(out.data().data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * batch));
  state.counters["bits"] = bits;
  state.counters["width"] = static_cast<double>(width);
  state.counters["threads"] = static_cast<double>(threads);
  state.counters["default_width"] = static_cast<double>(pbs_batch_width(k.params));
}

void pbs_batch_args(benchmark::internal::Benchmark* b) {
  const int64_t hw = std::max<int64_t>(1, std::thread::hardware_concurrency());
  for (int64_t bits = 1; bits <= 8; ++bits) {
    const std::vector<int64_t> widths =
        bits <= 4 ? std::vector<int64_t>{1, 2, 4, 8, 16, 32} : std::vector<int64_t>{1, 2, 4, 8};
    for (int64_t w : widths) {
      b->Args({bits, w, 1});
      if (hw > 1) b->Args({bits, w, hw});
    }
  }
}

}  // namespace

BENCHMARK(BM_Keygen)->DenseRange(1, 8)->Unit(benchmark::kMillisecond)->Iterations(1);
// Latencies: the median of 3 repetitions (bench_table.py reads the median), since the machine
// is shared and single runs can catch a neighbour's burst.
BENCHMARK(BM_Keyswitch)->DenseRange(1, 8)->Unit(benchmark::kMillisecond)->Repetitions(3)->ReportAggregatesOnly(true);
BENCHMARK(BM_Pbs)->DenseRange(1, 8)->Unit(benchmark::kMillisecond)->MinTime(0.5)->Repetitions(3)->ReportAggregatesOnly(true);
BENCHMARK(BM_BlindRotate)->DenseRange(1, 8)->Unit(benchmark::kMillisecond)->MinTime(0.5)->Repetitions(3)->ReportAggregatesOnly(true);
BENCHMARK(BM_PbsThroughput)->DenseRange(1, 8)->Unit(benchmark::kMillisecond)->MinTime(1.0)->UseRealTime()->Repetitions(3)->ReportAggregatesOnly(true);
BENCHMARK(BM_PbsBatch)->Apply(pbs_batch_args)->Unit(benchmark::kMillisecond)->MinTime(1.0)->UseRealTime();
BENCHMARK_MAIN();
