// The client-side prefix of a graph (internal/preprocess.h). The prefix is traced over a working
// row: a list of segments, one per live value (initially the graph inputs, in graph-input order),
// each a run of columns. A node of the prefix either transforms its input's segment in place (a
// Preprocess step acting on that segment's columns: Scaler, Imputer, Normalizer, OneHotEncoder,
// Sub/Add/Mul/Div by a constant, MatMul/Gemm by a constant), renames it (Identity, Cast, Reshape,
// Flatten), or gathers columns into a new segment (Gather, ArrayFeatureExtractor, Concat: a
// select step that also drops the segments no node reads any more). What the rest of the graph
// reads must be a single segment: the model's feature vector.
#include "internal/preprocess.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <tuple>

namespace blindml::model::internal {
namespace {

constexpr int32_t kFloat = 1;
constexpr int32_t kInt64 = 7;
constexpr int32_t kString = 8;
constexpr int32_t kDouble = 11;
// Columns of the working row at any point (the bound from_json puts on a row).
constexpr int64_t kMaxRowWidth = int64_t{1} << 20;

struct Segment {
  std::string value;
  int64_t width = 0;
  std::vector<int64_t> dims;  // the value's shape after the batch axis
  bool integral = false;      // holds integers only (an int64 or string input, one-hot, codes)
};

bool is_tree(const std::string& op) { return op == "TreeEnsembleClassifier" || op == "TreeEnsembleRegressor"; }
bool is_linear_model(const std::string& op) {
  return op == "LinearClassifier" || op == "LinearRegressor" || op == "SVMRegressor" || op == "SVMClassifier";
}
bool is_matrix_op(const std::string& op) { return op == "MatMul" || op == "Gemm"; }

class Tracer {
 public:
  explicit Tracer(const OnnxGraph& g) : g_(g), vocabulary_(string_vocabulary(g)) {
    for (size_t i = 0; i < g.nodes.size(); ++i)
      for (const auto& in : g.nodes[i].inputs)
        if (!in.empty()) {
          ++left_[in];
          readers_[in].push_back(i);
        }
    for (const auto& o : g.outputs) ++left_[o.name];
  }

  Status start(const std::vector<RawInput>& inputs) {
    for (const auto& in : inputs) layout_.push_back({in.name, in.width, {in.width}, in.integer || in.text});
    return Status();
  }
  // (absorb and finish below)

  // Absorbs node i when it belongs to the prefix; false when it stays in the graph.
  Result<bool> absorb(size_t i);
  Result<bool> absorb_rename(size_t i, int k);  // k: the segment of the node's first input
  Result<bool> absorb_step(size_t i, int k);
  Result<bool> absorb_gather(size_t i, int k);

  Result<ClientPrefix> finish(const std::vector<RawInput>& inputs, const std::vector<bool>& absorbed);

 private:
  int find(const std::string& v) const {
    for (size_t k = 0; k < layout_.size(); ++k)
      if (layout_[k].value == v && left_.count(v) && left_.at(v) > 0) return static_cast<int>(k);
    return -1;
  }
  int64_t offset(size_t k) const {
    int64_t o = 0;
    for (size_t j = 0; j < k; ++j) o += layout_[j].width;
    return o;
  }
  int64_t row_width() const { return offset(layout_.size()); }
  const FloatTensor* constant(const std::string& name) {
    auto f = g_.float_initializers.find(name);
    if (f != g_.float_initializers.end()) return &f->second;
    auto it = g_.int_initializers.find(name);
    if (it == g_.int_initializers.end()) return nullptr;
    auto& t = int_consts_[name];
    t = FloatTensor{it->second.shape, std::vector<double>(it->second.data.begin(), it->second.data.end())};
    return &t;
  }
  // A new layout: the live segments (in order), then `extra` (a segment of the given columns).
  void select(std::optional<Segment> extra, const std::vector<int64_t>& columns) {
    std::vector<Segment> next;
    std::vector<int64_t> indices;
    for (size_t k = 0; k < layout_.size(); ++k) {
      if (left_[layout_[k].value] <= 0) continue;
      const int64_t o = offset(k);
      for (int64_t c = 0; c < layout_[k].width; ++c) indices.push_back(o + c);
      next.push_back(layout_[k]);
    }
    if (extra) {
      indices.insert(indices.end(), columns.begin(), columns.end());
      next.push_back(*extra);
    }
    bool identity = static_cast<int64_t>(indices.size()) == row_width();
    for (size_t k = 0; identity && k < indices.size(); ++k) identity = indices[k] == static_cast<int64_t>(k);
    if (!identity) {
      Preprocess p;
      p.kind = Preprocess::Kind::kSelect;
      p.indices = std::move(indices);
      steps_.push_back(std::move(p));
      last_value_.clear();
    }
    layout_ = std::move(next);
  }
  // The segment of v, to be transformed in place into `out` (copied first when another node
  // still reads v).
  size_t take(const std::string& v, const std::string& out) {
    --left_[v];
    const int k = find_any(v);
    if (left_[v] > 0) {
      Segment copy = layout_[static_cast<size_t>(k)];
      const int64_t o = offset(static_cast<size_t>(k));
      std::vector<int64_t> cols;
      for (int64_t c = 0; c < copy.width; ++c) cols.push_back(o + c);
      copy.value = out;
      select(copy, cols);
      return layout_.size() - 1;
    }
    layout_[static_cast<size_t>(k)].value = out;
    return static_cast<size_t>(k);
  }
  int find_any(const std::string& v) const {
    for (size_t k = 0; k < layout_.size(); ++k)
      if (layout_[k].value == v) return static_cast<int>(k);
    return -1;
  }
  void emit(Preprocess p, const std::string& out) {
    if (p.kind != Preprocess::Kind::kOneHot && p.kind != Preprocess::Kind::kMap)
      for (auto& s : layout_)
        if (s.value == out) s.integral = false;
    steps_.push_back(std::move(p));
    last_value_ = out;
  }
  // The affine op of node n on its traced input x of `width` columns: the output width, or
  // nullopt when n is not one (the other operand not a constant of a per-row shape).
  std::optional<int64_t> affine_width(const OnnxNode& n, const std::string& x, int64_t width);
  Status emit_affine(const OnnxNode& n, size_t k);
  // Whether affine node i (reading the traced x) runs on the client: a PCA / TruncatedSVD before
  // trees (the whole chain of affine nodes), before an MLP or a single layer (all but the chain's
  // last MatMul/Gemm, which is the model's), not before a linear model (folded into its weights).
  bool affine_on_client(size_t i, const std::string& x, int64_t width);

  const OnnxGraph& g_;
  const std::vector<std::string> vocabulary_;
  std::map<std::string, int> left_;  // readers not yet absorbed (nodes and graph outputs)
  std::map<std::string, std::vector<size_t>> readers_;
  std::map<std::string, FloatTensor> int_consts_;
  std::vector<Segment> layout_;
  std::vector<Preprocess> steps_;
  std::string last_value_;           // the value the last step wrote (for merging affine steps)
  std::map<size_t, bool> affine_decided_;
};

std::optional<int64_t> Tracer::affine_width(const OnnxNode& n, const std::string& x, int64_t width) {
  const std::string& op = n.op_type;
  if (!n.domain.empty() && n.domain != "ai.onnx") return std::nullopt;
  if (n.outputs.size() != 1 || n.inputs.size() < 2) return std::nullopt;
  auto per_row = [&](const FloatTensor* c) {
    return c && (c->data.size() == 1 || static_cast<int64_t>(c->data.size()) == width) &&
           (c->shape.size() <= 1 || (c->shape.size() == 2 && c->shape[0] == 1));
  };
  if (op == "Sub" || op == "Div") {
    if (n.inputs[0] != x || !per_row(constant(n.inputs[1]))) return std::nullopt;
    if (op == "Div")
      for (double v : constant(n.inputs[1])->data)
        if (v == 0) return std::nullopt;
    return width;
  }
  if (op == "Add" || op == "Mul") {
    if (n.inputs[0] != x || !per_row(constant(n.inputs[1]))) return std::nullopt;
    return width;
  }
  if (op == "MatMul" || op == "Gemm") {
    if (n.inputs[0] != x) return std::nullopt;
    const FloatTensor* w = constant(n.inputs[1]);
    if (!w || w->shape.size() != 2) return std::nullopt;
    const bool trans = op == "Gemm" && n.int_attr("transB", 0) == 1;
    if (op == "Gemm" && n.int_attr("transA", 0) != 0) return std::nullopt;
    const int64_t F = trans ? w->shape[1] : w->shape[0], K = trans ? w->shape[0] : w->shape[1];
    if (F != width || K < 1) return std::nullopt;
    if (op == "Gemm" && n.inputs.size() > 2 && !n.inputs[2].empty()) {
      const FloatTensor* c = constant(n.inputs[2]);
      if (!c || (c->data.size() != 1 && static_cast<int64_t>(c->data.size()) != K)) return std::nullopt;
    }
    return K;
  }
  return std::nullopt;
}

bool Tracer::affine_on_client(size_t i, const std::string& x, int64_t width) {
  if (auto it = affine_decided_.find(i); it != affine_decided_.end()) return it->second;
  std::vector<size_t> chain;
  std::string cur = x;
  int64_t w = width;
  size_t k = i;
  std::string consumer;
  while (true) {
    auto next_w = affine_width(g_.nodes[k], cur, w);
    if (!next_w) break;
    chain.push_back(k);
    cur = g_.nodes[k].outputs[0];
    w = *next_w;
    const auto& rs = readers_[cur];
    bool output = false;
    for (const auto& o : g_.outputs) output = output || o.name == cur;
    if (rs.size() != 1 || output) break;
    consumer = g_.nodes[rs[0]].op_type;
    k = rs[0];
  }
  size_t absorb = 0;
  if (is_tree(consumer)) {
    absorb = chain.size();
  } else if (!is_linear_model(consumer)) {
    size_t last = chain.size();
    for (size_t c = 0; c < chain.size(); ++c)
      if (is_matrix_op(g_.nodes[chain[c]].op_type)) last = c;
    absorb = last;  // everything before the model's own layer (all of a chain without one)
  }
  for (size_t c = 0; c < chain.size(); ++c) affine_decided_[chain[c]] = c < absorb;
  return absorb > 0;
}

Status Tracer::emit_affine(const OnnxNode& n, size_t k) {
  const std::string& op = n.op_type;
  const int64_t at = offset(k);
  const int64_t width = layout_[k].width;
  const std::string& out = n.outputs[0];
  const bool merge = !steps_.empty() && last_value_ == n.inputs[0] && steps_.back().at == at &&
                     steps_.back().kind != Preprocess::Kind::kSelect && steps_.back().out_width() == width;
  if (is_matrix_op(op)) {
    const FloatTensor& wt = *constant(n.inputs[1]);
    const bool trans = op == "Gemm" && n.int_attr("transB", 0) == 1;
    const double alpha = op == "Gemm" ? n.float_attr("alpha", 1.0) : 1.0;
    const int64_t K = trans ? wt.shape[0] : wt.shape[1];
    Preprocess p;
    p.kind = Preprocess::Kind::kLinear;
    p.at = at;
    p.offset.assign(static_cast<size_t>(width), 0.0);
    p.matrix.resize(static_cast<size_t>(width * K));
    for (int64_t j = 0; j < width; ++j)
      for (int64_t c = 0; c < K; ++c)
        p.matrix[j * K + c] = alpha * (trans ? wt.data[c * width + j] : wt.data[j * K + c]);
    p.bias.assign(static_cast<size_t>(K), 0.0);
    if (op == "Gemm" && n.inputs.size() > 2 && !n.inputs[2].empty()) {
      const FloatTensor& c = *constant(n.inputs[2]);
      const double beta = n.float_attr("beta", 1.0);
      for (int64_t q = 0; q < K; ++q) p.bias[q] = beta * c.data[c.data.size() == 1 ? 0 : q];
    }
    // A scaler just before (a Sub of the PCA mean, a StandardScaler) folds in:
    // Σ_j ((x_j - o_j)·s_j)·M_jk = Σ_j (x_j - o_j)·(s_j·M_jk).
    if (merge && steps_.back().kind == Preprocess::Kind::kScaler) {
      const Preprocess s = steps_.back();
      steps_.pop_back();
      p.offset = s.offset;
      for (int64_t j = 0; j < width; ++j)
        for (int64_t c = 0; c < K; ++c) p.matrix[j * K + c] *= s.scale[j];
    }
    layout_[k].width = K;
    layout_[k].dims = {K};
    emit(std::move(p), out);
    return Status();
  }
  const FloatTensor& c = *constant(n.inputs[1]);
  auto cv = [&](int64_t j) { return c.data[c.data.size() == 1 ? 0 : static_cast<size_t>(j)]; };
  // A bias after a linear step goes into its bias (width = K there).
  if (merge && steps_.back().kind == Preprocess::Kind::kLinear && (op == "Add" || op == "Sub")) {
    for (int64_t j = 0; j < width; ++j) steps_.back().bias[j] += op == "Add" ? cv(j) : -cv(j);
    last_value_ = out;
    return Status();
  }
  Preprocess p;
  p.kind = Preprocess::Kind::kScaler;
  p.at = at;
  p.offset.assign(static_cast<size_t>(width), 0.0);
  p.scale.assign(static_cast<size_t>(width), 1.0);
  for (int64_t j = 0; j < width; ++j) {
    if (op == "Sub") p.offset[j] = cv(j);
    if (op == "Add") p.offset[j] = -cv(j);
    if (op == "Mul") p.scale[j] = cv(j);
    if (op == "Div") p.scale[j] = 1.0 / cv(j);
  }
  emit(std::move(p), out);
  return Status();
}

// Nodes that only rename a value's columns (Identity, Flatten, Cast, Reshape to [-1, width]).
Result<bool> Tracer::absorb_rename(size_t i, int k) {
  const OnnxNode& n = g_.nodes[i];
  const std::string& op = n.op_type;
  const Segment seg = layout_[static_cast<size_t>(k)];
  const std::string& out = n.outputs[0];
  if (op == "Identity" || (op == "Flatten" && n.int_attr("axis", 1) == 1) ||
      (op == "Cast" && n.int_attr("to", kFloat) != kInt64)) {
    const size_t at = take(n.inputs[0], out);
    if (op == "Flatten") layout_[at].dims = {layout_[at].width};
    return true;
  }
  if (op == "Cast") {  // to int64: of integers, or in front of OneHotEncoders, which truncate as the cast does
    if (!seg.integral)
      for (size_t r : readers_[out])
        if (g_.nodes[r].op_type != "OneHotEncoder") return false;
    take(n.inputs[0], out);
    return true;
  }
  if (op == "Reshape") {
    const FloatTensor* shape = n.inputs.size() > 1 ? constant(n.inputs[1]) : nullptr;
    if (!shape || shape->data.size() != 2 || !(shape->data[0] == -1 || shape->data[0] == 0) ||
        shape->data[1] != static_cast<double>(seg.width))
      return false;
    const size_t at = take(n.inputs[0], out);
    layout_[at].dims = {seg.width};
    return true;
  }
  return false;
}

// Nodes that become one step on their input's columns (Scaler, Imputer, Normalizer,
// LabelEncoder, OneHotEncoder).
Result<bool> Tracer::absorb_step(size_t i, int k) {
  const OnnxNode& n = g_.nodes[i];
  const std::string& op = n.op_type;
  const Segment seg = layout_[static_cast<size_t>(k)];
  const std::string& out = n.outputs[0];
  const bool one_dim = seg.dims.size() == 1;
  if (op == "LabelEncoder") {
    auto m = label_encoder_map(n, &vocabulary_);
    if (!m.ok()) return m.status();
    Preprocess p;
    p.kind = Preprocess::Kind::kMap;
    p.width = seg.width;
    std::tie(p.keys, p.values, p.fallback) = std::move(m).value();
    const bool integral = n.attribute("values_int64s") != nullptr;
    const size_t at = take(n.inputs[0], out);
    p.at = offset(at);
    layout_[at].integral = integral;
    emit(std::move(p), out);
    return true;
  }
  if ((op == "Scaler" || op == "Imputer") && one_dim) {
    BLINDML_ASSIGN_OR_RETURN(Preprocess p, preprocess_of(n, seg.width));
    const size_t at = take(n.inputs[0], out);
    p.at = offset(at);
    emit(std::move(p), out);
    return true;
  }
  if (op == "Normalizer" && one_dim) {
    Preprocess p;
    p.kind = Preprocess::Kind::kNormalizer;
    const std::string norm = n.string_attr("norm", "MAX");
    p.norm = norm == "L1" ? Preprocess::Norm::kL1 : norm == "L2" ? Preprocess::Norm::kL2 : Preprocess::Norm::kMax;
    p.width = seg.width;
    const size_t at = take(n.inputs[0], out);
    p.at = offset(at);
    emit(std::move(p), out);
    return true;
  }
  if (op == "OneHotEncoder") {
    std::vector<int64_t> categories;
    if (const Attribute* cats = n.attribute("cats_int64s")) categories = cats->ints;
    if (const Attribute* strs = n.attribute("cats_strings"))
      for (const auto& str : strs->strings) {
        auto it = std::lower_bound(vocabulary_.begin(), vocabulary_.end(), str);
        categories.push_back(static_cast<int64_t>(it - vocabulary_.begin()));  // in it: the graph's strings
      }
    if (categories.empty()) return false;
    const int64_t c = static_cast<int64_t>(categories.size());
    if (seg.width > kMaxRowWidth / c || row_width() - seg.width + seg.width * c > kMaxRowWidth)
      return unimplemented("node '" + n.name + "' (OneHotEncoder): the row would exceed " +
                           std::to_string(kMaxRowWidth) + " columns");
    Preprocess p;
    p.kind = Preprocess::Kind::kOneHot;
    p.width = seg.width;
    p.categories = std::move(categories);
    p.zeros = n.int_attr("zeros", 1) == 1;
    const size_t at = take(n.inputs[0], out);
    p.at = offset(at);
    layout_[at].integral = true;
    layout_[at].width = seg.width * c;
    layout_[at].dims.push_back(c);
    emit(std::move(p), out);
    return true;
  }
  return false;
}

// Column selections and concatenations: a select step making a new segment.
Result<bool> Tracer::absorb_gather(size_t i, int k) {
  const OnnxNode& n = g_.nodes[i];
  const std::string& op = n.op_type;
  const Segment seg = layout_[static_cast<size_t>(k)];
  const std::string& out = n.outputs[0];
  const bool one_dim = seg.dims.size() == 1;
  // OneHotEncoder(drop=...): skl2onnx gathers the kept categories on the encoder's last axis. The
  // step just emitted for this value keeps only those; the dropped ones encode to all zeros.
  if (op == "Gather" && seg.dims.size() == 2 && n.inputs.size() == 2 && last_value_ == n.inputs[0] &&
      !steps_.empty() && steps_.back().kind == Preprocess::Kind::kOneHot && left_.at(n.inputs[0]) == 1) {
    const int64_t axis = n.int_attr("axis", 0);
    const FloatTensor* idx = constant(n.inputs[1]);
    Preprocess& p = steps_.back();
    const int64_t c = static_cast<int64_t>(p.categories.size());
    if ((axis != -1 && axis != 2) || !idx || idx->shape.size() != 1 || seg.dims[0] != p.width || seg.dims[1] != c)
      return false;
    std::vector<char> kept(static_cast<size_t>(c), 0);
    std::vector<int64_t> keep;
    for (double v : idx->data) {
      const double j = v < 0 ? v + static_cast<double>(c) : v;
      if (!(j >= 0 && j < static_cast<double>(c)) || j != std::trunc(j) || kept[static_cast<size_t>(j)]) return false;
      kept[static_cast<size_t>(j)] = 1;
      keep.push_back(p.categories[static_cast<size_t>(j)]);
    }
    if (keep.empty()) return false;
    for (int64_t j = 0; j < c; ++j)
      if (!kept[static_cast<size_t>(j)]) p.dropped.push_back(p.categories[static_cast<size_t>(j)]);
    p.categories = std::move(keep);
    const size_t at = take(n.inputs[0], out);
    layout_[at].dims = {p.width, static_cast<int64_t>(p.categories.size())};
    layout_[at].width = p.width * static_cast<int64_t>(p.categories.size());
    last_value_ = out;
    return true;
  }
  if ((op == "Gather" || op == "ArrayFeatureExtractor") && one_dim && n.inputs.size() == 2) {
    const FloatTensor* idx = constant(n.inputs[1]);
    if (!idx || idx->shape.size() > 1) return false;
    if (op == "Gather") {
      const int64_t axis = n.int_attr("axis", 0);
      if (axis != 1 && axis != -1) return false;
    }
    std::vector<int64_t> cols;
    const int64_t o = offset(static_cast<size_t>(k));
    for (double v : idx->data) {
      double j = v < 0 && op == "Gather" ? v + static_cast<double>(seg.width) : v;
      if (!(j >= 0 && j < static_cast<double>(seg.width)) || j != std::trunc(j)) return false;
      cols.push_back(o + static_cast<int64_t>(j));
    }
    --left_[n.inputs[0]];
    Segment s{out, static_cast<int64_t>(cols.size()), {}, seg.integral};
    if (idx->shape.size() == 1 || op == "ArrayFeatureExtractor") s.dims = {s.width};
    select(s, cols);
    return true;
  }
  if (op == "Concat") {
    std::vector<int> parts;
    for (const auto& in : n.inputs) {
      const int p = find(in);
      if (p < 0) return false;
      parts.push_back(p);
    }
    const size_t rank = 1 + seg.dims.size();
    const int64_t raw_axis = n.int_attr("axis", 1);
    const int64_t axis = raw_axis < 0 ? raw_axis + static_cast<int64_t>(rank) : raw_axis;
    if (axis < 1 || axis >= static_cast<int64_t>(rank)) return false;
    const size_t a = static_cast<size_t>(axis - 1);  // in dims
    std::vector<int64_t> dims = seg.dims;
    dims[a] = 0;
    std::vector<int64_t> cols;
    bool integral = true;
    for (int p : parts) {
      const Segment& s = layout_[static_cast<size_t>(p)];
      integral = integral && s.integral;
      if (s.dims.size() != seg.dims.size()) return false;
      for (size_t d = 0; d < s.dims.size(); ++d) {
        if (d < a && s.dims[d] != 1) return false;  // per row, only then a concatenation of the rows
        if (d > a && s.dims[d] != seg.dims[d]) return false;
      }
      dims[a] += s.dims[a];
      const int64_t o = offset(static_cast<size_t>(p));
      for (int64_t c = 0; c < s.width; ++c) cols.push_back(o + c);
    }
    if (row_width() + static_cast<int64_t>(cols.size()) > kMaxRowWidth) return false;
    for (const auto& in : n.inputs) --left_[in];
    select(Segment{out, static_cast<int64_t>(cols.size()), dims, integral}, cols);
    return true;
  }
  return false;
}

Result<bool> Tracer::absorb(size_t i) {
  const OnnxNode& n = g_.nodes[i];
  if (n.inputs.empty() || n.outputs.size() != 1) return false;
  const int k = find(n.inputs[0]);
  if (k < 0) return false;
  for (auto part : {&Tracer::absorb_rename, &Tracer::absorb_step, &Tracer::absorb_gather}) {
    BLINDML_ASSIGN_OR_RETURN(const bool done, (this->*part)(i, k));
    if (done) return true;
  }
  const Segment& seg = layout_[static_cast<size_t>(k)];
  if (seg.dims.size() == 1 && affine_width(n, n.inputs[0], seg.width) && affine_on_client(i, n.inputs[0], seg.width)) {
    const size_t at = take(n.inputs[0], n.outputs[0]);
    BLINDML_RETURN_IF_ERROR(emit_affine(n, at));
    return true;
  }
  return false;
}

Result<ClientPrefix> Tracer::finish(const std::vector<RawInput>& inputs, const std::vector<bool>& absorbed) {
  // What the rest of the graph reads of the working row.
  std::vector<std::string> read;
  auto note_read = [&](const std::string& v) {
    if (find(v) >= 0 && std::find(read.begin(), read.end(), v) == read.end()) read.push_back(v);
  };
  for (size_t i = 0; i < g_.nodes.size(); ++i)
    if (!absorbed[i])
      for (const auto& in : g_.nodes[i].inputs) note_read(in);
  for (const auto& o : g_.outputs) note_read(o.name);
  if (read.size() != 1) {
    std::string names;
    for (const auto& v : read) names += (names.empty() ? "'" : ", '") + v + "'";
    return unimplemented("the model reads " + std::to_string(read.size()) + " values computed from the graph inputs (" +
                         names + "); blindml takes one feature vector: the inputs must be concatenated (Concat) "
                         "before the model");
  }
  const std::string v = read[0];
  const int k = find(v);
  if (layout_.size() != 1) {
    std::vector<int64_t> cols;
    const int64_t o = offset(static_cast<size_t>(k));
    for (int64_t c = 0; c < layout_[static_cast<size_t>(k)].width; ++c) cols.push_back(o + c);
    Segment keep = layout_[static_cast<size_t>(k)];
    for (auto& s : layout_) left_[s.value] = 0;
    select(keep, cols);
  }
  ClientPrefix p;
  p.inputs = inputs;
  for (const auto& in : inputs)
    if (in.text) p.vocabulary = vocabulary_;
  p.row_width = inputs.empty() ? 0 : inputs.back().first + inputs.back().width;
  p.preprocess = std::move(steps_);
  p.graph = g_;
  p.graph.nodes.clear();
  std::string absorbed_names;
  int count = 0;
  for (size_t i = 0; i < g_.nodes.size(); ++i) {
    if (!absorbed[i]) {
      p.graph.nodes.push_back(g_.nodes[i]);
      continue;
    }
    if (++count <= 8) p.notes += "preprocessing: node '" + g_.nodes[i].name + "' (" + g_.nodes[i].op_type + ") runs on the client in the clear\n";
  }
  if (count > 8) p.notes += "preprocessing: and " + std::to_string(count - 8) + " more nodes on the client\n";
  bool all_double = true;
  for (const auto& in : g_.inputs) all_double = all_double && in.elem_type == kDouble;
  ValueInfo info;
  info.name = v;
  info.elem_type = all_double ? kDouble : kFloat;
  info.shape = {-1, layout_.back().width};
  info.has_shape = true;
  p.graph.inputs = {info};
  if (inputs.size() > 1 || p.row_width != layout_.back().width) {
    std::string layout;
    for (const auto& in : inputs)
      layout += (layout.empty() ? "" : ", ") + in.name + " [" + std::to_string(in.width) +
                (in.text ? " string" : in.integer ? " int64" : " float") + "]";
    p.notes += "client row: " + std::to_string(p.row_width) + " values (the graph inputs' columns in order: " + layout +
               "), " + std::to_string(p.preprocess.size()) + " preprocessing steps, " +
               std::to_string(layout_.back().width) + " features for the model\n";
  }
  return p;
}

}  // namespace

Result<std::vector<RawInput>> raw_inputs(const OnnxGraph& graph, int64_t single_width) {
  std::vector<RawInput> out;
  int64_t first = 0;
  for (const auto& in : graph.inputs) {
    RawInput r;
    r.name = in.name;
    r.integer = in.elem_type == kInt64;
    r.text = in.elem_type == kString;
    if (in.has_shape && in.shape.size() == 2 && in.shape[1] > 0) r.width = in.shape[1];
    else if (in.has_shape && in.shape.size() == 1) r.width = 1;
    else if (graph.inputs.size() == 1 && single_width > 0) r.width = single_width;
    else
      return unimplemented("graph input '" + in.name + "' does not declare its number of columns (shape [N, columns]); "
                           "with several inputs blindml needs each one's");
    if (r.width > kMaxRowWidth || first + r.width > kMaxRowWidth)
      return unimplemented("the graph inputs have more than " + std::to_string(kMaxRowWidth) + " columns");
    r.first = first;
    first += r.width;
    out.push_back(std::move(r));
  }
  return out;
}

Result<std::optional<ClientPrefix>> split_client_prefix(const OnnxGraph& graph, int64_t single_width) {
  if (graph.inputs.empty()) return std::optional<ClientPrefix>();  // (the family's lowering reports it)
  const ValueInfo& first = graph.inputs[0];
  const bool declared = first.has_shape && (first.shape.size() == 1 || (first.shape.size() == 2 && first.shape[1] > 0));
  if (graph.inputs.size() == 1 && !declared && single_width <= 0)
    return std::optional<ClientPrefix>();  // no width to trace with (no calibration rows: the lowering says so)
  BLINDML_ASSIGN_OR_RETURN(std::vector<RawInput> inputs, raw_inputs(graph, single_width));
  Tracer t(graph);
  BLINDML_RETURN_IF_ERROR(t.start(inputs));
  std::vector<bool> absorbed(graph.nodes.size(), false);
  bool any = false;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    BLINDML_ASSIGN_OR_RETURN(absorbed[i], t.absorb(i));
    any = any || absorbed[i];
  }
  if (!any && graph.inputs.size() == 1) return std::optional<ClientPrefix>();
  BLINDML_ASSIGN_OR_RETURN(ClientPrefix p, t.finish(inputs, absorbed));
  return std::optional<ClientPrefix>(std::move(p));
}

}  // namespace blindml::model::internal
