// ONNX import and the float reference interpreter. The supported subset, its conventions and the
// error messages' form are specified in docs/onnx.md; this file follows it section by section:
// protobuf decoding, per-operator validation, then evaluation.
#include "blindml/model/onnx.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <numeric>
#include <optional>
#include <set>
#include <sstream>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "blindml/base/checked.h"
#include "onnx/onnx_pb.h"

namespace blindml::model {

// ---------------------------------------------------------------------------------------------
// OnnxNode accessors
// ---------------------------------------------------------------------------------------------

const Attribute* OnnxNode::attribute(const std::string& key) const {
  auto it = attributes.find(key);
  return it == attributes.end() ? nullptr : &it->second;
}

int64_t OnnxNode::int_attr(const std::string& key, int64_t fallback) const {
  const Attribute* a = attribute(key);
  return a != nullptr && a->kind == Attribute::Kind::kInt ? a->i : fallback;
}

double OnnxNode::float_attr(const std::string& key, double fallback) const {
  const Attribute* a = attribute(key);
  return a != nullptr && a->kind == Attribute::Kind::kFloat ? a->f : fallback;
}

std::string OnnxNode::string_attr(const std::string& key, const std::string& fallback) const {
  const Attribute* a = attribute(key);
  return a != nullptr && a->kind == Attribute::Kind::kString ? a->s : fallback;
}

namespace {

using Kind = Attribute::Kind;

constexpr int64_t kMinOpset = 9;
constexpr int64_t kMaxOpset = 21;  // the supported ops' semantics are unchanged 13..21 for our use
constexpr int64_t kMinMlOpset = 1;
constexpr int64_t kMaxMlOpset = 5;  // ml 4 and 5 change LabelEncoder and add TreeEnsemble only
// Bound on the elements of any tensor the interpreter materialises (8 bytes each).
constexpr uint64_t kMaxElements = uint64_t{1} << 28;

constexpr int32_t kFloat = 1;
constexpr int32_t kUint8 = 2;
constexpr int32_t kInt32 = 6;
constexpr int32_t kInt64 = 7;
constexpr int32_t kString = 8;
constexpr int32_t kDouble = 11;

// OneHotEncoder: categories per encoder (skl2onnx writes one encoder per column); LabelEncoder:
// keys per encoder.
constexpr size_t kMaxCategories = 65535;
constexpr size_t kMaxLabels = size_t{1} << 20;

const char* const kSupportedOps =
    "Gemm, MatMul, Add, Sub, Mul, Div, Relu, LeakyRelu, Sigmoid, Tanh, Softmax, Clip, Identity, "
    "Flatten, Reshape, Transpose, Concat, Constant, BatchNormalization, Cast, ArgMax, Pow, Exp, ReduceSum, "
    "ReduceLogSumExp, Gather (constant indices); ai.onnx.ml: OneHotEncoder, LabelEncoder (numeric values), "
    "LinearClassifier, LinearRegressor, TreeEnsembleClassifier, TreeEnsembleRegressor, TreeEnsemble (ml 5), "
    "Normalizer, ZipMap, ArrayFeatureExtractor, Scaler, Imputer (floats), SVMRegressor (LINEAR kernel), "
    "SVMClassifier (LINEAR kernel; with its skl2onnx tail: Less, Neg, Abs, Sum)";

std::string dtype_name(int32_t t) {
  switch (t) {
    case 0: return "undefined";
    case 1: return "float32";
    case 2: return "uint8";
    case 3: return "int8";
    case 4: return "uint16";
    case 5: return "int16";
    case 6: return "int32";
    case 7: return "int64";
    case 8: return "string";
    case 9: return "bool";
    case 10: return "float16";
    case 11: return "float64";
    case 12: return "uint32";
    case 13: return "uint64";
    case 14: return "complex64";
    case 15: return "complex128";
    case 16: return "bfloat16";
    default: return "dtype " + std::to_string(t);
  }
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) s += ',';
    s += std::to_string(shape[i]);
  }
  s += ']';
  return s;
}

std::string node_prefix(const OnnxNode& n) { return "node '" + n.name + "' (" + n.op_type + "): "; }

Status node_error(StatusCode code, const OnnxNode& n, const std::string& what) {
  return Status(code, node_prefix(n) + what);
}

// Number of elements of a shape, overflow-checked and bounded; nullopt for negative dims too.
std::optional<uint64_t> element_count(const std::vector<int64_t>& shape, uint64_t limit = kMaxElements) {
  uint64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return std::nullopt;
    auto m = checked_mul(n, static_cast<uint64_t>(d));
    if (!m || *m > limit) return std::nullopt;
    n = *m;
  }
  return n;
}

// ---------------------------------------------------------------------------------------------
// Protobuf decoding
// ---------------------------------------------------------------------------------------------

template <typename T>
T read_le(const std::string& raw, size_t index) {
  T v;
  std::memcpy(&v, raw.data() + index * sizeof(T), sizeof(T));  // x86-64 and aarch64: little-endian
  return v;
}

// A uint8 tensor (TreeEnsemble's nodes_modes), widened to int64: raw_data holds one byte per
// element, the typed form int32_data (each value must fit a byte).
Status decode_uint8_tensor(const onnx::TensorProto& t, const std::string& what, IntTensor* i, bool* is_int) {
  std::vector<int64_t> shape(t.dims().begin(), t.dims().end());
  for (int64_t d : shape) {
    if (d < 0) return corrupted(what + ": negative dimension in shape " + shape_string(shape));
  }
  const auto count = element_count(shape, std::numeric_limits<uint64_t>::max() / 16);
  if (!count) return corrupted(what + ": shape " + shape_string(shape) + " overflows");
  const bool raw = t.has_raw_data();
  const uint64_t have = raw ? t.raw_data().size() : static_cast<uint64_t>(t.int32_data_size());
  if (have != *count) {
    return corrupted(what + ": shape " + shape_string(shape) + " needs " + std::to_string(*count) +
                     " elements but the tensor holds " + std::to_string(have));
  }
  *is_int = true;
  i->shape = std::move(shape);
  i->data.resize(*count);
  for (uint64_t k = 0; k < *count; ++k) {
    const int64_t v = raw ? static_cast<uint8_t>(t.raw_data()[k]) : t.int32_data(static_cast<int>(k));
    if (v < 0 || v > 255) return corrupted(what + ": uint8 element " + std::to_string(k) + " holds " + std::to_string(v));
    i->data[k] = v;
  }
  return Status::ok_status();
}

// Decodes a TensorProto of float32/float64 (into *f) or int64 (into *i, *is_int = true).
// `what` names the tensor in messages ("initializer 'W'", "attribute 'value' of node ...").
Status decode_tensor(const onnx::TensorProto& t, const std::string& what, FloatTensor* f, IntTensor* i,
                     bool* is_int, bool allow_uint8 = false) {
  if (t.has_data_location() && t.data_location() == onnx::TensorProto_DataLocation_EXTERNAL) {
    return unimplemented(what + ": external data is not supported (save the model with its tensors inline)");
  }
  if (t.has_segment()) return unimplemented(what + ": segmented tensors are not supported");
  const int32_t dt = t.data_type();
  if (dt == kUint8 && allow_uint8) return decode_uint8_tensor(t, what, i, is_int);
  if (dt != kFloat && dt != kDouble && dt != kInt64 && dt != kInt32) {
    return unimplemented(what + ": dtype " + dtype_name(dt) +
                         " is not supported (supported: float32, float64, int64, int32)");
  }
  std::vector<int64_t> shape(t.dims().begin(), t.dims().end());
  for (int64_t d : shape) {
    if (d < 0) return corrupted(what + ": negative dimension in shape " + shape_string(shape));
  }
  const auto count = element_count(shape, std::numeric_limits<uint64_t>::max() / 16);
  if (!count) return corrupted(what + ": shape " + shape_string(shape) + " overflows");
  const size_t elem_size = dt == kFloat || dt == kInt32 ? 4 : 8;
  const bool raw = t.has_raw_data();
  uint64_t have = 0;
  if (raw) {
    if (t.raw_data().size() % elem_size != 0) {
      return corrupted(what + ": raw_data of " + std::to_string(t.raw_data().size()) +
                       " bytes is not a multiple of the element size " + std::to_string(elem_size));
    }
    have = t.raw_data().size() / elem_size;
  } else {
    have = dt == kFloat   ? t.float_data_size()
           : dt == kDouble ? t.double_data_size()
           : dt == kInt32  ? t.int32_data_size()
                           : t.int64_data_size();
  }
  if (have != *count) {
    return corrupted(what + ": shape " + shape_string(shape) + " needs " + std::to_string(*count) +
                     " elements but the tensor holds " + std::to_string(have));
  }
  if (dt == kInt64 || dt == kInt32) {
    // int32 (as some exporters write shapes and indices) widened to int64.
    *is_int = true;
    i->shape = std::move(shape);
    i->data.resize(*count);
    for (uint64_t k = 0; k < *count; ++k) {
      if (dt == kInt32) {
        i->data[k] = raw ? read_le<int32_t>(t.raw_data(), k) : t.int32_data(static_cast<int>(k));
      } else {
        i->data[k] = raw ? read_le<int64_t>(t.raw_data(), k) : t.int64_data(static_cast<int>(k));
      }
    }
  } else {
    *is_int = false;
    f->shape = std::move(shape);
    f->data.resize(*count);
    for (uint64_t k = 0; k < *count; ++k) {
      if (dt == kFloat) {
        f->data[k] = raw ? read_le<float>(t.raw_data(), k) : t.float_data(static_cast<int>(k));
      } else {
        f->data[k] = raw ? read_le<double>(t.raw_data(), k) : t.double_data(static_cast<int>(k));
      }
    }
  }
  return Status::ok_status();
}

Status decode_attribute(const onnx::AttributeProto& a, const OnnxNode& node, Attribute* out) {
  const std::string what = "attribute '" + a.name() + "'";
  if (a.has_ref_attr_name()) {
    return node_error(StatusCode::kUnimplemented, node, what + " refers to a function attribute (not supported)");
  }
  auto type = a.type();
  if (type == onnx::AttributeProto_AttributeType_UNDEFINED) {  // IR < 3 writers: infer from the field set
    if (a.has_f()) type = onnx::AttributeProto_AttributeType_FLOAT;
    else if (a.has_i()) type = onnx::AttributeProto_AttributeType_INT;
    else if (a.has_s()) type = onnx::AttributeProto_AttributeType_STRING;
    else if (a.has_t()) type = onnx::AttributeProto_AttributeType_TENSOR;
    else if (a.floats_size()) type = onnx::AttributeProto_AttributeType_FLOATS;
    else if (a.ints_size()) type = onnx::AttributeProto_AttributeType_INTS;
    else if (a.strings_size()) type = onnx::AttributeProto_AttributeType_STRINGS;
    else return node_error(StatusCode::kInvalidArgument, node, what + " has no type and no value");
  }
  switch (type) {
    case onnx::AttributeProto_AttributeType_FLOAT:
      out->kind = Kind::kFloat;
      out->f = a.f();
      break;
    case onnx::AttributeProto_AttributeType_INT:
      out->kind = Kind::kInt;
      out->i = a.i();
      break;
    case onnx::AttributeProto_AttributeType_STRING:
      out->kind = Kind::kString;
      out->s = a.s();
      break;
    case onnx::AttributeProto_AttributeType_FLOATS:
      out->kind = Kind::kFloats;
      out->floats.assign(a.floats().begin(), a.floats().end());
      break;
    case onnx::AttributeProto_AttributeType_INTS:
      out->kind = Kind::kInts;
      out->ints.assign(a.ints().begin(), a.ints().end());
      break;
    case onnx::AttributeProto_AttributeType_STRINGS:
      out->kind = Kind::kStrings;
      out->strings.assign(a.strings().begin(), a.strings().end());
      break;
    case onnx::AttributeProto_AttributeType_TENSOR: {
      out->kind = Kind::kTensor;
      Status s = decode_tensor(a.t(), node_prefix(node) + what, &out->tensor, &out->int_tensor, &out->tensor_is_int,
                               /*allow_uint8=*/true);
      if (!s.ok()) return s;
      break;
    }
    default:
      return node_error(StatusCode::kUnimplemented, node,
                        what + " has type " + onnx::AttributeProto_AttributeType_Name(type) +
                            " (graphs, sparse tensors, tensor lists and type protos are not supported)");
  }
  return Status::ok_status();
}

Status decode_value_info(const onnx::ValueInfoProto& v, const char* role, bool require_tensor, ValueInfo* out) {
  out->name = v.name();
  if (!v.has_type() || !v.type().has_tensor_type()) {
    if (require_tensor) {
      return unimplemented(std::string(role) + " '" + v.name() + "' is not a tensor (sequences and maps are not supported)");
    }
    return Status::ok_status();  // e.g. ZipMap's sequence-of-maps output
  }
  const auto& tt = v.type().tensor_type();
  out->elem_type = tt.elem_type();
  if (tt.has_shape()) {
    out->has_shape = true;
    for (const auto& d : tt.shape().dim()) out->shape.push_back(d.has_dim_value() ? d.dim_value() : -1);
  }
  return Status::ok_status();
}

// ---------------------------------------------------------------------------------------------
// Tree ensembles: decoded from the attributes for validation and for evaluation.
// ---------------------------------------------------------------------------------------------

enum class Mode : uint8_t { kLeq, kLt, kGte, kGt, kEq, kNeq, kLeaf };
enum class Transform : uint8_t { kNone, kLogistic, kSoftmax, kSoftmaxZero };
enum class Aggregate : uint8_t { kSum, kAverage, kMin, kMax };

struct TreeNode {
  int64_t feature = 0;
  double threshold = 0;
  Mode mode = Mode::kLeaf;
  int64_t true_child = -1;  // indices into TreeEnsemble::nodes
  int64_t false_child = -1;
  bool missing_tracks_true = false;
  std::vector<std::pair<int64_t, double>> weights;  // (target or class id, weight)
};

struct TreeEnsemble {
  bool classifier = false;
  std::vector<TreeNode> nodes;
  std::vector<int64_t> roots;      // one per tree
  int64_t n_outputs = 0;           // targets, or class labels
  std::vector<double> base_values;
  Transform transform = Transform::kNone;
  Aggregate aggregate = Aggregate::kSum;
  int64_t max_feature = -1;
  // Classifier with two labels whose leaves vote for one class id only: that column is the
  // positive class's score and the negative class's is derived (docs/onnx.md).
  bool single_column = false;
  bool weights_all_positive = true;
};

Result<Transform> parse_transform(const OnnxNode& node, bool allow_softmax) {
  const std::string t = node.string_attr("post_transform", "NONE");
  if (t == "NONE") return Transform::kNone;
  if (t == "LOGISTIC") return Transform::kLogistic;
  if (allow_softmax && t == "SOFTMAX") return Transform::kSoftmax;
  if (allow_softmax && t == "SOFTMAX_ZERO") return Transform::kSoftmaxZero;
  return node_error(StatusCode::kUnimplemented, node,
                    "attribute 'post_transform' = '" + t + "' is not supported (supported: NONE, LOGISTIC" +
                        (allow_softmax ? ", SOFTMAX, SOFTMAX_ZERO)" : ")"));
}

// The float list `key`, or its `key_as_tensor` twin (ai.onnx.ml opset 3, float64 values).
Result<std::vector<double>> floats_or_tensor(const OnnxNode& node, const std::string& key) {
  const Attribute* a = node.attribute(key);
  const Attribute* t = node.attribute(key + "_as_tensor");
  if (a != nullptr && t != nullptr) {
    return node_error(StatusCode::kInvalidArgument, node, "both '" + key + "' and '" + key + "_as_tensor' are set");
  }
  if (t != nullptr) {
    if (t->tensor_is_int) return node_error(StatusCode::kInvalidArgument, node, "'" + key + "_as_tensor' must be a float tensor");
    return t->tensor.data;
  }
  if (a != nullptr) return a->floats;
  return std::vector<double>{};
}

std::vector<int64_t> ints_of(const OnnxNode& node, const std::string& key) {
  const Attribute* a = node.attribute(key);
  return a != nullptr ? a->ints : std::vector<int64_t>{};
}

std::vector<std::string> strings_of(const OnnxNode& node, const std::string& key) {
  const Attribute* a = node.attribute(key);
  return a != nullptr ? a->strings : std::vector<std::string>{};
}

int64_t class_label_count(const OnnxNode& node) {
  return static_cast<int64_t>(std::max(ints_of(node, "classlabels_int64s").size() + ints_of(node, "classlabels_ints").size(),
                                       strings_of(node, "classlabels_strings").size()));
}

Result<TreeEnsemble> parse_tree_ensemble(const OnnxNode& node) {
  TreeEnsemble e;
  e.classifier = node.op_type == "TreeEnsembleClassifier";
  auto bad = [&](const std::string& what) { return node_error(StatusCode::kInvalidArgument, node, what); };

  const auto treeids = ints_of(node, "nodes_treeids");
  const auto nodeids = ints_of(node, "nodes_nodeids");
  const auto featureids = ints_of(node, "nodes_featureids");
  const auto modes = strings_of(node, "nodes_modes");
  const auto trueids = ints_of(node, "nodes_truenodeids");
  const auto falseids = ints_of(node, "nodes_falsenodeids");
  const auto missing = ints_of(node, "nodes_missing_value_tracks_true");
  BLINDML_ASSIGN_OR_RETURN(auto values, floats_or_tensor(node, "nodes_values"));
  BLINDML_ASSIGN_OR_RETURN(auto hitrates, floats_or_tensor(node, "nodes_hitrates"));
  const size_t n = treeids.size();
  if (n == 0) return bad("attribute 'nodes_treeids' is empty: the ensemble has no nodes");
  auto same = [&](size_t size, const char* name, bool optional) -> Status {
    if (size == n || (optional && size == 0)) return Status::ok_status();
    return bad(std::string("attribute '") + name + "' has " + std::to_string(size) + " entries, expected " +
               std::to_string(n) + " (one per node)");
  };
  BLINDML_RETURN_IF_ERROR(same(nodeids.size(), "nodes_nodeids", false));
  BLINDML_RETURN_IF_ERROR(same(featureids.size(), "nodes_featureids", false));
  BLINDML_RETURN_IF_ERROR(same(modes.size(), "nodes_modes", false));
  BLINDML_RETURN_IF_ERROR(same(trueids.size(), "nodes_truenodeids", false));
  BLINDML_RETURN_IF_ERROR(same(falseids.size(), "nodes_falsenodeids", false));
  BLINDML_RETURN_IF_ERROR(same(values.size(), "nodes_values", false));
  BLINDML_RETURN_IF_ERROR(same(missing.size(), "nodes_missing_value_tracks_true", true));
  BLINDML_RETURN_IF_ERROR(same(hitrates.size(), "nodes_hitrates", true));  // no effect on results

  std::map<std::pair<int64_t, int64_t>, int64_t> index;  // (tree, node id) -> index
  e.nodes.resize(n);
  for (size_t k = 0; k < n; ++k) {
    if (!index.emplace(std::make_pair(treeids[k], nodeids[k]), static_cast<int64_t>(k)).second) {
      return bad("node id " + std::to_string(nodeids[k]) + " appears twice in tree " + std::to_string(treeids[k]));
    }
    TreeNode& t = e.nodes[k];
    const std::string& m = modes[k];
    if (m == "BRANCH_LEQ") t.mode = Mode::kLeq;
    else if (m == "BRANCH_LT") t.mode = Mode::kLt;
    else if (m == "BRANCH_GTE") t.mode = Mode::kGte;
    else if (m == "BRANCH_GT") t.mode = Mode::kGt;
    else if (m == "BRANCH_EQ") t.mode = Mode::kEq;
    else if (m == "BRANCH_NEQ") t.mode = Mode::kNeq;
    else if (m == "LEAF") t.mode = Mode::kLeaf;
    else return node_error(StatusCode::kUnimplemented, node, "attribute 'nodes_modes' has unsupported mode '" + m + "'");
    t.threshold = values[k];
    t.feature = featureids[k];
    t.missing_tracks_true = !missing.empty() && missing[k] != 0;
    if (t.mode != Mode::kLeaf) {
      if (t.feature < 0) return bad("node " + std::to_string(nodeids[k]) + " of tree " + std::to_string(treeids[k]) + " has negative feature id");
      e.max_feature = std::max(e.max_feature, t.feature);
    }
  }
  // Children, then roots: the nodes of a tree that no node of that tree points to.
  std::vector<char> is_child(n, 0);
  for (size_t k = 0; k < n; ++k) {
    TreeNode& t = e.nodes[k];
    if (t.mode == Mode::kLeaf) continue;
    for (int side = 0; side < 2; ++side) {
      const int64_t id = side == 0 ? trueids[k] : falseids[k];
      auto it = index.find({treeids[k], id});
      if (it == index.end()) {
        return bad("node " + std::to_string(nodeids[k]) + " of tree " + std::to_string(treeids[k]) +
                   " points to missing node " + std::to_string(id));
      }
      (side == 0 ? t.true_child : t.false_child) = it->second;
      is_child[it->second] = 1;
    }
  }
  std::map<int64_t, int64_t> root_of_tree;
  for (size_t k = 0; k < n; ++k) {
    if (is_child[k]) continue;
    if (!root_of_tree.emplace(treeids[k], static_cast<int64_t>(k)).second) {
      return bad("tree " + std::to_string(treeids[k]) + " has more than one root (unreachable nodes)");
    }
  }
  for (const auto& [tree, root] : root_of_tree) e.roots.push_back(root);
  if (root_of_tree.size() != std::set<int64_t>(treeids.begin(), treeids.end()).size()) {
    return bad("a tree has no root (its nodes form a cycle)");
  }
  // Cycle check: iterative DFS, 0 = unseen, 1 = on the stack, 2 = done.
  std::vector<char> color(n, 0);
  for (int64_t root : e.roots) {
    std::vector<std::pair<int64_t, int>> stack{{root, 0}};
    color[root] = 1;
    while (!stack.empty()) {
      auto& [k, side] = stack.back();
      const TreeNode& t = e.nodes[k];
      if (t.mode == Mode::kLeaf || side == 2) {
        color[k] = 2;
        stack.pop_back();
        continue;
      }
      const int64_t child = side == 0 ? t.true_child : t.false_child;
      ++side;
      if (color[child] == 1) return bad("the nodes of tree " + std::to_string(treeids[k]) + " form a cycle");
      if (color[child] == 0) {
        color[child] = 1;
        stack.emplace_back(child, 0);
      }
    }
  }

  // Leaf votes.
  const std::string p = e.classifier ? "class_" : "target_";
  const auto w_tree = ints_of(node, p + "treeids");
  const auto w_node = ints_of(node, p + "nodeids");
  const auto w_id = ints_of(node, p + "ids");
  BLINDML_ASSIGN_OR_RETURN(auto w_value, floats_or_tensor(node, p + "weights"));
  if (w_node.size() != w_tree.size() || w_id.size() != w_tree.size() || w_value.size() != w_tree.size()) {
    return bad("attributes '" + p + "treeids', '" + p + "nodeids', '" + p + "ids' and '" + p +
               "weights' must have the same length");
  }
  if (e.classifier) {
    e.n_outputs = class_label_count(node);
    if (e.n_outputs == 0) return bad("no class labels (classlabels_int64s or classlabels_strings)");
  } else {
    e.n_outputs = node.int_attr("n_targets", 1);
    if (e.n_outputs <= 0 || e.n_outputs > (int64_t{1} << 20)) return bad("attribute 'n_targets' must be in [1, 2^20]");
  }
  std::set<int64_t> ids_used;
  for (size_t k = 0; k < w_tree.size(); ++k) {
    auto it = index.find({w_tree[k], w_node[k]});
    if (it == index.end()) {
      return bad(p + "weights[" + std::to_string(k) + "] refers to missing node " + std::to_string(w_node[k]) +
                 " of tree " + std::to_string(w_tree[k]));
    }
    if (e.nodes[it->second].mode != Mode::kLeaf) {
      return bad(p + "weights[" + std::to_string(k) + "] is attached to a branch node, not a leaf");
    }
    if (w_id[k] < 0 || w_id[k] >= e.n_outputs) {
      return bad(p + "ids[" + std::to_string(k) + "] = " + std::to_string(w_id[k]) + " is outside [0, " +
                 std::to_string(e.n_outputs) + ")");
    }
    e.nodes[it->second].weights.emplace_back(w_id[k], w_value[k]);
    ids_used.insert(w_id[k]);
    if (w_value[k] < 0) e.weights_all_positive = false;
  }
  BLINDML_ASSIGN_OR_RETURN(e.base_values, floats_or_tensor(node, "base_values"));
  if (!e.base_values.empty() && static_cast<int64_t>(e.base_values.size()) != e.n_outputs &&
      !(e.classifier && e.n_outputs == 2 && e.base_values.size() == 1)) {
    return bad("attribute 'base_values' has " + std::to_string(e.base_values.size()) + " entries, expected " +
               std::to_string(e.n_outputs));
  }
  e.single_column = e.classifier && e.n_outputs == 2 && ids_used.size() == 1;
  BLINDML_ASSIGN_OR_RETURN(e.transform, parse_transform(node, !e.single_column));
  if (e.classifier) {
    if (node.attribute("aggregate_function") != nullptr) {
      return node_error(StatusCode::kUnimplemented, node, "attribute 'aggregate_function' is not a classifier attribute");
    }
  } else {
    const std::string agg = node.string_attr("aggregate_function", "SUM");
    if (agg == "SUM") e.aggregate = Aggregate::kSum;
    else if (agg == "AVERAGE") e.aggregate = Aggregate::kAverage;
    else if (agg == "MIN") e.aggregate = Aggregate::kMin;
    else if (agg == "MAX") e.aggregate = Aggregate::kMax;
    else {
      return node_error(StatusCode::kUnimplemented, node,
                        "attribute 'aggregate_function' = '" + agg + "' is not supported (supported: SUM, AVERAGE, MIN, MAX)");
    }
  }
  return e;
}

// ---------------------------------------------------------------------------------------------
// Linear models
// ---------------------------------------------------------------------------------------------

struct LinearModel {
  std::vector<double> coefficients;  // [outputs, features] row-major
  std::vector<double> intercepts;    // [outputs] (empty = zeros)
  int64_t n_outputs = 0;             // score columns computed
  int64_t n_labels = 0;              // classifier: labels; regressor: targets
  Transform transform = Transform::kNone;
};

Result<LinearModel> parse_linear(const OnnxNode& node) {
  LinearModel m;
  auto bad = [&](const std::string& what) { return node_error(StatusCode::kInvalidArgument, node, what); };
  const Attribute* c = node.attribute("coefficients");
  if (c == nullptr || c->floats.empty()) return bad("attribute 'coefficients' is missing or empty");
  m.coefficients = c->floats;
  if (const Attribute* i = node.attribute("intercepts")) m.intercepts = i->floats;
  if (node.op_type == "LinearRegressor") {
    m.n_outputs = node.int_attr("targets", 1);
    if (m.n_outputs <= 0) return bad("attribute 'targets' must be positive");
    m.n_labels = m.n_outputs;
    BLINDML_ASSIGN_OR_RETURN(m.transform, parse_transform(node, false));
    if (m.transform != Transform::kNone) {
      return node_error(StatusCode::kUnimplemented, node, "attribute 'post_transform' must be NONE for LinearRegressor");
    }
  } else {
    m.n_labels = class_label_count(node);
    if (m.n_labels == 0) return bad("no class labels (classlabels_ints or classlabels_strings)");
    m.n_outputs = static_cast<int64_t>(m.intercepts.size());
    if (m.n_outputs == 0) return bad("attribute 'intercepts' is missing: it gives the number of score columns");
    if (m.n_outputs != m.n_labels && !(m.n_outputs == 1 && m.n_labels == 2)) {
      return bad(std::to_string(m.n_outputs) + " intercepts for " + std::to_string(m.n_labels) +
                 " class labels (expected one per class, or one for two classes)");
    }
    BLINDML_ASSIGN_OR_RETURN(m.transform, parse_transform(node, m.n_outputs != 1));
    const int64_t mc = node.int_attr("multi_class", 0);
    if (mc != 0 && mc != 1) return bad("attribute 'multi_class' must be 0 or 1");
  }
  if (!m.intercepts.empty() && static_cast<int64_t>(m.intercepts.size()) != m.n_outputs) {
    return bad("attribute 'intercepts' has " + std::to_string(m.intercepts.size()) + " entries, expected " +
               std::to_string(m.n_outputs));
  }
  if (m.coefficients.size() % static_cast<uint64_t>(m.n_outputs) != 0) {
    return bad(std::to_string(m.coefficients.size()) + " coefficients are not a multiple of " +
               std::to_string(m.n_outputs) + " outputs");
  }
  return m;
}

// A string's code in a graph's string vocabulary (string_vocabulary): its index, -1 when absent.
double string_code(const std::vector<std::string>& vocabulary, const std::string& s) {
  auto it = std::lower_bound(vocabulary.begin(), vocabulary.end(), s);
  return it != vocabulary.end() && *it == s ? static_cast<double>(it - vocabulary.begin()) : -1.0;
}

}  // namespace

Result<std::tuple<std::vector<double>, std::vector<double>, double>> label_encoder_map(
    const OnnxNode& node, const std::vector<std::string>* vocabulary) {
  const Attribute* ks = node.attribute("keys_strings");
  const Attribute* ki = node.attribute("keys_int64s");
  const Attribute* kf = node.attribute("keys_floats");
  const Attribute* vi = node.attribute("values_int64s");
  const Attribute* vf = node.attribute("values_floats");
  if (node.attribute("values_strings") || node.attribute("default_string"))
    return node_error(StatusCode::kUnimplemented, node, "string values are not supported (numeric values only)");
  if ((ks != nullptr) + (ki != nullptr) + (kf != nullptr) != 1 || (vi != nullptr) + (vf != nullptr) != 1)
    return node_error(StatusCode::kInvalidArgument, node,
                      "exactly one of keys_strings / keys_int64s / keys_floats and one of values_int64s / values_floats are required");
  const size_t n = ks ? ks->strings.size() : ki ? ki->ints.size() : kf->floats.size();
  const size_t nv = vi ? vi->ints.size() : vf->floats.size();
  if (n != nv || n == 0 || n > kMaxLabels)
    return node_error(StatusCode::kInvalidArgument, node, std::to_string(n) + " keys and " + std::to_string(nv) +
                                                              " values (equal, 1 to " + std::to_string(kMaxLabels) + ")");
  std::vector<double> keys, values;
  keys.reserve(n);
  values.reserve(n);
  for (size_t k = 0; k < n; ++k) {
    keys.push_back(ks ? (vocabulary ? string_code(*vocabulary, ks->strings[k]) : static_cast<double>(k))
                      : ki ? static_cast<double>(ki->ints[k]) : kf->floats[k]);
    values.push_back(vi ? static_cast<double>(vi->ints[k]) : vf->floats[k]);
  }
  const double fallback = vi ? static_cast<double>(node.int_attr("default_int64", -1)) : node.float_attr("default_float", -0.0);
  return std::make_tuple(std::move(keys), std::move(values), fallback);
}

namespace {

// ---------------------------------------------------------------------------------------------
// Per-operator validation
// ---------------------------------------------------------------------------------------------

struct OpSpec {
  int min_inputs;
  int max_inputs;
  int min_outputs;
  int max_outputs;
  std::vector<std::pair<const char*, Kind>> attributes;
};

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::kInt: return "int";
    case Kind::kFloat: return "float";
    case Kind::kString: return "string";
    case Kind::kInts: return "ints";
    case Kind::kFloats: return "floats";
    case Kind::kStrings: return "strings";
    case Kind::kTensor: return "tensor";
  }
  return "?";
}

const std::map<std::string, OpSpec>& default_domain_ops() {
  static const auto* ops = new std::map<std::string, OpSpec>{
      {"Gemm", {2, 3, 1, 1, {{"alpha", Kind::kFloat}, {"beta", Kind::kFloat}, {"transA", Kind::kInt}, {"transB", Kind::kInt}}}},
      {"MatMul", {2, 2, 1, 1, {}}},
      {"Add", {2, 2, 1, 1, {}}},
      {"Sub", {2, 2, 1, 1, {}}},
      {"Mul", {2, 2, 1, 1, {}}},
      {"Div", {2, 2, 1, 1, {}}},
      {"Relu", {1, 1, 1, 1, {}}},
      {"LeakyRelu", {1, 1, 1, 1, {{"alpha", Kind::kFloat}}}},
      {"Sigmoid", {1, 1, 1, 1, {}}},
      {"Tanh", {1, 1, 1, 1, {}}},
      {"Softmax", {1, 1, 1, 1, {{"axis", Kind::kInt}}}},
      {"Clip", {1, 3, 1, 1, {{"min", Kind::kFloat}, {"max", Kind::kFloat}}}},
      {"Identity", {1, 1, 1, 1, {}}},
      {"Flatten", {1, 1, 1, 1, {{"axis", Kind::kInt}}}},
      {"Reshape", {2, 2, 1, 1, {{"allowzero", Kind::kInt}}}},
      {"Transpose", {1, 1, 1, 1, {{"perm", Kind::kInts}}}},
      {"Concat", {1, 1 << 20, 1, 1, {{"axis", Kind::kInt}}}},
      {"BatchNormalization",
       {5, 5, 1, 5, {{"epsilon", Kind::kFloat}, {"momentum", Kind::kFloat}, {"training_mode", Kind::kInt}, {"spatial", Kind::kInt}}}},
      {"Cast", {1, 1, 1, 1, {{"to", Kind::kInt}, {"saturate", Kind::kInt}}}},
      {"Pow", {2, 2, 1, 1, {}}},
      {"Exp", {1, 1, 1, 1, {}}},
      {"ReduceSum", {1, 2, 1, 1, {{"axes", Kind::kInts}, {"keepdims", Kind::kInt}, {"noop_with_empty_axes", Kind::kInt}}}},
      {"ReduceLogSumExp", {1, 2, 1, 1, {{"axes", Kind::kInts}, {"keepdims", Kind::kInt}, {"noop_with_empty_axes", Kind::kInt}}}},
      {"ArgMax", {1, 1, 1, 1, {{"axis", Kind::kInt}, {"keepdims", Kind::kInt}, {"select_last_index", Kind::kInt}}}},  // saturate: opset 19, float8 only
      // skl2onnx's column selection before a OneHotEncoder (constant int64 indices)
      {"Gather", {2, 2, 1, 1, {{"axis", Kind::kInt}}}},
      // skl2onnx's SVC tail (decision_function_shape='ovr'): elementwise, in a model only there
      {"Less", {2, 2, 1, 1, {}}},
      {"Neg", {1, 1, 1, 1, {}}},
      {"Abs", {1, 1, 1, 1, {}}},
      {"Sum", {1, 1 << 20, 1, 1, {}}},
  };
  return *ops;
}

const std::vector<std::pair<const char*, Kind>> kTreeCommon = {
    {"nodes_treeids", Kind::kInts}, {"nodes_nodeids", Kind::kInts}, {"nodes_featureids", Kind::kInts},
    {"nodes_values", Kind::kFloats}, {"nodes_values_as_tensor", Kind::kTensor}, {"nodes_modes", Kind::kStrings},
    {"nodes_truenodeids", Kind::kInts}, {"nodes_falsenodeids", Kind::kInts},
    {"nodes_missing_value_tracks_true", Kind::kInts}, {"nodes_hitrates", Kind::kFloats},
    {"nodes_hitrates_as_tensor", Kind::kTensor}, {"base_values", Kind::kFloats},
    {"base_values_as_tensor", Kind::kTensor}, {"post_transform", Kind::kString}};

std::vector<std::pair<const char*, Kind>> with_tree_common(std::vector<std::pair<const char*, Kind>> extra) {
  extra.insert(extra.end(), kTreeCommon.begin(), kTreeCommon.end());
  return extra;
}

const std::map<std::string, OpSpec>& ml_domain_ops() {
  static const auto* ops = new std::map<std::string, OpSpec>{
      {"LinearRegressor",
       {1, 1, 1, 1, {{"coefficients", Kind::kFloats}, {"intercepts", Kind::kFloats}, {"targets", Kind::kInt}, {"post_transform", Kind::kString}}}},
      {"LinearClassifier",
       {1, 1, 1, 2,
        {{"coefficients", Kind::kFloats}, {"intercepts", Kind::kFloats}, {"classlabels_ints", Kind::kInts},
         {"classlabels_strings", Kind::kStrings}, {"multi_class", Kind::kInt}, {"post_transform", Kind::kString}}}},
      {"TreeEnsembleRegressor",
       {1, 1, 1, 1,
        with_tree_common({{"target_treeids", Kind::kInts}, {"target_nodeids", Kind::kInts}, {"target_ids", Kind::kInts},
                          {"target_weights", Kind::kFloats}, {"target_weights_as_tensor", Kind::kTensor},
                          {"n_targets", Kind::kInt}, {"aggregate_function", Kind::kString}})}},
      {"TreeEnsembleClassifier",
       {1, 1, 1, 2,
        with_tree_common({{"class_treeids", Kind::kInts}, {"class_nodeids", Kind::kInts}, {"class_ids", Kind::kInts},
                          {"class_weights", Kind::kFloats}, {"class_weights_as_tensor", Kind::kTensor},
                          {"classlabels_int64s", Kind::kInts}, {"classlabels_strings", Kind::kStrings}})}},
      {"Normalizer", {1, 1, 1, 1, {{"norm", Kind::kString}}}},
      {"ZipMap", {1, 1, 1, 1, {{"classlabels_int64s", Kind::kInts}, {"classlabels_strings", Kind::kStrings}}}},
      {"ArrayFeatureExtractor", {2, 2, 1, 1, {}}},
      {"Scaler", {1, 1, 1, 1, {{"offset", Kind::kFloats}, {"scale", Kind::kFloats}}}},
      {"SVMRegressor",
       {1, 1, 1, 1,
        {{"coefficients", Kind::kFloats}, {"kernel_params", Kind::kFloats}, {"kernel_type", Kind::kString},
         {"n_supports", Kind::kInt}, {"one_class", Kind::kInt}, {"post_transform", Kind::kString},
         {"rho", Kind::kFloats}, {"support_vectors", Kind::kFloats}}}},
      {"SVMClassifier",
       {1, 1, 1, 2,
        {{"classlabels_ints", Kind::kInts}, {"classlabels_strings", Kind::kStrings}, {"coefficients", Kind::kFloats},
         {"kernel_params", Kind::kFloats}, {"kernel_type", Kind::kString}, {"post_transform", Kind::kString},
         {"prob_a", Kind::kFloats}, {"prob_b", Kind::kFloats}, {"rho", Kind::kFloats},
         {"support_vectors", Kind::kFloats}, {"vectors_per_class", Kind::kInts}}}},
      {"Imputer",
       {1, 1, 1, 1,
        {{"imputed_value_floats", Kind::kFloats}, {"replaced_value_float", Kind::kFloat},
         {"imputed_value_int64s", Kind::kInts}, {"replaced_value_int64", Kind::kInt}}}},
      {"OneHotEncoder", {1, 1, 1, 1, {{"cats_int64s", Kind::kInts}, {"cats_strings", Kind::kStrings}, {"zeros", Kind::kInt}}}},
      {"LabelEncoder",
       {1, 1, 1, 1,
        {{"keys_strings", Kind::kStrings}, {"keys_int64s", Kind::kInts}, {"keys_floats", Kind::kFloats},
         {"values_strings", Kind::kStrings}, {"values_int64s", Kind::kInts}, {"values_floats", Kind::kFloats},
         {"default_string", Kind::kString}, {"default_int64", Kind::kInt}, {"default_float", Kind::kFloat}}}},
  };
  return *ops;
}

bool is_ml_domain(const std::string& d) { return d == "ai.onnx.ml"; }
bool is_default_domain(const std::string& d) { return d.empty() || d == "ai.onnx"; }

Status validate_node(const OnnxNode& node, const OnnxGraph& g) {
  const OpSpec* spec = nullptr;
  if (is_default_domain(node.domain)) {
    auto it = default_domain_ops().find(node.op_type);
    if (it != default_domain_ops().end()) spec = &it->second;
  } else if (is_ml_domain(node.domain)) {
    auto it = ml_domain_ops().find(node.op_type);
    if (it != ml_domain_ops().end()) spec = &it->second;
  }
  if (spec == nullptr) {
    const std::string full = is_default_domain(node.domain) ? node.op_type : node.domain + "." + node.op_type;
    return node_error(StatusCode::kUnimplemented, node,
                      "operator " + full + " is not supported (supported: " + kSupportedOps + ")");
  }
  if (is_default_domain(node.domain) && g.opset == 0) {
    return node_error(StatusCode::kInvalidArgument, node, "the model does not import the default ONNX domain");
  }
  if (is_ml_domain(node.domain) && g.ml_opset == 0) {
    return node_error(StatusCode::kInvalidArgument, node, "the model does not import the ai.onnx.ml domain");
  }
  const int n_in = static_cast<int>(node.inputs.size());
  const int n_out = static_cast<int>(node.outputs.size());
  if (n_in < spec->min_inputs || n_in > spec->max_inputs) {
    return node_error(StatusCode::kInvalidArgument, node,
                      "has " + std::to_string(n_in) + " inputs, expected " + std::to_string(spec->min_inputs) +
                          (spec->max_inputs != spec->min_inputs ? " to " + std::to_string(spec->max_inputs) : ""));
  }
  if (n_out < spec->min_outputs || n_out > spec->max_outputs) {
    return node_error(StatusCode::kInvalidArgument, node, "has " + std::to_string(n_out) + " outputs");
  }
  for (int k = 0; k < spec->min_inputs; ++k) {
    if (node.inputs[k].empty()) return node_error(StatusCode::kInvalidArgument, node, "required input " + std::to_string(k) + " is empty");
  }
  for (const auto& entry : node.attributes) {
    const auto& name = entry.first;
    const auto& attr = entry.second;
    // (Not a structured binding: clang 14, which builds the fuzz targets, cannot capture one.)
    auto it = std::find_if(spec->attributes.begin(), spec->attributes.end(),
                           [&](const auto& p) { return name == p.first; });
    if (it == spec->attributes.end()) {
      return node_error(StatusCode::kUnimplemented, node, "attribute '" + name + "' is not supported");
    }
    if (attr.kind != it->second) {
      return node_error(StatusCode::kInvalidArgument, node,
                        "attribute '" + name + "' has kind " + kind_name(attr.kind) + ", expected " + kind_name(it->second));
    }
  }
  auto unsupported_value = [&](const std::string& attr, const std::string& value, const std::string& supported) {
    return node_error(StatusCode::kUnimplemented, node,
                      "attribute '" + attr + "' = " + value + " is not supported (supported: " + supported + ")");
  };
  const std::string& op = node.op_type;
  if (op == "Gemm") {
    for (const char* a : {"transA", "transB"}) {
      const int64_t v = node.int_attr(a, 0);
      if (v != 0 && v != 1) return unsupported_value(a, std::to_string(v), "0, 1");
    }
  } else if (op == "Clip") {
    if (g.opset >= 11 && (node.attribute("min") || node.attribute("max"))) {
      return node_error(StatusCode::kInvalidArgument, node, "attributes 'min'/'max' were replaced by inputs in opset 11");
    }
    if (g.opset < 11 && n_in > 1) return node_error(StatusCode::kInvalidArgument, node, "takes min/max as attributes before opset 11");
  } else if (op == "Reshape") {
    const int64_t v = node.int_attr("allowzero", 0);
    if (v != 0 && v != 1) return unsupported_value("allowzero", std::to_string(v), "0, 1");
  } else if (op == "Concat") {
    if (node.attribute("axis") == nullptr) return node_error(StatusCode::kInvalidArgument, node, "attribute 'axis' is required");
  } else if (op == "Transpose") {
    if (const Attribute* p = node.attribute("perm")) {
      std::vector<int64_t> sorted = p->ints;
      std::sort(sorted.begin(), sorted.end());
      for (size_t k = 0; k < sorted.size(); ++k) {
        if (sorted[k] != static_cast<int64_t>(k)) {
          return node_error(StatusCode::kInvalidArgument, node, "attribute 'perm' is not a permutation of 0..rank-1");
        }
      }
    }
  } else if (op == "BatchNormalization") {
    if (node.int_attr("training_mode", 0) != 0) {
      return unsupported_value("training_mode", std::to_string(node.int_attr("training_mode", 0)), "0 (inference)");
    }
    if (node.int_attr("spatial", 1) != 1) return unsupported_value("spatial", std::to_string(node.int_attr("spatial", 1)), "1");
    if (n_out != 1) {
      return node_error(StatusCode::kUnimplemented, node, "training outputs (running mean/variance) are not supported: inference form has 1 output");
    }
  } else if (op == "Cast") {
    const Attribute* to = node.attribute("to");
    if (to == nullptr) return node_error(StatusCode::kInvalidArgument, node, "attribute 'to' is required");
    if (to->i != kFloat && to->i != kDouble && to->i != kInt64) {
      return unsupported_value("to", std::to_string(to->i) + " (" + dtype_name(static_cast<int32_t>(to->i)) + ")",
                               "1 float32, 7 int64, 11 float64");
    }
  } else if (op == "ReduceSum" || op == "ReduceLogSumExp") {
    // The axes are an attribute before ReduceSum 13 / ReduceLogSumExp 18, an input from then on.
    const bool axes_input = g.opset >= (op == "ReduceSum" ? 13 : 18);
    if (axes_input && node.attribute("axes") != nullptr)
      return node_error(StatusCode::kInvalidArgument, node, "attribute 'axes' is an input from opset " +
                                                                std::string(op == "ReduceSum" ? "13" : "18"));
    if (!axes_input && n_in > 1) return node_error(StatusCode::kInvalidArgument, node, "has 2 inputs, expected 1 before opset " +
                                                                                            std::string(op == "ReduceSum" ? "13" : "18"));
    const int64_t keep = node.int_attr("keepdims", 1);
    if (keep != 0 && keep != 1) return unsupported_value("keepdims", std::to_string(keep), "0, 1");
    const int64_t noop = node.int_attr("noop_with_empty_axes", 0);
    if (noop != 0 && noop != 1) return unsupported_value("noop_with_empty_axes", std::to_string(noop), "0, 1");
  } else if (op == "LinearRegressor" || op == "LinearClassifier") {
    BLINDML_ASSIGN_OR_RETURN(auto m, parse_linear(node));
    (void)m;
  } else if (op == "TreeEnsembleRegressor" || op == "TreeEnsembleClassifier") {
    BLINDML_ASSIGN_OR_RETURN(auto e, parse_tree_ensemble(node));
    (void)e;
  } else if (op == "SVMRegressor") {
    BLINDML_ASSIGN_OR_RETURN(auto w, svm_linear_weights(node));
    (void)w;
  } else if (op == "SVMClassifier") {
    BLINDML_ASSIGN_OR_RETURN(auto f, svm_classifier_form(node));
    (void)f;
  } else if (op == "Scaler") {
    const Attribute* off = node.attribute("offset");
    const Attribute* sc = node.attribute("scale");
    if (off && sc && off->floats.size() != sc->floats.size() && off->floats.size() != 1 && sc->floats.size() != 1)
      return node_error(StatusCode::kInvalidArgument, node, "offset and scale differ in length");
  } else if (op == "Imputer") {
    if (node.attribute("imputed_value_int64s"))
      return node_error(StatusCode::kUnimplemented, node, "int64 imputation is not supported (float features only)");
    const Attribute* v = node.attribute("imputed_value_floats");
    if (!v || v->floats.empty()) return node_error(StatusCode::kInvalidArgument, node, "imputed_value_floats is required");
  } else if (op == "Normalizer") {
    const std::string norm = node.string_attr("norm", "MAX");
    if (norm != "MAX" && norm != "L1" && norm != "L2") return unsupported_value("norm", "'" + norm + "'", "MAX, L1, L2");
  } else if (op == "OneHotEncoder") {
    const Attribute* ci = node.attribute("cats_int64s");
    const Attribute* cs = node.attribute("cats_strings");
    if ((ci == nullptr) == (cs == nullptr))
      return node_error(StatusCode::kInvalidArgument, node, "exactly one of cats_int64s and cats_strings is required");
    const size_t n = ci ? ci->ints.size() : cs->strings.size();
    if (n == 0 || n > kMaxCategories)
      return node_error(StatusCode::kInvalidArgument, node, std::to_string(n) + " categories (1 to " +
                                                                std::to_string(kMaxCategories) + ")");
    const int64_t z = node.int_attr("zeros", 1);
    if (z != 0 && z != 1) return unsupported_value("zeros", std::to_string(z), "0, 1");
  } else if (op == "LabelEncoder") {
    BLINDML_ASSIGN_OR_RETURN(auto m, label_encoder_map(node, nullptr));
    (void)m;
  } else if (op == "Gather") {
    if (!g.int_initializers.count(node.inputs[1]))
      return node_error(StatusCode::kUnimplemented, node,
                        "indices '" + node.inputs[1] + "' are not a constant int64 tensor (only constant column selections are supported)");
  }
  return Status::ok_status();
}

// The estimator an unsupported operator most likely came from (a hint for the user).
std::string likely_source(const OnnxNode& node) {
  static const auto* hints = new std::map<std::string, std::string>{
      {"SVMClassifier", "scikit-learn SVC / LinearSVC (skl2onnx)"},
      {"SVMRegressor", "scikit-learn SVR (skl2onnx)"},
      {"Scaler", "scikit-learn StandardScaler / MinMaxScaler in a Pipeline"},
      {"Imputer", "scikit-learn SimpleImputer in a Pipeline"},
      {"OneHotEncoder", "scikit-learn OneHotEncoder (a ColumnTransformer)"},
      {"LabelEncoder", "scikit-learn LabelEncoder / OrdinalEncoder"},
      {"ArrayFeatureExtractor", "a column selection or a classifier's label output (skl2onnx)"},
      {"ArgMax", "a classifier's label output (MLPClassifier, a torch argmax)"},
      {"TopK", "scikit-learn KNeighbors* (skl2onnx)"},
      {"ReduceSumSquare", "scikit-learn KNeighbors* or an RBF kernel (skl2onnx)"},
      {"Conv", "a convolutional network (torch, tf2onnx)"},
      {"MaxPool", "a convolutional network (torch, tf2onnx)"},
      {"Squeeze", "torch/tf2onnx shape handling"},
      {"Unsqueeze", "torch/tf2onnx shape handling"},
      {"Gather", "torch/tf2onnx shape handling or an embedding"},
      {"Shape", "torch/tf2onnx shape handling (a dynamic batch)"},
  };
  auto it = hints->find(node.op_type);
  if (it == hints->end()) return "";
  return "; likely from " + it->second;
}

// Folds a Constant node into the graph's initializers.
Status fold_constant(const OnnxNode& node, OnnxGraph* g) {
  if (!node.inputs.empty() || node.outputs.size() != 1) {
    return node_error(StatusCode::kInvalidArgument, node, "a Constant has no inputs and one output");
  }
  if (node.attributes.size() != 1) {
    return node_error(StatusCode::kInvalidArgument, node, "a Constant has exactly one value attribute");
  }
  const auto& [key, a] = *node.attributes.begin();
  const std::string& out = node.outputs[0];
  if (key == "value" && a.kind == Kind::kTensor) {
    if (a.tensor_is_int) g->int_initializers[out] = a.int_tensor;
    else g->float_initializers[out] = a.tensor;
  } else if (key == "value_float" && a.kind == Kind::kFloat) {
    g->float_initializers[out] = FloatTensor{{}, {a.f}};
  } else if (key == "value_floats" && a.kind == Kind::kFloats) {
    g->float_initializers[out] = FloatTensor{{static_cast<int64_t>(a.floats.size())}, a.floats};
  } else if (key == "value_int" && a.kind == Kind::kInt) {
    g->int_initializers[out] = IntTensor{{}, {a.i}};
  } else if (key == "value_ints" && a.kind == Kind::kInts) {
    g->int_initializers[out] = IntTensor{{static_cast<int64_t>(a.ints.size())}, a.ints};
  } else {
    return node_error(StatusCode::kUnimplemented, node,
                      "attribute '" + key + "' of kind " + kind_name(a.kind) +
                          " is not supported (supported: value (float32/float64/int64 tensor), value_float(s), value_int(s))");
  }
  return Status::ok_status();
}

// ai.onnx.ml 5's TreeEnsemble, rewritten at load time as the TreeEnsembleRegressor it is
// equivalent to (docs/onnx.md), so that validation, the interpreter and the lowering see one
// form. Version 5 lists interior nodes (nodes_*) and leaves (leaf_*) apart: a branch's true and
// false targets index the leaves when nodes_trueleafs / nodes_falseleafs is 1, else the interior
// nodes; tree_roots index the interior nodes, and a tree that is one leaf is written as a root
// whose two sides are the same leaf. Each tree must be a tree: an interior node or a leaf
// reached twice (shared between branches or trees, or a cycle) is refused, so the rewrite is
// linear in the attributes' size.
Result<OnnxNode> tree_ensemble_v5_as_regressor(const OnnxNode& node) {
  auto bad = [&](const std::string& what) { return node_error(StatusCode::kInvalidArgument, node, what); };
  static const std::vector<std::pair<const char*, Kind>> kAttrs = {
      {"nodes_splits", Kind::kTensor},        {"nodes_featureids", Kind::kInts},
      {"nodes_modes", Kind::kTensor},         {"nodes_truenodeids", Kind::kInts},
      {"nodes_falsenodeids", Kind::kInts},    {"nodes_trueleafs", Kind::kInts},
      {"nodes_falseleafs", Kind::kInts},      {"nodes_missing_value_tracks_true", Kind::kInts},
      {"nodes_hitrates", Kind::kTensor},      {"membership_values", Kind::kTensor},
      {"leaf_targetids", Kind::kInts},        {"leaf_weights", Kind::kTensor},
      {"tree_roots", Kind::kInts},            {"n_targets", Kind::kInt},
      {"post_transform", Kind::kInt},         {"aggregate_function", Kind::kInt}};
  for (const auto& entry : node.attributes) {
    auto it = std::find_if(kAttrs.begin(), kAttrs.end(), [&](const auto& p) { return entry.first == p.first; });
    if (it == kAttrs.end()) return node_error(StatusCode::kUnimplemented, node, "attribute '" + entry.first + "' is not supported");
    if (entry.second.kind != it->second)
      return bad("attribute '" + entry.first + "' has kind " + kind_name(entry.second.kind) + ", expected " + kind_name(it->second));
  }
  if (node.inputs.size() != 1 || node.outputs.size() != 1) return bad("has " + std::to_string(node.inputs.size()) +
                                                                       " inputs and " + std::to_string(node.outputs.size()) +
                                                                       " outputs, expected 1 and 1");
  auto float_tensor = [&](const char* key) -> Result<std::vector<double>> {
    const Attribute* a = node.attribute(key);
    if (a == nullptr) return std::vector<double>{};
    if (a->tensor_is_int) return bad(std::string("attribute '") + key + "' must be a float32 or float64 tensor");
    return a->tensor.data;
  };
  BLINDML_ASSIGN_OR_RETURN(const std::vector<double> splits, float_tensor("nodes_splits"));
  BLINDML_ASSIGN_OR_RETURN(const std::vector<double> leaf_weights, float_tensor("leaf_weights"));
  BLINDML_ASSIGN_OR_RETURN(const std::vector<double> hitrates, float_tensor("nodes_hitrates"));
  std::vector<int64_t> modes;
  if (const Attribute* m = node.attribute("nodes_modes")) {
    if (!m->tensor_is_int) return bad("attribute 'nodes_modes' must be a uint8 tensor");
    modes = m->int_tensor.data;
  }
  const auto features = ints_of(node, "nodes_featureids");
  const auto true_ids = ints_of(node, "nodes_truenodeids"), false_ids = ints_of(node, "nodes_falsenodeids");
  const auto true_leaf = ints_of(node, "nodes_trueleafs"), false_leaf = ints_of(node, "nodes_falseleafs");
  const auto missing = ints_of(node, "nodes_missing_value_tracks_true");
  const auto targets = ints_of(node, "leaf_targetids");
  const auto roots = ints_of(node, "tree_roots");
  const size_t n = features.size(), leaves = targets.size();
  auto same = [&](size_t size, const char* name, size_t want, const char* per, bool optional) -> Status {
    if (size == want || (optional && size == 0)) return Status::ok_status();
    return bad(std::string("attribute '") + name + "' has " + std::to_string(size) + " entries, expected " +
               std::to_string(want) + " (one per " + per + ")");
  };
  BLINDML_RETURN_IF_ERROR(same(splits.size(), "nodes_splits", n, "interior node", false));
  BLINDML_RETURN_IF_ERROR(same(modes.size(), "nodes_modes", n, "interior node", false));
  BLINDML_RETURN_IF_ERROR(same(true_ids.size(), "nodes_truenodeids", n, "interior node", false));
  BLINDML_RETURN_IF_ERROR(same(false_ids.size(), "nodes_falsenodeids", n, "interior node", false));
  BLINDML_RETURN_IF_ERROR(same(true_leaf.size(), "nodes_trueleafs", n, "interior node", false));
  BLINDML_RETURN_IF_ERROR(same(false_leaf.size(), "nodes_falseleafs", n, "interior node", false));
  BLINDML_RETURN_IF_ERROR(same(missing.size(), "nodes_missing_value_tracks_true", n, "interior node", true));
  BLINDML_RETURN_IF_ERROR(same(hitrates.size(), "nodes_hitrates", n, "interior node", true));  // no effect on results
  BLINDML_RETURN_IF_ERROR(same(leaf_weights.size(), "leaf_weights", leaves, "leaf", false));
  if (roots.empty()) return bad("attribute 'tree_roots' is empty: the ensemble has no trees");
  if (n == 0) return bad("attribute 'nodes_featureids' is empty: the ensemble has no nodes");
  if (leaves == 0) return bad("attribute 'leaf_targetids' is empty: the ensemble has no leaves");
  for (size_t k = 0; k < n; ++k) {
    if (modes[k] == 6)
      return node_error(StatusCode::kUnimplemented, node,
                        "interior node " + std::to_string(k) + " has mode BRANCH_MEMBER (a set-membership split, "
                        "from categorical features) which is not supported; one-hot encode the feature instead");
    if (modes[k] < 0 || modes[k] > 6) return bad("nodes_modes[" + std::to_string(k) + "] = " + std::to_string(modes[k]) + " is not a mode (0..6)");
    if ((true_leaf[k] != 0 && true_leaf[k] != 1) || (false_leaf[k] != 0 && false_leaf[k] != 1))
      return bad("nodes_trueleafs / nodes_falseleafs[" + std::to_string(k) + "] must be 0 or 1");
    for (int side = 0; side < 2; ++side) {
      const int64_t id = side == 0 ? true_ids[k] : false_ids[k];
      const size_t limit = (side == 0 ? true_leaf[k] : false_leaf[k]) ? leaves : n;
      if (id < 0 || static_cast<uint64_t>(id) >= limit)
        return bad("interior node " + std::to_string(k) + "'s " + (side == 0 ? "true" : "false") + " target " +
                   std::to_string(id) + " is outside [0, " + std::to_string(limit) + ")");
    }
  }
  int64_t n_targets = node.int_attr("n_targets", 0);
  int64_t max_target = -1;
  for (int64_t t : targets) {
    if (t < 0) return bad("leaf_targetids holds a negative target id " + std::to_string(t));
    max_target = std::max(max_target, t);
  }
  if (node.attribute("n_targets") == nullptr) n_targets = max_target + 1;
  if (n_targets <= 0 || n_targets > (int64_t{1} << 20)) return bad("attribute 'n_targets' must be in [1, 2^20]");
  if (max_target >= n_targets)
    return bad("leaf_targetids holds target " + std::to_string(max_target) + ", outside [0, " + std::to_string(n_targets) + ")");
  static const char* const kTransforms[] = {"NONE", "SOFTMAX", "LOGISTIC", "SOFTMAX_ZERO", "PROBIT"};
  const int64_t post = node.int_attr("post_transform", 0);
  if (post < 0 || post > 4) return bad("attribute 'post_transform' = " + std::to_string(post) + " is not a transform (0..4)");
  static const char* const kAggregates[] = {"AVERAGE", "SUM", "MIN", "MAX"};
  const int64_t agg = node.int_attr("aggregate_function", 1);
  if (agg < 0 || agg > 3) return bad("attribute 'aggregate_function' = " + std::to_string(agg) + " is not a function (0..3)");

  OnnxNode out;
  out.name = node.name;
  out.op_type = "TreeEnsembleRegressor";
  out.domain = node.domain;
  out.inputs = node.inputs;
  out.outputs = node.outputs;
  auto ints_attr = [](std::vector<int64_t> v) { Attribute a; a.kind = Kind::kInts; a.ints = std::move(v); return a; };
  std::vector<int64_t> tree_ids, node_ids, feature_ids, t_ids, f_ids, miss, w_tree, w_node, w_target;
  std::vector<double> values, weights;
  std::vector<std::string> mode_names;
  static const char* const kModes[] = {"BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "BRANCH_EQ", "BRANCH_NEQ"};
  std::vector<char> node_seen(n, 0), leaf_seen(leaves, 0);
  for (size_t tree = 0; tree < roots.size(); ++tree) {
    const int64_t r = roots[tree];
    if (r < 0 || static_cast<uint64_t>(r) >= n)
      return bad("tree_roots[" + std::to_string(tree) + "] = " + std::to_string(r) + " is outside [0, " + std::to_string(n) + ")");
    const int64_t tid = static_cast<int64_t>(tree);
    // Explicit stack of (is_leaf, index, new id); new ids are given in visiting order.
    int64_t next_id = 0;
    std::vector<std::tuple<bool, int64_t, int64_t>> stack;
    const bool one_leaf = true_leaf[r] && false_leaf[r] && true_ids[r] == false_ids[r];
    stack.emplace_back(one_leaf, one_leaf ? true_ids[r] : r, next_id++);
    while (!stack.empty()) {
      const auto [is_leaf, k, id] = stack.back();
      stack.pop_back();
      char& seen = is_leaf ? leaf_seen[k] : node_seen[k];
      if (seen)
        return bad(std::string(is_leaf ? "leaf " : "interior node ") + std::to_string(k) +
                   " is reached twice (shared between branches or trees, or a cycle): not a forest");
      seen = 1;
      tree_ids.push_back(tid);
      node_ids.push_back(id);
      if (is_leaf) {
        feature_ids.push_back(0);
        values.push_back(0);
        mode_names.emplace_back("LEAF");
        t_ids.push_back(0);
        f_ids.push_back(0);
        miss.push_back(0);
        w_tree.push_back(tid);
        w_node.push_back(id);
        w_target.push_back(targets[k]);
        weights.push_back(leaf_weights[k]);
        continue;
      }
      feature_ids.push_back(features[k]);
      values.push_back(splits[k]);
      mode_names.emplace_back(kModes[modes[k]]);
      const int64_t true_id = next_id++, false_id = next_id++;
      t_ids.push_back(true_id);
      f_ids.push_back(false_id);
      miss.push_back(missing.empty() ? 0 : missing[k]);
      stack.emplace_back(false_leaf[k] != 0, false_ids[k], false_id);
      stack.emplace_back(true_leaf[k] != 0, true_ids[k], true_id);
    }
  }
  out.attributes["nodes_treeids"] = ints_attr(std::move(tree_ids));
  out.attributes["nodes_nodeids"] = ints_attr(std::move(node_ids));
  out.attributes["nodes_featureids"] = ints_attr(std::move(feature_ids));
  out.attributes["nodes_truenodeids"] = ints_attr(std::move(t_ids));
  out.attributes["nodes_falsenodeids"] = ints_attr(std::move(f_ids));
  out.attributes["nodes_missing_value_tracks_true"] = ints_attr(std::move(miss));
  out.attributes["target_treeids"] = ints_attr(std::move(w_tree));
  out.attributes["target_nodeids"] = ints_attr(std::move(w_node));
  out.attributes["target_ids"] = ints_attr(std::move(w_target));
  Attribute a;
  a.kind = Kind::kFloats;
  a.floats = std::move(values);
  out.attributes["nodes_values"] = a;
  a.floats = std::move(weights);
  out.attributes["target_weights"] = a;
  Attribute m;
  m.kind = Kind::kStrings;
  m.strings = std::move(mode_names);
  out.attributes["nodes_modes"] = std::move(m);
  Attribute i;
  i.kind = Kind::kInt;
  i.i = n_targets;
  out.attributes["n_targets"] = i;
  Attribute s;
  s.kind = Kind::kString;
  s.s = kAggregates[agg];
  out.attributes["aggregate_function"] = s;
  s.s = kTransforms[post];
  out.attributes["post_transform"] = s;
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------------

Result<std::pair<std::vector<double>, double>> svm_linear_weights(const OnnxNode& node) {
  const std::string kernel = node.string_attr("kernel_type", "LINEAR");
  if (kernel != "LINEAR")
    return node_error(StatusCode::kUnimplemented, node,
                      "kernel_type " + kernel + " is not supported (LINEAR only; docs/models.md has the plan for RBF)");
  if (node.int_attr("one_class", 0) != 0)
    return node_error(StatusCode::kUnimplemented, node, "one-class SVMs are not supported");
  if (node.string_attr("post_transform", "NONE") != "NONE")
    return node_error(StatusCode::kUnimplemented, node, "post_transform other than NONE is not supported");
  const Attribute* c = node.attribute("coefficients");
  const Attribute* sv = node.attribute("support_vectors");
  const Attribute* rho = node.attribute("rho");
  if (!c || c->floats.empty()) return node_error(StatusCode::kInvalidArgument, node, "no coefficients");
  const double b = rho && !rho->floats.empty() ? rho->floats[0] : 0.0;
  const int64_t n = node.int_attr("n_supports", 0);
  if (n <= 0 || !sv || sv->floats.empty()) return std::make_pair(c->floats, b);  // linear mode: w = coefficients
  if (static_cast<int64_t>(c->floats.size()) != n || sv->floats.size() % static_cast<size_t>(n) != 0)
    return node_error(StatusCode::kInvalidArgument, node, "n_supports, coefficients and support_vectors disagree");
  // Linear kernel: Σ_i c_i·<x, s_i> + rho = <x, Σ_i c_i·s_i> + rho.
  const size_t features = sv->floats.size() / static_cast<size_t>(n);
  std::vector<double> w(features, 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (size_t k = 0; k < features; ++k) w[k] += c->floats[i] * sv->floats[i * features + k];
  return std::make_pair(w, b);
}

std::vector<std::string> string_vocabulary(const OnnxGraph& graph) {
  std::vector<std::string> v;
  for (const auto& n : graph.nodes) {
    const Attribute* a = n.op_type == "OneHotEncoder"  ? n.attribute("cats_strings")
                         : n.op_type == "LabelEncoder" ? n.attribute("keys_strings")
                                                       : nullptr;
    if (a) v.insert(v.end(), a->strings.begin(), a->strings.end());
  }
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

namespace {

// d_ij(x) = Σ_{s in class i} c[(j-1)·V + s]·<x, sv_s> + Σ_{s in class j} c[i·V + s]·<x, sv_s> + rho_ij
//         = <x, w_ij> + rho_ij (libsvm's sv_coef layout, which skl2onnx copies from dual_coef_): the
// w_ij, [pairs, features] in pair order. The sizes were checked by svm_classifier_form.
std::vector<double> fold_svm_pairs(const std::vector<double>& sv, const std::vector<double>& coef,
                                   const std::vector<int64_t>& per_class, const std::vector<uint64_t>& start,
                                   uint64_t features) {
  const size_t k = per_class.size();
  const uint64_t vectors = start.back() + static_cast<uint64_t>(per_class.back());
  std::vector<double> w(k * (k - 1) / 2 * features, 0.0);
  uint64_t p = 0;
  for (size_t i = 0; i < k; ++i)
    for (size_t j = i + 1; j < k; ++j, ++p) {
      double* wp = w.data() + p * features;
      auto fold = [&](size_t cls, uint64_t row) {
        for (uint64_t s = start[cls]; s < start[cls] + static_cast<uint64_t>(per_class[cls]); ++s) {
          const double c = coef[row * vectors + s];
          const double* x = sv.data() + s * features;
          for (uint64_t f = 0; f < features; ++f) wp[f] += c * x[f];
        }
      };
      fold(i, j - 1);
      fold(j, i);
    }
  return w;
}

}  // namespace

// SVMClassifier (docs/onnx.md): the checks run in this order, each count bounded before it is
// multiplied or used to allocate; the attributes themselves are already in memory (bounded by the
// file size).
Result<SvmClassifierForm> svm_classifier_form(const OnnxNode& node) {
  constexpr int64_t kMaxClasses = 256;             // 32640 one-vs-one pairs
  constexpr uint64_t kMaxWeights = uint64_t{1} << 24;  // pairs × features (128 MiB of doubles)
  auto bad = [&](const std::string& what) { return node_error(StatusCode::kInvalidArgument, node, what); };
  const std::string kernel = node.string_attr("kernel_type", "LINEAR");
  if (kernel != "LINEAR")
    return node_error(StatusCode::kUnimplemented, node,
                      "kernel_type " + kernel + " is not supported: only LINEAR kernels lower to a leveled linear "
                      "model (RBF, POLY and SIGMOID kernels need lookups per support vector; docs/models.md, "
                      "'Estimators not lowered yet: the plan')");
  const std::string post = node.string_attr("post_transform", "NONE");
  if (post != "NONE")
    return node_error(StatusCode::kUnimplemented, node,
                      "attribute 'post_transform' = '" + post + "' is not supported (supported: NONE, as skl2onnx writes)");
  SvmClassifierForm f;
  const Attribute* ints = node.attribute("classlabels_ints");
  const Attribute* strings = node.attribute("classlabels_strings");
  if ((ints != nullptr) == (strings != nullptr))
    return bad("exactly one of classlabels_ints and classlabels_strings is required");
  f.string_labels = strings != nullptr;
  const size_t n_labels = ints ? ints->ints.size() : strings->strings.size();
  if (n_labels < 2 || n_labels > static_cast<size_t>(kMaxClasses))
    return bad(std::to_string(n_labels) + " class labels (supported: 2 to " + std::to_string(kMaxClasses) + ")");
  f.classes = static_cast<int64_t>(n_labels);
  if (ints) f.labels = ints->ints;
  const uint64_t pairs = static_cast<uint64_t>(f.pairs());
  if (const Attribute* kp = node.attribute("kernel_params")) {
    if (!kp->floats.empty() && kp->floats.size() != 3)
      return bad("kernel_params has " + std::to_string(kp->floats.size()) + " values (gamma, coef0, degree: 3 or none)");
    for (double v : kp->floats)
      if (!std::isfinite(v)) return bad("kernel_params holds a non-finite value");
  }
  const Attribute* per_class = node.attribute("vectors_per_class");
  if (per_class == nullptr || per_class->ints.empty())
    return node_error(StatusCode::kUnimplemented, node,
                      "an SVMClassifier without vectors_per_class (liblinear mode: one coefficient row per class) is "
                      "not supported; skl2onnx writes scikit-learn's SVC with support vectors, and LinearSVC as a "
                      "LinearClassifier");
  if (per_class->ints.size() != n_labels)
    return bad("vectors_per_class has " + std::to_string(per_class->ints.size()) + " entries for " +
               std::to_string(n_labels) + " classes");
  uint64_t vectors = 0;
  std::vector<uint64_t> start;
  start.reserve(n_labels);
  for (int64_t n : per_class->ints) {
    if (n < 0) return bad("vectors_per_class holds a negative count (" + std::to_string(n) + ")");
    start.push_back(vectors);
    auto sum = checked_add(vectors, static_cast<uint64_t>(n));
    if (!sum) return bad("vectors_per_class sums beyond 2^64");
    vectors = *sum;
  }
  const Attribute* sv = node.attribute("support_vectors");
  const Attribute* coef = node.attribute("coefficients");
  const Attribute* rho = node.attribute("rho");
  const size_t n_sv = sv ? sv->floats.size() : 0;
  if (vectors == 0) return bad("vectors_per_class counts no support vector");
  if (n_sv == 0 || n_sv % vectors != 0)
    return bad("support_vectors holds " + std::to_string(n_sv) + " values, not a positive multiple of the " +
               std::to_string(vectors) + " support vectors vectors_per_class counts");
  f.features = static_cast<int64_t>(n_sv / vectors);
  const auto n_coef = checked_mul(static_cast<uint64_t>(n_labels - 1), vectors);
  if (!coef || !n_coef || coef->floats.size() != *n_coef)
    return bad("coefficients holds " + std::to_string(coef ? coef->floats.size() : 0) + " values; (classes - 1) x " +
               "support vectors = " + std::to_string(n_labels - 1) + " x " + std::to_string(vectors) + " expected");
  if (!rho || rho->floats.size() != pairs)
    return bad("rho holds " + std::to_string(rho ? rho->floats.size() : 0) + " values; one per pair of classes (" +
               std::to_string(pairs) + ") expected");
  const Attribute* pa = node.attribute("prob_a");
  const Attribute* pb = node.attribute("prob_b");
  const size_t n_pa = pa ? pa->floats.size() : 0, n_pb = pb ? pb->floats.size() : 0;
  if (n_pa != n_pb) return bad("prob_a and prob_b differ in length (" + std::to_string(n_pa) + " and " + std::to_string(n_pb) + ")");
  if (n_pa != 0 && n_pa != pairs)
    return bad("prob_a and prob_b hold " + std::to_string(n_pa) + " values; none or one per pair of classes (" +
               std::to_string(pairs) + ") expected");
  for (const Attribute* a : {sv, coef, rho, pa, pb})
    if (a)
      for (double v : a->floats)
        if (!std::isfinite(v)) return bad("a non-finite value in support_vectors, coefficients, rho, prob_a or prob_b");
  const auto n_w = checked_mul(pairs, static_cast<uint64_t>(f.features));
  if (!n_w || *n_w > kMaxWeights)
    return node_error(StatusCode::kResourceExhausted, node,
                      std::to_string(pairs) + " pairs x " + std::to_string(f.features) + " features exceed the limit of " +
                          std::to_string(kMaxWeights) + " folded weights");
  f.w = fold_svm_pairs(sv->floats, coef->floats, per_class->ints, start, static_cast<uint64_t>(f.features));
  f.b = rho->floats;
  if (n_pa) {
    f.prob_a = pa->floats;
    f.prob_b = pb->floats;
  }
  return f;
}

Result<Preprocess> preprocess_of(const OnnxNode& node, int64_t features) {
  Preprocess p;
  auto widen = [&](const std::vector<double>& v, double fallback, const char* what) -> Result<std::vector<double>> {
    if (v.empty()) return std::vector<double>(static_cast<size_t>(features), fallback);
    if (v.size() == 1) return std::vector<double>(static_cast<size_t>(features), v[0]);
    if (static_cast<int64_t>(v.size()) != features)
      return node_error(StatusCode::kInvalidArgument, node,
                        std::string(what) + " has " + std::to_string(v.size()) + " values for " +
                            std::to_string(features) + " features");
    return v;
  };
  if (node.op_type == "Scaler") {
    p.kind = Preprocess::Kind::kScaler;
    const Attribute* off = node.attribute("offset");
    const Attribute* sc = node.attribute("scale");
    BLINDML_ASSIGN_OR_RETURN(p.offset, widen(off ? off->floats : std::vector<double>{}, 0.0, "offset"));
    BLINDML_ASSIGN_OR_RETURN(p.scale, widen(sc ? sc->floats : std::vector<double>{}, 1.0, "scale"));
  } else if (node.op_type == "Imputer") {
    p.kind = Preprocess::Kind::kImputer;
    const Attribute* v = node.attribute("imputed_value_floats");
    BLINDML_ASSIGN_OR_RETURN(p.imputed, widen(v ? v->floats : std::vector<double>{}, 0.0, "imputed_value_floats"));
    p.replaced = node.float_attr("replaced_value_float", std::numeric_limits<double>::quiet_NaN());
  } else {
    return node_error(StatusCode::kInvalidArgument, node, "not a preprocessing operator");
  }
  for (double d : p.offset)
    if (!std::isfinite(d)) return node_error(StatusCode::kInvalidArgument, node, "a non-finite offset");
  for (double d : p.scale)
    if (!std::isfinite(d)) return node_error(StatusCode::kInvalidArgument, node, "a non-finite scale");
  for (double d : p.imputed)
    if (!std::isfinite(d)) return node_error(StatusCode::kInvalidArgument, node, "a non-finite imputed value");
  return p;
}

namespace {

// An initializer stored in an external file (torch >= 2 writes MODEL.onnx.data even for small
// models): the bytes are read into raw_data. The location must be a relative path without '..'
// that stays inside the model's directory (symlinks resolved); offset and length lie within the
// file; all external bytes together stay under max_bytes.
Status inline_external_data(onnx::TensorProto* t, const std::string& dir, uint64_t max_bytes, uint64_t* used) {
  namespace fs = std::filesystem;
  const std::string what = "initializer '" + t->name() + "'";
  if (dir.empty())
    return unimplemented(what + ": external data needs the model's directory (load the model with load_onnx_file)");
  std::string location;
  uint64_t offset = 0, length = 0;
  bool has_length = false;
  for (const auto& kv : t->external_data()) {
    auto number = [&](uint64_t* out) -> Status {
      if (kv.value().empty() || kv.value().size() > 19 ||
          kv.value().find_first_not_of("0123456789") != std::string::npos)
        return corrupted(what + ": external data '" + kv.key() + "' = '" + kv.value() + "' is not a number");
      *out = std::stoull(kv.value());
      return Status::ok_status();
    };
    if (kv.key() == "location") {
      location = kv.value();
    } else if (kv.key() == "offset") {
      BLINDML_RETURN_IF_ERROR(number(&offset));
    } else if (kv.key() == "length") {
      BLINDML_RETURN_IF_ERROR(number(&length));
      has_length = true;
    } else if (kv.key() != "checksum") {
      return unimplemented(what + ": external data key '" + kv.key() + "' is not supported");
    }
  }
  if (location.empty()) return corrupted(what + ": external data without a location");
  const fs::path rel(location);
  if (rel.is_absolute() || location.find('\0') != std::string::npos || location.find('\\') != std::string::npos)
    return invalid_argument(what + ": external data location '" + location + "' must be a relative path");
  for (const auto& part : rel)
    if (part == "..") return invalid_argument(what + ": external data location '" + location + "' must not contain '..'");
  std::error_code ec;
  const fs::path base = fs::canonical(dir, ec);
  if (ec) return not_found(what + ": cannot resolve the model's directory '" + dir + "'");
  const fs::path file = fs::canonical(base / rel, ec);
  if (ec) return not_found(what + ": external data file '" + location + "' not found next to the model");
  const std::string b = base.string() + "/", f = file.string();
  if (f.compare(0, b.size(), b) != 0)
    return invalid_argument(what + ": external data location '" + location + "' leaves the model's directory");
  if (!fs::is_regular_file(file, ec)) return invalid_argument(what + ": external data '" + location + "' is not a file");
  const uint64_t size = fs::file_size(file, ec);
  if (ec) return io_error(what + ": cannot size '" + location + "'");
  if (offset > size) return corrupted(what + ": external data offset " + std::to_string(offset) + " beyond the file's " +
                                      std::to_string(size) + " bytes");
  if (!has_length) length = size - offset;
  if (length > size - offset)
    return corrupted(what + ": external data [" + std::to_string(offset) + ", +" + std::to_string(length) +
                     ") beyond the file's " + std::to_string(size) + " bytes");
  if (length > max_bytes - std::min(*used, max_bytes))
    return resource_exhausted(what + ": external data beyond the limit of " + std::to_string(max_bytes) + " bytes");
  *used += length;
  std::ifstream in(file, std::ios::binary);
  std::string bytes(static_cast<size_t>(length), '\0');
  in.seekg(static_cast<std::streamoff>(offset));
  if (!in || (length > 0 && !in.read(bytes.data(), static_cast<std::streamsize>(length))))
    return io_error(what + ": cannot read '" + location + "'");
  t->clear_external_data();
  t->clear_data_location();
  t->set_raw_data(std::move(bytes));
  return Status::ok_status();
}

Result<OnnxGraph> load_onnx_in(std::span<const uint8_t> bytes, uint64_t max_bytes, const std::string& dir);

}  // namespace

Result<OnnxGraph> load_onnx(std::span<const uint8_t> bytes, uint64_t max_bytes) { return load_onnx_in(bytes, max_bytes, ""); }

namespace {

Result<OnnxGraph> load_onnx_in(std::span<const uint8_t> bytes, uint64_t max_bytes, const std::string& dir) {
  if (bytes.size() > max_bytes) {
    return resource_exhausted("ONNX model of " + std::to_string(bytes.size()) + " bytes exceeds the limit of " +
                              std::to_string(max_bytes) + " bytes");
  }
  if (bytes.empty()) return invalid_argument("not an ONNX model: the input is empty");
  if (bytes.size() > static_cast<uint64_t>(std::numeric_limits<int>::max())) {
    return resource_exhausted("ONNX model of " + std::to_string(bytes.size()) + " bytes exceeds protobuf's 2 GiB limit");
  }
  onnx::ModelProto model;
  if (!model.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return corrupted("not an ONNX model: the bytes do not parse as an ONNX ModelProto (truncated or not protobuf)");
  }
  if (model.ir_version() <= 0) return corrupted("not an ONNX model: ir_version is missing");
  if (!model.has_graph()) return corrupted("not an ONNX model: it has no graph");

  OnnxGraph g;
  g.producer = model.producer_name() + (model.producer_version().empty() ? "" : " " + model.producer_version());
  // Blockers (unsupported opsets, operators, attributes) are gathered and reported together, so
  // that a user sees everything that stands in the way at once; malformed files fail at once.
  std::vector<std::string> blockers;
  for (const auto& imp : model.opset_import()) {
    const std::string& d = imp.domain();
    const int64_t v = imp.version();
    if (is_default_domain(d)) {
      if (v < kMinOpset || v > kMaxOpset) {
        blockers.push_back("opset " + std::to_string(v) + " of the default ONNX domain is not supported (supported: " +
                           std::to_string(kMinOpset) + " to " + std::to_string(kMaxOpset) + "); convert the model with onnx.version_converter");
      }
      g.opset = std::clamp(v, kMinOpset, kMaxOpset);
    } else if (is_ml_domain(d)) {
      if (v < kMinMlOpset || v > kMaxMlOpset) {
        blockers.push_back("opset " + std::to_string(v) + " of domain ai.onnx.ml is not supported (supported: " +
                           std::to_string(kMinMlOpset) + " to " + std::to_string(kMaxMlOpset) + ")");
      }
      g.ml_opset = std::clamp(v, kMinMlOpset, kMaxMlOpset);
    } else {
      return unimplemented("operator domain '" + d + "' (opset " + std::to_string(v) +
                           ") is not supported (supported: the default ONNX domain and ai.onnx.ml)");
    }
  }
  if (model.opset_import_size() == 0) return corrupted("not an ONNX model: it imports no opset");

  uint64_t external_bytes = 0;
  for (auto& t : *model.mutable_graph()->mutable_initializer())
    if (t.has_data_location() && t.data_location() == onnx::TensorProto_DataLocation_EXTERNAL)
      BLINDML_RETURN_IF_ERROR(inline_external_data(&t, dir, max_bytes, &external_bytes));
  const onnx::GraphProto& graph = model.graph();
  if (graph.sparse_initializer_size() > 0) return unimplemented("sparse initializers are not supported");
  std::unordered_set<std::string> defined;
  for (const auto& t : graph.initializer()) {
    if (t.name().empty()) return corrupted("an initializer has no name");
    if (!defined.insert(t.name()).second) return invalid_argument("initializer '" + t.name() + "' is defined twice");
    FloatTensor f;
    IntTensor i;
    bool is_int = false;
    BLINDML_RETURN_IF_ERROR(decode_tensor(t, "initializer '" + t.name() + "'", &f, &i, &is_int));
    if (is_int) g.int_initializers.emplace(t.name(), std::move(i));
    else g.float_initializers.emplace(t.name(), std::move(f));
  }
  for (const auto& v : graph.input()) {
    if (defined.count(v.name())) continue;  // IR < 4 lists initializers among the inputs
    ValueInfo info;
    BLINDML_RETURN_IF_ERROR(decode_value_info(v, "graph input", true, &info));
    if (info.elem_type != kFloat && info.elem_type != kDouble && info.elem_type != kInt64 && info.elem_type != kString) {
      return unimplemented("graph input '" + v.name() + "' has dtype " + dtype_name(info.elem_type) +
                           " (supported: float32, float64, int64, string)");
    }
    if (v.name().empty()) return invalid_argument("a graph input has no name");
    defined.insert(v.name());
    g.inputs.push_back(std::move(info));
  }
  for (const auto& v : graph.output()) {
    ValueInfo info;
    BLINDML_RETURN_IF_ERROR(decode_value_info(v, "graph output", false, &info));
    g.outputs.push_back(std::move(info));
  }

  // Nodes, in file order: each must only read values defined before it.
  int index = 0;
  for (const auto& np : graph.node()) {
    OnnxNode node;
    node.op_type = np.op_type();
    node.name = np.name().empty() ? np.op_type() + "_" + std::to_string(index) : np.name();
    ++index;
    node.domain = np.domain();
    node.inputs.assign(np.input().begin(), np.input().end());
    node.outputs.assign(np.output().begin(), np.output().end());
    for (const auto& a : np.attribute()) {
      Attribute attr;
      BLINDML_RETURN_IF_ERROR(decode_attribute(a, node, &attr));
      if (!node.attributes.emplace(a.name(), std::move(attr)).second) {
        return node_error(StatusCode::kInvalidArgument, node, "attribute '" + a.name() + "' is set twice");
      }
    }
    for (const auto& in : node.inputs) {
      if (!in.empty() && !defined.count(in)) {
        return node_error(StatusCode::kInvalidArgument, node,
                          "input '" + in + "' is not defined before use (not a graph input, an initializer or an earlier node's output)");
      }
    }
    for (const auto& out : node.outputs) {
      if (out.empty()) continue;
      if (!defined.insert(out).second) {
        return node_error(StatusCode::kInvalidArgument, node, "output '" + out + "' is already defined");
      }
    }
    if (node.op_type == "Constant" && is_default_domain(node.domain)) {
      BLINDML_RETURN_IF_ERROR(fold_constant(node, &g));
      continue;
    }
    if (node.op_type == "TreeEnsemble" && is_ml_domain(node.domain)) {
      if (g.ml_opset < 5) {
        blockers.push_back(node_prefix(node) + "TreeEnsemble needs ai.onnx.ml opset 5, the model imports " +
                           std::to_string(g.ml_opset));
        continue;
      }
      auto rewritten = tree_ensemble_v5_as_regressor(node);
      if (!rewritten.ok()) {
        if (rewritten.status().code() != StatusCode::kUnimplemented) return rewritten.status();
        blockers.push_back(rewritten.status().message());
        continue;
      }
      node = std::move(*rewritten);
    }
    if (Status st = validate_node(node, g); !st.ok()) {
      if (st.code() != StatusCode::kUnimplemented) return st;
      blockers.push_back(st.message() + likely_source(node));
      continue;
    }
    g.nodes.push_back(std::move(node));
  }
  // A string input is held as vocabulary codes (string_vocabulary): only the string encoders and
  // what selects or reshapes their columns may read it.
  for (const auto& in : g.inputs) {
    if (in.elem_type != kString) continue;
    for (const auto& n : g.nodes)
      if (std::find(n.inputs.begin(), n.inputs.end(), in.name) != n.inputs.end() && n.op_type != "OneHotEncoder" &&
          n.op_type != "LabelEncoder" && n.op_type != "Gather" && n.op_type != "ArrayFeatureExtractor" &&
          n.op_type != "Identity" && n.op_type != "Reshape")
        blockers.push_back("node '" + n.name + "' (" + n.op_type + ") reads the string input '" + in.name +
                           "': string inputs are supported only through OneHotEncoder / LabelEncoder (and column "
                           "selections before them)");
  }
  if (!blockers.empty()) {
    if (blockers.size() == 1) return unimplemented(blockers[0]);
    std::string all = std::to_string(blockers.size()) + " things stand in the way:";
    for (size_t k = 0; k < blockers.size(); ++k) all += "\n  " + std::to_string(k + 1) + ". " + blockers[k];
    return unimplemented(all);
  }
  if (g.outputs.empty()) return invalid_argument("the graph has no outputs");
  for (const auto& o : g.outputs) {
    if (!defined.count(o.name)) return invalid_argument("graph output '" + o.name + "' is not computed by any node");
  }
  return g;
}

}  // namespace

Result<OnnxGraph> load_onnx_file(const std::string& path, uint64_t max_bytes) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return not_found("cannot open ONNX model '" + path + "'");
  const std::streamoff size = in.tellg();
  if (size < 0) return io_error("cannot determine the size of '" + path + "'");
  if (static_cast<uint64_t>(size) > max_bytes) {
    return resource_exhausted("ONNX model '" + path + "' of " + std::to_string(size) + " bytes exceeds the limit of " +
                              std::to_string(max_bytes) + " bytes");
  }
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  in.seekg(0);
  if (size > 0 && !in.read(reinterpret_cast<char*>(bytes.data()), size)) return io_error("cannot read '" + path + "'");
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  auto g = load_onnx_in(bytes, max_bytes, dir);
  if (!g.ok()) return Status(g.status().code(), path + ": " + g.status().message());
  return g;
}

// ---------------------------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------------------------

namespace {

using Values = std::map<std::string, FloatTensor>;

Result<FloatTensor> make_tensor(const OnnxNode& node, std::vector<int64_t> shape) {
  auto n = element_count(shape);
  if (!n) return node_error(StatusCode::kResourceExhausted, node, "output shape " + shape_string(shape) + " is too large");
  FloatTensor t;
  t.shape = std::move(shape);
  t.data.assign(*n, 0.0);
  return t;
}

int64_t normalize_axis(int64_t axis, int64_t rank) { return axis < 0 ? axis + rank : axis; }

Result<std::vector<int64_t>> broadcast_shapes(const OnnxNode& node, const std::vector<int64_t>& a,
                                              const std::vector<int64_t>& b) {
  const size_t r = std::max(a.size(), b.size());
  std::vector<int64_t> out(r);
  for (size_t k = 0; k < r; ++k) {
    const int64_t da = k < r - a.size() ? 1 : a[k - (r - a.size())];
    const int64_t db = k < r - b.size() ? 1 : b[k - (r - b.size())];
    if (da != db && da != 1 && db != 1) {
      return node_error(StatusCode::kInvalidArgument, node,
                        "shapes " + shape_string(a) + " and " + shape_string(b) + " do not broadcast");
    }
    out[k] = da == 1 ? db : da;
  }
  return out;
}

// Strides of `shape` seen from a broadcast `out` shape: 0 along broadcast dimensions.
std::vector<uint64_t> broadcast_strides(const std::vector<int64_t>& shape, const std::vector<int64_t>& out) {
  std::vector<uint64_t> s(out.size(), 0);
  uint64_t stride = 1;
  for (size_t k = shape.size(); k-- > 0;) {
    const size_t o = k + (out.size() - shape.size());
    s[o] = shape[k] == 1 ? 0 : stride;
    stride *= static_cast<uint64_t>(shape[k]);
  }
  return s;
}

// Calls f(out_index, a_index, b_index) for every element of the broadcast result.
void for_each_broadcast(const std::vector<int64_t>& out, const std::vector<uint64_t>& sa, const std::vector<uint64_t>& sb,
                        const std::function<void(uint64_t, uint64_t, uint64_t)>& f) {
  const uint64_t total = *element_count(out, std::numeric_limits<uint64_t>::max());
  std::vector<int64_t> idx(out.size(), 0);
  uint64_t ia = 0, ib = 0;
  for (uint64_t o = 0; o < total; ++o) {
    f(o, ia, ib);
    for (size_t k = out.size(); k-- > 0;) {
      ++idx[k];
      ia += sa[k];
      ib += sb[k];
      if (idx[k] < out[k]) break;
      ia -= sa[k] * static_cast<uint64_t>(out[k]);
      ib -= sb[k] * static_cast<uint64_t>(out[k]);
      idx[k] = 0;
    }
  }
}

Result<FloatTensor> binary_op(const OnnxNode& node, const FloatTensor& a, const FloatTensor& b,
                              const std::function<double(double, double)>& op) {
  BLINDML_ASSIGN_OR_RETURN(auto shape, broadcast_shapes(node, a.shape, b.shape));
  BLINDML_ASSIGN_OR_RETURN(auto out, make_tensor(node, shape));
  const auto sa = broadcast_strides(a.shape, shape);
  const auto sb = broadcast_strides(b.shape, shape);
  for_each_broadcast(shape, sa, sb, [&](uint64_t o, uint64_t i, uint64_t j) { out.data[o] = op(a.data[i], b.data[j]); });
  return out;
}

FloatTensor unary_op(const FloatTensor& x, const std::function<double(double)>& op) {
  FloatTensor y = x;
  for (double& v : y.data) v = op(v);
  return y;
}

double logistic(double v) { return v >= 0 ? 1 / (1 + std::exp(-v)) : std::exp(v) / (1 + std::exp(v)); }

void softmax_inplace(double* v, size_t n, size_t stride) {
  double m = -std::numeric_limits<double>::infinity();
  for (size_t k = 0; k < n; ++k) m = std::max(m, v[k * stride]);
  double sum = 0;
  for (size_t k = 0; k < n; ++k) sum += (v[k * stride] = std::exp(v[k * stride] - m));
  for (size_t k = 0; k < n; ++k) v[k * stride] /= sum;
}

// SOFTMAX_ZERO: zero scores stay zero and take no part in the normalisation (ONNX-ML).
void softmax_zero_inplace(std::vector<double>& v) {
  double m = -std::numeric_limits<double>::infinity();
  for (double x : v) m = std::max(m, x);
  double sum = 0;
  for (double& x : v) {
    if (x != 0) sum += (x = std::exp(x - m));
  }
  if (sum > 0) {
    for (double& x : v) x /= sum;
  }
}

void apply_transform(Transform t, std::vector<double>& v) {
  switch (t) {
    case Transform::kNone: break;
    case Transform::kLogistic: for (double& x : v) x = logistic(x); break;
    case Transform::kSoftmax: softmax_inplace(v.data(), v.size(), 1); break;
    case Transform::kSoftmaxZero: softmax_zero_inplace(v); break;
  }
}

// Views an input as [rows, features]: a 1-D input is one row.
Result<std::pair<int64_t, int64_t>> as_matrix(const OnnxNode& node, const FloatTensor& x) {
  if (x.shape.size() == 1) return std::make_pair(int64_t{1}, x.shape[0]);
  if (x.shape.size() == 2) return std::make_pair(x.shape[0], x.shape[1]);
  return node_error(StatusCode::kInvalidArgument, node, "expects a 2-D input [N, C], got " + shape_string(x.shape));
}

Result<FloatTensor> eval_matmul(const OnnxNode& node, const FloatTensor& a0, const FloatTensor& b0) {
  if (a0.shape.empty() || b0.shape.empty()) return node_error(StatusCode::kInvalidArgument, node, "MatMul of a scalar");
  std::vector<int64_t> as = a0.shape, bs = b0.shape;
  const bool a_vec = as.size() == 1, b_vec = bs.size() == 1;
  if (a_vec) as.insert(as.begin(), 1);
  if (b_vec) bs.push_back(1);
  const int64_t m = as[as.size() - 2], k = as.back(), k2 = bs[bs.size() - 2], n = bs.back();
  if (k != k2) {
    return node_error(StatusCode::kInvalidArgument, node,
                      "inner dimensions differ: " + shape_string(a0.shape) + " x " + shape_string(b0.shape));
  }
  std::vector<int64_t> ab(as.begin(), as.end() - 2), bb(bs.begin(), bs.end() - 2);
  BLINDML_ASSIGN_OR_RETURN(auto batch, broadcast_shapes(node, ab, bb));
  std::vector<int64_t> out_shape = batch;
  out_shape.push_back(m);
  out_shape.push_back(n);
  BLINDML_ASSIGN_OR_RETURN(auto out, make_tensor(node, out_shape));
  const auto sa = broadcast_strides(ab, batch), sb = broadcast_strides(bb, batch);
  const uint64_t mat_a = static_cast<uint64_t>(m * k), mat_b = static_cast<uint64_t>(k * n), mat_o = static_cast<uint64_t>(m * n);
  for_each_broadcast(batch, sa, sb, [&](uint64_t o, uint64_t i, uint64_t j) {
    const double* pa = a0.data.data() + i * mat_a;
    const double* pb = b0.data.data() + j * mat_b;
    double* po = out.data.data() + o * mat_o;
    for (int64_t r = 0; r < m; ++r) {
      for (int64_t c = 0; c < n; ++c) {
        double s = 0;
        for (int64_t t = 0; t < k; ++t) s += pa[r * k + t] * pb[t * n + c];
        po[r * n + c] = s;
      }
    }
  });
  if (a_vec) out_shape.erase(out_shape.end() - 2);
  if (b_vec) out_shape.pop_back();
  out.shape = out_shape;
  return out;
}

Result<FloatTensor> eval_gemm(const OnnxNode& node, const FloatTensor& a, const FloatTensor& b, const FloatTensor* c) {
  if (a.shape.size() != 2 || b.shape.size() != 2) {
    return node_error(StatusCode::kInvalidArgument, node,
                      "expects 2-D A and B, got " + shape_string(a.shape) + " and " + shape_string(b.shape));
  }
  const bool ta = node.int_attr("transA", 0) != 0, tb = node.int_attr("transB", 0) != 0;
  const double alpha = node.float_attr("alpha", 1.0), beta = node.float_attr("beta", 1.0);
  const int64_t m = ta ? a.shape[1] : a.shape[0], k = ta ? a.shape[0] : a.shape[1];
  const int64_t kb = tb ? b.shape[1] : b.shape[0], n = tb ? b.shape[0] : b.shape[1];
  if (k != kb) {
    return node_error(StatusCode::kInvalidArgument, node,
                      "inner dimensions differ: A " + shape_string(a.shape) + (ta ? "^T" : "") + " x B " +
                          shape_string(b.shape) + (tb ? "^T" : ""));
  }
  BLINDML_ASSIGN_OR_RETURN(auto out, make_tensor(node, {m, n}));
  for (int64_t r = 0; r < m; ++r) {
    for (int64_t col = 0; col < n; ++col) {
      double s = 0;
      for (int64_t t = 0; t < k; ++t) {
        const double av = ta ? a.data[t * a.shape[1] + r] : a.data[r * k + t];
        const double bv = tb ? b.data[col * b.shape[1] + t] : b.data[t * n + col];
        s += av * bv;
      }
      out.data[r * n + col] = alpha * s;
    }
  }
  if (c != nullptr) {
    BLINDML_ASSIGN_OR_RETURN(auto shape, broadcast_shapes(node, c->shape, out.shape));
    if (shape != out.shape) {
      return node_error(StatusCode::kInvalidArgument, node,
                        "C " + shape_string(c->shape) + " does not broadcast to " + shape_string(out.shape));
    }
    const auto sc = broadcast_strides(c->shape, out.shape), so = broadcast_strides(out.shape, out.shape);
    for_each_broadcast(out.shape, so, sc, [&](uint64_t o, uint64_t, uint64_t j) { out.data[o] += beta * c->data[j]; });
  }
  return out;
}

Result<FloatTensor> eval_softmax(const OnnxNode& node, const FloatTensor& x, int64_t opset) {
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  const int64_t axis = normalize_axis(node.int_attr("axis", opset >= 13 ? -1 : 1), rank);
  if (rank == 0 || axis < 0 || axis >= rank) {
    return node_error(StatusCode::kInvalidArgument, node, "axis out of range for shape " + shape_string(x.shape));
  }
  FloatTensor y = x;
  int64_t outer = 1, n = 1, inner = 1;
  for (int64_t k = 0; k < rank; ++k) {
    if (k < axis) outer *= x.shape[k];
    else if (k == axis || opset < 13) n *= x.shape[k];  // before 13: the input is coerced to 2-D at axis
    else inner *= x.shape[k];
  }
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      if (n > 0) softmax_inplace(y.data.data() + o * n * inner + i, static_cast<size_t>(n), static_cast<size_t>(inner));
    }
  }
  return y;
}

Result<FloatTensor> eval_transpose(const OnnxNode& node, const FloatTensor& x) {
  const size_t r = x.shape.size();
  std::vector<int64_t> perm;
  if (const Attribute* p = node.attribute("perm")) perm = p->ints;
  else for (size_t k = 0; k < r; ++k) perm.push_back(static_cast<int64_t>(r - 1 - k));
  if (perm.size() != r) {
    return node_error(StatusCode::kInvalidArgument, node, "perm has " + std::to_string(perm.size()) + " entries for rank " + std::to_string(r));
  }
  std::vector<int64_t> shape(r);
  for (size_t k = 0; k < r; ++k) shape[k] = x.shape[perm[k]];
  BLINDML_ASSIGN_OR_RETURN(auto y, make_tensor(node, shape));
  std::vector<uint64_t> in_stride(r, 1);
  for (size_t k = r; k-- > 1;) in_stride[k - 1] = in_stride[k] * static_cast<uint64_t>(x.shape[k]);
  std::vector<uint64_t> s(r);
  for (size_t k = 0; k < r; ++k) s[k] = in_stride[perm[k]];
  std::vector<uint64_t> zero(r, 0);
  for_each_broadcast(shape, s, zero, [&](uint64_t o, uint64_t i, uint64_t) { y.data[o] = x.data[i]; });
  return y;
}

Result<FloatTensor> eval_concat(const OnnxNode& node, const std::vector<const FloatTensor*>& xs) {
  const auto& first = xs[0]->shape;
  const int64_t rank = static_cast<int64_t>(first.size());
  const int64_t axis = normalize_axis(node.int_attr("axis", 0), rank);
  if (axis < 0 || axis >= rank) return node_error(StatusCode::kInvalidArgument, node, "axis out of range for shape " + shape_string(first));
  std::vector<int64_t> shape = first;
  shape[axis] = 0;
  for (const FloatTensor* x : xs) {
    if (static_cast<int64_t>(x->shape.size()) != rank) return node_error(StatusCode::kInvalidArgument, node, "inputs have different ranks");
    for (int64_t k = 0; k < rank; ++k) {
      if (k != axis && x->shape[k] != first[k]) {
        return node_error(StatusCode::kInvalidArgument, node,
                          "shapes " + shape_string(first) + " and " + shape_string(x->shape) + " differ outside the axis");
      }
    }
    shape[axis] += x->shape[axis];
  }
  BLINDML_ASSIGN_OR_RETURN(auto y, make_tensor(node, shape));
  int64_t outer = 1, inner = 1;
  for (int64_t k = 0; k < axis; ++k) outer *= shape[k];
  for (int64_t k = axis + 1; k < rank; ++k) inner *= shape[k];
  size_t pos = 0;
  for (int64_t o = 0; o < outer; ++o) {
    for (const FloatTensor* x : xs) {
      const size_t chunk = static_cast<size_t>(x->shape[axis] * inner);
      std::copy_n(x->data.begin() + o * chunk, chunk, y.data.begin() + pos);
      pos += chunk;
    }
  }
  return y;
}

Result<FloatTensor> eval_reshape(const OnnxNode& node, const FloatTensor& x, const FloatTensor& shape_t) {
  if (shape_t.shape.size() != 1) return node_error(StatusCode::kInvalidArgument, node, "the shape input must be 1-D");
  const bool allowzero = node.int_attr("allowzero", 0) != 0;
  std::vector<int64_t> shape;
  int infer = -1;
  uint64_t known = 1;
  for (size_t k = 0; k < shape_t.data.size(); ++k) {
    const double v = shape_t.data[k];
    if (v != std::trunc(v) || v < -1 || v > 9e15) {
      return node_error(StatusCode::kInvalidArgument, node, "invalid target dimension " + std::to_string(v));
    }
    int64_t d = static_cast<int64_t>(v);
    if (d == 0 && !allowzero) {
      if (k >= x.shape.size()) return node_error(StatusCode::kInvalidArgument, node, "dimension 0 copies a dimension the input does not have");
      d = x.shape[k];
    }
    if (d == -1) {
      if (infer >= 0) return node_error(StatusCode::kInvalidArgument, node, "more than one -1 in the target shape");
      infer = static_cast<int>(k);
    } else {
      auto m = checked_mul(known, static_cast<uint64_t>(d));
      if (!m) return node_error(StatusCode::kInvalidArgument, node, "target shape overflows");
      known = *m;
    }
    shape.push_back(d);
  }
  const uint64_t total = x.data.size();
  if (infer >= 0) {
    if (known == 0 || total % known != 0) {
      return node_error(StatusCode::kInvalidArgument, node,
                        "cannot reshape " + shape_string(x.shape) + " to " + shape_string(shape));
    }
    shape[infer] = static_cast<int64_t>(total / known);
  } else if (known != total) {
    return node_error(StatusCode::kInvalidArgument, node, "cannot reshape " + shape_string(x.shape) + " to " + shape_string(shape));
  }
  return FloatTensor{shape, x.data};
}

Result<FloatTensor> eval_batchnorm(const OnnxNode& node, const FloatTensor& x, const FloatTensor& scale, const FloatTensor& bias,
                                   const FloatTensor& mean, const FloatTensor& var) {
  if (x.shape.size() < 2) return node_error(StatusCode::kInvalidArgument, node, "X must be [N, C, ...], got " + shape_string(x.shape));
  const int64_t c = x.shape[1];
  for (const FloatTensor* p : {&scale, &bias, &mean, &var}) {
    if (static_cast<int64_t>(p->data.size()) != c) {
      return node_error(StatusCode::kInvalidArgument, node,
                        "per-channel parameters must have " + std::to_string(c) + " entries, got " + shape_string(p->shape));
    }
  }
  const double eps = node.float_attr("epsilon", 1e-5);
  int64_t inner = 1;
  for (size_t k = 2; k < x.shape.size(); ++k) inner *= x.shape[k];
  FloatTensor y = x;
  for (size_t i = 0; i < y.data.size(); ++i) {
    const int64_t ch = (static_cast<int64_t>(i) / inner) % c;
    y.data[i] = scale.data[ch] * (x.data[i] - mean.data[ch]) / std::sqrt(var.data[ch] + eps) + bias.data[ch];
  }
  return y;
}

// ReduceSum / ReduceLogSumExp over the axes (an attribute, or the int64 second input), every axis
// when none are given (unless noop_with_empty_axes: then the input itself); keepdims (default 1)
// keeps each reduced axis with size 1. LogSumExp is max-shifted: m + log Σ exp(x - m).
Result<FloatTensor> eval_reduce(const OnnxNode& node, const FloatTensor& x, const FloatTensor* axes_t) {
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  std::vector<int64_t> axes;
  if (const Attribute* a = node.attribute("axes")) axes = a->ints;
  if (axes_t != nullptr)
    for (double v : axes_t->data) axes.push_back(static_cast<int64_t>(v));
  if (axes.empty()) {
    if (node.int_attr("noop_with_empty_axes", 0) != 0) return x;
    for (int64_t k = 0; k < rank; ++k) axes.push_back(k);
  }
  std::vector<char> reduced(static_cast<size_t>(rank), 0);
  for (int64_t a : axes) {
    const int64_t k = normalize_axis(a, rank);
    if (k < 0 || k >= rank || reduced[k])
      return node_error(StatusCode::kInvalidArgument, node, "axis " + std::to_string(a) + " is out of range or repeated for shape " +
                                                                shape_string(x.shape));
    reduced[k] = 1;
  }
  const bool keep = node.int_attr("keepdims", 1) != 0;
  std::vector<int64_t> out_shape, kept_shape;  // kept_shape: reduced axes as 1
  for (int64_t k = 0; k < rank; ++k) {
    kept_shape.push_back(reduced[k] ? 1 : x.shape[k]);
    if (!reduced[k] || keep) out_shape.push_back(reduced[k] ? 1 : x.shape[k]);
  }
  auto n_out = element_count(kept_shape);
  if (!n_out) return node_error(StatusCode::kResourceExhausted, node, "output too large");
  const bool lse = node.op_type == "ReduceLogSumExp";
  std::vector<double> acc(*n_out, lse ? -INFINITY : 0.0);
  // Output index of every input element: its coordinates with the reduced ones set to 0.
  std::vector<uint64_t> in_stride(static_cast<size_t>(rank), 1), out_stride(static_cast<size_t>(rank), 1);
  for (int64_t k = rank - 2; k >= 0; --k) {
    in_stride[k] = in_stride[k + 1] * static_cast<uint64_t>(x.shape[k + 1]);
    out_stride[k] = out_stride[k + 1] * static_cast<uint64_t>(kept_shape[k + 1]);
  }
  auto out_index = [&](uint64_t i) {
    uint64_t o = 0;
    for (int64_t k = 0; k < rank; ++k) {
      const uint64_t c = (i / in_stride[k]) % static_cast<uint64_t>(x.shape[k]);
      if (!reduced[k]) o += c * out_stride[k];
    }
    return o;
  };
  if (lse) {
    for (uint64_t i = 0; i < x.data.size(); ++i) acc[out_index(i)] = std::max(acc[out_index(i)], x.data[i]);
    std::vector<double> sum(acc.size(), 0.0);
    for (uint64_t i = 0; i < x.data.size(); ++i) {
      const uint64_t o = out_index(i);
      if (std::isfinite(acc[o])) sum[o] += std::exp(x.data[i] - acc[o]);
    }
    for (size_t o = 0; o < acc.size(); ++o)
      if (std::isfinite(acc[o])) acc[o] += std::log(sum[o]);
  } else {
    for (uint64_t i = 0; i < x.data.size(); ++i) acc[out_index(i)] += x.data[i];
  }
  return FloatTensor{std::move(out_shape), std::move(acc)};
}

// A node's `axis` attribute (default 0, negative from the end) on x, and the products of x's
// dims before and after it (ArgMax, Gather).
struct AxisSplit {
  int64_t axis, outer, inner;
};
Result<AxisSplit> split_at_axis(const OnnxNode& node, const FloatTensor& x) {
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  const int64_t axis = normalize_axis(node.int_attr("axis", 0), rank);
  if (rank == 0 || axis < 0 || axis >= rank)
    return node_error(StatusCode::kInvalidArgument, node, "axis out of range for shape " + shape_string(x.shape));
  AxisSplit s{axis, 1, 1};
  for (int64_t k = 0; k < axis; ++k) s.outer *= x.shape[k];
  for (int64_t k = axis + 1; k < rank; ++k) s.inner *= x.shape[k];
  return s;
}

// ArgMax over `axis` (default 0), the first maximum unless select_last_index; keepdims keeps the
// axis with size 1.
Result<FloatTensor> eval_argmax(const OnnxNode& node, const FloatTensor& x) {
  BLINDML_ASSIGN_OR_RETURN(const AxisSplit split, split_at_axis(node, x));
  const auto [axis, outer, inner] = split;
  const int64_t n = x.shape[axis];
  if (n == 0) return node_error(StatusCode::kInvalidArgument, node, "ArgMax over an empty axis");
  std::vector<int64_t> shape = x.shape;
  if (node.int_attr("keepdims", 1) != 0) shape[axis] = 1;
  else shape.erase(shape.begin() + axis);
  const bool last = node.int_attr("select_last_index", 0) != 0;
  FloatTensor out{shape, std::vector<double>(static_cast<size_t>(outer * inner))};
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      int64_t best = 0;
      for (int64_t k = 1; k < n; ++k) {
        const double v = x.data[(o * n + k) * inner + i], b = x.data[(o * n + best) * inner + i];
        if (v > b || (last && v == b)) best = k;
      }
      out.data[o * inner + i] = static_cast<double>(best);
    }
  return out;
}

// ArrayFeatureExtractor (ai.onnx.ml): the elements of X's last axis at the indices Y; a 1-D X
// (skl2onnx's class labels read at the ArgMax) gives shape [1, |Y|].
Result<FloatTensor> eval_array_feature_extractor(const OnnxNode& node, const FloatTensor& x, const FloatTensor& y) {
  if (x.shape.empty()) return node_error(StatusCode::kInvalidArgument, node, "X must have at least one axis");
  const int64_t last = x.shape.back();
  int64_t outer = 1;
  for (size_t k = 0; k + 1 < x.shape.size(); ++k) outer *= x.shape[k];
  std::vector<int64_t> shape(x.shape.begin(), x.shape.end() - 1);
  if (shape.empty()) shape.push_back(1);
  shape.push_back(static_cast<int64_t>(y.data.size()));
  auto n = element_count(shape);
  if (!n) return node_error(StatusCode::kResourceExhausted, node, "output shape " + shape_string(shape) + " too large");
  FloatTensor out{shape, {}};
  out.data.reserve(*n);
  for (int64_t o = 0; o < outer; ++o)
    for (double idx : y.data) {
      if (!(idx >= 0 && idx < static_cast<double>(last)) || idx != std::trunc(idx))
        return node_error(StatusCode::kInvalidArgument, node, "index " + std::to_string(idx) + " outside [0, " +
                                                                  std::to_string(last) + ")");
      out.data.push_back(x.data[o * last + static_cast<int64_t>(idx)]);
    }
  return out;
}

// OneHotEncoder (ai.onnx.ml): shape [..., C] for C categories; each value, cast to int64 as
// onnxruntime does (truncated), gives 1 at its category's index; an unknown value gives zeros
// (zeros = 1) or an error (zeros = 0).
Result<FloatTensor> eval_one_hot(const OnnxNode& node, const FloatTensor& x, const OnnxGraph& g) {
  std::vector<int64_t> c;
  if (const Attribute* cats = node.attribute("cats_int64s")) {
    c = cats->ints;
  } else if (const Attribute* strs = node.attribute("cats_strings")) {
    // strings are held as their codes in the graph's vocabulary
    const std::vector<std::string> vocabulary = string_vocabulary(g);
    for (const auto& str : strs->strings) c.push_back(static_cast<int64_t>(string_code(vocabulary, str)));
  } else {
    return node_error(StatusCode::kInvalidArgument, node, "cats_int64s or cats_strings is required");
  }
  std::vector<int64_t> shape = x.shape;
  shape.push_back(static_cast<int64_t>(c.size()));
  BLINDML_ASSIGN_OR_RETURN(FloatTensor y, make_tensor(node, shape));
  const bool zeros = node.int_attr("zeros", 1) == 1;
  for (size_t i = 0; i < x.data.size(); ++i) {
    const double v = x.data[i];
    const bool integral = std::isfinite(v) && std::fabs(v) < 9.2e18;
    const auto it = integral ? std::find(c.begin(), c.end(), static_cast<int64_t>(v)) : c.end();
    if (it != c.end()) {
      y.data[i * c.size() + static_cast<size_t>(it - c.begin())] = 1.0;
    } else if (!zeros) {
      return node_error(StatusCode::kInvalidArgument, node, "value " + std::to_string(v) + " is not a category (zeros = 0)");
    }
  }
  return y;
}

// Gather (default domain): X's slices at the integer indices along `axis` (negative indices count
// from the end); shape X[:axis] + indices + X[axis+1:].
Result<FloatTensor> eval_gather(const OnnxNode& node, const FloatTensor& x, const FloatTensor& idx) {
  BLINDML_ASSIGN_OR_RETURN(const AxisSplit split, split_at_axis(node, x));
  const auto [axis, outer, inner] = split;
  const int64_t dim = x.shape[axis];
  std::vector<int64_t> shape(x.shape.begin(), x.shape.begin() + axis);
  shape.insert(shape.end(), idx.shape.begin(), idx.shape.end());
  shape.insert(shape.end(), x.shape.begin() + axis + 1, x.shape.end());
  BLINDML_ASSIGN_OR_RETURN(FloatTensor y, make_tensor(node, shape));
  const int64_t m = static_cast<int64_t>(idx.data.size());
  for (int64_t j = 0; j < m; ++j) {
    double v = idx.data[j];
    if (v < 0) v += static_cast<double>(dim);
    if (!(v >= 0 && v < static_cast<double>(dim)))
      return node_error(StatusCode::kInvalidArgument, node, "index " + std::to_string(idx.data[j]) + " outside [-" +
                                                                std::to_string(dim) + ", " + std::to_string(dim) + ")");
    const int64_t at = static_cast<int64_t>(v);
    for (int64_t o = 0; o < outer; ++o)
      std::copy_n(x.data.begin() + (o * dim + at) * inner, inner, y.data.begin() + (o * m + j) * inner);
  }
  return y;
}

Result<FloatTensor> eval_cast(const OnnxNode& node, const FloatTensor& x) {
  const int64_t to = node.int_attr("to", kFloat);
  FloatTensor y = x;
  for (double& v : y.data) {
    if (to == kFloat) {
      v = static_cast<double>(static_cast<float>(v));
    } else if (to == kInt64) {
      if (!std::isfinite(v) || std::fabs(v) >= 9.2e18) {
        return node_error(StatusCode::kInvalidArgument, node, "cannot cast " + std::to_string(v) + " to int64");
      }
      v = static_cast<double>(static_cast<int64_t>(v));
    }
  }
  return y;
}

Result<FloatTensor> eval_normalizer(const OnnxNode& node, const FloatTensor& x) {
  BLINDML_ASSIGN_OR_RETURN(auto rc, as_matrix(node, x));
  const auto [rows, cols] = rc;
  const std::string norm = node.string_attr("norm", "MAX");
  FloatTensor y = x;
  for (int64_t r = 0; r < rows; ++r) {
    double* row = y.data.data() + r * cols;
    double d = 0;
    if (norm == "MAX") {
      d = cols > 0 ? *std::max_element(row, row + cols) : 0;
    } else if (norm == "L1") {
      for (int64_t k = 0; k < cols; ++k) d += std::fabs(row[k]);
    } else {
      for (int64_t k = 0; k < cols; ++k) d += row[k] * row[k];
      d = std::sqrt(d);
    }
    if (d != 0) {
      for (int64_t k = 0; k < cols; ++k) row[k] /= d;
    }
  }
  return y;
}

// Binary one-column classifiers: the score s of the positive class expands to two columns.
void expand_binary(Transform t, bool probabilities, double s, double* out) {
  if (t == Transform::kLogistic) {
    out[0] = logistic(-s);
    out[1] = logistic(s);
  } else if (probabilities) {
    out[0] = 1 - s;
    out[1] = s;
  } else {
    out[0] = -s;
    out[1] = s;
  }
}

Status eval_linear(const OnnxNode& node, const FloatTensor& x, Values& values) {
  BLINDML_ASSIGN_OR_RETURN(auto m, parse_linear(node));
  BLINDML_ASSIGN_OR_RETURN(auto rc, as_matrix(node, x));
  const auto [rows, cols] = rc;
  const int64_t features = static_cast<int64_t>(m.coefficients.size()) / m.n_outputs;
  if (features != cols) {
    return node_error(StatusCode::kInvalidArgument, node,
                      "the model has " + std::to_string(features) + " features per row, the input " + std::to_string(cols));
  }
  std::vector<double> raw(static_cast<size_t>(rows * m.n_outputs));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t o = 0; o < m.n_outputs; ++o) {
      double s = m.intercepts.empty() ? 0 : m.intercepts[o];
      for (int64_t f = 0; f < cols; ++f) s += x.data[r * cols + f] * m.coefficients[o * cols + f];
      raw[r * m.n_outputs + o] = s;
    }
  }
  if (node.op_type == "LinearRegressor") {
    values[node.outputs[0]] = FloatTensor{{rows, m.n_outputs}, std::move(raw)};
    return Status::ok_status();
  }
  FloatTensor labels{{rows}, std::vector<double>(rows)};
  FloatTensor scores{{rows, m.n_labels}, std::vector<double>(static_cast<size_t>(rows * m.n_labels))};
  for (int64_t r = 0; r < rows; ++r) {
    double* out = scores.data.data() + r * m.n_labels;
    if (m.n_outputs == 1) {
      const double s = raw[r];
      labels.data[r] = s > 0 ? 1 : 0;
      expand_binary(m.transform, false, s, out);
    } else {
      std::vector<double> row(raw.begin() + r * m.n_outputs, raw.begin() + (r + 1) * m.n_outputs);
      labels.data[r] = static_cast<double>(std::max_element(row.begin(), row.end()) - row.begin());
      apply_transform(m.transform, row);
      std::copy(row.begin(), row.end(), out);
    }
  }
  values[node.outputs[0]] = std::move(labels);
  if (node.outputs.size() > 1 && !node.outputs[1].empty()) values[node.outputs[1]] = std::move(scores);
  return Status::ok_status();
}

Status eval_trees(const OnnxNode& node, const FloatTensor& x, Values& values) {
  BLINDML_ASSIGN_OR_RETURN(auto e, parse_tree_ensemble(node));
  BLINDML_ASSIGN_OR_RETURN(auto rc, as_matrix(node, x));
  const auto [rows, cols] = rc;
  if (e.max_feature >= cols) {
    return node_error(StatusCode::kInvalidArgument, node,
                      "the trees read feature " + std::to_string(e.max_feature) + " but rows have " + std::to_string(cols));
  }
  const int64_t n_out = e.n_outputs;
  const double n_trees = static_cast<double>(e.roots.size());
  FloatTensor scores{{rows, n_out}, std::vector<double>(static_cast<size_t>(rows * n_out))};
  FloatTensor labels{{rows}, std::vector<double>(rows)};
  std::vector<double> acc(n_out);
  std::vector<char> has(n_out);
  for (int64_t r = 0; r < rows; ++r) {
    const double* row = x.data.data() + r * cols;
    std::fill(acc.begin(), acc.end(), 0.0);
    std::fill(has.begin(), has.end(), 0);
    for (int64_t root : e.roots) {
      int64_t k = root;
      while (e.nodes[k].mode != Mode::kLeaf) {
        const TreeNode& t = e.nodes[k];
        const double v = row[t.feature];
        bool go_true = false;
        switch (t.mode) {
          case Mode::kLeq: go_true = v <= t.threshold; break;
          case Mode::kLt: go_true = v < t.threshold; break;
          case Mode::kGte: go_true = v >= t.threshold; break;
          case Mode::kGt: go_true = v > t.threshold; break;
          case Mode::kEq: go_true = v == t.threshold; break;
          case Mode::kNeq: go_true = v != t.threshold; break;
          case Mode::kLeaf: break;
        }
        if (std::isnan(v) && t.missing_tracks_true) go_true = true;
        k = go_true ? t.true_child : t.false_child;
      }
      for (const auto& [id, w] : e.nodes[k].weights) {
        switch (e.aggregate) {
          case Aggregate::kSum:
          case Aggregate::kAverage: acc[id] += w; break;
          case Aggregate::kMin: acc[id] = has[id] ? std::min(acc[id], w) : w; break;
          case Aggregate::kMax: acc[id] = has[id] ? std::max(acc[id], w) : w; break;
        }
        has[id] = 1;
      }
    }
    if (e.aggregate == Aggregate::kAverage) {
      for (double& a : acc) a /= n_trees;
    }
    double* out = scores.data.data() + r * n_out;
    if (e.single_column) {
      double s = 0;
      for (int64_t k = 0; k < n_out; ++k) s += acc[k];  // the one class id that has votes
      if (!e.base_values.empty()) s += e.base_values[0];
      const bool probabilities = e.weights_all_positive && e.transform == Transform::kNone;
      labels.data[r] = (probabilities ? s > 0.5 : s > 0) ? 1 : 0;
      expand_binary(e.transform, probabilities, s, out);
      continue;
    }
    if (e.base_values.size() == static_cast<size_t>(n_out)) {
      for (int64_t k = 0; k < n_out; ++k) acc[k] += e.base_values[k];
    }
    if (e.classifier) {  // argmax over the classes that have a score (first on ties)
      const bool all = e.base_values.size() == static_cast<size_t>(n_out);
      int64_t best = -1;
      for (int64_t k = 0; k < n_out; ++k) {
        if ((all || has[k]) && (best < 0 || acc[k] > acc[best])) best = k;
      }
      labels.data[r] = static_cast<double>(std::max<int64_t>(best, 0));
    }
    apply_transform(e.transform, acc);
    std::copy(acc.begin(), acc.end(), out);
  }
  if (e.classifier) {
    values[node.outputs[0]] = std::move(labels);
    if (node.outputs.size() > 1 && !node.outputs[1].empty()) values[node.outputs[1]] = std::move(scores);
  } else {
    values[node.outputs[0]] = std::move(scores);
  }
  return Status::ok_status();
}

// SVMClassifier as onnxruntime computes it (linear kernel): the label output is the class index
// with the most one-vs-one votes, the score output [-d, d] for two classes, the k(k-1)/2 decision
// values for more, or with prob_a / prob_b the k coupled probabilities (processing.h, OvoScores).
Status eval_svm_classifier(const OnnxNode& node, const FloatTensor& x, Values& values) {
  BLINDML_ASSIGN_OR_RETURN(auto f, svm_classifier_form(node));
  BLINDML_ASSIGN_OR_RETURN(auto rc, as_matrix(node, x));
  const auto [rows, cols] = rc;
  if (cols != f.features)
    return node_error(StatusCode::kInvalidArgument, node, "the support vectors have " + std::to_string(f.features) +
                                                              " features, the input " + std::to_string(cols));
  OvoScores ovo;
  ovo.classes = f.classes;
  ovo.kind = f.prob_a.empty() ? OvoScores::Kind::kRaw : OvoScores::Kind::kPlatt;
  ovo.prob_a = f.prob_a;
  ovo.prob_b = f.prob_b;
  const int64_t pairs = f.pairs(), width = ovo.score_count();
  FloatTensor labels{{rows}, std::vector<double>(static_cast<size_t>(rows))};
  BLINDML_ASSIGN_OR_RETURN(FloatTensor scores, make_tensor(node, {rows, width}));
  std::vector<double> d(static_cast<size_t>(pairs)), row_scores;
  for (int64_t r = 0; r < rows; ++r) {
    const double* xr = x.data.data() + r * cols;
    for (int64_t p = 0; p < pairs; ++p) {
      double s = f.b[p];
      for (int64_t k = 0; k < cols; ++k) s += f.w[p * cols + k] * xr[k];
      d[p] = s;
    }
    int64_t label = 0;
    ovo.answer(d, &label, &row_scores);
    labels.data[r] = static_cast<double>(label);
    std::copy(row_scores.begin(), row_scores.end(), scores.data.begin() + r * width);
  }
  values[node.outputs[0]] = std::move(labels);
  if (node.outputs.size() > 1 && !node.outputs[1].empty()) values[node.outputs[1]] = std::move(scores);
  return Status::ok_status();
}

Status eval_node(const OnnxNode& node, const OnnxGraph& g, Values& values) {
  std::vector<const FloatTensor*> in;
  for (const auto& name : node.inputs) {
    if (name.empty()) {
      in.push_back(nullptr);
      continue;
    }
    auto it = values.find(name);
    if (it == values.end()) return node_error(StatusCode::kInternal, node, "input '" + name + "' has no value");
    in.push_back(&it->second);
  }
  const std::string& op = node.op_type;
  auto set = [&](Result<FloatTensor> r) -> Status {
    if (!r.ok()) return r.status();
    values[node.outputs[0]] = std::move(r).value();
    return Status::ok_status();
  };
  auto arith = [&](auto f) { return set(binary_op(node, *in[0], *in[1], f)); };
  if (op == "Add") return arith([](double a, double b) { return a + b; });
  if (op == "Sub") return arith([](double a, double b) { return a - b; });
  if (op == "Mul") return arith([](double a, double b) { return a * b; });
  if (op == "Div") return arith([](double a, double b) { return a / b; });
  if (op == "Pow") return arith([](double a, double b) { return std::pow(a, b); });
  if (op == "Exp") return set(unary_op(*in[0], [](double v) { return std::exp(v); }));
  if (op == "ReduceSum" || op == "ReduceLogSumExp") return set(eval_reduce(node, *in[0], in.size() > 1 ? in[1] : nullptr));
  if (op == "Relu") return set(unary_op(*in[0], [](double v) { return v > 0 ? v : 0.0; }));
  if (op == "Sigmoid") return set(unary_op(*in[0], logistic));
  if (op == "Tanh") return set(unary_op(*in[0], [](double v) { return std::tanh(v); }));
  if (op == "LeakyRelu") {
    const double alpha = node.float_attr("alpha", 0.01);
    return set(unary_op(*in[0], [alpha](double v) { return v >= 0 ? v : alpha * v; }));
  }
  if (op == "Identity" || op == "ZipMap") return set(*in[0]);
  if (op == "ArgMax") return set(eval_argmax(node, *in[0]));
  if (op == "ArrayFeatureExtractor") return set(eval_array_feature_extractor(node, *in[0], *in[1]));
  if (op == "Gemm") return set(eval_gemm(node, *in[0], *in[1], in.size() > 2 ? in[2] : nullptr));
  if (op == "MatMul") return set(eval_matmul(node, *in[0], *in[1]));
  if (op == "Softmax") return set(eval_softmax(node, *in[0], g.opset));
  if (op == "Transpose") return set(eval_transpose(node, *in[0]));
  if (op == "Concat") {
    for (const FloatTensor* p : in) {
      if (p == nullptr) return node_error(StatusCode::kInvalidArgument, node, "empty input name");
    }
    return set(eval_concat(node, in));
  }
  if (op == "Reshape") return set(eval_reshape(node, *in[0], *in[1]));
  if (op == "Flatten") {
    const int64_t rank = static_cast<int64_t>(in[0]->shape.size());
    const int64_t axis = normalize_axis(node.int_attr("axis", 1), rank);
    if (axis < 0 || axis > rank) return node_error(StatusCode::kInvalidArgument, node, "axis out of range for shape " + shape_string(in[0]->shape));
    int64_t outer = 1, inner = 1;
    for (int64_t k = 0; k < rank; ++k) (k < axis ? outer : inner) *= in[0]->shape[k];
    return set(FloatTensor{{outer, inner}, in[0]->data});
  }
  if (op == "Clip") {
    double lo = node.float_attr("min", std::numeric_limits<float>::lowest());
    double hi = node.float_attr("max", std::numeric_limits<float>::max());
    for (size_t k = 1; k < in.size(); ++k) {
      if (in[k] == nullptr) continue;
      if (in[k]->data.size() != 1) return node_error(StatusCode::kInvalidArgument, node, "min and max must be scalars");
      (k == 1 ? lo : hi) = in[k]->data[0];
    }
    return set(unary_op(*in[0], [lo, hi](double v) { return std::min(std::max(v, lo), hi); }));
  }
  if (op == "BatchNormalization") return set(eval_batchnorm(node, *in[0], *in[1], *in[2], *in[3], *in[4]));
  if (op == "Cast") return set(eval_cast(node, *in[0]));
  if (op == "Normalizer") return set(eval_normalizer(node, *in[0]));
  if (op == "OneHotEncoder") return set(eval_one_hot(node, *in[0], g));
  if (op == "LabelEncoder") {
    const std::vector<std::string> vocabulary = string_vocabulary(g);
    BLINDML_ASSIGN_OR_RETURN(auto m, label_encoder_map(node, &vocabulary));
    const auto& [keys, vals, fallback] = m;
    FloatTensor y = *in[0];
    for (double& v : y.data) {
      auto it = std::find(keys.begin(), keys.end(), v);
      v = it == keys.end() ? fallback : vals[static_cast<size_t>(it - keys.begin())];
    }
    return set(std::move(y));
  }
  if (op == "Gather") return set(eval_gather(node, *in[0], *in[1]));
  if (op == "SVMRegressor") {
    BLINDML_ASSIGN_OR_RETURN(auto rc, as_matrix(node, *in[0]));
    BLINDML_ASSIGN_OR_RETURN(auto wb, svm_linear_weights(node));
    if (static_cast<int64_t>(wb.first.size()) != rc.second)
      return node_error(StatusCode::kInvalidArgument, node, "the support vectors have " + std::to_string(wb.first.size()) +
                                                                " features, the input " + std::to_string(rc.second));
    FloatTensor y{{rc.first, 1}, std::vector<double>(static_cast<size_t>(rc.first))};
    for (int64_t r = 0; r < rc.first; ++r) {
      double s = wb.second;
      for (int64_t k = 0; k < rc.second; ++k) s += wb.first[k] * in[0]->data[r * rc.second + k];
      y.data[r] = s;
    }
    return set(std::move(y));
  }
  if (op == "SVMClassifier") return eval_svm_classifier(node, *in[0], values);
  if (op == "Less") return arith([](double a, double b) { return a < b ? 1.0 : 0.0; });
  if (op == "Neg") return set(unary_op(*in[0], [](double v) { return -v; }));
  if (op == "Abs") return set(unary_op(*in[0], [](double v) { return std::fabs(v); }));
  if (op == "Sum") {
    FloatTensor acc = *in[0];
    for (size_t k = 1; k < in.size(); ++k) {
      if (in[k] == nullptr) return node_error(StatusCode::kInvalidArgument, node, "empty input name");
      BLINDML_ASSIGN_OR_RETURN(acc, binary_op(node, acc, *in[k], [](double a, double b) { return a + b; }));
    }
    return set(std::move(acc));
  }
  if (op == "Scaler" || op == "Imputer") {
    BLINDML_ASSIGN_OR_RETURN(auto rc, as_matrix(node, *in[0]));
    BLINDML_ASSIGN_OR_RETURN(Preprocess pre, preprocess_of(node, rc.second));
    FloatTensor y = *in[0];
    for (int64_t r = 0; r < rc.first; ++r) {
      std::vector<double> row(y.data.begin() + r * rc.second, y.data.begin() + (r + 1) * rc.second);
      BLINDML_RETURN_IF_ERROR(pre.apply(row));
      // float32 as the runtime computes it
      for (int64_t k = 0; k < rc.second; ++k) y.data[r * rc.second + k] = static_cast<double>(static_cast<float>(row[k]));
    }
    return set(std::move(y));
  }
  if (op == "LinearRegressor" || op == "LinearClassifier") return eval_linear(node, *in[0], values);
  if (op == "TreeEnsembleRegressor" || op == "TreeEnsembleClassifier") return eval_trees(node, *in[0], values);
  return node_error(StatusCode::kUnimplemented, node, "operator " + op + " has no evaluator");
}

}  // namespace

Result<std::map<std::string, FloatTensor>> evaluate_float(const OnnxGraph& graph,
                                                          const std::map<std::string, FloatTensor>& inputs) {
  Values values;
  for (const auto& [name, t] : graph.float_initializers) values[name] = t;
  for (const auto& [name, t] : graph.int_initializers) {
    values[name] = FloatTensor{t.shape, std::vector<double>(t.data.begin(), t.data.end())};
  }
  for (const ValueInfo& info : graph.inputs) {
    auto it = inputs.find(info.name);
    if (it == inputs.end()) return invalid_argument("graph input '" + info.name + "' is missing");
    const FloatTensor& t = it->second;
    auto n = element_count(t.shape);
    if (!n || *n != t.data.size()) {
      return invalid_argument("graph input '" + info.name + "': shape " + shape_string(t.shape) + " does not match its " +
                              std::to_string(t.data.size()) + " values");
    }
    if (info.has_shape) {
      bool ok = info.shape.size() == t.shape.size();
      for (size_t k = 0; ok && k < info.shape.size(); ++k) ok = info.shape[k] < 0 || info.shape[k] == t.shape[k];
      if (!ok) {
        return invalid_argument("graph input '" + info.name + "' has shape " + shape_string(t.shape) + ", the model declares " +
                                shape_string(info.shape) + " (-1: any)");
      }
    }
    FloatTensor v = t;
    // The file's dtype is what a runtime would hold: float32 inputs are rounded to float32
    // (tree thresholds are float32 and compare with float32 features), int64 must be integral.
    const double codes = info.elem_type == kString ? static_cast<double>(string_vocabulary(graph).size()) : 0;
    for (double& x : v.data) {
      if (info.elem_type == kFloat) {
        x = static_cast<double>(static_cast<float>(x));
      } else if (info.elem_type == kInt64 && x != std::trunc(x)) {
        return invalid_argument("graph input '" + info.name + "' is int64 but holds " + std::to_string(x));
      } else if (info.elem_type == kString && (x != std::trunc(x) || x < -1 || x >= codes)) {
        return invalid_argument("graph input '" + info.name + "' is a string input: its values are codes in the graph's "
                                "string vocabulary (-1 to " + std::to_string(static_cast<int64_t>(codes) - 1) + "), not " +
                                std::to_string(x));
      }
    }
    values[info.name] = std::move(v);
  }
  std::map<std::string, FloatTensor> computed;
  for (const OnnxNode& node : graph.nodes) {
    BLINDML_RETURN_IF_ERROR(eval_node(node, graph, values));
    for (const auto& out : node.outputs) {
      auto it = values.find(out);
      if (!out.empty() && it != values.end()) computed[out] = it->second;
    }
  }
  for (const ValueInfo& o : graph.outputs) {
    auto it = values.find(o.name);
    if (it == values.end()) return internal_error("graph output '" + o.name + "' was not computed");
    computed[o.name] = it->second;
  }
  return computed;
}

}  // namespace blindml::model
