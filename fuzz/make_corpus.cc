// Writes the seed corpora of the fuzz targets (fuzz/corpus/<target>/) from real artifacts: the
// committed models of tests/data/models compiled with their data sets, their client.zip,
// server.zip, circuit.bin and serialized_processing.json, keys and ciphertexts of the leveled
// session, and blobs of the toy parameter set. Run by tools/make_fuzz_corpus.sh. Deterministic
// except for keys and ciphertexts (fresh randomness each run); the files are small.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "blindml/circuit/analysis.h"
#include "blindml/crypto/csprng.h"
#include "blindml/crypto/io.h"
#include "fuzz_common.h"
#include "internal/zip_io.h"

using namespace blindml;
namespace fs = std::filesystem;

namespace {

fs::path g_out;
constexpr size_t kMaxSeed = 160 << 10;  // seeds above this are left out (corpus kept small)

void write(const std::string& target, const std::string& name, const std::vector<uint8_t>& bytes,
           int control = -1) {
  std::vector<uint8_t> data;
  if (control >= 0) data.push_back(static_cast<uint8_t>(control));
  data.insert(data.end(), bytes.begin(), bytes.end());
  if (data.size() > kMaxSeed) {
    std::printf("  skip %s/%s (%zu bytes)\n", target.c_str(), name.c_str(), data.size());
    return;
  }
  fs::create_directories(g_out / target);
  std::ofstream(g_out / target / name, std::ios::binary).write(reinterpret_cast<const char*>(data.data()), data.size());
  std::printf("  %s/%s (%zu bytes)\n", target.c_str(), name.c_str(), data.size());
}

std::vector<uint8_t> read(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

struct ModelSpec {
  const char* name;
  const char* dataset;
  bool classifier;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR (fuzz/corpus)\n", argv[0]);
    return 2;
  }
  g_out = argv[1];
  const ModelSpec models[] = {
      {"linear_regression_diabetes", "diabetes", false},   {"logistic_regression_iris", "iris", true},
      {"logistic_regression_breast_cancer", "breast_cancer", true}, {"decision_tree_diabetes", "diabetes", false},
      {"decision_tree_breast_cancer", "breast_cancer", true},       {"mlp_iris", "iris", true},
      {"mlp_breast_cancer", "breast_cancer", true},                 {"random_forest_breast_cancer", "breast_cancer", true},
      {"gradient_boosting_breast_cancer", "breast_cancer", true},   {"xgboost_breast_cancer", "breast_cancer", true},
  };
  for (const auto& m : models) {
    model::CompileOptions options;
    if (m.classifier) options.kind = model::ModelKind::kClassifier;
    const std::string onnx = fuzz::source_dir() + "/tests/data/models/" + m.name + ".onnx";
    auto dev = deploy::Dev::compile(onnx, fuzz::read_rows(m.dataset), options);
    if (!dev.ok()) {
      std::fprintf(stderr, "%s: %s\n", m.name, dev.status().to_string().c_str());
      return 1;
    }
    const auto& compiled = dev->model().compiled;
    uint64_t elements = 0;
    for (const auto& n : compiled.circuit.nodes()) elements += circuit::shape_elements(n.shape);
    const auto analysis = circuit::analyze(compiled.circuit).value();
    std::printf("%s: %zu nodes, %llu elements, %llu noise terms\n", m.name, compiled.circuit.size(),
                static_cast<unsigned long long>(elements), static_cast<unsigned long long>(analysis.noise_terms));
    auto client_zip = dev->client_zip().value();
    auto server_zip = dev->server_zip().value();
    write("client_zip", m.name, client_zip);
    write("server_zip", m.name, server_zip);
    write("compiled_circuit", m.name, compiler::serialize_compiled_circuit(dev->model().compiled), 0);
    auto files = deploy::internal::read_zip(client_zip, "client.zip", 1 << 26).value();
    write("processing_json", m.name, files.at("serialized_processing.json"));
    write("onnx", m.name, read(onnx));
  }

  // Exporter-shaped corpus models whose decoders the ones above do not reach (issue 13 part 5:
  // SVMClassifier and skl2onnx's one-vs-rest tail; the client processing's one-vs-one block).
  // Also: GaussianNB (square terms), string class labels (class_names), ai.onnx.ml 5's
  // TreeEnsemble, a ColumnTransformer (several inputs, one-hot steps) and a PCA before trees.
  for (const auto& m : {ModelSpec{"skl2onnx_svc_linear_iris", "iris", true},
                        ModelSpec{"skl2onnx_svc_linear_probability_iris", "iris", true},
                        ModelSpec{"skl2onnx_gaussian_nb_breast_cancer", "breast_cancer", true},
                        ModelSpec{"skl2onnx_logreg_string_labels_iris", "iris", true},
                        ModelSpec{"onnx_ml5_tree_ensemble_random_forest_diabetes", "diabetes", false},
                        ModelSpec{"skl2onnx_column_transformer_onehot_logreg_mixed", "mixed", true},
                        ModelSpec{"skl2onnx_pipeline_pca_decision_tree_breast_cancer", "breast_cancer", true}}) {
    const std::string onnx = fuzz::source_dir() + "/tests/data/corpus/" + m.name + ".onnx";
    auto dev = deploy::Dev::compile(onnx, fuzz::read_rows(m.dataset), model::CompileOptions{});
    if (!dev.ok()) {
      std::fprintf(stderr, "%s: %s\n", m.name, dev.status().to_string().c_str());
      return 1;
    }
    auto files = deploy::internal::read_zip(dev->client_zip().value(), "client.zip", 1 << 26).value();
    write("processing_json", m.name, files.at("serialized_processing.json"));
    write("onnx", m.name, read(onnx));
  }

  std::printf("exchange (leveled session)\n");
  const fuzz::Session& s = fuzz::leveled_session();
  auto rows = fuzz::read_rows("diabetes");
  auto one = s.client->encrypt({rows[0]}).value();
  auto three = s.client->encrypt({rows[0], rows[1], rows[2]}).value();
  write("exchange", "input_1_row", one, 0);
  write("exchange", "input_3_rows", three, 0);
  write("exchange", "output_3_rows", s.server->run(three, s.keys, *s.pool).value(), 1);
  write("exchange", "evaluation_keys_leveled", s.client->evaluation_keys().value(), 2);

  std::printf("crypto blobs\n");
  const auto& toy = fuzz::insecure_toy_params();
  auto key = crypto::ClientKey::generate(fuzz::real_params()).value();
  auto key_blob = crypto::serialize_client_key(key);
  write("crypto_blob", "client_key", key_blob, 0);
  crypto::secure_wipe(key_blob.data(), key_blob.size());
  const uint64_t bsk = toy.lwe_dimension.value * (toy.glwe_dimension.value + 1) * toy.pbs_level_count.value *
                       toy.polynomial_size.value;
  const uint64_t ksk = toy.glwe_dimension.value * toy.polynomial_size.value * toy.ks_level_count.value;
  std::vector<uint64_t> bodies(bsk);
  for (uint64_t i = 0; i < bsk; ++i) bodies[i] = i * 0x9e3779b97f4a7c15ull;
  crypto::SeededEvaluationKeys keys{
      toy,
      crypto::SeededBootstrapKey(toy.lwe_dimension, toy.glwe_dimension, toy.polynomial_size, toy.pbs_base_log,
                                 toy.pbs_level_count, crypto::Seed{}, bodies),
      crypto::SeededLweKeyswitchKey(toy.big_lwe_dimension(), toy.lwe_dimension, toy.ks_base_log,
                                    toy.ks_level_count, crypto::Seed{}, std::vector<uint64_t>(ksk, 7))};
  write("crypto_blob", "seeded_evaluation_keys_toy", crypto::serialize_seeded_evaluation_keys(keys), 1);
  write("crypto_blob", "seeded_list_toy",
        crypto::serialize_seeded_lwe_list(
            crypto::SeededLweCiphertextList(toy.big_lwe_dimension(), crypto::Seed{}, {1, 2, 3}), toy),
        2);
  crypto::LweCiphertextList list(toy.big_lwe_dimension(), 2);
  for (size_t i = 0; i < list.data().size(); ++i) list.data()[i] = i;
  write("crypto_blob", "lwe_list_toy", crypto::serialize_lwe_list(list, toy), 3);
  return 0;
}
