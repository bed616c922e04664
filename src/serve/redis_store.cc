// The Redis key store (key_store.h; docs/server.md, "Redis key store"): libhiredis, one connection
// behind a mutex, reconnected when a command fails on it.
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
  RedisKeyStore(RedisAddress address, uint32_t timeout_ms) : address_(std::move(address)), timeout_ms_(timeout_ms) {}

  std::string describe() const override { return "Redis store at " + address_.display; }

  Status connect() {
    std::lock_guard lock(mu_);
    return connect_locked();
  }

 private:
  // Under mu_: a connected, authenticated context on the right database.
  Status connect_locked() const {
    ctx_.reset();
    timeval tv{};
    tv.tv_sec = timeout_ms_ / 1000;
    tv.tv_usec = static_cast<suseconds_t>((timeout_ms_ % 1000) * 1000);
    Context c(redisConnectWithTimeout(address_.host.c_str(), address_.port, tv));
    if (!c) return io_error("cannot connect to Redis at " + address_.display + ": out of memory");
    if (c->err) return io_error("cannot connect to Redis at " + address_.display + ": " + c->errstr);
    if (redisSetTimeout(c.get(), tv) != REDIS_OK)
      return io_error("cannot set a timeout on the Redis connection to " + address_.display);
    redisEnableKeepAlive(c.get());
    auto check = [&](Reply r, const char* what) -> Status {
      if (!r) return io_error("Redis at " + address_.display + " did not answer " + what + ": " + c->errstr);
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
    ctx_ = std::move(c);
    return {};
  }

  // Runs one command (redisCommandArgv) under mu_. A failure of the connection (not an error
  // reply) drops it, reconnects and retries the command once.
  Result<Reply> command(const std::vector<std::string_view>& args) const {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (const auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    std::string last_error;
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (!ctx_ || ctx_->err) {
        Status s = connect_locked();
        if (!s.ok()) return s;
      }
      Reply r(static_cast<redisReply*>(
          redisCommandArgv(ctx_.get(), static_cast<int>(argv.size()), argv.data(), lens.data())));
      if (r) {
        if (r->type == REDIS_REPLY_ERROR)
          return io_error("Redis at " + address_.display + ": " + std::string(args[0]) + ": " + reply_text(r.get()));
        return r;
      }
      last_error = ctx_->errstr;
      ctx_.reset();  // broken: reconnect on the next attempt
    }
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
    std::lock_guard lock(mu_);
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
    std::lock_guard lock(mu_);
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
    std::lock_guard lock(mu_);
    const std::string k = key(uid);
    auto r = command({"EVAL", kRemoveScript, "3", k, kSizesKey, kBytesKey, uid});
    if (!r.ok()) return io_error("key store: cannot remove the keys of uid " + std::string(uid) + ": " +
                                 r.status().message());
    if ((*r)->type == REDIS_REPLY_INTEGER && (*r)->integer == 0)
      return not_found("no keys are stored under uid " + std::string(uid));
    return {};
  }

  Result<KeyStoreStats> stats() const override {
    std::lock_guard lock(mu_);
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
  mutable Context ctx_;  // null or broken: reconnect before the next command
};

}  // namespace

Result<std::unique_ptr<KeyStore>> open_redis_key_store(const std::string& url, uint32_t timeout_ms) {
  BLINDML_ASSIGN_OR_RETURN(RedisAddress address, parse_redis_url(url));
  if (timeout_ms == 0) return invalid_argument("the Redis timeout must be positive");
  std::signal(SIGPIPE, SIG_IGN);
  auto store = std::make_unique<RedisKeyStore>(std::move(address), timeout_ms);
  BLINDML_RETURN_IF_ERROR(store->connect());
  return std::unique_ptr<KeyStore>(std::move(store));
}

}  // namespace blindml::serve
