// Compiled circuits and their binary format; the format is specified in docs/formats.md
// ("Compiled circuit (server side)") and summarised in include/blindml/compiler/compiled.h.
#include "blindml/compiler/compiled.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "blindml/base/bytes.h"
#include "blindml/base/checked.h"
#include "blindml/circuit/analysis.h"
#include "blindml/crypto/keys.h"

namespace blindml::compiler {
namespace {

using circuit::Node;
using circuit::OpKind;

constexpr std::array<uint8_t, 4> kCircuitMagic = {'B', 'L', 'M', 'C'};
// The crypto blobs' magic: named in the error when someone hands us a key or ciphertext blob.
constexpr std::array<uint8_t, 4> kCryptoBlobMagic = {'B', 'L', 'M', 'L'};

// Header field offsets (docs/formats.md); the last two are patched once the payload is written.
constexpr size_t kFingerprintOffset = 8;
constexpr size_t kPayloadLengthOffset = 24;
constexpr size_t kChecksumOffset = 32;
static_assert(kFingerprintOffset + sizeof(crypto::Fingerprint) == kPayloadLengthOffset);
static_assert(kChecksumOffset + 32 == kCircuitHeaderSize);

constexpr uint32_t kFlagNeedsBootstrapping = 1u << 0;
constexpr uint32_t kKnownFlags = kFlagNeedsBootstrapping;

// The smallest encoding of a node: kind (1 byte), ten counts (name, inputs, shape, attrs, constant
// shape, constant data, range_min, range_max, tables, table_index: 8 bytes each), input_bits (4),
// input_min (8). Bounds the node count before anything is reserved for the nodes.
constexpr uint64_t kMinNodeBytes = 1 + 10 * 8 + 4 + 8;

constexpr const char* kOptimizedName = "optimized";

// ---- which fields a kind uses (circuit.h, Builder) ----

bool uses_attrs(OpKind k) {
  return k == OpKind::kSum || k == OpKind::kTranspose || k == OpKind::kSlice || k == OpKind::kGather ||
         k == OpKind::kConcat || k == OpKind::kRound;
}
bool uses_constant(OpKind k) { return k == OpKind::kAddConst || k == OpKind::kMulConst || k == OpKind::kMatMul; }

std::string node_label(const Node& node, size_t id) {
  return std::string(circuit::op_kind_name(node.kind)) + " '" + node.name + "' (%" + std::to_string(id) + ")";
}

// Fields that a node's kind does not use must be empty: one encoding per circuit, and nothing in
// a blob that no check looks at. invalid_argument naming the node and the field.
Status check_unused_fields_empty(const circuit::Circuit& c) {
  for (size_t i = 0; i < c.size(); ++i) {
    const Node& n = c.node(static_cast<circuit::ValueId>(i));
    auto refuse = [&](const char* field) {
      return invalid_argument(node_label(n, i) + " carries " + field + ", which a " +
                              circuit::op_kind_name(n.kind) + " does not use");
    };
    if (n.kind == OpKind::kInput && !n.inputs.empty()) return refuse("operands");
    if (!uses_attrs(n.kind) && !n.attrs.empty()) return refuse("attributes");
    if (!uses_constant(n.kind) && (!n.constant.shape.empty() || !n.constant.data.empty()))
      return refuse("a clear constant");
    if (n.kind != OpKind::kInput && (!n.range_min.empty() || !n.range_max.empty())) return refuse("input ranges");
    if (n.kind != OpKind::kLookup &&
        (n.input_bits != 0 || n.input_min != 0 || !n.tables.empty() || !n.table_index.empty()))
      return refuse("lookup tables");
  }
  return Status();
}

// Elements summed over every value; the circuit must have passed validate() (positive
// dimensions). invalid_argument naming the node at which the total passes kMaxCircuitElements.
Status check_element_budget(const circuit::Circuit& c) {
  uint64_t total = 0;
  for (size_t i = 0; i < c.size(); ++i) {
    const Node& n = c.node(static_cast<circuit::ValueId>(i));
    std::optional<uint64_t> elements = 1;
    for (int64_t d : n.shape) {
      elements = d >= 0 && elements ? checked_mul(*elements, static_cast<uint64_t>(d)) : std::nullopt;
    }
    const auto sum = elements ? checked_add(total, *elements) : std::nullopt;
    if (!sum || *sum > kMaxCircuitElements) {
      return invalid_argument("the circuit's values hold more than " + std::to_string(kMaxCircuitElements) +
                              " elements in all (the limit is passed at " + node_label(n, i) + ", shape " +
                              circuit::shape_to_string(n.shape) + "): split the model or batch fewer rows");
    }
    total = *sum;
  }
  return Status();
}

// "optimized", or the name of the named set with the same cryptographic content and precision.
const char* canonical_name(const crypto::ParameterSet& params) {
  const auto fp = crypto::fingerprint(params);
  for (const auto& named : crypto::named_parameter_sets()) {
    if (named.message_bits == params.message_bits && crypto::fingerprint(named) == fp) return named.name;
  }
  return kOptimizedName;
}

// The PBS reads a table of 2^(w+1) boxes from a polynomial of N coefficients (optimizer.h).
Status check_polynomial_fits_tables(const crypto::ParameterSet& params, const circuit::Analysis& analysis) {
  if (!analysis.needs_bootstrapping()) return Status();
  const uint32_t w = analysis.max_lookup_bits;
  if (w + 1 >= 64 || params.polynomial_size.value < (uint64_t{1} << (w + 1))) {
    return non_conformant("polynomial size N = " + std::to_string(params.polynomial_size.value) +
                          " cannot hold the table of a " + std::to_string(w) + "-bit lookup (needs N >= 2^" +
                          std::to_string(w + 1) + ")");
  }
  return Status();
}

// ---- writing ----

void put_i64s(ByteWriter& w, const std::vector<int64_t>& v) {
  w.put_u64(v.size());
  // int64_t and uint64_t may alias; the words are stored as two's complement.
  w.put_u64s(std::span<const uint64_t>(reinterpret_cast<const uint64_t*>(v.data()), v.size()));
}

void put_u32s(ByteWriter& w, const std::vector<uint32_t>& v) {
  w.put_u64(v.size());
  for (uint32_t x : v) w.put_u32(x);
}

void put_string(ByteWriter& w, const std::string& s) {
  w.put_u64(s.size());
  w.put_bytes(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
}

void put_params(ByteWriter& w, const crypto::ParameterSet& p) {
  w.put_u32(p.message_bits);
  w.put_u64(p.lwe_dimension.value);
  w.put_u64(p.glwe_dimension.value);
  w.put_u64(p.polynomial_size.value);
  w.put_f64(p.lwe_noise_log2_std);
  w.put_f64(p.glwe_noise_log2_std);
  w.put_u64(p.pbs_base_log.value);
  w.put_u64(p.pbs_level_count.value);
  w.put_u64(p.ks_base_log.value);
  w.put_u64(p.ks_level_count.value);
}

void put_node(ByteWriter& w, const Node& n) {
  w.put_u8(static_cast<uint8_t>(n.kind));
  put_string(w, n.name);
  put_u32s(w, n.inputs);
  put_i64s(w, n.shape);
  put_i64s(w, n.attrs);
  put_i64s(w, n.constant.shape);
  put_i64s(w, n.constant.data);
  put_i64s(w, n.range_min);
  put_i64s(w, n.range_max);
  w.put_u32(n.input_bits);
  w.put_u64(static_cast<uint64_t>(n.input_min));
  w.put_u64(n.tables.size());
  for (const auto& t : n.tables) put_i64s(w, t);
  put_u32s(w, n.table_index);
}

// ---- reading ----

// A count of items of bytes_each bytes, checked against what remains before anything is sized
// from it (count·bytes_each cannot overflow: the comparison divides).
Result<uint64_t> get_count(ByteReader& r, const std::string& what, uint64_t bytes_each) {
  uint64_t count = 0;
  BLINDML_RETURN_IF_ERROR(r.get_u64(count, what + " count"));
  if (count > r.remaining() / bytes_each) {
    return corrupted(what + " count " + std::to_string(count) + " needs at least " + std::to_string(bytes_each) +
                     " bytes each, but only " + std::to_string(r.remaining()) + " payload bytes remain");
  }
  return count;
}

Status get_i64s(ByteReader& r, std::vector<int64_t>& out, const std::string& what) {
  BLINDML_ASSIGN_OR_RETURN(const uint64_t count, get_count(r, what, 8));
  out.resize(count);
  return r.get_u64s(std::span<uint64_t>(reinterpret_cast<uint64_t*>(out.data()), out.size()), what);
}

Status get_u32s(ByteReader& r, std::vector<uint32_t>& out, const std::string& what) {
  BLINDML_ASSIGN_OR_RETURN(const uint64_t count, get_count(r, what, 4));
  out.resize(count);
  for (uint32_t& x : out) BLINDML_RETURN_IF_ERROR(r.get_u32(x, what));
  return Status();
}

Status get_string(ByteReader& r, std::string& out, const std::string& what) {
  BLINDML_ASSIGN_OR_RETURN(const uint64_t length, get_count(r, what, 1));
  out.resize(length);
  return r.get_bytes(std::span<uint8_t>(reinterpret_cast<uint8_t*>(out.data()), out.size()), what);
}

Status get_params(ByteReader& r, crypto::ParameterSet& p) {
  uint64_t v = 0;
  BLINDML_RETURN_IF_ERROR(r.get_u32(p.message_bits, "message bits"));
  BLINDML_RETURN_IF_ERROR(r.get_u64(v, "LWE dimension n"));
  p.lwe_dimension = crypto::LweDimension(v);
  BLINDML_RETURN_IF_ERROR(r.get_u64(v, "GLWE dimension k"));
  p.glwe_dimension = crypto::GlweDimension(v);
  BLINDML_RETURN_IF_ERROR(r.get_u64(v, "polynomial size N"));
  p.polynomial_size = crypto::PolynomialSize(v);
  BLINDML_RETURN_IF_ERROR(r.get_f64(p.lwe_noise_log2_std, "LWE noise"));
  BLINDML_RETURN_IF_ERROR(r.get_f64(p.glwe_noise_log2_std, "GLWE noise"));
  BLINDML_RETURN_IF_ERROR(r.get_u64(v, "PBS base log"));
  p.pbs_base_log = crypto::DecompBaseLog(v);
  BLINDML_RETURN_IF_ERROR(r.get_u64(v, "PBS level count"));
  p.pbs_level_count = crypto::DecompLevelCount(v);
  BLINDML_RETURN_IF_ERROR(r.get_u64(v, "KS base log"));
  p.ks_base_log = crypto::DecompBaseLog(v);
  BLINDML_RETURN_IF_ERROR(r.get_u64(v, "KS level count"));
  p.ks_level_count = crypto::DecompLevelCount(v);
  return Status();
}

Status get_node(ByteReader& r, size_t id, Node& n) {
  const std::string at = "node %" + std::to_string(id);
  uint8_t kind = 0;
  BLINDML_RETURN_IF_ERROR(r.get_u8(kind, at + " kind"));
  if (kind < 1 || kind > circuit::kMaxOpKind) {
    return corrupted(at + " has op kind " + std::to_string(kind) + ", outside 1.." +
                     std::to_string(circuit::kMaxOpKind));
  }
  n.kind = static_cast<OpKind>(kind);
  BLINDML_RETURN_IF_ERROR(get_string(r, n.name, at + " name"));
  const std::string label = at + " (" + circuit::op_kind_name(n.kind) + " '" + n.name + "')";
  BLINDML_RETURN_IF_ERROR(get_u32s(r, n.inputs, label + " operand"));
  BLINDML_RETURN_IF_ERROR(get_i64s(r, n.shape, label + " shape dimension"));
  BLINDML_RETURN_IF_ERROR(get_i64s(r, n.attrs, label + " attribute"));
  BLINDML_RETURN_IF_ERROR(get_i64s(r, n.constant.shape, label + " constant shape dimension"));
  BLINDML_RETURN_IF_ERROR(get_i64s(r, n.constant.data, label + " constant element"));
  BLINDML_RETURN_IF_ERROR(get_i64s(r, n.range_min, label + " range_min"));
  BLINDML_RETURN_IF_ERROR(get_i64s(r, n.range_max, label + " range_max"));
  BLINDML_RETURN_IF_ERROR(r.get_u32(n.input_bits, label + " input_bits"));
  uint64_t input_min = 0;
  BLINDML_RETURN_IF_ERROR(r.get_u64(input_min, label + " input_min"));
  n.input_min = static_cast<int64_t>(input_min);
  // Each table costs at least its own count word.
  BLINDML_ASSIGN_OR_RETURN(const uint64_t tables, get_count(r, label + " table", 8));
  n.tables.resize(tables);
  for (uint64_t t = 0; t < tables; ++t) {
    BLINDML_RETURN_IF_ERROR(get_i64s(r, n.tables[t], label + " table " + std::to_string(t) + " entry"));
  }
  BLINDML_RETURN_IF_ERROR(get_u32s(r, n.table_index, label + " table_index"));
  return Status();
}

std::string hex_of(std::span<const uint8_t> bytes) { return to_hex(bytes); }

std::string format(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

}  // namespace

// ---- compile ----

Result<CompiledCircuit> compile(const circuit::Circuit& circuit, const OptimizerOptions& options) {
  BLINDML_RETURN_IF_ERROR(circuit.validate());
  BLINDML_RETURN_IF_ERROR(check_unused_fields_empty(circuit));
  BLINDML_RETURN_IF_ERROR(check_element_budget(circuit));
  BLINDML_ASSIGN_OR_RETURN(const circuit::Analysis analysis, circuit::analyze(circuit));
  BLINDML_ASSIGN_OR_RETURN(const OptimizerChoice choice, choose_parameters(analysis, options));
  CompiledCircuit compiled{
      .circuit = circuit,
      .params = choice.params,
      .carrier_bits = analysis.carrier_bits,
      .needs_bootstrapping = analysis.needs_bootstrapping(),
      .log2_p_error_per_read = choice.log2_p_error_per_read,
      .global_p_error = choice.global_p_error,
      .estimated_pbs_ms = choice.estimated_pbs_ms,
  };
  // The name a loaded blob will carry, so that a round trip gives back an equal set.
  compiled.params.name = canonical_name(compiled.params);
  // What the loader re-checks, so that whatever compile() returns also loads.
  BLINDML_RETURN_IF_ERROR(crypto::check_security(compiled.params));
  BLINDML_RETURN_IF_ERROR(check_polynomial_fits_tables(compiled.params, analysis));
  return compiled;
}

std::string compile_report(const CompiledCircuit& c) {
  const crypto::ParameterSet& p = c.params;
  std::string out;
  std::array<uint64_t, circuit::kMaxOpKind + 1> per_kind{};
  for (const Node& n : c.circuit.nodes()) ++per_kind[static_cast<uint8_t>(n.kind)];
  out += "circuit: " + std::to_string(c.circuit.size()) + " nodes (";
  bool first = true;
  for (uint8_t k = 1; k <= circuit::kMaxOpKind; ++k) {
    if (per_kind[k] == 0) continue;
    out += (first ? "" : ", ") + std::to_string(per_kind[k]) + " " + circuit::op_kind_name(static_cast<OpKind>(k));
    first = false;
  }
  out += ")\n";

  const auto analysis = circuit::analyze(c.circuit);
  if (analysis.ok()) {
    uint32_t widest = 0;
    for (const auto& v : analysis->values) widest = std::max(widest, v.bits);
    out += "widths: widest value " + std::to_string(widest) + " bits, carrier P = " +
           std::to_string(c.carrier_bits) + " bits (delta = 2^" + std::to_string(63 - int64_t{c.carrier_bits}) + ")" +
           (analysis->needs_bootstrapping()
                ? ", widest lookup input " + std::to_string(analysis->max_lookup_bits) + " bits\n"
                : ", no lookups\n");
    if (c.needs_bootstrapping) {
      out += "work: " + std::to_string(analysis->pbs_count) + " PBS per evaluation (depth " +
             std::to_string(analysis->pbs_depth) + "), " + std::to_string(analysis->leveled_ops) + " leveled ops\n";
    } else {
      out += "work: leveled only (no PBS, no evaluation keys), " + std::to_string(analysis->leveled_ops) +
             " leveled ops\n";
    }
    // The encodings the client sees, and the read that sets the parameters.
    const auto& in = analysis->values[c.circuit.inputs()[0]];
    const auto& o = analysis->values[c.circuit.outputs()[0]];
    out += "encodings: per partition of leveled values; input at P = " + std::to_string(in.carrier_bits) +
           ", output at P = " + std::to_string(o.carrier_bits) + " bits\n";
    const circuit::NoiseConstraint* tightest = nullptr;
    double worst = 0;
    for (const auto& k : analysis->constraints) {
      const double lp = log2_read_error_probability(c.params, k);
      if (tightest == nullptr || lp > worst) {
        tightest = &k;
        worst = lp;
      }
    }
    if (tightest != nullptr && std::isfinite(worst))
      out += "tightest read: " + tightest->where + " (" + std::to_string(tightest->read_bits) + " bits read, noise x2^" +
             std::to_string(tightest->amplify_log2) + "): 2^" + format("%.1f", worst) + " per read\n";
  } else {
    out += "analysis failed: " + analysis.status().to_string() + "\n";
  }

  out += std::string("parameters: ") + p.name + " (fingerprint " + crypto::fingerprint_hex(p) + "): n = " +
         std::to_string(p.lwe_dimension.value) + ", k = " + std::to_string(p.glwe_dimension.value) +
         ", N = " + std::to_string(p.polynomial_size.value) + ", sigma_lwe = 2^" +
         format("%.2f", p.lwe_noise_log2_std) + ", sigma_glwe = 2^" + format("%.2f", p.glwe_noise_log2_std) +
         ", PBS 2^" + std::to_string(p.pbs_base_log.value) + " x " + std::to_string(p.pbs_level_count.value) +
         ", KS 2^" + std::to_string(p.ks_base_log.value) + " x " + std::to_string(p.ks_level_count.value) +
         ", " + std::to_string(p.message_bits) + "-bit messages" +
         (c.needs_bootstrapping ? "" : " (leveled: only k, N and sigma_glwe are used)") + "\n";
  out += "security: sigma above the 128-bit line by " +
         format("%.2f", crypto::security_margin_bits(p.lwe_dimension.value, p.lwe_noise_log2_std)) +
         " bits (LWE), " +
         format("%.2f", crypto::security_margin_bits(p.big_lwe_dimension().value, p.glwe_noise_log2_std)) +
         " bits (GLWE)\n";
  out += "error probability: per read <= 2^" + format("%.2f", c.log2_p_error_per_read) +
         ", per evaluation " + format("%.3g", c.global_p_error) + "\n";
  if (c.needs_bootstrapping) {
    out += "cost: " + format("%.2f", c.estimated_pbs_ms) + " ms per PBS (one thread, estimated)";
    if (analysis.ok()) {
      out += ", " + format("%.1f", c.estimated_pbs_ms * static_cast<double>(analysis->pbs_count)) +
             " ms per evaluation";
    }
    out += "\n";
  }
  if (analysis.ok()) {
    // What the client stores and sends: the seeded evaluation keys once, then per row the input
    // (seeded ciphertexts: one 8-byte body per element) and the answer (kN + 1 words per output).
    uint64_t in_elements = 0, out_elements = 0;
    for (circuit::ValueId i : c.circuit.inputs()) in_elements += circuit::shape_elements(c.circuit.node(i).shape);
    for (circuit::ValueId o : c.circuit.outputs()) out_elements += circuit::shape_elements(c.circuit.node(o).shape);
    auto bytes = [](uint64_t b) {
      return b < 1000 ? std::to_string(b) + " B" : format("%.1f", static_cast<double>(b) / 1e3) + " KB";
    };
    out += "sizes: evaluation keys " +
           (c.needs_bootstrapping ? format("%.1f", static_cast<double>(crypto::seeded_evaluation_keys_bytes(p)) / 1e6) +
                                        " MB (seeded)"
                                  : std::string("none")) +
           "; per row, input about " + bytes(in_elements * 8) + ", answer " +
           bytes(out_elements * (p.big_lwe_dimension().value + 1) * 8) + "\n";
  }
  return out;
}

// ---- serialisation ----

std::vector<uint8_t> serialize_compiled_circuit(const CompiledCircuit& c) {
  ByteWriter w;
  w.put_bytes(kCircuitMagic);
  w.put_u32(kCircuitFormatVersion);
  w.put_bytes(crypto::fingerprint(c.params));
  w.put_u64(0);  // payload length, patched below
  const std::array<uint8_t, 32> zeros{};
  w.put_bytes(zeros);  // checksum, patched below

  put_params(w, c.params);
  w.put_u32(c.carrier_bits);
  w.put_u32(c.needs_bootstrapping ? kFlagNeedsBootstrapping : 0);
  w.put_f64(c.log2_p_error_per_read);
  w.put_f64(c.global_p_error);
  w.put_f64(c.estimated_pbs_ms);
  w.put_u64(c.circuit.size());
  for (const Node& n : c.circuit.nodes()) put_node(w, n);

  std::vector<uint8_t>& bytes = w.bytes();
  const auto payload = std::span<const uint8_t>(bytes).subspan(kCircuitHeaderSize);
  w.patch_u64(kPayloadLengthOffset, payload.size());
  const auto digest = sha256(payload);
  std::memcpy(bytes.data() + kChecksumOffset, digest.data(), digest.size());
  return w.take();
}

Result<CompiledCircuit> deserialize_compiled_circuit(std::span<const uint8_t> blob, uint64_t max_bytes) {
  // ---- header ----
  if (blob.size() > max_bytes) {
    return resource_exhausted("compiled circuit of " + std::to_string(blob.size()) +
                              " bytes exceeds the limit of " + std::to_string(max_bytes) + " bytes");
  }
  if (blob.size() < kCircuitHeaderSize) {
    return corrupted("truncated compiled circuit: " + std::to_string(blob.size()) + " bytes, shorter than the " +
                     std::to_string(kCircuitHeaderSize) + "-byte header");
  }
  ByteReader h(blob.first(kCircuitHeaderSize));
  std::array<uint8_t, 4> magic;
  BLINDML_RETURN_IF_ERROR(h.get_bytes(magic, "magic"));
  if (magic != kCircuitMagic) {
    std::string hint = magic == kCryptoBlobMagic ? " (this is a key or ciphertext blob, not a circuit)" : "";
    return corrupted("not a blindml compiled circuit: magic bytes " + hex_of(magic) + ", expected " +
                     hex_of(kCircuitMagic) + " (\"BLMC\")" + hint);
  }
  uint32_t version = 0;
  BLINDML_RETURN_IF_ERROR(h.get_u32(version, "format version"));
  if (version != kCircuitFormatVersion) {
    return version_mismatch("compiled circuit format version " + std::to_string(version) +
                            " is not supported: this build reads version " + std::to_string(kCircuitFormatVersion) +
                            " (recompile the model with this blindml)");
  }
  crypto::Fingerprint header_fp;
  BLINDML_RETURN_IF_ERROR(h.get_bytes(header_fp, "parameter fingerprint"));
  uint64_t payload_length = 0;
  BLINDML_RETURN_IF_ERROR(h.get_u64(payload_length, "payload length"));
  std::array<uint8_t, 32> checksum;
  BLINDML_RETURN_IF_ERROR(h.get_bytes(checksum, "checksum"));
  const auto payload = blob.subspan(kCircuitHeaderSize);
  if (payload_length != payload.size()) {
    return corrupted("payload length mismatch: header says " + std::to_string(payload_length) +
                     " bytes, the compiled circuit holds " + std::to_string(payload.size()) +
                     " after the header (truncated or padded)");
  }
  if (sha256(payload) != checksum) {
    return corrupted("checksum mismatch: the SHA-256 of the compiled circuit's payload differs from the header's");
  }

  // ---- parameters and figures ----
  ByteReader r(payload);
  crypto::ParameterSet params{.name = kOptimizedName,
                              .message_bits = 0,
                              .lwe_dimension = crypto::LweDimension(0),
                              .glwe_dimension = crypto::GlweDimension(0),
                              .polynomial_size = crypto::PolynomialSize(0),
                              .lwe_noise_log2_std = 0,
                              .glwe_noise_log2_std = 0,
                              .pbs_base_log = crypto::DecompBaseLog(0),
                              .pbs_level_count = crypto::DecompLevelCount(0),
                              .ks_base_log = crypto::DecompBaseLog(0),
                              .ks_level_count = crypto::DecompLevelCount(0)};
  BLINDML_RETURN_IF_ERROR(get_params(r, params));
  if (crypto::fingerprint(params) != header_fp) {
    return corrupted("parameter fingerprint mismatch: the header says " + hex_of(header_fp) +
                     ", the parameters in the payload give " + crypto::fingerprint_hex(params));
  }
  params.name = canonical_name(params);
  BLINDML_RETURN_IF_ERROR(crypto::check_security(params));

  uint32_t carrier_bits = 0, flags = 0;
  double log2_p_error_per_read = 0, global_p_error = 0, estimated_pbs_ms = 0;
  BLINDML_RETURN_IF_ERROR(r.get_u32(carrier_bits, "carrier bits"));
  BLINDML_RETURN_IF_ERROR(r.get_u32(flags, "flags"));
  if ((flags & ~kKnownFlags) != 0) {
    return corrupted("unknown flags " + std::to_string(flags) + " in the compiled circuit (this build knows bit 0)");
  }
  const bool needs_bootstrapping = (flags & kFlagNeedsBootstrapping) != 0;
  BLINDML_RETURN_IF_ERROR(r.get_f64(log2_p_error_per_read, "log2 error probability per read"));
  BLINDML_RETURN_IF_ERROR(r.get_f64(global_p_error, "global error probability"));
  BLINDML_RETURN_IF_ERROR(r.get_f64(estimated_pbs_ms, "estimated PBS milliseconds"));
  if (!std::isfinite(log2_p_error_per_read) || log2_p_error_per_read > 0) {
    return corrupted("log2 error probability per read " + format("%g", log2_p_error_per_read) +
                     " is not a finite value <= 0");
  }
  if (!(global_p_error >= 0 && global_p_error <= 1)) {
    return corrupted("global error probability " + format("%g", global_p_error) + " is not in [0, 1]");
  }
  if (!std::isfinite(estimated_pbs_ms) || estimated_pbs_ms < 0) {
    return corrupted("estimated PBS time " + format("%g", estimated_pbs_ms) + " ms is not a finite value >= 0");
  }

  // ---- nodes ----
  BLINDML_ASSIGN_OR_RETURN(const uint64_t node_count, get_count(r, "node", kMinNodeBytes));
  if (node_count > std::numeric_limits<circuit::ValueId>::max()) {
    return corrupted("node count " + std::to_string(node_count) + " exceeds what a value id can address");
  }
  std::vector<Node> nodes(node_count);
  for (size_t i = 0; i < nodes.size(); ++i) BLINDML_RETURN_IF_ERROR(get_node(r, i, nodes[i]));
  if (r.remaining() != 0) {
    return corrupted(std::to_string(r.remaining()) + " trailing bytes after the last node of the compiled circuit");
  }

  // ---- the invariants of compiled.h ----
  CompiledCircuit out{
      .circuit = circuit::Circuit(std::move(nodes)),
      .params = params,
      .carrier_bits = carrier_bits,
      .needs_bootstrapping = needs_bootstrapping,
      .log2_p_error_per_read = log2_p_error_per_read,
      .global_p_error = global_p_error,
      .estimated_pbs_ms = estimated_pbs_ms,
  };
  auto as_corrupted = [](const Status& s, const std::string& what) {
    return corrupted("the compiled circuit's " + what + ": " + s.message());
  };
  if (Status s = out.circuit.validate(); !s.ok()) return as_corrupted(s, "circuit fails validation");
  if (Status s = check_unused_fields_empty(out.circuit); !s.ok()) return as_corrupted(s, "circuit is malformed");
  if (Status s = check_element_budget(out.circuit); !s.ok()) return as_corrupted(s, "circuit is too large");
  auto analysis = circuit::analyze(out.circuit);
  if (!analysis.ok()) return as_corrupted(analysis.status(), "circuit fails the analysis");
  if (analysis->carrier_bits != out.carrier_bits) {
    return corrupted("the compiled circuit records carrier bits P = " + std::to_string(out.carrier_bits) +
                     ", the analysis of its circuit gives " + std::to_string(analysis->carrier_bits));
  }
  if (analysis->needs_bootstrapping() != out.needs_bootstrapping) {
    return corrupted(std::string("the compiled circuit is marked as ") +
                     (out.needs_bootstrapping ? "needing" : "not needing") +
                     " bootstrapping, but its circuit has " + std::to_string(analysis->pbs_count) + " PBS");
  }
  BLINDML_RETURN_IF_ERROR(check_polynomial_fits_tables(out.params, *analysis));
  return out;
}

}  // namespace blindml::compiler
