// The deployment artifacts and exchange files of the committed test models: sizes of client.zip,
// server.zip, the serialised evaluation keys, one encrypted input row and one encrypted answer;
// client key generation time; client encrypt and decrypt time per row. scripts/bench turns the
// output into the deployment table of bench/results/latest.json.
#include <benchmark/benchmark.h>

#include <chrono>
#include <map>

#include "blindml/deploy/deploy.h"
#include "model/model_data.h"

using namespace blindml;
using namespace blindml::deploy;

namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

void BM_Deploy(benchmark::State& state) {
  const auto& mc = model::testing::model_cases()[state.range(0)];
  model::testing::DataSet train, test;
  if (!model::testing::load_split(mc.dataset, "train", train) || !model::testing::load_split(mc.dataset, "test", test)) {
    state.SkipWithError("test data missing");
    return;
  }
  model::CompileOptions options;
  if (mc.classifier) options.kind = model::ModelKind::kClassifier;
  auto dev = Dev::compile(model::testing::data_dir() + "/models/" + mc.name + ".onnx", train.features, options);
  if (!dev.ok()) {
    state.SkipWithError(dev.status().to_string().c_str());
    return;
  }
  auto client_zip = dev->client_zip().value();
  auto server_zip = dev->server_zip().value();
  auto client = Client::load_bytes(client_zip).value();
  auto server = Server::load_bytes(server_zip).value();
  ThreadPool pool;
  ThreadPool one(1);
  double keygen_ms = 0;
  for (auto _ : state) {
    auto t = Clock::now();
    if (!client.generate_keys(&one).ok()) {
      state.SkipWithError("key generation failed");
      return;
    }
    keygen_ms = ms_since(t);
  }
  auto keys = client.evaluation_keys().value();
  // Per-row client times: the median of a few single-row encryptions and decryptions.
  std::vector<double> enc_ms, dec_ms;
  std::vector<uint8_t> enc, out;
  for (int i = 0; i < 5; ++i) {
    auto t = Clock::now();
    enc = client.encrypt({test.features[i]}).value();
    enc_ms.push_back(ms_since(t));
  }
  auto loaded = server.load_evaluation_keys(keys, {}, &pool).value();
  out = server.run(enc, loaded, pool).value();
  for (int i = 0; i < 5; ++i) {
    auto t = Clock::now();
    auto p = client.decrypt(out);
    benchmark::DoNotOptimize(p.ok());
    dec_ms.push_back(ms_since(t));
  }
  std::sort(enc_ms.begin(), enc_ms.end());
  std::sort(dec_ms.begin(), dec_ms.end());
  state.SetLabel(mc.name);
  state.counters["client_zip_kb"] = client_zip.size() / 1e3;
  state.counters["server_zip_kb"] = server_zip.size() / 1e3;
  state.counters["eval_keys_mb"] = keys.size() / 1e6;
  state.counters["input_row_bytes"] = static_cast<double>(enc.size());
  state.counters["features"] = static_cast<double>(test.features[0].size());
  state.counters["output_row_bytes"] = static_cast<double>(out.size());
  state.counters["keygen_ms"] = keygen_ms;
  state.counters["encrypt_ms"] = enc_ms[enc_ms.size() / 2];
  state.counters["decrypt_ms"] = dec_ms[dec_ms.size() / 2];
}

}  // namespace

BENCHMARK(BM_Deploy)
    ->DenseRange(0, static_cast<int64_t>(model::testing::model_cases().size()) - 1)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1);
BENCHMARK_MAIN();
