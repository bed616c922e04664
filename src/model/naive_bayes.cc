// Naive Bayes (skl2onnx's GaussianNB) as a linear model on x and (x - m)² (docs/models.md).
//
// skl2onnx writes the joint log-likelihood of GaussianNB as
//   jll[n, c] = jointi_c + ssl_c - ½·Σ_j (x_j - θ_cj)² / σ_cj
//   Reshape(X, [-1, 1, F]) -> Sub(θ [1, C, F]) -> Pow(2) -> Div(σ [1, C, F]) -> ReduceSum(axis 2)
//   -> Mul(0.5) -> Sub(ssl [1, C], ·) -> Add(jointi [1, C], ·)
// followed by its label tail (ArgMax -> ArrayFeatureExtractor(classes) -> Cast/Reshape) and its
// probabilities exp(jll - logsumexp(jll)) (ReduceLogSumExp -> Reshape -> Sub -> Exp [-> ZipMap]),
// which is softmax(jll). With u_j = x_j - m_j (m_j the midpoint of feature j's calibration range)
// and d_cj = θ_cj - m_j, (x_j - θ_cj)² = u_j² - 2·u_j·d_cj + d_cj², so
//   jll_c = Σ_j [ (d_cj/σ_cj)·x_j - (½/σ_cj)·u_j² ] + jointi_c + ssl_c - Σ_j (½·d_cj²/σ_cj + m_j·d_cj/σ_cj)
// is linear in (x_j, u_j²): a LinearClassifier with a SOFTMAX post transform on 2F inputs, which
// the client computes (each quantize encoder carries the square term, FeatureEncoder::Square).
// Centring keeps the square's quantizer on [0, (range/2)²] instead of [min², max²].
#include <cmath>
#include <map>

#include "internal/lowering.h"

namespace blindml::model::internal {

namespace {

const FloatTensor* float_init(const OnnxGraph& g, const std::string& name) {
  auto it = g.float_initializers.find(name);
  return it == g.float_initializers.end() ? nullptr : &it->second;
}

bool is_scalar(const OnnxGraph& g, const std::string& name, double value) {
  const FloatTensor* t = float_init(g, name);
  return t != nullptr && t->data.size() == 1 && t->data[0] == value;
}

// The first node of kind `op` reading `value` (others reading it are checked with the tails).
const OnnxNode* consumer(const OnnxGraph& g, const std::string& value, const char* op) {
  for (const auto& n : g.nodes)
    if (n.op_type == op)
      for (const auto& in : n.inputs)
        if (in == value) return &n;
  return nullptr;
}

// The other input of a two-input node whose one input is `value`.
const std::string* other_input(const OnnxNode& n, const std::string& value) {
  if (n.inputs.size() != 2) return nullptr;
  if (n.inputs[0] == value) return &n.inputs[1];
  if (n.inputs[1] == value) return &n.inputs[0];
  return nullptr;
}

bool reduces_last_of_three(const OnnxGraph& g, const OnnxNode& n) {
  if (n.int_attr("keepdims", 1) != 0) return false;
  std::vector<int64_t> axes;
  if (const Attribute* a = n.attribute("axes")) axes = a->ints;
  if (n.inputs.size() > 1) {
    auto it = g.int_initializers.find(n.inputs[1]);
    if (it == g.int_initializers.end()) return false;
    axes = it->second.data;
  }
  return axes.size() == 1 && (axes[0] == 2 || axes[0] == -1);
}

}  // namespace

Result<std::optional<SquaredFeatures>> gaussian_nb_as_linear(const OnnxGraph& graph, const Rows& calibration) {
  using None = std::optional<SquaredFeatures>;
  if (graph.inputs.size() != 1) return None();
  const std::string x = graph.inputs[0].name;
  const OnnxNode* reshape = consumer(graph, x, "Reshape");
  if (reshape == nullptr || reshape->op_type != "Reshape" || reshape->inputs[0] != x) return None();
  const OnnxNode* sub = consumer(graph, reshape->outputs[0], "Sub");
  if (sub == nullptr || sub->op_type != "Sub" || sub->inputs.size() != 2 || sub->inputs[0] != reshape->outputs[0]) return None();
  const FloatTensor* theta = float_init(graph, sub->inputs[1]);
  const OnnxNode* pow = consumer(graph, sub->outputs[0], "Pow");
  if (theta == nullptr || pow == nullptr || pow->op_type != "Pow" || pow->inputs[0] != sub->outputs[0] ||
      !is_scalar(graph, pow->inputs[1], 2.0))
    return None();
  const OnnxNode* div = consumer(graph, pow->outputs[0], "Div");
  if (div == nullptr || div->op_type != "Div" || div->inputs[0] != pow->outputs[0]) return None();
  const FloatTensor* sigma = float_init(graph, div->inputs[1]);
  const OnnxNode* rsum = consumer(graph, div->outputs[0], "ReduceSum");
  if (sigma == nullptr || rsum == nullptr || rsum->op_type != "ReduceSum" || !reduces_last_of_three(graph, *rsum)) return None();
  const OnnxNode* mul = consumer(graph, rsum->outputs[0], "Mul");
  const std::string* half = mul && mul->op_type == "Mul" ? other_input(*mul, rsum->outputs[0]) : nullptr;
  if (half == nullptr || !is_scalar(graph, *half, 0.5)) return None();
  const OnnxNode* sub2 = consumer(graph, mul->outputs[0], "Sub");
  if (sub2 == nullptr || sub2->op_type != "Sub" || sub2->inputs.size() != 2 || sub2->inputs[1] != mul->outputs[0]) return None();
  const FloatTensor* ssl = float_init(graph, sub2->inputs[0]);
  const OnnxNode* add = consumer(graph, sub2->outputs[0], "Add");
  const std::string* jointi_name = add && add->op_type == "Add" ? other_input(*add, sub2->outputs[0]) : nullptr;
  const FloatTensor* jointi = jointi_name ? float_init(graph, *jointi_name) : nullptr;
  if (ssl == nullptr || jointi == nullptr) return None();

  // From here on the graph is a GaussianNB: what does not fit is an error, not another family.
  auto bad = [&](const std::string& what) {
    return unimplemented("GaussianNB (nodes '" + reshape->name + "' .. '" + add->name + "'): " + what);
  };
  const int64_t C = static_cast<int64_t>(jointi->data.size());
  if (C < 2 || static_cast<int64_t>(ssl->data.size()) != C) return bad("the class priors and the variances' log terms differ in count");
  if (theta->data.size() != sigma->data.size() || theta->data.size() % static_cast<size_t>(C) != 0)
    return bad("the means and variances do not split into " + std::to_string(C) + " classes");
  const int64_t F = static_cast<int64_t>(theta->data.size()) / C;
  for (double s : sigma->data)
    if (!(s > 0) || !std::isfinite(s)) return bad("a variance is not a positive finite number");
  for (const FloatTensor* t : {theta, jointi, ssl})
    for (double v : t->data)
      if (!std::isfinite(v)) return bad("a mean, prior or log term is not a finite number");
  // The rest must be the label and probability tails, reading only jll.
  const std::string jll = add->outputs[0];
  const std::vector<const OnnxNode*> chain = {reshape, sub, pow, div, rsum, mul, sub2, add};
  for (const auto& n : graph.nodes) {
    if (std::find(chain.begin(), chain.end(), &n) != chain.end()) continue;
    if (n.op_type != "ArgMax" && n.op_type != "ReduceLogSumExp" && n.op_type != "Reshape" && n.op_type != "Sub" &&
        n.op_type != "Exp" && n.op_type != "ArrayFeatureExtractor" && n.op_type != "Cast" && n.op_type != "ZipMap" &&
        n.op_type != "Identity")
      return bad("node '" + n.name + "' (" + n.op_type + ") is not part of its label or probability output");
    for (const auto& in : n.inputs)
      for (const OnnxNode* c : chain)
        if ((c != add && !c->outputs.empty() && in == c->outputs[0]) || in == x)
          return bad("node '" + n.name + "' reads the input or an intermediate of the log-likelihood");
  }
  std::optional<std::vector<int64_t>> labels = label_initializer(graph, C);
  std::vector<int64_t> classes(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c) classes[c] = labels ? (*labels)[c] : c;

  BLINDML_ASSIGN_OR_RETURN(auto ranges, feature_ranges(calibration, static_cast<size_t>(F)));
  SquaredFeatures out;
  out.centre.resize(static_cast<size_t>(F));
  for (int64_t j = 0; j < F; ++j) out.centre[j] = (ranges.first[j] + ranges.second[j]) / 2;
  std::vector<double> coef(static_cast<size_t>(C * 2 * F)), intercepts(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c) {
    double b = jointi->data[c] + ssl->data[c];
    for (int64_t j = 0; j < F; ++j) {
      const double s = sigma->data[c * F + j], m = out.centre[j], d = theta->data[c * F + j] - m;
      coef[c * 2 * F + 2 * j] = d / s;
      coef[c * 2 * F + 2 * j + 1] = -0.5 / s;
      b -= 0.5 * d * d / s + m * d / s;
    }
    intercepts[c] = b;
  }
  OnnxGraph& g = out.graph;
  g.producer = graph.producer;
  g.opset = graph.opset;
  g.ml_opset = std::max<int64_t>(graph.ml_opset, 1);
  ValueInfo in = graph.inputs[0];
  in.shape = {-1, 2 * F};
  in.has_shape = true;
  g.inputs.push_back(in);
  OnnxNode lin;
  lin.name = add->name;
  lin.op_type = "LinearClassifier";
  lin.domain = "ai.onnx.ml";
  lin.inputs = {x};
  lin.outputs = {"label", "probabilities"};
  Attribute a;
  a.kind = Attribute::Kind::kFloats;
  a.floats = coef;
  lin.attributes["coefficients"] = a;
  a.floats = intercepts;
  lin.attributes["intercepts"] = a;
  Attribute l;
  l.kind = Attribute::Kind::kInts;
  l.ints = classes;
  lin.attributes["classlabels_ints"] = l;
  Attribute p;
  p.kind = Attribute::Kind::kString;
  p.s = "SOFTMAX";
  lin.attributes["post_transform"] = p;
  g.nodes.push_back(std::move(lin));
  for (const char* name : {"label", "probabilities"}) {
    ValueInfo o;
    o.name = name;
    g.outputs.push_back(o);
  }
  // Calibration rows on (x_j, u_j²), and the box's centre (u = 0), so that every square's
  // quantizer covers [0, (range/2)²] and the centre of the box is in range.
  out.calibration.reserve(calibration.size() + 1);
  for (const auto& row : calibration) {
    std::vector<double> r(static_cast<size_t>(2 * F));
    for (int64_t j = 0; j < F; ++j) {
      const double u = row[j] - out.centre[j];
      r[2 * j] = row[j];
      r[2 * j + 1] = u * u;
    }
    out.calibration.push_back(std::move(r));
  }
  std::vector<double> centre_row(static_cast<size_t>(2 * F), 0.0);
  for (int64_t j = 0; j < F; ++j) centre_row[2 * j] = out.centre[j];
  out.calibration.push_back(std::move(centre_row));
  out.note = "GaussianNB: nodes '" + reshape->name + "' .. '" + add->name + "' (" + std::to_string(C) + " classes, " +
             std::to_string(F) + " features) rewritten as a linear model on x and (x - m)² (m: each feature's " +
             "calibration midpoint; the client computes the squares), softmax of the log-likelihoods on the client\n";
  return std::optional<SquaredFeatures>(std::move(out));
}

Status merge_square_encoders(const std::vector<double>& centre, ClientProcessing* p) {
  if (p->features.size() != 2 * centre.size()) return internal_error("square encoders: expected 2 per feature");
  std::vector<FeatureEncoder> merged;
  merged.reserve(centre.size());
  for (size_t j = 0; j < centre.size(); ++j) {
    FeatureEncoder e = p->features[2 * j];
    const FeatureEncoder& sq = p->features[2 * j + 1];
    if (e.kind != FeatureEncoder::Kind::kQuantize || sq.kind != FeatureEncoder::Kind::kQuantize)
      return internal_error("square encoders: expected quantize encoders");
    e.square = FeatureEncoder::Square{sq.quantizer, centre[j]};
    merged.push_back(std::move(e));
  }
  p->features = std::move(merged);
  return Status();
}

}  // namespace blindml::model::internal
