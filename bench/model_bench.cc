// The committed test models end to end (tests/data/README.md): accuracy of the float model, of the
// quantized model in the clear, and under FHE (on the first rows of the test split), circuit
// width, PBS count, evaluation-key size, and FHE latency per sample with one thread and with all
// threads. scripts/bench turns the output into the model table of bench/results/latest.json.
#include <benchmark/benchmark.h>

#include <map>
#include <memory>
#include <optional>
#include <thread>

#include "blindml/circuit/analysis.h"
#include "blindml/crypto/algorithms.h"
#include "blindml/model/model.h"
#include "model/model_data.h"

using namespace blindml;
using namespace blindml::model;

namespace {

constexpr size_t kFheAccuracyRows = 10;

struct Prepared {
  std::optional<CompiledModel> model;
  std::unique_ptr<circuit::FheEvaluator> evaluator;
  std::unique_ptr<crypto::ClientKey> client;
  std::unique_ptr<crypto::EvaluationKeys> eval;
  testing::DataSet test;
  double float_acc = 0, quant_acc = 0, fhe_acc = 0, clear_acc_same_rows = 0, fhe_rows = 0;
  std::optional<circuit::EncryptedTensor> sample;
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
  p.evaluator = std::make_unique<circuit::FheEvaluator>(
      circuit::FheEvaluator::create(p.model->compiled.circuit, p.model->compiled.params, p.model->compiled.carrier_bits)
          .value());
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
  p.sample = circuit::encrypt_tensor(*p.client, p.model->processing.encode_row(p.test.features[0]).value(),
                                     p.model->compiled.carrier_bits);
  return &p;
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
  for (auto _ : state) {
    state.PauseTiming();
    std::vector<circuit::EncryptedTensor> in{*p->sample};
    state.ResumeTiming();
    auto out = p->evaluator->evaluate(std::move(in), p->eval.get(), pool);
    if (!out.ok()) {
      state.SkipWithError(out.status().to_string().c_str());
      break;
    }
    benchmark::DoNotOptimize(out->data());
  }
  const auto& a = p->evaluator->analysis();
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

}  // namespace

BENCHMARK(BM_ModelFhe)
    ->ArgsProduct({benchmark::CreateDenseRange(0, static_cast<int64_t>(testing::model_cases().size()) - 1, 1), {1, 0}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(3);
BENCHMARK_MAIN();
