// A client of the blindml HTTP server (docs/server.md) for applications and the `blindml client`
// commands: the wire side only. The cryptography stays in deploy::Client: fetch client.zip with
// get_client(), load it with deploy::Client::load_bytes, upload evaluation_keys() with add_key(),
// send encrypt() output to compute(), give the answer to decrypt().
//
// A non-2xx answer becomes a Status carrying the server's {"error": "..."} message: 400/409/415
// invalid_argument, 404 not_found, 413/503/507 resource_exhausted, other codes io_error. Answers
// are capped (max_response_bytes): a hostile server cannot exhaust the client's memory.
//
// Thread safety: one HttpClient per thread (each holds its own connection).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "blindml/base/status.h"

namespace blindml::serve {

struct HttpResponse {
  int status = 0;
  std::string content_type;
  std::string body;
};

class HttpClient {
 public:
  // url: "http://host:port" (a trailing slash is ignored).
  // An https:// URL verifies the server's certificate against ca_cert_file (PEM) when given, or
  // else the system's CA store (/etc/ssl/certs).
  // An answer whose body is larger than max_response_bytes is abandoned as it arrives (never held
  // whole): resource_exhausted naming the limit.
  static constexpr uint64_t kDefaultMaxResponseBytes = uint64_t{1} << 30;
  static Result<HttpClient> create(const std::string& url, uint32_t timeout_s = 600,
                                   const std::string& bearer_token = "", const std::string& ca_cert_file = "",
                                   uint64_t max_response_bytes = kDefaultMaxResponseBytes);
  HttpClient(HttpClient&&) noexcept;
  HttpClient& operator=(HttpClient&&) noexcept;
  ~HttpClient();

  Result<std::vector<uint8_t>> get_client();
  // The keys as a raw application/octet-stream body (the server also takes Concrete ML's
  // multipart field `key`; post_multipart() sends that form); returns the uid.
  Result<std::string> add_key(std::span<const uint8_t> evaluation_keys);
  // POST /compute?uid=UID with the input as a raw application/octet-stream body (the server also
  // takes the multipart fields `uid` and `model_input`); returns the encrypted output.
  Result<std::vector<uint8_t>> compute(const std::string& uid, std::span<const uint8_t> input);
  Status delete_key(const std::string& uid);
  Result<std::string> info();

  // Any request (for tests and tools): a transport failure is an io_error, an HTTP status is not.
  Result<HttpResponse> request(const std::string& method, const std::string& path, const std::string& body = "",
                               const std::string& content_type = "");
  struct Part {
    std::string name;
    std::string content;
    std::string filename;      // non-empty: sent as a file
    std::string content_type;
  };
  Result<HttpResponse> post_multipart(const std::string& path, const std::vector<Part>& parts);

 private:
  struct Impl;
  explicit HttpClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace blindml::serve
