// The hand-written circuits of the circuit tests and benchmarks (bench/circuit_bench.cc):
//   dot_product_30   30 features in [0, 15] times 8-bit signed weights, plus a bias (leveled);
//   mlp              6 inputs -> 5 hidden units (4-bit weights, bias, rounding to 5 bits, ReLU
//                    lookup) -> 3 outputs, with exact or approximate rounding;
//   decision_tree    a depth-2 tree on 3 features as tree ensembles are lowered: comparisons as
//                    lookups, a path matrix, an equality lookup per leaf, leaf values.
// Weights come from fixed seeds, so every run builds the same circuits.
#pragma once

#include <algorithm>
#include <random>
#include <utility>

#include "blindml/circuit/analysis.h"
#include "blindml/circuit/circuit.h"

namespace blindml::circuit::samples {

// The range of a value of a circuit being built (analysis of a copy with that value as output).
inline std::pair<int64_t, int64_t> range_of(const Builder& b, ValueId v) {
  Builder tmp = b;
  tmp.output(v);
  auto a = analyze(tmp.finish().value());
  return {a->values[v].lo, a->values[v].hi};
}

inline Tensor random_tensor(std::mt19937_64& rng, Shape s, int64_t lo, int64_t hi) {
  Tensor t{s, std::vector<int64_t>(shape_elements(s))};
  for (auto& v : t.data) v = lo + static_cast<int64_t>(rng() % static_cast<uint64_t>(hi - lo + 1));
  return t;
}

inline Result<Circuit> dot_product_30() {
  std::mt19937_64 rng(11);
  Builder b;
  auto x = b.input({30}, 0, 15, "features");
  b.output(b.add_const(b.matmul(x, random_tensor(rng, {30}, -128, 127), "dot"), 1000, "bias"), "score");
  return b.finish();
}

inline Result<Circuit> mlp(bool exact) {
  std::mt19937_64 rng(exact ? 21 : 22);
  Builder b;
  auto x = b.input({6}, 0, 15, "x");
  auto h = b.add_const(b.matmul(x, random_tensor(rng, {6, 5}, -8, 7), "fc1"), random_tensor(rng, {5}, -20, 20),
                       "bias1");
  auto [lo, hi] = range_of(b, h);
  uint32_t drop = 1;
  while (((hi - lo) >> drop) >= 24) ++drop;  // leaves the rounded span under 32 (5 bits)
  auto r = b.round(h, drop, exact, "round1");
  auto [tlo, thi] = range_of(b, r);
  (void)thi;
  std::vector<int64_t> relu(32);
  for (int i = 0; i < 32; ++i) relu[i] = std::max<int64_t>(0, tlo + i);  // index = t - tlo
  auto a = b.lookup(r, relu, 5, tlo, "relu1");
  b.output(b.matmul(a, random_tensor(rng, {5, 3}, -8, 7), "fc2"), "logits");
  return b.finish();
}

inline Result<Circuit> decision_tree() {
  Builder b;
  auto x = b.input({3}, 0, 15, "x");
  // Node 0: x0 <= 7; node 1: x1 <= 3; node 2: x2 <= 11.
  auto feats = b.gather(x, 0, {0, 1, 2}, "node_features");
  std::vector<std::vector<int64_t>> cmp(3, std::vector<int64_t>(16));
  const int thr[3] = {7, 3, 11};
  for (int n = 0; n < 3; ++n)
    for (int v = 0; v < 16; ++v) cmp[n][v] = v <= thr[n] ? 1 : 0;
  auto bits = b.lookup(feats, cmp, {0, 1, 2}, 4, 0, "compare");
  // Leaves: L0 = n0 & n1, L1 = n0 & !n1, L2 = !n0 & n2, L3 = !n0 & !n2. Score per leaf:
  // Σ (bit or 1 - bit) along its path = 2 exactly on the leaf's path.
  auto path = b.matmul(bits, Tensor{{3, 4}, {1, 1, -1, -1, 1, -1, 0, 0, 0, 0, 1, -1}}, "path");
  auto score = b.add_const(path, Tensor{{4}, {0, 1, 1, 2}}, "score");  // in [0, 2]
  std::vector<int64_t> eq2(8, 0);
  eq2[2 + 2] = 1;  // index = score + 2
  auto leaf = b.lookup(score, eq2, 3, -2, "is_leaf");
  b.output(b.matmul(leaf, Tensor{{4}, {10, -20, 30, 5}}, "leaf_values"), "prediction");
  return b.finish();
}

}  // namespace blindml::circuit::samples
