// GaussianNB (skl2onnx's shape, tests/data/corpus/skl2onnx_gaussian_nb_*): the float graph equals
// the naive-Bayes formula computed here from the graph's own parameters; the compiled model is a
// leveled linear model on x and the client's centred squares whose encoders, scores and labels
// follow that formula, whose processing round-trips through JSON, and whose FHE answers equal the
// quantized clear ones. A GaussianNB with something else attached is refused by name.
#include <gtest/gtest.h>

#include <cmath>

#include "blindml/model/model.h"
#include "crypto/key_cache.h"
#include "committed.h"
#include "model_data.h"

namespace blindml::model {
namespace {

testing::Committed load(const std::string& ds) {
  return testing::load_committed("corpus/skl2onnx_gaussian_nb_" + ds, ds);
}

// log P(c) - ½ Σ_j [log(2π σ_cj) + (x_j - θ_cj)²/σ_cj], from the initializers.
std::vector<double> joint_log_likelihood(const OnnxGraph& g, const std::vector<double>& x) {
  const auto& theta = g.float_initializers.at("theta").data;
  const auto& sigma = g.float_initializers.at("sigma").data;
  const auto& prior = g.float_initializers.at("jointi").data;  // log class priors
  const size_t C = prior.size(), F = x.size();
  std::vector<double> jll(C);
  for (size_t c = 0; c < C; ++c) {
    double s = prior[c];
    for (size_t j = 0; j < F; ++j) {
      const double v = sigma[c * F + j], d = static_cast<float>(x[j]) - theta[c * F + j];
      s -= 0.5 * (std::log(2 * M_PI * v) + d * d / v);
    }
    jll[c] = s;
  }
  return jll;
}

TEST(GaussianNb, FloatGraphIsTheNaiveBayesFormula) {
  testing::Committed l = load("iris");
  for (size_t r = 0; r < l.test.features.size(); ++r) {
    const auto& x = l.test.features[r];
    FloatTensor t{{1, static_cast<int64_t>(x.size())}, x};
    auto out = evaluate_float(l.graph, {{"X", t}});
    ASSERT_TRUE(out.ok()) << out.status().to_string();
    const auto jll = joint_log_likelihood(l.graph, x);
    double m = -INFINITY, z = 0;
    for (double v : jll) m = std::max(m, v);
    for (double v : jll) z += std::exp(v - m);
    const auto& proba = out->at("probabilities").data;
    ASSERT_EQ(proba.size(), jll.size());
    for (size_t c = 0; c < jll.size(); ++c) EXPECT_NEAR(proba[c], std::exp(jll[c] - m) / z, 1e-6) << "row " << r;
    const size_t best = std::max_element(jll.begin(), jll.end()) - jll.begin();
    EXPECT_EQ(out->at("label").data[0], static_cast<double>(best)) << "row " << r;
  }
}

TEST(GaussianNb, CompilesToALeveledModelOnTheClientsSquares) {
  testing::Committed l = load("iris");
  auto m = compile_model(l.graph, l.train.features);
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  EXPECT_FALSE(m->compiled.needs_bootstrapping);  // no PBS, no evaluation keys
  EXPECT_NE(m->report.find("GaussianNB"), std::string::npos) << m->report;
  const ClientProcessing& p = m->processing;
  ASSERT_EQ(p.feature_count(), 4);
  EXPECT_EQ(p.input_width(), 8);
  EXPECT_EQ(p.post, PostTransform::kSoftmax);
  // Each encoder: q(x), then the square quantizer on (x - centre)², centre = the calibration midpoint.
  for (int64_t j = 0; j < 4; ++j) {
    const FeatureEncoder& e = p.features[j];
    ASSERT_TRUE(e.square.has_value()) << j;
    double lo = INFINITY, hi = -INFINITY;
    for (const auto& r : l.train.features) lo = std::min(lo, r[j]), hi = std::max(hi, r[j]);
    EXPECT_DOUBLE_EQ(e.square->centre, (lo + hi) / 2) << j;
  }
  const std::vector<double> x = l.test.features[0];
  auto enc = p.encode_row(x);
  ASSERT_TRUE(enc.ok());
  for (int64_t j = 0; j < 4; ++j) {
    const FeatureEncoder& e = p.features[j];
    const double u = x[j] - e.square->centre;
    EXPECT_EQ(enc->data[2 * j], std::clamp<int64_t>(std::llround(x[j] / e.quantizer.scale) + e.quantizer.zero_point,
                                                    e.quantizer.qmin(), e.quantizer.qmax()));
    const Quantizer& s = e.square->quantizer;
    EXPECT_EQ(enc->data[2 * j + 1], std::clamp<int64_t>(std::llround(u * u / s.scale) + s.zero_point, s.qmin(), s.qmax()));
  }
  // The decoded scores are the log-likelihoods up to one constant per row (softmax ignores it)
  // and the quantization error; the labels are the formula's on the test rows.
  auto pred = predict_clear(*m, l.test.features);
  ASSERT_TRUE(pred.ok());
  int same = 0;
  for (size_t r = 0; r < l.test.features.size(); ++r) {
    const auto jll = joint_log_likelihood(l.graph, l.test.features[r]);
    const size_t best = std::max_element(jll.begin(), jll.end()) - jll.begin();
    same += (*pred)[r].label == static_cast<int64_t>(best);
    for (size_t c = 1; c < jll.size(); ++c)
      EXPECT_NEAR((*pred)[r].values[c] - (*pred)[r].values[0], jll[c] - jll[0],
                  0.02 * std::max(1.0, std::fabs(jll[c] - jll[0]))) << "row " << r;
  }
  EXPECT_EQ(same, static_cast<int>(l.test.features.size()));
  // The processing survives its JSON form, and the square fields are checked.
  auto back = ClientProcessing::from_json(p.to_json());
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(back->to_json(), p.to_json());
  auto enc2 = back->encode_row(x);
  ASSERT_TRUE(enc2.ok());
  EXPECT_EQ(enc2->data, enc->data);
  std::string text = p.to_json();
  for (auto [field, bad] : {std::pair<std::string, std::string>{"\"centre\": ", "\"centre\": 1e300, \"x\": "},
                            {"\"scale\": ", "\"scale\": 0, \"x\": "}}) {
    // The first square's field (each square object follows its feature's own fields).
    const size_t sq = text.find("\"square\"");
    ASSERT_NE(sq, std::string::npos);
    const size_t at = text.find(field, sq);
    ASSERT_NE(at, std::string::npos);
    std::string t = text;
    t.replace(at, field.size(), bad);
    auto r = ClientProcessing::from_json(t);
    ASSERT_FALSE(r.ok()) << field;
    EXPECT_NE(r.status().message().find("square"), std::string::npos) << r.status().message();
  }
}

TEST(GaussianNb, FheEqualsQuantizedClear) {
  testing::Committed l = load("breast_cancer");
  auto m = compile_model(l.graph, l.train.features);
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  Rows rows(l.test.features.begin(), l.test.features.begin() + 5);
  auto clear = predict_clear(*m, rows);
  ASSERT_TRUE(clear.ok());
  const auto& keys = crypto::testing::keys_for(m->compiled.params);
  auto fhe = predict_fhe(*m, rows, *keys.client, nullptr, crypto::testing::test_pool());
  ASSERT_TRUE(fhe.ok()) << fhe.status().to_string();
  for (size_t r = 0; r < rows.size(); ++r) {
    EXPECT_EQ((*fhe)[r].values, (*clear)[r].values) << "row " << r;
    EXPECT_EQ((*fhe)[r].label, (*clear)[r].label) << "row " << r;
  }
}

TEST(GaussianNb, SomethingElseAttachedIsRefusedByName) {
  testing::Committed l = load("iris");
  OnnxGraph g = l.graph;
  OnnxNode extra;
  extra.name = "peek";
  extra.op_type = "Relu";
  extra.inputs = {"pow_result"};
  extra.outputs = {"peeked"};
  g.nodes.push_back(extra);
  auto m = compile_model(g, l.train.features);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kUnimplemented);
  EXPECT_NE(m.status().message().find("GaussianNB"), std::string::npos) << m.status().message();
}

}  // namespace
}  // namespace blindml::model
