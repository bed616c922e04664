// The HTTP server and client (docs/server.md). This is the only translation unit that includes
// HTTP libraries' headers (house style: only serve/ sees HTTP types, from one file): Boost.Beast
// over Boost.Asio (and asio::ssl over OpenSSL) for the server, cpp-httplib for the client.
//
// The server (docs/server.md, "Limits and defenses"):
//   - a few io threads run every socket asynchronously: accepting, TLS handshakes, reading
//     headers and bodies, writing answers. A connection that sends slowly costs a parked
//     coroutine-like session and its buffer, never a thread, so /health (answered on the io
//     threads) keeps answering however many slow clients there are;
//   - each session has one deadline timer: the headers must arrive within header_timeout_s of
//     the wait's start (keep-alive idle time included), the whole request within
//     request_timeout_s, an answer must be written within write_timeout_s; on expiry the socket's
//     operations are cancelled and the client gets 408 (or, idle, a plain close);
//   - the parser holds at most max_header_bytes of request line and headers (431 beyond, also
//     beyond max_header_fields lines) and a route's body limit (413); body bytes are reserved from
//     the server-wide budget (max_buffered_bytes) before they are read (503 when spent);
//   - at most max_connections connections are served; a few more (overflow) may still ask
//     GET /health within a one-second deadline and get 503 for anything else; beyond those a
//     connection is closed at once;
//   - everything that may block (key parsing, computations, the key store) runs on bounded
//     worker pools, never on an io thread: compute (slots + queue threads for add_key and
//     compute) and control (/ready, /metrics, DELETE); a request that finds its pool full gets 503.
#include <utility>  // before Boost 1.74's asio, which uses std::exchange without it

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <httplib.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <list>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>
#include <unordered_map>

#include "blindml/base/bytes.h"
#include "blindml/base/log.h"
#include "blindml/base/thread_pool.h"
#include "blindml/serve/http_client.h"
#include "blindml/serve/http_server.h"
#include "blindml/serve/key_cache.h"
#include "internal/http_fuzz.h"
#include "internal/metrics.h"
#include "internal/multipart.h"

namespace blindml::serve {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr const char* kJson = "application/json";
constexpr const char* kOctets = "application/octet-stream";
// Room for multipart boundaries and part headers on top of a body limit.
constexpr uint64_t kMultipartOverhead = 64 * 1024;
// Bodies of the routes that take none (GET, DELETE): a client may still send a few bytes.
constexpr uint64_t kSmallBodyLimit = 4 * 1024;
// After an answer that closes the connection, what the client still sends is read and dropped
// for at most this long (and this many bytes), so that its kernel sees the answer rather than a
// reset for unread data.
constexpr auto kLingerTime = std::chrono::seconds(2);
constexpr uint64_t kLingerBytes = 4 << 20;
// Connections beyond max_connections may ask GET /health only, within this deadline.
constexpr auto kOverflowDeadline = std::chrono::seconds(1);
// TLS 1.2 suites: ECDHE key exchange (forward secrecy) with an AEAD cipher only; no static RSA,
// no CBC. TLS 1.3's suites are all of that kind (OpenSSL's default list).
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

std::string_view sv(beast::string_view s) { return {s.data(), s.size()}; }

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

bool iequals_prefix(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(text[i])) != std::tolower(static_cast<unsigned char>(prefix[i])))
      return false;
  return true;
}

// What a handler answers.
struct Reply {
  int status = 200;
  std::string content_type = kJson;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  bool close = false;  // Connection: close
};

Reply error_reply(int status, const std::string& message) {
  Reply r;
  r.status = status;
  r.body = dump(json{{"error", message}}) + "\n";
  if (status == 503) r.headers.emplace_back("Retry-After", "1");
  return r;
}

Reply json_reply(std::string body) {
  Reply r;
  r.body = std::move(body);
  return r;
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

std::string route_label(std::string_view path) {
  static const char* const kRoutes[] = {"/get_client", "/add_key", "/compute", "/health", "/ready", "/info", "/metrics"};
  for (const char* r : kRoutes)
    if (path == r) return r;
  if (path.starts_with("/keys/")) return "/keys/{uid}";
  return "other";
}

std::span<const uint8_t> as_bytes(std::string_view s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i] == '+' ? ' ' : s[i]);
    }
  }
  return out;
}

// A request as the handlers see it.
struct Request {
  std::string method;
  std::string path;                           // the target without its query
  std::map<std::string, std::string> query;   // the first value of each key
  bhttp::request<bhttp::string_body> message;

  std::string header(bhttp::field f) const { return std::string(message[f]); }
  const std::string& body() const { return message.body(); }
};

void split_target(std::string_view target, std::string& path, std::map<std::string, std::string>& query) {
  const size_t q = target.find('?');
  path = std::string(target.substr(0, q));
  if (q == std::string_view::npos) return;
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    const size_t amp = rest.find('&');
    std::string_view item = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    const size_t eq = item.find('=');
    std::string key = percent_decode(item.substr(0, eq));
    std::string value = eq == std::string_view::npos ? std::string() : percent_decode(item.substr(eq + 1));
    query.emplace(std::move(key), std::move(value));
  }
}

// The fixed compute slots, each with its own thread pool (a ThreadPool runs one parallel_for at
// a time), and the requests waiting for one (never more than the compute workers, which the
// server sizes as slots + queue).
class ComputeGate {
 public:
  ComputeGate(uint32_t slots, uint32_t threads) {
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
    ~Lease() { gate_->release(pool_); }
    ThreadPool* pool() const { return pool_; }

   private:
    ComputeGate* gate_;
    ThreadPool* pool_;
  };

  std::unique_ptr<Lease> acquire() {
    std::unique_lock<std::mutex> lock(mu_);
    ++waiting_;
    cv_.wait(lock, [&] { return !free_.empty(); });
    --waiting_;
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

  std::vector<std::unique_ptr<ThreadPool>> pools_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<ThreadPool*> free_;
  uint64_t waiting_ = 0;
  uint64_t busy_ = 0;
};

// A fixed number of threads running blocking tasks, with at most `capacity` tasks admitted
// (running or queued) at once: try_post refuses beyond it, so a burst costs a 503, not memory.
class WorkerPool {
 public:
  WorkerPool(uint32_t threads, uint32_t capacity) : capacity_(capacity) {
    for (uint32_t i = 0; i < threads; ++i) threads_.emplace_back([this] { loop(); });
  }
  ~WorkerPool() { join(); }

  // work() on a worker, then, once the task no longer counts against the capacity, then().
  bool try_post(std::function<void()> work, std::function<void()> then) {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_ || admitted_ >= capacity_) return false;
    ++admitted_;
    tasks_.push_back({std::move(work), std::move(then)});
    cv_.notify_one();
    return true;
  }
  // Runs the tasks admitted so far, then stops the threads.
  void join() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopped_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }

 private:
  void loop() {
    for (;;) {
      std::pair<std::function<void()>, std::function<void()>> task;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stopped_ || !tasks_.empty(); });
        if (tasks_.empty()) return;
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task.first();
      {
        std::lock_guard<std::mutex> lock(mu_);
        --admitted_;
      }
      task.second();
    }
  }

  const uint32_t capacity_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::list<std::pair<std::function<void()>, std::function<void()>>> tasks_;
  uint32_t admitted_ = 0;
  bool stopped_ = false;
  std::vector<std::thread> threads_;
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

// Bytes reserved from a BodyBudget, given back on destruction or reset().
class Reservation {
 public:
  explicit Reservation(BodyBudget* budget) : budget_(budget) {}
  Reservation(const Reservation&) = delete;
  Reservation& operator=(const Reservation&) = delete;
  ~Reservation() { reset(); }
  bool cover(uint64_t n) {
    if (n <= bytes_) return true;
    if (!budget_->reserve(n - bytes_)) return false;
    bytes_ = n;
    return true;
  }
  void reset() {
    if (bytes_) budget_->release(std::exchange(bytes_, 0));
  }

 private:
  BodyBudget* budget_;
  uint64_t bytes_ = 0;
};

// Constant-time equality of two secrets of any lengths: their SHA-256 digests are compared with
// CRYPTO_memcmp, so neither the position of a first difference nor the length leaks by timing.
bool secrets_equal(std::string_view a, std::string_view b) {
  const auto da = sha256(as_bytes(a));
  const auto db = sha256(as_bytes(b));
  return CRYPTO_memcmp(da.data(), db.data(), da.size()) == 0;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// The server.

class SessionBase;

// Everything a server holds; HttpServer::Impl is this (the sessions below need its members).

struct ServerState {
  ServerState(deploy::Server s, std::unique_ptr<KeyStore> st, HttpServerOptions o)
      : server(std::move(s)),
        store(std::move(st)),
        options(std::move(o)),
        cache(options.cache_bytes),
        gate(options.compute_slots, options.threads),
        bodies(options.max_buffered_bytes),
        client_zip(options.client_zip.begin(), options.client_zip.end()),
        info(server.info_json()) {
    limits.max_evaluation_keys = options.max_key_bytes;
    limits.max_input = options.max_input_bytes;
    if (server.compiled().needs_bootstrapping) pbs_per_row = server.pbs_per_row();
  }

  deploy::Server server;
  std::unique_ptr<KeyStore> store;
  HttpServerOptions options;
  deploy::ServerLimits limits;
  KeyCache cache;
  ComputeGate gate;
  BodyBudget bodies;
  internal::Metrics metrics;
  const std::string client_zip;
  const std::string info;
  uint64_t pbs_per_row = 0;
  std::mutex quota_mu;  // a quota check and the store write it allows, one upload at a time

  // Networking (start() to stop()).
  std::unique_ptr<asio::io_context> ioc;
  // Keeps the io threads running while a session has no operation pending (its request is on a
  // worker, which posts the answer back).
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::unique_ptr<ssl::context> tls;
  std::vector<std::thread> io_threads;
  std::unique_ptr<WorkerPool> compute_workers;
  std::unique_ptr<WorkerPool> control_workers;
  int port = 0;
  std::atomic<bool> stopping{false};
  std::atomic<uint32_t> connections{0};
  std::atomic<uint64_t> refused_connections{0};
  std::mutex sessions_mu;
  std::unordered_map<uint64_t, std::weak_ptr<SessionBase>> sessions;
  uint64_t next_session = 0;

  void accept();
  bool protected_route(const std::string& method, const std::string& path) const;
  bool authorized_header(std::string_view value) const;
  Reply unauthorized() const;
  // Runs on the io thread: cheap routes.
  std::optional<Reply> answer_inline(const Request& req);
  // Runs on a worker.
  Reply answer(Request& req);
  Result<KeyCache::Keys> keys_for(const std::string& uid, ThreadPool* pool, Reply& error);
  Reply handle_add_key(Request& req);
  Reply handle_compute(Request& req);
  Reply handle_delete(const Request& req);
  Reply handle_ready();
  std::optional<Reply> check_quota(uint64_t new_bytes) const;
  internal::Metrics::Gauges gauges() const;
};

struct HttpServer::Impl : ServerState {
  using ServerState::ServerState;
};

// The part of a session the server holds on to for stop().
class SessionBase {
 public:
  virtual ~SessionBase() = default;
  // Posted onto the session's strand by stop(): ends reads in progress (not a handler's work).
  virtual void shutdown() = 0;
};

namespace {

// One connection, plain (beast::tcp_stream) or TLS (beast::ssl_stream over it). Every member
// function runs on the connection's strand; workers post their answers back onto it.
template <class Stream>
class Session : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
 public:
  template <class... Args>
  Session(ServerState& server, bool overflow, Args&&... args)
      : s_(server),
        stream_(std::forward<Args>(args)...),
        deadline_(stream_.get_executor()),
        overflow_(overflow),
        reservation_(&server.bodies),
        buffer_(server.options.max_header_bytes + 16 * 1024) {}

  ~Session() override {
    s_.connections.fetch_sub(1);
    std::lock_guard<std::mutex> lock(s_.sessions_mu);
    s_.sessions.erase(id_);
  }

  void start(uint64_t id) {
    id_ = id;
    asio::dispatch(stream_.get_executor(), [self = this->shared_from_this()] { self->begin(); });
  }

  void shutdown() override {
    asio::post(stream_.get_executor(), [self = this->shared_from_this()] {
      if (self->state_ == State::kReading) self->cancel();
    });
  }

 private:
  enum class State { kReading, kWorking, kWriting, kClosing };
  using Parser = bhttp::request_parser<bhttp::string_body>;

  tcp::socket& socket() { return beast::get_lowest_layer(stream_).socket(); }
  std::shared_ptr<Session> self() { return this->shared_from_this(); }

  void cancel() {
    boost::system::error_code ignored;
    socket().cancel(ignored);
  }

  // One timer per session: on expiry the socket's operations are cancelled.
  void arm(Clock::time_point when) {
    timed_out_ = false;
    deadline_.expires_at(when);
    deadline_.async_wait([self = self(), generation = ++generation_](boost::system::error_code ec) {
      if (ec || generation != self->generation_) return;
      self->timed_out_ = true;
      self->cancel();
    });
  }
  void disarm() {
    ++generation_;
    deadline_.cancel();
  }

  std::chrono::seconds seconds(uint32_t s) const { return std::chrono::seconds(s); }

  void begin() {
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
      read_request();
    } else {
      arm(Clock::now() + (overflow_ ? kOverflowDeadline : seconds(s_.options.header_timeout_s)));
      stream_.async_handshake(ssl::stream_base::server, [self = self()](boost::system::error_code ec) {
        self->disarm();
        if (ec) return self->close();  // not TLS, or too slow: nothing to answer
        self->read_request();
      });
    }
  }

  void read_request() {
    if (s_.stopping.load()) return close();
    state_ = State::kReading;
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(s_.options.max_header_bytes));
    // Beast compares a Content-Length with the body limit as soon as the headers end; the limit
    // depends on the route, so it is checked in on_header and set there for the body.
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    reservation_.reset();
    if (buffer_.capacity() > 16 * 1024 && buffer_.size() == 0) buffer_.shrink_to_fit();  // after a large header
    started_ = Clock::now();
    arm(started_ + (overflow_ ? kOverflowDeadline : seconds(s_.options.header_timeout_s)));
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             [self = self()](boost::system::error_code ec, size_t) { self->on_header(ec); });
  }

  void on_header(boost::system::error_code ec) {
    const bool timed_out = timed_out_;
    disarm();
    if (ec) {
      if (!parser_->got_some() || s_.stopping.load()) return close();  // idle, or the server stops
      if (timed_out)
        return fail(408, "the request's headers did not arrive within " + std::to_string(s_.options.header_timeout_s) +
                             " s (this server's header deadline)");
      if (ec == bhttp::error::header_limit)
        return fail(431, "the request's headers are larger than this server's limit of " +
                             std::to_string(s_.options.max_header_bytes) + " bytes");
      return fail(400, "malformed request");
    }
    const auto& msg = parser_->get();
    size_t fields = 0;
    for (auto it = msg.begin(); it != msg.end(); ++it) ++fields;
    if (fields > s_.options.max_header_fields)
      return fail(431, "the request has " + std::to_string(fields) + " header lines, more than this server's limit of " +
                           std::to_string(s_.options.max_header_fields));
    split_target(std::string_view(msg.target().data(), msg.target().size()), path_, query_);
    method_ = std::string(msg.method_string());
    if (overflow_ && !(method_ == "GET" && path_ == "/health"))
      return fail(503, "the server has " + std::to_string(s_.options.max_connections) +
                           " connections open, its limit; retry later");
    // Unauthorized uploads are refused before their body is read.
    if (s_.protected_route(method_, path_) && !s_.authorized_header(sv(msg[bhttp::field::authorization])))
      return finish(s_.unauthorized(), /*close=*/true);
    const bool upload = method_ == "POST" && (path_ == "/add_key" || path_ == "/compute");
    const uint64_t route_limit = !upload ? kSmallBodyLimit
                                 : path_ == "/add_key" ? s_.options.max_key_bytes
                                                       : s_.options.max_input_bytes;
    const bool multipart = iequals_prefix(sv(msg[bhttp::field::content_type]), "multipart/");
    const uint64_t limit = upload && multipart ? route_limit + kMultipartOverhead : route_limit;
    route_limit_ = route_limit;
    const auto declared = parser_->content_length();
    if (declared && *declared > limit) return fail413();
    if (!parser_->is_done()) {
      // The declared length, or the whole limit of a chunked body, reserved before reading.
      if (!reservation_.cover(declared ? *declared : limit))
        return fail(503, "the server is receiving too many uploads at once; retry later");
      parser_->body_limit(limit);
      arm(started_ + (overflow_ ? kOverflowDeadline : seconds(s_.options.request_timeout_s)));
      bhttp::async_read(stream_, buffer_, *parser_,
                        [self = self()](boost::system::error_code ec, size_t) { self->on_body(ec); });
      return;
    }
    dispatch();
  }

  void fail413() {
    const std::string what = path_ == "/add_key" ? "the evaluation keys" : path_ == "/compute" ? "the encrypted input"
                                                                                               : "the request body";
    fail(413, what + " is larger than this server's limit of " + std::to_string(route_limit_) + " bytes");
  }

  void on_body(boost::system::error_code ec) {
    const bool timed_out = timed_out_;
    disarm();
    if (ec) {
      if (s_.stopping.load()) return close();
      if (timed_out)
        return fail(408, "the request did not arrive within " + std::to_string(s_.options.request_timeout_s) +
                             " s (this server's request deadline)");
      if (ec == bhttp::error::body_limit) return fail413();
      log_line(LogLevel::kInfo, "body read failed: " + ec.message());
      return fail(400, "the request body could not be read (malformed or truncated body)");
    }
    dispatch();
  }

  void dispatch() {
    auto req = std::make_shared<Request>();
    req->method = method_;
    req->path = path_;
    req->query = std::move(query_);
    req->message = parser_->release();
    keep_alive_ = req->message.keep_alive();
    if (auto inline_reply = s_.answer_inline(*req)) return finish(std::move(*inline_reply), false);
    const bool compute = req->method == "POST" && (req->path == "/add_key" || req->path == "/compute");
    WorkerPool& pool = compute ? *s_.compute_workers : *s_.control_workers;
    state_ = State::kWorking;
    auto reply = std::make_shared<Reply>();
    auto work = [self = self(), req, reply]() mutable {
      try {
        *reply = self->s_.answer(*req);
      } catch (const std::exception& e) {
        log_line(LogLevel::kError, "internal error on " + req->method + " " + req->path + ": " + e.what());
        *reply = error_reply(500, "internal error (the server's log has the details)");
      } catch (...) {
        log_line(LogLevel::kError, "internal error on " + req->method + " " + req->path);
        *reply = error_reply(500, "internal error (the server's log has the details)");
      }
      req.reset();  // the body's memory, before the answer travels
    };
    auto then = [self = self(), reply] {
      asio::post(self->stream_.get_executor(), [self, reply] { self->finish(std::move(*reply), false); });
    };
    if (!pool.try_post(std::move(work), std::move(then))) {
      if (compute) s_.metrics.record_rejected();
      Reply busy = error_reply(503, compute ? "the server is busy (the compute queue is full); retry later"
                                            : "the server is busy; retry later");
      return finish(std::move(busy), false);
    }
  }

  void fail(int status, const std::string& message) {
    if (method_.empty() && parser_) {
      const auto& msg = parser_->get();
      method_ = std::string(msg.method_string());
      split_target(std::string_view(msg.target().data(), msg.target().size()), path_, query_);
    }
    finish(error_reply(status, message), /*close=*/true);
  }

  void finish(Reply reply, bool close) {
    reservation_.reset();
    const bool keep = keep_alive_ && !close && !reply.close && !overflow_ && !s_.stopping.load();
    auto res = std::make_shared<bhttp::response<bhttp::string_body>>(static_cast<bhttp::status>(reply.status), 11);
    res->set(bhttp::field::server, "blindml");
    res->set(bhttp::field::content_type, reply.content_type);
    for (const auto& [name, value] : reply.headers) res->set(name, value);
    res->body() = std::move(reply.body);
    res->keep_alive(keep);
    res->prepare_payload();
    status_ = reply.status;
    state_ = State::kWriting;
    arm(Clock::now() + seconds(s_.options.write_timeout_s));
    bhttp::async_write(stream_, *res, [self = self(), res, keep](boost::system::error_code ec, size_t) {
      self->disarm();
      self->record();
      if (ec || !keep) return self->linger();
      self->method_.clear();
      self->path_.clear();
      self->query_.clear();
      self->read_request();
    });
  }

  void record() {
    const double secs = std::chrono::duration<double>(Clock::now() - started_).count();
    s_.metrics.record_request(route_label(path_), status_, secs);
    if (log_enabled(LogLevel::kInfo))
      log_line(LogLevel::kInfo, (method_.empty() ? "-" : method_) + " " + (path_.empty() ? "-" : path_) + " " +
                                    std::to_string(status_));
  }

  // Sends FIN, reads and drops what the client still sends (bounded), then closes.
  void linger() {
    state_ = State::kClosing;
    if constexpr (!std::is_same_v<Stream, beast::tcp_stream>) return close();
    boost::system::error_code ignored;
    socket().shutdown(tcp::socket::shutdown_send, ignored);
    arm(Clock::now() + kLingerTime);
    drain();
  }
  void drain() {
    socket().async_read_some(asio::buffer(drain_buf_), [self = self()](boost::system::error_code ec, size_t n) {
      self->drained_ += n;
      if (ec || self->drained_ > kLingerBytes) {
        self->disarm();
        return self->close();
      }
      self->drain();
    });
  }

  void close() {
    state_ = State::kClosing;
    boost::system::error_code ignored;
    socket().shutdown(tcp::socket::shutdown_both, ignored);
    socket().close(ignored);
  }

  ServerState& s_;
  Stream stream_;
  asio::steady_timer deadline_;
  const bool overflow_;
  Reservation reservation_;
  beast::flat_buffer buffer_;
  std::optional<Parser> parser_;
  uint64_t id_ = 0;
  uint64_t generation_ = 0;
  bool timed_out_ = false;
  bool keep_alive_ = false;
  State state_ = State::kReading;
  Clock::time_point started_ = Clock::now();
  std::string method_;
  std::string path_;
  std::map<std::string, std::string> query_;
  uint64_t route_limit_ = 0;
  int status_ = 0;
  std::array<char, 16 * 1024> drain_buf_{};
  uint64_t drained_ = 0;
};

}  // namespace

void ServerState::accept() {
  acceptor->async_accept(asio::make_strand(*ioc), [this](boost::system::error_code ec, tcp::socket socket) {
    if (stopping.load() || !acceptor->is_open()) return;
    if (ec) {
      // Out of descriptors or memory: wait a little instead of spinning.
      auto timer = std::make_shared<asio::steady_timer>(*ioc, std::chrono::milliseconds(50));
      timer->async_wait([this, timer](boost::system::error_code) {
        if (!stopping.load()) accept();
      });
      return;
    }
    boost::system::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    const uint32_t n = connections.fetch_add(1) + 1;
    const uint32_t overflow_room = std::max<uint32_t>(8, options.max_connections / 8);
    if (n > options.max_connections + overflow_room) {
      connections.fetch_sub(1);
      refused_connections.fetch_add(1);
      socket.close(ignored);
      return accept();
    }
    const bool overflow = n > options.max_connections;
    std::shared_ptr<SessionBase> session;
    uint64_t id;
    if (tls) {
      auto s = std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(*this, overflow, std::move(socket), *tls);
      session = s;
      std::lock_guard<std::mutex> lock(sessions_mu);
      id = next_session++;
      sessions.emplace(id, session);
      s->start(id);
    } else {
      auto s = std::make_shared<Session<beast::tcp_stream>>(*this, overflow, std::move(socket));
      session = s;
      std::lock_guard<std::mutex> lock(sessions_mu);
      id = next_session++;
      sessions.emplace(id, session);
      s->start(id);
    }
    accept();
  });
}

bool ServerState::protected_route(const std::string& method, const std::string& path) const {
  if (options.bearer_token.empty()) return false;
  return (method == "POST" && (path == "/add_key" || path == "/compute")) ||
         (method == "DELETE" && path.starts_with("/keys/"));
}

bool ServerState::authorized_header(std::string_view value) const {
  if (options.bearer_token.empty()) return true;
  constexpr std::string_view kScheme = "Bearer ";
  if (!value.starts_with(kScheme)) return false;
  return secrets_equal(value.substr(kScheme.size()), options.bearer_token);
}

Reply ServerState::unauthorized() const {
  Reply r = error_reply(401, "this route needs the header \"Authorization: Bearer <token>\" with the server's token");
  r.headers.emplace_back("WWW-Authenticate", "Bearer");
  return r;
}

std::optional<Reply> ServerState::answer_inline(const Request& req) {
  const bool get = req.method == "GET" || req.method == "HEAD";
  if (req.path == "/health" && get) return json_reply("{\"status\":\"ok\"}");
  if (req.path == "/info" && get) return json_reply(info);
  if (req.path == "/get_client" && get) {
    if (client_zip.empty()) return error_reply(404, "this server was started without client.zip (blindml serve --client)");
    Reply r;
    r.content_type = "application/zip";
    r.body = client_zip;
    r.headers.emplace_back("Content-Disposition", "attachment; filename=\"client.zip\"");
    return r;
  }
  const bool known = (get && (req.path == "/ready" || req.path == "/metrics")) ||
                     (req.method == "POST" && (req.path == "/add_key" || req.path == "/compute")) ||
                     (req.method == "DELETE" && req.path.starts_with("/keys/"));
  if (!known) return error_reply(404, "no such route (see docs/server.md)");
  return std::nullopt;
}

Reply ServerState::answer(Request& req) {
  if (req.path == "/ready") return handle_ready();
  if (req.path == "/metrics") {
    Reply r;
    r.content_type = "text/plain; version=0.0.4";
    r.body = metrics.render(gauges());
    return r;
  }
  if (req.path == "/add_key") return handle_add_key(req);
  if (req.path == "/compute") return handle_compute(req);
  return handle_delete(req);
}

Reply ServerState::handle_ready() {
  if (stopping.load()) return error_reply(503, "shutting down");
  if (Status s = store->ready(); !s.ok()) {
    log_line(LogLevel::kWarn, "ready: " + s.to_string());
    return error_reply(503, "the key store is not ready: " + s.message());
  }
  return json_reply("{\"status\":\"ready\"}");
}

// A store failure as the client sees it: the code's meaning, never the server's paths or
// addresses (those go to the log). Writing, resource_exhausted is a full store (507); io_error
// is a store that does not answer or fails (503: another replica, or a later try, may succeed).
Reply store_failure(const Status& s, const std::string& what, bool writing) {
  log_line(LogLevel::kError, what + ": " + s.to_string());
  if (s.code() == StatusCode::kResourceExhausted && writing)
    return error_reply(507, what + ": the key store is full (no space left); stored keys are untouched");
  if (s.code() == StatusCode::kResourceExhausted)
    return error_reply(500, what + ": the stored keys are larger than this server's limit (--max-key-body)");
  if (s.code() == StatusCode::kIoError)
    return error_reply(503, what + ": the key store is not available; retry later");
  if (s.code() == StatusCode::kCorrupted)
    return error_reply(500, what + ": the stored keys are corrupted (they fail their checksum); upload them again");
  return error_reply(500, what + ": the key store failed (the server's log has the details)");
}

std::optional<Reply> ServerState::check_quota(uint64_t new_bytes) const {
  if (options.max_stored_keys == 0 && options.max_stored_bytes == 0) return std::nullopt;
  auto s = store->stats();
  if (!s.ok()) return store_failure(s.status(), "the keys could not be stored", true);
  if (options.max_stored_keys != 0 && s->keys >= options.max_stored_keys)
    return error_reply(507, "this server's key quota is full: " + std::to_string(s->keys) + " clients' keys stored, the limit is " +
                          std::to_string(options.max_stored_keys) + " (--max-stored-keys); delete unused ones (DELETE /keys/{uid})");
  if (options.max_stored_bytes != 0 &&
      (new_bytes > options.max_stored_bytes || s->bytes > options.max_stored_bytes - new_bytes))
    return error_reply(507, "this server's key quota is full: " + std::to_string(s->bytes) + " bytes of keys stored, " +
                          std::to_string(new_bytes) + " more would pass the limit of " +
                          std::to_string(options.max_stored_bytes) + " (--max-stored-bytes)");
  return std::nullopt;
}

Result<KeyCache::Keys> ServerState::keys_for(const std::string& uid, ThreadPool* pool, Reply& error) {
  if (KeyCache::Keys k = cache.get(uid)) return k;
  auto bytes = store->get(uid, limits.max_evaluation_keys);
  if (!bytes.ok()) {
    if (bytes.status().code() == StatusCode::kNotFound) {
      error = error_reply(404, "unknown uid " + uid + ": no evaluation keys are stored under it (upload them with POST /add_key)");
    } else {
      error = store_failure(bytes.status(), "the keys of uid " + uid + " could not be read", false);
    }
    return bytes.status();
  }
  auto keys = server.load_evaluation_keys(*bytes, limits, pool);
  if (!keys.ok()) {
    error = error_reply(409, "the keys stored under uid " + uid + " do not fit this server's model: " + keys.status().message());
    return keys.status();
  }
  auto shared = std::make_shared<const deploy::Server::Keys>(std::move(keys).value());
  cache.put(uid, shared);
  return KeyCache::Keys(shared);
}

namespace {

// The body's fields: multipart parts, or the raw body; an error reply when malformed.
struct Fields {
  bool multipart = false;
  std::map<std::string_view, std::string_view> parts;
  std::string_view raw;
};

std::optional<Reply> read_fields(const Request& req, uint64_t limit, const char* what, Fields& out) {
  const std::string type = req.header(bhttp::field::content_type);
  const std::string& body = req.body();
  if (iequals_prefix(type, "multipart/form-data")) {
    out.multipart = true;
    auto parts = internal::parse_multipart(type, body);
    if (!parts.ok())
      return error_reply(400, "the request body could not be read (malformed or truncated multipart/form-data): " +
                                  parts.status().message());
    uint64_t total = 0;
    for (const auto& p : *parts) {
      total += p.content.size();
      if (!out.parts.emplace(p.name, p.content).second) return error_reply(400, "a multipart field is given twice");
    }
    if (total > limit)
      return error_reply(413, std::string(what) + " is larger than this server's limit of " + std::to_string(limit) + " bytes");
    return std::nullopt;
  }
  out.raw = body;
  return std::nullopt;
}

}  // namespace

Reply ServerState::handle_add_key(Request& req) {
  Fields f;
  if (auto e = read_fields(req, options.max_key_bytes, "the evaluation keys", f)) return *e;
  std::string_view key;
  if (f.multipart) {
    auto it = f.parts.find("key");
    if (it == f.parts.end()) return error_reply(400, "the multipart field \"key\" (the evaluation keys) is missing");
    key = it->second;
  } else {
    const std::string type = req.header(bhttp::field::content_type);
    if (!type.empty() && !type.starts_with(kOctets))
      return error_reply(415, "send the evaluation keys as multipart/form-data (field \"key\") or as an "
                              "application/octet-stream body, not " + type);
    key = f.raw;
  }
  if (key.empty()) return error_reply(400, "the evaluation keys are empty");
  // Early, before the expensive validation; checked again under the lock before writing.
  if (auto q = check_quota(key.size())) return *q;
  auto lease = gate.acquire();
  auto keys = server.load_evaluation_keys(as_bytes(key), limits, lease->pool());
  if (!keys.ok()) {
    return error_reply(http_status(keys.status()),
                       "these evaluation keys cannot be used with this server's model: " + keys.status().message());
  }
  lease.reset();
  auto uid = new_uid();
  if (!uid.ok()) return error_reply(500, uid.status().message());
  {
    std::lock_guard<std::mutex> lock(quota_mu);
    if (auto q = check_quota(key.size())) return *q;
    if (Status s = store->put(*uid, as_bytes(key)); !s.ok()) return store_failure(s, "the keys could not be stored", true);
  }
  cache.put(*uid, std::make_shared<const deploy::Server::Keys>(std::move(keys).value()));
  return json_reply(dump(json{{"uid", *uid}}));
}

Reply ServerState::handle_compute(Request& req) {
  Fields f;
  if (auto e = read_fields(req, options.max_input_bytes, "the encrypted input", f)) return *e;
  std::string uid;
  std::string_view input;
  if (f.multipart) {
    auto u = f.parts.find("uid");
    auto m = f.parts.find("model_input");
    if (u == f.parts.end()) return error_reply(400, "the multipart field \"uid\" is missing");
    if (m == f.parts.end()) return error_reply(400, "the multipart field \"model_input\" (the encrypted input) is missing");
    uid = std::string(u->second);
    input = m->second;
  } else {
    const std::string type = req.header(bhttp::field::content_type);
    if (!type.empty() && !type.starts_with(kOctets))
      return error_reply(415, "send multipart/form-data (fields \"uid\" and \"model_input\") or an "
                              "application/octet-stream body with ?uid=, not " + type);
    auto it = req.query.find("uid");
    if (it == req.query.end()) return error_reply(400, "the query parameter uid is missing (POST /compute?uid=...)");
    uid = it->second;
    input = f.raw;
  }
  while (!uid.empty() && (uid.back() == '\n' || uid.back() == '\r' || uid.back() == ' ')) uid.pop_back();
  if (!is_valid_uid(uid)) return error_reply(400, "the uid is malformed: expected the 32 hex digits that POST /add_key returned");
  if (input.empty()) return error_reply(400, "the encrypted input is empty");
  auto lease = gate.acquire();
  Reply error;
  auto keys = keys_for(uid, lease->pool(), error);
  if (!keys.ok()) return error;
  auto output = server.run(as_bytes(input), **keys, *lease->pool(), limits);
  if (!output.ok()) return error_reply(http_status(output.status()), output.status().message());
  // The row count of the answer (docs/formats.md, "Exchange files": bytes 44..51).
  uint64_t rows = 0;
  if (output->size() >= 52)
    for (int i = 7; i >= 0; --i) rows = (rows << 8) | (*output)[44 + i];
  metrics.record_compute(rows, rows * pbs_per_row);
  Reply r;
  r.content_type = kOctets;
  r.body.assign(reinterpret_cast<const char*>(output->data()), output->size());
  return r;
}

Reply ServerState::handle_delete(const Request& req) {
  const std::string uid = req.path.substr(std::string_view("/keys/").size());
  if (!is_valid_uid(uid)) return error_reply(400, "the uid is malformed: expected 32 hex digits");
  Status s = store->remove(uid);
  cache.erase(uid);
  if (s.code() == StatusCode::kNotFound) return error_reply(404, "unknown uid " + uid + ": no evaluation keys are stored under it");
  if (!s.ok()) return store_failure(s, "the keys of uid " + uid + " could not be deleted", true);
  return json_reply(dump(json{{"uid", uid}, {"deleted", true}}));
}

internal::Metrics::Gauges ServerState::gauges() const {
  internal::Metrics::Gauges g;
  auto s = store->stats();
  g.store_ok = s.ok();
  if (s.ok()) g.store = *s;
  g.cache = cache.stats();
  g.queue_waiting = gate.waiting();
  g.computing = gate.busy();
  g.body_bytes = bodies.used();
  g.body_budget = bodies.limit();
  g.connections = connections.load();
  g.connection_limit = options.max_connections;
  g.refused_connections = refused_connections.load();
  return g;
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

namespace {

Result<std::unique_ptr<ssl::context>> make_tls_context(const std::string& cert, const std::string& key) {
  for (const std::string* f : {&cert, &key})
    if (::access(f->c_str(), R_OK) != 0) return io_error("cannot read " + *f + " (TLS)");
  auto ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                   ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
  const auto bad = [&] {
    return invalid_argument("cannot use " + cert + " and " + key +
                            " for TLS: not a PEM certificate and its matching, unencrypted private key");
  };
  if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1 || SSL_CTX_set_cipher_list(native, kTls12Ciphers) != 1)
    return internal_error("OpenSSL refused the TLS settings (TLS 1.2+, ECDHE with AEAD ciphers)");
  boost::system::error_code ec;
  ctx->set_password_callback([](size_t, ssl::context::password_purpose) { return std::string(); }, ec);
  ctx->use_certificate_chain_file(cert, ec);
  if (ec) return bad();
  ctx->use_private_key_file(key, ssl::context::pem, ec);
  if (ec || SSL_CTX_check_private_key(native) != 1) return bad();
  return ctx;
}

}  // namespace

Result<HttpServer> HttpServer::create(deploy::Server server, std::unique_ptr<KeyStore> store, HttpServerOptions options) {
  if (!store) return invalid_argument("no key store");
  if (options.port < 0 || options.port > 65535)
    return invalid_argument("port " + std::to_string(options.port) + " is not in 0..65535");
  if (options.compute_slots == 0) return invalid_argument("at least one compute slot is needed");
  if (options.max_key_bytes == 0 || options.max_input_bytes == 0) return invalid_argument("a body limit is zero");
  if (options.max_connections == 0) return invalid_argument("at least one connection is needed (max_connections)");
  if (options.max_header_bytes < 1024 || options.max_header_bytes > (uint64_t{1} << 20))
    return invalid_argument("the header limit (" + std::to_string(options.max_header_bytes) +
                            " bytes) must be in 1024..1048576");
  if (options.max_header_fields == 0) return invalid_argument("the header line limit is zero");
  if (options.header_timeout_s == 0 || options.request_timeout_s == 0 || options.write_timeout_s == 0)
    return invalid_argument("a timeout is zero");
  if (options.request_timeout_s < options.header_timeout_s)
    return invalid_argument("the request deadline (" + std::to_string(options.request_timeout_s) +
                            " s) is shorter than the header deadline (" + std::to_string(options.header_timeout_s) + " s)");
  if (options.io_threads == 0) options.io_threads = 2;
  if (options.threads == 0) {
    const uint32_t cores = std::max(1u, std::thread::hardware_concurrency());
    options.threads = std::max(1u, cores / options.compute_slots);
  }
  const uint64_t larger_limit = std::max(options.max_key_bytes, options.max_input_bytes);
  if (options.max_buffered_bytes == 0)
    options.max_buffered_bytes = larger_limit > UINT64_MAX / 2 ? UINT64_MAX : 2 * larger_limit;
  if (options.max_buffered_bytes < larger_limit)
    return invalid_argument("the memory for request bodies (" + std::to_string(options.max_buffered_bytes) +
                            " bytes) must hold at least one body of the largest limit (" +
                            std::to_string(larger_limit) + " bytes)");
  if (options.tls_cert_file.empty() != options.tls_key_file.empty())
    return invalid_argument("TLS needs both a certificate and its private key (--tls-cert and --tls-key)");
  std::unique_ptr<ssl::context> tls;
  if (!options.tls_cert_file.empty()) {
    BLINDML_ASSIGN_OR_RETURN(tls, make_tls_context(options.tls_cert_file, options.tls_key_file));
  }
  auto impl = std::make_unique<Impl>(std::move(server), std::move(store), std::move(options));
  impl->tls = std::move(tls);
  return HttpServer(std::move(impl));
}

Status HttpServer::start() {
  if (!impl_) return invalid_argument("this server was moved from");
  Impl& s = *impl_;
  if (s.ioc) return invalid_argument("the server is already started");
  s.ioc = std::make_unique<asio::io_context>(static_cast<int>(s.options.io_threads));
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(s.options.host, ec);
  if (ec) {
    s.ioc.reset();
    return invalid_argument("cannot listen on \"" + s.options.host + "\": not an IP address");
  }
  auto acceptor = std::make_unique<tcp::acceptor>(*s.ioc);
  const tcp::endpoint endpoint(address, static_cast<uint16_t>(s.options.port));
  acceptor->open(endpoint.protocol(), ec);
  if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor->bind(endpoint, ec);
  if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    s.ioc.reset();
    if (s.options.port == 0) return io_error("cannot listen on " + s.options.host + " (any port): " + ec.message());
    return io_error("cannot listen on " + s.options.host + ":" + std::to_string(s.options.port) +
                    " (in use, or not an address of this machine): " + ec.message());
  }
  s.port = acceptor->local_endpoint().port();
  s.acceptor = std::move(acceptor);
  const uint32_t compute_threads = s.options.compute_slots + s.options.queue;
  s.compute_workers = std::make_unique<WorkerPool>(compute_threads, compute_threads);
  s.control_workers = std::make_unique<WorkerPool>(2, 16);
  s.stopping = false;
  s.work.emplace(s.ioc->get_executor());
  s.accept();
  for (uint32_t i = 0; i < s.options.io_threads; ++i) s.io_threads.emplace_back([&s] { s.ioc->run(); });
  return {};
}

int HttpServer::port() const { return impl_ ? impl_->port : 0; }

void HttpServer::stop() {
  if (!impl_ || !impl_->ioc) return;
  Impl& s = *impl_;
  s.stopping = true;
  // No new connections; reads in progress end; work in progress is answered (Connection: close).
  asio::post(*s.ioc, [&s] {
    boost::system::error_code ignored;
    s.acceptor->close(ignored);
  });
  // The sessions are collected first: the last reference to one may end it, and its destructor
  // takes sessions_mu.
  std::vector<std::shared_ptr<SessionBase>> live;
  {
    std::lock_guard<std::mutex> lock(s.sessions_mu);
    for (auto& [id, weak] : s.sessions)
      if (auto session = weak.lock()) live.push_back(std::move(session));
  }
  for (auto& session : live) session->shutdown();
  live.clear();
  // Until every session is gone (its answer written or its write deadline passed).
  while (s.connections.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  s.compute_workers->join();
  s.control_workers->join();
  s.work.reset();
  s.ioc->stop();
  for (auto& t : s.io_threads)
    if (t.joinable()) t.join();
  s.io_threads.clear();
  s.acceptor.reset();
  s.compute_workers.reset();
  s.control_workers.reset();
  s.ioc.reset();
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
// Fuzzing (internal/http_fuzz.h): the parse of Session::on_header/on_body without the socket.

int internal::parse_request_for_fuzzing(std::span<const uint8_t> bytes) {
  constexpr uint64_t kHeaderLimit = 16 * 1024, kBodyLimit = 1 << 20;
  constexpr size_t kFieldLimit = 100;
  bhttp::request_parser<bhttp::string_body> parser;
  parser.header_limit(kHeaderLimit);
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  parser.eager(true);
  boost::system::error_code ec;
  asio::const_buffer rest(bytes.data(), bytes.size());
  bool checked_header = false;
  while (!parser.is_done()) {
    const size_t used = parser.put(rest, ec);
    rest += used;
    if (ec == bhttp::error::need_more) return 0;
    if (ec == bhttp::error::header_limit) return 431;
    if (ec == bhttp::error::body_limit) return 413;
    if (ec) return 400;
    if (parser.is_header_done() && !checked_header) {
      checked_header = true;
      size_t fields = 0;
      for (auto it = parser.get().begin(); it != parser.get().end(); ++it) ++fields;
      if (fields > kFieldLimit) return 431;
      const auto declared = parser.content_length();
      if (declared && *declared > kBodyLimit) return 413;
      parser.body_limit(kBodyLimit);
    }
    if (used == 0 && rest.size() == 0 && !parser.is_done()) return 0;
  }
  std::string path;
  std::map<std::string, std::string> query;
  const auto target = parser.get().target();
  split_target(std::string_view(target.data(), target.size()), path, query);
  const std::string type(parser.get()[bhttp::field::content_type]);
  if (iequals_prefix(type, "multipart/form-data")) {
    auto parts = internal::parse_multipart(type, parser.get().body());
    if (!parts.ok()) return 400;
  }
  return 200;
}

// ---------------------------------------------------------------------------------------------
// The client.

struct HttpClient::Impl {
  Impl(const std::string& url, uint64_t max_response) : cli(url), max_response_bytes(max_response) {}
  httplib::Client cli;
  uint64_t max_response_bytes;
};

HttpClient::HttpClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpClient::HttpClient(HttpClient&&) noexcept = default;
HttpClient& HttpClient::operator=(HttpClient&&) noexcept = default;
HttpClient::~HttpClient() = default;

Result<HttpClient> HttpClient::create(const std::string& url, uint32_t timeout_s, const std::string& bearer_token,
                                      const std::string& ca_cert_file, uint64_t max_response_bytes) {
  if (max_response_bytes == 0) return invalid_argument("the response limit is zero");
  std::string u = url;
  while (!u.empty() && u.back() == '/') u.pop_back();
  if (!u.starts_with("http://") && !u.starts_with("https://"))
    return invalid_argument("the server URL must start with http:// or https://, not \"" + url + "\"");
  auto impl = std::make_unique<Impl>(u, max_response_bytes);
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

// A multipart/form-data body of the parts, with a boundary that none of them contains.
std::string multipart_body(const std::vector<HttpClient::Part>& parts, std::string& boundary) {
  for (;;) {
    boundary = "blindml-" + new_uid().value();
    bool clash = false;
    for (const auto& p : parts) clash = clash || p.content.find(boundary) != std::string::npos;
    if (!clash) break;
  }
  std::string body;
  for (const auto& p : parts) {
    body += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + p.name + "\"";
    if (!p.filename.empty()) body += "; filename=\"" + p.filename + "\"";
    body += "\r\n";
    if (!p.content_type.empty()) body += "Content-Type: " + p.content_type + "\r\n";
    body += "\r\n" + p.content + "\r\n";
  }
  body += "--" + boundary + "--\r\n";
  return body;
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
    case 507:
      return resource_exhausted(message);
    default:
      return io_error(message);
  }
}

std::vector<uint8_t> to_vector(const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); }

}  // namespace

Result<HttpResponse> HttpClient::request(const std::string& method, const std::string& path, const std::string& body,
                                         const std::string& content_type) {
  const std::string what = method + " " + path;
  httplib::Request req;
  req.method = method;
  req.path = path;
  req.body = body;
  if (!content_type.empty()) req.set_header("Content-Type", content_type);
  // The answer is collected here, under the limit: a hostile or broken server cannot make this
  // process hold more than max_response_bytes of it.
  const uint64_t limit = impl_->max_response_bytes;
  std::string answer;
  bool too_large = false;
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t declared) {
    if (declared > limit || answer.size() + n > limit) {
      too_large = true;
      return false;
    }
    answer.append(data, n);
    return true;
  };
  httplib::Result r = impl_->cli.send(req);
  if (too_large)
    return resource_exhausted(what + ": the server's answer is larger than this client's limit of " +
                              std::to_string(limit) + " bytes (max_response_bytes)");
  if (!r) return io_error(what + ": " + explain(r.error()));
  HttpResponse out;
  out.status = r->status;
  out.content_type = r->get_header_value("Content-Type");
  out.body = std::move(answer);
  return out;
}

Result<HttpResponse> HttpClient::post_multipart(const std::string& path, const std::vector<Part>& parts) {
  std::string boundary;
  std::string body = multipart_body(parts, boundary);
  return request("POST", path, body, "multipart/form-data; boundary=" + boundary);
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
