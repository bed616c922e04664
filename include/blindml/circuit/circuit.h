// The integer circuit IR (design.md §3): a directed acyclic graph of ops on tensors of integers.
//
// A Circuit is a list of nodes in topological order; node i produces the value %i (outputs
// excepted), a tensor of int64 with a fixed shape. Encrypted inputs are declared with the range of
// every element; all other values derive from them through
//   leveled ops   add, sub, neg (two encrypted tensors of one shape), add_const / mul_const (a clear
//                 tensor of the same shape, or a scalar), matmul (x[..., K] · W[K, M] or W[K]),
//                 sum over an axis, reshape, transpose, slice, gather along an axis, concat;
//   lookups       out[e] = table_{t(e)}[x[e] - input_min] for a table of 2^input_bits entries
//                 (one table for all elements, or one per element);
//   rounding      out = floor((x + 2^(s-1)) / 2^s): the value without its s low bits, rounded to
//                 nearest. Approximate: the PBS reads the top bits directly, and an element whose
//                 dropped bits sit within the noise of the half-way point may round the other way
//                 (off by one). Exact: the low bits are first removed by s one-bit extractions (s
//                 more PBS), so FHE agrees with the clear answer except with the error probability.
// and output markers. Integer semantics are exact (int64, no wrap-around); the analysis refuses
// circuits whose values leave ±2^62.
//
// The Builder checks shapes, weights and table sizes as ops are added and records the first
// error; finish() returns it (naming the op) or the circuit.
//
// Thread safety: a Circuit is immutable once built; share it freely. Builder is single-threaded.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "blindml/base/status.h"

namespace blindml::circuit {

using Shape = std::vector<int64_t>;
// Number of elements of a shape (1 for a scalar []).
int64_t shape_elements(const Shape& shape);
std::string shape_to_string(const Shape& shape);

// A clear tensor of integers, row-major.
struct Tensor {
  Shape shape;
  std::vector<int64_t> data;
};

enum class OpKind : uint8_t {
  kInput = 1,
  kAdd,
  kSub,
  kNeg,
  kAddConst,
  kMulConst,
  kMatMul,
  kSum,
  kReshape,
  kTranspose,
  kSlice,
  kGather,
  kConcat,
  kLookup,
  kRound,
  kOutput,
};
const char* op_kind_name(OpKind kind);
inline constexpr uint8_t kMaxOpKind = static_cast<uint8_t>(OpKind::kOutput);

using ValueId = uint32_t;

// One op. Which fields are meaningful depends on kind (see Builder); the rest stay empty.
struct Node {
  OpKind kind;
  std::string name;               // for messages; the builder makes one up when none is given
  std::vector<ValueId> inputs;
  Shape shape;                    // of the value this node produces (outputs: of their input)
  std::vector<int64_t> attrs;     // axis / perm / slice triples / gather indices / rounding: {s, exact}
  Tensor constant;                // add_const, mul_const: the clear operand; matmul: the weights
  // kInput: per-element inclusive range [range_min[e], range_max[e]] (size 1: all elements).
  std::vector<int64_t> range_min, range_max;
  // kLookup: tables of 2^input_bits entries; table_index[e] picks element e's table (empty: 0).
  uint32_t input_bits = 0;
  int64_t input_min = 0;
  std::vector<std::vector<int64_t>> tables;
  std::vector<uint32_t> table_index;
};

class Circuit {
 public:
  Circuit() = default;
  explicit Circuit(std::vector<Node> nodes);
  const std::vector<Node>& nodes() const { return nodes_; }
  const Node& node(ValueId id) const { return nodes_[id]; }
  // Node ids of the inputs and outputs, in declaration order.
  const std::vector<ValueId>& inputs() const { return inputs_; }
  const std::vector<ValueId>& outputs() const { return outputs_; }
  size_t size() const { return nodes_.size(); }
  // Structural validation (every field consistent with the op, inputs before uses, shapes right):
  // what the Builder guarantees, re-checked for circuits that came from bytes.
  Status validate() const;

 private:
  std::vector<Node> nodes_;
  std::vector<ValueId> inputs_;
  std::vector<ValueId> outputs_;
};

class Builder {
 public:
  // An encrypted input whose every element lies in [min, max].
  ValueId input(Shape shape, int64_t min, int64_t max, std::string name = "");
  // Per-element ranges (each of shape_elements(shape) entries).
  ValueId input(Shape shape, std::vector<int64_t> min, std::vector<int64_t> max, std::string name = "");

  ValueId add(ValueId a, ValueId b, std::string name = "");
  ValueId sub(ValueId a, ValueId b, std::string name = "");
  ValueId neg(ValueId a, std::string name = "");
  // c has x's shape, or is a scalar (shape []).
  ValueId add_const(ValueId x, Tensor c, std::string name = "");
  ValueId mul_const(ValueId x, Tensor c, std::string name = "");
  ValueId add_const(ValueId x, int64_t c, std::string name = "");
  ValueId mul_const(ValueId x, int64_t c, std::string name = "");
  // x[..., K] times weights [K, M] -> [..., M]; weights [K] -> [...].
  ValueId matmul(ValueId x, Tensor weights, std::string name = "");
  ValueId sum(ValueId x, int64_t axis, std::string name = "");
  ValueId reshape(ValueId x, Shape shape, std::string name = "");
  ValueId transpose(ValueId x, std::vector<int64_t> perm, std::string name = "");
  // Per axis: begin, end (exclusive), step > 0; attrs = {b0, e0, s0, b1, e1, s1, ...}.
  ValueId slice(ValueId x, std::vector<int64_t> begin, std::vector<int64_t> end, std::vector<int64_t> step,
                std::string name = "");
  // Elements of x at the given indices along axis (indices may repeat).
  ValueId gather(ValueId x, int64_t axis, std::vector<int64_t> indices, std::string name = "");
  ValueId concat(std::vector<ValueId> xs, int64_t axis, std::string name = "");
  // out[e] = table[x[e] - input_min]; the table has 2^input_bits entries.
  ValueId lookup(ValueId x, std::vector<int64_t> table, uint32_t input_bits, int64_t input_min,
                 std::string name = "");
  // One table per element: out[e] = tables[table_index[e]][x[e] - input_min].
  ValueId lookup(ValueId x, std::vector<std::vector<int64_t>> tables, std::vector<uint32_t> table_index,
                 uint32_t input_bits, int64_t input_min, std::string name = "");
  // floor((x + 2^(drop_bits-1)) / 2^drop_bits), drop_bits >= 1.
  ValueId round(ValueId x, uint32_t drop_bits, bool exact, std::string name = "");
  void output(ValueId x, std::string name = "");

  // The first error met while building (naming the op), or the circuit.
  Result<Circuit> finish();

  // Shape of a value built so far (empty if the id is unknown).
  Shape shape_of(ValueId id) const;

 private:
  ValueId push(Node node);
  bool valid_id(ValueId id) const;

  std::vector<Node> nodes_;
  std::optional<Status> error_;
};

}  // namespace blindml::circuit
