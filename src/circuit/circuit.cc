#include "blindml/circuit/circuit.h"

#include <algorithm>
#include <limits>

namespace blindml::circuit {

int64_t shape_elements(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string shape_to_string(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

const char* op_kind_name(OpKind kind) {
  switch (kind) {
    case OpKind::kInput: return "input";
    case OpKind::kAdd: return "add";
    case OpKind::kSub: return "sub";
    case OpKind::kNeg: return "neg";
    case OpKind::kAddConst: return "add_const";
    case OpKind::kMulConst: return "mul_const";
    case OpKind::kMatMul: return "matmul";
    case OpKind::kSum: return "sum";
    case OpKind::kReshape: return "reshape";
    case OpKind::kTranspose: return "transpose";
    case OpKind::kSlice: return "slice";
    case OpKind::kGather: return "gather";
    case OpKind::kConcat: return "concat";
    case OpKind::kLookup: return "lookup";
    case OpKind::kRound: return "round";
    case OpKind::kOutput: return "output";
  }
  return "unknown";
}

namespace {

constexpr int64_t kMaxElements = int64_t{1} << 32;
constexpr int64_t kMaxDim = int64_t{1} << 32;
constexpr size_t kMaxRank = 8;
constexpr int64_t kMaxConstant = int64_t{1} << 62;

// Elements of a shape, or -1 when a dimension is not positive or the product is too large.
int64_t checked_elements(const Shape& shape) {
  if (shape.size() > kMaxRank) return -1;
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d <= 0 || d > kMaxDim) return -1;
    if (__builtin_mul_overflow(n, d, &n) || n > kMaxElements) return -1;
  }
  return n;
}

bool constants_in_range(const std::vector<int64_t>& v) {
  return std::all_of(v.begin(), v.end(), [](int64_t x) { return x > -kMaxConstant && x < kMaxConstant; });
}

// The shape a node produces from its inputs' shapes, or the reason it cannot.
Result<Shape> infer_shape(const Node& node, const std::vector<const Shape*>& in) {
  auto fail = [&](const std::string& why) -> Result<Shape> { return invalid_argument(why); };
  auto need_inputs = [&](size_t n) { return in.size() == n; };
  switch (node.kind) {
    case OpKind::kInput: {
      if (!in.empty()) return fail("an input takes no operands");
      int64_t n = checked_elements(node.shape);
      if (n < 0) return fail("input shape " + shape_to_string(node.shape) + " is not a valid shape");
      auto ranges_ok = [&](const std::vector<int64_t>& v) {
        return v.size() == 1 || static_cast<int64_t>(v.size()) == n;
      };
      if (!ranges_ok(node.range_min) || !ranges_ok(node.range_max) || node.range_min.size() != node.range_max.size())
        return fail("input ranges must have 1 or " + std::to_string(n) + " entries");
      if (!constants_in_range(node.range_min) || !constants_in_range(node.range_max))
        return fail("input range beyond ±2^62");
      for (size_t i = 0; i < node.range_min.size(); ++i)
        if (node.range_min[i] > node.range_max[i])
          return fail("input range [" + std::to_string(node.range_min[i]) + ", " + std::to_string(node.range_max[i]) +
                      "] is empty");
      return node.shape;
    }
    case OpKind::kAdd:
    case OpKind::kSub:
      if (!need_inputs(2)) return fail("takes two operands");
      if (*in[0] != *in[1])
        return fail("operand shapes differ: " + shape_to_string(*in[0]) + " and " + shape_to_string(*in[1]));
      return *in[0];
    case OpKind::kNeg:
      if (!need_inputs(1)) return fail("takes one operand");
      return *in[0];
    case OpKind::kAddConst:
    case OpKind::kMulConst: {
      if (!need_inputs(1)) return fail("takes one operand");
      const Tensor& c = node.constant;
      if (checked_elements(c.shape) < 0 || static_cast<int64_t>(c.data.size()) != checked_elements(c.shape))
        return fail("the clear operand's data does not match its shape " + shape_to_string(c.shape));
      if (!c.shape.empty() && c.shape != *in[0])
        return fail("the clear operand's shape " + shape_to_string(c.shape) + " is neither [] nor the operand's " +
                    shape_to_string(*in[0]));
      if (!constants_in_range(c.data)) return fail("a clear constant is beyond ±2^62");
      return *in[0];
    }
    case OpKind::kMatMul: {
      if (!need_inputs(1)) return fail("takes one operand");
      const Shape& x = *in[0];
      const Tensor& w = node.constant;
      if (x.empty()) return fail("the operand is a scalar");
      if (w.shape.empty() || w.shape.size() > 2 || checked_elements(w.shape) < 0 ||
          static_cast<int64_t>(w.data.size()) != checked_elements(w.shape))
        return fail("weights must be [K] or [K, M] with matching data, got " + shape_to_string(w.shape));
      if (w.shape[0] != x.back())
        return fail("inner dimensions differ: operand " + shape_to_string(x) + ", weights " + shape_to_string(w.shape));
      if (!constants_in_range(w.data)) return fail("a weight is beyond ±2^62");
      Shape out(x.begin(), x.end() - 1);
      if (w.shape.size() == 2) out.push_back(w.shape[1]);
      return out;
    }
    case OpKind::kSum: {
      if (!need_inputs(1)) return fail("takes one operand");
      if (node.attrs.size() != 1) return fail("needs one axis");
      int64_t axis = node.attrs[0];
      if (axis < 0 || axis >= static_cast<int64_t>(in[0]->size()))
        return fail("axis " + std::to_string(axis) + " outside the operand's rank " + std::to_string(in[0]->size()));
      Shape out = *in[0];
      out.erase(out.begin() + axis);
      return out;
    }
    case OpKind::kReshape: {
      if (!need_inputs(1)) return fail("takes one operand");
      if (checked_elements(node.shape) != shape_elements(*in[0]))
        return fail("cannot reshape " + shape_to_string(*in[0]) + " to " + shape_to_string(node.shape));
      return node.shape;
    }
    case OpKind::kTranspose: {
      if (!need_inputs(1)) return fail("takes one operand");
      const Shape& x = *in[0];
      if (node.attrs.size() != x.size()) return fail("the permutation's length differs from the rank");
      std::vector<bool> seen(x.size(), false);
      Shape out;
      for (int64_t p : node.attrs) {
        if (p < 0 || p >= static_cast<int64_t>(x.size()) || seen[p]) return fail("not a permutation");
        seen[p] = true;
        out.push_back(x[p]);
      }
      return out;
    }
    case OpKind::kSlice: {
      if (!need_inputs(1)) return fail("takes one operand");
      const Shape& x = *in[0];
      if (node.attrs.size() != 3 * x.size()) return fail("needs begin, end and step for each axis");
      Shape out;
      for (size_t a = 0; a < x.size(); ++a) {
        int64_t b = node.attrs[3 * a], e = node.attrs[3 * a + 1], s = node.attrs[3 * a + 2];
        if (s <= 0 || b < 0 || e > x[a] || b >= e)
          return fail("slice [" + std::to_string(b) + ":" + std::to_string(e) + ":" + std::to_string(s) +
                      "] on axis " + std::to_string(a) + " of size " + std::to_string(x[a]) + " is empty or out of range");
        // ceil((e - b) / s) without forming e - b + s - 1, which overflows for a step near 2^63.
        out.push_back((e - b - 1) / s + 1);
      }
      return out;
    }
    case OpKind::kGather: {
      if (!need_inputs(1)) return fail("takes one operand");
      const Shape& x = *in[0];
      if (node.attrs.size() < 2) return fail("needs an axis and at least one index");
      int64_t axis = node.attrs[0];
      if (axis < 0 || axis >= static_cast<int64_t>(x.size())) return fail("axis out of range");
      for (size_t i = 1; i < node.attrs.size(); ++i)
        if (node.attrs[i] < 0 || node.attrs[i] >= x[axis])
          return fail("index " + std::to_string(node.attrs[i]) + " outside axis " + std::to_string(axis) + " of size " +
                      std::to_string(x[axis]));
      Shape out = x;
      out[axis] = static_cast<int64_t>(node.attrs.size() - 1);
      if (checked_elements(out) < 0) return fail("result too large");
      return out;
    }
    case OpKind::kConcat: {
      if (in.empty()) return fail("needs operands");
      if (node.attrs.size() != 1) return fail("needs one axis");
      int64_t axis = node.attrs[0];
      const Shape& first = *in[0];
      if (axis < 0 || axis >= static_cast<int64_t>(first.size())) return fail("axis out of range");
      Shape out = first;
      out[axis] = 0;
      for (const Shape* s : in) {
        if (s->size() != first.size()) return fail("operands differ in rank");
        for (size_t a = 0; a < first.size(); ++a)
          if (static_cast<int64_t>(a) != axis && (*s)[a] != first[a])
            return fail("operand shapes " + shape_to_string(first) + " and " + shape_to_string(*s) +
                        " differ off the concatenation axis");
        out[axis] += (*s)[axis];
      }
      if (checked_elements(out) < 0) return fail("result too large");
      return out;
    }
    case OpKind::kLookup: {
      if (!need_inputs(1)) return fail("takes one operand");
      if (node.input_bits < 1 || node.input_bits > 16)
        return fail("table input width " + std::to_string(node.input_bits) + " outside 1..16 bits");
      if (node.tables.empty()) return fail("has no table");
      const size_t entries = size_t{1} << node.input_bits;
      for (const auto& t : node.tables) {
        if (t.size() != entries)
          return fail("a table has " + std::to_string(t.size()) + " entries, not 2^" + std::to_string(node.input_bits));
        if (!constants_in_range(t)) return fail("a table entry is beyond ±2^62");
      }
      if (node.input_min <= -kMaxConstant || node.input_min >= kMaxConstant) return fail("input_min beyond ±2^62");
      const int64_t n = shape_elements(*in[0]);
      if (!node.table_index.empty()) {
        if (static_cast<int64_t>(node.table_index.size()) != n)
          return fail("table_index has " + std::to_string(node.table_index.size()) + " entries for " +
                      std::to_string(n) + " elements");
        for (uint32_t t : node.table_index)
          if (t >= node.tables.size()) return fail("table_index refers to a missing table");
      } else if (node.tables.size() != 1) {
        return fail("several tables but no table_index");
      }
      return *in[0];
    }
    case OpKind::kRound:
      if (!need_inputs(1)) return fail("takes one operand");
      if (node.attrs.size() != 2 || node.attrs[0] < 1 || node.attrs[0] > 40 || (node.attrs[1] != 0 && node.attrs[1] != 1))
        return fail("needs {drop_bits in 1..40, exact 0|1}");
      return *in[0];
    case OpKind::kOutput:
      if (!need_inputs(1)) return fail("takes one operand");
      return *in[0];
  }
  return fail("unknown op kind");
}

std::string node_label(const Node& node, size_t id) {
  return std::string(op_kind_name(node.kind)) + " '" + node.name + "' (%" + std::to_string(id) + ")";
}

}  // namespace

Circuit::Circuit(std::vector<Node> nodes) : nodes_(std::move(nodes)) {
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (nodes_[i].kind == OpKind::kInput) inputs_.push_back(static_cast<ValueId>(i));
    if (nodes_[i].kind == OpKind::kOutput) outputs_.push_back(static_cast<ValueId>(i));
  }
}

Status Circuit::validate() const {
  if (nodes_.empty()) return invalid_argument("the circuit is empty");
  if (outputs_.empty()) return invalid_argument("the circuit has no output");
  if (inputs_.empty()) return invalid_argument("the circuit has no encrypted input");
  for (size_t i = 0; i < nodes_.size(); ++i) {
    const Node& node = nodes_[i];
    uint8_t k = static_cast<uint8_t>(node.kind);
    if (k < 1 || k > kMaxOpKind) return invalid_argument("node %" + std::to_string(i) + " has an unknown op kind");
    std::vector<const Shape*> in;
    for (ValueId v : node.inputs) {
      if (v >= i) return invalid_argument(node_label(node, i) + " uses %" + std::to_string(v) + ", not defined before it");
      if (nodes_[v].kind == OpKind::kOutput)
        return invalid_argument(node_label(node, i) + " uses output %" + std::to_string(v) + " as an operand");
      in.push_back(&nodes_[v].shape);
    }
    auto shape = infer_shape(node, in);
    if (!shape.ok()) return invalid_argument(node_label(node, i) + ": " + shape.status().message());
    if (*shape != node.shape)
      return invalid_argument(node_label(node, i) + ": recorded shape " + shape_to_string(node.shape) +
                              " differs from the inferred " + shape_to_string(*shape));
  }
  return Status();
}

namespace {
// A node with its kind, name, operands and attributes; the other fields stay empty.
Node make_node(OpKind kind, std::string name, std::vector<ValueId> inputs, std::vector<int64_t> attrs = {}) {
  Node n;
  n.kind = kind;
  n.name = std::move(name);
  n.inputs = std::move(inputs);
  n.attrs = std::move(attrs);
  return n;
}
}  // namespace

bool Builder::valid_id(ValueId id) const {
  return id < nodes_.size() && nodes_[id].kind != OpKind::kOutput;
}

ValueId Builder::push(Node node) {
  const ValueId id = static_cast<ValueId>(nodes_.size());
  if (node.name.empty()) node.name = std::string(op_kind_name(node.kind)) + "_" + std::to_string(id);
  if (!error_) {
    std::vector<const Shape*> in;
    bool ids_ok = true;
    for (ValueId v : node.inputs) {
      if (!valid_id(v)) {
        error_ = invalid_argument(node_label(node, id) + ": operand %" + std::to_string(v) + " is not a value");
        ids_ok = false;
        break;
      }
      in.push_back(&nodes_[v].shape);
    }
    if (ids_ok) {
      auto shape = infer_shape(node, in);
      if (shape.ok()) {
        node.shape = *shape;
      } else {
        error_ = invalid_argument(node_label(node, id) + ": " + shape.status().message());
      }
    }
  }
  nodes_.push_back(std::move(node));
  return id;
}

Shape Builder::shape_of(ValueId id) const { return id < nodes_.size() ? nodes_[id].shape : Shape{}; }

ValueId Builder::input(Shape shape, int64_t min, int64_t max, std::string name) {
  return input(std::move(shape), std::vector<int64_t>{min}, std::vector<int64_t>{max}, std::move(name));
}

ValueId Builder::input(Shape shape, std::vector<int64_t> min, std::vector<int64_t> max, std::string name) {
  Node n = make_node(OpKind::kInput, std::move(name), {});
  n.shape = std::move(shape);
  n.range_min = std::move(min);
  n.range_max = std::move(max);
  return push(std::move(n));
}

ValueId Builder::add(ValueId a, ValueId b, std::string name) {
  return push(make_node(OpKind::kAdd, std::move(name), {a, b}));
}
ValueId Builder::sub(ValueId a, ValueId b, std::string name) {
  return push(make_node(OpKind::kSub, std::move(name), {a, b}));
}
ValueId Builder::neg(ValueId a, std::string name) {
  return push(make_node(OpKind::kNeg, std::move(name), {a}));
}
ValueId Builder::add_const(ValueId x, Tensor c, std::string name) {
  Node n = make_node(OpKind::kAddConst, std::move(name), {x});
  n.constant = std::move(c);
  return push(std::move(n));
}
ValueId Builder::mul_const(ValueId x, Tensor c, std::string name) {
  Node n = make_node(OpKind::kMulConst, std::move(name), {x});
  n.constant = std::move(c);
  return push(std::move(n));
}
ValueId Builder::add_const(ValueId x, int64_t c, std::string name) {
  return add_const(x, Tensor{{}, {c}}, std::move(name));
}
ValueId Builder::mul_const(ValueId x, int64_t c, std::string name) {
  return mul_const(x, Tensor{{}, {c}}, std::move(name));
}
ValueId Builder::matmul(ValueId x, Tensor weights, std::string name) {
  Node n = make_node(OpKind::kMatMul, std::move(name), {x});
  n.constant = std::move(weights);
  return push(std::move(n));
}
ValueId Builder::sum(ValueId x, int64_t axis, std::string name) {
  return push(make_node(OpKind::kSum, std::move(name), {x}, {axis}));
}
ValueId Builder::reshape(ValueId x, Shape shape, std::string name) {
  Node n = make_node(OpKind::kReshape, std::move(name), {x});
  n.shape = std::move(shape);
  return push(std::move(n));
}
ValueId Builder::transpose(ValueId x, std::vector<int64_t> perm, std::string name) {
  return push(make_node(OpKind::kTranspose, std::move(name), {x}, std::move(perm)));
}
ValueId Builder::slice(ValueId x, std::vector<int64_t> begin, std::vector<int64_t> end, std::vector<int64_t> step,
                       std::string name) {
  Node n = make_node(OpKind::kSlice, std::move(name), {x});
  if (begin.size() == end.size() && end.size() == step.size()) {
    for (size_t a = 0; a < begin.size(); ++a) n.attrs.insert(n.attrs.end(), {begin[a], end[a], step[a]});
  } else {
    n.attrs = {-1};  // refused by the shape check
  }
  return push(std::move(n));
}
ValueId Builder::gather(ValueId x, int64_t axis, std::vector<int64_t> indices, std::string name) {
  Node n = make_node(OpKind::kGather, std::move(name), {x}, {axis});
  n.attrs.insert(n.attrs.end(), indices.begin(), indices.end());
  return push(std::move(n));
}
ValueId Builder::concat(std::vector<ValueId> xs, int64_t axis, std::string name) {
  return push(make_node(OpKind::kConcat, std::move(name), std::move(xs), {axis}));
}
ValueId Builder::lookup(ValueId x, std::vector<int64_t> table, uint32_t input_bits, int64_t input_min,
                        std::string name) {
  return lookup(x, std::vector<std::vector<int64_t>>{std::move(table)}, {}, input_bits, input_min, std::move(name));
}
ValueId Builder::lookup(ValueId x, std::vector<std::vector<int64_t>> tables, std::vector<uint32_t> table_index,
                        uint32_t input_bits, int64_t input_min, std::string name) {
  Node n = make_node(OpKind::kLookup, std::move(name), {x});
  n.tables = std::move(tables);
  n.table_index = std::move(table_index);
  n.input_bits = input_bits;
  n.input_min = input_min;
  return push(std::move(n));
}
ValueId Builder::round(ValueId x, uint32_t drop_bits, bool exact, std::string name) {
  return push(make_node(OpKind::kRound, std::move(name), {x}, {static_cast<int64_t>(drop_bits), exact ? 1 : 0}));
}
void Builder::output(ValueId x, std::string name) {
  push(make_node(OpKind::kOutput, std::move(name), {x}));
}

Result<Circuit> Builder::finish() {
  if (error_) return *error_;
  Circuit c(nodes_);
  BLINDML_RETURN_IF_ERROR(c.validate());
  return c;
}

}  // namespace blindml::circuit
