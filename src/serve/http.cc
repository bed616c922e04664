// The HTTP server and client (docs/server.md). This is the only translation unit that includes
// the HTTP library's header (house style: only serve/ sees HTTP types, from one file).
#include <httplib.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "blindml/base/log.h"
#include "blindml/base/thread_pool.h"
#include "blindml/circuit/analysis.h"
#include "blindml/serve/http_client.h"
#include "blindml/serve/http_server.h"
#include "blindml/serve/key_cache.h"
#include "internal/metrics.h"

namespace blindml::serve {
namespace {

using nlohmann::json;

constexpr const char* kJson = "application/json";
constexpr const char* kOctets = "application/octet-stream";
// Room for multipart boundaries and part headers on top of a body limit.
constexpr uint64_t kMultipartOverhead = 64 * 1024;

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

void set_error(httplib::Response& res, int status, const std::string& message) {
  res.status = status;
  res.set_content(dump(json{{"error", message}}) + "\n", kJson);
}

int http_status(const Status& s) {
  switch (s.code()) {
    case StatusCode::kInvalidArgument:
    case StatusCode::kCorrupted:
    case StatusCode::kVersionMismatch:
    case StatusCode::kNonConformant:
    case StatusCode::kParameterMismatch:
      return 400;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kResourceExhausted:
      return 413;
    case StatusCode::kUnimplemented:
      return 501;
    default:
      return 500;
  }
}

void set_status_error(httplib::Response& res, const Status& s) { set_error(res, http_status(s), s.message()); }

std::string route_label(const std::string& path) {
  static const char* const kRoutes[] = {"/get_client", "/add_key", "/compute", "/health", "/ready", "/info", "/metrics"};
  for (const char* r : kRoutes)
    if (path == r) return r;
  if (path.starts_with("/keys/")) return "/keys/{uid}";
  return "other";
}

std::span<const uint8_t> as_bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// The fixed compute slots, each with its own thread pool (a ThreadPool runs one parallel_for at
// a time), and the bounded queue of requests waiting for one.
class ComputeGate {
 public:
  ComputeGate(uint32_t slots, uint32_t threads, uint32_t queue) : queue_(queue) {
    for (uint32_t i = 0; i < slots; ++i) {
      pools_.push_back(std::make_unique<ThreadPool>(threads));
      free_.push_back(pools_.back().get());
    }
  }

  class Lease {
   public:
    Lease(ComputeGate* gate, ThreadPool* pool) : gate_(gate), pool_(pool) {}
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() {
      if (pool_) gate_->release(pool_);
    }
    ThreadPool* pool() const { return pool_; }

   private:
    ComputeGate* gate_;
    ThreadPool* pool_;
  };

  // A lease without a pool when the queue is full.
  std::unique_ptr<Lease> acquire() {
    std::unique_lock<std::mutex> lock(mu_);
    if (free_.empty()) {
      if (waiting_ >= queue_) return std::make_unique<Lease>(this, nullptr);
      ++waiting_;
      cv_.wait(lock, [&] { return !free_.empty(); });
      --waiting_;
    }
    ThreadPool* p = free_.back();
    free_.pop_back();
    ++busy_;
    return std::make_unique<Lease>(this, p);
  }

  uint64_t waiting() const {
    std::lock_guard<std::mutex> lock(mu_);
    return waiting_;
  }
  uint64_t busy() const {
    std::lock_guard<std::mutex> lock(mu_);
    return busy_;
  }

 private:
  void release(ThreadPool* p) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      free_.push_back(p);
      --busy_;
    }
    cv_.notify_one();
  }

  const uint32_t queue_;
  std::vector<std::unique_ptr<ThreadPool>> pools_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<ThreadPool*> free_;
  uint64_t waiting_ = 0;
  uint64_t busy_ = 0;
};

// The bytes of request bodies held in memory, all connections together, under one budget: a
// burst of large uploads is answered 503 instead of exhausting the machine's memory.
class BodyBudget {
 public:
  explicit BodyBudget(uint64_t limit) : limit_(limit) {}
  bool reserve(uint64_t n) {
    uint64_t used = used_.load();
    do {
      if (n > limit_ || used > limit_ - n) return false;
    } while (!used_.compare_exchange_weak(used, used + n));
    return true;
  }
  void release(uint64_t n) { used_.fetch_sub(n); }
  uint64_t used() const { return used_.load(); }
  uint64_t limit() const { return limit_; }

 private:
  const uint64_t limit_;
  std::atomic<uint64_t> used_{0};
};

// Bytes reserved from a BodyBudget, given back on destruction.
class Reservation {
 public:
  explicit Reservation(BodyBudget* budget) : budget_(budget) {}
  Reservation(Reservation&& o) noexcept : budget_(o.budget_), bytes_(std::exchange(o.bytes_, 0)) {}
  Reservation& operator=(Reservation&&) = delete;
  ~Reservation() {
    if (budget_ && bytes_) budget_->release(bytes_);
  }
  // Makes the reservation at least n bytes.
  bool cover(uint64_t n) {
    if (n <= bytes_) return true;
    if (!budget_ || !budget_->reserve(n - bytes_)) return false;
    bytes_ = n;
    return true;
  }

 private:
  BodyBudget* budget_;
  uint64_t bytes_ = 0;
};

// A request body read through the content reader, so that no more than the route's limit is ever
// held in memory: beyond it the rest is read and dropped (the connection stays usable) and the
// request is answered 413. The bytes kept are reserved from the server's BodyBudget (the declared
// Content-Length up front); when it is spent the body is drained too, and the answer is 503.
struct Body {
  explicit Body(BodyBudget* budget) : reservation(budget) {}
  bool ok = true;            // the reader succeeded (framing, multipart syntax)
  bool too_large = false;    // more than the limit
  bool over_budget = false;  // the server holds too many bodies already
  bool duplicate = false;    // a multipart field given twice
  bool multipart = false;
  std::map<std::string, std::string> parts;
  std::string raw;
  Reservation reservation;
};

Body read_body(const httplib::Request& req, const httplib::ContentReader& reader, uint64_t limit,
               BodyBudget& budget) {
  Body b(&budget);
  uint64_t total = 0;
  auto take = [&](std::string& dst, const char* data, size_t n) {
    total += n;
    if (total > limit || !b.reservation.cover(total)) {
      (total > limit ? b.too_large : b.over_budget) = true;
      dst.clear();
      dst.shrink_to_fit();
      return true;  // keep reading: drain
    }
    dst.append(data, n);
    return true;
  };
  if (req.has_header("Content-Length")) {
    const std::string value = req.get_header_value("Content-Length");
    errno = 0;
    char* end = nullptr;
    unsigned long long declared = std::strtoull(value.c_str(), &end, 10);
    if (end != value.c_str() && declared > limit + kMultipartOverhead) b.too_large = true;
    else if (end != value.c_str() && !b.reservation.cover(std::min<uint64_t>(declared, limit))) b.over_budget = true;
  }
  if (req.is_multipart_form_data()) {
    b.multipart = true;
    std::string* current = nullptr;
    std::string sink;
    b.ok = reader(
        [&](const httplib::MultipartFormData& part) {
          auto [it, inserted] = b.parts.emplace(part.name, std::string());
          if (!inserted) b.duplicate = true;
          current = b.too_large || b.over_budget ? &sink : &it->second;
          return true;
        },
        [&](const char* data, size_t n) {
          if (!current) return true;
          if (b.too_large || b.over_budget) return true;
          return take(*current, data, n);
        });
  } else {
    b.ok = reader(
        [&](const char* data, size_t n) { return b.too_large || b.over_budget ? true : take(b.raw, data, n); });
  }
  return b;
}

// The checks every upload shares; true when the response is already an error.
bool body_error(const Body& b, const httplib::Response& res, httplib::Response& out, uint64_t limit,
                const char* what) {
  if (b.too_large || res.status == 413) {
    set_error(out, 413, std::string(what) + " is larger than this server's limit of " + std::to_string(limit) + " bytes");
    out.set_header("Connection", "close");
    return true;
  }
  if (b.over_budget) {
    set_error(out, 503, "the server is receiving too many uploads at once; retry later");
    out.set_header("Retry-After", "1");
    out.set_header("Connection", "close");
    return true;
  }
  if (!b.ok) {
    set_error(out, 400, std::string("the request body could not be read (malformed or truncated ") +
                            (b.multipart ? "multipart/form-data" : "body") + ")");
    out.set_header("Connection", "close");
    return true;
  }
  if (b.duplicate) {
    set_error(out, 400, "a multipart field is given twice");
    return true;
  }
  return false;
}

thread_local std::chrono::steady_clock::time_point t_request_start{};

}  // namespace

// ---------------------------------------------------------------------------------------------
// The server.

struct HttpServer::Impl {
  Impl(deploy::Server s, std::unique_ptr<KeyStore> st, HttpServerOptions o, std::unique_ptr<httplib::Server> h)
      : server(std::move(s)),
        store(std::move(st)),
        options(std::move(o)),
        cache(options.cache_bytes),
        gate(options.compute_slots, options.threads, options.queue),
        bodies(options.max_buffered_bytes),
        http_holder(std::move(h)),
        http(*http_holder) {
    limits.max_evaluation_keys = options.max_key_bytes;
    limits.max_input = options.max_input_bytes;
    auto analysis = circuit::analyze(server.compiled().circuit);
    if (analysis.ok() && server.compiled().needs_bootstrapping) pbs_per_row = analysis->pbs_count;
  }

  deploy::Server server;
  std::unique_ptr<KeyStore> store;
  HttpServerOptions options;
  deploy::ServerLimits limits;
  KeyCache cache;
  ComputeGate gate;
  BodyBudget bodies;
  internal::Metrics metrics;
  uint64_t pbs_per_row = 0;
  std::unique_ptr<httplib::Server> http_holder;  // an httplib::SSLServer with TLS
  httplib::Server& http;
  std::thread thread;
  int port = 0;
  std::atomic<bool> stopping{false};

  void install_routes();
  bool authorized(const httplib::Request& req, httplib::Response& res) const;
  Result<KeyCache::Keys> keys_for(const std::string& uid, ThreadPool* pool, int& http_code);
  void handle_add_key(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader);
  void handle_compute(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader);
  void handle_delete(const httplib::Request& req, httplib::Response& res);
  internal::Metrics::Gauges gauges() const;
};

bool HttpServer::Impl::authorized(const httplib::Request& req, httplib::Response& res) const {
  if (options.bearer_token.empty()) return true;
  if (req.get_header_value("Authorization") == "Bearer " + options.bearer_token) return true;
  set_error(res, 401, "this route needs the header \"Authorization: Bearer <token>\" with the server's token");
  res.set_header("WWW-Authenticate", "Bearer");
  return false;
}

Result<KeyCache::Keys> HttpServer::Impl::keys_for(const std::string& uid, ThreadPool* pool, int& http_code) {
  if (KeyCache::Keys k = cache.get(uid)) return k;
  auto bytes = store->get(uid, limits.max_evaluation_keys);
  if (!bytes.ok()) {
    if (bytes.status().code() == StatusCode::kNotFound) {
      http_code = 404;
      return not_found("unknown uid " + uid + ": no evaluation keys are stored under it (upload them with POST /add_key)");
    }
    http_code = 500;
    return bytes.status();
  }
  auto keys = server.load_evaluation_keys(*bytes, limits, pool);
  if (!keys.ok()) {
    http_code = 409;
    return Status(keys.status().code(),
                  "the keys stored under uid " + uid + " do not fit this server's model: " + keys.status().message());
  }
  auto shared = std::make_shared<const deploy::Server::Keys>(std::move(keys).value());
  cache.put(uid, shared);
  return KeyCache::Keys(shared);
}

void HttpServer::Impl::handle_add_key(const httplib::Request& req, httplib::Response& res,
                                      const httplib::ContentReader& reader) {
  const bool auth = authorized(req, res);
  Body body = read_body(req, reader, auth ? options.max_key_bytes : 0, bodies);
  if (!auth) return;
  if (body_error(body, res, res, options.max_key_bytes, "the evaluation keys")) return;
  std::string* key = nullptr;
  if (body.multipart) {
    auto it = body.parts.find("key");
    if (it == body.parts.end()) {
      set_error(res, 400, "the multipart field \"key\" (the evaluation keys) is missing");
      return;
    }
    key = &it->second;
  } else {
    const std::string type = req.get_header_value("Content-Type");
    if (!type.empty() && !type.starts_with(kOctets)) {
      set_error(res, 415, "send the evaluation keys as multipart/form-data (field \"key\") or as an "
                          "application/octet-stream body, not " + type);
      return;
    }
    key = &body.raw;
  }
  if (key->empty()) {
    set_error(res, 400, "the evaluation keys are empty");
    return;
  }
  auto lease = gate.acquire();
  if (!lease->pool()) {
    metrics.record_rejected();
    set_error(res, 503, "the server is busy (the compute queue is full); retry later");
    res.set_header("Retry-After", "1");
    return;
  }
  auto keys = server.load_evaluation_keys(as_bytes(*key), limits, lease->pool());
  if (!keys.ok()) {
    set_error(res, http_status(keys.status()) == 500 ? 500 : http_status(keys.status()),
              "these evaluation keys cannot be used with this server's model: " + keys.status().message());
    return;
  }
  auto uid = new_uid();
  if (!uid.ok()) {
    set_status_error(res, uid.status());
    return;
  }
  if (Status s = store->put(*uid, as_bytes(*key)); !s.ok()) {
    log_line(LogLevel::kError, "add_key: " + s.to_string());
    set_error(res, 500, "the keys could not be stored: " + s.message());
    return;
  }
  cache.put(*uid, std::make_shared<const deploy::Server::Keys>(std::move(keys).value()));
  res.status = 200;
  res.set_content(dump(json{{"uid", *uid}}), kJson);
}

void HttpServer::Impl::handle_compute(const httplib::Request& req, httplib::Response& res,
                                      const httplib::ContentReader& reader) {
  const bool auth = authorized(req, res);
  Body body = read_body(req, reader, auth ? options.max_input_bytes : 0, bodies);
  if (!auth) return;
  if (body_error(body, res, res, options.max_input_bytes, "the encrypted input")) return;
  std::string uid;
  std::string* input = nullptr;
  if (body.multipart) {
    auto u = body.parts.find("uid");
    auto m = body.parts.find("model_input");
    if (u == body.parts.end()) {
      set_error(res, 400, "the multipart field \"uid\" is missing");
      return;
    }
    if (m == body.parts.end()) {
      set_error(res, 400, "the multipart field \"model_input\" (the encrypted input) is missing");
      return;
    }
    uid = u->second;
    input = &m->second;
  } else {
    const std::string type = req.get_header_value("Content-Type");
    if (!type.empty() && !type.starts_with(kOctets)) {
      set_error(res, 415, "send multipart/form-data (fields \"uid\" and \"model_input\") or an "
                          "application/octet-stream body with ?uid=, not " + type);
      return;
    }
    if (!req.has_param("uid")) {
      set_error(res, 400, "the query parameter uid is missing (POST /compute?uid=...)");
      return;
    }
    uid = req.get_param_value("uid");
    input = &body.raw;
  }
  while (!uid.empty() && (uid.back() == '\n' || uid.back() == '\r' || uid.back() == ' ')) uid.pop_back();
  if (!is_valid_uid(uid)) {
    set_error(res, 400, "the uid is malformed: expected the 32 hex digits that POST /add_key returned");
    return;
  }
  if (input->empty()) {
    set_error(res, 400, "the encrypted input is empty");
    return;
  }
  auto lease = gate.acquire();
  if (!lease->pool()) {
    metrics.record_rejected();
    set_error(res, 503, "the server is busy (the compute queue is full); retry later");
    res.set_header("Retry-After", "1");
    return;
  }
  int code = 500;
  auto keys = keys_for(uid, lease->pool(), code);
  if (!keys.ok()) {
    if (code == 500) log_line(LogLevel::kError, "compute: uid " + uid + ": " + keys.status().to_string());
    set_error(res, code, keys.status().message());
    return;
  }
  auto output = server.run(as_bytes(*input), **keys, *lease->pool(), limits);
  if (!output.ok()) {
    set_status_error(res, output.status());
    return;
  }
  // The row count of the answer (docs/formats.md, "Exchange files": bytes 44..51).
  uint64_t rows = 0;
  if (output->size() >= 52)
    for (int i = 7; i >= 0; --i) rows = (rows << 8) | (*output)[44 + i];
  metrics.record_compute(rows, rows * pbs_per_row);
  res.status = 200;
  res.set_content(std::string(reinterpret_cast<const char*>(output->data()), output->size()), kOctets);
}

void HttpServer::Impl::handle_delete(const httplib::Request& req, httplib::Response& res) {
  if (!authorized(req, res)) return;
  const std::string uid = req.matches.size() > 1 ? std::string(req.matches[1]) : std::string();
  if (!is_valid_uid(uid)) {
    set_error(res, 400, "the uid is malformed: expected 32 hex digits");
    return;
  }
  Status s = store->remove(uid);
  cache.erase(uid);
  if (s.code() == StatusCode::kNotFound) {
    set_error(res, 404, "unknown uid " + uid + ": no evaluation keys are stored under it");
    return;
  }
  if (!s.ok()) {
    log_line(LogLevel::kError, "delete: " + s.to_string());
    set_error(res, 500, s.message());
    return;
  }
  res.status = 200;
  res.set_content(dump(json{{"uid", uid}, {"deleted", true}}), kJson);
}

internal::Metrics::Gauges HttpServer::Impl::gauges() const {
  internal::Metrics::Gauges g;
  auto s = store->stats();
  g.store_ok = s.ok();
  if (s.ok()) g.store = *s;
  g.cache = cache.stats();
  g.queue_waiting = gate.waiting();
  g.computing = gate.busy();
  g.body_bytes = bodies.used();
  g.body_budget = bodies.limit();
  return g;
}

void HttpServer::Impl::install_routes() {
  using httplib::ContentReader;
  using httplib::Request;
  using httplib::Response;

  http.set_pre_routing_handler([](const Request&, Response&) {
    t_request_start = std::chrono::steady_clock::now();
    return httplib::Server::HandlerResponse::Unhandled;
  });
  http.set_logger([this](const Request& req, const Response& res) {
    double seconds = -1;
    if (t_request_start != std::chrono::steady_clock::time_point{}) {
      seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_request_start).count();
      t_request_start = {};
    }
    metrics.record_request(route_label(req.path), res.status, seconds);
    if (log_enabled(LogLevel::kInfo))
      log_line(LogLevel::kInfo, req.method + " " + req.path + " " + std::to_string(res.status));
  });
  http.set_error_handler([](const Request&, Response& res) {
    if (!res.body.empty()) return;
    std::string message = "HTTP " + std::to_string(res.status);
    if (res.status == 400) message = "malformed request";
    if (res.status == 404) message = "no such route (see docs/server.md)";
    if (res.status == 413) message = "the request body is larger than this server's limits";
    set_error(res, res.status, message);
  });
  http.set_exception_handler([](const Request& req, Response& res, std::exception_ptr ep) {
    std::string what = "unknown exception";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    log_line(LogLevel::kError, "internal error on " + req.method + " " + req.path + ": " + what);
    set_error(res, 500, "internal error: " + what);
  });

  http.Get("/get_client", [this](const Request&, Response& res) {
    if (options.client_zip.empty()) {
      set_error(res, 404, "this server was started without client.zip (blindml serve --client)");
      return;
    }
    res.set_content(std::string(reinterpret_cast<const char*>(options.client_zip.data()), options.client_zip.size()),
                    "application/zip");
    res.set_header("Content-Disposition", "attachment; filename=\"client.zip\"");
  });
  http.Post("/add_key", [this](const Request& req, Response& res, const ContentReader& reader) {
    handle_add_key(req, res, reader);
  });
  http.Post("/compute", [this](const Request& req, Response& res, const ContentReader& reader) {
    handle_compute(req, res, reader);
  });
  http.Delete(R"(/keys/([^/]*))", [this](const Request& req, Response& res) { handle_delete(req, res); });
  http.Get("/health", [](const Request&, Response& res) { res.set_content("{\"status\":\"ok\"}", kJson); });
  http.Get("/ready", [this](const Request&, Response& res) {
    if (stopping.load()) {
      set_error(res, 503, "shutting down");
      return;
    }
    auto s = store->stats();
    if (!s.ok()) {
      set_error(res, 503, "the key store is not available: " + s.status().message());
      return;
    }
    res.set_content("{\"status\":\"ready\"}", kJson);
  });
  http.Get("/info", [this](const Request&, Response& res) { res.set_content(server.info_json(), kJson); });
  http.Get("/metrics", [this](const Request&, Response& res) {
    res.set_content(metrics.render(gauges()), "text/plain; version=0.0.4");
  });
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpServer::HttpServer(HttpServer&&) noexcept = default;
HttpServer& HttpServer::operator=(HttpServer&& other) noexcept {
  if (this != &other) {
    stop();
    impl_ = std::move(other.impl_);
  }
  return *this;
}
HttpServer::~HttpServer() { stop(); }

Result<HttpServer> HttpServer::create(deploy::Server server, std::unique_ptr<KeyStore> store, HttpServerOptions options) {
  if (!store) return invalid_argument("no key store");
  if (options.port < 0 || options.port > 65535)
    return invalid_argument("port " + std::to_string(options.port) + " is not in 0..65535");
  if (options.compute_slots == 0) return invalid_argument("at least one compute slot is needed");
  if (options.max_key_bytes == 0 || options.max_input_bytes == 0) return invalid_argument("a body limit is zero");
  if (options.threads == 0) {
    const uint32_t cores = std::max(1u, std::thread::hardware_concurrency());
    options.threads = std::max(1u, cores / options.compute_slots);
  }
  if (options.http_threads == 0) options.http_threads = options.compute_slots + options.queue + 4;
  const uint64_t larger_limit = std::max(options.max_key_bytes, options.max_input_bytes);
  if (options.max_buffered_bytes == 0)
    options.max_buffered_bytes = larger_limit > UINT64_MAX / 2 ? UINT64_MAX : 2 * larger_limit;
  if (options.max_buffered_bytes < larger_limit)
    return invalid_argument("the memory for request bodies (" + std::to_string(options.max_buffered_bytes) +
                            " bytes) must hold at least one body of the largest limit (" +
                            std::to_string(larger_limit) + " bytes)");
  if (options.tls_cert_file.empty() != options.tls_key_file.empty())
    return invalid_argument("TLS needs both a certificate and its private key (--tls-cert and --tls-key)");
  std::unique_ptr<httplib::Server> http;
  if (options.tls_cert_file.empty()) {
    http = std::make_unique<httplib::Server>();
  } else {
    for (const std::string* f : {&options.tls_cert_file, &options.tls_key_file})
      if (::access(f->c_str(), R_OK) != 0) return io_error("cannot read " + *f + " (TLS)");
    auto tls = std::make_unique<httplib::SSLServer>(options.tls_cert_file.c_str(), options.tls_key_file.c_str());
    if (!tls->is_valid())
      return invalid_argument("cannot use " + options.tls_cert_file + " and " + options.tls_key_file +
                              " for TLS: not a PEM certificate and its matching, unencrypted private key");
    http = std::move(tls);
  }
  auto impl = std::make_unique<Impl>(std::move(server), std::move(store), std::move(options), std::move(http));
  const HttpServerOptions& o = impl->options;
  impl->http.new_task_queue = [n = o.http_threads] { return new httplib::ThreadPool(n); };
  impl->http.set_payload_max_length(
      static_cast<size_t>(std::max(o.max_key_bytes, o.max_input_bytes) + kMultipartOverhead));
  impl->http.set_read_timeout(static_cast<time_t>(o.read_timeout_s), 0);
  impl->http.set_write_timeout(static_cast<time_t>(o.write_timeout_s), 0);
  impl->install_routes();
  return HttpServer(std::move(impl));
}

Status HttpServer::start() {
  if (!impl_) return invalid_argument("this server was moved from");
  if (impl_->thread.joinable()) return invalid_argument("the server is already started");
  Impl& s = *impl_;
  if (s.options.port == 0) {
    s.port = s.http.bind_to_any_port(s.options.host);
    if (s.port <= 0) return io_error("cannot listen on " + s.options.host + " (any port)");
  } else {
    if (!s.http.bind_to_port(s.options.host, s.options.port))
      return io_error("cannot listen on " + s.options.host + ":" + std::to_string(s.options.port) +
                      " (in use, or not an address of this machine)");
    s.port = s.options.port;
  }
  s.thread = std::thread([&s] { s.http.listen_after_bind(); });
  // stop() only works once the accept loop runs.
  for (int i = 0; i < 5000 && !s.http.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  if (!s.http.is_running()) return io_error("the server did not start");
  return {};
}

int HttpServer::port() const { return impl_ ? impl_->port : 0; }

void HttpServer::stop() {
  if (!impl_) return;
  impl_->stopping = true;
  impl_->http.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

void block_termination_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

int wait_for_termination_signal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  int sig = 0;
  while (sigwait(&set, &sig) != 0) {
  }
  return sig;
}

// ---------------------------------------------------------------------------------------------
// The client.

struct HttpClient::Impl {
  explicit Impl(const std::string& url) : cli(url) {}
  httplib::Client cli;
};

HttpClient::HttpClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpClient::HttpClient(HttpClient&&) noexcept = default;
HttpClient& HttpClient::operator=(HttpClient&&) noexcept = default;
HttpClient::~HttpClient() = default;

Result<HttpClient> HttpClient::create(const std::string& url, uint32_t timeout_s, const std::string& bearer_token,
                                      const std::string& ca_cert_file) {
  std::string u = url;
  while (!u.empty() && u.back() == '/') u.pop_back();
  if (!u.starts_with("http://") && !u.starts_with("https://"))
    return invalid_argument("the server URL must start with http:// or https://, not \"" + url + "\"");
  auto impl = std::make_unique<Impl>(u);
  if (!impl->cli.is_valid()) return invalid_argument("cannot use the server URL \"" + url + "\"");
  impl->cli.set_connection_timeout(std::min<time_t>(timeout_s, 30), 0);
  impl->cli.set_read_timeout(static_cast<time_t>(timeout_s), 0);
  impl->cli.set_write_timeout(static_cast<time_t>(timeout_s), 0);
  if (!bearer_token.empty()) impl->cli.set_bearer_token_auth(bearer_token);
  if (!ca_cert_file.empty()) {
    if (!u.starts_with("https://")) return invalid_argument("a CA certificate is for https:// URLs, not \"" + url + "\"");
    if (::access(ca_cert_file.c_str(), R_OK) != 0) return io_error("cannot read " + ca_cert_file + " (CA certificate)");
    impl->cli.set_ca_cert_path(ca_cert_file.c_str());
  }
  impl->cli.enable_server_certificate_verification(true);
  return HttpClient(std::move(impl));
}

namespace {

// What a failed request means to a user, for the errors a user meets.
std::string explain(httplib::Error e) {
  switch (e) {
    case httplib::Error::Connection:
      return "cannot connect to the server (is it running, and is the URL right?)";
    case httplib::Error::ConnectionTimeout:
      return "the connection timed out";
    case httplib::Error::Read:
      return "the connection broke while reading the answer (a timeout, or the server went away)";
    case httplib::Error::Write:
      return "the connection broke while sending the request";
    case httplib::Error::SSLConnection:
      return "the TLS handshake failed (does the server speak HTTPS?)";
    case httplib::Error::SSLLoadingCerts:
      return "cannot load the CA certificates";
    case httplib::Error::SSLServerVerification:
      return "the server's TLS certificate is not trusted (for a self-signed or private CA, give its "
             "certificate: --ca-cert)";
    default:
      return httplib::to_string(e);
  }
}

Result<HttpResponse> convert(httplib::Result r, const std::string& what) {
  if (!r) return io_error(what + ": " + explain(r.error()));
  HttpResponse out;
  out.status = r->status;
  out.content_type = r->get_header_value("Content-Type");
  out.body = std::move(r->body);
  return out;
}

// A non-2xx answer as a Status with the server's message.
Status answer_error(const HttpResponse& r, const std::string& what) {
  std::string message = r.body;
  auto j = json::parse(r.body, nullptr, false);
  if (!j.is_discarded() && j.is_object() && j.contains("error") && j["error"].is_string())
    message = j["error"].get<std::string>();
  message = what + ": HTTP " + std::to_string(r.status) + ": " + message;
  switch (r.status) {
    case 400:
    case 409:
    case 415:
      return invalid_argument(message);
    case 404:
      return not_found(message);
    case 413:
    case 503:
      return resource_exhausted(message);
    default:
      return io_error(message);
  }
}

std::vector<uint8_t> to_vector(const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); }

}  // namespace

Result<HttpResponse> HttpClient::request(const std::string& method, const std::string& path, const std::string& body,
                                         const std::string& content_type) {
  httplib::Request req;
  req.method = method;
  req.path = path;
  req.body = body;
  if (!content_type.empty()) req.set_header("Content-Type", content_type);
  return convert(impl_->cli.send(req), method + " " + path);
}

Result<HttpResponse> HttpClient::post_multipart(const std::string& path, const std::vector<Part>& parts) {
  httplib::MultipartFormDataItems items;
  for (const Part& p : parts) items.push_back({p.name, p.content, p.filename, p.content_type});
  return convert(impl_->cli.Post(path.c_str(), items), "POST " + path);
}

Result<std::vector<uint8_t>> HttpClient::get_client() {
  BLINDML_ASSIGN_OR_RETURN(HttpResponse r, request("GET", "/get_client"));
  if (r.status != 200) return answer_error(r, "GET /get_client");
  return to_vector(r.body);
}

// add_key and compute send raw application/octet-stream bodies (the server takes them beside the
// multipart form of Concrete ML's clients): no multipart framing to build or parse around bodies
// of hundreds of megabytes.
Result<std::string> HttpClient::add_key(std::span<const uint8_t> evaluation_keys) {
  BLINDML_ASSIGN_OR_RETURN(
      HttpResponse r,
      request("POST", "/add_key", std::string(evaluation_keys.begin(), evaluation_keys.end()), kOctets));
  if (r.status != 200) return answer_error(r, "POST /add_key");
  auto j = json::parse(r.body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("uid") || !j["uid"].is_string() ||
      !is_valid_uid(j["uid"].get<std::string>()))
    return corrupted("POST /add_key: the server's answer holds no uid");
  return j["uid"].get<std::string>();
}

Result<std::vector<uint8_t>> HttpClient::compute(const std::string& uid, std::span<const uint8_t> input) {
  if (!is_valid_uid(uid)) return invalid_argument("not a client id: \"" + uid + "\"");
  BLINDML_ASSIGN_OR_RETURN(HttpResponse r,
                           request("POST", "/compute?uid=" + uid, std::string(input.begin(), input.end()), kOctets));
  if (r.status != 200) return answer_error(r, "POST /compute");
  return to_vector(r.body);
}

Status HttpClient::delete_key(const std::string& uid) {
  BLINDML_ASSIGN_OR_RETURN(HttpResponse r, request("DELETE", "/keys/" + uid));
  if (r.status != 200) return answer_error(r, "DELETE /keys/" + uid);
  return {};
}

Result<std::string> HttpClient::info() {
  BLINDML_ASSIGN_OR_RETURN(HttpResponse r, request("GET", "/info"));
  if (r.status != 200) return answer_error(r, "GET /info");
  return r.body;
}

}  // namespace blindml::serve
