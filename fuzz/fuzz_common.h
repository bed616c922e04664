// Shared by the fuzz targets and the corpus generator: the insecure toy parameter set (for key
// blobs only; never outside fuzz/ and tests/), the checksum resealing that lets mutated inputs
// past the integrity checks (an attacker recomputes checksums too), and a leveled model with real
// 128-bit keys made once per process.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "blindml/base/bytes.h"
#include "blindml/crypto/params.h"
#include "blindml/deploy/deploy.h"
#include "blindml/model/onnx.h"

namespace blindml::fuzz {

// n = 16, k = 1, N = 64: blobs of a few KiB. Far below 128-bit security; a loader's shape and
// count checks do not depend on security, so the toy set exercises the same code paths.
inline const crypto::ParameterSet& insecure_toy_params() {
  static const crypto::ParameterSet p{.name = "insecure_fuzz_toy",
                                      .message_bits = 2,
                                      .lwe_dimension = crypto::LweDimension(16),
                                      .glwe_dimension = crypto::GlweDimension(1),
                                      .polynomial_size = crypto::PolynomialSize(64),
                                      .lwe_noise_log2_std = -20,
                                      .glwe_noise_log2_std = -30,
                                      .pbs_base_log = crypto::DecompBaseLog(8),
                                      .pbs_level_count = crypto::DecompLevelCount(2),
                                      .ks_base_log = crypto::DecompBaseLog(4),
                                      .ks_level_count = crypto::DecompLevelCount(2)};
  return p;
}

// A real parameter set for the secret-key blob (its loader refuses insecure sets first).
inline const crypto::ParameterSet& real_params() {
  static const crypto::ParameterSet p = crypto::parameters_for_bits(2).value();
  return p;
}

inline void put_u64_at(std::vector<uint8_t>& b, size_t at, uint64_t v) { std::memcpy(b.data() + at, &v, 8); }

// Crypto blob (docs/formats.md "Binary blobs"): payload length at 28, SHA-256 of the payload at 36.
inline void reseal_blob(std::span<uint8_t> b) {
  if (b.size() < 68) return;
  const uint64_t len = b.size() - 68;
  std::memcpy(b.data() + 28, &len, 8);
  const auto d = sha256(std::span<const uint8_t>(b).subspan(68));
  std::memcpy(b.data() + 36, d.data(), 32);
}

// Compiled circuit: payload length at 24, SHA-256 of the payload at 32, 64-byte header.
inline void reseal_circuit(std::vector<uint8_t>& b) {
  if (b.size() < 64) return;
  put_u64_at(b, 24, b.size() - 64);
  const auto d = sha256(std::span<const uint8_t>(b).subspan(64));
  std::memcpy(b.data() + 32, d.data(), 32);
}

// Exchange envelope: payload length at 52, first 8 bytes of SHA-256(bytes 0..59) at 60; the crypto
// blob inside is resealed too.
inline void reseal_envelope(std::vector<uint8_t>& b) {
  if (b.size() < 68) return;
  reseal_blob(std::span<uint8_t>(b).subspan(68));
  put_u64_at(b, 52, b.size() - 68);
  const auto h = sha256(std::span<const uint8_t>(b).first(60));
  std::memcpy(b.data() + 60, h.data(), 8);
}

inline std::string source_dir() { return BLINDML_SOURCE_DIR; }

// Calibration rows: the train split of a committed data set (tests/data/<name>/train.csv).
model::Rows read_rows(const std::string& dataset);

// linear_regression_diabetes compiled, with a client that has generated real keys and a server
// holding them: leveled, so Server::run costs microseconds per row.
struct Session {
  std::vector<uint8_t> client_zip, server_zip;
  std::unique_ptr<deploy::Client> client;
  std::unique_ptr<deploy::Server> server;
  deploy::Server::Keys keys;
  std::unique_ptr<ThreadPool> pool;
};
const Session& leveled_session();

}  // namespace blindml::fuzz
