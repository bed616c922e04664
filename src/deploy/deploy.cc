#include "blindml/deploy/deploy.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <nlohmann/json.hpp>

#include "blindml/base/json.h"

#include "blindml/base/bytes.h"
#include "blindml/base/checked.h"
#include "blindml/circuit/analysis.h"
#include "blindml/compiler/lower.h"
#include "blindml/crypto/aligned.h"
#include "blindml/crypto/algorithms.h"
#include "blindml/crypto/csprng.h"
#include "blindml/crypto/io.h"
#include "blindml/runtime/executor.h"
#include "internal/zip_io.h"

namespace blindml::deploy {

using nlohmann::json;

const char* blindml_version() { return "0.1.0"; }

namespace {

constexpr uint64_t kMaxClientEntry = uint64_t{64} << 20;
constexpr uint64_t kMaxServerEntry = uint64_t{1} << 30;
constexpr uint64_t kMaxSecretKey = uint64_t{64} << 20;
constexpr uint64_t kMaxOutputRows = uint64_t{1} << 24;
constexpr uint64_t kMaxEvaluationKeys = ServerLimits{}.max_evaluation_keys;
constexpr int64_t kMaxShape = int64_t{1} << 24;  // features or outputs of a served model

// ---- files ----

// Wipes a buffer of secret bytes when the scope ends, whichever way it ends.
struct WipeOnExit {
  std::vector<uint8_t>& bytes;
  ~WipeOnExit() { crypto::secure_wipe(bytes.data(), bytes.size()); }
};

// secret: the file holds key material; a partial read is wiped before the buffer is freed.
Result<std::vector<uint8_t>> read_file(const std::string& path, uint64_t max_bytes, bool secret = false) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) return not_found("cannot read " + path + ": " + ec.message());
  if (size > max_bytes)
    return resource_exhausted(path + " is " + std::to_string(size) + " bytes, over the limit of " +
                              std::to_string(max_bytes));
  std::ifstream f(path, std::ios::binary);
  if (!f) return io_error("cannot open " + path);
  std::vector<uint8_t> data(size);
  if (size && !f.read(reinterpret_cast<char*>(data.data()), static_cast<std::streamsize>(size))) {
    if (secret) crypto::secure_wipe(data.data(), data.size());
    return io_error("cannot read " + path);
  }
  return data;
}

// Writes via a temporary file in the same directory, fsync, rename: a reader sees the old file
// or the whole new one.
Status write_file_atomic(const std::string& path, std::span<const uint8_t> data, mode_t mode) {
  const std::string tmp = path + ".tmp." + std::to_string(getpid());
  int fd = ::open(tmp.c_str(), O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return io_error("cannot create " + tmp + ": " + std::strerror(errno));
  ::fchmod(fd, mode);
  size_t done = 0;
  while (done < data.size()) {
    ssize_t w = ::write(fd, data.data() + done, data.size() - done);
    if (w < 0) {
      if (errno == EINTR) continue;
      std::string msg = std::strerror(errno);
      ::close(fd);
      ::unlink(tmp.c_str());
      return io_error("cannot write " + path + ": " + msg);
    }
    done += static_cast<size_t>(w);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(tmp.c_str());
    return io_error("cannot flush " + path);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string msg = std::strerror(errno);
    ::unlink(tmp.c_str());
    return io_error("cannot rename " + tmp + " to " + path + ": " + msg);
  }
  return Status();
}

std::string hex(std::span<const uint8_t> b) { return to_hex(b); }

template <size_t N>
bool from_hex(const std::string& s, std::array<uint8_t, N>& out) {
  if (s.size() != 2 * N) return false;
  for (size_t i = 0; i < N; ++i) {
    unsigned v = 0;
    for (int k = 0; k < 2; ++k) {
      char c = s[2 * i + k];
      v <<= 4;
      if (c >= '0' && c <= '9') {
        v |= static_cast<unsigned>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        v |= static_cast<unsigned>(c - 'a' + 10);
      } else {
        return false;
      }
    }
    out[i] = static_cast<uint8_t>(v);
  }
  return true;
}

ModelId model_id_of(std::span<const uint8_t> circuit_blob) {
  auto h = sha256(circuit_blob);
  ModelId id;
  std::copy(h.begin(), h.begin() + id.size(), id.begin());
  return id;
}

// ---- parameters as JSON ----

json params_to_json(const crypto::ParameterSet& p) {
  return json{{"message_bits", p.message_bits},
              {"lwe_dimension", p.lwe_dimension.value},
              {"glwe_dimension", p.glwe_dimension.value},
              {"polynomial_size", p.polynomial_size.value},
              {"lwe_noise_log2_std", p.lwe_noise_log2_std},
              {"glwe_noise_log2_std", p.glwe_noise_log2_std},
              {"pbs_base_log", p.pbs_base_log.value},
              {"pbs_level_count", p.pbs_level_count.value},
              {"ks_base_log", p.ks_base_log.value},
              {"ks_level_count", p.ks_level_count.value}};
}

Result<crypto::ParameterSet> params_from_json(const json& j, const std::string& fingerprint_hex) {
  const std::string where = "client.specs.json: parameters";
  uint64_t n = 0, k = 0, N = 0, pb = 0, pl = 0, kb = 0, kl = 0;
  uint32_t mb = 0;
  double sl = 0, sg = 0;
  BLINDML_RETURN_IF_ERROR(json_get_in<uint32_t>(j, where, "message_bits", 1, 64, &mb));
  BLINDML_RETURN_IF_ERROR(json_get(j, where, "lwe_dimension", &n));
  BLINDML_RETURN_IF_ERROR(json_get(j, where, "glwe_dimension", &k));
  BLINDML_RETURN_IF_ERROR(json_get(j, where, "polynomial_size", &N));
  BLINDML_RETURN_IF_ERROR(json_get(j, where, "lwe_noise_log2_std", &sl));
  BLINDML_RETURN_IF_ERROR(json_get(j, where, "glwe_noise_log2_std", &sg));
  BLINDML_RETURN_IF_ERROR(json_get(j, where, "pbs_base_log", &pb));
  BLINDML_RETURN_IF_ERROR(json_get(j, where, "pbs_level_count", &pl));
  BLINDML_RETURN_IF_ERROR(json_get(j, where, "ks_base_log", &kb));
  BLINDML_RETURN_IF_ERROR(json_get(j, where, "ks_level_count", &kl));
  crypto::ParameterSet p{.name = "optimized",
                         .message_bits = mb,
                         .lwe_dimension = crypto::LweDimension(n),
                         .glwe_dimension = crypto::GlweDimension(k),
                         .polynomial_size = crypto::PolynomialSize(N),
                         .lwe_noise_log2_std = sl,
                         .glwe_noise_log2_std = sg,
                         .pbs_base_log = crypto::DecompBaseLog(pb),
                         .pbs_level_count = crypto::DecompLevelCount(pl),
                         .ks_base_log = crypto::DecompBaseLog(kb),
                         .ks_level_count = crypto::DecompLevelCount(kl)};
  for (const auto& named : crypto::named_parameter_sets())
    if (crypto::fingerprint(named) == crypto::fingerprint(p) && named.message_bits == p.message_bits) p.name = named.name;
  BLINDML_RETURN_IF_ERROR(crypto::check_security(p));
  // client.zip may come from a server (/get_client): its parameters must not make key generation
  // allocate more than a server would ever accept as evaluation keys.
  if (const uint64_t keys = crypto::serialized_seeded_evaluation_keys_size(p); keys > kMaxEvaluationKeys)
    return resource_exhausted("client.specs.json: these parameters need " + std::to_string(keys) +
                              " bytes of evaluation keys, over the limit of " + std::to_string(kMaxEvaluationKeys));
  if (crypto::fingerprint_hex(p) != fingerprint_hex)
    return corrupted("client.specs.json: the parameters do not match their fingerprint " + fingerprint_hex);
  return p;
}

// ---- versions.json ----

std::vector<uint8_t> versions_json(const char* artifact, const ModelId& id, const crypto::ParameterSet& p) {
  json j{{"format_version", kArtifactFormatVersion},
         {"blindml_version", blindml_version()},
         {"artifact", artifact},
         {"model_id", hex(id)},
         {"parameters_fingerprint", crypto::fingerprint_hex(p)}};
  std::string s = j.dump(2) + "\n";
  return std::vector<uint8_t>(s.begin(), s.end());
}

Result<json> parse_json(const std::vector<uint8_t>& bytes, const std::string& what) {
  return parse_json_object(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), what);
}

// What versions.json of an artifact says (docs/formats.md, "Deployment artifacts").
struct Versions {
  std::string model_id;
  std::string parameters_fingerprint;
};

// Checks versions.json of an artifact: the format version and that it is the expected artifact.
Result<Versions> check_versions(const std::map<std::string, std::vector<uint8_t>>& files, const char* artifact,
                                const std::string& what) {
  auto it = files.find("versions.json");
  if (it == files.end()) return corrupted(what + " has no versions.json: it is not a blindml artifact");
  const std::string where = what + "/versions.json";
  BLINDML_ASSIGN_OR_RETURN(json v, parse_json(it->second, where));
  uint64_t version = 0;
  BLINDML_RETURN_IF_ERROR(json_get(v, where, "format_version", &version));
  if (version != kArtifactFormatVersion)
    return version_mismatch(what + " has format version " + std::to_string(version) + ", this blindml (" +
                            blindml_version() + ") reads version " + std::to_string(kArtifactFormatVersion) +
                            ": compile the model again with this version");
  std::string kind;
  BLINDML_RETURN_IF_ERROR(json_get_optional(v, where, "artifact", &kind));
  if (kind != artifact)
    return invalid_argument(what + " is a " + (kind.empty() ? std::string("unknown") : kind) + " artifact, not a " +
                            artifact + " one (client.zip goes to clients, server.zip to the server)");
  Versions out;
  BLINDML_RETURN_IF_ERROR(json_get(v, where, "model_id", &out.model_id));
  BLINDML_RETURN_IF_ERROR(json_get_optional(v, where, "parameters_fingerprint", &out.parameters_fingerprint));
  return out;
}

const std::vector<uint8_t>* entry(const std::map<std::string, std::vector<uint8_t>>& files, const std::string& name) {
  auto it = files.find(name);
  return it == files.end() ? nullptr : &it->second;
}

// ---- envelopes ----

enum class FileKind : uint32_t { kSecretKey = 1, kEvaluationKeys = 2, kInput = 3, kOutput = 4 };
constexpr uint64_t kEnvelopeHeader = 68;
constexpr uint8_t kEnvelopeMagic[4] = {'B', 'L', 'M', 'D'};

const char* kind_name(FileKind k) {
  switch (k) {
    case FileKind::kSecretKey: return "secret key";
    case FileKind::kEvaluationKeys: return "evaluation keys";
    case FileKind::kInput: return "encrypted input";
    case FileKind::kOutput: return "encrypted output";
  }
  return "unknown file";
}

std::vector<uint8_t> wrap(FileKind kind, const ModelId& model, const KeyId& key, uint64_t rows,
                          std::span<const uint8_t> payload) {
  ByteWriter w;
  w.put_bytes(kEnvelopeMagic);
  w.put_u32(kExchangeFormatVersion);
  w.put_u32(static_cast<uint32_t>(kind));
  w.put_bytes(model);
  w.put_bytes(key);
  w.put_u64(rows);
  w.put_u64(payload.size());
  auto h = sha256(std::span<const uint8_t>(w.bytes()));
  w.put_bytes(std::span<const uint8_t>(h).first(8));
  w.put_bytes(payload);
  return w.take();
}

struct Envelope {
  FileKind kind;
  ModelId model{};
  KeyId key{};
  uint64_t rows = 0;
  std::span<const uint8_t> payload;
};

// "a secret key", "an encrypted input".
std::string with_article(const std::string& noun) {
  return (std::string("aeiou").find(noun[0]) != std::string::npos ? "an " : "a ") + noun;
}

Result<Envelope> unwrap(std::span<const uint8_t> bytes, FileKind expected) {
  const std::string what = kind_name(expected);
  if (bytes.size() >= 4 && std::memcmp(bytes.data(), "PK\3\4", 4) == 0)
    return invalid_argument("expected " + with_article(what) + " file, got a zip artifact (client.zip or server.zip)");
  if (bytes.size() < kEnvelopeHeader)
    return corrupted("the " + what + " file is truncated (" + std::to_string(bytes.size()) + " bytes)");
  if (std::memcmp(bytes.data(), kEnvelopeMagic, 4) != 0) return corrupted("the " + what + " file is not a blindml file");
  ByteReader r(bytes.subspan(4));
  uint32_t version = 0, kind = 0;
  Envelope e{};
  uint64_t length = 0;
  BLINDML_RETURN_IF_ERROR(r.get_u32(version, "version"));
  BLINDML_RETURN_IF_ERROR(r.get_u32(kind, "kind"));
  BLINDML_RETURN_IF_ERROR(r.get_bytes(e.model, "model id"));
  BLINDML_RETURN_IF_ERROR(r.get_bytes(e.key, "key id"));
  BLINDML_RETURN_IF_ERROR(r.get_u64(e.rows, "rows"));
  BLINDML_RETURN_IF_ERROR(r.get_u64(length, "length"));
  auto h = sha256(bytes.first(60));
  if (std::memcmp(h.data(), bytes.data() + 60, 8) != 0) return corrupted("the " + what + " file's header is corrupted");
  if (version != kExchangeFormatVersion)
    return version_mismatch("the " + what + " file has format version " + std::to_string(version) +
                            ", this blindml reads version " + std::to_string(kExchangeFormatVersion));
  e.kind = static_cast<FileKind>(kind);
  if (e.kind != expected) {
    const char* got = kind >= 1 && kind <= 4 ? kind_name(e.kind) : "unknown";
    return invalid_argument("expected " + with_article(what) + " file, got " + with_article(got) + " file");
  }
  if (length != bytes.size() - kEnvelopeHeader)
    return corrupted("the " + what + " file is truncated or has trailing bytes (" +
                     std::to_string(bytes.size() - kEnvelopeHeader) + " payload bytes, header says " +
                     std::to_string(length) + ")");
  e.payload = bytes.subspan(kEnvelopeHeader);
  return e;
}

}  // namespace

// ======================= Dev =======================

Result<Dev> Dev::compile(const std::string& onnx_path, const model::Rows& calibration,
                         const model::CompileOptions& options) {
  BLINDML_ASSIGN_OR_RETURN(auto graph, model::load_onnx_file(onnx_path));
  return compile(graph, calibration, options);
}

Result<Dev> Dev::compile(const model::OnnxGraph& graph, const model::Rows& calibration,
                         const model::CompileOptions& options) {
  BLINDML_ASSIGN_OR_RETURN(auto m, model::compile_model(graph, calibration, options));
  Dev d;
  d.model_ = std::make_shared<const model::CompiledModel>(std::move(m));
  d.model_id_ = model_id_of(compiler::serialize_compiled_circuit(d.model_->compiled));
  return d;
}

Result<std::vector<uint8_t>> Dev::client_zip() const {
  const auto& c = model_->compiled;
  BLINDML_ASSIGN_OR_RETURN(auto analysis, circuit::analyze(c.circuit));
  const auto& in = analysis.values[c.circuit.inputs()[0]];
  const auto& out = analysis.values[c.circuit.outputs()[0]];
  json specs{{"parameters", params_to_json(c.params)},
             {"parameters_fingerprint", crypto::fingerprint_hex(c.params)},
             {"model_id", hex(model_id_)},
             {"carrier_bits", c.carrier_bits},
             {"input_carrier_bits", in.carrier_bits},
             {"output_carrier_bits", out.carrier_bits},
             {"needs_evaluation_keys", c.needs_bootstrapping},
             {"input",
              {{"shape", c.circuit.node(c.circuit.inputs()[0]).shape},
               {"bit_width", in.bits},
               {"signed", in.is_signed},
               {"encoding", "seeded LWE ciphertexts under the GLWE key, v * 2^(63 - input_carrier_bits)"}}},
             {"output",
              {{"shape", c.circuit.node(c.circuit.outputs()[0]).shape},
               {"bit_width", out.bits},
               {"signed", out.is_signed},
               {"encoding", "LWE ciphertexts under the GLWE key, v * 2^(63 - output_carrier_bits)"}}}};
  std::string s = specs.dump(2) + "\n";
  std::string proc = model_->processing.to_json() + "\n";
  return internal::write_zip({{"client.specs.json", std::vector<uint8_t>(s.begin(), s.end())},
                              {"serialized_processing.json", std::vector<uint8_t>(proc.begin(), proc.end())},
                              {"versions.json", versions_json("client", model_id_, c.params)}});
}

Result<std::vector<uint8_t>> Dev::server_zip() const {
  const auto& c = model_->compiled;
  return internal::write_zip({{"circuit.bin", compiler::serialize_compiled_circuit(c)},
                              {"versions.json", versions_json("server", model_id_, c.params)}});
}

Status Dev::save(const std::string& dir) const {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return io_error("cannot create " + dir + ": " + ec.message());
  BLINDML_ASSIGN_OR_RETURN(auto client, client_zip());
  BLINDML_ASSIGN_OR_RETURN(auto server, server_zip());
  BLINDML_RETURN_IF_ERROR(write_file_atomic(dir + "/client.zip", client, 0644));
  return write_file_atomic(dir + "/server.zip", server, 0644);
}

// ======================= Client =======================

Result<Client> Client::load(const std::string& path) {
  BLINDML_ASSIGN_OR_RETURN(auto bytes, read_file(path, kMaxClientEntry * 4));
  auto c = load_bytes(bytes);
  if (!c.ok()) return Status(c.status().code(), path + ": " + c.status().message());
  return c;
}

Result<Client> Client::load_bytes(std::span<const uint8_t> zip) {
  BLINDML_ASSIGN_OR_RETURN(auto files, internal::read_zip(zip, "client.zip", kMaxClientEntry));
  BLINDML_ASSIGN_OR_RETURN(Versions versions, check_versions(files, "client", "client.zip"));
  const auto* specs_bytes = entry(files, "client.specs.json");
  const auto* proc_bytes = entry(files, "serialized_processing.json");
  if (!specs_bytes || !proc_bytes)
    return corrupted("client.zip lacks client.specs.json or serialized_processing.json");
  const std::string where = "client.specs.json";
  BLINDML_ASSIGN_OR_RETURN(json j, parse_json(*specs_bytes, where));
  const json* params_json = nullptr;
  std::string fingerprint;
  BLINDML_RETURN_IF_ERROR(json_get_object(j, where, "parameters", &params_json));
  BLINDML_RETURN_IF_ERROR(json_get(j, where, "parameters_fingerprint", &fingerprint));
  BLINDML_ASSIGN_OR_RETURN(crypto::ParameterSet params, params_from_json(*params_json, fingerprint));
  auto specs = std::make_shared<ClientSpecs>(ClientSpecs{.params = params});
  if (versions.parameters_fingerprint != crypto::fingerprint_hex(specs->params))
    return corrupted("client.zip: versions.json and client.specs.json name different parameters");
  // One-dimensional input and output shapes, each 1..kMaxShape.
  auto vector_length = [&](const char* field, int64_t* length, bool* is_signed) -> Status {
    const json* io = nullptr;
    const json* shape = nullptr;
    const std::string at = where + ": " + field;
    BLINDML_RETURN_IF_ERROR(json_get_object(j, where, field, &io));
    BLINDML_RETURN_IF_ERROR(json_get_array(*io, at, "shape", 1, &shape));
    if (shape->size() != 1) return corrupted(at + ": field 'shape' must hold one dimension");
    BLINDML_RETURN_IF_ERROR(json_as((*shape)[0], at, "shape[0]", length));
    BLINDML_RETURN_IF_ERROR(json_in_range<int64_t>(*length, at, "shape[0]", 1, kMaxShape));
    return json_get_optional(*io, at, "signed", is_signed);
  };
  bool input_signed = false;
  BLINDML_RETURN_IF_ERROR(vector_length("input", &specs->input_features, &input_signed));
  BLINDML_RETURN_IF_ERROR(vector_length("output", &specs->outputs, &specs->output_signed));
  BLINDML_RETURN_IF_ERROR(json_get_in<uint32_t>(j, where, "carrier_bits", 1, circuit::kMaxCarrierBits,
                                                &specs->carrier_bits));
  // Per-value carriers (compiled circuit format 2); a client.zip without them had one carrier.
  specs->input_carrier_bits = specs->output_carrier_bits = specs->carrier_bits;
  if (j.contains("input_carrier_bits") || j.contains("output_carrier_bits")) {
    BLINDML_RETURN_IF_ERROR(json_get_in<uint32_t>(j, where, "input_carrier_bits", 1, specs->carrier_bits,
                                                  &specs->input_carrier_bits));
    BLINDML_RETURN_IF_ERROR(json_get_in<uint32_t>(j, where, "output_carrier_bits", 1, specs->carrier_bits,
                                                  &specs->output_carrier_bits));
  }
  specs->needs_evaluation_keys = true;
  BLINDML_RETURN_IF_ERROR(json_get_optional(j, where, "needs_evaluation_keys", &specs->needs_evaluation_keys));
  std::string model_id;
  BLINDML_RETURN_IF_ERROR(json_get(j, where, "model_id", &model_id));
  if (!from_hex(model_id, specs->model_id))
    return corrupted(where + ": field 'model_id' is not 32 lowercase hexadecimal digits");
  if (versions.model_id != hex(specs->model_id))
    return corrupted("client.zip: versions.json and client.specs.json name different models");
  BLINDML_ASSIGN_OR_RETURN(auto proc, model::ClientProcessing::from_json(
                                          std::string_view(reinterpret_cast<const char*>(proc_bytes->data()),
                                                           proc_bytes->size())));
  if (proc.input_width() != specs->input_features || proc.output_count() != specs->outputs)
    return corrupted("client.zip: serialized_processing.json and client.specs.json disagree on the shapes");
  Client c;
  c.specs_ = std::move(specs);
  c.processing_ = std::make_shared<const model::ClientProcessing>(std::move(proc));
  return c;
}

Status Client::generate_keys(ThreadPool* pool) {
  BLINDML_ASSIGN_OR_RETURN(auto key, crypto::ClientKey::generate(specs_->params));
  auto secret = std::make_shared<const crypto::ClientKey>(std::move(key));
  std::vector<uint8_t> seeded;
  if (specs_->needs_evaluation_keys)
    seeded = crypto::serialize_seeded_evaluation_keys(crypto::generate_seeded_evaluation_keys(*secret, pool));
  secret_ = std::move(secret);
  seeded_keys_ = std::make_shared<const std::vector<uint8_t>>(std::move(seeded));
  key_id_ = crypto::os_seed();
  return Status();
}

Result<std::vector<uint8_t>> Client::evaluation_keys() const {
  if (!secret_) return invalid_argument("no keys: generate them first");
  if (!seeded_keys_)
    return invalid_argument("the evaluation keys are not in memory (a loaded secret key does not carry them): "
                            "use the evaluation.keys file written at key generation");
  return wrap(FileKind::kEvaluationKeys, specs_->model_id, key_id_, 0, *seeded_keys_);
}

Status Client::save_secret_key(const std::string& path) const {
  if (!secret_) return invalid_argument("no keys: generate them first");
  std::vector<uint8_t> key = crypto::serialize_client_key(*secret_);
  std::vector<uint8_t> file = wrap(FileKind::kSecretKey, ModelId{}, key_id_, 0, key);
  Status s = write_file_atomic(path, file, 0600);
  crypto::secure_wipe(key.data(), key.size());
  crypto::secure_wipe(file.data(), file.size());
  return s;
}

Status Client::load_secret_key(const std::string& path) {
  BLINDML_ASSIGN_OR_RETURN(auto bytes, read_file(path, kMaxSecretKey, /*secret=*/true));
  // Wiped on every path out of here: a file that fails to unwrap still holds key words.
  const WipeOnExit wipe_bytes{bytes};
  auto env = unwrap(bytes, FileKind::kSecretKey);
  if (!env.ok()) return Status(env.status().code(), path + ": " + env.status().message());
  auto key = crypto::deserialize_client_key(env->payload, specs_->params, kMaxSecretKey);
  if (!key.ok()) {
    if (key.status().code() == StatusCode::kParameterMismatch)
      return invalid_argument(path + ": this secret key was made for other parameters (another model's client.zip)");
    return Status(key.status().code(), path + ": " + key.status().message());
  }
  secret_ = std::make_shared<const crypto::ClientKey>(std::move(key).value());
  key_id_ = env->key;
  seeded_keys_.reset();
  return Status();
}

Result<std::vector<uint8_t>> Client::encrypt(const model::Rows& rows) const {
  if (!secret_) return invalid_argument("no secret key: generate or load one first");
  if (rows.empty()) return invalid_argument("no rows to encrypt");
  std::vector<int64_t> messages;
  messages.reserve(rows.size() * specs_->input_features);
  for (size_t r = 0; r < rows.size(); ++r) {
    auto t = processing_->encode_row(rows[r]);
    if (!t.ok()) return Status(t.status().code(), "row " + std::to_string(r + 1) + ": " + t.status().message());
    messages.insert(messages.end(), t->data.begin(), t->data.end());
  }
  auto list = crypto::encrypt_seeded(*secret_, messages, specs_->input_carrier_bits);
  auto blob = crypto::serialize_seeded_lwe_list(list, specs_->params);
  return wrap(FileKind::kInput, specs_->model_id, key_id_, rows.size(), blob);
}

Result<std::vector<model::Prediction>> Client::decrypt(std::span<const uint8_t> output) const {
  if (!secret_) return invalid_argument("no secret key: generate or load one first");
  BLINDML_ASSIGN_OR_RETURN(Envelope env, unwrap(output, FileKind::kOutput));
  if (env.model != specs_->model_id)
    return invalid_argument("this answer was computed by another model (model id " + hex(env.model) +
                            ", this client.zip is model " + hex(specs_->model_id) + ")");
  if (env.key != key_id_)
    return invalid_argument("this answer was computed for another client's keys (key id " + hex(env.key) +
                            ", these keys are " + hex(key_id_) + ")");
  if (env.rows == 0 || env.rows > kMaxOutputRows)
    return corrupted("the encrypted output has a bad row count (" + std::to_string(env.rows) + ")");
  // rows <= 2^24 and outputs <= 2^24 (kMaxShape, validated at load): the product fits.
  const uint64_t count = env.rows * static_cast<uint64_t>(specs_->outputs);
  auto list = crypto::deserialize_lwe_list(env.payload, specs_->params, env.payload.size());
  if (!list.ok()) return Status(list.status().code(), "encrypted output: " + list.status().message());
  if (list->count() != count)
    return corrupted("the encrypted output holds " + std::to_string(list->count()) + " ciphertexts, " +
                     std::to_string(env.rows) + " rows need " + std::to_string(count));
  std::vector<model::Prediction> out;
  for (uint64_t r = 0; r < env.rows; ++r) {
    circuit::Tensor t{{specs_->outputs}, std::vector<int64_t>(specs_->outputs)};
    for (int64_t c = 0; c < specs_->outputs; ++c)
      t.data[c] = crypto::decrypt(*secret_, list->at(r * specs_->outputs + c), specs_->output_carrier_bits,
                                  specs_->output_signed);
    BLINDML_ASSIGN_OR_RETURN(auto p, processing_->decode(t));
    out.push_back(std::move(p));
  }
  return out;
}

// ======================= Server =======================

struct Server::State {
  compiler::CompiledCircuit compiled;
  std::optional<runtime::Program> program;  // lowered once at load; shared by every run
  ModelId model_id{};
  std::string info;
  int64_t features = 0, outputs = 0;
};

Result<Server> Server::load(const std::string& path) {
  BLINDML_ASSIGN_OR_RETURN(auto bytes, read_file(path, kMaxServerEntry * 2));
  auto s = load_bytes(bytes);
  if (!s.ok()) return Status(s.status().code(), path + ": " + s.status().message());
  return s;
}

Result<Server> Server::load_bytes(std::span<const uint8_t> zip) {
  BLINDML_ASSIGN_OR_RETURN(auto files, internal::read_zip(zip, "server.zip", kMaxServerEntry));
  BLINDML_ASSIGN_OR_RETURN(Versions versions, check_versions(files, "server", "server.zip"));
  const auto* blob = entry(files, "circuit.bin");
  if (!blob) return corrupted("server.zip has no circuit.bin");
  auto compiled = compiler::deserialize_compiled_circuit(*blob, kMaxServerEntry);
  if (!compiled.ok()) return Status(compiled.status().code(), "server.zip/circuit.bin: " + compiled.status().message());
  const ModelId id = model_id_of(*blob);
  if (versions.model_id != hex(id))
    return corrupted("server.zip: versions.json names another model than circuit.bin holds");
  auto st = std::make_shared<State>(State{std::move(compiled).value(), std::nullopt, id, "", 0, 0});
  BLINDML_ASSIGN_OR_RETURN(const auto analysis, circuit::analyze(st->compiled.circuit));
  auto program = compiler::lower(st->compiled.circuit, analysis, st->compiled.params);
  if (!program.ok()) return Status(program.status().code(), "server.zip: " + program.status().message());
  st->program = std::move(program).value();
  const auto& c = st->compiled.circuit;
  if (c.inputs().size() != 1 || c.outputs().size() != 1 || c.node(c.inputs()[0]).shape.size() != 1 ||
      c.node(c.outputs()[0]).shape.size() != 1)
    return unimplemented("server.zip: only circuits with one input vector and one output vector are served");
  st->features = c.node(c.inputs()[0]).shape[0];
  st->outputs = c.node(c.outputs()[0]).shape[0];
  json info{{"model_id", hex(id)},
            {"parameters_fingerprint", crypto::fingerprint_hex(st->compiled.params)},
            {"input_shape", {st->features}},
            {"output_shape", {st->outputs}},
            {"needs_evaluation_keys", st->compiled.needs_bootstrapping},
            {"pbs_per_row", st->program->pbs_count()},
            {"format_version", kArtifactFormatVersion},
            {"blindml_version", blindml_version()}};
  st->info = info.dump();
  Server s;
  s.state_ = std::move(st);
  return s;
}

const compiler::CompiledCircuit& Server::compiled() const { return state_->compiled; }
ModelId Server::model_id() const { return state_->model_id; }
const std::string& Server::info_json() const { return state_->info; }
const runtime::Program& Server::program() const { return *state_->program; }
uint64_t Server::pbs_per_row() const { return state_->program->pbs_count(); }

Result<Server::Keys> Server::load_evaluation_keys(std::span<const uint8_t> bytes, const ServerLimits& limits,
                                                  ThreadPool* pool) const {
  if (bytes.size() > limits.max_evaluation_keys)
    return resource_exhausted("the evaluation keys are " + std::to_string(bytes.size()) + " bytes, over the limit of " +
                              std::to_string(limits.max_evaluation_keys));
  BLINDML_ASSIGN_OR_RETURN(Envelope env, unwrap(bytes, FileKind::kEvaluationKeys));
  if (env.model != state_->model_id)
    return invalid_argument("the evaluation keys were made for another model (model id " + hex(env.model) +
                            "; this server runs " + hex(state_->model_id) +
                            "): generate keys with this model's client.zip");
  Keys k;
  k.key_id = env.key;
  if (!state_->compiled.needs_bootstrapping) return k;
  if (env.payload.empty())
    return invalid_argument("these evaluation keys are empty (made for a leveled model); this model needs "
                            "bootstrapping keys: generate keys with this model's client.zip");
  auto seeded = crypto::deserialize_seeded_evaluation_keys(env.payload, state_->compiled.params, env.payload.size());
  if (!seeded.ok()) {
    if (seeded.status().code() == StatusCode::kParameterMismatch)
      return invalid_argument("the evaluation keys were made for other parameters (another model's client.zip)");
    return Status(seeded.status().code(), "evaluation keys: " + seeded.status().message());
  }
  k.keys = std::make_shared<const crypto::EvaluationKeys>(crypto::expand_evaluation_keys(*seeded, pool));
  return k;
}

Result<std::vector<uint8_t>> Server::run(std::span<const uint8_t> input, const Keys& keys, ThreadPool& pool,
                                         const ServerLimits& limits) const {
  const State& st = *state_;
  if (input.size() > limits.max_input)
    return resource_exhausted("the encrypted input is " + std::to_string(input.size()) + " bytes, over the limit of " +
                              std::to_string(limits.max_input));
  BLINDML_ASSIGN_OR_RETURN(Envelope env, unwrap(input, FileKind::kInput));
  if (env.model != st.model_id)
    return invalid_argument("the input was encrypted for another model (model id " + hex(env.model) +
                            "; this server runs " + hex(st.model_id) + "): encrypt with this model's client.zip");
  if (env.key != keys.key_id)
    return invalid_argument("the input was encrypted under another client's keys (key id " + hex(env.key) +
                            ", the evaluation keys are " + hex(keys.key_id) + ")");
  if (st.compiled.needs_bootstrapping && !keys.keys) return invalid_argument("this model needs evaluation keys");
  auto seeded = crypto::deserialize_seeded_lwe_list(env.payload, st.compiled.params, env.payload.size());
  if (!seeded.ok()) return Status(seeded.status().code(), "encrypted input: " + seeded.status().message());
  // The row count comes from the peer: every product with it is overflow-checked (a wrapped
  // rows·features once passed this test and sent the row loop past its buffers).
  const uint64_t rows = env.rows;
  const uint64_t features = static_cast<uint64_t>(st.features), outputs = static_cast<uint64_t>(st.outputs);
  const auto in_count = checked_mul(rows, features);
  if (rows == 0 || !in_count || seeded->count() != *in_count)
    return corrupted("the encrypted input holds " + std::to_string(seeded->count()) + " ciphertexts, its header says " +
                     std::to_string(rows) + " rows of " + std::to_string(st.features) + " features");
  const auto dim = st.compiled.params.big_lwe_dimension();
  const uint64_t words = dim.value + 1;
  const auto out_count = checked_mul(rows, outputs);
  const uint64_t out_bytes = out_count ? crypto::serialized_lwe_list_size(st.compiled.params, *out_count)
                                       : std::numeric_limits<uint64_t>::max();
  if (!out_count || out_bytes > limits.max_output)
    return resource_exhausted("the answer to " + std::to_string(rows) + " rows would be " + std::to_string(out_bytes) +
                              " bytes, over the limit of " + std::to_string(limits.max_output) +
                              ": send fewer rows per request");
  const auto in_bytes = checked_mul(*in_count, words * 8);
  if (!in_bytes || *in_bytes > limits.max_expanded_input)
    return resource_exhausted("the " + std::to_string(rows) + " rows of input would take " +
                              (in_bytes ? std::to_string(*in_bytes) : std::string("more than 2^64")) +
                              " bytes once expanded, over the limit of " + std::to_string(limits.max_expanded_input) +
                              ": send fewer rows per request");
  // Every row of the request together: each wave's PBS of all rows in one batch.
  const auto list = crypto::expand_seeded_lwe_list(*seeded);
  BLINDML_ASSIGN_OR_RETURN(auto res, runtime::execute(*st.program, rows, std::span(&list, 1), keys.keys.get(), pool));
  if (res.size() != 1 || res[0].count() != *out_count || res[0].data().size() != *out_count * words)
    return internal_error("the executor returned " + std::to_string(res.empty() ? 0 : res[0].count()) +
                          " output ciphertexts, " + std::to_string(rows) + " rows of the circuit need " +
                          std::to_string(*out_count));
  const crypto::LweCiphertextList& out = res[0];
  return wrap(FileKind::kOutput, st.model_id, env.key, rows, crypto::serialize_lwe_list(out, st.compiled.params));
}

Result<std::vector<uint8_t>> Server::run(std::span<const uint8_t> input, std::span<const uint8_t> evaluation_keys,
                                         ThreadPool& pool, const ServerLimits& limits) const {
  BLINDML_ASSIGN_OR_RETURN(Keys keys, load_evaluation_keys(evaluation_keys, limits, &pool));
  return run(input, keys, pool, limits);
}

// ======================= info =======================

Result<std::string> describe_file(const std::string& path) {
  BLINDML_ASSIGN_OR_RETURN(auto bytes, read_file(path, uint64_t{8} << 30));
  std::string out;
  if (bytes.size() >= 4 && std::memcmp(bytes.data(), "PK\3\4", 4) == 0) {
    BLINDML_ASSIGN_OR_RETURN(auto files, internal::read_zip(bytes, path, kMaxServerEntry));
    out += path + ": zip artifact, " + std::to_string(bytes.size()) + " bytes\n";
    for (const auto& [name, data] : files) out += "  " + name + " (" + std::to_string(data.size()) + " bytes)\n";
    if (const auto* v = entry(files, "versions.json")) out += std::string(v->begin(), v->end());
    if (files.count("client.specs.json")) {
      BLINDML_ASSIGN_OR_RETURN(auto c, Client::load_bytes(bytes));
      out += "client: " + std::to_string(c.specs().input_features) + " features -> " +
             std::to_string(c.specs().outputs) + " outputs, " + c.processing().family + " " +
             (c.processing().kind == model::ModelKind::kClassifier ? "classifier" : "regressor") +
             ", carrier " + std::to_string(c.specs().carrier_bits) + " bits, evaluation keys " +
             (c.specs().needs_evaluation_keys ? "needed" : "not needed") + "\n";
    } else if (files.count("circuit.bin")) {
      BLINDML_ASSIGN_OR_RETURN(auto s, Server::load_bytes(bytes));
      out += compiler::compile_report(s.compiled());
    }
    return out;
  }
  if (bytes.size() < 4 || std::memcmp(bytes.data(), kEnvelopeMagic, 4) != 0)
    return invalid_argument(path + " is neither a blindml artifact nor a blindml exchange file");
  for (FileKind k : {FileKind::kSecretKey, FileKind::kEvaluationKeys, FileKind::kInput, FileKind::kOutput}) {
    auto env = unwrap(bytes, k);
    if (!env.ok()) {
      if (env.status().code() == StatusCode::kInvalidArgument) continue;  // another kind
      return Status(env.status().code(), path + ": " + env.status().message());
    }
    out += path + ": " + kind_name(k) + ", " + std::to_string(bytes.size()) + " bytes\n";
    out += "  key id " + hex(env->key) + "\n";
    if (k == FileKind::kInput || k == FileKind::kOutput)
      out += "  model id " + hex(env->model) + ", " + std::to_string(env->rows) + " row(s)\n";
    if (k == FileKind::kEvaluationKeys && env->payload.empty()) out += "  no keys: made for a leveled model\n";
    return out;
  }
  return invalid_argument(path + " is neither a blindml artifact nor a blindml exchange file");
}

}  // namespace blindml::deploy
