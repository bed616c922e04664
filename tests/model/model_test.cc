// Quantization formulas, client processing, and the committed test models in the clear: the
// quantized model against the float model on each held-out split (tests/data/README.md).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <set>

#include "blindml/model/model.h"
#include "blindml/model/processing.h"
#include "blindml/model/quantize.h"
#include "committed.h"
#include "model_data.h"

namespace blindml::model {
namespace {

using testing::DataSet;
using testing::model_cases;

TEST(Quantizer, FormulasByHand) {
  Quantizer u = Quantizer::calibrate(0.0, 2.55, 8, false, false);
  EXPECT_DOUBLE_EQ(u.scale, 0.01);
  EXPECT_EQ(u.zero_point, 0);
  EXPECT_EQ(u.quantize(1.234), 123);
  EXPECT_EQ(u.quantize(-5.0), 0);     // clipped
  EXPECT_EQ(u.quantize(9.0), 255);    // clipped
  EXPECT_NEAR(u.dequantize(123), 1.23, 1e-12);
  // Asymmetric signed on [-1, 3]: o = 128, scale 4/255, zp = round((3·(-128) - (-1)·127) / 4)
  // = round(-64.25) = -64.
  Quantizer s = Quantizer::calibrate(-1.0, 3.0, 8, true, false);
  EXPECT_DOUBLE_EQ(s.scale, 4.0 / 255.0);
  EXPECT_EQ(s.zero_point, -64);
  EXPECT_EQ(s.qmin(), -128);
  EXPECT_EQ(s.qmax(), 127);
  EXPECT_EQ(s.quantize(-1.0), -128);
  EXPECT_EQ(s.quantize(3.0), 127);
  // Symmetric: scale = max|r| / 127, zp 0.
  Quantizer y = Quantizer::calibrate(-0.5, 2.54, 8, true, true);
  EXPECT_DOUBLE_EQ(y.scale, 0.02);
  EXPECT_EQ(y.zero_point, 0);
  EXPECT_EQ(y.quantize(-0.5), -25);
  // Degenerate ranges.
  Quantizer z = Quantizer::calibrate(0.0, 0.0, 8, false, false);
  EXPECT_DOUBLE_EQ(z.scale, 1.0);
  EXPECT_EQ(z.zero_point, 0);
  Quantizer c = Quantizer::calibrate(3.0, 3.0, 8, false, false);
  EXPECT_DOUBLE_EQ(c.scale, 3.0);
  EXPECT_EQ(c.quantize(3.0), 1);
  // Round half to even.
  Quantizer one = Quantizer::calibrate(0.0, 255.0, 8, false, false);
  EXPECT_EQ(one.quantize(0.5), 0);
  EXPECT_EQ(one.quantize(1.5), 2);
  EXPECT_EQ(one.quantize(2.5), 2);
}

TEST(FeatureEncoder, BinsAreExactForLessOrEqualComparisons) {
  FeatureEncoder e;
  e.kind = FeatureEncoder::Kind::kBin;
  e.thresholds = {1.0, 2.5, 7.0};
  EXPECT_EQ(e.encode(-100), 0);
  EXPECT_EQ(e.encode(1.0), 0);  // x <= 1.0: bin 0
  EXPECT_EQ(e.encode(1.0000001), 1);
  EXPECT_EQ(e.encode(2.5), 1);
  EXPECT_EQ(e.encode(6.99), 2);
  EXPECT_EQ(e.encode(7.5), 3);
  EXPECT_EQ(e.max_code(), 3);
  // float32 rounding, as the ONNX runtime compares float32 inputs with float32 thresholds.
  e.thresholds = {static_cast<double>(0.1f)};
  EXPECT_EQ(e.encode(0.1), 0);  // 0.1 rounds to the float32 threshold itself
}

ClientProcessing sample_processing() {
  ClientProcessing p;
  p.kind = ModelKind::kClassifier;
  p.family = "tree_ensemble";
  FeatureEncoder q;
  q.quantizer = Quantizer::calibrate(-2.0, 5.0, 6, false, false);
  FeatureEncoder b;
  b.kind = FeatureEncoder::Kind::kBin;
  b.thresholds = {0.5, 1.25};
  p.features = {q, b};
  p.output_scale = {0.25};
  p.output_offset = {-1.0};
  p.post = PostTransform::kLogistic;
  p.binary_single_score = true;
  p.class_labels = {3, 7};
  return p;
}

TEST(ClientProcessing, JsonRoundTripAndDecode) {
  ClientProcessing p = sample_processing();
  auto back = ClientProcessing::from_json(p.to_json());
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(back->features.size(), 2u);
  EXPECT_EQ(back->features[0].quantizer.zero_point, p.features[0].quantizer.zero_point);
  EXPECT_DOUBLE_EQ(back->features[0].quantizer.scale, p.features[0].quantizer.scale);
  EXPECT_EQ(back->features[1].thresholds, (std::vector<double>{0.5, 1.25}));
  EXPECT_EQ(back->class_labels, (std::vector<int64_t>{3, 7}));
  // Score 0.25·8 - 1 = 1: p = σ(1) = 0.731; label 7.
  auto d = back->decode(circuit::Tensor{{1}, {8}});
  ASSERT_TRUE(d.ok());
  EXPECT_NEAR(d->proba[1], 1.0 / (1.0 + std::exp(-1.0)), 1e-12);
  EXPECT_NEAR(d->proba[0] + d->proba[1], 1.0, 1e-12);
  EXPECT_EQ(d->label, 7);
  auto row = back->encode_row(std::vector<double>{1.0, 1.0});
  ASSERT_TRUE(row.ok());
  EXPECT_EQ(row->data[1], 1);
  EXPECT_FALSE(back->encode_row(std::vector<double>{1.0}).ok());
  EXPECT_FALSE(back->encode_row(std::vector<double>{NAN, 1.0}).ok());
}

TEST(ClientProcessing, RejectsCorruptedJson) {
  const std::string good = sample_processing().to_json();
  auto replace = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    auto at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) s.replace(at, from.size(), to);
    return s;
  };
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"not json", "not a JSON object"},
      {replace("\"classifier\"", "\"clusterer\""), "model_kind"},
      {replace("0.5,", "2.5,"), "sorted"},
      {replace("\"LOGISTIC\"", "\"PROBIT\""), "post_transform"},
      {replace("\"n_bits\": 6", "\"n_bits\": 60"), "n_bits"},
      {replace("7\n", "7,\n 9\n"), "class_labels"},
      {good.substr(0, good.size() / 2), "not a JSON object"},
  };
  for (const auto& [text, expect] : bad) {
    auto r = ClientProcessing::from_json(text);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.status().code(), StatusCode::kCorrupted);
    EXPECT_NE(r.status().message().find(expect), std::string::npos) << r.status().message();
  }
}

OnnxNode make_node(std::string name, std::string op, std::vector<std::string> in, std::vector<std::string> out) {
  OnnxNode n;
  n.name = std::move(name);
  n.op_type = std::move(op);
  n.inputs = std::move(in);
  n.outputs = std::move(out);
  return n;
}

TEST(CompileModel, UnsupportedGraphsNameTheNode) {
  OnnxGraph g;
  g.opset = 13;
  g.nodes.push_back(make_node("conv1", "Conv", {"x"}, {"y"}));
  auto r = compile_model(g, {{1.0}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnimplemented);
  OnnxGraph h;
  h.opset = 13;
  h.float_initializers["W"] = FloatTensor{{2, 2}, {1, 0, 0, 1}};
  h.nodes.push_back(make_node("fc", "MatMul", {"x", "W"}, {"y"}));
  h.nodes.push_back(make_node("act", "Relu", {"y"}, {"z"}));
  h.nodes.push_back(make_node("pool7", "MaxPool", {"z"}, {"p"}));
  h.nodes.push_back(make_node("fc2", "MatMul", {"p", "W"}, {"q"}));
  auto s = compile_model(h, {{1.0, 2.0}});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("pool7"), std::string::npos) << s.status().message();
  EXPECT_NE(s.status().message().find("MaxPool"), std::string::npos) << s.status().message();
}

// A NaN, infinite or absurd parameter (a broken or crafted export; the fuzzer's onnx_compile
// target found a NaN weight reaching an int64 conversion) is refused, naming where it is.
TEST(CompileModel, NonFiniteParametersAreRefusedByName) {
  auto load = [](const char* name, const char* dataset, testing::DataSet* train) {
    testing::Committed c = testing::load_committed(std::string("models/") + name, dataset);
    *train = std::move(c.train);
    return std::move(c.graph);
  };
  for (double bad : {static_cast<double>(NAN), static_cast<double>(INFINITY), 1e200}) {
    testing::DataSet train;
    OnnxGraph mlp = load("mlp_iris", "iris", &train);
    mlp.float_initializers.at("2.weight").data[3] = bad;
    auto m = compile_model(mlp, train.features);
    ASSERT_FALSE(m.ok());
    EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(m.status().message().find("the weights holds"), std::string::npos) << m.status().message();

    OnnxGraph lin = load("logistic_regression_iris", "iris", &train);
    lin.nodes[0].attributes.at("coefficients").floats[1] = bad;
    m = compile_model(lin, train.features);
    ASSERT_FALSE(m.ok());
    EXPECT_NE(m.status().message().find("the linear model's weights holds"), std::string::npos) << m.status().message();

    OnnxGraph tree = load("decision_tree_breast_cancer", "breast_cancer", &train);
    tree.nodes[0].attributes.at("class_weights").floats[0] = bad;
    m = compile_model(tree, train.features);
    ASSERT_FALSE(m.ok());
    EXPECT_NE(m.status().message().find("the leaf weights holds"), std::string::npos) << m.status().message();
  }
}

// Rows for `blindml check` without calibration data: a ColumnTransformer exported with
// OneHotEncoder(handle_unknown='error') gets, in each categorical column, only the categories its
// own encoder knows (else the synthetic rows would be refused), floats elsewhere; they compile.
TEST(SyntheticRows, CategoricalColumnsHoldTheirEncodersCategories) {
  auto g = load_onnx_file(testing::data_dir() + "/corpus/skl2onnx_column_transformer_onehot_drop_first_logreg_mixed.onnx");
  ASSERT_TRUE(g.ok()) << g.status().to_string();
  ASSERT_EQ(graph_row_width(*g), 5);
  const Rows rows = synthetic_rows(*g, 5, 64, 7);
  ASSERT_EQ(rows.size(), 64u);
  // tests/data/mixed: columns 3 and 4 are categorical with 4 and 3 categories (0..3, 0..2)
  std::set<double> seen3, seen4;
  bool fractional = false;
  for (const auto& r : rows) {
    ASSERT_EQ(r.size(), 5u);
    EXPECT_TRUE(r[3] >= 0 && r[3] <= 3 && r[3] == std::trunc(r[3])) << r[3];
    EXPECT_TRUE(r[4] >= 0 && r[4] <= 2 && r[4] == std::trunc(r[4])) << r[4];
    seen3.insert(r[3]);
    seen4.insert(r[4]);
    fractional = fractional || r[0] != std::trunc(r[0]);
  }
  EXPECT_EQ(seen3.size(), 4u);
  EXPECT_EQ(seen4.size(), 3u);
  EXPECT_TRUE(fractional);
  auto m = compile_model(*g, rows);
  EXPECT_TRUE(m.ok()) << m.status().to_string();
  EXPECT_EQ(synthetic_rows(*g, 5, 64, 7), rows);  // deterministic in the seed
}

// Each committed model: compile with the training split as calibration set, predict the test
// split in the clear, compare with the float model's predictions (expected.csv) and the truth.
class ModelAccuracy : public ::testing::TestWithParam<testing::ModelCase> {};

TEST_P(ModelAccuracy, QuantizedClearAgainstFloat) {
  const auto& mc = GetParam();
  const std::string base = testing::data_dir() + "/models/" + mc.name;
  auto graph = load_onnx_file(base + ".onnx");
  ASSERT_TRUE(graph.ok()) << graph.status().to_string();
  DataSet train, test;
  ASSERT_TRUE(testing::load_split(mc.dataset, "train", train));
  ASSERT_TRUE(testing::load_split(mc.dataset, "test", test));
  testing::Csv expected;
  ASSERT_TRUE(testing::read_csv(base + ".expected.csv", expected));
  ASSERT_EQ(expected.rows.size(), test.features.size());
  CompileOptions options;
  if (mc.classifier) options.kind = ModelKind::kClassifier;
  auto model = compile_model(*graph, train.features, options);
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  std::printf("%s\n", model->report.c_str());
  auto clear = predict_clear(*model, test.features);
  ASSERT_TRUE(clear.ok()) << clear.status().to_string();
  if (mc.classifier) {
    std::vector<int64_t> q_labels, f_labels;
    for (size_t i = 0; i < clear->size(); ++i) {
      q_labels.push_back((*clear)[i].label);
      f_labels.push_back(static_cast<int64_t>(expected.rows[i][0]));
    }
    const double fa = testing::accuracy(f_labels, test.target), qa = testing::accuracy(q_labels, test.target);
    std::printf("%s: float accuracy %.2f %%, quantized (clear) %.2f %%, PBS %llu\n", mc.name, fa, qa,
                static_cast<unsigned long long>(circuit::analyze(model->compiled.circuit)->pbs_count));
    if (mc.exact_labels) {
      for (size_t i = 0; i < q_labels.size(); ++i) EXPECT_EQ(q_labels[i], f_labels[i]) << "row " << i;
      // The probabilities differ from the float ones only by the leaf quantization.
      for (size_t i = 0; i < clear->size(); ++i)
        for (size_t c = 0; c < (*clear)[i].proba.size(); ++c)
          EXPECT_NEAR((*clear)[i].proba[c], expected.rows[i][1 + c], 0.02) << "row " << i << " class " << c;
    }
    EXPECT_GE(qa, fa - mc.margin);
  } else {
    std::vector<double> q, f;
    for (size_t i = 0; i < clear->size(); ++i) {
      q.push_back((*clear)[i].values[0]);
      f.push_back(expected.rows[i][0]);
    }
    const double fr = testing::r2(f, test.target), qr = testing::r2(q, test.target);
    std::printf("%s: float R² %.4f, quantized (clear) R² %.4f\n", mc.name, fr, qr);
    EXPECT_GE(qr, fr - mc.margin);
  }
}

INSTANTIATE_TEST_SUITE_P(Committed, ModelAccuracy, ::testing::ValuesIn(model_cases()),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace blindml::model
