// ai.onnx.ml 5's TreeEnsemble: read as the TreeEnsembleRegressor it is equivalent to. A small
// ensemble written in both forms by hand: the float interpreter gives the values walked by hand,
// and both forms compile to the same circuit and the same clear predictions. Every malformed
// version-5 attribute is refused with the attribute named.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "blindml/compiler/compiled.h"
#include "blindml/model/model.h"
#include "blindml/model/onnx.h"
#include "onnx/onnx_pb.h"

namespace blindml::model {
namespace {

struct Builder {
  onnx::ModelProto m;
  onnx::NodeProto* n = nullptr;
  explicit Builder(int64_t ml_opset = 5) {
    m.set_ir_version(10);
    m.set_producer_name("tree_ensemble_v5_test");
    auto* o = m.add_opset_import();
    o->set_domain("");
    o->set_version(21);
    auto* ml = m.add_opset_import();
    ml->set_domain("ai.onnx.ml");
    ml->set_version(ml_opset);
    auto* g = m.mutable_graph();
    g->set_name("g");
    for (auto [v, dims] : {std::pair{g->add_input(), std::vector<int64_t>{-1, 2}}, {g->add_output(), {-1, 1}}}) {
      v->set_name(dims[1] == 2 ? "X" : "Y");
      auto* tt = v->mutable_type()->mutable_tensor_type();
      tt->set_elem_type(onnx::TensorProto::FLOAT);
      for (int64_t d : dims) {
        if (d < 0) tt->mutable_shape()->add_dim()->set_dim_param("N");
        else tt->mutable_shape()->add_dim()->set_dim_value(d);
      }
    }
  }
  onnx::NodeProto* node(const std::string& op) {
    n = m.mutable_graph()->add_node();
    n->set_op_type(op);
    n->set_name("trees");
    n->set_domain("ai.onnx.ml");
    n->add_input("X");
    n->add_output("Y");
    return n;
  }
  onnx::AttributeProto* attr(const std::string& name, onnx::AttributeProto::AttributeType type) {
    for (auto& a : *n->mutable_attribute())
      if (a.name() == name) {
        a.Clear();
        a.set_name(name);
        a.set_type(type);
        return &a;
      }
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(type);
    return a;
  }
  void ints(const std::string& name, std::vector<int64_t> v) {
    auto* a = attr(name, onnx::AttributeProto::INTS);
    for (auto x : v) a->add_ints(x);
  }
  void i(const std::string& name, int64_t v) { attr(name, onnx::AttributeProto::INT)->set_i(v); }
  void s(const std::string& name, const std::string& v) { attr(name, onnx::AttributeProto::STRING)->set_s(v); }
  void floats(const std::string& name, std::vector<float> v) {
    auto* a = attr(name, onnx::AttributeProto::FLOATS);
    for (auto x : v) a->add_floats(x);
  }
  void strings(const std::string& name, std::vector<std::string> v) {
    auto* a = attr(name, onnx::AttributeProto::STRINGS);
    for (auto& x : v) a->add_strings(x);
  }
  void float_tensor(const std::string& name, std::vector<float> v) {
    auto* t = attr(name, onnx::AttributeProto::TENSOR)->mutable_t();
    t->set_data_type(onnx::TensorProto::FLOAT);
    t->add_dims(static_cast<int64_t>(v.size()));
    for (float x : v) t->add_float_data(x);
  }
  void double_tensor(const std::string& name, std::vector<double> v) {
    auto* t = attr(name, onnx::AttributeProto::TENSOR)->mutable_t();
    t->set_data_type(onnx::TensorProto::DOUBLE);
    t->add_dims(static_cast<int64_t>(v.size()));
    std::string raw(v.size() * 8, '\0');
    std::memcpy(raw.data(), v.data(), raw.size());
    t->set_raw_data(raw);
  }
  void uint8_tensor(const std::string& name, std::vector<uint8_t> v) {
    auto* t = attr(name, onnx::AttributeProto::TENSOR)->mutable_t();
    t->set_data_type(onnx::TensorProto::UINT8);
    t->add_dims(static_cast<int64_t>(v.size()));
    t->set_raw_data(std::string(v.begin(), v.end()));
  }
  Result<OnnxGraph> load() const {
    std::string bytes = m.SerializeAsString();
    return load_onnx(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
  }
};

// Two trees on features (x0, x1):
//   tree 0: interior 0 [x0 <= 0.5] (NaN goes true) -> interior 1 [x1 < 2] -> leaf 0 (1.0) / leaf 1 (2.0);
//           else leaf 2 (4.0)
//   tree 1: a single leaf, leaf 3 (0.25), written as interior 2 whose two sides are leaf 3.
Builder v5_ensemble() {
  Builder b;
  b.node("TreeEnsemble");
  b.float_tensor("nodes_splits", {0.5f, 2.0f, 0.0f});
  b.ints("nodes_featureids", {0, 1, 0});
  b.uint8_tensor("nodes_modes", {0, 1, 0});  // LEQ, LT, LEQ
  b.ints("nodes_truenodeids", {1, 0, 3});
  b.ints("nodes_trueleafs", {0, 1, 1});
  b.ints("nodes_falsenodeids", {2, 1, 3});
  b.ints("nodes_falseleafs", {1, 1, 1});
  b.ints("nodes_missing_value_tracks_true", {1, 0, 0});
  b.ints("leaf_targetids", {0, 0, 0, 0});
  b.double_tensor("leaf_weights", {1.0, 2.0, 4.0, 0.25});
  b.ints("tree_roots", {0, 2});
  b.i("n_targets", 1);
  b.i("aggregate_function", 1);  // SUM
  b.i("post_transform", 0);      // NONE
  return b;
}

// The same ensemble as a TreeEnsembleRegressor (ai.onnx.ml 3), written by hand.
Builder v3_ensemble() {
  Builder b(3);
  b.node("TreeEnsembleRegressor");
  b.ints("nodes_treeids", {0, 0, 0, 0, 0, 1});
  b.ints("nodes_nodeids", {0, 1, 2, 3, 4, 0});
  b.ints("nodes_featureids", {0, 1, 0, 0, 0, 0});
  b.floats("nodes_values", {0.5f, 2.0f, 0, 0, 0, 0});
  b.strings("nodes_modes", {"BRANCH_LEQ", "BRANCH_LT", "LEAF", "LEAF", "LEAF", "LEAF"});
  b.ints("nodes_truenodeids", {1, 3, 0, 0, 0, 0});
  b.ints("nodes_falsenodeids", {2, 4, 0, 0, 0, 0});
  b.ints("nodes_missing_value_tracks_true", {1, 0, 0, 0, 0, 0});
  b.ints("target_treeids", {0, 0, 0, 1});
  b.ints("target_nodeids", {2, 3, 4, 0});
  b.ints("target_ids", {0, 0, 0, 0});
  b.floats("target_weights", {4.0f, 1.0f, 2.0f, 0.25f});
  b.i("n_targets", 1);
  return b;
}

std::vector<double> eval(const OnnxGraph& g, const std::vector<double>& flat) {
  auto r = evaluate_float(g, {{"X", FloatTensor{{static_cast<int64_t>(flat.size() / 2), 2}, flat}}});
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  return r.ok() ? r->at("Y").data : std::vector<double>{};
}

void expect_refused(const Builder& b, StatusCode code, std::vector<std::string> fragments) {
  auto r = b.load();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), code) << r.status().to_string();
  for (const auto& f : fragments) EXPECT_NE(r.status().message().find(f), std::string::npos) << r.status().message();
}

TEST(TreeEnsembleV5, EvaluatesAsWalkedByHand) {
  auto g = v5_ensemble().load();
  ASSERT_TRUE(g.ok()) << g.status().to_string();
  // (0.5, 1.9): x0 <= 0.5, x1 < 2 -> 1 + 0.25; (0.5, 2): x1 < 2 false -> 2 + 0.25;
  // (0.6, 0): x0 <= 0.5 false -> 4 + 0.25; (NaN, 5): NaN tracks true, x1 < 2 false -> 2 + 0.25.
  EXPECT_EQ(eval(*g, {0.5, 1.9, 0.5, 2.0, 0.6, 0.0, NAN, 5.0}), (std::vector<double>{1.25, 2.25, 4.25, 2.25}));
}

TEST(TreeEnsembleV5, AggregatesAndTransformsByTheirVersionFiveCodes) {
  Builder b = v5_ensemble();
  b.i("aggregate_function", 0);  // AVERAGE over the two trees
  auto g = b.load();
  ASSERT_TRUE(g.ok()) << g.status().to_string();
  EXPECT_EQ(eval(*g, {0.6, 0.0}), (std::vector<double>{(4.0 + 0.25) / 2}));
  b.i("aggregate_function", 3);  // MAX
  EXPECT_EQ(eval(*b.load(), {0.6, 0.0}), (std::vector<double>{4.0}));
  b.i("aggregate_function", 2);  // MIN
  EXPECT_EQ(eval(*b.load(), {0.6, 0.0}), (std::vector<double>{0.25}));
  b.i("aggregate_function", 1);
  b.i("post_transform", 2);  // LOGISTIC
  const auto y = eval(*b.load(), {0.6, 0.0});
  ASSERT_EQ(y.size(), 1u);
  EXPECT_NEAR(y[0], 1 / (1 + std::exp(-4.25)), 1e-12);
}

TEST(TreeEnsembleV5, CompilesLikeTheVersionThreeForm) {
  auto g5 = v5_ensemble().load();
  auto g3 = v3_ensemble().load();
  ASSERT_TRUE(g5.ok()) << g5.status().to_string();
  ASSERT_TRUE(g3.ok()) << g3.status().to_string();
  const Rows rows = {{0.5, 1.9}, {0.5, 2.0}, {0.6, 0.0}, {0.1, 3.0}, {0.9, 1.0}, {0.2, 0.5}};
  std::vector<double> flat;
  for (const auto& r : rows) flat.insert(flat.end(), r.begin(), r.end());
  EXPECT_EQ(eval(*g5, flat), eval(*g3, flat));
  auto m5 = compile_model(*g5, rows);
  auto m3 = compile_model(*g3, rows);
  ASSERT_TRUE(m5.ok()) << m5.status().to_string();
  ASSERT_TRUE(m3.ok()) << m3.status().to_string();
  EXPECT_EQ(m5->processing.family, "tree_ensemble");
  // The same circuit and the same client processing, byte for byte.
  EXPECT_EQ(compiler::serialize_compiled_circuit(m5->compiled), compiler::serialize_compiled_circuit(m3->compiled));
  EXPECT_EQ(m5->processing.to_json(), m3->processing.to_json());
  // ai.onnx.ml 3's float64 twins (nodes_values_as_tensor, target_weights_as_tensor) lower the same.
  Builder b64 = v3_ensemble();
  for (auto& a : *b64.n->mutable_attribute())
    if (a.name() == "nodes_values" || a.name() == "target_weights") a.set_name(a.name() + "_old");
  b64.double_tensor("nodes_values_as_tensor", {0.5, 2.0, 0, 0, 0, 0});
  b64.double_tensor("target_weights_as_tensor", {4.0, 1.0, 2.0, 0.25});
  auto* atts = b64.n->mutable_attribute();
  for (int k = atts->size() - 1; k >= 0; --k)
    if (atts->Get(k).name().ends_with("_old")) atts->DeleteSubrange(k, 1);
  auto g64 = b64.load();
  ASSERT_TRUE(g64.ok()) << g64.status().to_string();
  auto m64 = compile_model(*g64, rows);
  ASSERT_TRUE(m64.ok()) << m64.status().to_string();
  EXPECT_EQ(compiler::serialize_compiled_circuit(m64->compiled), compiler::serialize_compiled_circuit(m3->compiled));
  auto p5 = predict_clear(*m5, rows);
  auto p3 = predict_clear(*m3, rows);
  ASSERT_TRUE(p5.ok() && p3.ok());
  const std::vector<double> walked = {1.25, 2.25, 4.25, 2.25, 4.25, 1.25};
  for (size_t k = 0; k < rows.size(); ++k) {
    EXPECT_EQ((*p5)[k].values, (*p3)[k].values) << "row " << k;
    ASSERT_EQ((*p5)[k].values.size(), 1u);
    EXPECT_NEAR((*p5)[k].values[0], walked[k], 4.0 / 127) << "row " << k;  // one leaf step per tree at most
  }
}

TEST(TreeEnsembleV5, MalformedAttributesAreNamed) {
  {
    Builder b = v5_ensemble();
    b.uint8_tensor("nodes_modes", {0, 6, 0});
    expect_refused(b, StatusCode::kUnimplemented, {"node 'trees' (TreeEnsemble)", "BRANCH_MEMBER"});
  }
  {
    Builder b = v5_ensemble();
    b.uint8_tensor("nodes_modes", {0, 9, 0});
    expect_refused(b, StatusCode::kInvalidArgument, {"nodes_modes[1] = 9"});
  }
  {
    Builder b = v5_ensemble();
    b.i("post_transform", 4);
    expect_refused(b, StatusCode::kUnimplemented, {"PROBIT"});
  }
  {
    Builder b = v5_ensemble();
    b.ints("nodes_featureids", {0, 1});
    expect_refused(b, StatusCode::kInvalidArgument, {"nodes_splits", "has 3 entries, expected 2"});
  }
  {
    Builder b = v5_ensemble();
    b.ints("nodes_truenodeids", {1, 7, 3});  // leaf 7 of 4
    expect_refused(b, StatusCode::kInvalidArgument, {"interior node 1's true target 7", "[0, 4)"});
  }
  {
    Builder b = v5_ensemble();
    b.ints("nodes_falsenodeids", {2, 0, 3});  // node 1's false side is leaf 0, also its true side
    expect_refused(b, StatusCode::kInvalidArgument, {"leaf 0 is reached twice"});
  }
  {
    Builder b = v5_ensemble();
    b.ints("nodes_truenodeids", {1, 0, 3});
    b.ints("nodes_trueleafs", {0, 0, 1});  // node 1's true side is interior node 0: a cycle
    expect_refused(b, StatusCode::kInvalidArgument, {"interior node 0 is reached twice"});
  }
  {
    Builder b = v5_ensemble();
    b.ints("tree_roots", {0, 3});
    expect_refused(b, StatusCode::kInvalidArgument, {"tree_roots[1] = 3"});
  }
  {
    Builder b = v5_ensemble();
    b.ints("leaf_targetids", {0, 0, 1, 0});  // n_targets is 1
    expect_refused(b, StatusCode::kInvalidArgument, {"leaf_targetids holds target 1"});
  }
  {
    Builder b = v5_ensemble();
    b.floats("leaf_weights", {1, 2, 4, 0.25f});
    expect_refused(b, StatusCode::kInvalidArgument, {"attribute 'leaf_weights' has kind floats, expected tensor"});
  }
  {
    Builder b = v5_ensemble();
    b.s("base_values", "1");
    expect_refused(b, StatusCode::kUnimplemented, {"attribute 'base_values' is not supported"});
  }
  {
    Builder b(4);
    b.m.mutable_graph()->clear_node();
    b.node("TreeEnsemble");
    b.n->CopyFrom(v5_ensemble().m.graph().node(0));
    expect_refused(b, StatusCode::kUnimplemented, {"TreeEnsemble needs ai.onnx.ml opset 5"});
  }
  {
    Builder b = v5_ensemble();  // typed uint8 data out of a byte's range
    auto* t = b.attr("nodes_modes", onnx::AttributeProto::TENSOR)->mutable_t();
    t->set_data_type(onnx::TensorProto::UINT8);
    t->add_dims(3);
    for (int v : {0, 300, 0}) t->add_int32_data(v);
    expect_refused(b, StatusCode::kCorrupted, {"uint8 element 1 holds 300"});
  }
}

}  // namespace
}  // namespace blindml::model
