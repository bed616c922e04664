// Where each output element of a structural or reducing op comes from. Shared by the clear
// evaluator, the analysis and the FHE evaluator so that all three index the same way.
#pragma once

#include <cstdint>
#include <vector>

#include "blindml/circuit/circuit.h"

namespace blindml::circuit::internal {

struct ElementSource {
  uint32_t operand;  // which input of the node
  int64_t index;     // flat index in that input
};

inline std::vector<int64_t> strides_of(const Shape& s) {
  std::vector<int64_t> st(s.size(), 1);
  for (int64_t a = static_cast<int64_t>(s.size()) - 2; a >= 0; --a) st[a] = st[a + 1] * s[a + 1];
  return st;
}

// For reshape, transpose, slice, gather and concat: the source of every output element.
inline std::vector<ElementSource> structural_map(const Node& node, const std::vector<const Shape*>& in) {
  const int64_t count = shape_elements(node.shape);
  std::vector<ElementSource> map(count);
  if (node.kind == OpKind::kReshape) {
    for (int64_t e = 0; e < count; ++e) map[e] = {0, e};
    return map;
  }
  const Shape& out = node.shape;
  const auto out_st = strides_of(out);
  std::vector<int64_t> coord(out.size());
  for (int64_t e = 0; e < count; ++e) {
    int64_t rem = e;
    for (size_t a = 0; a < out.size(); ++a) {
      coord[a] = rem / out_st[a];
      rem %= out_st[a];
    }
    switch (node.kind) {
      case OpKind::kTranspose: {
        const auto in_st = strides_of(*in[0]);
        int64_t idx = 0;
        for (size_t a = 0; a < out.size(); ++a) idx += coord[a] * in_st[node.attrs[a]];
        map[e] = {0, idx};
        break;
      }
      case OpKind::kSlice: {
        const auto in_st = strides_of(*in[0]);
        int64_t idx = 0;
        for (size_t a = 0; a < out.size(); ++a) idx += (node.attrs[3 * a] + coord[a] * node.attrs[3 * a + 2]) * in_st[a];
        map[e] = {0, idx};
        break;
      }
      case OpKind::kGather: {
        const auto in_st = strides_of(*in[0]);
        const int64_t axis = node.attrs[0];
        int64_t idx = 0;
        for (size_t a = 0; a < out.size(); ++a)
          idx += (static_cast<int64_t>(a) == axis ? node.attrs[1 + coord[a]] : coord[a]) * in_st[a];
        map[e] = {0, idx};
        break;
      }
      case OpKind::kConcat: {
        const int64_t axis = node.attrs[0];
        int64_t c = coord[axis];
        uint32_t op = 0;
        while (c >= (*in[op])[axis]) c -= (*in[op++])[axis];
        const auto in_st = strides_of(*in[op]);
        int64_t idx = 0;
        for (size_t a = 0; a < out.size(); ++a) idx += (static_cast<int64_t>(a) == axis ? c : coord[a]) * in_st[a];
        map[e] = {op, idx};
        break;
      }
      default:
        break;
    }
  }
  return map;
}

// The same for a node of a circuit (its operands' shapes taken from the circuit).
inline std::vector<ElementSource> structural_map(const Circuit& circuit, const Node& node) {
  std::vector<const Shape*> shapes;
  for (ValueId i : node.inputs) shapes.push_back(&circuit.node(i).shape);
  return structural_map(node, shapes);
}

// Sum over an axis: output element e is the sum of input elements groups[e].
inline std::vector<std::vector<int64_t>> sum_groups(const Node& node, const Shape& in) {
  const int64_t axis = node.attrs[0];
  const auto in_st = strides_of(in);
  int64_t outer = 1;
  for (int64_t a = 0; a < axis; ++a) outer *= in[a];
  const int64_t inner = in_st[axis];
  std::vector<std::vector<int64_t>> groups;
  groups.reserve(outer * inner);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      std::vector<int64_t> g(in[axis]);
      for (int64_t j = 0; j < in[axis]; ++j) g[j] = o * in[axis] * inner + j * inner + i;
      groups.push_back(std::move(g));
    }
  return groups;
}

// Matmul x[B, K] · W[K, M]: rows B, inner K, columns M (M = 1 for weights [K]).
struct MatMulDims {
  int64_t rows, inner, cols;
};
inline MatMulDims matmul_dims(const Node& node, const Shape& x) {
  const int64_t k = x.back();
  const int64_t rows = shape_elements(x) / k;
  const int64_t cols = node.constant.shape.size() == 2 ? node.constant.shape[1] : 1;
  return {rows, k, cols};
}

// The table an element of a lookup uses.
inline const std::vector<int64_t>& table_for(const Node& node, int64_t e) {
  return node.tables[node.table_index.empty() ? 0 : node.table_index[e]];
}

inline int64_t constant_at(const Tensor& c, int64_t e) { return c.shape.empty() ? c.data[0] : c.data[e]; }

}  // namespace blindml::circuit::internal
