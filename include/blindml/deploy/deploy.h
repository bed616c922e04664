// The deployment API (design.md §1, §4): the development machine writes client.zip and
// server.zip; the client generates keys, encrypts rows and decrypts answers; the server runs the
// compiled circuit on a client's encrypted rows with that client's evaluation keys. Keys and
// ciphertexts cross the wire as the bytes these classes produce (formats: docs/formats.md,
// "Deployment artifacts" and "Exchange files").
//
//   Dev     compile(model.onnx, calibration rows, options) -> save(dir): dir/client.zip, dir/server.zip
//   Client  load(client.zip) -> generate_keys() -> evaluation_keys() (upload these)
//           encrypt(rows) -> bytes;  decrypt(bytes) -> predictions
//           save_secret_key(path) (mode 0600) / load_secret_key(path)
//   Server  load(server.zip) -> run(input bytes, evaluation-key bytes) -> output bytes
//
// Every exchange file (secret key, evaluation keys, encrypted input, encrypted output) is an
// envelope around a crypto blob: magic "BLMD", format version, kind, the model id (SHA-256 of the
// compiled circuit, first 16 bytes), the key id (16 random bytes chosen at key generation), the
// row count, and a checksum of these fields. So an input made for another model, keys of another
// client, or an answer computed for someone else are refused with a message saying so, before
// any decryption could produce a wrong answer.
//
// Thread safety: Dev and Client are single-threaded objects. Server is immutable after load();
// run() may be called from many threads at once (each call with its own or a shared pool).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "blindml/base/status.h"
#include "blindml/base/thread_pool.h"
#include "blindml/compiler/compiled.h"
#include "blindml/crypto/keys.h"
#include "blindml/model/model.h"
#include "blindml/runtime/program.h"

namespace blindml::deploy {

inline constexpr uint32_t kArtifactFormatVersion = 1;  // client.zip / server.zip (versions.json)
inline constexpr uint32_t kExchangeFormatVersion = 1;  // the envelopes
const char* blindml_version();

using ModelId = std::array<uint8_t, 16>;
using KeyId = std::array<uint8_t, 16>;

// What the client needs besides the processing: from client.zip's client.specs.json.
struct ClientSpecs {
  crypto::ParameterSet params;
  uint32_t carrier_bits = 0;         // the widest carrier (reports)
  uint32_t input_carrier_bits = 0;   // the input is encrypted as v·2^(63 - input_carrier_bits)
  uint32_t output_carrier_bits = 0;  // the output decrypts at this carrier
  bool needs_evaluation_keys = false;
  int64_t input_features = 0;
  int64_t outputs = 0;
  bool output_signed = false;
  ModelId model_id{};
};

class Dev {
 public:
  static Result<Dev> compile(const std::string& onnx_path, const model::Rows& calibration,
                             const model::CompileOptions& options = {});
  static Result<Dev> compile(const model::OnnxGraph& graph, const model::Rows& calibration,
                             const model::CompileOptions& options = {});
  const model::CompiledModel& model() const { return *model_; }
  const std::string& report() const { return model_->report; }
  ModelId model_id() const { return model_id_; }
  Result<std::vector<uint8_t>> client_zip() const;
  Result<std::vector<uint8_t>> server_zip() const;
  // Writes dir/client.zip and dir/server.zip (creating dir), each atomically.
  Status save(const std::string& dir) const;

 private:
  std::shared_ptr<const model::CompiledModel> model_;
  ModelId model_id_{};
};

class Client {
 public:
  static Result<Client> load(const std::string& client_zip_path);
  static Result<Client> load_bytes(std::span<const uint8_t> client_zip);

  const ClientSpecs& specs() const { return *specs_; }
  const model::ClientProcessing& processing() const { return *processing_; }

  // The secret key and the seeded evaluation keys (pool: key generation threads; null: one).
  Status generate_keys(ThreadPool* pool = nullptr);
  bool has_keys() const { return secret_ != nullptr; }
  // The evaluation keys to upload (for a leveled model: an envelope with no keys in it).
  Result<std::vector<uint8_t>> evaluation_keys() const;
  // The secret key file: written with mode 0600 (atomically); keep it on the client.
  Status save_secret_key(const std::string& path) const;
  Status load_secret_key(const std::string& path);

  // Quantize, encrypt (seeded) and serialise rows (each of specs().input_features values).
  Result<std::vector<uint8_t>> encrypt(const model::Rows& rows) const;
  // Deserialise, decrypt, dequantize and post-process the server's answer.
  Result<std::vector<model::Prediction>> decrypt(std::span<const uint8_t> output) const;

 private:
  std::shared_ptr<const ClientSpecs> specs_;
  std::shared_ptr<const model::ClientProcessing> processing_;
  std::shared_ptr<const crypto::ClientKey> secret_;
  std::shared_ptr<const std::vector<uint8_t>> seeded_keys_;  // serialised, for evaluation_keys()
  KeyId key_id_{};
};

// Limits on what the server reads (bytes).
struct ServerLimits {
  uint64_t max_evaluation_keys = uint64_t{4} << 30;
  uint64_t max_input = uint64_t{256} << 20;
  // The answer: rows × outputs full ciphertexts, (kN + 1)·8 bytes each — far larger than the
  // seeded input (8 bytes per ciphertext), so it is bounded on its own before anything is run.
  uint64_t max_output = uint64_t{1} << 30;
  // The input once its seeded ciphertexts are expanded: rows × input width full ciphertexts. A
  // seeded ciphertext is 8 bytes on the wire and (kN + 1)·8 in memory (2049 times more at
  // kN = 2048), and a tree model's input is one ciphertext per threshold, so this is bounded on
  // its own too, before anything is expanded.
  uint64_t max_expanded_input = uint64_t{1} << 30;
};

class Server {
 public:
  static Result<Server> load(const std::string& server_zip_path);
  static Result<Server> load_bytes(std::span<const uint8_t> server_zip);

  const compiler::CompiledCircuit& compiled() const;
  ModelId model_id() const;
  const std::string& info_json() const;  // model kind, shapes, fingerprint, versions
  // The circuit lowered at load (runtime::Program), and its PBS per row.
  const runtime::Program& program() const;
  uint64_t pbs_per_row() const;

  // A client's evaluation keys, validated and expanded (null keys for a leveled model); the
  // result can be cached and shared by threads.
  struct Keys {
    KeyId key_id{};
    std::shared_ptr<const crypto::EvaluationKeys> keys;  // null for leveled models
  };
  Result<Keys> load_evaluation_keys(std::span<const uint8_t> bytes, const ServerLimits& limits = {},
                                    ThreadPool* pool = nullptr) const;
  Result<std::vector<uint8_t>> run(std::span<const uint8_t> input, const Keys& keys, ThreadPool& pool,
                                   const ServerLimits& limits = {}) const;
  // Convenience: load the keys, then run.
  Result<std::vector<uint8_t>> run(std::span<const uint8_t> input, std::span<const uint8_t> evaluation_keys,
                                   ThreadPool& pool, const ServerLimits& limits = {}) const;

 private:
  struct State;
  std::shared_ptr<const State> state_;
};

// What an artifact or exchange file is, for `blindml info`: a few readable lines.
Result<std::string> describe_file(const std::string& path);

}  // namespace blindml::deploy
