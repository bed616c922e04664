// The HTTP server over real loopback HTTP (a port chosen by the OS): uploads and computations
// give the bytes that deploy::Server::run gives locally, for a leveled model and a tree model;
// malformed, unknown-uid, oversized and mismatched requests get a 4xx with a JSON error and the
// server keeps serving; keys survive a restart on the file store. And the store and cache alone.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <chrono>
#include <map>
#include <thread>

#include "blindml/deploy/deploy.h"
#include "blindml/serve/http_client.h"
#include "blindml/serve/http_server.h"
#include "blindml/serve/key_cache.h"
#include "blindml/serve/key_store.h"
#include "key_store_contract.h"
#include "model_data.h"

namespace blindml::serve {
namespace {

namespace fs = std::filesystem;
using model::testing::DataSet;

ThreadPool& pool() {
  static ThreadPool p(2);
  return p;
}

struct TempDirs {
  std::vector<std::string> dirs;
  ~TempDirs() {
    std::error_code ec;
    for (const auto& d : dirs) fs::remove_all(d, ec);
  }
};
TempDirs& temp_dirs() {
  static TempDirs t;
  return t;
}
std::string temp_dir(const std::string& name) {
  static int counter = 0;
  const std::string dir = (fs::temp_directory_path() / ("blindml_serve_test_" + std::to_string(getpid()) + "_" + name +
                                                        "_" + std::to_string(counter++)))
                              .string();
  temp_dirs().dirs.push_back(dir);
  return dir;
}

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

// A committed model compiled once per test binary, with a client that has keys.
struct Model {
  std::string dir;
  DataSet test;
  std::vector<uint8_t> client_zip;
};

const Model& model_for(const std::string& name, const std::string& dataset) {
  static std::map<std::string, Model> cache;
  auto it = cache.find(name);
  if (it != cache.end()) return it->second;
  DataSet train, test;
  EXPECT_TRUE(model::testing::load_split(dataset, "train", train));
  EXPECT_TRUE(model::testing::load_split(dataset, "test", test));
  model::CompileOptions options;
  options.kind = model::ModelKind::kClassifier;
  auto dev = deploy::Dev::compile(model::testing::data_dir() + "/models/" + name + ".onnx", train.features, options);
  EXPECT_TRUE(dev.ok()) << dev.status().to_string();
  const std::string dir = temp_dir(name);
  EXPECT_TRUE(dev->save(dir).ok());
  return cache[name] = Model{dir, test, read_bytes(dir + "/client.zip")};
}

// A running server on a free loopback port.
struct Running {
  std::unique_ptr<HttpServer> server;
  std::string url;
};

Running start_server(const Model& m, const std::string& keys_dir, HttpServerOptions options = {}) {
  auto server = deploy::Server::load(m.dir + "/server.zip");
  EXPECT_TRUE(server.ok()) << server.status().to_string();
  auto store = open_file_key_store(keys_dir);
  EXPECT_TRUE(store.ok()) << store.status().to_string();
  options.host = "127.0.0.1";
  options.port = 0;
  options.client_zip = m.client_zip;
  options.threads = 2;
  auto http = HttpServer::create(std::move(server).value(), std::move(store).value(), options);
  EXPECT_TRUE(http.ok()) << http.status().to_string();
  Running r{std::make_unique<HttpServer>(std::move(http).value()), ""};
  Status s = r.server->start();
  EXPECT_TRUE(s.ok()) << s.to_string();
  r.url = "http://127.0.0.1:" + std::to_string(r.server->port());
  return r;
}

HttpClient connect(const Running& r) {
  auto c = HttpClient::create(r.url, 120);
  EXPECT_TRUE(c.ok()) << c.status().to_string();
  return std::move(c).value();
}

// The JSON error body of a 4xx.
void expect_json_error(const HttpResponse& r, int status) {
  EXPECT_EQ(r.status, status) << r.body;
  EXPECT_NE(r.content_type.find("application/json"), std::string::npos) << r.content_type;
  EXPECT_NE(r.body.find("\"error\""), std::string::npos) << r.body;
}

// The whole flow over HTTP, checked against the local Server::run.
void expect_http_flow(const std::string& name, const std::string& dataset, size_t rows) {
  const Model& m = model_for(name, dataset);
  Running r = start_server(m, temp_dir("keys"));
  HttpClient http = connect(r);

  auto zip = http.get_client();
  ASSERT_TRUE(zip.ok()) << zip.status().to_string();
  EXPECT_EQ(*zip, m.client_zip);
  auto client = deploy::Client::load_bytes(*zip);
  ASSERT_TRUE(client.ok()) << client.status().to_string();
  ASSERT_TRUE(client->generate_keys(&pool()).ok());
  auto keys = client->evaluation_keys();
  ASSERT_TRUE(keys.ok());
  auto uid = http.add_key(*keys);
  ASSERT_TRUE(uid.ok()) << uid.status().to_string();
  EXPECT_TRUE(is_valid_uid(*uid)) << *uid;

  model::Rows input(m.test.features.begin(), m.test.features.begin() + rows);
  auto enc = client->encrypt(input);
  ASSERT_TRUE(enc.ok());
  auto got = http.compute(*uid, *enc);
  ASSERT_TRUE(got.ok()) << got.status().to_string();

  auto local = deploy::Server::load(m.dir + "/server.zip").value();
  auto want = local.run(*enc, *keys, pool());
  ASSERT_TRUE(want.ok()) << want.status().to_string();
  EXPECT_EQ(*got, *want);
  auto predictions = client->decrypt(*got);
  ASSERT_TRUE(predictions.ok()) << predictions.status().to_string();
  EXPECT_EQ(predictions->size(), rows);

  // The raw form: application/octet-stream with ?uid=.
  auto raw = http.request("POST", "/compute?uid=" + *uid, std::string(enc->begin(), enc->end()),
                          "application/octet-stream");
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(raw->status, 200) << raw->body;
  EXPECT_EQ(raw->body, std::string(want->begin(), want->end()));

  // Requests are counted by the server's logger, which runs after the response has been sent:
  // poll until the second compute shows up (at most two seconds).
  const std::string counted = "blindml_http_requests_total{route=\"/compute\",code=\"200\"} 2";
  auto metrics = http.request("GET", "/metrics");
  for (int i = 0; i < 200 && metrics.ok() && metrics->body.find(counted) == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    metrics = http.request("GET", "/metrics");
  }
  ASSERT_TRUE(metrics.ok());
  EXPECT_NE(metrics->body.find(counted), std::string::npos) << metrics->body;
  EXPECT_NE(metrics->body.find("blindml_key_store_keys 1"), std::string::npos) << metrics->body;
  EXPECT_NE(metrics->body.find("blindml_rows_total " + std::to_string(2 * rows)), std::string::npos) << metrics->body;
  r.server->stop();
}

TEST(HttpServer, LeveledModelOverHttpEqualsLocalRun) {
  expect_http_flow("logistic_regression_breast_cancer", "breast_cancer", 5);
}

TEST(HttpServer, TreeModelOverHttpEqualsLocalRun) { expect_http_flow("decision_tree_breast_cancer", "breast_cancer", 2); }

TEST(HttpServer, RoutesAnswer) {
  const Model& m = model_for("logistic_regression_breast_cancer", "breast_cancer");
  Running r = start_server(m, temp_dir("keys"));
  HttpClient http = connect(r);
  for (const char* path : {"/health", "/ready", "/info", "/metrics", "/get_client"}) {
    auto res = http.request("GET", path);
    ASSERT_TRUE(res.ok()) << path;
    EXPECT_EQ(res->status, 200) << path << ": " << res->body;
  }
  auto info = http.info();
  ASSERT_TRUE(info.ok());
  auto local = deploy::Server::load(m.dir + "/server.zip").value();
  EXPECT_EQ(*info, local.info_json());
  auto missing = http.request("GET", "/no/such/route");
  ASSERT_TRUE(missing.ok());
  expect_json_error(*missing, 404);
}

TEST(HttpServer, BadRequestsAreFourHundredsAndTheServerKeepsServing) {
  const Model& m = model_for("logistic_regression_breast_cancer", "breast_cancer");
  HttpServerOptions options;
  options.max_key_bytes = 1 << 20;
  options.max_input_bytes = 64 << 10;
  Running r = start_server(m, temp_dir("keys"), options);
  HttpClient http = connect(r);
  auto client = deploy::Client::load_bytes(m.client_zip).value();
  ASSERT_TRUE(client.generate_keys(&pool()).ok());
  const std::string uid = http.add_key(client.evaluation_keys().value()).value();
  const auto enc = client.encrypt({m.test.features[0]}).value();
  const std::string input(enc.begin(), enc.end());
  const std::string unknown(32, 'a');

  auto check = [&](Result<HttpResponse> res, int status, const char* what) {
    ASSERT_TRUE(res.ok()) << what << ": " << res.status().to_string();
    SCOPED_TRACE(what);
    expect_json_error(*res, status);
  };
  check(http.post_multipart("/compute", {{"uid", unknown, "", ""}, {"model_input", input, "x", ""}}), 404,
        "unknown uid");
  check(http.post_multipart("/compute", {{"uid", "../../etc/passwd", "", ""}, {"model_input", input, "x", ""}}), 400,
        "malformed uid");
  check(http.post_multipart("/compute", {{"model_input", input, "x", ""}}), 400, "no uid");
  check(http.post_multipart("/compute", {{"uid", uid, "", ""}}), 400, "no input");
  check(http.post_multipart("/compute", {{"uid", uid, "", ""}, {"model_input", "garbage bytes", "x", ""}}), 400,
        "garbage input");
  check(http.post_multipart("/compute", {{"uid", uid, "", ""}, {"model_input", input.substr(0, input.size() / 2), "x", ""}}),
        400, "truncated input");
  check(http.request("POST", "/compute?uid=" + uid, input, "text/plain"), 415, "wrong content type");
  check(http.request("POST", "/compute", input, "application/octet-stream"), 400, "raw body without uid");
  check(http.request("POST", "/compute?uid=" + uid, std::string(100 << 10, 'x'), "application/octet-stream"), 413,
        "input over the limit");
  check(http.post_multipart("/add_key", {{"key", "random bytes, not keys", "k", ""}}), 400, "garbage keys");
  check(http.post_multipart("/add_key", {{"nokey", "x", "", ""}}), 400, "no key field");
  check(http.request("POST", "/add_key", std::string(2 << 20, 'k'), "application/octet-stream"), 413,
        "keys over the limit");
  check(http.request("POST", "/add_key", "", "application/octet-stream"), 400, "empty keys");
  check(http.request("POST", "/add_key", "--x\r\nbroken", "multipart/form-data; boundary=x"), 400,
        "broken multipart");
  check(http.request("DELETE", "/keys/" + unknown), 404, "delete unknown");
  check(http.request("DELETE", "/keys/nothex"), 400, "delete malformed");
  // Another client's input with this client's uid.
  auto other = deploy::Client::load_bytes(m.client_zip).value();
  ASSERT_TRUE(other.generate_keys(&pool()).ok());
  const auto other_enc = other.encrypt({m.test.features[0]}).value();
  check(http.post_multipart("/compute", {{"uid", uid, "", ""},
                                         {"model_input", std::string(other_enc.begin(), other_enc.end()), "x", ""}}),
        400, "another client's input");

  // Still serving.
  auto health = http.request("GET", "/health");
  ASSERT_TRUE(health.ok());
  EXPECT_EQ(health->status, 200);
  auto out = http.compute(uid, enc);
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  EXPECT_TRUE(client.decrypt(*out).ok());

  // Deleted keys are gone.
  EXPECT_TRUE(http.delete_key(uid).ok());
  auto after = http.compute(uid, enc);
  ASSERT_FALSE(after.ok());
  EXPECT_EQ(after.status().code(), StatusCode::kNotFound) << after.status().to_string();
}

TEST(HttpServer, KeysSurviveARestart) {
  const Model& m = model_for("logistic_regression_breast_cancer", "breast_cancer");
  const std::string keys_dir = temp_dir("keys");
  auto client = deploy::Client::load_bytes(m.client_zip).value();
  ASSERT_TRUE(client.generate_keys(&pool()).ok());
  const auto enc = client.encrypt({m.test.features[0], m.test.features[1]}).value();
  std::string uid;
  std::vector<uint8_t> first;
  {
    Running r = start_server(m, keys_dir);
    HttpClient http = connect(r);
    uid = http.add_key(client.evaluation_keys().value()).value();
    first = http.compute(uid, enc).value();
    r.server->stop();
  }
  Running r = start_server(m, keys_dir);
  HttpClient http = connect(r);
  auto again = http.compute(uid, enc);
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  EXPECT_EQ(*again, first);
}

TEST(HttpServer, BearerTokenGuardsTheWritingRoutes) {
  const Model& m = model_for("logistic_regression_breast_cancer", "breast_cancer");
  HttpServerOptions options;
  options.bearer_token = "s3cret";
  Running r = start_server(m, temp_dir("keys"), options);
  auto client = deploy::Client::load_bytes(m.client_zip).value();
  ASSERT_TRUE(client.generate_keys(&pool()).ok());
  HttpClient anonymous = connect(r);
  auto refused = anonymous.add_key(client.evaluation_keys().value());
  EXPECT_FALSE(refused.ok());
  auto health = anonymous.request("GET", "/health");
  ASSERT_TRUE(health.ok());
  EXPECT_EQ(health->status, 200);
  auto with_token = HttpClient::create(r.url, 60, "s3cret").value();
  EXPECT_TRUE(with_token.add_key(client.evaluation_keys().value()).ok());
}

TEST(HttpServer, ConcurrentClients) {
  const Model& m = model_for("logistic_regression_breast_cancer", "breast_cancer");
  HttpServerOptions options;
  options.compute_slots = 2;
  Running r = start_server(m, temp_dir("keys"), options);
  auto client = deploy::Client::load_bytes(m.client_zip).value();
  ASSERT_TRUE(client.generate_keys(&pool()).ok());
  const std::string uid = connect(r).add_key(client.evaluation_keys().value()).value();
  const auto enc = client.encrypt({m.test.features[0]}).value();
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      auto http = HttpClient::create(r.url, 60).value();
      for (int i = 0; i < 10; ++i)
        if (!http.compute(uid, enc).ok()) ++failures;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
}

// ---------------------------------------------------------------------------------------------
// The store and the cache alone.

TEST(FileKeyStore, PutGetRemoveStats) {
  auto store = open_file_key_store(temp_dir("store")).value();
  blindml::serve::testing::expect_key_store_contract(*store);
}

TEST(FileKeyStore, CorruptedAndTruncatedFilesAreRefused) {
  const std::string dir = temp_dir("store");
  auto store = open_file_key_store(dir).value();
  const std::string uid = new_uid().value();
  std::vector<uint8_t> keys(1000, 7);
  ASSERT_TRUE(store->put(uid, keys).ok());
  const std::string path = dir + "/" + uid + ".key";
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(500);
    f.put(8);
  }
  EXPECT_EQ(store->get(uid, 1 << 20).status().code(), StatusCode::kCorrupted);
  fs::resize_file(path, 600);
  EXPECT_EQ(store->get(uid, 1 << 20).status().code(), StatusCode::kCorrupted);
  fs::resize_file(path, 10);
  EXPECT_EQ(store->get(uid, 1 << 20).status().code(), StatusCode::kCorrupted);
}

TEST(KeyCache, EvictsTheLeastRecentlyUsedUnderItsBudget) {
  auto entry = std::make_shared<const deploy::Server::Keys>();
  const uint64_t one = KeyCache::entry_bytes(*entry);
  KeyCache cache(2 * one);
  cache.put("a", entry);
  cache.put("b", entry);
  EXPECT_NE(cache.get("a"), nullptr);  // a is now the most recent
  cache.put("c", entry);               // evicts b
  EXPECT_EQ(cache.get("b"), nullptr);
  EXPECT_NE(cache.get("a"), nullptr);
  EXPECT_NE(cache.get("c"), nullptr);
  auto s = cache.stats();
  EXPECT_EQ(s.entries, 2u);
  EXPECT_EQ(s.evictions, 1u);
  EXPECT_EQ(s.hits, 3u);
  EXPECT_EQ(s.misses, 1u);
  cache.erase("a");
  EXPECT_EQ(cache.get("a"), nullptr);
}

}  // namespace
}  // namespace blindml::serve
