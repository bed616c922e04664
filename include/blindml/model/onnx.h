// ONNX import: a model file parsed with ONNX's protobuf schema into a small, validated graph the
// model families lower from, and a float reference interpreter of the supported ops.
//
// Supported (opsets 9..21, default domain): Gemm, MatMul, Add, Sub, Mul, Div, Relu, LeakyRelu,
// Sigmoid, Tanh, Softmax, Clip, Identity, Flatten, Reshape, Transpose, Concat, Constant,
// BatchNormalization; ai.onnx.ml (opsets 1..5): LinearClassifier, LinearRegressor,
// TreeEnsembleClassifier, TreeEnsembleRegressor, Normalizer, ZipMap, Cast. Tensors: float32
// (and float64, converted), int64 and int32 (shapes, labels; int32 widened). Anything else is an error naming the node,
// its op and what is unsupported (op, attribute, attribute value, dtype, opset).
//
// Thread safety: an OnnxGraph is immutable after loading; the functions are pure.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <utility>
#include <string>
#include <tuple>
#include <vector>

#include "blindml/base/status.h"
#include "blindml/model/processing.h"

namespace blindml::model {

// A dense tensor of floats (float32/float64 in the file) or int64s, row-major.
struct FloatTensor {
  std::vector<int64_t> shape;
  std::vector<double> data;
};
struct IntTensor {
  std::vector<int64_t> shape;
  std::vector<int64_t> data;
};

struct Attribute {
  enum class Kind : uint8_t { kInt, kFloat, kString, kInts, kFloats, kStrings, kTensor };
  Kind kind;
  int64_t i = 0;
  double f = 0;
  std::string s;
  std::vector<int64_t> ints;
  std::vector<double> floats;
  std::vector<std::string> strings;
  FloatTensor tensor;      // kTensor with a float dtype
  IntTensor int_tensor;    // kTensor with an int64 dtype
  bool tensor_is_int = false;
};

struct OnnxNode {
  std::string name;        // the file's name, or "<op_type>_<index>" when it has none
  std::string op_type;
  std::string domain;      // "" (ai.onnx) or "ai.onnx.ml"
  std::vector<std::string> inputs;   // value names; "" for an omitted optional input
  std::vector<std::string> outputs;
  std::map<std::string, Attribute> attributes;

  const Attribute* attribute(const std::string& key) const;
  // Typed getters with a default; an attribute of the wrong kind is reported by validation.
  int64_t int_attr(const std::string& key, int64_t fallback) const;
  double float_attr(const std::string& key, double fallback) const;
  std::string string_attr(const std::string& key, const std::string& fallback) const;
};

struct ValueInfo {
  std::string name;
  int32_t elem_type = 0;              // ONNX TensorProto.DataType (1 float, 7 int64, 11 double, 8 string)
  std::vector<int64_t> shape;         // -1 for a symbolic or unknown dimension
  bool has_shape = false;             // false when the file gives no shape (rank unknown)
};

struct OnnxGraph {
  int64_t opset = 0;                  // default domain
  int64_t ml_opset = 0;               // ai.onnx.ml, 0 when not imported
  std::string producer;               // producer_name + " " + producer_version
  std::vector<ValueInfo> inputs;      // graph inputs that are not initializers
  std::vector<ValueInfo> outputs;
  std::vector<OnnxNode> nodes;        // topologically sorted (validated)
  std::map<std::string, FloatTensor> float_initializers;  // including Constant nodes' values
  std::map<std::string, IntTensor> int_initializers;
};

// Parses and validates: protobuf well-formed, opset ranges, every node supported with supported
// attributes and dtypes, every value defined before use, initializer sizes consistent with their
// shapes. max_bytes bounds the file size (resource_exhausted beyond it).
Result<OnnxGraph> load_onnx(std::span<const uint8_t> bytes, uint64_t max_bytes = uint64_t{1} << 30);
Result<OnnxGraph> load_onnx_file(const std::string& path, uint64_t max_bytes = uint64_t{1} << 30);

// An SVMRegressor with a LINEAR kernel as a linear map (weights, intercept): Σ_i c_i·s_i and rho.
Result<std::pair<std::vector<double>, double>> svm_linear_weights(const OnnxNode& node);

// An SVMClassifier with a LINEAR kernel (skl2onnx's SVC(kernel="linear")): one decision value per
// one-vs-one pair of classes, d_p(x) = <w_p, x> + b_p, the support vectors folded into w_p
// (docs/onnx.md). Pairs in libsvm's order (0,1), (0,2), ..., (0,k-1), (1,2), ...; d_p > 0 votes for
// the pair's first class. Validates every attribute and bounds every count first.
struct SvmClassifierForm {
  int64_t classes = 0;   // k >= 2
  int64_t features = 0;
  std::vector<double> w;  // [pairs, features], pairs = k(k-1)/2
  std::vector<double> b;  // [pairs]: rho
  std::vector<double> prob_a, prob_b;  // empty, or one per pair (probability=True: Platt scaling)
  std::vector<int64_t> labels;         // classlabels_ints (empty when the labels are strings)
  bool string_labels = false;
  int64_t pairs() const { return classes * (classes - 1) / 2; }
};
Result<SvmClassifierForm> svm_classifier_form(const OnnxNode& node);

// The preprocessing a leading Scaler / Imputer node applies (processing.h), for `features`
// columns; invalid_argument on other ops or mismatched lengths.
Result<Preprocess> preprocess_of(const OnnxNode& node, int64_t features);

// The strings of a graph's string-keyed encoders (OneHotEncoder cats_strings, LabelEncoder
// keys_strings), sorted and distinct. A string input's values are held as codes in it (the index;
// -1 for a string not in it): evaluate_float takes string inputs so, and the client maps its
// string cells so (ClientProcessing::vocabulary).
std::vector<std::string> string_vocabulary(const OnnxGraph& graph);

// A LabelEncoder (ai.onnx.ml) as a numeric map: keys (string keys as their codes in `vocabulary`,
// or their positions when it is null), values and the default; string values are refused.
Result<std::tuple<std::vector<double>, std::vector<double>, double>> label_encoder_map(
    const OnnxNode& node, const std::vector<std::string>* vocabulary);

// The float reference: runs the graph on one batch (inputs by graph-input name, shape [batch,
// features] or as declared) and returns every value computed (by name), including the graph
// outputs. ZipMap outputs are returned as their probability tensor; string labels are not
// produced (class labels are read from the classifier's attributes instead).
Result<std::map<std::string, FloatTensor>> evaluate_float(const OnnxGraph& graph,
                                                          const std::map<std::string, FloatTensor>& inputs);

}  // namespace blindml::model
