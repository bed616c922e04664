// A lowered program (compiler::lower, runtime::execute) gives the clear evaluator's integers: hand-written circuits (a dot product of
// 30 features with 8-bit weights, a 2-layer MLP-shaped circuit with rounding and ReLU lookups, a
// tree-shaped comparison/equality circuit) and random circuits, each with the parameters the
// optimizer chooses for it (128-bit secure, 2^-40 per read).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <random>

#include "blindml/circuit/analysis.h"
#include "blindml/circuit/clear_eval.h"
#include "blindml/compiler/lower.h"
#include "blindml/compiler/optimizer.h"
#include "blindml/runtime/executor.h"
#include "circuit/sample_circuits.h"
#include "crypto/key_cache.h"

namespace blindml::circuit {
namespace {

using runtime::decrypt_tensor;
using runtime::encrypt_tensor;
using runtime::EncryptedTensor;

using crypto::testing::keys_for;
using crypto::testing::test_pool;

struct Prepared {
  Analysis analysis;
  compiler::OptimizerChoice choice;
};

Prepared prepare(const Circuit& c) {
  auto a = analyze(c);
  EXPECT_TRUE(a.ok()) << a.status().to_string();
  auto choice = compiler::choose_parameters(*a);
  EXPECT_TRUE(choice.ok()) << choice.status().to_string();
  std::printf("%s", choice->report().c_str());
  return Prepared{*a, *choice};
}

Tensor random_input(const Node& node, std::mt19937_64& rng) {
  Tensor t{node.shape, std::vector<int64_t>(shape_elements(node.shape))};
  for (size_t e = 0; e < t.data.size(); ++e) {
    int64_t lo = node.range_min.size() == 1 ? node.range_min[0] : node.range_min[e];
    int64_t hi = node.range_max.size() == 1 ? node.range_max[0] : node.range_max[e];
    t.data[e] = lo + static_cast<int64_t>(rng() % static_cast<uint64_t>(hi - lo + 1));
  }
  return t;
}

// Encrypts `samples` random inputs, evaluates under FHE and compares every output element with
// the clear evaluator. Returns the number of elements compared.
// tolerance[o]: the largest difference allowed on output o (approximate roundings); default 0.
int64_t expect_fhe_equals_clear(const Circuit& c, int samples, uint64_t seed, std::vector<int64_t> tolerance = {}) {
  Prepared p = prepare(c);
  const auto& params = p.choice.params;
  auto program = compiler::lower(c, p.analysis, params);
  EXPECT_TRUE(program.ok()) << program.status().to_string();
  if (!program.ok()) return 0;
  const auto& keys = keys_for(params);
  const crypto::EvaluationKeys* eval = p.choice.needs_bootstrapping ? keys.eval.get() : nullptr;
  std::mt19937_64 rng(seed);
  int64_t compared = 0;
  for (int s = 0; s < samples; ++s) {
    std::vector<Tensor> clear_in;
    std::vector<EncryptedTensor> enc_in;
    for (ValueId id : c.inputs()) {
      clear_in.push_back(random_input(c.node(id), rng));
      enc_in.push_back(encrypt_tensor(*keys.client, clear_in.back(), p.analysis.values[id].carrier_bits));
    }
    auto expected = evaluate_clear(c, clear_in);
    EXPECT_TRUE(expected.ok()) << expected.status().to_string();
    auto got = runtime::execute(*program, std::move(enc_in), eval, test_pool());
    EXPECT_TRUE(got.ok()) << got.status().to_string();
    if (!expected.ok() || !got.ok()) return compared;
    for (size_t o = 0; o < c.outputs().size(); ++o) {
      const ValueInfo& info = p.analysis.values[c.outputs()[o]];
      Tensor dec = decrypt_tensor(*keys.client, (*got)[o], info.carrier_bits, info.is_signed);
      EXPECT_EQ(dec.data.size(), (*expected)[o].data.size());
      if (dec.data.size() != (*expected)[o].data.size()) return compared;
      for (size_t e = 0; e < dec.data.size(); ++e) {
        EXPECT_LE(std::abs(dec.data[e] - (*expected)[o].data[e]), o < tolerance.size() ? tolerance[o] : 0)
            << "sample " << s << " output " << o << " element " << e << ": FHE " << dec.data[e] << ", clear "
            << (*expected)[o].data[e];
        ++compared;
      }
    }
  }
  return compared;
}

TEST(FheEval, DotProductOf30FeaturesWith8BitWeightsNeedsNoBootstrapping) {
  auto c = samples::dot_product_30();
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  Prepared p = prepare(*c);
  EXPECT_FALSE(p.choice.needs_bootstrapping);
  EXPECT_FALSE(p.analysis.needs_bootstrapping());
  EXPECT_GE(expect_fhe_equals_clear(*c, 20, 1), 20);
}

TEST(FheEval, MlpWithExactRoundingAndRelu) { EXPECT_GE(expect_fhe_equals_clear(samples::mlp(true).value(), 10, 2), 30); }

// Approximate rounding reads the top bits directly: a value within the key-switching and
// modulus-switching noise of a half-way point may round either way, so the rounded value is the
// clear one or its neighbour. Through ReLU that moves each hidden unit by at most 1 and each
// logit by at most Σ|W2 column| <= 5·8.
TEST(FheEval, MlpWithApproximateRoundingAndRelu) {
  EXPECT_GE(expect_fhe_equals_clear(samples::mlp(false).value(), 10, 3, {40}), 30);
}

// An exact rounding clears its low bits in chunks (analysis.h, rounding_chunks): 6 bits under a
// 4-bit lookup go as two chunks of 3 (each a sign read and a 2-bit lookup), 4 PBS instead of 6,
// plus the lookup: 5 per element. Inputs on and next to every rounding tie (x ≡ 31, 32, 33 mod
// 64) are where a wrong chunk would show.
TEST(FheEval, ExactRoundingInChunksOnTies) {
  std::vector<int64_t> values;
  for (int64_t q = 0; q < 15; q += 2)
    for (int64_t d : {31, 32, 33}) values.push_back(q * 64 + d);
  values.push_back(0);
  values.push_back(959);
  const int64_t n = static_cast<int64_t>(values.size());
  std::vector<int64_t> table(16);
  for (size_t i = 0; i < table.size(); ++i) table[i] = static_cast<int64_t>((i * 7) % 16);
  auto build = [&](std::vector<int64_t> lo, std::vector<int64_t> hi) {
    Builder b;
    auto x = b.input({n}, std::move(lo), std::move(hi), "x");
    auto r = b.round(x, 6, /*exact=*/true, "r");  // floor((x + 32) / 64) in [0, 15]
    b.output(b.lookup(r, table, 4, 0, "t"), "y");
    return b.finish().value();
  };
  // Ranges [0, 959] for every element: random values.
  const Circuit wide = build(std::vector<int64_t>(n, 0), std::vector<int64_t>(n, 959));
  auto a = analyze(wide);
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  const auto chunks = rounding_chunks(wide, 1);
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(chunks[0].first_bit, 0u);
  EXPECT_EQ(chunks[0].bits, 3u);
  EXPECT_EQ(chunks[1].first_bit, 3u);
  EXPECT_EQ(chunks[1].bits, 3u);
  EXPECT_EQ(a->pbs_count, static_cast<uint64_t>(n) * 5);
  EXPECT_GE(expect_fhe_equals_clear(wide, 2, 11), 2 * n);
  // Each element's range pinned to its value: the "random" input is exactly the ties above.
  EXPECT_GE(expect_fhe_equals_clear(build(values, values), 1, 12), n);
}

TEST(FheEval, RoundingsMaterializedAsOutputs) {
  Builder b;
  auto x = b.input({16}, 0, 127, "x");  // random values: about one in eight sits on a half-way point
  b.output(b.round(x, 3, false, "approx"), "approx");
  b.output(b.round(b.neg(x), 3, true, "exact"), "exact");  // negative values: floor semantics
  auto c = b.finish();
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  // Exact rounding: equal; approximate: within one step.
  EXPECT_GE(expect_fhe_equals_clear(*c, 3, 5, {1, 0}), 3 * 32);
}

// A depth-2 decision tree on 3 features in [0, 15], lowered as the tree-ensemble circuits are:
// comparisons x[f] <= threshold as lookups, a path matrix, an equality lookup per leaf, the leaf
// values by a matrix product.
TEST(FheEval, TreeShapedComparisonAndEquality) {
  auto c = samples::decision_tree();
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  // The clear circuit is the tree: check it on every input first.
  for (int x0 = 0; x0 < 16; x0 += 3)
    for (int x1 = 0; x1 < 16; x1 += 2)
      for (int x2 = 0; x2 < 16; x2 += 5) {
        int64_t want = x0 <= 7 ? (x1 <= 3 ? 10 : -20) : (x2 <= 11 ? 30 : 5);
        auto r = evaluate_clear(*c, std::vector<Tensor>{Tensor{{3}, {x0, x1, x2}}});
        ASSERT_TRUE(r.ok());
        EXPECT_EQ((*r)[0].data[0], want);
      }
  EXPECT_GE(expect_fhe_equals_clear(*c, 20, 4), 20);
}

using samples::range_of;

// Random circuits: a random input, a chain of random leveled and structural ops, random lookups
// (tables of random entries, per-element or shared), roundings, and outputs along the way.
Circuit random_circuit(std::mt19937_64& rng) {
  auto uni = [&](int64_t lo, int64_t hi) { return lo + static_cast<int64_t>(rng() % static_cast<uint64_t>(hi - lo + 1)); };
  Builder b;
  const int64_t n = uni(2, 6);
  ValueId v = b.input({n}, 0, uni(3, 15), "x");
  ValueId other = b.input({n}, -4, 3, "y");
  int lookups = 0;
  for (int step = 0; step < 6; ++step) {
    const auto [info_lo, info_hi] = range_of(b, v);
    const int64_t len = b.shape_of(v)[0];
    switch (uni(0, 6)) {
      case 0:
        if (b.shape_of(other) == b.shape_of(v)) v = b.add(v, other);
        break;
      case 1: {
        Tensor w{{len, len}, std::vector<int64_t>(len * len)};
        for (auto& x : w.data) x = uni(-3, 3);
        v = b.matmul(v, w);
        break;
      }
      case 2:
        v = b.mul_const(b.add_const(v, uni(-5, 5)), uni(-2, 2) | 1);
        break;
      case 3: {
        std::vector<int64_t> idx(len);
        for (auto& i : idx) i = uni(0, len - 1);
        v = b.gather(v, 0, idx);
        break;
      }
      case 4:
        v = b.concat({b.slice(v, {len / 2}, {len}, {1}), b.slice(v, {0}, {len / 2 + 1}, {1})}, 0);
        break;
      default: {
        // A lookup over the value's whole range: ⌈log2(span)⌉ bits, at most 5 (rounding first
        // when wider).
        ValueId src = v;
        int64_t lo = info_lo, hi = info_hi;
        int64_t span = hi - lo;
        uint32_t bits = 1;
        while ((span >> bits) != 0) ++bits;
        if (bits > 5) {
          const uint32_t drop = bits - 4;
          src = b.round(v, drop, uni(0, 1) == 1);
          lo = (lo + (int64_t{1} << (drop - 1))) >> drop;
          hi = (hi + (int64_t{1} << (drop - 1))) >> drop;
          span = hi - lo;
          bits = 1;
          while ((span >> bits) != 0) ++bits;
        }
        const int tables = static_cast<int>(uni(1, 2));
        std::vector<std::vector<int64_t>> t(tables, std::vector<int64_t>(size_t{1} << bits));
        for (auto& tab : t)
          for (auto& e : tab) e = uni(-7, 7);
        std::vector<uint32_t> index;
        const int64_t elems = shape_elements(b.shape_of(src));
        if (tables > 1)
          for (int64_t e = 0; e < elems; ++e) index.push_back(static_cast<uint32_t>(e % tables));
        v = b.lookup(src, t, index, bits, lo);
        ++lookups;
        break;
      }
    }
    if (uni(0, 3) == 0) b.output(v);
  }
  b.output(v, "final");
  return b.finish().value();
}

TEST(FheEval, RandomCircuitsEqualTheClearEvaluator) {
  std::mt19937_64 rng(2026);
  int64_t compared = 0;
  for (int i = 0; i < 6; ++i) {
    Circuit c = random_circuit(rng);
    auto a = analyze(c);
    ASSERT_TRUE(a.ok()) << a.status().to_string();
    std::printf("random circuit %d: %zu ops, carrier %u bits, %llu PBS, largest lookup %u bits\n", i, c.size(),
                a->carrier_bits, static_cast<unsigned long long>(a->pbs_count), a->max_lookup_bits);
    // Approximate roundings may move a half-way value by one step; the random tables make that
    // any difference, so those circuits are compared on their exact paths only.
    bool approximate = false;
    for (const Node& node : c.nodes()) approximate |= node.kind == OpKind::kRound && node.attrs[1] == 0;
    if (approximate) continue;
    compared += expect_fhe_equals_clear(c, 3, 100 + i);
  }
  EXPECT_GT(compared, 0);
}

TEST(FheEval, RefusesWrongInputsAndMissingKeys) {
  Builder b;
  auto x = b.input({4}, 0, 7, "x");
  b.output(b.lookup(x, {0, 1, 2, 3, 4, 5, 6, 7}, 3, 0, "id"));
  auto c = b.finish().value();
  Prepared p = prepare(c);
  auto program = compiler::lower(c, p.analysis, p.choice.params);
  ASSERT_TRUE(program.ok());
  const auto& keys = keys_for(p.choice.params);
  Tensor in{{4}, {1, 2, 3, 4}};
  auto run = [&](std::vector<EncryptedTensor> inputs, const crypto::EvaluationKeys* k) {
    return runtime::execute(*program, std::move(inputs), k, test_pool());
  };
  std::vector<EncryptedTensor> one;
  one.push_back(encrypt_tensor(*keys.client, in, p.analysis.carrier_bits));
  auto no_keys = run(std::move(one), nullptr);
  ASSERT_FALSE(no_keys.ok());
  EXPECT_NE(no_keys.status().message().find("evaluation keys"), std::string::npos);
  std::vector<EncryptedTensor> three;
  three.push_back(encrypt_tensor(*keys.client, Tensor{{3}, {1, 2, 3}}, p.analysis.carrier_bits));
  auto wrong_shape = run(std::move(three), keys.eval.get());
  ASSERT_FALSE(wrong_shape.ok());
  EXPECT_NE(wrong_shape.status().message().find("shape"), std::string::npos);
  EXPECT_FALSE(run({}, keys.eval.get()).ok());
  // A carrier one bit narrower than the circuit needs is refused.
  Analysis narrower = p.analysis;
  for (auto& v : narrower.values) --v.carrier_bits;
  --narrower.carrier_bits;
  EXPECT_FALSE(compiler::lower(c, narrower, p.choice.params).ok());
}

}  // namespace
}  // namespace blindml::circuit
