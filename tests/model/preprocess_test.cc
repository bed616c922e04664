// Client-side preprocessing (issue 13 part 3): each Preprocess kind against hand-computed values,
// the JSON's refusals of absurd sizes and inconsistent widths, the float interpreter's
// OneHotEncoder and Gather on hand-made graphs, and a two-input graph (a ColumnTransformer's
// shape) compiled end to end with its raw row distinct from the encoders' count.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "blindml/model/model.h"
#include "blindml/model/onnx.h"
#include "blindml/model/processing.h"

namespace blindml::model {
namespace {

std::vector<double> run(const Preprocess& p, std::vector<double> row) {
  Status st = p.apply(row);
  EXPECT_TRUE(st.ok()) << st.to_string();
  return row;
}

void expect_row(const std::vector<double>& got, const std::vector<double>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t k = 0; k < want.size(); ++k) EXPECT_NEAR(got[k], want[k], 1e-12) << "at " << k;
}

Preprocess linear_2x3(int64_t at) {
  Preprocess p;
  p.kind = Preprocess::Kind::kLinear;
  p.at = at;
  p.offset = {1, 2};
  p.matrix = {1, 0, 2,   // row of feature 0
              0, 1, -1};  // row of feature 1
  p.bias = {0.5, 0, 0};
  return p;
}

TEST(Preprocess, LinearMapChangesTheWidth) {
  // (x - offset) = [2, 3]; y = [2·1 + 0.5, 3·1, 2·2 - 3] = [2.5, 3, 1]
  const Preprocess p = linear_2x3(0);
  EXPECT_EQ(p.in_width(), 2);
  EXPECT_EQ(p.out_width(), 3);
  expect_row(run(p, {3, 5}), {2.5, 3, 1});
  // acting on columns 1..2 of a longer row, the others passed through
  expect_row(run(linear_2x3(1), {9, 3, 5, 7}), {9, 2.5, 3, 1, 7});
  std::vector<double> short_row = {3};
  EXPECT_EQ(p.apply(short_row).code(), StatusCode::kInvalidArgument);
}

TEST(Preprocess, OneHotExpandsEachColumn) {
  Preprocess p;
  p.kind = Preprocess::Kind::kOneHot;
  p.at = 1;
  p.width = 2;
  p.categories = {0, 2, 5};
  EXPECT_EQ(p.out_width(), 6);
  // 2 -> [0 1 0]; 7 unknown -> zeros; 2.7 truncates to 2 as onnxruntime's cast does
  expect_row(run(p, {-1, 2, 7}), {-1, 0, 1, 0, 0, 0, 0});
  expect_row(run(p, {4, 5, 2.7}), {4, 0, 0, 1, 0, 1, 0});
  p.zeros = false;
  std::vector<double> row = {-1, 2, 7};
  Status st = p.apply(row);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("column 2 holds 7"), std::string::npos) << st.message();
}

// OneHotEncoder(drop='first', handle_unknown='error'): the dropped category encodes to zeros
// without an error; an unknown one is still refused; the dropped list survives the JSON.
TEST(Preprocess, OneHotDroppedCategoriesAreKnownZeros) {
  Preprocess p;
  p.kind = Preprocess::Kind::kOneHot;
  p.width = 1;
  p.categories = {1, 2};  // 0 dropped
  p.dropped = {0};
  p.zeros = false;
  EXPECT_EQ(p.out_width(), 2);
  expect_row(run(p, {0}), {0, 0});
  expect_row(run(p, {2}), {0, 1});
  std::vector<double> row = {3};
  EXPECT_EQ(p.apply(row).code(), StatusCode::kInvalidArgument);
  ClientProcessing c;
  c.kind = ModelKind::kRegressor;
  c.features.resize(2);
  c.preprocess = {p};
  c.row_width = 1;
  c.output_scale = {1};
  c.output_offset = {0};
  auto back = ClientProcessing::from_json(c.to_json());
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  ASSERT_EQ(back->preprocess.size(), 1u);
  EXPECT_EQ(back->preprocess[0].dropped, (std::vector<int64_t>{0}));
  EXPECT_FALSE(back->preprocess[0].zeros);
}

TEST(Preprocess, NormalizerAndSelect) {
  Preprocess n;
  n.kind = Preprocess::Kind::kNormalizer;
  n.width = 2;
  n.norm = Preprocess::Norm::kL2;
  expect_row(run(n, {3, 4}), {0.6, 0.8});
  n.norm = Preprocess::Norm::kL1;
  expect_row(run(n, {1, -3}), {0.25, -0.75});
  n.norm = Preprocess::Norm::kMax;
  expect_row(run(n, {2, 4}), {0.5, 1});
  expect_row(run(n, {0, 0}), {0, 0});  // a zero norm leaves the row
  Preprocess s;
  s.kind = Preprocess::Kind::kSelect;
  s.indices = {2, 0, 2};
  expect_row(run(s, {10, 20, 30}), {30, 10, 30});
  std::vector<double> row = {1, 2};
  EXPECT_EQ(s.apply(row).code(), StatusCode::kInvalidArgument);
}

// A processing whose raw row is [a, b (int64)]: b one-hot encoded over {0, 1, 2}, a scaled;
// the encoders see 4 values.
ClientProcessing two_input_processing() {
  ClientProcessing p;
  p.kind = ModelKind::kRegressor;
  p.family = "linear";
  p.features.resize(4);
  for (auto& f : p.features) {
    f.quantizer.n_bits = 8;
    f.quantizer.scale = 0.01;
  }
  p.output_scale = {1};
  p.output_offset = {0};
  Preprocess sc;
  sc.kind = Preprocess::Kind::kScaler;
  sc.offset = {1};
  sc.scale = {0.5};
  Preprocess oh;
  oh.kind = Preprocess::Kind::kOneHot;
  oh.at = 1;
  oh.width = 1;
  oh.categories = {0, 1, 2};
  p.preprocess = {sc, oh};
  p.row_width = 2;
  p.inputs = {{"a", 0, 1, false}, {"b", 1, 1, true}};
  return p;
}

TEST(ClientProcessingJson, RawRowWidthAndStepsRoundTrip) {
  const ClientProcessing p = two_input_processing();
  EXPECT_EQ(p.feature_count(), 2);
  EXPECT_EQ(p.encoder_count(), 4);
  auto back = ClientProcessing::from_json(p.to_json());
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(back->feature_count(), 2);
  ASSERT_EQ(back->inputs.size(), 2u);
  EXPECT_TRUE(back->inputs[1].integer);
  auto row = back->preprocess_row(std::vector<double>{3, 2});
  ASSERT_TRUE(row.ok()) << row.status().to_string();
  expect_row(*row, {1, 0, 0, 1});  // (3 - 1)·0.5, then 2 -> [0 0 1]
  // an int64 input must hold integers; a row must have the raw width
  auto bad = back->encode_row(std::vector<double>{3, 1.5});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("input 'b'"), std::string::npos) << bad.status().message();
  EXPECT_FALSE(back->encode_row(std::vector<double>{3, 1, 0, 0}).ok());
  // a linear step round-trips its matrix
  ClientProcessing q = p;
  q.preprocess = {linear_2x3(0)};
  q.features.resize(3);
  q.inputs.clear();
  auto lq = ClientProcessing::from_json(q.to_json());
  ASSERT_TRUE(lq.ok()) << lq.status().to_string();
  auto lrow = lq->preprocess_row(std::vector<double>{3, 5});
  ASSERT_TRUE(lrow.ok());
  expect_row(*lrow, {2.5, 3, 1});
}

void expect_corrupted(const std::string& json, const std::string& fragment) {
  auto r = ClientProcessing::from_json(json);
  ASSERT_FALSE(r.ok()) << "accepted: " << json.substr(0, 200);
  EXPECT_EQ(r.status().code(), StatusCode::kCorrupted);
  EXPECT_NE(r.status().message().find(fragment), std::string::npos) << r.status().message();
}

std::string with(const std::string& features, const std::string& extra) {
  return "{\"model_kind\": \"regressor\", \"features\": [" + features +
         "], \"output\": {\"scale\": [1], \"offset\": [0]}" + extra + "}";
}
const std::string kQ = R"({"encoder": "quantize", "n_bits": 8, "signed": false, "scale": 1, "zero_point": 0})";

std::string repeat(const std::string& item, size_t n) {
  std::string s;
  for (size_t k = 0; k < n; ++k) s += (k ? "," : "") + item;
  return s;
}

TEST(ClientProcessingJson, RefusesAbsurdSizesAndWrongWidths) {
  // F·K = 5000 · 5000 coefficients: refused before the matrix is read
  expect_corrupted(with(repeat(kQ, 1), ", \"row_width\": 5000, \"preprocess\": [{\"op\": \"linear\", \"offset\": [" +
                                           repeat("0", 5000) + "], \"bias\": [" + repeat("0", 5000) +
                                           "], \"matrix\": []}]"),
                   "exceeds the limit of 16777216 coefficients");
  // one-hot: too many categories; width·categories beyond the row limit
  expect_corrupted(with(kQ, ", \"preprocess\": [{\"op\": \"onehot\", \"width\": 1, \"categories\": [" +
                                repeat("1", 65536) + "]}]"),
                   "more than the 65535 allowed");
  expect_corrupted(with(kQ, ", \"row_width\": 1, \"preprocess\": [{\"op\": \"onehot\", \"width\": 1000000, "
                            "\"categories\": [1, 2]}]"),
                   "exceed the row limit");
  // the chain must end at the encoders' count, read inside the row, select inside it
  expect_corrupted(with(kQ + "," + kQ, ", \"row_width\": 3, \"preprocess\": [{\"op\": \"scaler\", \"offset\": [0, 0, 0], "
                                       "\"scale\": [1, 1, 1]}]"),
                   "the preprocessing gives 3 values, the encoders take 2");
  expect_corrupted(with(kQ, ", \"preprocess\": [{\"op\": \"scaler\", \"at\": 1, \"offset\": [0], \"scale\": [1]}]"),
                   "reads columns 1..1 of a row of 1 values");
  expect_corrupted(with(kQ, ", \"row_width\": 2, \"preprocess\": [{\"op\": \"select\", \"indices\": [2]}]"),
                   "indices[0] = 2 is outside the row of 2 values");
  expect_corrupted(with(kQ, ", \"row_width\": 2"), "the row has 2 values, the encoders take 1");
  expect_corrupted(with(kQ, ", \"inputs\": [{\"name\": \"a\", \"columns\": 2, \"dtype\": \"float\"}]"),
                   "the inputs have 2 columns in all, the row 1");
  expect_corrupted(with(kQ, ", \"inputs\": [{\"name\": \"a\", \"columns\": 1, \"dtype\": \"bytes\"}]"),
                   "field 'dtype'");
  expect_corrupted(with(kQ, ", \"preprocess\": [{\"op\": \"linear\", \"offset\": [0], \"bias\": [0], \"matrix\": [[1, 2]]}]"),
                   "must be an array of 1 numbers");
  expect_corrupted(with(kQ, ", \"preprocess\": [{\"op\": \"labelencoder\"}]"), "field 'op'");
}

TEST(Preprocess, MapAndStringVocabulary) {
  Preprocess m;
  m.kind = Preprocess::Kind::kMap;
  m.at = 1;
  m.width = 2;
  m.keys = {4, 7};
  m.values = {0, 1};
  m.fallback = -1;
  expect_row(run(m, {4, 7, 4}), {4, 1, 0});
  expect_row(run(m, {4, 5, -1}), {4, -1, -1});
  // string cells: codes in the sorted vocabulary, -1 for a word not in it
  ClientProcessing p;
  p.vocabulary = {"blue", "green", "red"};
  EXPECT_EQ(p.string_code("blue"), 0);
  EXPECT_EQ(p.string_code("red"), 2);
  EXPECT_EQ(p.string_code("purple"), -1);
  const std::string voc = ", \"inputs\": [{\"name\": \"s\", \"columns\": 1, \"dtype\": \"string\"}], \"vocabulary\": ";
  auto ok = ClientProcessing::from_json(with(kQ, voc + "[\"a\", \"b\"]"));
  ASSERT_TRUE(ok.ok()) << ok.status().to_string();
  EXPECT_TRUE(ok->inputs[0].text);
  EXPECT_TRUE(ok->encode_row(std::vector<double>{1}).ok());
  EXPECT_TRUE(ok->encode_row(std::vector<double>{-1}).ok());  // an unknown word
  auto bad = ok->encode_row(std::vector<double>{2});           // no such code
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("not a vocabulary code"), std::string::npos) << bad.status().message();
  expect_corrupted(with(kQ, voc + "[\"b\", \"a\"]"), "not sorted and distinct");
  expect_corrupted(with(kQ, voc + "[\"" + std::string(1025, 'x') + "\"]"), "has 1025 bytes (at most 1024 each");
  expect_corrupted(with(kQ, ", \"preprocess\": [{\"op\": \"map\", \"width\": 1, \"keys\": [1, 2], \"values\": [0], "
                            "\"default\": -1}]"),
                   "'keys' and 'values' differ in length");
}

Attribute ints_attr(std::vector<int64_t> v) {
  Attribute a;
  a.kind = Attribute::Kind::kInts;
  a.ints = std::move(v);
  return a;
}
Attribute int_attr(int64_t v) {
  Attribute a;
  a.kind = Attribute::Kind::kInt;
  a.i = v;
  return a;
}

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

TEST(FloatInterpreter, OneHotEncoderAndGather) {
  OnnxGraph g;
  g.opset = 21;
  g.ml_opset = 5;
  g.inputs = {{"X", 7, {-1, 2}, true}};
  g.int_initializers["i"] = IntTensor{{1}, {-1}};
  OnnxNode oh = node("oh", "OneHotEncoder", {"X"}, {"Y"}, "ai.onnx.ml");
  oh.attributes["cats_int64s"] = ints_attr({1, 3});
  OnnxNode ga = node("ga", "Gather", {"X", "i"}, {"G"});
  ga.attributes["axis"] = int_attr(1);
  g.nodes = {oh, ga};
  g.outputs = {{"Y", 1, {}, false}, {"G", 7, {}, false}};
  auto r = evaluate_float(g, {{"X", FloatTensor{{2, 2}, {3, 1, 2, 1}}}});
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  const FloatTensor& y = r->at("Y");
  EXPECT_EQ(y.shape, (std::vector<int64_t>{2, 2, 2}));
  EXPECT_EQ(y.data, (std::vector<double>{0, 1, 1, 0, 0, 0, 1, 0}));  // 3 -> [0 1], 1 -> [1 0], 2 -> zeros
  const FloatTensor& gt = r->at("G");
  EXPECT_EQ(gt.shape, (std::vector<int64_t>{2, 1}));
  EXPECT_EQ(gt.data, (std::vector<double>{1, 1}));  // index -1: the last column
  g.nodes[0].attributes["zeros"] = int_attr(0);
  auto e = evaluate_float(g, {{"X", FloatTensor{{2, 2}, {3, 1, 2, 1}}}});
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("node 'oh' (OneHotEncoder)"), std::string::npos) << e.status().message();
}

// A string input held as codes in the graph's vocabulary (["a", "b", "c"]): LabelEncoder maps
// the words' codes to its values, the default for an unknown word (-1); OneHotEncoder's
// cats_strings match by code.
TEST(FloatInterpreter, LabelEncoderAndStringCategories) {
  OnnxGraph g;
  g.opset = 21;
  g.ml_opset = 5;
  g.inputs = {{"S", 8, {-1, 1}, true}};
  OnnxNode le = node("le", "LabelEncoder", {"S"}, {"L"}, "ai.onnx.ml");
  Attribute keys, vals;
  keys.kind = Attribute::Kind::kStrings;
  keys.strings = {"c", "a"};
  vals = ints_attr({10, 20});
  le.attributes["keys_strings"] = keys;
  le.attributes["values_int64s"] = vals;
  le.attributes["default_int64"] = int_attr(-7);
  OnnxNode oh = node("oh", "OneHotEncoder", {"S"}, {"O"}, "ai.onnx.ml");
  Attribute cats;
  cats.kind = Attribute::Kind::kStrings;
  cats.strings = {"b", "c"};
  oh.attributes["cats_strings"] = cats;
  g.nodes = {le, oh};
  g.outputs = {{"L", 7, {}, false}, {"O", 1, {}, false}};
  EXPECT_EQ(string_vocabulary(g), (std::vector<std::string>{"a", "b", "c"}));
  // rows: "c" (2), "a" (0), "b" (1), an unknown word (-1)
  auto r = evaluate_float(g, {{"S", FloatTensor{{4, 1}, {2, 0, 1, -1}}}});
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->at("L").data, (std::vector<double>{10, 20, -7, -7}));
  EXPECT_EQ(r->at("O").data, (std::vector<double>{0, 1, 0, 0, 1, 0, 0, 0}));
  EXPECT_FALSE(evaluate_float(g, {{"S", FloatTensor{{1, 1}, {3}}}}).ok());  // no such code
}

// A ColumnTransformer's shape on two graph inputs: a float [N, 1] scaled, b int64 [N, 1]
// one-hot encoded over {0, 1, 2} (OneHotEncoder -> [N, 1, 3] -> Reshape [-1, 3]), Concat(axis=1)
// -> LinearRegressor y = a' + 10·[b=0] + 20·[b=1] + 30·[b=2].
TEST(CompileModel, TwoGraphInputsConcatenatedOnTheClient) {
  OnnxGraph g;
  g.opset = 21;
  g.ml_opset = 5;
  g.inputs = {{"a", 1, {-1, 1}, true}, {"b", 7, {-1, 1}, true}};
  g.int_initializers["shape"] = IntTensor{{2}, {-1, 3}};
  OnnxNode sc = node("scale_a", "Scaler", {"a"}, {"a2"}, "ai.onnx.ml");
  Attribute off, scl;
  off.kind = scl.kind = Attribute::Kind::kFloats;
  off.floats = {1};
  scl.floats = {2};
  sc.attributes["offset"] = off;
  sc.attributes["scale"] = scl;
  OnnxNode oh = node("onehot_b", "OneHotEncoder", {"b"}, {"b3"}, "ai.onnx.ml");
  oh.attributes["cats_int64s"] = ints_attr({0, 1, 2});
  OnnxNode rs = node("reshape_b", "Reshape", {"b3", "shape"}, {"b2"});
  OnnxNode cc = node("concat", "Concat", {"a2", "b2"}, {"x"});
  cc.attributes["axis"] = int_attr(1);
  OnnxNode lr = node("lin", "LinearRegressor", {"x"}, {"y"}, "ai.onnx.ml");
  Attribute coef, icpt;
  coef.kind = icpt.kind = Attribute::Kind::kFloats;
  coef.floats = {1, 10, 20, 30};
  icpt.floats = {0};
  lr.attributes["coefficients"] = coef;
  lr.attributes["intercepts"] = icpt;
  g.nodes = {sc, oh, rs, cc, lr};
  g.outputs = {{"y", 1, {-1, 1}, true}};
  Rows calibration;
  for (int k = 0; k < 30; ++k) calibration.push_back({0.1 * k, static_cast<double>(k % 3)});
  auto m = compile_model(g, calibration);
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  EXPECT_EQ(m->processing.feature_count(), 2);
  EXPECT_EQ(m->processing.encoder_count(), 4);
  ASSERT_EQ(m->processing.inputs.size(), 2u);
  EXPECT_NE(m->report.find("node 'onehot_b' (OneHotEncoder) runs on the client"), std::string::npos) << m->report;
  // y = (a - 1)·2 + 10/20/30
  const Rows rows = {{1.5, 0}, {2.0, 2}, {0.5, 1}};
  const double want[] = {1 + 10, 2 + 30, -1 + 20};
  auto p = predict_clear(*m, rows);
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  auto f = predict_float(g, m->processing, rows);
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  for (size_t r = 0; r < rows.size(); ++r) {
    EXPECT_NEAR((*f)[r].values[0], want[r], 1e-5) << r;
    EXPECT_NEAR((*p)[r].values[0], want[r], 0.3) << r;  // 8-bit inputs and weights
  }
  // the JSON the client receives reproduces it
  auto back = ClientProcessing::from_json(m->processing.to_json());
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  auto e0 = back->encode_row(rows[1]);
  auto e1 = m->processing.encode_row(rows[1]);
  ASSERT_TRUE(e0.ok() && e1.ok());
  EXPECT_EQ(e0->data, e1->data);
  // the graph's int64 input: a non-integer is refused naming it
  auto bad = predict_clear(*m, Rows{{1.0, 0.5}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("input 'b'"), std::string::npos) << bad.status().message();
}

}  // namespace
}  // namespace blindml::model
