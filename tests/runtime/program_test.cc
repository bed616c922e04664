// Lowering without keys: PBS counts and waves of circuits whose counts are known by hand, slot
// aliasing and reuse, and the refusals (a carrier too narrow, leveled operands on two carriers,
// an analysis of another circuit).
#include <gtest/gtest.h>

#include "blindml/circuit/analysis.h"
#include "blindml/compiler/lower.h"
#include "blindml/crypto/params.h"
#include "circuit/sample_circuits.h"

namespace blindml::runtime {
namespace {

using circuit::Builder;
using circuit::Circuit;

// A real parameter set big enough for every table here (N = 2^11 holds 10-bit tables).
crypto::ParameterSet params() { return crypto::parameters_for_bits(4).value(); }

Result<Program> lower(const Circuit& c) {
  auto a = circuit::analyze(c);
  if (!a.ok()) return a.status();
  return compiler::lower(c, *a, params());
}

uint64_t jobs_in(const Program& p) {
  uint64_t n = 0;
  for (const Wave& w : p.waves()) n += w.jobs.size();
  return n;
}

TEST(Program, DecisionTreeHasSevenPbsInTwoWaves) {
  // 3 comparisons (one per node), then 4 leaf equalities: the second layer waits for the first.
  auto p = lower(circuit::samples::decision_tree().value());
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  EXPECT_EQ(p->pbs_count(), 7u);
  EXPECT_EQ(jobs_in(*p), 7u);
  EXPECT_EQ(p->pbs_waves(), 2u);
  EXPECT_TRUE(p->needs_bootstrapping());
  ASSERT_EQ(p->inputs().size(), 1u);
  EXPECT_EQ(p->inputs()[0].shape, (circuit::Shape{3}));
  ASSERT_EQ(p->outputs().size(), 1u);
  EXPECT_EQ(p->outputs()[0].slots.size(), 1u);
}

TEST(Program, RoundingsMaterializedAndExactExtractions) {
  // approx: 16 identity PBS. exact (3 bits): 3 waves of 16 extractions, then 16 identity PBS.
  Builder b;
  auto x = b.input({16}, 0, 127, "x");
  b.output(b.round(x, 3, false, "approx"), "approx");
  b.output(b.round(b.neg(x), 3, true, "exact"), "exact");
  auto p = lower(b.finish().value());
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  EXPECT_EQ(p->pbs_count(), 16u + 3 * 16 + 16);
  EXPECT_EQ(p->pbs_waves(), 4u);
  EXPECT_EQ(p->max_wave_jobs(), 32u);  // approx identity beside the first extraction
  int subtract = 0;
  for (const Wave& w : p->waves())
    for (const PbsJob& j : w.jobs) subtract += j.post == PbsJob::Post::kSubtractBit;
  EXPECT_EQ(subtract, 3 * 16);
}

TEST(Program, StructuralOpsAreSlotAliases) {
  Builder b;
  auto x = b.input({2, 3}, 0, 7, "x");
  auto t = b.transpose(x, {1, 0});
  b.output(b.reshape(t, {6}), "y");
  auto p = lower(b.finish().value());
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  EXPECT_EQ(p->leveled_step_count(), 0u);
  EXPECT_EQ(p->pbs_count(), 0u);
  EXPECT_FALSE(p->needs_bootstrapping());
  const auto& in = p->inputs()[0].slots;
  const auto& out = p->outputs()[0].slots;
  ASSERT_EQ(out.size(), 6u);
  // y[i·2 + j] = x[j][i] = x slot j·3 + i.
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 2; ++j) EXPECT_EQ(out[i * 2 + j], in[j * 3 + i]);
}

TEST(Program, DeadSlotsAreReused) {
  // Ten negations of 8 elements: 88 values, but only two generations live at a time.
  Builder b;
  auto v = b.input({8}, -3, 3, "x");
  for (int i = 0; i < 10; ++i) v = b.neg(v);
  b.output(v, "y");
  auto p = lower(b.finish().value());
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  EXPECT_EQ(p->leveled_step_count(), 80u);
  EXPECT_LE(p->slot_count(), 16u);
}

TEST(Program, RefusesNarrowCarriersMixedCarriersAndOtherAnalyses) {
  Builder b;
  auto x = b.input({4}, 0, 7, "x");
  auto y = b.lookup(x, {0, 1, 2, 3, 4, 5, 6, 7}, 3, 0, "id");
  b.output(b.add(y, x), "sum");
  auto c = b.finish().value();
  auto a = circuit::analyze(c).value();
  ASSERT_TRUE(compiler::lower(c, a, params()).ok());
  auto narrow = a;
  narrow.values[0].carrier_bits = 2;  // the input holds 3 bits
  auto r = compiler::lower(c, narrow, params());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("input 'x'"), std::string::npos) << r.status().message();
  auto mixed = a;
  mixed.values[1].carrier_bits += 1;  // the lookup's output, an operand of add, on another carrier
  r = compiler::lower(c, mixed, params());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("one carrier"), std::string::npos) << r.status().message();
  auto other = circuit::analyze(circuit::samples::decision_tree().value()).value();
  EXPECT_FALSE(compiler::lower(c, other, params()).ok());
  // A table the polynomial size cannot hold: log2(N) bits need N >= 2^(bits+1).
  const uint64_t n = params().polynomial_size.value;
  uint32_t bits = 0;
  while ((uint64_t{1} << bits) < n) ++bits;
  Builder wide;
  auto w = wide.input({1}, 0, static_cast<int64_t>(n) - 1, "w");
  wide.output(wide.lookup(w, std::vector<int64_t>(n, 1), bits, 0, "big"));
  auto wc = wide.finish().value();
  r = compiler::lower(wc, circuit::analyze(wc).value(), params());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNonConformant);
}

TEST(Program, IsSharedByCopies) {
  auto p = lower(circuit::samples::decision_tree().value()).value();
  Program q = p;
  EXPECT_EQ(q.waves().data(), p.waves().data());
}

}  // namespace
}  // namespace blindml::runtime
