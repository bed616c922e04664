// The committed test models end to end (tests/data/README.md): accuracy of the float model, of the
// quantized model in the clear, and under FHE (on the first rows of the test split), circuit
// width, PBS count, evaluation-key size, FHE latency per sample with one thread and with all
// threads, and the server's work per row for requests of 1, 16 and 64 rows on 2 threads
// (BM_ModelFheRows: runtime::execute runs a request's rows together, one PBS batch per wave).
// scripts/bench turns the output into the model table of bench/results/latest.json.
#include <benchmark/benchmark.h>

#include <map>
#include <memory>
#include <chrono>
#include <optional>
#include <thread>

#include "blindml/circuit/analysis.h"
#include "blindml/compiler/lower.h"
#include "blindml/crypto/algorithms.h"
#include "blindml/model/model.h"
#include "blindml/runtime/executor.h"
#include "model/model_data.h"

using namespace blindml;
using namespace blindml::model;

namespace {

constexpr size_t kFheAccuracyRows = 10;
constexpr uint64_t kMaxRequestRows = 64;
// 64-row requests only for models whose one row takes less than this on 2 threads (a 64-row
// request of the 10 s random forest would take over ten minutes per iteration).
constexpr double kMaxOneRowSecondsFor64 = 0.5;

struct Prepared {
  std::optional<CompiledModel> model;
  std::optional<runtime::Program> program;
  circuit::Analysis analysis;
  std::unique_ptr<crypto::ClientKey> client;
  std::unique_ptr<crypto::EvaluationKeys> eval;
  testing::DataSet test;
  double float_acc = 0, quant_acc = 0, fhe_acc = 0, clear_acc_same_rows = 0, fhe_rows = 0;
  std::optional<crypto::LweCiphertextList> sample;  // test rows 0..kMaxRequestRows-1, encrypted
  double one_row_s = 0;                             // one row on 2 threads, measured once
};

double score(const testing::ModelCase& mc, const std::vector<Prediction>& p, const std::vector<double>& target) {
  if (mc.classifier) {
    std::vector<int64_t> labels;
    for (auto& x : p) labels.push_back(x.label);
    return testing::accuracy(labels, target);
  }
  std::vector<double> v;
  for (auto& x : p) v.push_back(x.values[0]);
  return testing::r2(v, target);
}

Prepared* prepared(int index) {
  static std::map<int, std::unique_ptr<Prepared>> cache;
  auto& slot = cache[index];
  if (slot) return slot.get();
  const auto& mc = testing::model_cases()[index];
  auto graph = load_onnx_file(testing::data_dir() + "/models/" + mc.name + ".onnx");
  testing::DataSet train;
  slot = std::make_unique<Prepared>();
  Prepared& p = *slot;
  if (!graph.ok() || !testing::load_split(mc.dataset, "train", train) || !testing::load_split(mc.dataset, "test", p.test))
    return nullptr;
  CompileOptions options;
  if (mc.classifier) options.kind = ModelKind::kClassifier;
  auto model = compile_model(*graph, train.features, options);
  if (!model.ok()) {
    std::fprintf(stderr, "%s: %s\n", mc.name, model.status().to_string().c_str());
    return nullptr;
  }
  p.model.emplace(std::move(model).value());
  testing::Csv expected;
  testing::read_csv(testing::data_dir() + "/models/" + mc.name + ".expected.csv", expected);
  std::vector<Prediction> fp;
  for (auto& r : expected.rows) {
    Prediction x;
    x.label = static_cast<int64_t>(r[0]);
    x.values = {r[0]};
    fp.push_back(x);
  }
  p.float_acc = score(mc, fp, p.test.target);
  p.quant_acc = score(mc, predict_clear(*p.model, p.test.features).value(), p.test.target);
  p.analysis = circuit::analyze(p.model->compiled.circuit).value();
  p.program = compiler::lower(p.model->compiled.circuit, p.analysis, p.model->compiled.params).value();
  ThreadPool pool;
  p.client = std::make_unique<crypto::ClientKey>(crypto::ClientKey::generate(p.model->compiled.params).value());
  if (p.model->compiled.needs_bootstrapping) {
    auto seeded = crypto::generate_seeded_evaluation_keys(*p.client, &pool);
    p.eval = std::make_unique<crypto::EvaluationKeys>(crypto::expand_evaluation_keys(seeded, &pool));
  }
  const size_t n = std::min(kFheAccuracyRows, p.test.features.size());
  Rows rows(p.test.features.begin(), p.test.features.begin() + n);
  std::vector<double> target(p.test.target.begin(), p.test.target.begin() + n);
  auto fhe = predict_fhe(*p.model, rows, *p.client, p.eval.get(), pool);
  p.fhe_acc = fhe.ok() ? score(mc, *fhe, target) : -1;
  p.clear_acc_same_rows = score(mc, predict_clear(*p.model, rows).value(), target);
  p.fhe_rows = static_cast<double>(n);
  const auto& in = p.program->inputs()[0];
  const auto dim = p.model->compiled.params.big_lwe_dimension();
  const uint64_t elements = in.slots.size(), words = dim.value + 1;
  p.sample.emplace(dim, kMaxRequestRows * elements);
  for (uint64_t r = 0; r < kMaxRequestRows; ++r) {
    const auto& row = p.test.features[r % p.test.features.size()];
    const auto ct = runtime::encrypt_tensor(*p.client, p.model->processing.encode_row(row).value(), in.carrier_bits);
    std::copy(ct.ciphertexts.data().begin(), ct.ciphertexts.data().end(),
              p.sample->data().begin() + r * elements * words);
  }
  return &p;
}

// The first `rows` encrypted test rows as one request.
crypto::LweCiphertextList first_rows(const Prepared& p, uint64_t rows) {
  const uint64_t per_row = p.sample->count() / kMaxRequestRows, words = p.sample->dimension().value + 1;
  crypto::LweCiphertextList l(p.sample->dimension(), rows * per_row);
  std::copy_n(p.sample->data().begin(), rows * per_row * words, l.data().begin());
  return l;
}

void BM_ModelFhe(benchmark::State& state) {
  const int index = static_cast<int>(state.range(0));
  const size_t threads = state.range(1) == 0 ? std::max(1u, std::thread::hardware_concurrency())
                                             : static_cast<size_t>(state.range(1));
  Prepared* p = prepared(index);
  if (!p) {
    state.SkipWithError("the model or its data could not be loaded or compiled");
    return;
  }
  ThreadPool pool(threads);
  const auto one = first_rows(*p, 1);
  for (auto _ : state) {
    auto out = runtime::execute(*p->program, 1, std::span(&one, 1), p->eval.get(), pool);
    if (!out.ok()) {
      state.SkipWithError(out.status().to_string().c_str());
      break;
    }
    benchmark::DoNotOptimize(out->data());
  }
  const auto& a = p->analysis;
  state.SetLabel(testing::model_cases()[index].name);
  state.counters["threads"] = static_cast<double>(pool.size());
  state.counters["pbs"] = static_cast<double>(a.pbs_count);
  state.counters["carrier_bits"] = a.carrier_bits;
  state.counters["lookup_bits"] = a.max_lookup_bits;
  state.counters["key_mb"] = p->model->compiled.needs_bootstrapping
                                 ? crypto::seeded_evaluation_keys_bytes(p->model->compiled.params) / 1e6
                                 : 0.0;
  state.counters["acc_float"] = p->float_acc;
  state.counters["acc_quantized"] = p->quant_acc;
  state.counters["acc_fhe"] = p->fhe_acc;
  state.counters["acc_clear_fhe_rows"] = p->clear_acc_same_rows;
  state.counters["fhe_rows"] = p->fhe_rows;
}

// The server's work for a request of R rows (Server::run's runtime::execute), on 2 threads;
// real time per request (scripts/bench divides by the counter `rows`).
void BM_ModelFheRows(benchmark::State& state) {
  const uint64_t rows = static_cast<uint64_t>(state.range(0));
  const int index = static_cast<int>(state.range(1));
  Prepared* p = prepared(index);
  if (!p) {
    state.SkipWithError("the model or its data could not be loaded or compiled");
    return;
  }
  ThreadPool pool(2);
  if (p->one_row_s == 0) {
    const auto one = first_rows(*p, 1);
    const auto t0 = std::chrono::steady_clock::now();
    auto out = runtime::execute(*p->program, 1, std::span(&one, 1), p->eval.get(), pool);
    p->one_row_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!out.ok()) p->one_row_s = -1;
  }
  if (rows == kMaxRequestRows && p->one_row_s >= kMaxOneRowSecondsFor64) {
    state.SkipWithError("skipped: one row takes 0.5 s or more; 64 rows would take minutes");
    return;
  }
  const auto request = first_rows(*p, rows);
  runtime::ExecutionStats stats;
  for (auto _ : state) {
    stats = {};
    runtime::ExecuteOptions options;
    options.stats = &stats;
    auto out = runtime::execute(*p->program, rows, std::span(&request, 1), p->eval.get(), pool, options);
    if (!out.ok()) {
      state.SkipWithError(out.status().to_string().c_str());
      break;
    }
    benchmark::DoNotOptimize(out->data());
  }
  state.SetLabel(testing::model_cases()[index].name);
  state.counters["threads"] = static_cast<double>(pool.size());
  state.counters["rows"] = static_cast<double>(rows);
  state.counters["pbs_batches"] = static_cast<double>(stats.pbs_batches);
}

}  // namespace

// BM_ModelFheRows/<rows>/<model index>.
BENCHMARK(BM_ModelFheRows)
    ->ArgsProduct({{1, 16, static_cast<int64_t>(kMaxRequestRows)},
                   benchmark::CreateDenseRange(0, static_cast<int64_t>(testing::model_cases().size()) - 1, 1)})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MinTime(2.0);  // one iteration of a slow model's 16 rows is enough; fast ones repeat
BENCHMARK(BM_ModelFhe)
    ->ArgsProduct({benchmark::CreateDenseRange(0, static_cast<int64_t>(testing::model_cases().size()) - 1, 1), {1, 0}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(3);
BENCHMARK_MAIN();
