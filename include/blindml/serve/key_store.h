// Evaluation-key stores (design.md §5): where the server keeps each client's evaluation keys, under
// a client id (uid) that the server draws at upload time: 128 random bits written as 32 lowercase
// hex digits. A uid is the only handle a client has on its keys; it is unguessable, not secret in
// the cryptographic sense (the keys are public), but it keeps clients from using or deleting each
// other's keys.
//
// A store holds the bytes exactly as the client uploaded them (the evaluation-keys exchange file,
// docs/formats.md "Exchange files"); the server validates them before storing and deserialises
// them again after a restart. Stores never interpret the bytes.
//
// The file-system store (the embedded default) keeps one file per uid in a directory, written
// atomically (temporary file, fsync, rename, fsync of the directory) and framed with a SHA-256
// checksum verified on every read (docs/server.md, "Key store files"). It survives restarts, and
// several server processes on one machine may share a directory.
//
// The Redis store (libhiredis) lets several replicas on several machines share clients: each uid's
// keys are one Redis string under `blindml:key:<uid>`, framed exactly like a key file (magic,
// version, length, SHA-256; verified on every read), and two bookkeeping entries
// (`blindml:key-sizes`, a hash uid -> key bytes, and `blindml:key-bytes`, their sum) kept in step
// by Lua scripts so that stats() is O(1). A small pool of connections with per-command timeouts;
// a command that fails on a connection that Redis closed reconnects and is retried once.
//
// Thread safety: every KeyStore method may be called from many threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "blindml/base/status.h"

namespace blindml::serve {

inline constexpr size_t kUidHexDigits = 32;  // 128 bits

// A fresh uid from the operating system's CSPRNG (getrandom).
Result<std::string> new_uid();
// True for exactly 32 lowercase hex digits: checked before a uid reaches a store.
bool is_valid_uid(std::string_view uid);

struct KeyStoreStats {
  uint64_t keys = 0;   // stored uids
  uint64_t bytes = 0;  // their keys' bytes (as uploaded)
};

class KeyStore {
 public:
  virtual ~KeyStore() = default;

  // "file store at /var/lib/blindml/keys": for logs and /info.
  virtual std::string describe() const = 0;
  // Stores the keys under uid (replacing what was there). The uid must be valid.
  virtual Status put(std::string_view uid, std::span<const uint8_t> keys) = 0;
  // not_found when the uid has no keys; corrupted when the stored bytes fail their checksum.
  // max_bytes: a stored blob larger than this is refused (resource_exhausted) before reading.
  virtual Result<std::vector<uint8_t>> get(std::string_view uid, uint64_t max_bytes) const = 0;
  // not_found when the uid has no keys.
  virtual Status remove(std::string_view uid) = 0;
  virtual Result<KeyStoreStats> stats() const = 0;
  // Whether the store can take writes now (GET /ready): ok, or an error a person can act on,
  // without file paths (it reaches clients). Never called by GET /health.
  virtual Status ready() const { return stats().status(); }
};

// Opens (creating it, mode 0700, when missing) a file-system store in dir, and removes the
// temporary files that writers which died left behind (their process is gone, or they are older
// than an hour). ready() fails while the directory's filesystem has less than min_free_bytes
// free (or no free inode). A write that finds the disk full is resource_exhausted.
inline constexpr uint64_t kDefaultMinFreeBytes = uint64_t{64} << 20;
Result<std::unique_ptr<KeyStore>> open_file_key_store(const std::string& dir,
                                                      uint64_t min_free_bytes = kDefaultMinFreeBytes);

// Connects to Redis at url, "redis://[:password@]host[:port][/db]" (port 6379, db 0 by default),
// and checks that it answers (PING); an unreachable server is an io_error naming the address.
// timeout_ms bounds the connection and every command (connect, read and write timeouts on each
// connection); up to `connections` commands run at once, each on its own connection; a caller
// that finds them all busy for timeout_ms gets io_error. After a command times out, commands
// fail at once (io_error) for the next second instead of each waiting out its timeout. Ignores
// SIGPIPE for the process (a dead Redis connection must fail a write, not kill the server).
Result<std::unique_ptr<KeyStore>> open_redis_key_store(const std::string& url, uint32_t timeout_ms = 2000,
                                                       uint32_t connections = 4);

}  // namespace blindml::serve
