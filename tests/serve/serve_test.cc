// The HTTP server over real loopback HTTP (a port chosen by the OS): uploads and computations
// give the bytes that deploy::Server::run gives locally, for a leveled model and a tree model;
// malformed, unknown-uid, oversized and mismatched requests get a 4xx with a JSON error and the
// server keeps serving; keys survive a restart on the file store. And the store and cache alone.
#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <thread>

#include "blindml/deploy/deploy.h"
#include "blindml/model/model.h"
#include "blindml/serve/http_client.h"
#include "blindml/serve/http_server.h"
#include "blindml/serve/key_cache.h"
#include "blindml/serve/key_store.h"
#include "internal/http_fuzz.h"
#include "internal/multipart.h"
#include "key_store_contract.h"
#include "model_data.h"
#include "base/temp_dir.h"

namespace blindml::serve {
namespace {

namespace fs = std::filesystem;
using model::testing::DataSet;

ThreadPool& pool() {
  static ThreadPool p(2);
  return p;
}

// Every directory a test makes is fresh (mkdtemp) and removed when the process exits.
std::string temp_dir(const std::string& name) {
  static blindml::testing::TempDirs dirs;
  return dirs.make("blindml_serve_test_" + name);
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

const Model& model_for(const std::string& name, const std::string& dataset, bool classifier = true,
                       bool exact = false) {
  static std::map<std::string, Model> cache;
  auto it = cache.find(name);
  if (it != cache.end()) return it->second;
  DataSet train, test;
  EXPECT_TRUE(model::testing::load_split(dataset, "train", train));
  EXPECT_TRUE(model::testing::load_split(dataset, "test", test));
  model::CompileOptions options;
  options.kind = classifier ? model::ModelKind::kClassifier : model::ModelKind::kRegressor;
  options.exact_rounding = exact;
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

// A client of m with fresh keys, uploaded through http.
std::pair<deploy::Client, std::string> new_client_with_keys(const Model& m, HttpClient& http) {
  auto client = deploy::Client::load_bytes(m.client_zip).value();
  EXPECT_TRUE(client.generate_keys(&pool()).ok());
  auto uid = http.add_key(client.evaluation_keys().value());
  EXPECT_TRUE(uid.ok()) << uid.status().to_string();
  return {std::move(client), uid.ok() ? *uid : std::string()};
}

// The JSON error body of a 4xx.
void expect_json_error(const HttpResponse& r, int status) {
  EXPECT_EQ(r.status, status) << r.body;
  EXPECT_NE(r.content_type.find("application/json"), std::string::npos) << r.content_type;
  EXPECT_NE(r.body.find("\"error\""), std::string::npos) << r.body;
}

// The whole flow over HTTP, checked against the local Server::run.
void expect_http_flow(const std::string& name, const std::string& dataset, size_t rows, bool classifier = true,
                      bool exact = false) {
  const Model& m = model_for(name, dataset, classifier, exact);
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
  // The answers are the clear model's (`blindml predict --mode clear`), row by row.
  model::CompiledModel compiled{client->processing(), local.compiled(), ""};
  auto clear = model::predict_clear(compiled, input);
  ASSERT_TRUE(clear.ok()) << clear.status().to_string();
  ASSERT_EQ(predictions->size(), rows);
  for (size_t i = 0; i < rows; ++i) {
    EXPECT_EQ((*predictions)[i].values, (*clear)[i].values) << name << " row " << i;
    EXPECT_EQ((*predictions)[i].label, (*clear)[i].label) << name << " row " << i;
  }

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

TEST(HttpServer, RegressorOverHttpEqualsLocalRun) {
  expect_http_flow("linear_regression_diabetes", "diabetes", 3, /*classifier=*/false);
}

TEST(HttpServer, MlpOverHttpEqualsLocalRun) {
  expect_http_flow("mlp_iris", "iris", 1, /*classifier=*/true, /*exact=*/true);
}

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

  check(http.request("POST", "/add_key", "keys", "text/plain"), 415, "keys with a wrong content type");
  check(http.request("POST", "/add_key", std::string(5000, '\0'), "application/octet-stream"), 400, "zero bytes as keys");
  check(http.request("POST", "/add_key", "keys", "text/plain"), 415, "keys with a wrong content type");

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

TEST(HttpServer, HostileKeysAndInputsAreRefusedAndTheServerKeepsServing) {
  // A model with bootstrapping keys (megabytes of them), so that truncation, corruption and noise
  // hit the crypto loaders, and keys and inputs of another model (a leveled one).
  const Model& m = model_for("decision_tree_breast_cancer", "breast_cancer");
  Running r = start_server(m, temp_dir("keys"));
  HttpClient http = connect(r);
  auto client = deploy::Client::load_bytes(m.client_zip).value();
  ASSERT_TRUE(client.generate_keys(&pool()).ok());
  const auto keys = client.evaluation_keys().value();
  const std::string whole(keys.begin(), keys.end());
  const std::string uid = http.add_key(keys).value();
  const auto enc = client.encrypt({m.test.features[0]}).value();
  auto check = [&](Result<HttpResponse> res, int status, const char* what) {
    ASSERT_TRUE(res.ok()) << what << ": " << res.status().to_string();
    SCOPED_TRACE(what);
    expect_json_error(*res, status);
  };
  for (size_t cut : {size_t{10}, size_t{100}, whole.size() / 2, whole.size() - 1})
    check(http.post_multipart("/add_key", {{"key", whole.substr(0, cut), "k", ""}}), 400, "truncated keys");
  for (size_t at : {size_t{20}, size_t{70}, whole.size() / 3, whole.size() - 1}) {
    std::string flipped = whole;
    flipped[at] ^= 0x40;
    check(http.post_multipart("/add_key", {{"key", flipped, "k", ""}}), 400, "corrupted keys");
  }
  std::string noise(whole.size(), '\0');
  uint64_t x = 0x9e3779b97f4a7c15ull;
  for (char& c : noise) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    c = static_cast<char>(x);
  }
  check(http.request("POST", "/add_key", noise, "application/octet-stream"), 400, "random bytes as keys");
  check(http.request("POST", "/add_key", std::string(whole.size(), '\0'), "application/octet-stream"), 400,
        "zero bytes as keys");
  check(http.request("POST", "/add_key", whole, "text/plain"), 415, "keys with a wrong content type");
  check(http.post_multipart("/compute", {{"uid", uid, "", ""}, {"model_input", noise.substr(0, 4096), "x", ""}}), 400,
        "random bytes as input");
  std::string bad_input(enc.begin(), enc.end());
  bad_input[bad_input.size() - 3] ^= 1;  // a ciphertext body byte: the blob checksum catches it
  check(http.post_multipart("/compute", {{"uid", uid, "", ""}, {"model_input", bad_input, "x", ""}}), 400,
        "corrupted input");
  // Evaluation keys and an input made with another model's client.zip.
  const Model& other = model_for("logistic_regression_breast_cancer", "breast_cancer");
  auto stranger = deploy::Client::load_bytes(other.client_zip).value();
  ASSERT_TRUE(stranger.generate_keys(&pool()).ok());
  const auto other_keys = stranger.evaluation_keys().value();
  check(http.post_multipart("/add_key", {{"key", std::string(other_keys.begin(), other_keys.end()), "k", ""}}), 400,
        "another model's keys");
  const auto other_input = stranger.encrypt({other.test.features[0]}).value();
  check(http.post_multipart("/compute",
                            {{"uid", uid, "", ""}, {"model_input", std::string(other_input.begin(), other_input.end()), "x", ""}}),
        400, "another model's input");
  // Nothing was stored for the refused keys, and the valid client is still served.
  auto metrics = http.request("GET", "/metrics");
  ASSERT_TRUE(metrics.ok());
  EXPECT_NE(metrics->body.find("blindml_key_store_keys 1\n"), std::string::npos) << metrics->body;
  auto out = http.compute(uid, enc);
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  EXPECT_TRUE(client.decrypt(*out).ok());
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
  // A bounded load test: 4 clients, each with its own keys, × 20 requests; every answer right.
  const Model& m = model_for("decision_tree_breast_cancer", "breast_cancer");
  HttpServerOptions options;
  options.compute_slots = 2;
  options.threads = 1;
  Running r = start_server(m, temp_dir("keys"), options);
  const auto local = deploy::Server::load(m.dir + "/server.zip").value();
  model::Rows rows = {m.test.features[0]};
  std::atomic<int> failures{0}, wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      auto client = deploy::Client::load_bytes(m.client_zip).value();
      if (!client.generate_keys(nullptr).ok()) return void(++failures);
      auto http = HttpClient::create(r.url, 120).value();
      auto uid = http.add_key(client.evaluation_keys().value());
      if (!uid.ok()) return void(++failures);
      const model::Rows row = {m.test.features[static_cast<size_t>(t)]};
      const auto want = model::predict_clear({client.processing(), local.compiled(), ""}, row).value();
      for (int i = 0; i < 20; ++i) {
        auto out = http.compute(*uid, client.encrypt(row).value());
        if (!out.ok()) {
          ++failures;
          continue;
        }
        auto got = client.decrypt(*out);
        if (!got.ok() || (*got)[0].label != want[0].label || (*got)[0].values != want[0].values) ++wrong;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(wrong.load(), 0);
}

// Polls /metrics until it holds `line` (at most five seconds).
bool wait_for_metric(HttpClient& http, const std::string& line) {
  for (int i = 0; i < 1000; ++i) {
    auto metrics = http.request("GET", "/metrics");
    if (metrics.ok() && metrics->body.find(line) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

TEST(HttpServer, AFullQueueAnswers503AndTheServerRecovers) {
  // One slot and no waiting room: while a long computation holds the slot, another is refused at
  // once with 503; afterwards the same request succeeds.
  const Model& m = model_for("decision_tree_breast_cancer", "breast_cancer");
  HttpServerOptions options;
  options.compute_slots = 1;
  options.queue = 0;
  options.threads = 1;
  Running r = start_server(m, temp_dir("keys"), options);
  HttpClient http = connect(r);
  auto [client, uid] = new_client_with_keys(m, http);
  const auto one = client.encrypt({m.test.features[0]}).value();
  ASSERT_TRUE(http.compute(uid, one).ok());  // the expanded keys are now cached: one lease per compute
  const model::Rows many(m.test.features.begin(), m.test.features.begin() + 40);
  const auto long_input = client.encrypt(many).value();
  std::thread long_request([&] {
    auto h = HttpClient::create(r.url, 300).value();
    auto out = h.compute(uid, long_input);
    EXPECT_TRUE(out.ok()) << out.status().to_string();
  });
  HttpClient probe = connect(r);
  ASSERT_TRUE(wait_for_metric(probe, "blindml_computing 1"));
  auto refused = probe.request("POST", "/compute?uid=" + uid, std::string(one.begin(), one.end()),
                               "application/octet-stream");
  ASSERT_TRUE(refused.ok());
  expect_json_error(*refused, 503);
  long_request.join();
  auto again = probe.compute(uid, one);
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  EXPECT_TRUE(client.decrypt(*again).ok());
  EXPECT_TRUE(wait_for_metric(probe, "blindml_queue_rejected_total 1"));
}

TEST(HttpServer, StopFinishesTheComputationInFlight) {
  const Model& m = model_for("decision_tree_breast_cancer", "breast_cancer");
  HttpServerOptions options;
  options.threads = 1;
  Running r = start_server(m, temp_dir("keys"), options);
  HttpClient http = connect(r);
  auto [client, uid] = new_client_with_keys(m, http);
  const model::Rows rows(m.test.features.begin(), m.test.features.begin() + 20);
  const auto input = client.encrypt(rows).value();
  Result<std::vector<uint8_t>> answer = internal_error("not answered");
  std::thread in_flight([&] {
    auto h = HttpClient::create(r.url, 300).value();
    answer = h.compute(uid, input);
  });
  ASSERT_TRUE(wait_for_metric(http, "blindml_computing 1"));
  r.server->stop();  // returns once the request in flight is answered
  in_flight.join();
  ASSERT_TRUE(answer.ok()) << answer.status().to_string();
  const auto got = client.decrypt(*answer).value();
  const auto local = deploy::Server::load(m.dir + "/server.zip").value();
  const auto want = model::predict_clear({client.processing(), local.compiled(), ""}, rows).value();
  ASSERT_EQ(got.size(), rows.size());
  for (size_t i = 0; i < rows.size(); ++i) EXPECT_EQ(got[i].label, want[i].label) << i;
  // Stopped: new connections are refused.
  EXPECT_FALSE(HttpClient::create(r.url, 5).value().request("GET", "/health").ok());
}

// A client that sends a request's headers and part of its body, then waits: what a slow or
// hostile uploader does. The rest of the body (or nothing) goes on finish().
class SlowUpload {
 public:
  SlowUpload(int port, const std::string& path, uint64_t content_length, const std::string& first_part) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = fd_ >= 0 && ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    send_all("POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n"
             "Content-Length: " + std::to_string(content_length) + "\r\n\r\n" + first_part);
  }
  ~SlowUpload() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return connected_; }
  // Sends the rest and returns the status line of the answer.
  std::string finish(const std::string& rest) {
    send_all(rest);
    std::string answer;
    char buf[4096];
    while (answer.find("\r\n") == std::string::npos) {
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) break;
      answer.append(buf, static_cast<size_t>(n));
    }
    return answer.substr(0, answer.find("\r\n"));
  }

 private:
  void send_all(const std::string& data) {
    size_t done = 0;
    while (connected_ && done < data.size()) {
      const ssize_t n = ::send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return;
      done += static_cast<size_t>(n);
    }
  }
  int fd_ = -1;
  bool connected_ = false;
};

TEST(HttpServer, UploadsBeyondTheMemoryBudgetAre503AndTheBudgetIsGivenBack) {
  // Room for 3 MiB of bodies: a slow 2 MiB upload in progress leaves too little for another 2 MiB
  // one, which is answered 503 at once; when the slow one ends, uploads fit again.
  const Model& m = model_for("logistic_regression_breast_cancer", "breast_cancer");
  HttpServerOptions options;
  options.max_key_bytes = 2 << 20;
  options.max_input_bytes = 1 << 20;
  options.max_buffered_bytes = 3 << 20;
  Running r = start_server(m, temp_dir("keys"), options);
  HttpClient http = connect(r);
  const uint64_t size = 2 << 20;
  SlowUpload slow(r.server->port(), "/add_key", size, std::string(1000, 'x'));
  ASSERT_TRUE(slow.ok());
  ASSERT_TRUE(wait_for_metric(http, "blindml_request_body_bytes " + std::to_string(size) + "\n"));
  auto refused = http.request("POST", "/add_key", std::string(size, 'y'), "application/octet-stream");
  ASSERT_TRUE(refused.ok()) << refused.status().to_string();
  expect_json_error(*refused, 503);
  // A small computation still fits beside the slow upload.
  auto client = deploy::Client::load_bytes(m.client_zip).value();
  ASSERT_TRUE(client.generate_keys(&pool()).ok());
  const std::string uid = http.add_key(client.evaluation_keys().value()).value();
  EXPECT_TRUE(http.compute(uid, client.encrypt({m.test.features[0]}).value()).ok());
  // The slow upload ends (its bytes are not keys: 400); its reservation is given back.
  EXPECT_NE(slow.finish(std::string(size - 1000, 'x')).find(" 400 "), std::string::npos);
  ASSERT_TRUE(wait_for_metric(http, "blindml_request_body_bytes 0\n"));
  auto fits = http.request("POST", "/add_key", std::string(size, 'y'), "application/octet-stream");
  ASSERT_TRUE(fits.ok());
  expect_json_error(*fits, 400);  // read whole, then refused as keys
  // A budget smaller than one body of the largest limit is refused at creation.
  HttpServerOptions bad = options;
  bad.max_buffered_bytes = 1 << 20;
  auto made = HttpServer::create(deploy::Server::load(m.dir + "/server.zip").value(),
                                 open_file_key_store(temp_dir("keys")).value(), bad);
  ASSERT_FALSE(made.ok());
  EXPECT_EQ(made.status().code(), StatusCode::kInvalidArgument);
}

// A self-signed certificate for 127.0.0.1 made by the openssl command (Debian package openssl).
bool make_certificate(const std::string& dir) {
  const std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 "
                          "-addext subjectAltName=IP:127.0.0.1 -keyout '" + dir + "/key.pem' -out '" + dir +
                          "/cert.pem' >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

TEST(HttpServer, TlsServesHttpsToClientsThatTrustItsCertificate) {
  const Model& m = model_for("logistic_regression_breast_cancer", "breast_cancer");
  const std::string dir = temp_dir("tls");
  fs::create_directories(dir);
  ASSERT_TRUE(make_certificate(dir)) << "openssl req failed";
  HttpServerOptions options;
  options.tls_cert_file = dir + "/cert.pem";
  options.tls_key_file = dir + "/key.pem";
  Running r = start_server(m, temp_dir("keys"), options);
  const std::string https = "https://127.0.0.1:" + std::to_string(r.server->port());

  auto trusting = HttpClient::create(https, 60, "", dir + "/cert.pem");
  ASSERT_TRUE(trusting.ok()) << trusting.status().to_string();
  auto client = deploy::Client::load_bytes(m.client_zip).value();
  ASSERT_TRUE(client.generate_keys(&pool()).ok());
  auto uid = trusting->add_key(client.evaluation_keys().value());
  ASSERT_TRUE(uid.ok()) << uid.status().to_string();
  const model::Rows rows = {m.test.features[0], m.test.features[1]};
  auto out = trusting->compute(*uid, client.encrypt(rows).value());
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  const auto local = deploy::Server::load(m.dir + "/server.zip").value();
  const auto want = model::predict_clear({client.processing(), local.compiled(), ""}, rows).value();
  const auto got = client.decrypt(*out).value();
  ASSERT_EQ(got.size(), rows.size());
  for (size_t i = 0; i < rows.size(); ++i) EXPECT_EQ(got[i].label, want[i].label) << i;

  // TLS 1.2+ with forward-secret AEAD suites only: openssl s_client offering one suite or version.
  auto handshake = [&](const std::string& flags) {
    const std::string cmd = "timeout 10 openssl s_client -connect 127.0.0.1:" + std::to_string(r.server->port()) +
                            " " + flags + " </dev/null >/dev/null 2>&1";
    return std::system(cmd.c_str()) == 0;
  };
  EXPECT_TRUE(handshake("-tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256"));
  EXPECT_TRUE(handshake("-tls1_2 -cipher ECDHE-RSA-CHACHA20-POLY1305"));
  EXPECT_TRUE(handshake("-tls1_3"));
  EXPECT_FALSE(handshake("-tls1_1 -cipher DEFAULT@SECLEVEL=0"));
  EXPECT_FALSE(handshake("-tls1_2 -cipher AES128-SHA"));            // static RSA, CBC with SHA-1
  EXPECT_FALSE(handshake("-tls1_2 -cipher AES128-GCM-SHA256"));     // static RSA key exchange
  EXPECT_FALSE(handshake("-tls1_2 -cipher ECDHE-RSA-AES128-SHA"));  // CBC with SHA-1
  EXPECT_FALSE(handshake("-tls1_2 -cipher ECDHE-RSA-AES128-SHA256"));  // CBC

  // A client that does not trust the self-signed certificate, and plain HTTP on the TLS port, fail.
  auto untrusting = HttpClient::create(https, 10).value();
  EXPECT_FALSE(untrusting.request("GET", "/health").ok());
  auto plain = HttpClient::create(r.url, 10).value();
  auto answer = plain.request("GET", "/health");
  EXPECT_FALSE(answer.ok() && answer->status == 200);
  // The server still serves the trusting client.
  auto health = trusting->request("GET", "/health");
  ASSERT_TRUE(health.ok()) << health.status().to_string();
  EXPECT_EQ(health->status, 200);
}

TEST(HttpServer, BadTlsFilesAreClearErrors) {
  const Model& m = model_for("logistic_regression_breast_cancer", "breast_cancer");
  const std::string dir = temp_dir("badtls");
  fs::create_directories(dir);
  std::ofstream(dir + "/garbage.pem") << "not a certificate\n";
  auto make = [&](const std::string& cert, const std::string& key) {
    HttpServerOptions options;
    options.tls_cert_file = cert;
    options.tls_key_file = key;
    return HttpServer::create(deploy::Server::load(m.dir + "/server.zip").value(),
                              open_file_key_store(temp_dir("keys")).value(), options);
  };
  auto missing = make(dir + "/none.pem", dir + "/none.pem");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("none.pem"), std::string::npos) << missing.status().to_string();
  auto garbage = make(dir + "/garbage.pem", dir + "/garbage.pem");
  ASSERT_FALSE(garbage.ok());
  EXPECT_NE(garbage.status().message().find("PEM"), std::string::npos) << garbage.status().to_string();
  auto half = make(dir + "/garbage.pem", "");
  ASSERT_FALSE(half.ok());
  EXPECT_EQ(half.status().code(), StatusCode::kInvalidArgument);
}

// ---------------------------------------------------------------------------------------------
// Hardening (issue 10; docs/server.md, "Limits and defenses"): slow, flooding and greedy clients,
// a full disk, a writer killed during an upload, quotas, a hostile server. Raw sockets on
// 127.0.0.1 play the attacker; every case checks the exact status and that valid clients are
// still served afterwards.

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// A raw loopback connection: sends what it is told, reads one answer's status line.
class Raw {
 public:
  explicit Raw(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ >= 0 && ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~Raw() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return fd_ >= 0; }
  bool send(const std::string& data) {
    size_t done = 0;
    while (fd_ >= 0 && done < data.size()) {
      const ssize_t n = ::send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return false;
      done += static_cast<size_t>(n);
    }
    return fd_ >= 0;
  }
  bool readable(int timeout_ms) {
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, timeout_ms) > 0;
  }
  // The status line of one answer ("" when none within timeout_ms); its head and body in `rest`.
  // The body (Content-Length) is consumed, so that the next call reads the next answer.
  std::string status_line(int timeout_ms = 5000, std::string* rest = nullptr) {
    const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    auto fill = [&] {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0 || !readable(static_cast<int>(left))) return false;
      char buf[4096];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return false;
      buf_.append(buf, static_cast<size_t>(n));
      return true;
    };
    size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos)
      if (!fill()) return "";
    std::string head = buf_.substr(0, end + 4);
    std::string lower = head;
    for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    size_t length = 0;
    if (auto at = lower.find("content-length: "); at != std::string::npos)
      length = std::stoul(head.substr(at + 16));
    while (buf_.size() < head.size() + length)
      if (!fill()) break;
    if (rest) *rest = buf_.substr(0, head.size() + length);
    buf_.erase(0, std::min(buf_.size(), head.size() + length));
    return head.substr(0, head.find("\r\n"));
  }

 private:
  int fd_ = -1;
  std::string buf_;
};

double rss_bytes() {
  std::ifstream f("/proc/self/status");
  for (std::string line; std::getline(f, line);)
    if (line.starts_with("VmRSS:")) return std::stod(line.substr(6)) * 1024;
  return -1;
}

// A GET /health on a new connection: its status and how long it took.
std::pair<int, double> timed_health(const Running& r) {
  const auto t = Clock::now();
  auto c = HttpClient::create(r.url, 5).value();
  auto res = c.request("GET", "/health");
  return {res.ok() ? res->status : 0, seconds_since(t)};
}

TEST(HttpHardening, SlowClientsBeyondTheWorkersDoNotStopHealthOrCompute) {
  // One compute worker, two control workers, two io threads; 64 connections that send half a
  // request line and 8 uploads that stop mid-body: /health answers at once, and so does a valid
  // client's computation.
  const Model& m = model_for("logistic_regression_breast_cancer", "breast_cancer");
  HttpServerOptions options;
  options.compute_slots = 1;
  options.queue = 0;
  options.threads = 1;
  Running r = start_server(m, temp_dir("keys"), options);
  HttpClient http = connect(r);
  auto [client, uid] = new_client_with_keys(m, http);
  std::vector<std::unique_ptr<Raw>> slow;
  for (int i = 0; i < 64; ++i) {
    slow.push_back(std::make_unique<Raw>(r.server->port()));
    ASSERT_TRUE(slow.back()->ok());
    slow.back()->send("GET /hea");
  }
  std::vector<std::unique_ptr<SlowUpload>> uploads;
  for (int i = 0; i < 8; ++i) {
    uploads.push_back(std::make_unique<SlowUpload>(r.server->port(), "/add_key", 100000, "xy"));
    ASSERT_TRUE(uploads.back()->ok());
  }
  double worst = 0;
  for (int i = 0; i < 20; ++i) {
    auto [status, secs] = timed_health(r);
    EXPECT_EQ(status, 200);
    worst = std::max(worst, secs);
  }
  EXPECT_LT(worst, 1.0) << "the slowest /health took " << worst << " s";
  auto out = http.compute(uid, client.encrypt({m.test.features[0]}).value());
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  EXPECT_TRUE(client.decrypt(*out).ok());
  EXPECT_TRUE(wait_for_metric(http, "blindml_http_connections 73\n"));  // 64 + 8 slow + the probe
}

TEST(HttpHardening, HeaderFloodsAre431AndTheirMemoryIsNotKept) {
  const Model& m = model_for("logistic_regression_breast_cancer", "breast_cancer");
  Running r = start_server(m, temp_dir("keys"));
  HttpClient http = connect(r);
  {  // Many short header lines, under the byte limit: the line limit (100).
    Raw c(r.server->port());
    std::string req = "GET /health HTTP/1.1\r\nHost: x\r\n";
    for (int i = 0; i < 150; ++i) req += "X-" + std::to_string(i) + ": y\r\n";
    ASSERT_TRUE(c.send(req + "\r\n"));
    std::string rest;
    EXPECT_EQ(c.status_line(5000, &rest), "HTTP/1.1 431 Request Header Fields Too Large");
    EXPECT_NE(rest.find("more than this server's limit of 100"), std::string::npos) << rest;
  }
  {  // One huge header line: the byte limit (16 KiB).
    Raw c(r.server->port());
    ASSERT_TRUE(c.send("GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(100000, 'a') + "\r\n\r\n"));
    std::string rest;
    EXPECT_EQ(c.status_line(5000, &rest), "HTTP/1.1 431 Request Header Fields Too Large");
    EXPECT_NE(rest.find("limit of 16384 bytes"), std::string::npos) << rest;
  }
  // 64 MB of header lines as fast as the server takes them: refused after 16 KiB, and the
  // process's memory does not keep the flood.
  const double before = rss_bytes();
  uint64_t sent = 0;
  std::string status;
  {
    Raw c(r.server->port());
    ASSERT_TRUE(c.send("GET /health HTTP/1.1\r\nHost: x\r\n"));
    const std::string line = "X-Flood: " + std::string(1014, 'a') + "\r\n";
    std::string chunk;
    for (int i = 0; i < 64; ++i) chunk += line;
    const auto start = Clock::now();
    while (sent < (uint64_t{64} << 20) && seconds_since(start) < 10) {
      if (c.readable(0)) break;
      if (!c.send(chunk)) break;
      sent += chunk.size();
    }
    status = c.status_line(5000);
  }
  EXPECT_EQ(status, "HTTP/1.1 431 Request Header Fields Too Large");
  EXPECT_LT(sent, uint64_t{16} << 20) << "the server kept reading the flood";
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const double growth = rss_bytes() - before;
  EXPECT_LT(growth, 16e6) << "resident memory grew by " << growth / 1e6 << " MB";
  auto [health, secs] = timed_health(r);
  EXPECT_EQ(health, 200);
  auto [client, uid] = new_client_with_keys(m, http);
  EXPECT_TRUE(http.compute(uid, client.encrypt({m.test.features[0]}).value()).ok());
}

TEST(HttpHardening, RequestsThatNeverFinishGet408WithinTheDeadline) {
  const Model& m = model_for("logistic_regression_breast_cancer", "breast_cancer");
  HttpServerOptions options;
  options.header_timeout_s = 1;
  options.request_timeout_s = 2;
  Running r = start_server(m, temp_dir("keys"), options);
  {  // Headers that never end, a byte now and then (each read makes progress: no per-read timeout helps).
    Raw c(r.server->port());
    const auto t = Clock::now();
    ASSERT_TRUE(c.send("GET /health HTTP/1.1\r\n"));
    std::string line;
    for (int i = 0; i < 30 && line.empty(); ++i) {
      c.send("X");
      if (c.readable(100)) line = c.status_line(1000);
    }
    EXPECT_EQ(line, "HTTP/1.1 408 Request Timeout");
    EXPECT_GT(seconds_since(t), 0.9);
    EXPECT_LT(seconds_since(t), 2.0);
  }
  {  // Headers, then half the body.
    SlowUpload slow(r.server->port(), "/add_key", 1000, "abc");
    ASSERT_TRUE(slow.ok());
    const auto t = Clock::now();
    EXPECT_EQ(slow.finish(""), "HTTP/1.1 408 Request Timeout");
    EXPECT_GT(seconds_since(t), 1.5);
    EXPECT_LT(seconds_since(t), 3.5);
  }
  HttpClient http = connect(r);
  auto [client, uid] = new_client_with_keys(m, http);
  EXPECT_TRUE(http.compute(uid, client.encrypt({m.test.features[0]}).value()).ok());
}

TEST(HttpHardening, BeyondTheConnectionLimitOnlyHealthIsAnswered) {
  const Model& m = model_for("logistic_regression_breast_cancer", "breast_cancer");
  HttpServerOptions options;
  options.max_connections = 4;
  Running r = start_server(m, temp_dir("keys"), options);
  HttpClient http = connect(r);
  auto [client, uid] = new_client_with_keys(m, http);
  {
    std::vector<std::unique_ptr<Raw>> held;
    for (int i = 0; i < 4; ++i) {
      held.push_back(std::make_unique<Raw>(r.server->port()));
      held.back()->send("GET /in");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // accepted
    auto [health, secs] = timed_health(r);
    EXPECT_EQ(health, 200);
    EXPECT_LT(secs, 1.0);
    auto info = http.request("GET", "/info");
    ASSERT_TRUE(info.ok());
    expect_json_error(*info, 503);
    EXPECT_NE(info->body.find("4 connections open, its limit"), std::string::npos) << info->body;
    // More than the overflow room (8): the extra connections are closed at once.
    std::vector<std::unique_ptr<Raw>> extra;
    for (int i = 0; i < 12; ++i) extra.push_back(std::make_unique<Raw>(r.server->port()));
    Raw last(r.server->port());
    last.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(last.status_line(3000), "");
  }
  // The slots are free again.
  for (int i = 0; i < 200; ++i) {
    auto info = http.request("GET", "/info");
    if (info.ok() && info->status == 200) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  auto out = http.compute(uid, client.encrypt({m.test.features[0]}).value());
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  auto metrics = http.request("GET", "/metrics");
  ASSERT_TRUE(metrics.ok());
  EXPECT_EQ(metrics->body.find("blindml_http_connections_refused_total 0\n"), std::string::npos) << metrics->body;
}

TEST(HttpHardening, KeepAliveServesManyRequestsOnOneConnection) {
  const Model& m = model_for("logistic_regression_breast_cancer", "breast_cancer");
  Running r = start_server(m, temp_dir("keys"));
  Raw c(r.server->port());
  const auto t = Clock::now();
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(c.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n"));
    std::string rest;
    ASSERT_EQ(c.status_line(2000, &rest), "HTTP/1.1 200 OK") << i;
    EXPECT_NE(rest.find("{\"status\":\"ok\"}"), std::string::npos) << rest;
  }
  // TCP_NODELAY: 50 answers on one connection take far less than 50 delayed ACKs (40 ms each).
  EXPECT_LT(seconds_since(t), 1.0);
}

TEST(HttpHardening, QuotasOnStoredKeysAre507AndExistingKeysStay) {
  const Model& m = model_for("logistic_regression_breast_cancer", "breast_cancer");
  HttpServerOptions options;
  options.max_stored_keys = 2;
  Running r = start_server(m, temp_dir("keys"), options);
  HttpClient http = connect(r);
  auto [a, uid_a] = new_client_with_keys(m, http);
  auto [b, uid_b] = new_client_with_keys(m, http);
  auto c = deploy::Client::load_bytes(m.client_zip).value();
  ASSERT_TRUE(c.generate_keys(&pool()).ok());
  const auto keys_c = c.evaluation_keys().value();
  auto over = http.request("POST", "/add_key", std::string(keys_c.begin(), keys_c.end()), "application/octet-stream");
  ASSERT_TRUE(over.ok());
  expect_json_error(*over, 507);
  EXPECT_NE(over->body.find("--max-stored-keys"), std::string::npos) << over->body;
  EXPECT_TRUE(http.compute(uid_a, a.encrypt({m.test.features[0]}).value()).ok());
  ASSERT_TRUE(http.delete_key(uid_b).ok());
  EXPECT_TRUE(http.add_key(keys_c).ok());
  // Bytes: room for one client's keys only.
  HttpServerOptions bytes_options;
  bytes_options.max_stored_bytes = keys_c.size() + 10;
  Running r2 = start_server(m, temp_dir("keys"), bytes_options);
  HttpClient http2 = connect(r2);
  ASSERT_TRUE(http2.add_key(keys_c).ok());
  auto over2 = http2.request("POST", "/add_key", std::string(keys_c.begin(), keys_c.end()), "application/octet-stream");
  ASSERT_TRUE(over2.ok());
  expect_json_error(*over2, 507);
  EXPECT_NE(over2->body.find("--max-stored-bytes"), std::string::npos) << over2->body;
}

TEST(HttpHardening, AFullDiskIs507WithoutPathsAndReadyIs503) {
  // A 1 MiB tmpfs as the key store (root only: mount(2)); filled with a file until ENOSPC.
  const std::string dir = temp_dir("fulldisk");
  fs::create_directories(dir);
  if (::mount("tmpfs", dir.c_str(), "tmpfs", 0, "size=1m,mode=0700") != 0)
    GTEST_SKIP() << "cannot mount a tmpfs (needs root): " << std::strerror(errno);
  struct Unmount {
    std::string dir;
    ~Unmount() { ::umount2(dir.c_str(), MNT_DETACH); }
  } unmount{dir};
  const Model& m = model_for("logistic_regression_breast_cancer", "breast_cancer");
  auto server = deploy::Server::load(m.dir + "/server.zip").value();
  auto store = open_file_key_store(dir, 64 * 1024).value();
  HttpServerOptions options;
  options.host = "127.0.0.1";
  options.port = 0;
  options.client_zip = m.client_zip;
  options.threads = 2;
  Running r{std::make_unique<HttpServer>(HttpServer::create(std::move(server), std::move(store), options).value()), ""};
  ASSERT_TRUE(r.server->start().ok());
  r.url = "http://127.0.0.1:" + std::to_string(r.server->port());
  HttpClient http = connect(r);
  auto [old_client, old_uid] = new_client_with_keys(m, http);
  ASSERT_EQ(http.request("GET", "/ready")->status, 200);
  {
    std::ofstream filler(dir + "/filler", std::ios::binary);
    const std::string block(4096, 'f');
    for (int i = 0; i < 1024 && filler; ++i) filler.write(block.data(), block.size());
  }
  auto c = deploy::Client::load_bytes(m.client_zip).value();
  ASSERT_TRUE(c.generate_keys(&pool()).ok());
  const auto keys = c.evaluation_keys().value();
  auto full = http.request("POST", "/add_key", std::string(keys.begin(), keys.end()), "application/octet-stream");
  ASSERT_TRUE(full.ok());
  expect_json_error(*full, 507);
  EXPECT_EQ(full->body.find(dir), std::string::npos) << "a server path in an error: " << full->body;
  auto ready = http.request("GET", "/ready");
  ASSERT_TRUE(ready.ok());
  expect_json_error(*ready, 503);
  EXPECT_NE(ready->body.find("disk is full"), std::string::npos) << ready->body;
  EXPECT_EQ(ready->body.find(dir), std::string::npos) << ready->body;
  for (const auto& e : fs::directory_iterator(dir))
    EXPECT_FALSE(e.path().filename().string().starts_with(".tmp-")) << e.path();
  // The old keys still serve (read from the full disk after a restart-like cache miss too).
  auto out = http.compute(old_uid, old_client.encrypt({m.test.features[0]}).value());
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  auto reread = open_file_key_store(dir, 0).value()->get(old_uid, 1 << 30);
  EXPECT_TRUE(reread.ok()) << reread.status().to_string();
  fs::remove(dir + "/filler");
  EXPECT_EQ(http.request("GET", "/ready")->status, 200);
  EXPECT_TRUE(http.add_key(keys).ok());
}

TEST(HttpHardening, AWriterKilledDuringAnUploadLeavesNoTempFileAfterARestart) {
  const std::string dir = temp_dir("killed");
  auto store = open_file_key_store(dir).value();
  const std::string old_uid = new_uid().value();
  const std::vector<uint8_t> old_keys(5000, 3);
  ASSERT_TRUE(store->put(old_uid, old_keys).ok());
  // A child process writes 256 MB of keys; it is killed (SIGKILL) once its temporary file exists.
  const std::string new_uid_text = new_uid().value();
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    const std::vector<uint8_t> big(size_t{256} << 20, 7);
    (void)store->put(new_uid_text, big);
    ::_exit(0);
  }
  bool seen = false;
  for (int i = 0; i < 2000 && !seen; ++i) {
    for (const auto& e : fs::directory_iterator(dir))
      if (e.path().filename().string().starts_with(".tmp-")) seen = true;
    if (!seen) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_TRUE(seen) << "the child's temporary file never appeared";
  ASSERT_TRUE(WIFSIGNALED(status)) << "the child finished its write before the kill";
  // A restart: the store opens, the dead writer's temporary file goes, the old keys are intact.
  auto reopened = open_file_key_store(dir).value();
  for (const auto& e : fs::directory_iterator(dir))
    EXPECT_FALSE(e.path().filename().string().starts_with(".tmp-")) << e.path();
  EXPECT_EQ(reopened->get(old_uid, 1 << 20).value(), old_keys);
  EXPECT_EQ(reopened->get(new_uid_text, 1 << 30).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(reopened->stats().value().keys, 1u);
}

// A hostile "server" on a loopback port: answers every connection with a body that never ends.
class EndlessServer {
 public:
  EndlessServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(fd_, 4);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] {
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      char buf[4096];
      (void)::recv(c, buf, sizeof buf, 0);
      std::string head = "HTTP/1.1 200 OK\r\nContent-Type: application/zip\r\nTransfer-Encoding: chunked\r\n\r\n";
      (void)::send(c, head.data(), head.size(), MSG_NOSIGNAL);
      const std::string chunk = "10000\r\n" + std::string(0x10000, 'z') + "\r\n";
      for (int i = 0; i < 4096; ++i)  // 256 MB at most
        if (::send(c, chunk.data(), chunk.size(), MSG_NOSIGNAL) <= 0) break;
      ::close(c);
    });
  }
  ~EndlessServer() {
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
};

TEST(HttpHardening, AnOversizedAnswerIsAClearClientError) {
  EndlessServer hostile;
  auto client = HttpClient::create("http://127.0.0.1:" + std::to_string(hostile.port()), 10, "", "", 1 << 20).value();
  const double before = rss_bytes();
  auto zip = client.get_client();
  ASSERT_FALSE(zip.ok());
  EXPECT_EQ(zip.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(zip.status().message().find("larger than this client's limit of 1048576 bytes"), std::string::npos)
      << zip.status().to_string();
  EXPECT_LT(rss_bytes() - before, 32e6);
  // A real server's client.zip over a small limit, and within the default.
  const Model& m = model_for("logistic_regression_breast_cancer", "breast_cancer");
  Running r = start_server(m, temp_dir("keys"));
  auto small = HttpClient::create(r.url, 10, "", "", 100).value();
  EXPECT_EQ(small.get_client().status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(connect(r).get_client().value(), m.client_zip);
}

int parse(const std::string& bytes) {
  return internal::parse_request_for_fuzzing(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
}

TEST(HttpParsing, TheFuzzEntryPointAppliesTheServersLimits) {
  EXPECT_EQ(parse("GET /health HTTP/1.1\r\nHost: x\r\n\r\n"), 200);
  EXPECT_EQ(parse("GET /health HTTP/1.1\r\nHost: x\r\n"), 0);  // unfinished
  std::string many = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 101; ++i) {
    // Appended piece by piece: GCC 12 warns (-Wrestrict, a false positive) on "A" + to_string(i).
    many += 'A';
    many += std::to_string(i);
    many += ": b\r\n";
  }
  EXPECT_EQ(parse(many + "\r\n"), 431);
  EXPECT_EQ(parse("GET / HTTP/1.1\r\nX: " + std::string(20000, 'a') + "\r\n\r\n"), 431);
  EXPECT_EQ(parse("POST / HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n"), 413);
  EXPECT_EQ(parse("POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"), 200);
  EXPECT_EQ(parse("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"), 200);
  EXPECT_EQ(parse("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"), 400);
  EXPECT_EQ(parse("NOT HTTP\r\n\r\n"), 400);
  EXPECT_EQ(parse("POST / HTTP/1.1\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 9\r\n\r\n--b\r\nxxxx"), 400);
}

TEST(HttpParsing, MultipartPartsAreViewsIntoTheBodyAndMalformedBodiesAreRefused) {
  const std::string body = "--b\r\nContent-Disposition: form-data; name=\"uid\"\r\n\r\nabc\r\n"
                           "--b\r\nContent-Disposition: form-data; name=\"model_input\"; filename=\"x\"\r\n"
                           "Content-Type: application/octet-stream\r\n\r\n\x01\x02\r\n--b--\r\n";
  auto parts = internal::parse_multipart("multipart/form-data; boundary=\"b\"", body);
  ASSERT_TRUE(parts.ok()) << parts.status().to_string();
  ASSERT_EQ(parts->size(), 2u);
  EXPECT_EQ((*parts)[0].name, "uid");
  EXPECT_EQ((*parts)[0].content, "abc");
  EXPECT_EQ((*parts)[1].name, "model_input");
  EXPECT_EQ((*parts)[1].filename, "x");
  EXPECT_EQ((*parts)[1].content, "\x01\x02");
  EXPECT_FALSE(internal::parse_multipart("multipart/form-data", body).ok());                      // no boundary
  EXPECT_FALSE(internal::parse_multipart("multipart/form-data; boundary=b", body.substr(0, 60)).ok());  // truncated
  EXPECT_FALSE(internal::parse_multipart("multipart/form-data; boundary=b",
                                         "--b\r\nContent-Type: x\r\n\r\nabc\r\n--b--").ok());  // no name
  std::string many;
  for (int i = 0; i < 17; ++i) many += "--b\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nx\r\n";
  EXPECT_FALSE(internal::parse_multipart("multipart/form-data; boundary=b", many + "--b--").ok());  // > 16 parts
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
