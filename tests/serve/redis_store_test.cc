// The Redis key store against a real redis-server (the Debian package) started on a free loopback
// port for this test binary and stopped at its end: the file store's tests (put, get, delete,
// unknown uid, corrupted and truncated values), URL handling, an unreachable server, reconnection
// after a Redis restart, and two HTTP servers sharing one Redis store (keys uploaded to one serve
// computations on the other). Skipped when /usr/bin/redis-server is absent.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "blindml/deploy/deploy.h"
#include "blindml/serve/http_client.h"
#include "blindml/serve/http_server.h"
#include "blindml/serve/key_store.h"
#include "key_store_contract.h"
#include "model_data.h"
#include "base/temp_dir.h"

namespace blindml::serve {
namespace {

namespace fs = std::filesystem;
using model::testing::DataSet;

constexpr const char* kRedisServer = "/usr/bin/redis-server";

// A free loopback port: bound to port 0, read back, released (the tiny race with other processes
// is acceptable in a test).
int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    if (fd >= 0) ::close(fd);
    return -1;
  }
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// A direct hiredis connection, for the test's own commands (FLUSHALL, tampering with values).
struct Direct {
  redisContext* c = nullptr;
  explicit Direct(int port) {
    timeval tv{1, 0};
    c = redisConnectWithTimeout("127.0.0.1", port, tv);
  }
  ~Direct() {
    if (c) redisFree(c);
  }
  bool ok() const { return c && !c->err; }
  // Runs a command; true when it got a non-error reply.
  bool run(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (const auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    auto* r = static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()));
    const bool good = r && r->type != REDIS_REPLY_ERROR;
    if (r) freeReplyObject(r);
    return good;
  }
};

// redis-server as a child process on a loopback port, without persistence.
class RedisProcess {
 public:
  explicit RedisProcess(int port) : port_(port) {}
  ~RedisProcess() { stop(); }

  // Starts it and waits until it answers PING (10 s at most).
  bool start() {
    const std::string port = std::to_string(port_);
    std::vector<std::string> args = {kRedisServer, "--port", port, "--bind", "127.0.0.1", "--save", "",
                                     "--appendonly", "no", "--daemonize", "no", "--dir",
                                     fs::temp_directory_path().string()};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ < 0) return false;
    if (pid_ == 0) {
      // The child: only async-signal-safe calls until exec.
      int devnull = ::open("/dev/null", O_WRONLY);
      if (devnull >= 0) {
        ::dup2(devnull, 1);
        ::dup2(devnull, 2);
      }
      ::execv(kRedisServer, argv.data());
      ::_exit(127);
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      Direct d(port_);
      if (d.ok() && d.run({"PING"})) return true;
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 100; ++i) {
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  std::string url(int db = 0) const { return "redis://127.0.0.1:" + std::to_string(port_) + "/" + std::to_string(db); }

 private:
  int port_;
  pid_t pid_ = -1;
};

class RedisKeyStoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (::access(kRedisServer, X_OK) != 0) return;
    redis_ = new RedisProcess(free_port());
    if (!redis_->start()) {
      delete redis_;
      redis_ = nullptr;
      start_failed_ = true;
    }
  }
  static void TearDownTestSuite() {
    delete redis_;  // kill + waitpid
    redis_ = nullptr;
  }
  void SetUp() override {
    if (::access(kRedisServer, X_OK) != 0) GTEST_SKIP() << kRedisServer << " is absent (Debian package redis-server)";
    ASSERT_FALSE(start_failed_) << "could not start " << kRedisServer;
    ASSERT_NE(redis_, nullptr);
    Direct d(redis_->port());
    ASSERT_TRUE(d.ok());
    ASSERT_TRUE(d.run({"FLUSHALL"}));
  }
  std::unique_ptr<KeyStore> open(int db = 0, uint32_t timeout_ms = 2000) {
    auto store = open_redis_key_store(redis_->url(db), timeout_ms);
    EXPECT_TRUE(store.ok()) << store.status().to_string();
    return store.ok() ? std::move(store).value() : nullptr;
  }

  static RedisProcess* redis_;
  static bool start_failed_;
};
RedisProcess* RedisKeyStoreTest::redis_ = nullptr;
bool RedisKeyStoreTest::start_failed_ = false;

TEST_F(RedisKeyStoreTest, PutGetRemoveStats) {
  auto store = open();
  ASSERT_NE(store, nullptr);
  EXPECT_NE(store->describe().find("Redis store at redis://127.0.0.1:"), std::string::npos) << store->describe();
  blindml::serve::testing::expect_key_store_contract(*store);
}

TEST_F(RedisKeyStoreTest, CorruptedAndTruncatedValuesAreRefused) {
  auto store = open();
  ASSERT_NE(store, nullptr);
  const std::string uid = new_uid().value();
  ASSERT_TRUE(store->put(uid, std::vector<uint8_t>(1000, 7)).ok());
  const std::string key = "blindml:key:" + uid;
  Direct d(redis_->port());
  ASSERT_TRUE(d.run({"SETRANGE", key, "548", std::string(1, '\x08')}));  // a byte of the keys
  EXPECT_EQ(store->get(uid, 1 << 20).status().code(), StatusCode::kCorrupted);
  ASSERT_TRUE(store->put(uid, std::vector<uint8_t>(1000, 7)).ok());
  ASSERT_TRUE(d.run({"SET", key, std::string(600, '\x07')}));  // wrong magic
  EXPECT_EQ(store->get(uid, 1 << 20).status().code(), StatusCode::kCorrupted);
  ASSERT_TRUE(store->put(uid, std::vector<uint8_t>(1000, 7)).ok());
  {
    // Truncated: the first 600 bytes of a valid value.
    auto* r = static_cast<redisReply*>(redisCommand(d.c, "GETRANGE %s 0 599", key.c_str()));
    ASSERT_NE(r, nullptr);
    const std::string head(r->str, r->len);
    freeReplyObject(r);
    ASSERT_TRUE(d.run({"SET", key, head}));
  }
  EXPECT_EQ(store->get(uid, 1 << 20).status().code(), StatusCode::kCorrupted);
  ASSERT_TRUE(d.run({"SET", key, "short"}));
  EXPECT_EQ(store->get(uid, 1 << 20).status().code(), StatusCode::kCorrupted);
}

TEST_F(RedisKeyStoreTest, DatabasesAreSeparate) {
  auto zero = open(0);
  auto one = open(1);
  ASSERT_NE(zero, nullptr);
  ASSERT_NE(one, nullptr);
  const std::string uid = new_uid().value();
  ASSERT_TRUE(one->put(uid, std::vector<uint8_t>{1}).ok());
  EXPECT_TRUE(one->get(uid, 10).ok());
  EXPECT_EQ(zero->get(uid, 10).status().code(), StatusCode::kNotFound);
}

TEST_F(RedisKeyStoreTest, BadUrlsAndAnUnreachableServerAreClearErrors) {
  for (const char* url : {"http://127.0.0.1:6379", "redis://", "redis://host:notaport", "redis://host:70000",
                          "redis://host:6379/x"}) {
    auto s = open_redis_key_store(url);
    ASSERT_FALSE(s.ok()) << url;
    EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument) << url << ": " << s.status().to_string();
  }
  const int closed = free_port();
  auto s = open_redis_key_store("redis://127.0.0.1:" + std::to_string(closed), 1000);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kIoError);
  EXPECT_NE(s.status().message().find("cannot connect to Redis at redis://127.0.0.1:" + std::to_string(closed)),
            std::string::npos)
      << s.status().message();
}

TEST_F(RedisKeyStoreTest, ReconnectsAfterARedisRestart) {
  auto store = open();
  ASSERT_NE(store, nullptr);
  const std::string uid = new_uid().value();
  ASSERT_TRUE(store->put(uid, std::vector<uint8_t>{1, 2}).ok());
  redis_->stop();
  auto down = store->get(uid, 10);
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.status().code(), StatusCode::kIoError) << down.status().to_string();
  EXPECT_FALSE(store->stats().ok());  // what /ready reports
  ASSERT_TRUE(redis_->start());
  // No persistence: the restarted Redis is empty, but the store talks to it again.
  EXPECT_EQ(store->get(uid, 10).status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(store->put(uid, std::vector<uint8_t>{3}).ok());
  EXPECT_EQ(store->get(uid, 10).value(), std::vector<uint8_t>{3});
}

TEST_F(RedisKeyStoreTest, ManyThreadsShareOneStore) {
  auto store = open();
  ASSERT_NE(store, nullptr);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        const std::string uid = new_uid().value();
        const std::vector<uint8_t> keys(static_cast<size_t>(10 + t * 100 + i), static_cast<uint8_t>(i));
        if (!store->put(uid, keys).ok()) ++failures;
        auto got = store->get(uid, 1 << 20);
        if (!got.ok() || *got != keys) ++failures;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(store->stats().value().keys, 100u);
}

// ---------------------------------------------------------------------------------------------
// Two HTTP servers (replicas) sharing one Redis store.

ThreadPool& pool() {
  static ThreadPool p(2);
  return p;
}

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

TEST_F(RedisKeyStoreTest, TwoHttpServersShareOneStore) {
  const std::string name = "logistic_regression_breast_cancer";
  DataSet train, test;
  ASSERT_TRUE(model::testing::load_split("breast_cancer", "train", train));
  ASSERT_TRUE(model::testing::load_split("breast_cancer", "test", test));
  model::CompileOptions compile;
  compile.kind = model::ModelKind::kClassifier;
  auto dev = deploy::Dev::compile(model::testing::data_dir() + "/models/" + name + ".onnx", train.features, compile);
  ASSERT_TRUE(dev.ok()) << dev.status().to_string();
  const std::string dir = blindml::testing::make_temp_dir("blindml_redis_test");
  struct Cleanup {
    std::string dir;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  } cleanup{dir};
  ASSERT_TRUE(dev->save(dir).ok());
  const auto client_zip = read_bytes(dir + "/client.zip");

  auto start = [&]() {
    auto server = deploy::Server::load(dir + "/server.zip");
    EXPECT_TRUE(server.ok()) << server.status().to_string();
    HttpServerOptions options;
    options.host = "127.0.0.1";
    options.port = 0;
    options.client_zip = client_zip;
    options.threads = 2;
    auto http = HttpServer::create(std::move(server).value(), open(), options);
    EXPECT_TRUE(http.ok()) << http.status().to_string();
    auto out = std::make_unique<HttpServer>(std::move(http).value());
    Status s = out->start();
    EXPECT_TRUE(s.ok()) << s.to_string();
    return out;
  };
  auto a = start();
  auto b = start();
  auto http_a = HttpClient::create("http://127.0.0.1:" + std::to_string(a->port()), 120).value();
  auto http_b = HttpClient::create("http://127.0.0.1:" + std::to_string(b->port()), 120).value();

  auto client = deploy::Client::load_bytes(client_zip).value();
  ASSERT_TRUE(client.generate_keys(&pool()).ok());
  const auto keys = client.evaluation_keys().value();
  auto uid = http_a.add_key(keys);
  ASSERT_TRUE(uid.ok()) << uid.status().to_string();
  const auto enc = client.encrypt({test.features[0], test.features[1], test.features[2]}).value();

  auto on_b = http_b.compute(*uid, enc);  // keys uploaded to A, computed by B
  ASSERT_TRUE(on_b.ok()) << on_b.status().to_string();
  auto on_a = http_a.compute(*uid, enc);
  ASSERT_TRUE(on_a.ok()) << on_a.status().to_string();
  EXPECT_EQ(*on_b, *on_a);
  auto local = deploy::Server::load(dir + "/server.zip").value();
  auto want = local.run(enc, keys, pool());
  ASSERT_TRUE(want.ok()) << want.status().to_string();
  EXPECT_EQ(*on_b, *want);
  EXPECT_EQ(client.decrypt(*on_b).value().size(), 3u);

  auto metrics = http_b.request("GET", "/metrics");
  ASSERT_TRUE(metrics.ok());
  EXPECT_NE(metrics->body.find("blindml_key_store_keys 1"), std::string::npos) << metrics->body;
  auto ready = http_b.request("GET", "/ready");
  ASSERT_TRUE(ready.ok());
  EXPECT_EQ(ready->status, 200) << ready->body;

  // Deleted through B: gone from the store, so a fresh lookup on B is a 404.
  EXPECT_TRUE(http_b.delete_key(*uid).ok());
  auto after = http_b.compute(*uid, enc);
  ASSERT_FALSE(after.ok());
  EXPECT_EQ(after.status().code(), StatusCode::kNotFound) << after.status().to_string();
  a->stop();
  b->stop();
}


TEST_F(RedisKeyStoreTest, AStoppedRedisFailsFastAndEverythingWorksAfterItResumes) {
  // SIGSTOP: Redis accepts connections (the kernel does) but answers nothing, the way a hung or
  // swapped-out Redis behaves. /health stays instant, /ready says 503, a computation that needs
  // the store fails fast with 503, a cached client keeps being served; after SIGCONT, all works.
  const std::string name = "logistic_regression_breast_cancer";
  DataSet train, test;
  ASSERT_TRUE(model::testing::load_split("breast_cancer", "train", train));
  ASSERT_TRUE(model::testing::load_split("breast_cancer", "test", test));
  model::CompileOptions compile;
  compile.kind = model::ModelKind::kClassifier;
  auto dev = deploy::Dev::compile(model::testing::data_dir() + "/models/" + name + ".onnx", train.features, compile);
  ASSERT_TRUE(dev.ok()) << dev.status().to_string();
  auto client_zip = dev->client_zip().value();
  HttpServerOptions options;
  options.host = "127.0.0.1";
  options.port = 0;
  options.threads = 1;
  auto http = HttpServer::create(deploy::Server::load_bytes(dev->server_zip().value()).value(), open(0, 300), options);
  ASSERT_TRUE(http.ok()) << http.status().to_string();
  ASSERT_TRUE(http->start().ok());
  const std::string url = "http://127.0.0.1:" + std::to_string(http->port());
  auto c = HttpClient::create(url, 30).value();
  auto cached = deploy::Client::load_bytes(client_zip).value();
  ASSERT_TRUE(cached.generate_keys(&pool()).ok());
  const std::string cached_uid = c.add_key(cached.evaluation_keys().value()).value();
  // Keys this server has never seen: written by another replica (directly into Redis).
  auto other = deploy::Client::load_bytes(client_zip).value();
  ASSERT_TRUE(other.generate_keys(&pool()).ok());
  const std::string other_uid = new_uid().value();
  ASSERT_TRUE(open()->put(other_uid, other.evaluation_keys().value()).ok());
  const auto other_input = other.encrypt({test.features[1]}).value();

  using Clock = std::chrono::steady_clock;
  auto timed = [&](const std::string& method, const std::string& path, const std::string& body = "") {
    const auto t = Clock::now();
    auto r = c.request(method, path, body, body.empty() ? "" : "application/octet-stream");
    return std::make_pair(r.ok() ? r->status : 0, std::chrono::duration<double>(Clock::now() - t).count());
  };
  ASSERT_EQ(::kill(redis_->pid(), SIGSTOP), 0);
  struct Resume {
    pid_t pid;
    ~Resume() { ::kill(pid, SIGCONT); }
  } resume{redis_->pid()};
  auto [health, health_s] = timed("GET", "/health");
  EXPECT_EQ(health, 200);
  EXPECT_LT(health_s, 0.2);
  auto [ready, ready_s] = timed("GET", "/ready");
  EXPECT_EQ(ready, 503);
  EXPECT_LT(ready_s, 1.5);
  const std::string input(other_input.begin(), other_input.end());
  auto [uncached, uncached_s] = timed("POST", "/compute?uid=" + other_uid, input);
  EXPECT_EQ(uncached, 503);
  EXPECT_LT(uncached_s, 1.5);
  for (int i = 0; i < 3; ++i) {  // fail-fast: no timeout to wait out again
    auto [again, again_s] = timed("POST", "/compute?uid=" + other_uid, input);
    EXPECT_EQ(again, 503);
    EXPECT_LT(again_s, 1.0);
  }
  auto served = c.compute(cached_uid, cached.encrypt({test.features[0]}).value());
  EXPECT_TRUE(served.ok()) << served.status().to_string();
  auto [health2, health2_s] = timed("GET", "/health");
  EXPECT_EQ(health2, 200);
  EXPECT_LT(health2_s, 0.2);

  ASSERT_EQ(::kill(redis_->pid(), SIGCONT), 0);
  int ready_after = 0;
  for (int i = 0; i < 60 && ready_after != 200; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ready_after = timed("GET", "/ready").first;
  }
  EXPECT_EQ(ready_after, 200);
  auto out = c.compute(other_uid, other_input);
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  EXPECT_EQ(other.decrypt(*out).value().size(), 1u);
  http->stop();
}

}  // namespace
}  // namespace blindml::serve
