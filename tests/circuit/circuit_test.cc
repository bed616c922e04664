// The IR, its builder, the analysis (ranges, widths, noise norms, counts), the clear evaluator and
// the simulation, on circuits whose answers are worked out by hand in the comments.
#include <gtest/gtest.h>

#include <random>

#include "blindml/circuit/analysis.h"
#include "blindml/circuit/circuit.h"
#include "blindml/circuit/clear_eval.h"

namespace blindml::circuit {
namespace {

Tensor vec(std::vector<int64_t> v) { return Tensor{{static_cast<int64_t>(v.size())}, std::move(v)}; }

std::vector<int64_t> run1(const Circuit& c, std::vector<Tensor> in, size_t output = 0) {
  auto r = evaluate_clear(c, in);
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  return r.ok() ? (*r)[output].data : std::vector<int64_t>{};
}

const NoiseConstraint* find_constraint(const Analysis& a, const std::string& prefix) {
  for (const auto& c : a.constraints)
    if (c.where.rfind(prefix, 0) == 0) return &c;
  return nullptr;
}

TEST(Builder, RejectsMismatchedShapesNamingTheOp) {
  Builder b;
  auto x = b.input({3}, 0, 7, "x");
  auto y = b.input({4}, 0, 7, "y");
  b.add(x, y, "bad_add");
  auto r = b.finish();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("bad_add"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("[3]"), std::string::npos);
}

TEST(Builder, RejectsWrongTableSizeAndBadWeights) {
  {
    Builder b;
    auto x = b.input({2}, 0, 3);
    b.output(b.lookup(x, {1, 2, 3}, 2, 0, "short_table"));
    auto r = b.finish();
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("short_table"), std::string::npos);
  }
  {
    Builder b;
    auto x = b.input({2, 3}, 0, 3);
    b.output(b.matmul(x, Tensor{{2, 2}, {1, 2, 3, 4}}, "mm"));
    auto r = b.finish();
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("inner dimensions"), std::string::npos) << r.status().message();
  }
  {
    Builder b;
    b.input({2}, 5, 4, "empty_range");
    auto r = b.finish();
    ASSERT_FALSE(r.ok());
  }
}

TEST(Circuit, ValidateRejectsForwardReferences) {
  Builder b;
  auto x = b.input({2}, 0, 3);
  b.output(b.neg(x));
  auto c = b.finish();
  ASSERT_TRUE(c.ok());
  std::vector<Node> nodes = c->nodes();
  nodes[1].inputs = {2};
  EXPECT_FALSE(Circuit(nodes).validate().ok());
  nodes = c->nodes();
  nodes[1].shape = {3};
  EXPECT_FALSE(Circuit(nodes).validate().ok());
}

TEST(ClearEval, LeveledOpsByHand) {
  Builder b;
  auto x = b.input({2, 3}, -8, 7, "x");
  auto y = b.input({2, 3}, 0, 3, "y");
  auto s = b.sub(b.add(x, y), b.mul_const(y, 2));                  // x - y
  auto t = b.add_const(s, Tensor{{2, 3}, {1, 2, 3, 4, 5, 6}});     // x - y + c
  b.output(t, "t");
  b.output(b.matmul(x, Tensor{{3, 2}, {1, 0, 0, 1, 2, -1}}), "mm");  // [x0 + 2x2, x1 - x2]
  b.output(b.matmul(x, Tensor{{3}, {1, 1, 1}}), "rowsum");
  b.output(b.sum(x, 0), "colsum");
  b.output(b.neg(y), "negy");
  auto c = b.finish();
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  Tensor xv{{2, 3}, {1, -2, 3, -4, 5, -6}};
  Tensor yv{{2, 3}, {0, 1, 2, 3, 0, 1}};
  auto r = evaluate_clear(*c, std::vector<Tensor>{xv, yv});
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ((*r)[0].data, (std::vector<int64_t>{2, -1, 4, -3, 10, -1}));
  EXPECT_EQ((*r)[1].shape, (Shape{2, 2}));
  EXPECT_EQ((*r)[1].data, (std::vector<int64_t>{7, -5, -16, 11}));
  EXPECT_EQ((*r)[2].data, (std::vector<int64_t>{2, -5}));
  EXPECT_EQ((*r)[3].data, (std::vector<int64_t>{-3, 3, -3}));
  EXPECT_EQ((*r)[4].data, (std::vector<int64_t>{0, -1, -2, -3, 0, -1}));
}

TEST(ClearEval, StructuralOpsByHand) {
  Builder b;
  auto x = b.input({2, 3}, 0, 9, "x");  // [[0 1 2] [3 4 5]]
  b.output(b.transpose(x, {1, 0}));                     // [[0 3] [1 4] [2 5]]
  b.output(b.slice(x, {0, 0}, {2, 3}, {1, 2}));          // [[0 2] [3 5]]
  b.output(b.gather(x, 1, {2, 2, 0}));                  // [[2 2 0] [5 5 3]]
  b.output(b.concat({x, x}, 0));                        // 4 rows
  b.output(b.concat({x, b.slice(x, {0, 1}, {2, 2}, {1, 1})}, 1));  // [[0 1 2 1] [3 4 5 4]]
  b.output(b.reshape(x, {3, 2}));
  auto c = b.finish();
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  auto r = evaluate_clear(*c, std::vector<Tensor>{Tensor{{2, 3}, {0, 1, 2, 3, 4, 5}}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].data, (std::vector<int64_t>{0, 3, 1, 4, 2, 5}));
  EXPECT_EQ((*r)[1].data, (std::vector<int64_t>{0, 2, 3, 5}));
  EXPECT_EQ((*r)[2].data, (std::vector<int64_t>{2, 2, 0, 5, 5, 3}));
  EXPECT_EQ((*r)[3].shape, (Shape{4, 3}));
  EXPECT_EQ((*r)[3].data, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5}));
  EXPECT_EQ((*r)[4].data, (std::vector<int64_t>{0, 1, 2, 1, 3, 4, 5, 4}));
  EXPECT_EQ((*r)[5].shape, (Shape{3, 2}));
}

TEST(ClearEval, LookupsAndRounding) {
  Builder b;
  auto x = b.input({4}, -4, 3, "x");
  // Table indexed by x + 4: x².
  b.output(b.lookup(x, {16, 9, 4, 1, 0, 1, 4, 9}, 3, -4, "square"));
  // Per-element tables: element e uses table e % 2 (identity, negation).
  b.output(b.lookup(x, {{-4, -3, -2, -1, 0, 1, 2, 3}, {4, 3, 2, 1, 0, -1, -2, -3}}, {0, 1, 0, 1}, 3, -4, "per_elem"));
  auto w = b.input({4}, -100, 100, "w");
  b.output(b.round(w, 2, true, "r2"));  // floor((w + 2) / 4)
  auto c = b.finish();
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  auto r = evaluate_clear(*c, std::vector<Tensor>{vec({-4, -1, 2, 3}), vec({-9, -6, 5, 6})});
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ((*r)[0].data, (std::vector<int64_t>{16, 1, 4, 9}));
  EXPECT_EQ((*r)[1].data, (std::vector<int64_t>{-4, 1, 2, -3}));
  // -9/4 = -2.25 -> -2; -6/4 = -1.5 -> -1 (half up); 5/4 -> 1; 6/4 = 1.5 -> 2.
  EXPECT_EQ((*r)[2].data, (std::vector<int64_t>{-2, -1, 1, 2}));
}

TEST(ClearEval, RejectsInputsOutsideTheirRange) {
  Builder b;
  auto x = b.input({2}, 0, 3, "x");
  b.output(x);
  auto c = b.finish();
  ASSERT_TRUE(c.ok());
  auto r = evaluate_clear(*c, std::vector<Tensor>{vec({1, 4})});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("outside its declared range"), std::string::npos);
  EXPECT_FALSE(evaluate_clear(*c, std::vector<Tensor>{vec({1, 2, 3})}).ok());
  EXPECT_FALSE(evaluate_clear(*c, std::vector<Tensor>{}).ok());
}

TEST(Analysis, RangesAndWidthsByHand) {
  Builder b;
  auto x = b.input({3}, 0, 15, "x");
  auto d = b.matmul(x, Tensor{{3}, {1, -2, 3}}, "dot");   // [-30, 60]: 7 bits signed
  auto s = b.add_const(d, 30, "shifted");                  // [0, 90]: 7 bits unsigned
  auto r = b.round(s, 3, false, "r");                      // floor((v + 4) / 8): [0, 11]: 4 bits
  std::vector<int64_t> relu(16);
  for (int i = 0; i < 16; ++i) relu[i] = std::max(0, i - 5);
  auto l = b.lookup(r, relu, 4, 0, "relu");                // [0, 6]: 3 bits (reachable entries only)
  b.output(l, "y");
  b.output(b.mul_const(x, -3), "neg3x");                   // [-45, 0]: 7 bits signed
  auto c = b.finish();
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  auto a = analyze(*c);
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  auto info = [&](ValueId id) { return a->values[id]; };
  EXPECT_EQ(info(d).lo, -30);
  EXPECT_EQ(info(d).hi, 60);
  EXPECT_EQ(info(d).bits, 7u);
  EXPECT_TRUE(info(d).is_signed);
  EXPECT_EQ(info(s).bits, 7u);
  EXPECT_FALSE(info(s).is_signed);
  EXPECT_EQ(info(r).lo, 0);
  EXPECT_EQ(info(r).hi, 11);
  EXPECT_EQ(info(r).bits, 4u);
  EXPECT_EQ(info(l).lo, 0);
  EXPECT_EQ(info(l).hi, 6);
  EXPECT_EQ(info(l).bits, 3u);
  EXPECT_EQ(a->values[c->nodes().size() - 2].lo, -45);
  // Carrier: the widest value is 7 bits (dot, shifted, -3x); the lookup reads 4 bits of a value
  // rounded by 3: 4 + 3 = 7.
  EXPECT_EQ(a->carrier_bits, 7u);
  EXPECT_EQ(a->pbs_count, 1u);  // one lookup on the scalar dot product; the rounding is fused into it
  EXPECT_EQ(a->max_lookup_bits, 4u);
  EXPECT_TRUE(a->needs_bootstrapping());
  EXPECT_FALSE(round_is_materialized(*c, r));
}

TEST(Analysis, NoiseNormsByHand) {
  Builder b;
  auto x = b.input({3}, 0, 3, "x");
  b.output(b.matmul(x, Tensor{{3}, {1, 2, 3}}), "dot");     // 1 + 4 + 9 = 14 fresh
  b.output(b.add(x, x), "twice");                          // coherent: (1 + 1)² = 4, not 2
  b.output(b.sub(x, x), "zero");                           // cancels: 0
  auto l = b.lookup(x, {0, 1, 2, 3}, 2, 0, "id");
  auto m = b.matmul(l, Tensor{{3, 1}, {3, 4, 0}}, "mix");   // 9 + 16 = 25 on PBS outputs
  auto both = b.add(b.reshape(m, {1}), b.gather(x, 0, {0}), "both");  // pbs 25, fresh 1
  b.output(both, "both");
  auto c = b.finish();
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  auto a = analyze(*c);
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  auto dot = find_constraint(*a, "output 'dot'");
  auto twice = find_constraint(*a, "output 'twice'");
  auto zero = find_constraint(*a, "output 'zero'");
  auto lk = find_constraint(*a, "lookup 'id'");
  auto bo = find_constraint(*a, "output 'both'");
  ASSERT_TRUE(dot && twice && zero && lk && bo);
  EXPECT_DOUBLE_EQ(dot->fresh_norm2, 14.0);
  EXPECT_DOUBLE_EQ(dot->pbs_norm2, 0.0);
  EXPECT_DOUBLE_EQ(twice->fresh_norm2, 4.0);
  EXPECT_DOUBLE_EQ(zero->fresh_norm2, 0.0);
  EXPECT_DOUBLE_EQ(lk->fresh_norm2, 1.0);
  EXPECT_EQ(lk->read_bits, 2u);
  EXPECT_EQ(lk->kind, NoiseConstraint::Kind::kPbsInput);
  EXPECT_DOUBLE_EQ(bo->pbs_norm2, 25.0);
  EXPECT_DOUBLE_EQ(bo->fresh_norm2, 1.0);
  EXPECT_EQ(bo->kind, NoiseConstraint::Kind::kDecryption);
  EXPECT_EQ(bo->read_bits, a->carrier_bits);
  // dot: [0, 18] 5 bits; mix: [0, 21] 5 bits; both [0, 24] 5 bits; twice 3 bits.
  EXPECT_EQ(a->carrier_bits, 5u);
  // The lookup reads 2 bits of a 5-bit carrier: its input is multiplied by 2^3.
  EXPECT_EQ(lk->amplify_log2, 3u);
}

// Per-value encodings (encoding.h): a lookup's output starts a new partition, so a narrow input
// is not read at the carrier of the wide sum its lookups feed.
TEST(Analysis, LookupsStartTheirOwnEncoding) {
  Builder b;
  auto x = b.input({4}, 0, 3, "x");                                       // 2 bits
  auto big = b.lookup(x, {0, 100, 500, 1000}, 2, 0, "big");               // [0, 1000]: 10 bits
  auto total = b.sum(big, 0, "total");                                    // [0, 4000]: 12 bits
  auto small = b.lookup(x, {3, 2, 1, 0}, 2, 0, "small");                  // [0, 3]
  auto z = b.lookup(small, {0, 1, 1, 0}, 2, 0, "z");                      // reads a lookup output
  b.output(total, "total");
  b.output(z, "z");
  auto c = b.finish();
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  auto a = analyze(*c);
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  EXPECT_EQ(a->values[x].carrier_bits, 2u);
  EXPECT_EQ(a->values[big].carrier_bits, 12u);    // joined with the sum it feeds
  EXPECT_EQ(a->values[total].carrier_bits, 12u);
  EXPECT_EQ(a->values[small].carrier_bits, 2u);   // read by a 2-bit lookup only
  EXPECT_EQ(a->values[z].carrier_bits, 1u);
  EXPECT_EQ(a->carrier_bits, 12u);                // the widest, for reports
  for (const char* name : {"lookup 'big'", "lookup 'small'", "lookup 'z'"}) {
    auto k = find_constraint(*a, name);
    ASSERT_TRUE(k) << name;
    EXPECT_EQ(k->amplify_log2, 0u) << name;  // with one carrier: 12 - 2 = 10
  }
  auto out = find_constraint(*a, "output 'total'");
  ASSERT_TRUE(out);
  EXPECT_EQ(out->read_bits, 12u);
  EXPECT_DOUBLE_EQ(out->pbs_norm2, 4.0);
}

TEST(Analysis, ExactRoundingExtractsBitsAndMaterializes) {
  Builder b;
  auto x = b.input({5}, 0, 200, "x");
  auto r = b.round(x, 3, true, "r");  // floor((x + 4) / 8) in [0, 25]: 5 bits
  b.output(r, "r");                    // an output: needs a materializing identity PBS
  auto c = b.finish();
  ASSERT_TRUE(c.ok());
  auto a = analyze(*c);
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  EXPECT_TRUE(round_is_materialized(*c, r));
  // 3 extracted bits and one identity PBS per element.
  EXPECT_EQ(a->pbs_count, 5u * 4u);
  EXPECT_EQ(a->pbs_depth, 4u);
  // x + 4 <= 204: 8 bits; the identity read is 5 bits scaled by 2^3: 8 bits.
  EXPECT_EQ(a->carrier_bits, 8u);
  int extractions = 0;
  for (const auto& k : a->constraints)
    if (k.where.find("extraction of bit") != std::string::npos) {
      ++extractions;
      EXPECT_EQ(k.read_bits, 0u);
      // bit j read at 2^(P - j); the working value carries j earlier PBS outputs.
      const uint32_t j = a->carrier_bits - k.amplify_log2;
      EXPECT_DOUBLE_EQ(k.pbs_norm2, static_cast<double>(j));
      EXPECT_DOUBLE_EQ(k.fresh_norm2, 1.0);
    }
  EXPECT_EQ(extractions, 3);
}

TEST(Analysis, RefusesTablesNotCoveringTheirInput) {
  Builder b;
  auto x = b.input({2}, 0, 9, "x");
  b.output(b.lookup(x, std::vector<int64_t>(8, 1), 3, 0, "too_small"));
  auto c = b.finish();
  ASSERT_TRUE(c.ok());
  auto a = analyze(*c);
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.status().message().find("too_small"), std::string::npos);
  EXPECT_NE(a.status().message().find("[0, 9]"), std::string::npos) << a.status().message();
}

TEST(Analysis, RefusesCarriersBeyondTheLimit) {
  Builder b;
  auto x = b.input({2}, 0, (int64_t{1} << 40) - 1, "x");
  b.output(b.mul_const(x, int64_t{1} << 12, "huge"));
  auto c = b.finish();
  ASSERT_TRUE(c.ok());
  auto a = analyze(*c);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), StatusCode::kNonConformant);
  EXPECT_NE(a.status().message().find("huge"), std::string::npos) << a.status().message();
}

TEST(Analysis, MeasuredRangesLieInsideTheStaticOnes) {
  Builder b;
  auto x = b.input({4}, -10, 10, "x");
  auto d = b.matmul(x, Tensor{{4, 2}, {1, -1, 2, 3, -2, 0, 1, 1}});
  b.output(d);
  auto c = b.finish();
  ASSERT_TRUE(c.ok());
  std::mt19937_64 rng(7);
  std::vector<std::vector<Tensor>> samples;
  for (int s = 0; s < 50; ++s) {
    Tensor t{{4}, std::vector<int64_t>(4)};
    for (auto& v : t.data) v = static_cast<int64_t>(rng() % 11) - 5;  // the data uses half the range
    samples.push_back({t});
  }
  auto m = measure_ranges(*c, samples);
  ASSERT_TRUE(m.ok());
  auto a = analyze(*c);
  ASSERT_TRUE(a.ok());
  EXPECT_GE((*m)[d].lo, a->values[d].lo);
  EXPECT_LE((*m)[d].hi, a->values[d].hi);
  EXPECT_GE((*m)[0].lo, -5);
  EXPECT_LE((*m)[0].hi, 5);
  EXPECT_LT((*m)[d].hi - (*m)[d].lo, a->values[d].hi - a->values[d].lo);
}

TEST(Simulation, NoErrorsAtZeroAndEveryLookupWrongAtOne) {
  Builder b;
  auto x = b.input({64}, 0, 15, "x");
  std::vector<int64_t> table(16);
  for (int i = 0; i < 16; ++i) table[i] = 3 * i;
  b.output(b.lookup(x, table, 4, 0, "times3"));
  auto c = b.finish();
  ASSERT_TRUE(c.ok());
  Tensor in{{64}, std::vector<int64_t>(64)};
  for (int i = 0; i < 64; ++i) in.data[i] = i % 16;
  std::mt19937_64 rng(1);
  uint64_t errors = 99;
  auto clean = simulate(*c, std::vector<Tensor>{in}, 0.0, rng, &errors);
  ASSERT_TRUE(clean.ok());
  EXPECT_EQ(errors, 0u);
  EXPECT_EQ((*clean)[0].data, run1(*c, {in}));
  auto noisy = simulate(*c, std::vector<Tensor>{in}, 1.0, rng, &errors);
  ASSERT_TRUE(noisy.ok());
  EXPECT_EQ(errors, 64u);
  int differ = 0;
  for (int i = 0; i < 64; ++i) {
    int64_t diff = (*noisy)[0].data[i] - 3 * (i % 16);
    EXPECT_TRUE(diff == 3 || diff == -3 || diff == 0) << diff;  // a neighbouring box (clamped at the ends)
    differ += diff != 0;
  }
  EXPECT_GE(differ, 56);  // only the clamped ends (0 -> -1, 15 -> 16) can stay unchanged
}

TEST(Simulation, ErrorRateMatchesTheProbability) {
  Builder b;
  auto x = b.input({1000}, 0, 7, "x");
  b.output(b.lookup(x, {0, 1, 2, 3, 4, 5, 6, 7}, 3, 0));
  auto c = b.finish();
  ASSERT_TRUE(c.ok());
  Tensor in{{1000}, std::vector<int64_t>(1000, 3)};
  std::mt19937_64 rng(5);
  uint64_t total = 0;
  for (int rep = 0; rep < 20; ++rep) {
    uint64_t e = 0;
    ASSERT_TRUE(simulate(*c, std::vector<Tensor>{in}, 0.01, rng, &e).ok());
    total += e;
  }
  // 20000 draws at 1 %: mean 200, standard deviation ~14; 5 sigma either way.
  EXPECT_GT(total, 130u);
  EXPECT_LT(total, 270u);
}

}  // namespace
}  // namespace blindml::circuit

namespace blindml::circuit {
namespace {

// A step near 2^63 once overflowed (e - b + s - 1) in the slice's shape inference (signed
// overflow, UB); a slice [0:4:2^63-1] takes one element.
TEST(SignedOverflow, SliceWithHugeStepTakesOneElement) {
  Builder b;
  auto x = b.input({4}, 0, 7, "x");
  auto s = b.slice(x, {0}, {4}, {INT64_MAX}, "s");
  b.output(s, "y");
  auto c = b.finish();
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(c->node(s).shape, (Shape{1}));
  auto r = evaluate_clear(*c, std::vector<Tensor>{Tensor{{4}, {5, 6, 7, 1}}});
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ((*r)[0].data, (std::vector<int64_t>{5}));
}

// 16 products of (2^62 - 1)^2 sum past 2^127: the matmul's __int128 range sums once overflowed
// (UB) and could wrap back into range; now refused as beyond ±2^62.
TEST(SignedOverflow, MatMulRangeSumsThatWouldOverflowInt128AreRefused) {
  const int64_t m = (int64_t{1} << 62) - 1;
  Builder b;
  auto x = b.input({16}, -m, m, "x");
  auto y = b.matmul(x, Tensor{{16}, std::vector<int64_t>(16, m)}, "mm");
  b.output(y, "y");
  auto c = b.finish();
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  auto a = analyze(*c);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(a.status().message().find("matmul 'mm'"), std::string::npos) << a.status().message();
  auto r = evaluate_clear(*c, std::vector<Tensor>{Tensor{{16}, std::vector<int64_t>(16, m)}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("mm"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace blindml::circuit
