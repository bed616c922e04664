// End-to-end latency of the hand-written circuits (tests/circuit/sample_circuits.h): the clear
// evaluator, and the FHE evaluator with one thread and with all threads, each on the parameters
// the optimizer chooses for the circuit. Encryption and decryption are outside the timed region;
// the FHE figure is the server's work for one sample. scripts/bench turns the output into the
// circuit table of bench/results/latest.json.
#include <benchmark/benchmark.h>

#include <map>
#include <optional>
#include <memory>
#include <random>
#include <thread>

#include "blindml/circuit/analysis.h"
#include "blindml/circuit/clear_eval.h"
#include "blindml/compiler/compiled.h"
#include "blindml/compiler/lower.h"
#include "blindml/crypto/algorithms.h"
#include "blindml/runtime/executor.h"
#include "circuit/sample_circuits.h"

using namespace blindml;
using namespace blindml::circuit;

namespace {

struct Sample {
  const char* name;
  Result<Circuit> (*build)();
};

const Sample kSamples[] = {
    {"dot_product_30", [] { return samples::dot_product_30(); }},
    {"mlp_exact_round", [] { return samples::mlp(true); }},
    {"mlp_approx_round", [] { return samples::mlp(false); }},
    {"decision_tree", [] { return samples::decision_tree(); }},
};
constexpr int kSampleCount = sizeof(kSamples) / sizeof(kSamples[0]);

struct Prepared {
  compiler::CompiledCircuit compiled;
  Analysis analysis;
  std::optional<runtime::Program> program;
  std::unique_ptr<crypto::ClientKey> client;
  std::unique_ptr<crypto::EvaluationKeys> eval;
  std::vector<Tensor> clear_inputs;
  std::vector<runtime::EncryptedTensor> inputs;
};

Prepared& prepared(int index) {
  static std::map<int, std::unique_ptr<Prepared>> cache;
  auto& slot = cache[index];
  if (slot) return *slot;
  Circuit c = kSamples[index].build().value();
  auto compiled = compiler::compile(c);
  if (!compiled.ok()) {
    std::fprintf(stderr, "%s: %s\n", kSamples[index].name, compiled.status().to_string().c_str());
    std::abort();
  }
  slot = std::make_unique<Prepared>(Prepared{std::move(compiled).value(), {}, std::nullopt, nullptr, nullptr, {}, {}});
  Prepared& p = *slot;
  p.analysis = analyze(p.compiled.circuit).value();
  p.program = compiler::lower(p.compiled.circuit, p.analysis, p.compiled.params).value();
  p.client = std::make_unique<crypto::ClientKey>(crypto::ClientKey::generate(p.compiled.params).value());
  if (p.compiled.needs_bootstrapping) {
    ThreadPool pool;
    auto seeded = crypto::generate_seeded_evaluation_keys(*p.client, &pool);
    p.eval = std::make_unique<crypto::EvaluationKeys>(crypto::expand_evaluation_keys(seeded, &pool));
  }
  std::mt19937_64 rng(7);
  for (ValueId id : p.compiled.circuit.inputs()) {
    const Node& node = p.compiled.circuit.node(id);
    Tensor t{node.shape, std::vector<int64_t>(shape_elements(node.shape))};
    for (size_t e = 0; e < t.data.size(); ++e) {
      int64_t lo = node.range_min.size() == 1 ? node.range_min[0] : node.range_min[e];
      int64_t hi = node.range_max.size() == 1 ? node.range_max[0] : node.range_max[e];
      t.data[e] = lo + static_cast<int64_t>(rng() % static_cast<uint64_t>(hi - lo + 1));
    }
    p.inputs.push_back(runtime::encrypt_tensor(*p.client, t, p.analysis.values[id].carrier_bits));
    p.clear_inputs.push_back(std::move(t));
  }
  return p;
}

void set_counters(benchmark::State& state, const Prepared& p, int index, size_t threads) {
  state.SetLabel(kSamples[index].name);
  state.counters["threads"] = static_cast<double>(threads);
  state.counters["pbs"] = static_cast<double>(p.program->pbs_count());
  state.counters["lookup_bits"] = p.analysis.max_lookup_bits;
  state.counters["carrier_bits"] = p.compiled.carrier_bits;
  state.counters["poly_size"] = static_cast<double>(p.compiled.params.polynomial_size.value);
}

void BM_CircuitClear(benchmark::State& state) {
  const int index = static_cast<int>(state.range(0));
  Prepared& p = prepared(index);
  for (auto _ : state) {
    auto out = evaluate_clear(p.compiled.circuit, p.clear_inputs);
    benchmark::DoNotOptimize(out.ok());
  }
  set_counters(state, p, index, 1);
}

void BM_CircuitFhe(benchmark::State& state) {
  const int index = static_cast<int>(state.range(0));
  const size_t threads = state.range(1) == 0 ? std::max(1u, std::thread::hardware_concurrency())
                                             : static_cast<size_t>(state.range(1));
  Prepared& p = prepared(index);
  ThreadPool pool(threads);
  for (auto _ : state) {
    state.PauseTiming();
    std::vector<runtime::EncryptedTensor> inputs = p.inputs;
    state.ResumeTiming();
    auto out = runtime::execute(*p.program, std::move(inputs), p.eval.get(), pool);
    if (!out.ok()) {
      state.SkipWithError(out.status().to_string().c_str());
      break;
    }
    benchmark::DoNotOptimize(out->data());
  }
  set_counters(state, p, index, pool.size());
}

}  // namespace

BENCHMARK(BM_CircuitClear)->DenseRange(0, kSampleCount - 1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CircuitFhe)
    ->ArgsProduct({benchmark::CreateDenseRange(0, kSampleCount - 1, 1), {1, 0}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MinTime(0.5)
    ->Repetitions(3)
    ->ReportAggregatesOnly(true);
BENCHMARK_MAIN();
