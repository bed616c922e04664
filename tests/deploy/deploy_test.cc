// The deployment flow through the public API, one model per family: Dev compiles and saves the
// two artifacts, Client and Server load them, the client generates keys and encrypts, the server
// runs, the client decrypts: the answers equal the quantized model's clear predictions. Then the
// files that must be refused: other format versions, another model's artifacts or inputs,
// another client's keys, truncated and corrupted bytes.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "blindml/circuit/clear_eval.h"
#include "blindml/deploy/deploy.h"
#include "internal/zip_io.h"
#include "model_data.h"
#include "base/temp_dir.h"

namespace blindml::deploy {
namespace {

namespace fs = std::filesystem;
using model::testing::DataSet;

ThreadPool& pool() {
  static ThreadPool p;
  return p;
}

struct Compiled {
  std::string dir;
  DataSet test;
};

// The temporary directories, removed when the test binary exits.
blindml::testing::TempDirs& temp_dirs() {
  static blindml::testing::TempDirs t;
  return t;
}

// Compiles a committed model once per test binary into a temporary directory.
const Compiled& compiled(const std::string& name, const std::string& dataset, bool classifier, bool exact = false) {
  static std::map<std::string, Compiled> cache;
  auto it = cache.find(name);
  if (it != cache.end()) return it->second;
  DataSet train, test;
  EXPECT_TRUE(model::testing::load_split(dataset, "train", train));
  EXPECT_TRUE(model::testing::load_split(dataset, "test", test));
  model::CompileOptions options;
  if (classifier) options.kind = model::ModelKind::kClassifier;
  options.exact_rounding = exact;
  auto dev = Dev::compile(model::testing::data_dir() + "/models/" + name + ".onnx", train.features, options);
  EXPECT_TRUE(dev.ok()) << dev.status().to_string();
  const std::string dir = temp_dirs().make("blindml_deploy_test_" + name);
  EXPECT_TRUE(dev->save(dir).ok());
  return cache[name] = Compiled{dir, test};
}

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

void expect_flow(const std::string& name, const std::string& dataset, bool classifier, size_t rows, bool exact = false) {
  const Compiled& c = compiled(name, dataset, classifier, exact);
  auto client = Client::load(c.dir + "/client.zip");
  ASSERT_TRUE(client.ok()) << client.status().to_string();
  auto server = Server::load(c.dir + "/server.zip");
  ASSERT_TRUE(server.ok()) << server.status().to_string();
  ASSERT_TRUE(client->generate_keys(&pool()).ok());
  auto keys = client->evaluation_keys();
  ASSERT_TRUE(keys.ok());
  model::Rows input(c.test.features.begin(), c.test.features.begin() + rows);
  auto enc = client->encrypt(input);
  ASSERT_TRUE(enc.ok()) << enc.status().to_string();
  // Seeded input: one 8-byte body per feature plus fixed headers.
  EXPECT_LE(enc->size(), 16 * input.size() * input[0].size() + 200);
  auto out = server->run(*enc, *keys, pool());
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  auto got = client->decrypt(*out);
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  // The reference: the quantized model in the clear, from the same artifacts.
  auto circuit_out = [&](const std::vector<double>& row) {
    auto t = client->processing().encode_row(row).value();
    auto r = circuit::evaluate_clear(server->compiled().circuit, std::vector<circuit::Tensor>{t}).value();
    return client->processing().decode(r[0]).value();
  };
  ASSERT_EQ(got->size(), rows);
  for (size_t i = 0; i < rows; ++i) {
    auto want = circuit_out(input[i]);
    EXPECT_EQ((*got)[i].values, want.values) << name << " row " << i;
    EXPECT_EQ((*got)[i].label, want.label) << name << " row " << i;
    EXPECT_EQ((*got)[i].proba, want.proba) << name << " row " << i;
  }
}

TEST(DeployFlow, LinearModel) { expect_flow("logistic_regression_breast_cancer", "breast_cancer", true, 10); }
TEST(DeployFlow, LinearRegressor) { expect_flow("linear_regression_diabetes", "diabetes", false, 10); }
TEST(DeployFlow, TreeEnsemble) { expect_flow("decision_tree_breast_cancer", "breast_cancer", true, 4); }
TEST(DeployFlow, Mlp) { expect_flow("mlp_iris", "iris", true, 2, /*exact=*/true); }

TEST(DeployFlow, SecretKeyFileIsPrivateAndReloads) {
  const Compiled& c = compiled("logistic_regression_breast_cancer", "breast_cancer", true);
  auto client = Client::load(c.dir + "/client.zip").value();
  ASSERT_TRUE(client.generate_keys().ok());
  const std::string key_path = c.dir + "/secret.key";
  ASSERT_TRUE(client.save_secret_key(key_path).ok());
  struct stat st {};
  ASSERT_EQ(::stat(key_path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto server = Server::load(c.dir + "/server.zip").value();
  auto keys = client.evaluation_keys().value();
  auto enc = client.encrypt({c.test.features[0]}).value();
  auto out = server.run(enc, keys, pool()).value();
  auto again = Client::load(c.dir + "/client.zip").value();
  ASSERT_TRUE(again.load_secret_key(key_path).ok());
  auto a = client.decrypt(out), b = again.decrypt(out);
  ASSERT_TRUE(a.ok() && b.ok()) << b.status().to_string();
  EXPECT_EQ((*a)[0].values, (*b)[0].values);
}

void expect_refused(const Status& s, const std::string& words) {
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find(words), std::string::npos) << "message: " << s.message() << "\nexpected: " << words;
}

TEST(DeployRefuses, AnotherFormatVersion) {
  const Compiled& c = compiled("logistic_regression_breast_cancer", "breast_cancer", true);
  auto files = internal::read_zip(read_bytes(c.dir + "/client.zip"), "client.zip", 1 << 26).value();
  std::string v(files["versions.json"].begin(), files["versions.json"].end());
  v.replace(v.find("\"format_version\": 1"), 19, "\"format_version\": 2");
  std::vector<internal::ZipEntry> entries;
  for (auto& [name, data] : files)
    entries.push_back({name, name == "versions.json" ? std::vector<uint8_t>(v.begin(), v.end()) : data});
  auto zip = internal::write_zip(entries).value();
  auto r = Client::load_bytes(zip);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kVersionMismatch);
  expect_refused(r.status(), "format version 2");
}

TEST(DeployRefuses, ServerZipAsClientZipAndViceVersa) {
  const Compiled& c = compiled("logistic_regression_breast_cancer", "breast_cancer", true);
  expect_refused(Client::load(c.dir + "/server.zip").status(), "not a client");
  expect_refused(Server::load(c.dir + "/client.zip").status(), "not a server");
}

TEST(DeployRefuses, InputOfAnotherModelAndKeysOfAnotherClient) {
  const Compiled& a = compiled("logistic_regression_breast_cancer", "breast_cancer", true);
  const Compiled& b = compiled("decision_tree_breast_cancer", "breast_cancer", true);
  auto client_a = Client::load(a.dir + "/client.zip").value();
  auto client_a2 = Client::load(a.dir + "/client.zip").value();
  auto server_a = Server::load(a.dir + "/server.zip").value();
  auto server_b = Server::load(b.dir + "/server.zip").value();
  ASSERT_TRUE(client_a.generate_keys().ok());
  ASSERT_TRUE(client_a2.generate_keys().ok());
  auto enc = client_a.encrypt({a.test.features[0]}).value();
  // An input for model A sent to model B's server.
  auto client_b = Client::load(b.dir + "/client.zip").value();
  ASSERT_TRUE(client_b.generate_keys(&pool()).ok());
  expect_refused(server_b.run(enc, client_b.evaluation_keys().value(), pool()).status(), "another model");
  // Client A's input with client A2's evaluation keys.
  expect_refused(server_a.run(enc, client_a2.evaluation_keys().value(), pool()).status(), "another client's keys");
  // An answer for A decrypted by A2.
  auto out = server_a.run(enc, client_a.evaluation_keys().value(), pool()).value();
  expect_refused(client_a2.decrypt(out).status(), "another client's keys");
  // A's answer read with model B's client.zip.
  expect_refused(client_b.decrypt(out).status(), "another model");
  // Files of the wrong kind.
  expect_refused(server_a.run(client_a.evaluation_keys().value(), client_a.evaluation_keys().value(), pool()).status(),
                 "expected an encrypted input");
  expect_refused(client_a.decrypt(enc).status(), "expected an encrypted output");
}

TEST(DeployRefuses, TruncatedAndCorruptedFiles) {
  const Compiled& c = compiled("decision_tree_breast_cancer", "breast_cancer", true);
  auto server_zip = read_bytes(c.dir + "/server.zip");
  auto client_zip = read_bytes(c.dir + "/client.zip");
  for (size_t cut : {size_t{0}, size_t{10}, server_zip.size() / 2, server_zip.size() - 1}) {
    auto r = Server::load_bytes(std::span<const uint8_t>(server_zip).first(cut));
    EXPECT_FALSE(r.ok()) << "server.zip cut at " << cut;
  }
  for (size_t cut : {size_t{0}, client_zip.size() / 3, client_zip.size() - 1})
    EXPECT_FALSE(Client::load_bytes(std::span<const uint8_t>(client_zip).first(cut)).ok()) << "client.zip cut at " << cut;
  // A flipped byte anywhere in server.zip: refused (zip CRC, or the circuit's checksum).
  int refused = 0, tried = 0;
  for (size_t at = 0; at < server_zip.size(); at += std::max<size_t>(1, server_zip.size() / 97)) {
    auto bad = server_zip;
    bad[at] ^= 0x20;
    ++tried;
    auto r = Server::load_bytes(bad);
    refused += !r.ok();
    if (r.ok()) {
      // A byte the zip format does not protect (e.g. a timestamp): the circuit must be intact.
      EXPECT_EQ(compiler::serialize_compiled_circuit(r->compiled()),
                compiler::serialize_compiled_circuit(Server::load_bytes(server_zip)->compiled()))
          << "byte " << at;
    }
  }
  EXPECT_GT(refused, tried / 2);
  // Exchange files: truncated, flipped.
  auto client = Client::load_bytes(client_zip).value();
  ASSERT_TRUE(client.generate_keys(&pool()).ok());
  auto server = Server::load_bytes(server_zip).value();
  auto keys = client.evaluation_keys().value();
  auto enc = client.encrypt({c.test.features[0], c.test.features[1]}).value();
  expect_refused(server.run(std::span<const uint8_t>(enc).first(enc.size() - 8), keys, pool()).status(), "truncated");
  auto flipped = enc;
  flipped[enc.size() - 3] ^= 1;
  expect_refused(server.run(flipped, keys, pool()).status(), "checksum");
  auto header_flip = enc;
  header_flip[50] ^= 1;  // the row count
  expect_refused(server.run(header_flip, keys, pool()).status(), "header");
  auto bad_keys = keys;
  bad_keys[bad_keys.size() / 2] ^= 4;
  expect_refused(server.load_evaluation_keys(bad_keys).status(), "checksum");
  expect_refused(server.load_evaluation_keys(std::span<const uint8_t>(keys).first(keys.size() / 2)).status(),
                 "truncated");
}

}  // namespace
}  // namespace blindml::deploy
