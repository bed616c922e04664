// `blindml serve SERVER.zip`: the HTTP inference server (docs/server.md) in the foreground until
// SIGINT or SIGTERM, which stop it gracefully (requests in flight are answered first).
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>

#include "blindml/deploy/deploy.h"
#include "blindml/serve/http_server.h"
#include "blindml/serve/key_store.h"
#include "commands.h"

namespace blindml::cli {
namespace {

Result<std::vector<uint8_t>> read_whole_file(const std::string& path, uint64_t max_bytes) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return io_error("cannot open " + path);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (f.bad()) return io_error("cannot read " + path);
  if (bytes.size() > max_bytes) return resource_exhausted(path + " is larger than " + std::to_string(max_bytes) + " bytes");
  return bytes;
}

Status check_serve(const Args& args) {
  if (args.has("keys") && args.has("redis"))
    return invalid_argument("--keys and --redis are alternatives: give one key store");
  if (args.has("tls-cert") != args.has("tls-key"))
    return invalid_argument("TLS needs both --tls-cert and --tls-key");
  if (args.get_uint("port", 8000) > 65535) return invalid_argument("--port " + args.get("port") + ": at most 65535");
  if (args.get_uint("threads", 0) > 4096) return invalid_argument("--threads " + args.get("threads") + ": at most 4096");
  if (args.has("slots") && args.get_uint("slots", 1) == 0) return invalid_argument("--slots must be at least 1");
  if (args.has("slots") && args.get_uint("slots", 1) > 256) return invalid_argument("--slots: at most 256");
  if (args.get_uint("queue", 16) > 100000) return invalid_argument("--queue: at most 100000");
  if (args.has("max-body") && args.get_uint64("max-body", 1) == 0) return invalid_argument("--max-body must be positive");
  if (args.has("max-key-body") && args.get_uint64("max-key-body", 1) == 0)
    return invalid_argument("--max-key-body must be positive");
  if (args.has("max-connections") && (args.get_uint("max-connections", 1) == 0 || args.get_uint("max-connections", 1) > 1000000))
    return invalid_argument("--max-connections: 1..1000000");
  if (args.has("max-header-bytes") &&
      (args.get_uint64("max-header-bytes", 1024) < 1024 || args.get_uint64("max-header-bytes", 1024) > (1u << 20)))
    return invalid_argument("--max-header-bytes: 1024..1048576");
  for (const char* t : {"header-timeout", "request-timeout"})
    if (args.has(t) && (args.get_uint(t, 1) == 0 || args.get_uint(t, 1) > 86400))
      return invalid_argument(std::string("--") + t + ": 1..86400 seconds");
  if (args.has("redis-timeout-ms") && (args.get_uint("redis-timeout-ms", 1) == 0 || args.get_uint("redis-timeout-ms", 1) > 600000))
    return invalid_argument("--redis-timeout-ms: 1..600000");
  return {};
}

Status run_serve(const Args& args) {
  serve::block_termination_signals();  // before any thread starts

  auto server = deploy::Server::load(args.positional);
  if (!server.ok()) return server.status();
  serve::HttpServerOptions options;
  options.host = args.get("host", "127.0.0.1");
  options.port = static_cast<int>(args.get_uint("port", 8000));
  options.threads = args.get_uint("threads", 0);
  options.compute_slots = args.get_uint("slots", 1);
  options.queue = args.get_uint("queue", 16);
  options.max_input_bytes = args.get_uint64("max-body", options.max_input_bytes);
  options.max_key_bytes = args.get_uint64("max-key-body", options.max_key_bytes);
  options.max_buffered_bytes = args.get_uint64("max-buffered", 0);
  options.cache_bytes = args.get_uint64("cache-bytes", options.cache_bytes);
  options.max_connections = args.get_uint("max-connections", options.max_connections);
  options.max_header_bytes = args.get_uint64("max-header-bytes", options.max_header_bytes);
  options.header_timeout_s = args.get_uint("header-timeout", options.header_timeout_s);
  options.request_timeout_s = args.get_uint("request-timeout", options.request_timeout_s);
  options.max_stored_keys = args.get_uint64("max-stored-keys", 0);
  options.max_stored_bytes = args.get_uint64("max-stored-bytes", 0);
  if (const char* token = std::getenv("BLINDML_SERVE_TOKEN"); token && *token) options.bearer_token = token;
  options.tls_cert_file = args.get("tls-cert", "");
  options.tls_key_file = args.get("tls-key", "");
  if (args.has("client")) {
    BLINDML_ASSIGN_OR_RETURN(options.client_zip, read_whole_file(args.get("client"), uint64_t{1} << 30));
    auto client = deploy::Client::load_bytes(options.client_zip);
    if (!client.ok()) return client.status();
    if (client->specs().model_id != server->model_id())
      return invalid_argument(args.get("client") + " and " + args.positional +
                              " belong to different models (compile them together)");
  }
  std::unique_ptr<serve::KeyStore> store;
  if (args.has("redis")) {
    BLINDML_ASSIGN_OR_RETURN(store, serve::open_redis_key_store(args.get("redis"), args.get_uint("redis-timeout-ms", 2000)));
  } else {
    BLINDML_ASSIGN_OR_RETURN(store, serve::open_file_key_store(args.get("keys", "blindml-keys"),
                                                               args.get_uint64("min-free-disk", serve::kDefaultMinFreeBytes)));
  }
  const std::string store_text = store->describe();
  BLINDML_ASSIGN_OR_RETURN(serve::HttpServer http,
                           serve::HttpServer::create(std::move(server).value(), std::move(store), options));
  BLINDML_RETURN_IF_ERROR(http.start());
  if (!args.quiet) {
    std::fprintf(stderr, "blindml: serving %s on %s://%s:%d (%s%s%s); Ctrl-C stops\n", args.positional.c_str(),
                 options.tls_cert_file.empty() ? "http" : "https", options.host.c_str(), http.port(), store_text.c_str(),
                 options.client_zip.empty() ? "" : ", client.zip at /get_client",
                 options.bearer_token.empty() ? "" : ", bearer token required");
    std::fflush(stderr);
  }
  const int sig = serve::wait_for_termination_signal();
  if (!args.quiet) std::fprintf(stderr, "blindml: signal %d: finishing the requests in flight\n", sig);
  http.stop();
  if (!args.quiet) std::fprintf(stderr, "blindml: stopped\n");
  return {};
}

OptionSpec opt(std::string name, ValueType type, std::string value_name, std::string help) {
  return {std::move(name), type, std::move(value_name), std::move(help), false, {}};
}

}  // namespace

Command serve_command() {
  return {{"serve", "SERVER.zip",
           "serve a compiled model over HTTP (add_key, compute, ...; docs/server.md)",
           "Clients upload their evaluation keys once (POST /add_key -> uid), then send encrypted\n"
           "inputs (POST /compute). Keys are kept in the key directory (or in Redis with --redis,\n"
           "shared by several replicas) and survive restarts.\n"
           "SIGINT/SIGTERM stop the server after answering the requests in flight. With the\n"
           "environment variable BLINDML_SERVE_TOKEN set, add_key, compute and DELETE /keys need\n"
           "\"Authorization: Bearer <token>\". With --tls-cert and --tls-key it serves HTTPS only.\n",
           {opt("client", ValueType::kPath, "CLIENT.zip", "served by GET /get_client"),
            opt("host", ValueType::kString, "HOST", "address to listen on (default 127.0.0.1; 0.0.0.0 for all)"),
            opt("port", ValueType::kUint, "PORT", "port (default 8000; 0: any free port)"),
            opt("keys", ValueType::kPath, "DIR", "the key store directory (default ./blindml-keys, created 0700)"),
            opt("redis", ValueType::kString, "URL",
                "keep keys in Redis instead, redis://[:password@]host[:port][/db] (replicas share it)"),
            opt("threads", ValueType::kUint, "N", "threads per computation (default 0: cores / slots)"),
            opt("slots", ValueType::kUint, "N", "computations at once (default 1)"),
            opt("queue", ValueType::kUint, "N", "requests waiting for a computation before 503 (default 16)"),
            opt("max-body", ValueType::kUint64, "BYTES", "largest encrypted input (default 268435456)"),
            opt("max-key-body", ValueType::kUint64, "BYTES", "largest evaluation keys upload (default 1073741824)"),
            opt("max-buffered", ValueType::kUint64, "BYTES",
                "request bodies in memory at once, all connections, before 503 (default: twice the larger limit)"),
            opt("cache-bytes", ValueType::kUint64, "BYTES",
                "memory for expanded evaluation keys (default 2147483648)"),
            opt("max-connections", ValueType::kUint, "N",
                "connections served at once; a few more may ask /health, the rest are closed (default 256)"),
            opt("max-header-bytes", ValueType::kUint64, "BYTES", "request line and headers of a request, else 431 (default 16384)"),
            opt("header-timeout", ValueType::kUint, "S", "headers must arrive within S seconds, else 408 (default 10)"),
            opt("request-timeout", ValueType::kUint, "S", "a whole request (headers and body) within S seconds, else 408 (default 300)"),
            opt("max-stored-keys", ValueType::kUint64, "N", "clients' keys in the store before add_key gets 507 (default: no limit)"),
            opt("max-stored-bytes", ValueType::kUint64, "BYTES", "bytes of keys in the store before add_key gets 507 (default: no limit)"),
            opt("min-free-disk", ValueType::kUint64, "BYTES",
                "file store: /ready answers 503 below this much free space (default 67108864)"),
            opt("redis-timeout-ms", ValueType::kUint, "MS", "Redis: connect and per-command timeout (default 2000)"),
            opt("tls-cert", ValueType::kPath, "CERT.pem", "serve HTTPS with this certificate (chain), PEM"),
            opt("tls-key", ValueType::kPath, "KEY.pem", "the certificate's private key, PEM, unencrypted")},
           "  blindml serve artifacts/server.zip --client artifacts/client.zip --port 8000 --keys keys.d\n"},
          run_serve, check_serve};
}

}  // namespace blindml::cli
