// The Redis key store (key_store.h; docs/server.md, "Redis key store"): libhiredis, a small pool of
// connections with connect, read and write timeouts, a one-second fail-fast period after a
// timeout, and one retry on a fresh connection when Redis closed the old one.
//
// Layout in Redis (all under the `blindml:` prefix):
//   blindml:key:<uid>   a string: the keys framed as in a key file (internal/key_framing.h)
//   blindml:key-sizes   a hash uid -> length of its keys (bytes)
//   blindml:key-bytes   the sum of that hash's values
// put() and remove() run as Lua scripts, so the three stay consistent even with several replicas
// writing at once; stats() reads the last two only.
#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <charconv>
#include <csignal>
#include <cstring>
#include <mutex>
#include <string_view>
#include <vector>

#include "blindml/serve/key_store.h"
#include "internal/key_framing.h"

namespace blindml::serve {
namespace {

using internal::kKeyHeaderBytes;
constexpr const char* kKeyPrefix = "blindml:key:";
constexpr const char* kSizesKey = "blindml:key-sizes";
constexpr const char* kBytesKey = "blindml:key-bytes";

// KEYS[1] the uid's key, KEYS[2] sizes hash, KEYS[3] bytes counter; ARGV[1] uid, ARGV[2] blob,
// ARGV[3] length of the keys.
constexpr const char* kPutScript =
    "local old = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0') "
    "redis.call('SET', KEYS[1], ARGV[2]) "
    "redis.call('HSET', KEYS[2], ARGV[1], ARGV[3]) "
    "redis.call('INCRBY', KEYS[3], tonumber(ARGV[3]) - old) "
    "return 1";
// Same keys; ARGV[1] uid. Returns 1 when keys were deleted, 0 when none were stored.
constexpr const char* kRemoveScript =
    "local n = redis.call('DEL', KEYS[1]) "
    "local old = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0') "
    "redis.call('HDEL', KEYS[2], ARGV[1]) "
    "if old ~= 0 then redis.call('DECRBY', KEYS[3], old) end "
    "return n";

struct ReplyDeleter {
  void operator()(redisReply* r) const {
    if (r) freeReplyObject(r);
  }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

struct ContextDeleter {
  void operator()(redisContext* c) const {
    if (c) redisFree(c);
  }
};
using Context = std::unique_ptr<redisContext, ContextDeleter>;

struct RedisAddress {
  std::string host;
  int port = 6379;
  int db = 0;
  std::string password;
  std::string display;  // the URL without the password, for messages
};

Result<RedisAddress> parse_redis_url(const std::string& url) {
  const std::string scheme = "redis://";
  auto bad = [&](const std::string& why) {
    return invalid_argument("not a Redis URL (redis://[:password@]host[:port][/db]): \"" + url + "\": " + why);
  };
  if (!url.starts_with(scheme)) return bad("it must start with redis://");
  std::string rest = url.substr(scheme.size());
  RedisAddress a;
  if (auto at = rest.rfind('@'); at != std::string::npos) {
    std::string userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    const auto colon = userinfo.find(':');
    a.password = colon == std::string::npos ? userinfo : userinfo.substr(colon + 1);
  }
  std::string db_text;
  if (auto slash = rest.find('/'); slash != std::string::npos) {
    db_text = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
  }
  std::string port_text;
  if (auto colon = rest.rfind(':'); colon != std::string::npos) {
    port_text = rest.substr(colon + 1);
    rest = rest.substr(0, colon);
  }
  if (rest.empty()) return bad("no host");
  a.host = rest;
  auto parse_int = [](const std::string& text, int lo, int hi, int& out) {
    if (text.empty()) return false;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc() && p == text.data() + text.size() && out >= lo && out <= hi;
  };
  if (!port_text.empty() && !parse_int(port_text, 1, 65535, a.port)) return bad("bad port \"" + port_text + "\"");
  if (!db_text.empty() && !parse_int(db_text, 0, 1 << 20, a.db)) return bad("bad database \"" + db_text + "\"");
  a.display = "redis://" + a.host + ":" + std::to_string(a.port) + "/" + std::to_string(a.db);
  return a;
}

std::string reply_text(const redisReply* r) {
  return r && r->str ? std::string(r->str, r->len) : std::string();
}

class RedisKeyStore final : public KeyStore {
 public:
  RedisKeyStore(RedisAddress address, uint32_t timeout_ms, uint32_t connections)
      : address_(std::move(address)), timeout_ms_(timeout_ms), slots_(connections) {}

  std::string describe() const override { return "Redis store at " + address_.display; }

  Status connect() {
    auto c = connect_new();
    if (!c.ok()) return c.status();
    std::lock_guard lock(mu_);
    slots_[0].ctx = std::move(c).value();
    return {};
  }

  Status ready() const override {
    BLINDML_ASSIGN_OR_RETURN(Reply r, command({"PING"}));
    (void)r;
    return {};
  }

 private:
  struct Slot {
    Context ctx;  // null or broken: reconnect before the next command
    bool busy = false;
  };

  // A connected, authenticated context on the right database, with the timeouts set.
  Result<Context> connect_new() const {
    timeval tv{};
    tv.tv_sec = timeout_ms_ / 1000;
    tv.tv_usec = static_cast<suseconds_t>((timeout_ms_ % 1000) * 1000);
    Context c(redisConnectWithTimeout(address_.host.c_str(), address_.port, tv));
    if (!c) return io_error("cannot connect to Redis at " + address_.display + ": out of memory");
    if (c->err) {
      if (timed_out(c.get())) trip();
      return io_error("cannot connect to Redis at " + address_.display + ": " + c->errstr);
    }
    if (redisSetTimeout(c.get(), tv) != REDIS_OK)
      return io_error("cannot set a timeout on the Redis connection to " + address_.display);
    redisEnableKeepAlive(c.get());
    auto check = [&](Reply r, const char* what) -> Status {
      if (!r) {
        if (timed_out(c.get())) trip();
        return io_error("Redis at " + address_.display + " did not answer " + what + ": " + c->errstr);
      }
      if (r->type == REDIS_REPLY_ERROR)
        return io_error("Redis at " + address_.display + " refused " + what + ": " + reply_text(r.get()));
      return {};
    };
    if (!address_.password.empty())
      BLINDML_RETURN_IF_ERROR(check(Reply(static_cast<redisReply*>(redisCommand(c.get(), "AUTH %b",
                                                                                  address_.password.data(),
                                                                                  address_.password.size()))),
                                    "AUTH"));
    if (address_.db != 0)
      BLINDML_RETURN_IF_ERROR(
          check(Reply(static_cast<redisReply*>(redisCommand(c.get(), "SELECT %d", address_.db))), "SELECT"));
    BLINDML_RETURN_IF_ERROR(check(Reply(static_cast<redisReply*>(redisCommand(c.get(), "PING"))), "PING"));
    return c;
  }

  // hiredis reports a read or write timeout as an I/O error with errno EAGAIN.
  static bool timed_out(const redisContext* c) {
    return c->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ETIMEDOUT ||
                                      errno == EINPROGRESS);
  }
  // Redis closed the connection (a restart, an idle timeout): worth one retry on a new one.
  static bool closed_by_peer(const redisContext* c) {
    return c->err == REDIS_ERR_EOF || (c->err == REDIS_ERR_IO && (errno == ECONNRESET || errno == EPIPE));
  }

  // After a timeout, every command fails at once for kCooldown: a hung Redis costs one timeout
  // per second, not one per request.
  static constexpr auto kCooldown = std::chrono::seconds(1);
  void trip() const {
    down_until_.store((std::chrono::steady_clock::now() + kCooldown).time_since_epoch().count());
  }
  bool down() const { return std::chrono::steady_clock::now().time_since_epoch().count() < down_until_.load(); }

  // A free connection slot (its index), waiting at most the timeout for one.
  Result<size_t> acquire() const {
    std::unique_lock lock(mu_);
    const bool got = cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms_), [&] {
      for (const Slot& s : slots_)
        if (!s.busy) return true;
      return false;
    });
    if (!got)
      return io_error("Redis at " + address_.display + ": all " + std::to_string(slots_.size()) +
                      " connections stayed busy for " + std::to_string(timeout_ms_) + " ms");
    // A connected slot first.
    size_t pick = slots_.size();
    for (size_t i = 0; i < slots_.size(); ++i)
      if (!slots_[i].busy && (pick == slots_.size() || (slots_[i].ctx && !slots_[pick].ctx))) pick = i;
    slots_[pick].busy = true;
    return pick;
  }
  void release(size_t i, Context ctx) const {
    {
      std::lock_guard lock(mu_);
      slots_[i].ctx = std::move(ctx);
      slots_[i].busy = false;
    }
    cv_.notify_one();
  }

  // Runs one command (redisCommandArgv) on a pooled connection. A connection that Redis closed
  // is replaced and the command retried once; a timeout is not retried.
  Result<Reply> command(const std::vector<std::string_view>& args) const {
    if (down())
      return io_error("Redis at " + address_.display + " did not answer within " + std::to_string(timeout_ms_) +
                      " ms a moment ago; retry later");
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (const auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    BLINDML_ASSIGN_OR_RETURN(const size_t slot, acquire());
    Context ctx;
    {
      std::lock_guard lock(mu_);
      ctx = std::move(slots_[slot].ctx);
    }
    std::string last_error;
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (!ctx || ctx->err) {
        auto c = connect_new();
        if (!c.ok()) {
          release(slot, nullptr);
          return c.status();
        }
        ctx = std::move(c).value();
      }
      Reply r(static_cast<redisReply*>(
          redisCommandArgv(ctx.get(), static_cast<int>(argv.size()), argv.data(), lens.data())));
      if (r) {
        release(slot, std::move(ctx));
        if (r->type == REDIS_REPLY_ERROR)
          return io_error("Redis at " + address_.display + ": " + std::string(args[0]) + ": " + reply_text(r.get()));
        return r;
      }
      last_error = ctx->errstr;
      const bool timeout = timed_out(ctx.get());
      const bool retry = !timeout && closed_by_peer(ctx.get());
      ctx.reset();
      if (timeout) {
        trip();
        last_error = "no answer within " + std::to_string(timeout_ms_) + " ms";
      }
      if (!retry) break;
    }
    release(slot, nullptr);
    return io_error("Redis at " + address_.display + ": " + std::string(args[0]) + " failed: " + last_error);
  }

 public:

  Status put(std::string_view uid, std::span<const uint8_t> keys) override {
    if (!is_valid_uid(uid)) return invalid_argument("not a client id: \"" + std::string(uid) + "\"");
    const auto header = internal::key_header(keys);
    std::string blob;
    blob.reserve(kKeyHeaderBytes + keys.size());
    blob.append(reinterpret_cast<const char*>(header.data()), header.size());
    blob.append(reinterpret_cast<const char*>(keys.data()), keys.size());
    const std::string k = key(uid);
    const std::string length = std::to_string(keys.size());
    auto r = command({"EVAL", kPutScript, "3", k, kSizesKey, kBytesKey, uid, blob, length});
    if (!r.ok()) return io_error("key store: cannot store the keys of uid " + std::string(uid) + ": " +
                                 r.status().message());
    return {};
  }

  Result<std::vector<uint8_t>> get(std::string_view uid, uint64_t max_bytes) const override {
    if (!is_valid_uid(uid)) return invalid_argument("not a client id: \"" + std::string(uid) + "\"");
    const std::string k = key(uid);
    // The length first, so that an oversized blob is refused without transferring it.
    BLINDML_ASSIGN_OR_RETURN(Reply len, command({"STRLEN", k}));
    if (len->type != REDIS_REPLY_INTEGER) return io_error("Redis at " + address_.display + ": STRLEN: unexpected reply");
    if (len->integer == 0) return not_found("no keys are stored under uid " + std::string(uid));
    const uint64_t size = static_cast<uint64_t>(len->integer);
    if (size >= kKeyHeaderBytes && size - kKeyHeaderBytes > max_bytes)
      return resource_exhausted("key store: the keys under uid " + std::string(uid) + " are " +
                                std::to_string(size - kKeyHeaderBytes) + " bytes, over the limit of " +
                                std::to_string(max_bytes));
    BLINDML_ASSIGN_OR_RETURN(Reply value, command({"GET", k}));
    if (value->type == REDIS_REPLY_NIL) return not_found("no keys are stored under uid " + std::string(uid));
    if (value->type != REDIS_REPLY_STRING) return corrupted("key store: " + k + " is not a string");
    return decode(k, reinterpret_cast<const uint8_t*>(value->str), value->len, max_bytes, uid);
  }

  Status remove(std::string_view uid) override {
    if (!is_valid_uid(uid)) return invalid_argument("not a client id: \"" + std::string(uid) + "\"");
    const std::string k = key(uid);
    auto r = command({"EVAL", kRemoveScript, "3", k, kSizesKey, kBytesKey, uid});
    if (!r.ok()) return io_error("key store: cannot remove the keys of uid " + std::string(uid) + ": " +
                                 r.status().message());
    if ((*r)->type == REDIS_REPLY_INTEGER && (*r)->integer == 0)
      return not_found("no keys are stored under uid " + std::string(uid));
    return {};
  }

  Result<KeyStoreStats> stats() const override {
    BLINDML_ASSIGN_OR_RETURN(Reply n, command({"HLEN", kSizesKey}));
    BLINDML_ASSIGN_OR_RETURN(Reply bytes, command({"GET", kBytesKey}));
    KeyStoreStats out;
    if (n->type == REDIS_REPLY_INTEGER && n->integer > 0) out.keys = static_cast<uint64_t>(n->integer);
    if (bytes->type == REDIS_REPLY_STRING) {
      long long v = 0;
      std::from_chars(bytes->str, bytes->str + bytes->len, v);
      if (v > 0) out.bytes = static_cast<uint64_t>(v);
    }
    return out;
  }

 private:
  static std::string key(std::string_view uid) { return kKeyPrefix + std::string(uid); }

  static Result<std::vector<uint8_t>> decode(const std::string& k, const uint8_t* data, size_t size,
                                             uint64_t max_bytes, std::string_view uid) {
    if (size < kKeyHeaderBytes)
      return corrupted("key store: " + k + " is truncated (" + std::to_string(size) + " bytes)");
    const std::span<const uint8_t, kKeyHeaderBytes> header(data, kKeyHeaderBytes);
    BLINDML_ASSIGN_OR_RETURN(const uint64_t length, internal::check_key_header(header, size, max_bytes, k, uid));
    std::vector<uint8_t> keys(data + kKeyHeaderBytes, data + kKeyHeaderBytes + length);
    BLINDML_RETURN_IF_ERROR(internal::check_key_digest(header, keys, k));
    return keys;
  }

  RedisAddress address_;
  uint32_t timeout_ms_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  mutable std::vector<Slot> slots_;
  mutable std::atomic<int64_t> down_until_{0};  // steady_clock ticks
};

}  // namespace

Result<std::unique_ptr<KeyStore>> open_redis_key_store(const std::string& url, uint32_t timeout_ms,
                                                       uint32_t connections) {
  BLINDML_ASSIGN_OR_RETURN(RedisAddress address, parse_redis_url(url));
  if (timeout_ms == 0) return invalid_argument("the Redis timeout must be positive");
  if (connections == 0 || connections > 256) return invalid_argument("the Redis connection pool must have 1..256 connections");
  std::signal(SIGPIPE, SIG_IGN);
  auto store = std::make_unique<RedisKeyStore>(std::move(address), timeout_ms, connections);
  BLINDML_RETURN_IF_ERROR(store->connect());
  return std::unique_ptr<KeyStore>(std::move(store));
}

}  // namespace blindml::serve
