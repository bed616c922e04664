// The HTTP inference server (design.md §5, docs/server.md): one compiled model (deploy::Server),
// a key store of clients' evaluation keys and a cache of their expanded form, served over HTTP
// with Concrete ML's routes (GET /get_client, POST /add_key, POST /compute) and health, readiness,
// model info, key deletion and Prometheus metrics.
//
// Robustness (docs/server.md, "Limits and defenses"): sockets are served asynchronously by a few
// io threads, so slow clients cost memory, not threads, and GET /health is answered on the io
// threads whatever the workers do; every request has a header deadline and a whole-request
// deadline (408), a header size and line-count limit (431), a body limit per route (413) and a
// share of one server-wide body budget (503); at most max_connections connections are served
// (a few more may ask /health; beyond those a connection is closed at once); TCP_NODELAY and
// keep-alive on every connection. Key parsing, computations and key-store calls run on bounded
// worker pools (compute_slots + queue threads for add_key and compute; two for /ready, /metrics
// and DELETE) and a request that finds its pool full gets 503 at once. Optional per-server
// quotas on stored keys (507). Every error is a JSON body {"error": "..."} without server paths;
// an unexpected failure inside a handler is a 500 and the server keeps serving. stop() stops
// accepting connections and returns once the requests in flight are answered.
//
// Only this part sees HTTP types: the HTTP library stays behind the pimpl.
//
// Thread safety: start(), stop() and the destructor from one controlling thread; the request
// handlers run on the server's own threads and share only thread-safe state.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "blindml/base/status.h"
#include "blindml/deploy/deploy.h"
#include "blindml/serve/key_store.h"

namespace blindml::serve {

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 8000;                                    // 0: a free port chosen by the OS (see port())
  std::vector<uint8_t> client_zip;                    // served by GET /get_client; empty: 404
  uint64_t max_key_bytes = uint64_t{1} << 30;         // POST /add_key bodies
  uint64_t max_input_bytes = uint64_t{256} << 20;     // POST /compute bodies
  uint64_t max_buffered_bytes = 0;                    // request bodies in memory at once, all connections
                                                      // together, before 503 (0: twice the larger limit)
  uint32_t compute_slots = 1;                         // computations (and key expansions) at once
  uint32_t threads = 0;                               // threads of each slot's pool (0: one per core)
  uint32_t queue = 16;                                // requests waiting for a slot before 503
  uint32_t io_threads = 2;                            // threads running the sockets (0: 2)
  uint32_t max_connections = 256;                     // connections served at once (more: 503 or closed)
  uint64_t max_header_bytes = 16 * 1024;              // request line + headers of one request (431)
  uint32_t max_header_fields = 100;                   // header lines of one request (431)
  uint32_t header_timeout_s = 10;                     // headers complete within (keep-alive idle included; 408)
  uint32_t request_timeout_s = 300;                   // headers and body complete within (408)
  uint32_t write_timeout_s = 60;                      // an answer written within (else the connection is closed)
  uint64_t max_stored_keys = 0;                       // clients' keys in the store before add_key gets 507 (0: no limit)
  uint64_t max_stored_bytes = 0;                      // bytes of keys in the store, likewise (0: no limit)
  uint64_t cache_bytes = uint64_t{2} << 30;           // budget of the expanded-keys cache
  std::string bearer_token;                           // non-empty: required by add_key/compute/DELETE
  // TLS (HTTPS): both PEM files, or neither (plain HTTP). The key file must not be encrypted.
  std::string tls_cert_file;                          // certificate chain, server's certificate first
  std::string tls_key_file;                           // its private key
};

class HttpServer {
 public:
  // Checks the options; nothing is bound yet.
  static Result<HttpServer> create(deploy::Server server, std::unique_ptr<KeyStore> store,
                                   HttpServerOptions options);
  HttpServer(HttpServer&&) noexcept;
  HttpServer& operator=(HttpServer&&) noexcept;
  ~HttpServer();  // stop()

  // Binds host:port and serves on background threads; returns once connections are accepted.
  Status start();
  // The bound port (after start()).
  int port() const;
  // Stops accepting, finishes the requests in flight, returns when the server threads are done.
  void stop();

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Graceful shutdown on SIGINT/SIGTERM for a process that serves: block_termination_signals() must
// run before any thread starts (the threads inherit the mask), then wait_for_termination_signal()
// returns the signal's number when one arrives.
void block_termination_signals();
int wait_for_termination_signal();

}  // namespace blindml::serve
