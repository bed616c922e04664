// Compiled circuits (docs/formats.md, "Compiled circuit (server side)"): compile() on circuits
// that cover every op kind, round trips that keep every node field and every parameter, the
// documented byte layout (walked here independently of compiled.cc), and a corrupted-input
// corpus — every truncation, flipped bytes, wrong magic, future version, byte limits, inflated
// counts, forged circuits and parameters (re-checksummed so the checks behind the checksum run) —
// each refused with its specific Status code and a message naming the problem, never a crash.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "blindml/base/bytes.h"
#include "blindml/circuit/analysis.h"
#include "blindml/circuit/circuit.h"
#include "blindml/compiler/compiled.h"
#include "blindml/crypto/params.h"

using namespace blindml;
using namespace blindml::compiler;
using circuit::Builder;
using circuit::Circuit;
using circuit::Node;
using circuit::OpKind;
using circuit::Tensor;

namespace {

constexpr uint64_t kNoLimit = ~uint64_t{0};

// ---- the layout of docs/formats.md, written independently of compiled.cc ----

constexpr size_t kVersionAt = 4;
constexpr size_t kFingerprintAt = 8;
constexpr size_t kLengthAt = 24;
constexpr size_t kChecksumAt = 32;
constexpr size_t kHeader = 64;
// Payload fields (offsets from the start of the blob).
constexpr size_t kMessageBitsAt = kHeader;               // u32
constexpr size_t kLweDimensionAt = kHeader + 4;          // u64
constexpr size_t kLweNoiseAt = kHeader + 4 + 3 * 8;      // f64
constexpr size_t kCarrierBitsAt = kHeader + 4 + 9 * 8;   // u32
constexpr size_t kFlagsAt = kCarrierBitsAt + 4;          // u32
constexpr size_t kLog2PErrorAt = kFlagsAt + 4;           // f64
constexpr size_t kGlobalPErrorAt = kLog2PErrorAt + 8;    // f64
constexpr size_t kPbsMsAt = kGlobalPErrorAt + 8;         // f64
constexpr size_t kNodeCountAt = kPbsMsAt + 8;            // u64
constexpr size_t kFirstNodeAt = kNodeCountAt + 8;

uint32_t read_u32(const std::vector<uint8_t>& b, size_t at) {
  uint32_t v;
  std::memcpy(&v, b.data() + at, 4);
  return v;
}
uint64_t read_u64(const std::vector<uint8_t>& b, size_t at) {
  uint64_t v;
  std::memcpy(&v, b.data() + at, 8);
  return v;
}
double read_f64(const std::vector<uint8_t>& b, size_t at) {
  double v;
  std::memcpy(&v, b.data() + at, 8);
  return v;
}
void write_u32(std::vector<uint8_t>& b, size_t at, uint32_t v) { std::memcpy(b.data() + at, &v, 4); }
void write_u64(std::vector<uint8_t>& b, size_t at, uint64_t v) { std::memcpy(b.data() + at, &v, 8); }
void write_f64(std::vector<uint8_t>& b, size_t at, double v) { std::memcpy(b.data() + at, &v, 8); }

// Recomputes the payload length and the checksum, so that a forged payload gets past them.
void reseal(std::vector<uint8_t>& b) {
  write_u64(b, kLengthAt, b.size() - kHeader);
  const auto digest = sha256(std::span<const uint8_t>(b).subspan(kHeader));
  std::memcpy(b.data() + kChecksumAt, digest.data(), digest.size());
}

// Where each field of one node starts (each "_at" of a list is its u64 count).
struct NodeLayout {
  size_t kind_at, name_at, inputs_at, shape_at, attrs_at, constant_shape_at, constant_data_at, range_min_at,
      range_max_at, input_bits_at, input_min_at, tables_at, table_index_at, end;
};

// Walks the documented layout; fails the test if the blob does not end where the layout says.
std::vector<NodeLayout> walk(const std::vector<uint8_t>& b) {
  std::vector<NodeLayout> nodes;
  size_t at = kFirstNodeAt;
  const uint64_t count = read_u64(b, kNodeCountAt);
  auto list = [&](size_t each) {
    const size_t start = at;
    at += 8 + each * read_u64(b, at);
    return start;
  };
  for (uint64_t i = 0; i < count; ++i) {
    NodeLayout n{};
    n.kind_at = at;
    at += 1;
    n.name_at = list(1);
    n.inputs_at = list(4);
    n.shape_at = list(8);
    n.attrs_at = list(8);
    n.constant_shape_at = list(8);
    n.constant_data_at = list(8);
    n.range_min_at = list(8);
    n.range_max_at = list(8);
    n.input_bits_at = at;
    at += 4;
    n.input_min_at = at;
    at += 8;
    n.tables_at = at;
    const uint64_t tables = read_u64(b, at);
    at += 8;
    for (uint64_t t = 0; t < tables; ++t) list(8);
    n.table_index_at = list(4);
    n.end = at;
    nodes.push_back(n);
  }
  EXPECT_EQ(at, b.size()) << "the documented layout does not account for every byte";
  return nodes;
}

// ---- circuits ----

// Deterministic pseudo-random integers in [lo, hi].
std::vector<int64_t> ints(size_t n, int64_t lo, int64_t hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int64_t> d(lo, hi);
  std::vector<int64_t> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// 30 signed 8-bit features · 30 signed 8-bit weights + a bias: leveled, no PBS.
Circuit dot_product_circuit() {
  Builder b;
  auto x = b.input({30}, -128, 127, "x");
  auto y = b.matmul(x, Tensor{{30}, ints(30, -128, 127, 1)}, "dot");
  auto z = b.add_const(y, 1234, "bias");
  b.output(z, "y");
  auto c = b.finish();
  EXPECT_TRUE(c.ok()) << c.status().to_string();
  return *c;
}

std::vector<int64_t> relu_table(uint32_t bits, int64_t input_min) {
  std::vector<int64_t> t(size_t{1} << bits);
  for (size_t i = 0; i < t.size(); ++i) t[i] = std::max<int64_t>(0, static_cast<int64_t>(i) + input_min);
  return t;
}

// matmul → round (approximate and exact) → ReLU lookups → add → matmul → output.
Circuit mlp_circuit() {
  Builder b;
  auto x = b.input({8}, 0, 15, "x");
  auto h = b.matmul(x, Tensor{{8, 6}, ints(48, -7, 7, 2)}, "fc1");
  auto ra = b.round(h, 5, /*exact=*/false, "round_approx");
  auto re = b.round(h, 5, /*exact=*/true, "round_exact");
  auto a1 = b.lookup(ra, relu_table(6, -32), 6, -32, "relu_approx");
  auto a2 = b.lookup(re, relu_table(6, -32), 6, -32, "relu_exact");
  auto s = b.add(a1, a2, "sum_branches");
  auto y = b.matmul(s, Tensor{{6, 3}, ints(18, -7, 7, 3)}, "fc2");
  b.output(y, "logits");
  auto c = b.finish();
  EXPECT_TRUE(c.ok()) << c.status().to_string();
  return *c;
}

// Per-element ranges and tables, gather, concat, transpose, slice, reshape, sum, sub, neg and
// tensor constants.
Circuit shapes_circuit() {
  Builder b;
  auto x = b.input({2, 3}, std::vector<int64_t>{0, 1, 2, 0, 0, 3}, std::vector<int64_t>{7, 7, 6, 5, 7, 7}, "x");
  auto t = b.transpose(x, {1, 0}, "t");                         // [3, 2]
  auto s = b.slice(t, {0, 0}, {3, 2}, {2, 1}, "s");             // [2, 2]
  auto g = b.gather(x, 1, {2, 0, 0}, "g");                      // [2, 3]
  auto c = b.concat({g, x}, 1, "c");                            // [2, 6]
  std::vector<std::vector<int64_t>> tables = {ints(8, -5, 5, 4), ints(8, 0, 9, 5), ints(8, -3, 3, 6)};
  std::vector<uint32_t> index = {0, 1, 2, 2, 1, 0, 1, 1, 0, 2, 2, 2};
  auto l = b.lookup(c, tables, index, 3, 0, "per_element");     // [2, 6]
  auto r = b.reshape(l, {3, 4}, "r");                           // [3, 4]
  auto m = b.mul_const(r, Tensor{{3, 4}, ints(12, -3, 3, 7)}, "m");
  auto a = b.add_const(m, Tensor{{3, 4}, ints(12, -9, 9, 8)}, "a");
  auto n = b.neg(a, "n");
  auto d = b.sub(n, m, "d");
  auto u = b.sum(d, 0, "u");                                    // [4]
  b.output(u, "u");
  b.output(s, "s");
  auto out = b.finish();
  EXPECT_TRUE(out.ok()) << out.status().to_string();
  return *out;
}

// The smallest circuit: one input straight to an output (blobs short enough to cut everywhere).
Circuit tiny_circuit() {
  Builder b;
  auto x = b.input({4}, 0, 3, "x");
  b.output(x, "y");
  auto c = b.finish();
  EXPECT_TRUE(c.ok()) << c.status().to_string();
  return *c;
}

CompiledCircuit compiled(const Circuit& c) {
  auto r = compile(c);
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  return std::move(r).value();
}

// ---- comparisons against the circuits built above ----

void expect_same_node(const Node& want, const Node& got, size_t id) {
  SCOPED_TRACE("node %" + std::to_string(id) + " '" + want.name + "'");
  EXPECT_EQ(static_cast<int>(want.kind), static_cast<int>(got.kind));
  EXPECT_EQ(want.name, got.name);
  EXPECT_EQ(want.inputs, got.inputs);
  EXPECT_EQ(want.shape, got.shape);
  EXPECT_EQ(want.attrs, got.attrs);
  EXPECT_EQ(want.constant.shape, got.constant.shape);
  EXPECT_EQ(want.constant.data, got.constant.data);
  EXPECT_EQ(want.range_min, got.range_min);
  EXPECT_EQ(want.range_max, got.range_max);
  EXPECT_EQ(want.input_bits, got.input_bits);
  EXPECT_EQ(want.input_min, got.input_min);
  EXPECT_EQ(want.tables, got.tables);
  EXPECT_EQ(want.table_index, got.table_index);
}

void expect_same_circuit(const Circuit& want, const Circuit& got) {
  ASSERT_EQ(want.size(), got.size());
  for (size_t i = 0; i < want.size(); ++i) expect_same_node(want.nodes()[i], got.nodes()[i], i);
  EXPECT_EQ(want.inputs(), got.inputs());
  EXPECT_EQ(want.outputs(), got.outputs());
}

void expect_same_params(const crypto::ParameterSet& want, const crypto::ParameterSet& got) {
  EXPECT_STREQ(want.name, got.name);
  EXPECT_EQ(want.message_bits, got.message_bits);
  EXPECT_EQ(want.lwe_dimension.value, got.lwe_dimension.value);
  EXPECT_EQ(want.glwe_dimension.value, got.glwe_dimension.value);
  EXPECT_EQ(want.polynomial_size.value, got.polynomial_size.value);
  EXPECT_EQ(want.lwe_noise_log2_std, got.lwe_noise_log2_std);  // bit-exact: stored as f64
  EXPECT_EQ(want.glwe_noise_log2_std, got.glwe_noise_log2_std);
  EXPECT_EQ(want.pbs_base_log.value, got.pbs_base_log.value);
  EXPECT_EQ(want.pbs_level_count.value, got.pbs_level_count.value);
  EXPECT_EQ(want.ks_base_log.value, got.ks_base_log.value);
  EXPECT_EQ(want.ks_level_count.value, got.ks_level_count.value);
}

void expect_same_compiled(const CompiledCircuit& want, const CompiledCircuit& got) {
  expect_same_circuit(want.circuit, got.circuit);
  expect_same_params(want.params, got.params);
  EXPECT_EQ(want.carrier_bits, got.carrier_bits);
  EXPECT_EQ(want.needs_bootstrapping, got.needs_bootstrapping);
  EXPECT_EQ(want.log2_p_error_per_read, got.log2_p_error_per_read);
  EXPECT_EQ(want.global_p_error, got.global_p_error);
  EXPECT_EQ(want.estimated_pbs_ms, got.estimated_pbs_ms);
}

// A compiled circuit made by hand: a named parameter set and made-up optimizer figures, with the
// encoding from the analysis (which the loader re-derives).
CompiledCircuit by_hand(const Circuit& c, uint32_t bits) {
  auto analysis = circuit::analyze(c);
  EXPECT_TRUE(analysis.ok()) << analysis.status().to_string();
  return CompiledCircuit{.circuit = c,
                         .params = *crypto::parameters_for_bits(bits),
                         .carrier_bits = analysis->carrier_bits,
                         .needs_bootstrapping = analysis->needs_bootstrapping(),
                         .log2_p_error_per_read = -40.5,
                         .global_p_error = 3.25e-9,
                         .estimated_pbs_ms = 17.75};
}

void expect_refused(const Result<CompiledCircuit>& r, StatusCode code, const std::string& needle) {
  ASSERT_FALSE(r.ok()) << "expected a refusal mentioning '" << needle << "'";
  EXPECT_EQ(r.status().code(), code) << r.status().to_string();
  EXPECT_NE(r.status().message().find(needle), std::string::npos)
      << "message '" << r.status().message() << "' does not mention '" << needle << "'";
}

// ---- compile ----

TEST(Compile, LeveledDotProductNeedsNoBootstrapping) {
  const Circuit c = dot_product_circuit();
  const CompiledCircuit cc = compiled(c);
  EXPECT_FALSE(cc.needs_bootstrapping);
  // The carrier holds the result's exact interval (x in [-128, 127], the weights of the circuit).
  int64_t lo = 1234, hi = 1234;
  for (int64_t w : ints(30, -128, 127, 1)) {
    lo += std::min(w * -128, w * 127);
    hi += std::max(w * -128, w * 127);
  }
  uint32_t width = 1;
  while (lo < -(int64_t{1} << (width - 1)) || hi >= (int64_t{1} << (width - 1))) ++width;
  EXPECT_GE(width, 16u);  // the weights are not all tiny
  EXPECT_GE(cc.carrier_bits, width);
  EXPECT_TRUE(crypto::check_security(cc.params).ok());
  expect_same_circuit(c, cc.circuit);
  const std::string report = compile_report(cc);
  EXPECT_NE(report.find("leveled"), std::string::npos) << report;
  EXPECT_NE(report.find(crypto::fingerprint_hex(cc.params)), std::string::npos) << report;
}

TEST(Compile, MlpNeedsBootstrapping) {
  const CompiledCircuit cc = compiled(mlp_circuit());
  EXPECT_TRUE(cc.needs_bootstrapping);
  EXPECT_GE(cc.params.polynomial_size.value, uint64_t{1} << 7);  // a 6-bit table: N >= 2^7
  EXPECT_GT(cc.estimated_pbs_ms, 0);
  EXPECT_GT(cc.global_p_error, 0);
  EXPECT_LE(cc.global_p_error, 1);
  EXPECT_LE(cc.log2_p_error_per_read, -40 + 1e-9);  // the default per-read target is 2^-40
  const std::string report = compile_report(cc);
  EXPECT_NE(report.find("PBS"), std::string::npos) << report;
  EXPECT_NE(report.find("lookup"), std::string::npos) << report;
}

TEST(Compile, RefusesFieldsTheOpDoesNotUse) {
  std::vector<Node> nodes = dot_product_circuit().nodes();
  nodes.back().attrs = {7};  // an output with an attribute
  auto r = compile(Circuit(nodes));
  expect_refused(r, StatusCode::kInvalidArgument, "does not use");
  EXPECT_NE(r.status().message().find("'y'"), std::string::npos) << r.status().message();
}

TEST(Compile, RefusesMoreElementsThanTheFormatCarries) {
  Builder b;
  auto x = b.input({int64_t{1} << 27}, 0, 1, "huge");
  b.output(x, "y");
  auto c = b.finish();
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  auto r = compile(*c);
  expect_refused(r, StatusCode::kInvalidArgument, "elements");
  EXPECT_NE(r.status().message().find("'huge'"), std::string::npos) << r.status().message();
}

TEST(Compile, RefusesAnInvalidCircuitNamingTheOp) {
  std::vector<Node> nodes = dot_product_circuit().nodes();
  nodes[1].inputs = {2};  // the matmul uses the value defined after it
  auto r = compile(Circuit(nodes));
  expect_refused(r, StatusCode::kInvalidArgument, "dot");
}

// A 12-bit lookup needs N >= 2^13 and a noise far below what any 128-bit-secure set reaches at
// 2^-40: the refusal names the lookup, its width and the way out.
TEST(Compile, RefusesALookupTooWideForAnyParameters) {
  Builder b;
  auto x = b.input({2}, 0, 4095, "x");
  std::vector<int64_t> table(4096);
  for (int i = 0; i < 4096; ++i) table[i] = i / 3;
  b.output(b.lookup(x, table, 12, 0, "wide_lookup"), "y");
  auto c = b.finish();
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  auto r = compile(*c);
  expect_refused(r, StatusCode::kNonConformant, "wide_lookup");
  EXPECT_NE(r.status().message().find("12"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("round"), std::string::npos) << r.status().message();
  std::printf("refusal: %s\n", r.status().message().c_str());
}

// ---- round trips ----

class RoundTrip : public ::testing::TestWithParam<int> {};

Circuit circuit_number(int i) {
  switch (i) {
    case 0: return dot_product_circuit();
    case 1: return mlp_circuit();
    case 2: return shapes_circuit();
    default: return tiny_circuit();
  }
}

TEST_P(RoundTrip, KeepsEveryFieldAndEveryParameter) {
  const Circuit c = circuit_number(GetParam());
  const CompiledCircuit cc = compiled(c);
  const auto blob = serialize_compiled_circuit(cc);
  auto back = deserialize_compiled_circuit(blob, blob.size());
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  expect_same_circuit(c, back->circuit);  // against the circuit as built
  expect_same_compiled(cc, *back);
  // One encoding per compiled circuit.
  EXPECT_EQ(serialize_compiled_circuit(*back), blob);
  EXPECT_EQ(compile_report(*back), compile_report(cc));
}

std::string circuit_name(const ::testing::TestParamInfo<int>& info) {
  static const char* const kNames[] = {"DotProduct", "Mlp", "Shapes", "Tiny"};
  return kNames[info.param];
}

INSTANTIATE_TEST_SUITE_P(Circuits, RoundTrip, ::testing::Values(0, 1, 2, 3), circuit_name);

TEST(RoundTripCoverage, TheTestCircuitsUseEveryOpKind) {
  std::set<int> seen;
  for (int i = 0; i < 4; ++i) {
    const Circuit c = circuit_number(i);
    for (const Node& n : c.nodes()) seen.insert(static_cast<int>(n.kind));
  }
  for (int k = 1; k <= circuit::kMaxOpKind; ++k) EXPECT_TRUE(seen.count(k)) << circuit::op_kind_name(OpKind(k));
}

TEST(RoundTripByHand, NamedSetKeepsItsNameAndFigures) {
  const CompiledCircuit cc = by_hand(mlp_circuit(), 6);
  const auto blob = serialize_compiled_circuit(cc);
  auto back = deserialize_compiled_circuit(blob, kNoLimit);
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_STREQ(back->params.name, "blindml_6bit_2m40");
  EXPECT_EQ(back->params.lwe_dimension.value, 1038u);
  EXPECT_EQ(back->params.polynomial_size.value, 8192u);
  EXPECT_EQ(back->params.lwe_noise_log2_std, 41.01);
  EXPECT_EQ(back->log2_p_error_per_read, -40.5);
  EXPECT_EQ(back->global_p_error, 3.25e-9);
  EXPECT_EQ(back->estimated_pbs_ms, 17.75);
  EXPECT_TRUE(back->needs_bootstrapping);
  expect_same_circuit(mlp_circuit(), back->circuit);
}

TEST(RoundTripByHand, UnnamedSetIsCalledOptimized) {
  CompiledCircuit cc = by_hand(dot_product_circuit(), 4);
  cc.params.name = "my_own_set";
  cc.params.message_bits = 5;  // no named set has this content with 5 bits
  const auto blob = serialize_compiled_circuit(cc);
  auto back = deserialize_compiled_circuit(blob, kNoLimit);
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_STREQ(back->params.name, "optimized");
  EXPECT_EQ(back->params.message_bits, 5u);
}

// ---- the documented layout ----

TEST(Layout, HeaderAndPayloadFieldsSitWhereTheDocsSay) {
  const CompiledCircuit cc = by_hand(mlp_circuit(), 6);
  const auto blob = serialize_compiled_circuit(cc);
  ASSERT_GT(blob.size(), kFirstNodeAt);
  EXPECT_EQ(std::string(blob.begin(), blob.begin() + 4), "BLMC");
  EXPECT_EQ(read_u32(blob, kVersionAt), 2u);  // docs/formats.md: format 2, per-value encodings
  const auto fp = crypto::fingerprint(*crypto::parameters_for_bits(6));
  EXPECT_TRUE(std::equal(fp.begin(), fp.end(), blob.begin() + kFingerprintAt));
  EXPECT_EQ(read_u64(blob, kLengthAt), blob.size() - kHeader);
  const auto digest = sha256(std::span<const uint8_t>(blob).subspan(kHeader));
  EXPECT_TRUE(std::equal(digest.begin(), digest.end(), blob.begin() + kChecksumAt));

  EXPECT_EQ(read_u32(blob, kMessageBitsAt), 6u);
  EXPECT_EQ(read_u64(blob, kLweDimensionAt), 1038u);
  EXPECT_EQ(read_u64(blob, kLweDimensionAt + 8), 1u);      // k
  EXPECT_EQ(read_u64(blob, kLweDimensionAt + 16), 8192u);  // N
  EXPECT_EQ(read_f64(blob, kLweNoiseAt), 41.01);
  EXPECT_EQ(read_f64(blob, kLweNoiseAt + 8), 3.01);
  EXPECT_EQ(read_u64(blob, kLweNoiseAt + 16), 23u);  // PBS base log
  EXPECT_EQ(read_u64(blob, kLweNoiseAt + 24), 1u);   // PBS levels
  EXPECT_EQ(read_u64(blob, kLweNoiseAt + 32), 6u);   // KS base log
  EXPECT_EQ(read_u64(blob, kLweNoiseAt + 40), 3u);   // KS levels
  EXPECT_EQ(read_u32(blob, kCarrierBitsAt), cc.carrier_bits);
  EXPECT_EQ(read_u32(blob, kFlagsAt), 1u);
  EXPECT_EQ(read_f64(blob, kLog2PErrorAt), -40.5);
  EXPECT_EQ(read_f64(blob, kGlobalPErrorAt), 3.25e-9);
  EXPECT_EQ(read_f64(blob, kPbsMsAt), 17.75);

  const Circuit c = mlp_circuit();
  EXPECT_EQ(read_u64(blob, kNodeCountAt), c.size());
  const auto nodes = walk(blob);
  ASSERT_EQ(nodes.size(), c.size());
  // The first node: the input "x" of shape [8], range [0, 15].
  EXPECT_EQ(blob[nodes[0].kind_at], static_cast<uint8_t>(OpKind::kInput));
  EXPECT_EQ(read_u64(blob, nodes[0].name_at), 1u);
  EXPECT_EQ(blob[nodes[0].name_at + 8], 'x');
  EXPECT_EQ(read_u64(blob, nodes[0].shape_at), 1u);
  EXPECT_EQ(read_u64(blob, nodes[0].shape_at + 8), 8u);
  EXPECT_EQ(read_u64(blob, nodes[0].range_max_at + 8), 15u);
  // The approximate ReLU (node 4): 64 entries, input_min -32, table[40] = 8.
  const NodeLayout& relu = nodes[4];
  EXPECT_EQ(blob[relu.kind_at], static_cast<uint8_t>(OpKind::kLookup));
  EXPECT_EQ(read_u32(blob, relu.input_bits_at), 6u);
  EXPECT_EQ(static_cast<int64_t>(read_u64(blob, relu.input_min_at)), -32);
  EXPECT_EQ(read_u64(blob, relu.tables_at), 1u);
  EXPECT_EQ(read_u64(blob, relu.tables_at + 8), 64u);
  EXPECT_EQ(read_u64(blob, relu.tables_at + 16 + 40 * 8), 8u);
  // The exact rounding (node 3): attrs {5, 1}; the add (node 6) uses %4 and %5 as u32.
  EXPECT_EQ(read_u64(blob, nodes[3].attrs_at), 2u);
  EXPECT_EQ(read_u64(blob, nodes[3].attrs_at + 16), 1u);
  EXPECT_EQ(read_u64(blob, nodes[6].inputs_at), 2u);
  EXPECT_EQ(read_u32(blob, nodes[6].inputs_at + 8), 4u);
  EXPECT_EQ(read_u32(blob, nodes[6].inputs_at + 12), 5u);
}

// ---- corrupted input ----

TEST(Corrupted, EveryTruncationIsRefused) {
  const auto blob = serialize_compiled_circuit(compiled(tiny_circuit()));
  for (size_t len = 0; len < blob.size(); ++len) {
    std::vector<uint8_t> cut(blob.begin(), blob.begin() + len);
    auto r = deserialize_compiled_circuit(cut, kNoLimit);
    ASSERT_FALSE(r.ok()) << "accepted a blob cut to " << len << " of " << blob.size() << " bytes";
    EXPECT_EQ(r.status().code(), StatusCode::kCorrupted) << len << ": " << r.status().to_string();
    EXPECT_NE(r.status().message().find(len < kHeader ? "truncated" : "payload length"), std::string::npos)
        << len << ": " << r.status().message();
  }
}

// Flipping any bit the header or payload holds is refused: the checksum covers the payload, the
// header fields are each checked.
void expect_every_flip_refused(const std::vector<uint8_t>& blob, size_t stride) {
  for (size_t at = 0; at < blob.size(); at += (at < kHeader ? 1 : stride)) {
    for (uint8_t mask : {uint8_t{0x01}, uint8_t{0x80}}) {
      auto bad = blob;
      bad[at] ^= mask;
      auto r = deserialize_compiled_circuit(bad, kNoLimit);
      ASSERT_FALSE(r.ok()) << "accepted a flip of 0x" << std::hex << int{mask} << " at byte " << std::dec << at;
      const StatusCode want = (at >= kVersionAt && at < kVersionAt + 4) ? StatusCode::kVersionMismatch
                                                                        : StatusCode::kCorrupted;
      EXPECT_EQ(r.status().code(), want) << at << ": " << r.status().to_string();
    }
  }
}

TEST(Corrupted, EveryFlippedByteOfASmallBlobIsRefused) {
  expect_every_flip_refused(serialize_compiled_circuit(compiled(shapes_circuit())), 1);
}

TEST(Corrupted, FlippedBytesOfALargeBlobAreRefused) {
  // A 64 x 32 layer, rounded and through a ReLU: about 17 kB, sampled every 7th payload byte.
  Builder b;
  auto x = b.input({64}, 0, 3, "x");
  auto h = b.matmul(x, Tensor{{64, 32}, ints(64 * 32, -3, 3, 10)}, "fc");
  auto r = b.round(h, 6, /*exact=*/false, "r");  // [-576, 576] -> [-9, 9]
  auto y = b.lookup(r, relu_table(5, -16), 5, -16, "relu");
  b.output(y, "y");
  auto c = b.finish();
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  const auto blob = serialize_compiled_circuit(compiled(*c));
  ASSERT_GT(blob.size(), 16000u);
  expect_every_flip_refused(blob, 7);
}

TEST(Corrupted, WrongMagic) {
  auto blob = serialize_compiled_circuit(compiled(tiny_circuit()));
  blob[3] = 'L';  // "BLML": a key or ciphertext blob
  expect_refused(deserialize_compiled_circuit(blob, kNoLimit), StatusCode::kCorrupted, "magic");
  blob[0] = 'X';
  expect_refused(deserialize_compiled_circuit(blob, kNoLimit), StatusCode::kCorrupted, "BLMC");
}

TEST(Corrupted, FutureVersionNamesBothVersions) {
  auto blob = serialize_compiled_circuit(compiled(tiny_circuit()));
  write_u32(blob, kVersionAt, 7);
  auto r = deserialize_compiled_circuit(blob, kNoLimit);
  expect_refused(r, StatusCode::kVersionMismatch, "version 7");
  EXPECT_NE(r.status().message().find("version 2"), std::string::npos) << r.status().message();
}

// Format 1 encoded every value at one carrier, and its client.zip encrypts at that carrier: read
// with per-value encodings it would decrypt wrong answers, so it is refused by name.
TEST(Corrupted, FormatOneWithOneCarrierIsRefused) {
  auto blob = serialize_compiled_circuit(compiled(tiny_circuit()));
  write_u32(blob, kVersionAt, 1);
  auto r = deserialize_compiled_circuit(blob, kNoLimit);
  expect_refused(r, StatusCode::kVersionMismatch, "version 1");
  EXPECT_NE(r.status().message().find("recompile"), std::string::npos) << r.status().message();
}

TEST(Corrupted, ByteLimitBelowTheSizeIsResourceExhausted) {
  const auto blob = serialize_compiled_circuit(compiled(mlp_circuit()));
  expect_refused(deserialize_compiled_circuit(blob, blob.size() - 1), StatusCode::kResourceExhausted,
                 std::to_string(blob.size()));
  expect_refused(deserialize_compiled_circuit(blob, 0), StatusCode::kResourceExhausted, "limit");
  EXPECT_TRUE(deserialize_compiled_circuit(blob, blob.size()).ok());
}

TEST(Corrupted, TrailingBytesAfterTheLastNode) {
  auto blob = serialize_compiled_circuit(compiled(tiny_circuit()));
  blob.push_back(0);
  reseal(blob);
  expect_refused(deserialize_compiled_circuit(blob, kNoLimit), StatusCode::kCorrupted, "trailing");
}

// Counts inflated past the payload (re-checksummed, so the count check itself answers), up to
// values whose byte size overflows 64 bits.
TEST(Corrupted, InflatedCountsAreRefusedBeforeAllocating) {
  const auto blob = serialize_compiled_circuit(compiled(shapes_circuit()));
  const auto nodes = walk(blob);
  const NodeLayout& lookup = nodes[5];
  ASSERT_EQ(blob[lookup.kind_at], static_cast<uint8_t>(OpKind::kLookup));
  struct Case {
    size_t at;
    const char* needle;
  };
  const Case cases[] = {
      {kNodeCountAt, "node count"},
      {nodes[0].name_at, "name count"},
      {nodes[1].inputs_at, "operand count"},
      {nodes[0].shape_at, "shape dimension count"},
      {nodes[1].attrs_at, "attribute count"},
      {nodes[0].range_min_at, "range_min count"},
      {lookup.tables_at, "table count"},
      {lookup.tables_at + 8, "table 0 entry count"},
      {lookup.table_index_at, "table_index count"},
  };
  for (const Case& c : cases) {
    for (uint64_t count : {read_u64(blob, c.at) + 100000, uint64_t{1} << 61, uint64_t{1} << 63, ~uint64_t{0}}) {
      SCOPED_TRACE(std::string(c.needle) + " = " + std::to_string(count));
      auto bad = blob;
      write_u64(bad, c.at, count);
      reseal(bad);
      expect_refused(deserialize_compiled_circuit(bad, kNoLimit), StatusCode::kCorrupted, c.needle);
    }
  }
}

TEST(Corrupted, OpKindOutOfRange) {
  const auto blob = serialize_compiled_circuit(compiled(tiny_circuit()));
  const auto nodes = walk(blob);
  for (uint8_t kind : {uint8_t{0}, uint8_t{circuit::kMaxOpKind + 1}, uint8_t{255}}) {
    auto bad = blob;
    bad[nodes[1].kind_at] = kind;
    reseal(bad);
    expect_refused(deserialize_compiled_circuit(bad, kNoLimit), StatusCode::kCorrupted,
                   "op kind " + std::to_string(kind));
  }
}

TEST(Corrupted, ForgedCircuitThatFailsValidation) {
  const auto blob = serialize_compiled_circuit(compiled(mlp_circuit()));
  const auto nodes = walk(blob);
  auto bad = blob;
  // fc1 (%1) reads %7, a value defined after it.
  ASSERT_EQ(read_u32(bad, nodes[1].inputs_at + 8), 0u);
  write_u32(bad, nodes[1].inputs_at + 8, 7);
  reseal(bad);
  auto r = deserialize_compiled_circuit(bad, kNoLimit);
  expect_refused(r, StatusCode::kCorrupted, "validation");
  EXPECT_NE(r.status().message().find("fc1"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("%7"), std::string::npos) << r.status().message();
}

TEST(Corrupted, ForgedFieldThatTheOpDoesNotUse) {
  const auto blob = serialize_compiled_circuit(compiled(tiny_circuit()));
  const auto nodes = walk(blob);
  // Give the output node (%1) one attribute: count 0 -> 1 and 8 more bytes.
  auto bad = blob;
  ASSERT_EQ(read_u64(bad, nodes[1].attrs_at), 0u);
  write_u64(bad, nodes[1].attrs_at, 1);
  bad.insert(bad.begin() + static_cast<ptrdiff_t>(nodes[1].attrs_at + 8), 8, uint8_t{0});
  reseal(bad);
  auto r = deserialize_compiled_circuit(bad, kNoLimit);
  expect_refused(r, StatusCode::kCorrupted, "does not use");
  EXPECT_NE(r.status().message().find("'y'"), std::string::npos) << r.status().message();
}

TEST(Corrupted, ForgedShapesBeyondTheElementBudget) {
  // input [4] -> output [4], both rewritten to [2^27]: valid as a circuit, too large to analyse.
  const auto blob = serialize_compiled_circuit(compiled(tiny_circuit()));
  const auto nodes = walk(blob);
  auto bad = blob;
  for (const NodeLayout& n : nodes) {
    ASSERT_EQ(read_u64(bad, n.shape_at), 1u);
    write_u64(bad, n.shape_at + 8, uint64_t{1} << 27);
  }
  reseal(bad);
  expect_refused(deserialize_compiled_circuit(bad, kNoLimit), StatusCode::kCorrupted, "elements");
}

TEST(Corrupted, CarrierBitsAndFlagsMustMatchTheAnalysis) {
  const auto blob = serialize_compiled_circuit(compiled(mlp_circuit()));
  auto bad = blob;
  write_u32(bad, kCarrierBitsAt, read_u32(blob, kCarrierBitsAt) + 1);
  reseal(bad);
  expect_refused(deserialize_compiled_circuit(bad, kNoLimit), StatusCode::kCorrupted, "carrier bits");

  bad = blob;
  write_u32(bad, kFlagsAt, 0);  // claims leveled
  reseal(bad);
  expect_refused(deserialize_compiled_circuit(bad, kNoLimit), StatusCode::kCorrupted, "bootstrapping");

  bad = blob;
  write_u32(bad, kFlagsAt, 1 | 4);
  reseal(bad);
  expect_refused(deserialize_compiled_circuit(bad, kNoLimit), StatusCode::kCorrupted, "flag");
}

TEST(Corrupted, OptimizerFiguresOutOfRange) {
  const auto blob = serialize_compiled_circuit(compiled(mlp_circuit()));
  const struct {
    size_t at;
    double value;
    const char* needle;
  } cases[] = {
      {kLog2PErrorAt, std::nan(""), "per read"},
      {kLog2PErrorAt, 3.0, "per read"},
      {kGlobalPErrorAt, 1.5, "global"},
      {kGlobalPErrorAt, -0.1, "global"},
      {kPbsMsAt, -1.0, "PBS time"},
      {kPbsMsAt, INFINITY, "PBS time"},
  };
  for (const auto& c : cases) {
    auto bad = blob;
    write_f64(bad, c.at, c.value);
    reseal(bad);
    expect_refused(deserialize_compiled_circuit(bad, kNoLimit), StatusCode::kCorrupted, c.needle);
  }
}

TEST(Corrupted, HeaderFingerprintMustMatchThePayloadParameters) {
  auto blob = serialize_compiled_circuit(by_hand(mlp_circuit(), 6));
  const auto other = crypto::fingerprint(*crypto::parameters_for_bits(7));
  std::copy(other.begin(), other.end(), blob.begin() + kFingerprintAt);
  expect_refused(deserialize_compiled_circuit(blob, kNoLimit), StatusCode::kCorrupted, "fingerprint");

  // The payload's parameters changed but not the header's fingerprint.
  blob = serialize_compiled_circuit(by_hand(mlp_circuit(), 6));
  write_u64(blob, kLweDimensionAt, 1100);
  reseal(blob);
  expect_refused(deserialize_compiled_circuit(blob, kNoLimit), StatusCode::kCorrupted, "fingerprint");
}

TEST(Corrupted, InsecureParametersAreNonConformant) {
  // A consistent blob (fingerprint and checksum recomputed) whose LWE noise is far below the
  // 128-bit line for n = 1038.
  CompiledCircuit cc = by_hand(mlp_circuit(), 6);
  auto blob = serialize_compiled_circuit(cc);
  write_f64(blob, kLweNoiseAt, 10.0);
  cc.params.lwe_noise_log2_std = 10.0;
  const auto fp = crypto::fingerprint(cc.params);
  std::copy(fp.begin(), fp.end(), blob.begin() + kFingerprintAt);
  reseal(blob);
  expect_refused(deserialize_compiled_circuit(blob, kNoLimit), StatusCode::kNonConformant, "LWE noise");
}

TEST(Corrupted, PolynomialTooSmallForTheTablesIsNonConformant) {
  // A secure set whose N = 512 cannot hold the 2^10 boxes of a 9-bit lookup's table.
  Builder b;
  auto x = b.input({2}, 0, 511, "x");
  auto l = b.lookup(x, ints(512, 0, 3, 9), 9, 0, "wide");
  b.output(l, "y");
  auto c = b.finish();
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  auto analysis = circuit::analyze(*c);
  ASSERT_TRUE(analysis.ok()) << analysis.status().to_string();
  ASSERT_EQ(analysis->max_lookup_bits, 9u);
  const CompiledCircuit cc = by_hand(*c, 1);  // N = 512 < 2^10
  const auto blob = serialize_compiled_circuit(cc);
  expect_refused(deserialize_compiled_circuit(blob, kNoLimit), StatusCode::kNonConformant, "polynomial size");
}

// Random bytes changed behind a valid checksum: refused with a Status or, when the change leaves
// a consistent circuit (a name, a weight), accepted and re-serialised to the same bytes.
TEST(Corrupted, ResealedRandomMutationsNeverCrash) {
  const auto blob = serialize_compiled_circuit(compiled(shapes_circuit()));
  std::mt19937_64 rng(42);
  size_t accepted = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    auto bad = blob;
    const int changes = 1 + static_cast<int>(rng() % 3);
    for (int i = 0; i < changes; ++i) {
      const size_t at = kHeader + rng() % (bad.size() - kHeader);
      bad[at] = static_cast<uint8_t>(rng());
    }
    reseal(bad);
    auto r = deserialize_compiled_circuit(bad, kNoLimit);
    if (r.ok()) {
      ++accepted;
      EXPECT_EQ(serialize_compiled_circuit(*r), bad) << "trial " << trial;
    } else {
      EXPECT_NE(r.status().code(), StatusCode::kInternal) << r.status().to_string();
      EXPECT_FALSE(r.status().message().empty());
    }
  }
  EXPECT_LT(accepted, 3000u);
}

}  // namespace
