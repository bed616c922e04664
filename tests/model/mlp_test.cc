// The MLP lowering's cost levers (docs/models.md, MLPs): per-neuron rounding, no lookup for
// neurons constant over the calibration rows, the weights' common factor, and the lookup width
// chosen from the calibration rows. The PBS counts are derived by hand in the comments (one
// lookup per live hidden neuron plus one extraction per bit its exact rounding drops); FHE at
// default flags: mlp_fhe_test.cc (slow).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <random>

#include "blindml/circuit/analysis.h"
#include "blindml/model/model.h"
#include "committed.h"
#include "model_data.h"

namespace blindml::model {
namespace {

OnnxNode node(std::string name, std::string op, std::vector<std::string> in, std::vector<std::string> out) {
  OnnxNode n;
  n.name = std::move(name);
  n.op_type = std::move(op);
  n.inputs = std::move(in);
  n.outputs = std::move(out);
  return n;
}

uint64_t pbs_of(const CompiledModel& m) { return circuit::analyze(m.compiled.circuit)->pbs_count; }

using testing::Committed;
Committed load(const std::string& name, const std::string& dataset) {
  return testing::load_committed("models/" + name, dataset);
}

// mlp_iris (4-16-3): hidden neurons 13 and 15 are 0 on every calibration row (no lookup); of the
// 14 others, 13 have accumulators spanning 4096..8191 over the input box (13 bits; the widest
// 7245) and one spans 2048..4095 (12 bits). At 6-bit lookups the roundings drop 7 bits (13
// neurons) and 6 (one). An exact rounding clears its bits in chunks of at most w + 1 = 7 bits
// (circuit::rounding_chunks), 2 PBS per chunk of 2 bits or more: one chunk each, so 14·(2 + 1) =
// 42 PBS (bit by bit: 13·8 + 7 = 111; before this lowering: 16 neurons, all lifted to the widest
// span by integer gains, 16·(7 + 1) = 128). At 5-bit lookups (the automatic choice, N = 4096
// instead of 8192) they drop 8 and 7 bits, in chunks of at most 6: two chunks each, 14·(4 + 1) = 70.
TEST(MlpLowering, IrisPbsCounts) {
  const Committed c = load("mlp_iris", "iris");
  CompileOptions o;
  o.kind = ModelKind::kClassifier;
  o.rounding_bits = 6;
  auto six = compile_model(c.graph, c.train.features, o);
  ASSERT_TRUE(six.ok()) << six.status().to_string();
  EXPECT_EQ(pbs_of(*six), 42u) << six->report;
  EXPECT_LT(pbs_of(*six), 128u);
  EXPECT_NE(six->report.find("2 neuron(s) constant over the calibration rows (no lookup)"), std::string::npos)
      << six->report;
  EXPECT_EQ(six->report.find("chosen automatically"), std::string::npos) << "an explicit --rounding-bits is kept";
  o.rounding_bits = 0;
  auto autom = compile_model(c.graph, c.train.features, o);
  ASSERT_TRUE(autom.ok()) << autom.status().to_string();
  EXPECT_EQ(pbs_of(*autom), 70u) << autom->report;
  EXPECT_LT(pbs_of(*autom), 128u);
  EXPECT_NE(autom->report.find("lookups of 5 bits, chosen automatically"), std::string::npos) << autom->report;
  EXPECT_EQ(autom->compiled.params.polynomial_size.value, 4096u);
  // Before: 128 PBS at 146.87 ms (N = 8192), 18799 ms per evaluation (estimated, one thread).
  EXPECT_LT(autom->compiled.estimated_pbs_ms * static_cast<double>(pbs_of(*autom)), 18799.0 / 2);
}

// mlp_breast_cancer (30-16-2): every hidden neuron is live; the widest accumulator spans 24507
// (15 bits), 15 neurons span 16384..32767 and one 8192..16383. At 6-bit lookups they drop 9 bits
// and 8, in chunks of at most 7 bits (circuit::rounding_chunks): two chunks of 2 PBS each plus the
// lookup, 16·5 = 80 (bit by bit: 15·(9 + 1) + (8 + 1) = 159; before: 16·(9 + 1) = 160). At 5-bit
// lookups they drop 10 and 9 bits, chunks of at most 6: still two each, 80. The automatic choice
// keeps 5-bit lookups (fitting the weights would drop 9 and 8 bits: two chunks each as well, so
// nothing is gained), 80 PBS at N = 4096.
TEST(MlpLowering, BreastCancerPbsCounts) {
  const Committed c = load("mlp_breast_cancer", "breast_cancer");
  CompileOptions o;
  o.kind = ModelKind::kClassifier;
  o.rounding_bits = 6;
  auto six = compile_model(c.graph, c.train.features, o);
  ASSERT_TRUE(six.ok()) << six.status().to_string();
  EXPECT_EQ(pbs_of(*six), 80u) << six->report;
  EXPECT_LT(pbs_of(*six), 160u);
  o.rounding_bits = 5;  // explicit: no fitting, no search
  auto five = compile_model(c.graph, c.train.features, o);
  ASSERT_TRUE(five.ok()) << five.status().to_string();
  EXPECT_EQ(pbs_of(*five), 80u) << five->report;
  o.rounding_bits = 0;
  auto autom = compile_model(c.graph, c.train.features, o);
  ASSERT_TRUE(autom.ok()) << autom.status().to_string();
  EXPECT_EQ(pbs_of(*autom), 80u) << autom->report;
  EXPECT_LT(pbs_of(*autom), 160u);
  // Plain and fitted 5-bit lookups now cost the same 80 PBS; the search keeps the first found.
  EXPECT_NE(autom->report.find("lookups of 5 bits"), std::string::npos) << autom->report;
  EXPECT_NE(autom->report.find("chosen automatically"), std::string::npos) << autom->report;
  EXPECT_EQ(autom->compiled.params.polynomial_size.value, 4096u);
  // Before: 160 PBS at 174.06 ms, 27850 ms per evaluation (estimated, one thread).
  EXPECT_LT(autom->compiled.estimated_pbs_ms * static_cast<double>(pbs_of(*autom)), 27850.0 / 2);
}

// A 2-3-2 network built by hand: h0 = relu(x0 + x1 - 1), h1 = relu(x0 - x1), h2 = relu(0.1·x0 +
// 0.1·x1 - 5) (0 on every row of [0, 1]², a dead neuron). At 6 bits the inputs are codes 0..63 and
// each live neuron's weights quantize to ±31: their common factor 31 leaves weights ±1, so the
// accumulators span 2·63 = 126 (7 bits) and a 6-bit lookup drops 1 bit: 2 PBS per live neuron,
// 4 in all. Without the factor they would span 31·126 = 3906 (12 bits: 6 dropped, 7 PBS each),
// and the dead neuron would cost a lookup of its own.
TEST(MlpLowering, CommonFactorAndDeadNeuron) {
  OnnxGraph g;
  g.opset = 13;
  g.inputs = {ValueInfo{"X", 1, {-1, 2}, true}};
  g.outputs = {ValueInfo{"P", 1, {-1, 2}, true}};
  g.float_initializers = {{"W1", FloatTensor{{2, 3}, {1.0, 1.0, 0.1, 1.0, -1.0, 0.1}}},
                          {"B1", FloatTensor{{3}, {-1.0, 0.0, -5.0}}},
                          {"W2", FloatTensor{{3, 2}, {1.0, -1.0, -1.0, 1.0, 1.0, 1.0}}},
                          {"B2", FloatTensor{{2}, {0.0, 0.25}}}};
  g.nodes = {node("fc1", "Gemm", {"X", "W1", "B1"}, {"h"}), node("relu", "Relu", {"h"}, {"a"}),
             node("fc2", "Gemm", {"a", "W2", "B2"}, {"z"}), node("softmax", "Softmax", {"z"}, {"P"})};
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> u(0, 1);
  Rows rows;
  for (int r = 0; r < 400; ++r) rows.push_back({u(rng), u(rng)});
  rows.push_back({0.0, 0.0});
  rows.push_back({1.0, 1.0});
  CompileOptions o;
  o.n_bits = 6;
  o.rounding_bits = 6;
  auto m = compile_model(g, rows, o);
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  EXPECT_EQ(pbs_of(*m), 4u) << m->report;
  EXPECT_NE(m->report.find("1 neuron(s) constant over the calibration rows"), std::string::npos) << m->report;
  EXPECT_NE(m->report.find("2 neuron(s) divided by their weights' common factor"), std::string::npos) << m->report;
  // The quantized labels follow the float model's: z1 - z0 = 2·(h1 - h0) + 0.25.
  auto q = predict_clear(*m, rows);
  ASSERT_TRUE(q.ok()) << q.status().to_string();
  int agree = 0;
  for (size_t r = 0; r < rows.size(); ++r) {
    const double h0 = std::max(0.0, rows[r][0] + rows[r][1] - 1), h1 = std::max(0.0, rows[r][0] - rows[r][1]);
    agree += (*q)[r].label == (2 * (h1 - h0) + 0.25 > 0 ? 1 : 0);
  }
  EXPECT_GE(agree, 390) << agree << "/" << rows.size();
}

}  // namespace
}  // namespace blindml::model
