// Quantization of exported models (issue 13 part 1): constant calibration features, per-tree
// constants, pure leaves, out-of-range inputs. Each test builds a small graph by hand and compares
// the quantized model in the clear with the float interpreter (evaluate_float) or with bounds
// derived from the quantization formulas, never with values read back from the lowering.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <map>
#include <set>

#include "blindml/model/model.h"
#include "blindml/model/onnx.h"
#include "model_data.h"

namespace blindml::model {
namespace {

OnnxNode node(std::string name, std::string op, std::vector<std::string> in, std::vector<std::string> out,
              std::string domain = "") {
  OnnxNode n;
  n.name = std::move(name);
  n.op_type = std::move(op);
  n.domain = std::move(domain);
  n.inputs = std::move(in);
  n.outputs = std::move(out);
  return n;
}

using testing::ints;
using testing::floats;
using testing::strings;
using testing::str;

ValueInfo input(int64_t features) { return ValueInfo{"X", 1, {-1, features}, true}; }

// The float model's outputs on rows (the first output by name).
std::vector<std::vector<double>> float_outputs(const OnnxGraph& g, const Rows& rows, const std::string& out) {
  FloatTensor x{{static_cast<int64_t>(rows.size()), static_cast<int64_t>(rows[0].size())}, {}};
  for (const auto& r : rows) x.data.insert(x.data.end(), r.begin(), r.end());
  auto v = evaluate_float(g, {{"X", x}});
  EXPECT_TRUE(v.ok()) << v.status().to_string();
  std::vector<std::vector<double>> res;
  if (!v.ok()) return res;
  const FloatTensor& y = v->at(out);
  const size_t cols = y.data.size() / rows.size();
  for (size_t r = 0; r < rows.size(); ++r)
    res.emplace_back(y.data.begin() + static_cast<long>(r * cols), y.data.begin() + static_cast<long>((r + 1) * cols));
  return res;
}

size_t argmax(const std::vector<double>& v) { return std::max_element(v.begin(), v.end()) - v.begin(); }

// A 6-16-3 MLP whose last feature is constant (0) in every calibration row, like an MNIST border
// pixel, with weights on it 50x those of the others. Before the fix that feature's placeholder
// scale (1.0, against ~1/63 for the others) set every neuron's weight step and the other weights
// quantized to 0: every row got the same label.
OnnxGraph mlp_with_constant_column(std::mt19937_64& rng) {
  std::normal_distribution<double> n01(0, 1);
  OnnxGraph g;
  g.opset = 13;
  g.inputs = {input(6)};
  g.outputs = {ValueInfo{"P", 1, {-1, 3}, true}};
  FloatTensor w1{{6, 16}, {}}, b1{{16}, {}}, w2{{16, 3}, {}}, b2{{3}, {}};
  for (int j = 0; j < 6; ++j)
    for (int h = 0; h < 16; ++h) w1.data.push_back(n01(rng) * (j == 5 ? 50.0 : 1.0));
  // Biases centre each neuron on the middle of the inputs' range, so that labels spread.
  for (int h = 0; h < 16; ++h) {
    double centre = 0;
    for (int j = 0; j < 5; ++j) centre += w1.data[j * 16 + h] * 0.5;
    b1.data.push_back(-centre);
  }
  for (int k = 0; k < 48; ++k) w2.data.push_back(n01(rng));
  b2.data = {0.0, 0.1, -0.1};
  g.float_initializers = {{"W1", w1}, {"B1", b1}, {"W2", w2}, {"B2", b2}};
  g.nodes = {node("fc1", "Gemm", {"X", "W1", "B1"}, {"h"}), node("relu", "Relu", {"h"}, {"a"}),
             node("fc2", "Gemm", {"a", "W2", "B2"}, {"z"}), node("softmax", "Softmax", {"z"}, {"P"})};
  return g;
}

Rows rows_with_constant_last(std::mt19937_64& rng, size_t count, double last) {
  std::uniform_real_distribution<double> u(0, 1);
  Rows rows;
  for (size_t r = 0; r < count; ++r) rows.push_back({u(rng), u(rng), u(rng), u(rng), u(rng), last});
  return rows;
}

TEST(QuantizeConstantFeatures, MlpLabelsFollowTheFloatModel) {
  std::mt19937_64 rng(7);
  const OnnxGraph g = mlp_with_constant_column(rng);
  const Rows calibration = rows_with_constant_last(rng, 300, 0.0);
  const Rows test = rows_with_constant_last(rng, 200, 0.0);
  auto m = compile_model(g, calibration);
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  auto pred = predict_clear(*m, test);
  ASSERT_TRUE(pred.ok()) << pred.status().to_string();
  const auto expected = float_outputs(g, test, "P");
  size_t agree = 0;
  std::set<int64_t> labels;
  for (size_t r = 0; r < test.size(); ++r) {
    agree += (*pred)[r].label == static_cast<int64_t>(argmax(expected[r])) ? 1 : 0;
    labels.insert(argmax(expected[r]));
  }
  ASSERT_GE(labels.size(), 2u) << "the float model itself should not be constant";
  std::map<int64_t, int> hist;
  for (size_t r = 0; r < test.size(); ++r) ++hist[argmax(expected[r])];
  int majority = 0;
  for (auto [k, v] : hist) majority = std::max(majority, v);
  ASSERT_LE(majority, 140) << "the float model should not answer mostly one label";
  EXPECT_GE(agree, 180u) << agree << "/200 labels agree with the float model";
  EXPECT_NE(m->report.find("constant over the calibration rows"), std::string::npos) << m->report;
}

TEST(QuantizeConstantFeatures, LinearWeightsKeepTheirPrecision) {
  // y = x0 + 2·x1 - x2 + 40·x3 with x3 = 3 in every calibration row: the answer is
  // x0 + 2·x1 - x2 + 120; the 8-bit quantization of x0..x2 on [0, 1] errs by at most
  // (1 + 2 + 1)·(1/255)/2 from the inputs plus the weights' rounding (half a step of the
  // largest, 2/127, over the input range of 1) per term.
  OnnxGraph g;
  g.opset = 13;
  g.ml_opset = 1;
  g.inputs = {input(4)};
  g.outputs = {ValueInfo{"Y", 1, {-1, 1}, true}};
  OnnxNode lin = node("lin", "LinearRegressor", {"X"}, {"Y"}, "ai.onnx.ml");
  lin.attributes["coefficients"] = floats({1.0, 2.0, -1.0, 40.0});
  lin.attributes["intercepts"] = floats({0.0});
  g.nodes = {lin};
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> u(0, 1);
  Rows calibration, test;
  for (int r = 0; r < 200; ++r) calibration.push_back({u(rng), u(rng), u(rng), 3.0});
  for (int r = 0; r < 100; ++r) test.push_back({u(rng), u(rng), u(rng), 3.0});
  auto m = compile_model(g, calibration);
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  auto pred = predict_clear(*m, test);
  ASSERT_TRUE(pred.ok());
  const double bound = 4 * (1.0 / 255) / 2 + 3 * (2.0 / 127) / 2 * 1.0;
  for (size_t r = 0; r < test.size(); ++r) {
    const double want = test[r][0] + 2 * test[r][1] - test[r][2] + 120;
    EXPECT_NEAR((*pred)[r].values[0], want, bound) << "row " << r;
  }
}

// A TreeEnsembleRegressor of `trees` stumps on feature 0 (x <= 0.5, or x <= 0.5 + t·step): tree t
// answers lo[t] or hi[t].
OnnxGraph stumps(const std::vector<double>& lo, const std::vector<double>& hi, double base, double step = 0) {
  OnnxGraph g;
  g.opset = 13;
  g.ml_opset = 1;
  g.inputs = {input(1)};
  g.outputs = {ValueInfo{"Y", 1, {-1, 1}, true}};
  OnnxNode n = node("trees", "TreeEnsembleRegressor", {"X"}, {"Y"}, "ai.onnx.ml");
  std::vector<int64_t> tree_ids, node_ids, feat, tr, fa, w_tree, w_node, w_col;
  std::vector<double> values, weights;
  std::vector<std::string> modes;
  for (size_t t = 0; t < lo.size(); ++t) {
    const int64_t id = static_cast<int64_t>(t);
    tree_ids.insert(tree_ids.end(), {id, id, id});
    node_ids.insert(node_ids.end(), {0, 1, 2});
    feat.insert(feat.end(), {0, 0, 0});
    tr.insert(tr.end(), {1, 0, 0});
    fa.insert(fa.end(), {2, 0, 0});
    values.insert(values.end(), {0.5 + step * static_cast<double>(t), 0, 0});
    modes.insert(modes.end(), {"BRANCH_LEQ", "LEAF", "LEAF"});
    w_tree.insert(w_tree.end(), {id, id});
    w_node.insert(w_node.end(), {1, 2});
    w_col.insert(w_col.end(), {0, 0});
    weights.insert(weights.end(), {lo[t], hi[t]});
  }
  n.attributes["nodes_treeids"] = ints(tree_ids);
  n.attributes["nodes_nodeids"] = ints(node_ids);
  n.attributes["nodes_featureids"] = ints(feat);
  n.attributes["nodes_truenodeids"] = ints(tr);
  n.attributes["nodes_falsenodeids"] = ints(fa);
  n.attributes["nodes_values"] = floats(values);
  n.attributes["nodes_modes"] = strings(modes);
  n.attributes["target_treeids"] = ints(w_tree);
  n.attributes["target_nodeids"] = ints(w_node);
  n.attributes["target_ids"] = ints(w_col);
  n.attributes["target_weights"] = floats(weights);
  n.attributes["base_values"] = floats({base});
  g.nodes = {n};
  return g;
}

TEST(QuantizeTrees, InitScoreInTheFirstTreeDoesNotSetTheLeafStep) {
  // LightGBM style: the first tree carries the init score -5.2 beside leaves of at most 0.72.
  // With each tree centred, the largest leaf magnitude is max_t (hi_t - lo_t)/2 = 0.36 and each
  // tree errs by at most half the step 0.36/127; before, the step was 5.2/127 (error up to
  // 0.02 on the first tree alone).
  const std::vector<double> lo = {-5.2 - 0.72, -0.5, -0.1, 0.05}, hi = {-5.2 + 0.0, 0.22, 0.3, -0.4};
  const OnnxGraph g = stumps(lo, hi, 0.0);
  auto m = compile_model(g, {{0.0}, {1.0}});
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  auto pred = predict_clear(*m, {{0.2}, {0.9}});
  ASSERT_TRUE(pred.ok());
  double half_ranges = 0;
  for (size_t t = 0; t < lo.size(); ++t) half_ranges = std::max(half_ranges, std::fabs(hi[t] - lo[t]) / 2);
  const double bound = lo.size() * (half_ranges / 127) / 2 + 1e-9;
  double sum_lo = 0, sum_hi = 0;
  for (size_t t = 0; t < lo.size(); ++t) {
    sum_lo += static_cast<double>(static_cast<float>(lo[t]));
    sum_hi += static_cast<double>(static_cast<float>(hi[t]));
  }
  EXPECT_NEAR((*pred)[0].values[0], sum_lo, bound);
  EXPECT_NEAR((*pred)[1].values[0], sum_hi, bound);
}

TEST(QuantizeTrees, PureLeavesAnswerProbabilityOne) {
  // A decision-tree classifier (skl2onnx's form: class_ids 0 and 1 on every leaf, weights the
  // leaf's class frequencies): leaves [1, 0], [0.3, 0.7], [0, 1].
  OnnxGraph g;
  g.opset = 13;
  g.ml_opset = 1;
  g.inputs = {input(1)};
  g.outputs = {ValueInfo{"label", 7, {-1}, true}, ValueInfo{"probabilities", 1, {-1, 2}, true}};
  OnnxNode n = node("tree", "TreeEnsembleClassifier", {"X"}, {"label", "probabilities"}, "ai.onnx.ml");
  n.attributes["nodes_treeids"] = ints({0, 0, 0, 0, 0});
  n.attributes["nodes_nodeids"] = ints({0, 1, 2, 3, 4});
  n.attributes["nodes_featureids"] = ints({0, 0, 0, 0, 0});
  n.attributes["nodes_truenodeids"] = ints({1, 0, 3, 0, 0});
  n.attributes["nodes_falsenodeids"] = ints({2, 0, 4, 0, 0});
  n.attributes["nodes_values"] = floats({0.25, 0, 0.75, 0, 0});
  n.attributes["nodes_modes"] = strings({"BRANCH_LEQ", "LEAF", "BRANCH_LEQ", "LEAF", "LEAF"});
  n.attributes["class_treeids"] = ints({0, 0, 0, 0, 0, 0});
  n.attributes["class_nodeids"] = ints({1, 1, 3, 3, 4, 4});
  n.attributes["class_ids"] = ints({0, 1, 0, 1, 0, 1});
  n.attributes["class_weights"] = floats({1.0, 0.0, 0.3, 0.7, 0.0, 1.0});
  n.attributes["classlabels_int64s"] = ints({0, 1});
  n.attributes["post_transform"] = str("NONE");
  g.nodes = {n};
  auto m = compile_model(g, {{0.0}, {1.0}});
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  auto pred = predict_clear(*m, {{0.1}, {0.5}, {0.9}});
  ASSERT_TRUE(pred.ok());
  EXPECT_NEAR((*pred)[0].proba[0], 1.0, 1e-12);
  EXPECT_NEAR((*pred)[0].proba[1], 0.0, 1e-12);
  EXPECT_NEAR((*pred)[2].proba[1], 1.0, 1e-12);
  EXPECT_NEAR((*pred)[2].proba[0], 0.0, 1e-12);
  // 0.3 and 0.7 are within half a step (0.5/127) of the float leaf.
  EXPECT_NEAR((*pred)[1].proba[1], 0.7, 0.5 / 127 / 2 + 1e-9);
}

TEST(QuantizeRanges, OutOfRangeInputsAreCountedAndCanBeRefused) {
  std::mt19937_64 rng(11);
  const OnnxGraph g = mlp_with_constant_column(rng);
  const Rows calibration = rows_with_constant_last(rng, 100, 0.0);
  auto m = compile_model(g, calibration);
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  // Row 0 in range; row 1 has x0 = 3 (calibrated on [0, 1)); row 2 moves the constant feature
  // and x1 = -2.
  const Rows rows = {{0.5, 0.5, 0.5, 0.5, 0.5, 0.0}, {3.0, 0.5, 0.5, 0.5, 0.5, 0.0}, {0.5, -2.0, 0.5, 0.5, 0.5, 0.25}};
  RangeCount c;
  PredictOptions count_only;
  count_only.range = &c;
  auto pred = predict_clear(*m, rows, count_only);
  ASSERT_TRUE(pred.ok()) << pred.status().to_string();
  EXPECT_EQ(c.rows, 2);
  EXPECT_EQ(c.values, 3);
  ASSERT_EQ(c.per_feature.size(), 6u);
  EXPECT_EQ(c.per_feature[0], 1);
  EXPECT_EQ(c.per_feature[1], 1);
  EXPECT_EQ(c.per_feature[5], 1);
  PredictOptions refuse;
  refuse.refuse_out_of_range = true;
  auto refused = predict_clear(*m, rows, refuse);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("row 1, feature 0"), std::string::npos) << refused.status().message();
  EXPECT_NE(refused.status().message().find("3 value(s) in 2 row(s)"), std::string::npos) << refused.status().message();
  EXPECT_TRUE(predict_clear(*m, {rows[0]}, refuse).ok());
  // The constant travels in the processing JSON.
  auto back = ClientProcessing::from_json(m->processing.to_json());
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(back->count_out_of_range(rows).values, 3);
}

}  // namespace
}  // namespace blindml::model

namespace blindml::model {
namespace {

// 6000 stumps with 8-bit leaves sum to a 20-bit answer that no 128-bit parameter set decrypts at
// 2^-40 (with 7 bits the sum needs 19). With --leaf-bits 8 asked for, the error names the flag
// that helps and the value that compiles (tried in the compiler); at default flags the leaf bits
// are chosen from the ensemble (7 here) and the report says so. Each stump tests its own
// threshold (stumps on one threshold would share one lookup): one lookup per stump, its two
// leaves on the one comparison bit the client sends.
TEST(NoParameterSet, ErrorNamesTheLeafBitsThatCompile) {
  std::vector<double> lo, hi;
  for (int t = 0; t < 6000; ++t) {
    lo.push_back(-0.3 - 0.001 * t);
    hi.push_back(0.2 + 0.002 * (t % 7));
  }
  CompileOptions eight;
  eight.leaf_bits = 8;
  const double step = 1e-5;
  auto m = compile_model(stumps(lo, hi, 0.0, step), {{0.0}, {1.0}}, eight);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kNonConformant);
  EXPECT_NE(m.status().message().find("Tried: --leaf-bits 7 compiles (6000 PBS per sample"), std::string::npos)
      << m.status().message();
  auto d = compile_model(stumps(lo, hi, 0.0, step), {{0.0}, {1.0}});
  ASSERT_TRUE(d.ok()) << d.status().to_string();
  EXPECT_NE(d->report.find("leaf values on 7 bits, chosen automatically"), std::string::npos) << d->report;
}

}  // namespace
}  // namespace blindml::model

namespace blindml::model {
namespace {

Attribute int_attr(int64_t v) {
  Attribute a;
  a.kind = Attribute::Kind::kInt;
  a.i = v;
  return a;
}

// skl2onnx's MLPClassifier: probabilities from Softmax, the label through ArgMax ->
// ArrayFeatureExtractor(classes) -> Reshape, the probabilities through ZipMap. The tail is
// client-side post-processing: labels come from the classes initializer.
TEST(ExporterTails, ArgMaxArrayFeatureExtractorZipMap) {
  std::mt19937_64 rng(5);
  OnnxGraph g = mlp_with_constant_column(rng);
  g.nodes.back().outputs = {"probabilities"};
  g.int_initializers["classes"] = IntTensor{{3}, {3, 5, 9}};
  g.int_initializers["shape"] = IntTensor{{1}, {-1}};
  OnnxNode am = node("argmax", "ArgMax", {"probabilities"}, {"am"});
  am.attributes["axis"] = int_attr(1);
  g.nodes.push_back(am);
  g.nodes.push_back(node("afe", "ArrayFeatureExtractor", {"classes", "am"}, {"picked"}, "ai.onnx.ml"));
  g.nodes.push_back(node("reshape", "Reshape", {"picked", "shape"}, {"label"}));
  g.nodes.push_back(node("zipmap", "ZipMap", {"probabilities"}, {"P"}, "ai.onnx.ml"));
  g.ml_opset = 1;
  g.outputs = {ValueInfo{"label", 7, {-1}, true}, ValueInfo{"P", 1, {}, false}};
  const Rows calibration = rows_with_constant_last(rng, 300, 0.0);
  const Rows test = rows_with_constant_last(rng, 100, 0.0);
  auto m = compile_model(g, calibration);
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  EXPECT_EQ(m->processing.class_labels, (std::vector<int64_t>{3, 5, 9}));
  auto pred = predict_clear(*m, test);
  ASSERT_TRUE(pred.ok());
  const auto labels = float_outputs(g, test, "label");
  ASSERT_EQ(labels.size(), test.size());
  size_t agree = 0;
  for (size_t r = 0; r < test.size(); ++r) {
    ASSERT_EQ(labels[r].size(), 1u);
    agree += (*pred)[r].label == static_cast<int64_t>(labels[r][0]) ? 1 : 0;
  }
  EXPECT_GE(agree, 90u);
}

}  // namespace
}  // namespace blindml::model

namespace blindml::model {
namespace {

// skl2onnx's Pipeline(StandardScaler, LogisticRegression): Scaler -> LinearClassifier -> ZipMap.
// The Scaler runs on the client (it travels in the processing JSON); the answers follow the
// float graph. Features on very different scales (x0 ~ 1e3, x1 ~ 1e-3) as a scaler is for.
TEST(Preprocessing, ScalerPipelineRunsOnTheClient) {
  OnnxGraph g;
  g.opset = 13;
  g.ml_opset = 1;
  g.inputs = {input(2)};
  g.outputs = {ValueInfo{"label", 7, {-1}, true}, ValueInfo{"P", 1, {}, false}};
  OnnxNode sc = node("scaler", "Scaler", {"X"}, {"S"}, "ai.onnx.ml");
  sc.attributes["offset"] = floats({1000.0, 0.002});
  sc.attributes["scale"] = floats({0.01, 1000.0});
  OnnxNode lin = node("lin", "LinearClassifier", {"S"}, {"label", "probabilities"}, "ai.onnx.ml");
  lin.attributes["coefficients"] = floats({1.5, -2.0});
  lin.attributes["intercepts"] = floats({0.25});
  lin.attributes["classlabels_ints"] = ints({0, 1});
  lin.attributes["post_transform"] = str("LOGISTIC");
  g.nodes = {sc, lin, node("zipmap", "ZipMap", {"probabilities"}, {"P"}, "ai.onnx.ml")};
  std::mt19937_64 rng(9);
  std::normal_distribution<double> a(1000, 100), b(0.002, 0.001);
  Rows calibration, test;
  for (int r = 0; r < 300; ++r) calibration.push_back({a(rng), b(rng)});
  for (int r = 0; r < 200; ++r) test.push_back({a(rng), b(rng)});
  auto m = compile_model(g, calibration);
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  ASSERT_EQ(m->processing.preprocess.size(), 1u);
  EXPECT_NE(m->report.find("node 'scaler' (Scaler) runs on the client"), std::string::npos) << m->report;
  auto back = ClientProcessing::from_json(m->processing.to_json());
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  ASSERT_EQ(back->preprocess.size(), 1u);
  EXPECT_EQ(back->preprocess[0].scale, (std::vector<double>{0.01, 1000.0}));
  CompiledModel reloaded{*back, m->compiled, ""};
  auto pred = predict_clear(reloaded, test);
  ASSERT_TRUE(pred.ok()) << pred.status().to_string();
  const auto labels = float_outputs(g, test, "label");
  const auto proba = float_outputs(g, test, "P");
  size_t agree = 0;
  double worst = 0;
  for (size_t r = 0; r < test.size(); ++r) {
    agree += (*pred)[r].label == static_cast<int64_t>(labels[r][0]) ? 1 : 0;
    worst = std::max(worst, std::fabs((*pred)[r].proba[1] - proba[r][1]));
  }
  EXPECT_GE(agree, 196u);
  EXPECT_LT(worst, 0.05);
  // Out-of-range is judged after the Scaler: x0 = 1e4 is far outside, x0 = 1000 is not.
  PredictOptions refuse;
  refuse.refuse_out_of_range = true;
  EXPECT_TRUE(predict_clear(reloaded, {{1000.0, 0.002}}, refuse).ok());
  auto far = predict_clear(reloaded, {{1000.0, 0.002}, {1e4, 0.002}}, refuse);
  ASSERT_FALSE(far.ok());
  EXPECT_NE(far.status().message().find("row 1, feature 0"), std::string::npos) << far.status().message();
}

}  // namespace
}  // namespace blindml::model
