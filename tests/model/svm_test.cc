// SVMClassifier (issue 13 part 5): the loader's checks, the float interpreter against decision
// values, votes and scores computed by hand (and the one-vs-rest scores against scikit-learn's
// _ovr_decision_function, values quoted below), ties, the client processing's JSON, and the
// lowering's check of the graph's tail. The corpus test (corpus_test.cc) compares whole exported
// SVCs with scikit-learn; svm_fhe_test.cc runs one under FHE.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "blindml/model/model.h"
#include "blindml/model/onnx.h"
#include "model_data.h"
#include "onnx/onnx_pb.h"

namespace blindml::model {
namespace {

using testing::ints;
using testing::floats;
using testing::str;

// Binary, 2 features, labels {5, 9}: class 0's support vectors (1, 0) and (0, 2), class 1's (1, 1);
// d(x) = 0.5·x1 − 0.25·2·x2 − (x1 + x2) + 0.25 = −0.5·x1 − 1.5·x2 + 0.25.
OnnxNode binary_svm() {
  OnnxNode n;
  n.name = "SVMc";
  n.op_type = "SVMClassifier";
  n.domain = "ai.onnx.ml";
  n.inputs = {"X"};
  n.outputs = {"label", "scores"};
  n.attributes["kernel_type"] = str("LINEAR");
  n.attributes["kernel_params"] = floats({0.5, 0.0, 3.0});
  n.attributes["post_transform"] = str("NONE");
  n.attributes["classlabels_ints"] = ints({5, 9});
  n.attributes["vectors_per_class"] = ints({2, 1});
  n.attributes["support_vectors"] = floats({1, 0, 0, 2, 1, 1});
  n.attributes["coefficients"] = floats({0.5, -0.25, -1});
  n.attributes["rho"] = floats({0.25});
  return n;
}

// Three classes, 1 feature, one support vector each (1, 2, 3); coefficients [2 × 3]
// row 0: 1, −1, 2; row 1: −2, 0.5, −0.5; rho 0.5, −1, 1. Pairs (0,1), (0,2), (1,2):
//   d0 = c[0][0]·1x + c[0][1]·2x + 0.5 = −x + 0.5
//   d1 = c[1][0]·1x + c[0][2]·3x − 1   = 4x − 1
//   d2 = c[1][1]·2x + c[1][2]·3x + 1   = −0.5x + 1
OnnxNode three_class_svm() {
  OnnxNode n = binary_svm();
  n.attributes["classlabels_ints"] = ints({0, 1, 2});
  n.attributes["vectors_per_class"] = ints({1, 1, 1});
  n.attributes["support_vectors"] = floats({1, 2, 3});
  n.attributes["coefficients"] = floats({1, -1, 2, -2, 0.5, -0.5});
  n.attributes["rho"] = floats({0.5, -1, 1});
  return n;
}

OnnxGraph graph_of(const OnnxNode& svm, int64_t features) {
  OnnxGraph g;
  g.opset = 21;
  g.ml_opset = 5;
  g.inputs.push_back(ValueInfo{"X", 11, {-1, features}, true});  // float64: no float32 rounding
  g.nodes.push_back(svm);
  g.outputs.push_back(ValueInfo{"label", 7, {-1}, true});
  g.outputs.push_back(ValueInfo{"scores", 1, {-1, -1}, true});
  return g;
}

struct Answers {
  std::vector<double> labels, scores;
};
Answers run(const OnnxGraph& g, int64_t features, std::vector<double> x) {
  const int64_t rows = static_cast<int64_t>(x.size()) / features;
  auto v = evaluate_float(g, {{"X", FloatTensor{{rows, features}, std::move(x)}}});
  EXPECT_TRUE(v.ok()) << v.status().to_string();
  if (!v.ok()) return {};
  return {v->at("label").data, v->at("scores").data};
}

TEST(SvmClassifier, BinaryDecisionValueVotesAndScores) {
  const OnnxNode n = binary_svm();
  auto f = svm_classifier_form(n);
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  EXPECT_EQ(f->classes, 2);
  EXPECT_EQ(f->features, 2);
  EXPECT_EQ(f->w, (std::vector<double>{-0.5, -1.5}));
  EXPECT_EQ(f->b, (std::vector<double>{0.25}));
  // x = (1, 1): d = −1.75 (class 1); x = (−1, 0): d = 0.75 (class 0); x = (0.5, 0): d = 0, which
  // votes for the pair's second class (libsvm: first only when d > 0).
  const Answers r = run(graph_of(n, 2), 2, {1, 1, -1, 0, 0.5, 0});
  EXPECT_EQ(r.labels, (std::vector<double>{1, 0, 1}));  // class indices
  // onnxruntime's score output without probabilities: [−d, d].
  EXPECT_EQ(r.scores, (std::vector<double>{1.75, -1.75, -0.75, 0.75, -0.0, 0.0}));
}

TEST(SvmClassifier, ThreeClassesVotesTiesAndRawScores) {
  const Answers r = run(graph_of(three_class_svm(), 1), 1, {1, 0.4, 3, 0.5});
  // x = 1: d = (−0.5, 3, 0.5): votes 1, 0, 1 → class 1.
  // x = 0.4: d = (0.1, 0.6, 0.8): votes 0, 0, 1 → class 0.
  // x = 3: d = (−2.5, 11, −0.5): votes 1, 0, 2 → a three-way tie → the lowest index, 0.
  // x = 0.5: d = (0, 1, 0.75): votes 1 (d = 0), 0, 1 → class 1.
  EXPECT_EQ(r.labels, (std::vector<double>{1, 0, 0, 1}));
  const std::vector<double> d = {-0.5, 3, 0.5, 0.1, 0.6, 0.8, -2.5, 11, -0.5, 0, 1, 0.75};
  ASSERT_EQ(r.scores.size(), d.size());
  for (size_t k = 0; k < d.size(); ++k) EXPECT_NEAR(r.scores[k], d[k], 1e-12) << k;
}

TEST(SvmClassifier, OneVsRestScoresAsScikitLearn) {
  // scikit-learn 1.2: _ovr_decision_function(d < 0, -d, 3) for d = (−0.5, 3, 0.5) and (0, 1, 0.75).
  OvoScores o;
  o.classes = 3;
  o.kind = OvoScores::Kind::kOvr;
  int64_t label = -1;
  std::vector<double> s;
  o.answer(std::vector<double>{-0.5, 3, 0.5}, &label, &s);
  EXPECT_EQ(label, 1);
  ASSERT_EQ(s.size(), 3u);
  EXPECT_NEAR(s[0], 1.23809524, 1e-8);
  EXPECT_NEAR(s[1], 2.16666667, 1e-8);
  EXPECT_NEAR(s[2], -0.25925926, 1e-8);
  // d = 0 counts for the first class in scikit-learn's one-vs-rest votes but for the second in
  // predict's: the label (1) is not the argmax of these scores (0), as in scikit-learn.
  o.answer(std::vector<double>{0, 1, 0.75}, &label, &s);
  EXPECT_EQ(label, 1);
  EXPECT_NEAR(s[0], 2.16666667, 1e-8);
  EXPECT_NEAR(s[1], 1.14285714, 1e-8);
  EXPECT_NEAR(s[2], -0.21212121, 1e-8);
}

TEST(SvmClassifier, FourClassesSixPairs) {
  // Pairs (0,1), (0,2), (0,3), (1,2), (1,3), (2,3): votes 0, 2, 0, 2, 1, 3 → classes 0 and 2 tie
  // at 2 → the label is 0; scikit-learn 1.2's _ovr_decision_function(d < 0, -d, 4) gives
  // (2.05555556, 0.9047619, 2.125, 0.9047619), whose argmax is 2.
  const std::vector<double> d = {0.3, -0.2, 0.1, -0.5, 0.4, -0.1};
  OvoScores o;
  o.classes = 4;
  EXPECT_EQ(o.pairs(), 6);
  int64_t label = -1;
  std::vector<double> s;
  o.answer(d, &label, &s);
  EXPECT_EQ(label, 0);
  EXPECT_EQ(s, d);  // raw: the decision values themselves
  o.kind = OvoScores::Kind::kOvr;
  o.answer(d, &label, &s);
  EXPECT_EQ(label, 0);
  const std::vector<double> want = {2.05555556, 0.9047619, 2.125, 0.9047619};
  ASSERT_EQ(s.size(), want.size());
  for (size_t c = 0; c < want.size(); ++c) EXPECT_NEAR(s[c], want[c], 1e-8) << c;
}

TEST(SvmClassifier, PlattProbabilitiesForTwoClasses) {
  OnnxNode n = binary_svm();
  n.attributes["prob_a"] = floats({-2});
  n.attributes["prob_b"] = floats({0.5});
  // x = (−1, 0): d = 0.75, A·d + B = −1: r_01 = 1/(1 + e^−1) = 0.7310585786; for two classes the
  // coupled probabilities are (r_01, 1 − r_01) (Q·p = 0 there).
  const Answers r = run(graph_of(n, 2), 2, {-1, 0});
  EXPECT_EQ(r.labels, (std::vector<double>{0}));
  ASSERT_EQ(r.scores.size(), 2u);
  EXPECT_NEAR(r.scores[0], 0.7310585786, 1e-3);
  EXPECT_NEAR(r.scores[0] + r.scores[1], 1.0, 1e-12);
}

// Every malformed attribute is refused with a message naming it, before any allocation.
TEST(SvmClassifier, LoaderRefusesMalformedAttributes) {
  struct Case {
    const char* what;
    std::function<void(OnnxNode&)> change;
    StatusCode code;
    const char* fragment;
  };
  const std::vector<Case> cases = {
      {"RBF", [](OnnxNode& n) { n.attributes["kernel_type"] = str("RBF"); }, StatusCode::kUnimplemented, "kernel_type RBF"},
      {"POLY", [](OnnxNode& n) { n.attributes["kernel_type"] = str("POLY"); }, StatusCode::kUnimplemented, "the plan"},
      {"SIGMOID", [](OnnxNode& n) { n.attributes["kernel_type"] = str("SIGMOID"); }, StatusCode::kUnimplemented, "SIGMOID"},
      {"post", [](OnnxNode& n) { n.attributes["post_transform"] = str("LOGISTIC"); }, StatusCode::kUnimplemented, "post_transform"},
      {"no labels", [](OnnxNode& n) { n.attributes.erase("classlabels_ints"); }, StatusCode::kInvalidArgument, "classlabels"},
      {"both labels",
       [](OnnxNode& n) {
         Attribute a;
         a.kind = Attribute::Kind::kStrings;
         a.strings = {"a", "b"};
         n.attributes["classlabels_strings"] = a;
       },
       StatusCode::kInvalidArgument, "exactly one"},
      {"one class", [](OnnxNode& n) { n.attributes["classlabels_ints"] = ints({1}); }, StatusCode::kInvalidArgument, "1 class labels"},
      {"too many classes", [](OnnxNode& n) { n.attributes["classlabels_ints"] = ints(std::vector<int64_t>(257, 0)); },
       StatusCode::kInvalidArgument, "257 class labels"},
      {"kernel_params", [](OnnxNode& n) { n.attributes["kernel_params"] = floats({1, 2}); }, StatusCode::kInvalidArgument, "kernel_params"},
      {"liblinear", [](OnnxNode& n) { n.attributes.erase("vectors_per_class"); }, StatusCode::kUnimplemented, "liblinear"},
      {"per class count", [](OnnxNode& n) { n.attributes["vectors_per_class"] = ints({3}); }, StatusCode::kInvalidArgument,
       "vectors_per_class has 1 entries for 2 classes"},
      {"negative", [](OnnxNode& n) { n.attributes["vectors_per_class"] = ints({-1, 4}); }, StatusCode::kInvalidArgument, "negative"},
      {"zero", [](OnnxNode& n) { n.attributes["vectors_per_class"] = ints({0, 0}); }, StatusCode::kInvalidArgument, "no support vector"},
      {"overflow",
       [](OnnxNode& n) {
         n.attributes["classlabels_ints"] = ints({0, 1, 2});
         n.attributes["vectors_per_class"] = ints({INT64_MAX, INT64_MAX, INT64_MAX});
       },
       StatusCode::kInvalidArgument, "beyond 2^64"},
      {"sv size", [](OnnxNode& n) { n.attributes["support_vectors"] = floats({1, 0, 0, 2, 1}); }, StatusCode::kInvalidArgument,
       "support_vectors holds 5 values"},
      {"coef size", [](OnnxNode& n) { n.attributes["coefficients"] = floats({0.5, -0.25}); }, StatusCode::kInvalidArgument,
       "coefficients holds 2 values"},
      {"rho size", [](OnnxNode& n) { n.attributes["rho"] = floats({0.25, 1}); }, StatusCode::kInvalidArgument, "rho holds 2 values"},
      {"prob_a only", [](OnnxNode& n) { n.attributes["prob_a"] = floats({1}); }, StatusCode::kInvalidArgument, "differ in length"},
      {"prob size",
       [](OnnxNode& n) {
         n.attributes["prob_a"] = floats({1, 2});
         n.attributes["prob_b"] = floats({1, 2});
       },
       StatusCode::kInvalidArgument, "one per pair"},
      {"nan", [](OnnxNode& n) { n.attributes["rho"] = floats({NAN}); }, StatusCode::kInvalidArgument, "non-finite"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    OnnxNode n = binary_svm();
    c.change(n);
    auto f = svm_classifier_form(n);
    ASSERT_FALSE(f.ok());
    EXPECT_EQ(f.status().code(), c.code) << f.status().to_string();
    EXPECT_NE(f.status().message().find(c.fragment), std::string::npos) << f.status().message();
    EXPECT_EQ(f.status().message().rfind("node 'SVMc' (SVMClassifier): ", 0), 0u) << f.status().message();
  }
}

// 256 classes of one support vector of 600 features: 32640 pairs × 600 folded weights is over the
// 2^24 bound, refused before the fold allocates them.
TEST(SvmClassifier, InflatedCountsAreRejectedWithoutAllocating) {
  OnnxNode n = binary_svm();
  const int64_t k = 256, F = 600;
  std::vector<int64_t> labels(k), per(k, 1);
  for (int64_t c = 0; c < k; ++c) labels[c] = c;
  n.attributes["classlabels_ints"] = ints(labels);
  n.attributes["vectors_per_class"] = ints(per);
  n.attributes["support_vectors"] = floats(std::vector<double>(k * F, 1.0));
  n.attributes["coefficients"] = floats(std::vector<double>((k - 1) * k, 1.0));
  n.attributes["rho"] = floats(std::vector<double>(k * (k - 1) / 2, 0.0));
  auto f = svm_classifier_form(n);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), StatusCode::kResourceExhausted) << f.status().to_string();
  EXPECT_NE(f.status().message().find("32640 pairs x 600 features"), std::string::npos) << f.status().message();
}

// Through the protobuf loader: a kernel other than LINEAR is one of the blockers listed together.
TEST(SvmClassifier, LoadOnnxListsTheKernelWithTheOtherBlockers) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  auto* op = m.add_opset_import();
  op->set_version(21);
  auto* ml = m.add_opset_import();
  ml->set_domain("ai.onnx.ml");
  ml->set_version(5);
  auto* g = m.mutable_graph();
  auto* in = g->add_input();
  in->set_name("X");
  auto* tt = in->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(1);
  tt->mutable_shape()->add_dim()->set_dim_param("N");
  tt->mutable_shape()->add_dim()->set_dim_value(2);
  auto* out = g->add_output();
  out->set_name("Y");
  out->mutable_type()->mutable_tensor_type()->set_elem_type(1);
  auto* n = g->add_node();
  n->set_op_type("SVMClassifier");
  n->set_domain("ai.onnx.ml");
  n->set_name("SVMc");
  n->add_input("X");
  n->add_output("label");
  n->add_output("scores");
  auto add = [&](const char* name, onnx::AttributeProto::AttributeType t) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(t);
    return a;
  };
  add("kernel_type", onnx::AttributeProto::STRING)->set_s("RBF");
  auto* labels = add("classlabels_ints", onnx::AttributeProto::INTS);
  labels->add_ints(0);
  labels->add_ints(1);
  auto* e = g->add_node();
  e->set_op_type("Erf");
  e->set_name("erf");
  e->add_input("scores");
  e->add_output("Y");
  const std::string bytes = m.SerializeAsString();
  auto r = load_onnx(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnimplemented);
  const std::string& msg = r.status().message();
  EXPECT_NE(msg.find("2 things stand in the way"), std::string::npos) << msg;
  EXPECT_NE(msg.find("node 'SVMc' (SVMClassifier): kernel_type RBF is not supported"), std::string::npos) << msg;
  EXPECT_NE(msg.find("node 'erf' (Erf)"), std::string::npos) << msg;
}

ClientProcessing ovo_processing(OvoScores::Kind kind) {
  ClientProcessing p;
  p.kind = ModelKind::kClassifier;
  p.family = "linear";
  FeatureEncoder e;
  e.quantizer = Quantizer::calibrate(-1, 1, 8, false, false);
  p.features = {e};
  p.output_scale = {0.5, 0.5, 0.5};
  p.output_offset = {0, 0, 0};
  p.class_labels = {10, 20, 30};
  OvoScores o;
  o.classes = 3;
  o.kind = kind;
  if (kind == OvoScores::Kind::kPlatt) {
    o.prob_a = {-1, -2, -3};
    o.prob_b = {0.5, 0.25, 0};
  }
  p.ovo = o;
  return p;
}

TEST(SvmClassifier, ProcessingJsonRoundTripAndDecode) {
  for (auto kind : {OvoScores::Kind::kRaw, OvoScores::Kind::kOvr, OvoScores::Kind::kPlatt}) {
    const ClientProcessing p = ovo_processing(kind);
    auto back = ClientProcessing::from_json(p.to_json());
    ASSERT_TRUE(back.ok()) << back.status().to_string();
    ASSERT_TRUE(back->ovo.has_value());
    EXPECT_EQ(back->ovo->classes, 3);
    EXPECT_EQ(back->ovo->kind, kind);
    EXPECT_EQ(back->ovo->prob_a, p.ovo->prob_a);
    EXPECT_EQ(back->ovo->prob_b, p.ovo->prob_b);
    EXPECT_EQ(back->to_json(), p.to_json());
  }
  // Decoded decision values 0.5·(−1, 6, 1) = (−0.5, 3, 0.5): votes 1, 0, 1 → the second label.
  auto d = ovo_processing(OvoScores::Kind::kOvr).decode(circuit::Tensor{{3}, {-1, 6, 1}});
  ASSERT_TRUE(d.ok()) << d.status().to_string();
  EXPECT_EQ(d->label, 20);
  ASSERT_EQ(d->proba.size(), 3u);
  EXPECT_NEAR(d->proba[1], 2.16666667, 1e-8);
  auto raw = ovo_processing(OvoScores::Kind::kRaw).decode(circuit::Tensor{{3}, {-1, 6, 1}});
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(raw->proba, (std::vector<double>{-0.5, 3, 0.5}));
}

TEST(SvmClassifier, ProcessingJsonRefusals) {
  const std::string good = ovo_processing(OvoScores::Kind::kPlatt).to_json();
  auto replace = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    auto at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) s.replace(at, from.size(), to);
    return s;
  };
  const std::string good_raw = ovo_processing(OvoScores::Kind::kRaw).to_json();
  auto replace_raw = [&](const std::string& from, const std::string& to) {
    std::string s = good_raw;
    auto at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) s.replace(at, from.size(), to);
    return s;
  };
  const std::vector<std::pair<std::string, std::string>> bad = {
      {replace("\"classes\": 3", "\"classes\": 1"), "ovo: field 'classes' = 1 is outside [2, 256]"},
      {replace("\"classes\": 3", "\"classes\": 100000"), "outside [2, 256]"},
      {replace("\"classes\": 3", "\"classes\": 4"), "need one value per pair (6)"},
      {replace_raw("\"classes\": 3", "\"classes\": 4"), "ovo with 4 classes needs 6 outputs (one per pair), got 3"},
      {replace("\"platt\"", "\"softmax\""), "field 'scores'"},
      {replace("\"platt\"", "\"ovr\""), "belong to scores \"platt\" only"},
      {replace("-3.0", "-3.0, 4.0"), "one value per pair"},
      {replace("\"binary_single_score\": false", "\"binary_single_score\": true"), "ovo belongs to"},
      {replace("30\n", "30,\n 40\n"), "needs as many class_labels"},
      {replace("\"ovo\": {", "\"ovo\": 3, \"x\": {"), "ovo' must be an object"},
  };
  for (const auto& [text, expect] : bad) {
    auto r = ClientProcessing::from_json(text);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.status().code(), StatusCode::kCorrupted);
    EXPECT_NE(r.status().message().find(expect), std::string::npos) << r.status().message();
  }
}

// The lowering: one leveled output per pair (no PBS), labels as the float model's; and a graph
// whose outputs after the SVM are not what onnxruntime / skl2onnx compute is refused.
TEST(SvmClassifier, LoweredAsLeveledPairsAndTheTailIsChecked) {
  OnnxGraph g = graph_of(three_class_svm(), 1);
  Rows calibration;
  for (int k = 0; k <= 60; ++k) calibration.push_back({-1.0 + 4.0 * k / 60});
  auto m = compile_model(g, calibration);
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  EXPECT_EQ(m->processing.family, "linear");
  EXPECT_EQ(m->processing.output_count(), 3);
  ASSERT_TRUE(m->processing.ovo.has_value());
  EXPECT_EQ(m->processing.ovo->kind, OvoScores::Kind::kRaw);
  EXPECT_FALSE(m->compiled.needs_bootstrapping);
  // Rows away from the decision boundaries (x = 0.5, 0.25, 2): labels as computed by hand above.
  auto pred = predict_clear(*m, Rows{{1.0}, {0.4}, {3.0}, {-0.8}});
  ASSERT_TRUE(pred.ok()) << pred.status().to_string();
  EXPECT_EQ((*pred)[0].label, 1);
  EXPECT_EQ((*pred)[1].label, 0);
  EXPECT_EQ((*pred)[2].label, 0);
  EXPECT_EQ((*pred)[3].label, 0);  // d = (1.3, −4.2, 1.4): votes 0, 2, 1 → a tie → 0
  auto fl = predict_float(g, m->processing, Rows{{1.0}, {0.4}});
  ASSERT_TRUE(fl.ok()) << fl.status().to_string();
  EXPECT_EQ((*fl)[0].label, 1);
  EXPECT_NEAR((*fl)[0].proba[1], 3, 1e-12);

  OnnxGraph tail = g;
  OnnxNode neg;
  neg.name = "abs";
  neg.op_type = "Abs";
  neg.inputs = {"scores"};
  neg.outputs = {"Y"};
  tail.nodes.push_back(neg);
  tail.outputs[1].name = "Y";
  auto refused = compile_model(tail, calibration);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kUnimplemented);
  EXPECT_NE(refused.status().message().find("graph output 'Y' is neither the label nor the scores"), std::string::npos)
      << refused.status().message();
}

// String labels: compiled by class index, the names carried as class_names (docs/models.md).
TEST(SvmClassifier, StringLabelsCompileByIndexAndAreNamed) {
  OnnxNode n = three_class_svm();
  n.attributes.erase("classlabels_ints");
  Attribute a;
  a.kind = Attribute::Kind::kStrings;
  a.strings = {"setosa", "versicolor", "virginica"};
  n.attributes["classlabels_strings"] = a;
  const OnnxGraph g = graph_of(n, 1);
  EXPECT_EQ(run(g, 1, {1}).labels, (std::vector<double>{1}));  // the interpreter answers indices
  auto m = compile_model(g, Rows{{0.0}, {1.0}});
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  EXPECT_EQ(m->processing.class_labels, (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(m->processing.class_names, (std::vector<std::string>{"setosa", "versicolor", "virginica"}));
  auto p = predict_clear(*m, Rows{{1.0}});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ((*p)[0].label, 1);  // the interpreter's index: versicolor
}

// Byte mutations of an exported SVC (the corpus's, with its one-vs-rest tail): each either fails
// to load with a Status or loads and evaluates (or fails to) without crashing; under the
// sanitizers (scripts/test runs the unit label under ASan + UBSan) without reading out of bounds.
TEST(SvmClassifier, MutatedExportsNeverCrash) {
  std::ifstream in(testing::data_dir() + "/corpus/skl2onnx_svc_linear_iris.onnx", std::ios::binary);
  const std::vector<uint8_t> seed((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(seed.size(), 1000u);
  ASSERT_TRUE(load_onnx(seed).ok());
  std::mt19937_64 rng(13);
  int loaded = 0;
  for (int round = 0; round < 2000; ++round) {
    std::vector<uint8_t> b = seed;
    for (int k = 0; k < 1 + static_cast<int>(rng() % 4); ++k) b[rng() % b.size()] = static_cast<uint8_t>(rng());
    auto g = load_onnx(b);
    if (!g.ok() || g->inputs.empty()) continue;
    ++loaded;
    (void)evaluate_float(*g, {{g->inputs[0].name, FloatTensor{{3, 4}, {5.1, 3.5, 1.4, 0.2, 6.0, 2.2, 5.0, 1.5, -1, 0, 1e30, 2}}}});
  }
  EXPECT_GT(loaded, 0);
}

}  // namespace
}  // namespace blindml::model
