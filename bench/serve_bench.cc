// The HTTP server under load (issue 6): for each committed test model, requests per second and the
// p50/p99 latency of POST /compute at 1, 2 and 4 concurrent clients, and the time and memory of
// POST /add_key. scripts/bench turns the output into the server table of bench/results/latest.json;
// docs/benchmarks.md ("HTTP server") describes the figures.
//
// One run (BM_Serve/<model>/clients:<c>, run in the order 1, 2, 4):
//   - the model is compiled once and its clients (each with its own keys, one encrypted test row
//     and the clear model's answer to that row) are made once, then reused by the runs of that
//     model, which share one file key store in a temporary directory (removed afterwards);
//   - a fresh HttpServer on 127.0.0.1 (a free port) on that store, sized for the machine, not for
//     the load: min(c, cores) compute slots of cores / slots threads each, so slots × threads =
//     cores (cores: the CPUs this process may run on, what nproc prints); at more clients than
//     cores the extra requests wait in the server's queue. The key cache's budget holds every
//     client's keys, so the timed requests never reload keys from the store;
//   - add_key, once per model (the first run): the first client uploads its evaluation keys with
//     HttpClient::add_key (a raw application/octet-stream body) to the idle server. Measured:
//     its time (client side, request to answer); the process's resident memory growth it leaves
//     behind (VmRSS after − before: the expanded keys the server caches, plus allocator slack);
//     the peak growth during the call (VmHWM, reset through /proc/self/clear_refs just before,
//     minus VmRSS before; client and server share the process, so the client's copy of the
//     request counts too); and the server's own account of the cached keys (the /metrics gauge
//     blindml_key_cache_bytes). The other clients' keys are written into the store directly, not
//     uploaded (an MLP's take half a minute to upload, mostly the transfer), and every client the
//     server has not seen yet sends one untimed /compute first, which reads and expands its keys
//     as after a restart;
//   - compute: the c clients start together and each sends kRequests[model] POST /compute requests
//     of one encrypted row (encrypted beforehand, the same bytes every time), one after another,
//     each on a new connection (HttpClient's default). Latency: client side, per request, over all
//     the clients' requests (nearest rank); req/s: all requests over the wall time from the start
//     to the last answer (the benchmark's real time, which covers only this phase);
//   - correctness: every client's first timed answer is decrypted and compared with the clear
//     model's prediction (model::predict_clear) for its row; where they differ (an MLP compiled
//     with approximate rounding may move a value by one step, see docs/benchmarks.md "Sample
//     circuits") the answer must be the very bytes that deploy::Server::run gives locally with the
//     same keys. Every later answer must be the same bytes as the first (evaluation is
//     deterministic). Anything else fails the run (SkipWithError).
//
// Request counts (kRequests) keep the whole benchmark at about 11 minutes on 2 cores (AMD EPYC,
// docs/benchmarks.md; a quarter of it the random forest, a fifth the MLPs' keys): a few requests
// for the models that take seconds per row (random forest ~10 s, boosted trees and MLPs 1–4 s),
// 1000 for the leveled linear models (a fraction of a millisecond). With few requests p99 is the
// slowest one; the table shows how many requests each figure rests on.
#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <latch>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "blindml/deploy/deploy.h"
#include "blindml/serve/http_client.h"
#include "blindml/serve/http_server.h"
#include "blindml/serve/key_store.h"
#include "model/model_data.h"

using namespace blindml;

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

constexpr int kMaxClients = 4;
constexpr int kDefaultRequests = 2;  // a model missing from kRequests
// /compute requests per client and run (see the header for the time budget).
const std::map<std::string, int> kRequests = {
    {"linear_regression_diabetes", 1000},
    {"logistic_regression_breast_cancer", 1000},
    {"logistic_regression_iris", 1000},
    {"decision_tree_breast_cancer", 10},
    {"random_forest_breast_cancer", 1},
    {"gradient_boosting_breast_cancer", 2},
    {"decision_tree_diabetes", 6},
    {"mlp_iris", 2},
    {"mlp_breast_cancer", 2},
    {"xgboost_breast_cancer", 3},
};

// The CPUs this process may run on (what nproc prints and bench_table.py records).
uint32_t core_count() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

// A field of /proc/self/status in bytes ("VmRSS", "VmHWM"); -1 when unreadable.
double proc_status_bytes(const std::string& field) {
  std::ifstream f("/proc/self/status");
  for (std::string line; std::getline(f, line);)
    if (line.starts_with(field + ":")) return std::stod(line.substr(field.size() + 1)) * 1024;  // kB
  return -1;
}

// Resets VmHWM to the current VmRSS (Linux 4.0 and later); false when not allowed.
bool reset_peak_rss() {
  std::ofstream f("/proc/self/clear_refs");
  f << "5";
  f.flush();
  return static_cast<bool>(f);
}

// The value of an unlabelled sample in Prometheus text; -1 when absent.
double prometheus_sample(const std::string& text, const std::string& name) {
  size_t at = 0;
  while ((at = text.find(name + " ", at)) != std::string::npos) {
    if (at == 0 || text[at - 1] == '\n') return std::stod(text.substr(at + name.size() + 1));
    at += name.size();
  }
  return -1;
}

// Nearest-rank percentile of sorted values.
double percentile(const std::vector<double>& sorted, double p) {
  const size_t rank = static_cast<size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

struct TempDir {
  std::string path;
  TempDir() {
    static int counter = 0;
    path = (fs::temp_directory_path() /
            ("blindml_serve_bench_" + std::to_string(getpid()) + "_" + std::to_string(counter++)))
               .string();
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// One model compiled, and its clients: each with its own keys, one encrypted test row and the
// clear model's answer to that row; and the key store its runs share.
struct Prepared {
  size_t model_index = 0;
  std::string error;  // non-empty: the model could not be prepared
  std::vector<uint8_t> server_zip;
  std::vector<uint8_t> client_zip;
  std::optional<model::CompiledModel> clear;  // for predict_clear
  model::Rows rows;            // test rows, one per client
  std::vector<deploy::Client> clients;
  std::vector<std::vector<uint8_t>> inputs;
  std::vector<model::Prediction> expected;
  std::vector<std::vector<uint8_t>> local_answers;  // Server::run's answers, made when first needed
  std::unique_ptr<TempDir> keys_dir;  // the file key store of every run of this model
  std::vector<std::string> uids;      // each client's uid in it; empty: not stored yet
};

ThreadPool& pool() {
  static ThreadPool p;
  return p;
}

// Only the model being measured stays in memory (an MLP's clients hold ~0.5 GB of keys each).
Prepared& prepare(size_t model_index) {
  static std::unique_ptr<Prepared> current;
  if (current && current->model_index == model_index) return *current;
  current.reset();
  current = std::make_unique<Prepared>();
  Prepared& p = *current;
  p.model_index = model_index;
  p.keys_dir = std::make_unique<TempDir>();
  const auto& mc = model::testing::model_cases()[model_index];
  model::testing::DataSet train, test;
  if (!model::testing::load_split(mc.dataset, "train", train) || !model::testing::load_split(mc.dataset, "test", test) ||
      test.features.size() < kMaxClients) {
    p.error = "test data missing";
    return p;
  }
  model::CompileOptions options;
  if (mc.classifier) options.kind = model::ModelKind::kClassifier;
  auto dev = deploy::Dev::compile(model::testing::data_dir() + "/models/" + mc.name + ".onnx", train.features, options);
  if (!dev.ok()) {
    p.error = dev.status().to_string();
    return p;
  }
  p.server_zip = dev->server_zip().value();
  p.client_zip = dev->client_zip().value();
  p.clear = dev->model();
  p.rows.assign(test.features.begin(), test.features.begin() + kMaxClients);
  return p;
}

// Makes clients until there are n.
Status ensure_clients(Prepared& p, int n) {
  while (static_cast<int>(p.clients.size()) < n) {
    const size_t k = p.clients.size();
    BLINDML_ASSIGN_OR_RETURN(deploy::Client client, deploy::Client::load_bytes(p.client_zip));
    BLINDML_RETURN_IF_ERROR(client.generate_keys(&pool()));
    BLINDML_ASSIGN_OR_RETURN(std::vector<uint8_t> input, client.encrypt({p.rows[k]}));
    BLINDML_ASSIGN_OR_RETURN(std::vector<model::Prediction> want, model::predict_clear(*p.clear, {p.rows[k]}));
    p.clients.push_back(std::move(client));
    p.inputs.push_back(std::move(input));
    p.expected.push_back(std::move(want.at(0)));
    p.local_answers.emplace_back();
    p.uids.emplace_back();
  }
  return Status();
}

// Whether answer is right for client k: the clear model's prediction, or else the bytes the
// server gives locally.
Result<bool> check_answer(Prepared& p, size_t k, std::span<const uint8_t> answer) {
  BLINDML_ASSIGN_OR_RETURN(std::vector<model::Prediction> got, p.clients[k].decrypt(answer));
  const model::Prediction& want = p.expected[k];
  if (got.size() == 1 && got[0].values == want.values && got[0].label == want.label) return true;
  if (p.local_answers[k].empty()) {
    BLINDML_ASSIGN_OR_RETURN(deploy::Server server, deploy::Server::load_bytes(p.server_zip));
    BLINDML_ASSIGN_OR_RETURN(std::vector<uint8_t> keys, p.clients[k].evaluation_keys());
    BLINDML_ASSIGN_OR_RETURN(p.local_answers[k], server.run(p.inputs[k], keys, pool()));
  }
  return std::equal(answer.begin(), answer.end(), p.local_answers[k].begin(), p.local_answers[k].end());
}

void BM_Serve(benchmark::State& state, size_t model_index, int clients) {
  const std::string name = model::testing::model_cases()[model_index].name;
  state.SetLabel(name);
  Prepared& p = prepare(model_index);
  if (!p.error.empty()) {
    state.SkipWithError(p.error.c_str());
    return;
  }
  if (Status s = ensure_clients(p, clients); !s.ok()) {
    state.SkipWithError(("client keys: " + s.to_string()).c_str());
    return;
  }
  auto fail = [&](const std::string& what, const Status& s) {
    state.SkipWithError((what + ": " + s.to_string()).c_str());
  };

  auto server = deploy::Server::load_bytes(p.server_zip);
  if (!server.ok()) return fail("server.zip", server.status());
  auto store = serve::open_file_key_store(p.keys_dir->path);
  if (!store.ok()) return fail("key store", store.status());
  const uint32_t cores = core_count();
  serve::HttpServerOptions options;
  options.host = "127.0.0.1";
  options.port = 0;
  options.compute_slots = std::min<uint32_t>(static_cast<uint32_t>(clients), cores);
  options.threads = std::max<uint32_t>(1, cores / options.compute_slots);
  options.queue = static_cast<uint32_t>(clients);
  options.cache_bytes = uint64_t{64} << 30;  // every client's expanded keys stay cached
  auto http = serve::HttpServer::create(std::move(server).value(), std::move(store).value(), options);
  if (!http.ok()) return fail("server", http.status());
  if (Status s = http->start(); !s.ok()) return fail("server start", s);
  const std::string url = "http://127.0.0.1:" + std::to_string(http->port());

  // add_key, measured in the model's first run only: its first client, over HTTP, to the idle
  // server. Every other client's keys go into the store directly (uploading an MLP's takes half a
  // minute, mostly the transfer); they and the clients of earlier runs are then read and expanded
  // by the server at a first, untimed /compute, as after a restart.
  bool measured = false;
  const bool upload = std::all_of(p.uids.begin(), p.uids.end(), [](const std::string& u) { return u.empty(); });
  double add_key_ms = 0, rss_growth = 0, peak_growth = -1, cache_bytes = -1;
  bool rss_ok = false;
  std::vector<int> warm;  // clients whose keys the server has yet to read from the store
  for (int k = 0; k < clients; ++k) {
    if (!p.uids[k].empty()) {
      warm.push_back(k);
      continue;
    }
    auto keys = p.clients[k].evaluation_keys();
    if (!keys.ok()) return fail("evaluation keys", keys.status());
    if (!upload || measured) {
      auto direct = serve::open_file_key_store(p.keys_dir->path);
      if (!direct.ok()) return fail("key store", direct.status());
      auto uid = serve::new_uid();
      if (!uid.ok()) return fail("uid", uid.status());
      if (Status s = (*direct)->put(*uid, *keys); !s.ok()) return fail("key store", s);
      p.uids[k] = *uid;
      warm.push_back(k);
      continue;
    }
    auto c = serve::HttpClient::create(url, 600);
    if (!c.ok()) return fail("client", c.status());
    const bool peak_ok = reset_peak_rss();
    const double rss_before = proc_status_bytes("VmRSS");
    const auto t = Clock::now();
    auto uid = c->add_key(*keys);
    add_key_ms = ms_since(t);
    if (!uid.ok()) return fail("add_key", uid.status());
    p.uids[k] = *uid;
    measured = true;
    const double rss_after = proc_status_bytes("VmRSS"), hwm = proc_status_bytes("VmHWM");
    rss_ok = rss_before >= 0 && rss_after >= 0;
    if (rss_ok) rss_growth = rss_after - rss_before;
    if (peak_ok && rss_before >= 0 && hwm >= 0) peak_growth = hwm - rss_before;
    auto metrics = c->request("GET", "/metrics");
    if (metrics.ok() && metrics->status == 200)
      cache_bytes = prometheus_sample(metrics->body, "blindml_key_cache_bytes");
  }
  {
    std::vector<std::string> errors(warm.size());
    std::vector<std::thread> threads;
    for (size_t i = 0; i < warm.size(); ++i) {
      threads.emplace_back([&, i] {
        const int k = warm[i];
        auto c = serve::HttpClient::create(url, 600);
        auto answer = c.ok() ? c->compute(p.uids[k], p.inputs[k]) : Result<std::vector<uint8_t>>(c.status());
        if (!answer.ok()) errors[i] = "client " + std::to_string(k) + ": first compute: " + answer.status().to_string();
      });
    }
    for (auto& t : threads) t.join();
    for (const auto& e : errors)
      if (!e.empty()) {
        state.SkipWithError(e.c_str());
        return;
      }
  }
  {
    // Every client's keys must be in the cache now, or the timed requests would measure loading.
    auto c = serve::HttpClient::create(url, 600);
    auto metrics = c.ok() ? c->request("GET", "/metrics") : Result<serve::HttpResponse>(c.status());
    if (!metrics.ok()) return fail("metrics", metrics.status());
    if (prometheus_sample(metrics->body, "blindml_key_cache_entries") != clients) {
      state.SkipWithError("not every client's keys are in the server's cache before the timed requests");
      return;
    }
  }

  // compute: every client's requests, timed one by one.
  const int requests = kRequests.contains(name) ? kRequests.at(name) : kDefaultRequests;
  std::vector<std::vector<double>> latency(clients);
  std::vector<std::vector<uint8_t>> first_answer(clients);
  std::vector<std::string> errors(clients);
  for (auto _ : state) {
    std::latch go(clients);
    std::vector<std::thread> threads;
    for (int k = 0; k < clients; ++k) {
      threads.emplace_back([&, k] {
        auto c = serve::HttpClient::create(url, 600);
        go.arrive_and_wait();
        if (!c.ok()) {
          errors[k] = c.status().to_string();
          return;
        }
        for (int r = 0; r < requests; ++r) {
          const auto t = Clock::now();
          auto answer = c->compute(p.uids[k], p.inputs[k]);
          latency[k].push_back(ms_since(t));
          if (!answer.ok()) {
            errors[k] = "compute: " + answer.status().to_string();
            return;
          }
          if (r == 0) {
            first_answer[k] = std::move(answer).value();
          } else if (*answer != first_answer[k]) {
            errors[k] = "compute: request " + std::to_string(r) + " answered other bytes than the first";
            return;
          }
        }
      });
    }
    for (auto& t : threads) t.join();
  }
  http->stop();

  std::vector<double> all;
  for (int k = 0; k < clients; ++k) {
    if (!errors[k].empty()) {
      state.SkipWithError(("client " + std::to_string(k) + ": " + errors[k]).c_str());
      return;
    }
    auto right = check_answer(p, static_cast<size_t>(k), first_answer[k]);
    if (!right.ok()) return fail("checking the answer", right.status());
    if (!*right) {
      state.SkipWithError(("client " + std::to_string(k) +
                           ": the answer differs from the clear model's and from the local Server::run's")
                              .c_str());
      return;
    }
    all.insert(all.end(), latency[k].begin(), latency[k].end());
  }
  std::sort(all.begin(), all.end());
  state.counters["clients"] = clients;
  state.counters["slots"] = options.compute_slots;
  state.counters["threads"] = options.threads;
  state.counters["requests"] = static_cast<double>(all.size());
  // The rate over the iteration's real time, which covers exactly the concurrent phase.
  state.counters["req_per_s"] = benchmark::Counter(static_cast<double>(all.size()), benchmark::Counter::kIsRate);
  state.counters["p50_ms"] = percentile(all, 0.50);
  state.counters["p99_ms"] = percentile(all, 0.99);
  if (!measured) return;
  state.counters["add_key_ms"] = add_key_ms;
  if (rss_ok) state.counters["add_key_rss_mb"] = rss_growth / 1e6;
  if (peak_growth >= 0) state.counters["add_key_peak_mb"] = peak_growth / 1e6;
  if (cache_bytes >= 0) state.counters["key_cache_mb"] = cache_bytes / 1e6;
}


// ---------------------------------------------------------------------------------------------
// Issue 10 (hardening): keep-alive load, /health beside slow clients, memory after a header flood.
// These speak HTTP/1.1 over raw loopback sockets (no HTTP library on the client side), so that
// they measure the server alone and run unchanged against any server implementation.

// A blocking loopback connection with a deadline on every wait.
class RawConnection {
 public:
  explicit RawConnection(int port, bool nodelay = true) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd_);
      fd_ = -1;
      return;
    }
    int one = 1;
    if (nodelay) ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;
  ~RawConnection() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return fd_ >= 0; }

  bool send_all(std::string_view data, int timeout_ms = 10000) {
    size_t done = 0;
    while (fd_ >= 0 && done < data.size()) {
      pollfd p{fd_, POLLOUT, 0};
      if (::poll(&p, 1, timeout_ms) <= 0) return false;
      const ssize_t n = ::send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return false;
      done += static_cast<size_t>(n);
    }
    return fd_ >= 0;
  }

  // One response (Content-Length framing); its status, or 0 on a timeout or a closed connection.
  int read_response(std::string& body, int timeout_ms = 30000) {
    const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    size_t header_end;
    while ((header_end = buf_.find("\r\n\r\n")) == std::string::npos)
      if (!fill(deadline)) return 0;
    const std::string head = buf_.substr(0, header_end);
    int status = 0;
    if (head.size() > 12) status = std::atoi(head.c_str() + 9);
    uint64_t length = 0;
    for (size_t at = 0; (at = head.find("\r\n", at)) != std::string::npos;) {
      at += 2;
      static constexpr std::string_view kName = "content-length:";
      if (head.size() - at < kName.size()) break;
      std::string name = head.substr(at, kName.size());
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (name == kName) length = std::strtoull(head.c_str() + at + kName.size(), nullptr, 10);
    }
    std::string lower = head;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    closing_ = lower.find("\r\nconnection: close") != std::string::npos;
    buf_.erase(0, header_end + 4);
    while (buf_.size() < length)
      if (!fill(deadline)) return 0;
    body = buf_.substr(0, length);
    buf_.erase(0, length);
    return status;
  }

 private:
  bool fill(Clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) return false;
    char chunk[65536];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buf_.append(chunk, static_cast<size_t>(n));
    return true;
  }
  int fd_ = -1;
  std::string buf_;
  bool closing_ = false;

 public:
  // The last response said "Connection: close".
  bool closing() const { return closing_; }
};

// One leveled model, one client with keys on a server, and one encrypted row.
struct LeveledSetup {
  std::string error;
  std::vector<uint8_t> server_zip;
  std::unique_ptr<TempDir> keys_dir;
  std::string uid;
  std::vector<uint8_t> input;
  std::vector<uint8_t> want;  // Server::run's answer
};

LeveledSetup& leveled_setup() {
  static LeveledSetup s = [] {
    LeveledSetup out;
    const std::string name = "logistic_regression_breast_cancer";
    model::testing::DataSet train, test;
    if (!model::testing::load_split("breast_cancer", "train", train) ||
        !model::testing::load_split("breast_cancer", "test", test)) {
      out.error = "test data missing";
      return out;
    }
    model::CompileOptions options;
    options.kind = model::ModelKind::kClassifier;
    auto dev = deploy::Dev::compile(model::testing::data_dir() + "/models/" + name + ".onnx", train.features, options);
    if (!dev.ok()) {
      out.error = dev.status().to_string();
      return out;
    }
    out.server_zip = dev->server_zip().value();
    auto client = deploy::Client::load_bytes(dev->client_zip().value()).value();
    if (!client.generate_keys(&pool()).ok()) {
      out.error = "keygen";
      return out;
    }
    out.input = client.encrypt({test.features[0]}).value();
    out.keys_dir = std::make_unique<TempDir>();
    auto store = serve::open_file_key_store(out.keys_dir->path).value();
    out.uid = serve::new_uid().value();
    const auto keys = client.evaluation_keys().value();
    (void)store->put(out.uid, keys);
    auto server = deploy::Server::load_bytes(out.server_zip).value();
    out.want = server.run(out.input, keys, pool()).value();
    return out;
  }();
  return s;
}

Result<serve::HttpServer> start_leveled_server(uint32_t connections) {
  LeveledSetup& s = leveled_setup();
  BLINDML_ASSIGN_OR_RETURN(deploy::Server server, deploy::Server::load_bytes(s.server_zip));
  BLINDML_ASSIGN_OR_RETURN(std::unique_ptr<serve::KeyStore> store, serve::open_file_key_store(s.keys_dir->path));
  const uint32_t cores = core_count();
  serve::HttpServerOptions options;
  options.host = "127.0.0.1";
  options.port = 0;
  options.compute_slots = std::min(connections, cores);
  options.threads = std::max<uint32_t>(1, cores / options.compute_slots);
  options.queue = connections;
  BLINDML_ASSIGN_OR_RETURN(serve::HttpServer http,
                           serve::HttpServer::create(std::move(server), std::move(store), options));
  BLINDML_RETURN_IF_ERROR(http.start());
  return http;
}

// Keep-alive /compute: `connections` clients, each on one connection, send kKeepAliveRequests
// requests one after another (the next when the answer is in); every answer must be the bytes of
// Server::run. req/s over the wall time; p50/p99 over all requests.
constexpr int kKeepAliveRequests = 300;

void BM_ServeKeepAlive(benchmark::State& state, int connections) {
  LeveledSetup& s = leveled_setup();
  state.SetLabel("logistic_regression_breast_cancer");
  if (!s.error.empty()) return state.SkipWithError(s.error.c_str());
  auto http = start_leveled_server(static_cast<uint32_t>(connections));
  if (!http.ok()) return state.SkipWithError(http.status().to_string().c_str());
  const int port = http->port();
  const std::string request = "POST /compute?uid=" + s.uid +
                              " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n"
                              "Content-Length: " + std::to_string(s.input.size()) + "\r\n\r\n" +
                              std::string(s.input.begin(), s.input.end());
  const std::string want(s.want.begin(), s.want.end());
  {  // the keys into the server's cache
    RawConnection c(port);
    std::string body;
    if (!c.send_all(request) || c.read_response(body) != 200 || body != want)
      return state.SkipWithError("the first /compute failed");
  }
  std::vector<std::vector<double>> latency(connections);
  std::vector<std::string> errors(connections);
  std::atomic<int> reconnects{0};
  for (auto _ : state) {
    std::latch go(connections);
    std::vector<std::thread> threads;
    for (int k = 0; k < connections; ++k)
      threads.emplace_back([&, k] {
        auto c = std::make_unique<RawConnection>(port);
        go.arrive_and_wait();
        std::string body;
        for (int r = 0; r < kKeepAliveRequests; ++r) {
          if (!c->ok()) return void(errors[k] = "connect");
          const auto t = Clock::now();
          if (!c->send_all(request)) return void(errors[k] = "send");
          const int status = c->read_response(body);
          if (c->closing()) {  // a server that limits requests per connection
            c = std::make_unique<RawConnection>(port);
            ++reconnects;
          }
          latency[k].push_back(ms_since(t));
          if (status != 200) return void(errors[k] = "status " + std::to_string(status));
          if (body != want) return void(errors[k] = "an answer differs from Server::run's");
        }
      });
    for (auto& t : threads) t.join();
  }
  http->stop();
  std::vector<double> all;
  for (int k = 0; k < connections; ++k) {
    if (!errors[k].empty()) return state.SkipWithError(("connection " + std::to_string(k) + ": " + errors[k]).c_str());
    all.insert(all.end(), latency[k].begin(), latency[k].end());
  }
  std::sort(all.begin(), all.end());
  state.counters["clients"] = connections;
  state.counters["requests"] = static_cast<double>(all.size());
  state.counters["reconnects"] = reconnects.load();
  state.counters["req_per_s"] = benchmark::Counter(static_cast<double>(all.size()), benchmark::Counter::kIsRate);
  state.counters["p50_ms"] = percentile(all, 0.50);
  state.counters["p99_ms"] = percentile(all, 0.99);
}

// /health while 64 slow connections are held open (each has sent half a request line and sends
// nothing more): 50 GET /health requests, each on a new connection, with 2 s to answer. Reported:
// p50/p99 latency of the answered ones and how many got no answer within 2 s.
void BM_ServeHealthWithSlowClients(benchmark::State& state) {
  constexpr int kSlow = 64, kProbes = 50, kProbeTimeoutMs = 2000;
  LeveledSetup& s = leveled_setup();
  if (!s.error.empty()) return state.SkipWithError(s.error.c_str());
  auto http = start_leveled_server(1);
  if (!http.ok()) return state.SkipWithError(http.status().to_string().c_str());
  std::vector<std::unique_ptr<RawConnection>> slow;
  for (int i = 0; i < kSlow; ++i) {
    slow.push_back(std::make_unique<RawConnection>(http->port()));
    slow.back()->send_all("GET /heal");
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // let the server take them in
  std::vector<double> latency;
  int unanswered = 0;
  for (auto _ : state) {
    for (int i = 0; i < kProbes; ++i) {
      const auto t = Clock::now();
      RawConnection c(http->port());
      std::string body;
      const bool answered = c.send_all("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", kProbeTimeoutMs) &&
                            c.read_response(body, kProbeTimeoutMs) == 200;
      if (answered) latency.push_back(ms_since(t));
      else ++unanswered;
    }
  }
  slow.clear();
  http->stop();
  state.counters["slow_connections"] = kSlow;
  state.counters["health_unanswered"] = unanswered;
  if (latency.empty()) return;
  std::sort(latency.begin(), latency.end());
  state.counters["health_p50_ms"] = percentile(latency, 0.50);
  state.counters["health_p99_ms"] = percentile(latency, 0.99);
}

// One connection sends 64 MB of request headers (64 Ki lines of 1 KiB) as fast as the server
// takes them, then closes; reported: the answer's status (0: none, the server closed early), the
// bytes the server took, and this process's resident memory growth (VmRSS) left 1 s afterwards.
void BM_ServeHeaderFlood(benchmark::State& state) {
  LeveledSetup& s = leveled_setup();
  if (!s.error.empty()) return state.SkipWithError(s.error.c_str());
  auto http = start_leveled_server(1);
  if (!http.ok()) return state.SkipWithError(http.status().to_string().c_str());
  double growth = 0, sent = 0;
  int status = 0;
  for (auto _ : state) {
    const double before = proc_status_bytes("VmRSS");
    {
      RawConnection c(http->port());
      std::string line = "X-Flood: " + std::string(1014, 'a') + "\r\n";
      c.send_all("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n");
      int i = 0;
      for (; i < 64 * 1024; ++i)
        if (!c.send_all(line, 2000)) break;
      sent = static_cast<double>(i) * static_cast<double>(line.size());
      c.send_all("\r\n", 2000);
      std::string body;
      status = c.read_response(body, 5000);
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
    growth = proc_status_bytes("VmRSS") - before;
  }
  // The server still answers.
  RawConnection c(http->port());
  std::string body;
  const bool alive = c.send_all("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n") && c.read_response(body) == 200;
  http->stop();
  if (!alive) return state.SkipWithError("/health failed after the flood");
  state.counters["flood_status"] = status;
  state.counters["flood_sent_mb"] = sent / 1e6;
  state.counters["flood_rss_mb"] = growth / 1e6;
}
}  // namespace

int main(int argc, char** argv) {
  const auto& cases = model::testing::model_cases();
  for (size_t i = 0; i < cases.size(); ++i)
    for (int clients : {1, 2, 4})
      benchmark::RegisterBenchmark(
          ("BM_Serve/" + std::string(cases[i].name) + "/clients:" + std::to_string(clients)).c_str(),
          [i, clients](benchmark::State& state) { BM_Serve(state, i, clients); })
          ->Unit(benchmark::kMillisecond)
          ->Iterations(1)
          ->UseRealTime();
  for (int connections : {1, 4, 16})
    benchmark::RegisterBenchmark(("BM_ServeKeepAlive/connections:" + std::to_string(connections)).c_str(),
                                 [connections](benchmark::State& state) { BM_ServeKeepAlive(state, connections); })
        ->Unit(benchmark::kMillisecond)
        ->Iterations(1)
        ->UseRealTime();
  benchmark::RegisterBenchmark("BM_ServeHealthWithSlowClients", BM_ServeHealthWithSlowClients)
      ->Unit(benchmark::kMillisecond)
      ->Iterations(1)
      ->UseRealTime();
  benchmark::RegisterBenchmark("BM_ServeHeaderFlood", BM_ServeHeaderFlood)
      ->Unit(benchmark::kMillisecond)
      ->Iterations(1)
      ->UseRealTime();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
