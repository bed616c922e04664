// Linear models: y = x·W + b, lowered to one leveled matrix product (model.h).
//
// Each feature j gets its own quantizer x_j ≈ s_j·(q_j - z_j) (n_bits, unsigned, asymmetric,
// from the calibration range). With V_jc = W_jc·s_j quantized per output column,
// V_jc ≈ t_c·Q_jc (symmetric, n_bits signed):
//   y_c ≈ t_c·Σ_j Q_jc·q_j + (b_c - t_c·Σ_j Q_jc·z_j)
// The circuit computes Σ_j Q_jc·q_j; the client's dequantizer applies t_c and the offset.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <optional>

#include "internal/lowering.h"

namespace blindml::model::internal {

namespace {

struct LinearForm {
  int64_t features = 0, outputs = 0;
  std::vector<double> w;  // [features, outputs]
  std::vector<double> b;  // [outputs]
  ModelKind kind = ModelKind::kRegressor;
  PostTransform post = PostTransform::kNone;
  bool binary_single_score = false;
  bool normalize_l1 = false;
  std::vector<int64_t> labels;
  std::optional<OvoScores> ovo;  // an SVMClassifier: the outputs are its one-vs-one decision values
};

Status unsupported(const OnnxNode& n, const std::string& what) {
  return unimplemented("node '" + n.name + "' (" + n.op_type + "): " + what);
}

Result<PostTransform> post_of(const OnnxNode& n) {
  const std::string p = n.string_attr("post_transform", "NONE");
  if (p == "NONE") return PostTransform::kNone;
  if (p == "LOGISTIC") return PostTransform::kLogistic;
  if (p == "SOFTMAX") return PostTransform::kSoftmax;
  if (p == "SOFTMAX_ZERO") return PostTransform::kSoftmaxZero;
  return unsupported(n, "post_transform " + p + " is not supported");
}

Result<LinearForm> from_onnx_ml(const OnnxGraph& g, const OnnxNode& n, int64_t features) {
  LinearForm f;
  const Attribute* coef = n.attribute("coefficients");
  const Attribute* icpt = n.attribute("intercepts");
  if (!coef || coef->floats.empty()) return unsupported(n, "no coefficients");
  if (n.op_type == "LinearRegressor") {
    f.outputs = n.int_attr("targets", 1);
  } else {
    f.outputs = icpt ? static_cast<int64_t>(icpt->floats.size()) : 0;
    if (f.outputs == 0 && features > 0) f.outputs = static_cast<int64_t>(coef->floats.size()) / features;
  }
  if (f.outputs <= 0 || coef->floats.size() % f.outputs != 0) return unsupported(n, "coefficients do not split into the outputs");
  f.features = static_cast<int64_t>(coef->floats.size()) / f.outputs;
  if (features > 0 && f.features != features)
    return invalid_argument("node '" + n.name + "': " + std::to_string(f.features) +
                            " coefficients per output, the graph input has " + std::to_string(features) + " features");
  f.w.assign(f.features * f.outputs, 0);
  for (int64_t c = 0; c < f.outputs; ++c)
    for (int64_t j = 0; j < f.features; ++j) f.w[j * f.outputs + c] = coef->floats[c * f.features + j];
  f.b.assign(f.outputs, 0);
  if (icpt) {
    if (static_cast<int64_t>(icpt->floats.size()) != f.outputs) return unsupported(n, "intercepts do not match outputs");
    f.b = icpt->floats;
  }
  BLINDML_ASSIGN_OR_RETURN(f.post, post_of(n));
  if (n.op_type == "LinearClassifier") {
    f.kind = ModelKind::kClassifier;
    // String labels: the circuit and the processing use the class index; compile_model attaches
    // the names (ClientProcessing::class_names).
    f.labels = class_ids(n, "classlabels_ints");
    if (f.labels.empty()) return unsupported(n, "no classlabels_ints or classlabels_strings");
    if (f.outputs == 1 && f.labels.size() == 2) {
      f.binary_single_score = true;
    } else if (static_cast<int64_t>(f.labels.size()) != f.outputs) {
      return unsupported(n, std::to_string(f.labels.size()) + " class labels for " + std::to_string(f.outputs) +
                                " score columns");
    }
  }
  for (const auto& m : g.nodes) {
    if (&m == &n || (m.op_type != "Normalizer" && !is_trailing_op(m))) continue;
    if (m.op_type == "Normalizer") {
      if (m.string_attr("norm", "MAX") != "L1") return unsupported(m, "only the L1 norm is supported");
      f.normalize_l1 = true;
    }
  }
  return f;
}

Result<LinearForm> from_gemm(const OnnxGraph& g) {
  LinearForm f;
  const OnnxNode* lin = nullptr;
  const OnnxNode* add = nullptr;
  bool log_softmax = false;  // skl2onnx's naive-Bayes tail: exp(s - logsumexp(s)) is softmax(s)
  for (const auto& n : g.nodes) {
    if (n.op_type == "Gemm" || n.op_type == "MatMul") {
      lin = &n;
    } else if (n.op_type == "Add" && lin && !add) {
      add = &n;
    } else if (n.op_type == "ReduceLogSumExp" && lin) {
      log_softmax = true;
      f.kind = ModelKind::kClassifier;
      f.post = PostTransform::kSoftmax;
    } else if ((n.op_type == "Sub" || n.op_type == "Exp") && log_softmax) {
      // s - logsumexp(s), then exp: the softmax above
    } else if (n.op_type == "Softmax") {
      f.kind = ModelKind::kClassifier;
      f.post = PostTransform::kSoftmax;
    } else if (n.op_type == "Sigmoid") {
      f.kind = ModelKind::kClassifier;
      f.post = PostTransform::kLogistic;
    } else if (n.op_type == "Flatten" || n.op_type == "Reshape" || is_trailing_op(n)) {
      // shape only
    } else {
      return unimplemented("node '" + n.name + "' (" + n.op_type + ") has no place in a linear model");
    }
  }
  auto init = [&](const std::string& name) -> const FloatTensor* {
    auto it = g.float_initializers.find(name);
    return it == g.float_initializers.end() ? nullptr : &it->second;
  };
  const FloatTensor* w = lin->inputs.size() > 1 ? init(lin->inputs[1]) : nullptr;
  if (!w || w->shape.size() != 2) return unimplemented("node '" + lin->name + "': the weights must be a 2-D initializer");
  const bool trans_b = lin->op_type == "Gemm" && lin->int_attr("transB", 0) != 0;
  if (lin->op_type == "Gemm" && lin->int_attr("transA", 0) != 0)
    return unimplemented("node '" + lin->name + "' (Gemm): transA=1 on the input is not supported");
  const double alpha = lin->op_type == "Gemm" ? lin->float_attr("alpha", 1.0) : 1.0;
  const double beta = lin->op_type == "Gemm" ? lin->float_attr("beta", 1.0) : 1.0;
  f.features = trans_b ? w->shape[1] : w->shape[0];
  f.outputs = trans_b ? w->shape[0] : w->shape[1];
  f.w.assign(f.features * f.outputs, 0);
  for (int64_t j = 0; j < f.features; ++j)
    for (int64_t c = 0; c < f.outputs; ++c)
      f.w[j * f.outputs + c] = alpha * (trans_b ? w->data[c * f.features + j] : w->data[j * f.outputs + c]);
  f.b.assign(f.outputs, 0);
  const FloatTensor* bias = nullptr;
  double bias_mult = 1.0;
  if (lin->op_type == "Gemm" && lin->inputs.size() > 2 && !lin->inputs[2].empty()) {
    bias = init(lin->inputs[2]);
    bias_mult = beta;
  } else if (add) {
    bias = add->inputs.size() > 1 ? (init(add->inputs[1]) ? init(add->inputs[1]) : init(add->inputs[0])) : nullptr;
  }
  if (bias) {
    if (static_cast<int64_t>(bias->data.size()) == f.outputs) {
      for (int64_t c = 0; c < f.outputs; ++c) f.b[c] = bias_mult * bias->data[c];
    } else if (bias->data.size() == 1) {
      for (int64_t c = 0; c < f.outputs; ++c) f.b[c] = bias_mult * bias->data[0];
    } else {
      return unimplemented("the bias of node '" + lin->name + "' does not broadcast over its " +
                           std::to_string(f.outputs) + " outputs");
    }
  }
  if (f.kind == ModelKind::kClassifier) {
    if (f.outputs == 1) {
      f.binary_single_score = true;
      f.labels = {0, 1};
    } else {
      for (int64_t c = 0; c < f.outputs; ++c) f.labels.push_back(c);
      if (auto labels = label_initializer(g, f.outputs)) f.labels = *labels;
    }
  }
  return f;
}

// Which scores an SVMClassifier's client answers, read from the graph: every graph output must be
// the label or the scores of one OvoScores kind (onnxruntime's raw scores, skl2onnx's one-vs-rest
// tail, or the Platt probabilities), checked by running the float graph on up to 64 calibration
// rows against our own answers from the folded weights w ([features, pairs]) — so a tail that
// computes anything else is refused, not dropped.
Result<OvoScores> ovo_scores_of(const OnnxGraph& g, const OnnxNode& n, const SvmClassifierForm& sf,
                                const std::vector<double>& w, const Rows& calibration) {
  if (g.inputs.size() != 1 || calibration.empty()) return unsupported(n, "needs one graph input and calibration rows");
  const Rows rows(calibration.begin(), calibration.begin() + std::min<size_t>(calibration.size(), 64));
  const int64_t N = static_cast<int64_t>(rows.size()), F = sf.features, P = sf.pairs();
  FloatTensor x{{N, F}, {}};
  for (const auto& r : rows) {
    if (static_cast<int64_t>(r.size()) != F)
      return invalid_argument("calibration rows have " + std::to_string(r.size()) + " values, the model takes " +
                              std::to_string(F) + " features");
    x.data.insert(x.data.end(), r.begin(), r.end());
  }
  BLINDML_ASSIGN_OR_RETURN(auto values, evaluate_float(g, {{g.inputs[0].name, x}}));
  std::vector<OvoScores> kinds(sf.prob_a.empty() ? 2 : 1);
  for (auto& o : kinds) o.classes = sf.classes;
  if (!sf.prob_a.empty()) {
    kinds[0].kind = OvoScores::Kind::kPlatt;
    kinds[0].prob_a = sf.prob_a;
    kinds[0].prob_b = sf.prob_b;
  } else {
    kinds[0].kind = OvoScores::Kind::kRaw;
    kinds[1].kind = OvoScores::Kind::kOvr;
  }
  // Our answers on the rows (the inputs as the graph holds them: float32 when declared so).
  std::vector<int64_t> label(static_cast<size_t>(N));
  std::vector<std::vector<std::vector<double>>> scores(kinds.size(), std::vector<std::vector<double>>(N));
  std::vector<double> d(static_cast<size_t>(P));
  for (int64_t r = 0; r < N; ++r) {
    for (int64_t p = 0; p < P; ++p) {
      d[p] = sf.b[p];
      for (int64_t j = 0; j < F; ++j)
        d[p] += w[j * P + p] * (g.inputs[0].elem_type == 1 ? static_cast<double>(static_cast<float>(rows[r][j])) : rows[r][j]);
    }
    for (size_t k = 0; k < kinds.size(); ++k) kinds[k].answer(d, &label[r], &scores[k][r]);
  }
  auto matches = [&](const FloatTensor& t, const std::function<double(int64_t, size_t)>& want, size_t width) {
    if (t.data.size() != static_cast<size_t>(N) * width) return false;
    for (int64_t r = 0; r < N; ++r)
      for (size_t c = 0; c < width; ++c) {
        const double a = t.data[r * width + c], b = want(r, c);
        if (!(std::fabs(a - b) <= 1e-5 * std::max(1.0, std::fabs(b)))) return false;
      }
    return true;
  };
  std::optional<size_t> chosen;
  for (const ValueInfo& out : g.outputs) {
    auto it = values.find(out.name);
    if (it == values.end()) return unsupported(n, "graph output '" + out.name + "' was not computed");
    if (matches(it->second, [&](int64_t r, size_t) { return static_cast<double>(label[r]); }, 1)) continue;
    bool found = false;
    for (size_t k = 0; k < kinds.size() && !found; ++k) {
      if (chosen && *chosen != k) continue;
      found = matches(it->second, [&](int64_t r, size_t c) { return scores[k][r][c]; },
                      static_cast<size_t>(kinds[k].score_count()));
      if (found) chosen = k;
    }
    if (!found)
      return unsupported(n, "graph output '" + out.name + "' is neither the label nor the scores onnxruntime's " +
                                "SVMClassifier and skl2onnx's one-vs-rest tail compute (checked on " + std::to_string(N) +
                                " calibration rows); blindml cannot run what the graph does after the SVM on the client");
  }
  return kinds[chosen.value_or(0)];
}

// A linear-kernel SVMClassifier (skl2onnx's SVC): one output per one-vs-one pair, d_p = <w_p, x> +
// b_p; the client votes and answers the graph's scores (OvoScores).
Result<LinearForm> from_svm_classifier(const OnnxGraph& g, const OnnxNode& n, int64_t declared, const Rows& calibration) {
  BLINDML_ASSIGN_OR_RETURN(SvmClassifierForm sf, svm_classifier_form(n));
  if (declared > 0 && sf.features != declared)
    return invalid_argument("node '" + n.name + "': the support vectors have " + std::to_string(sf.features) +
                            " features, the graph input has " + std::to_string(declared));
  LinearForm f;
  f.kind = ModelKind::kClassifier;
  f.features = sf.features;
  f.outputs = sf.pairs();
  f.w.assign(static_cast<size_t>(f.features * f.outputs), 0.0);
  for (int64_t p = 0; p < f.outputs; ++p)
    for (int64_t j = 0; j < f.features; ++j) f.w[j * f.outputs + p] = sf.w[p * f.features + j];
  f.b = sf.b;
  f.labels = sf.string_labels ? class_ids(n, "classlabels_ints") : sf.labels;
  BLINDML_ASSIGN_OR_RETURN(OvoScores o, ovo_scores_of(g, n, sf, f.w, calibration));
  f.ovo = std::move(o);
  return f;
}

}  // namespace

Result<Lowered> lower_linear(const OnnxGraph& graph, const Rows& calibration, const CompileOptions& options) {
  const uint32_t n_bits = options.n_bits ? options.n_bits : 8;
  if (n_bits < 2 || n_bits > 16) return invalid_argument("n_bits must be 2..16 for a linear model");
  int64_t declared = -1;
  if (!graph.inputs.empty() && graph.inputs[0].shape.size() == 2 && graph.inputs[0].shape[1] > 0)
    declared = graph.inputs[0].shape[1];
  Result<LinearForm> form = unimplemented("no linear node");
  for (const auto& n : graph.nodes) {
    if (n.op_type == "LinearClassifier" || n.op_type == "LinearRegressor") form = from_onnx_ml(graph, n, declared);
    if (n.op_type == "SVMClassifier") form = from_svm_classifier(graph, n, declared, calibration);
    if (n.op_type == "SVMRegressor") {
      // A linear-kernel SVR: its support vectors folded into one weight vector (onnx.h).
      auto wb = svm_linear_weights(n);
      if (!wb.ok()) return wb.status();
      LinearForm f;
      f.features = static_cast<int64_t>(wb->first.size());
      if (declared > 0 && f.features != declared)
        return invalid_argument("node '" + n.name + "': " + std::to_string(f.features) +
                                " weights, the graph input has " + std::to_string(declared) + " features");
      f.outputs = 1;
      f.w = wb->first;
      f.b = {wb->second};
      form = f;
    }
  }
  if (!form.ok() && form.status().code() == StatusCode::kUnimplemented &&
      form.status().message() == "no linear node")
    form = from_gemm(graph);
  if (!form.ok()) return form.status();
  const LinearForm& f = *form;
  BLINDML_RETURN_IF_ERROR(check_finite(f.w, "the linear model's weights"));
  BLINDML_RETURN_IF_ERROR(check_finite(f.b, "the linear model's intercepts"));
  BLINDML_ASSIGN_OR_RETURN(auto ranges, feature_ranges(calibration, f.features));

  Lowered out;
  ClientProcessing& p = out.processing;
  p.kind = f.kind;
  p.post = f.post;
  p.binary_single_score = f.binary_single_score;
  p.normalize_l1 = f.normalize_l1;
  p.class_labels = f.labels;
  p.ovo = f.ovo;
  for (int64_t j = 0; j < f.features; ++j) {
    FeatureEncoder e;
    e.kind = FeatureEncoder::Kind::kQuantize;
    e.quantizer = Quantizer::calibrate(ranges.first[j], ranges.second[j], n_bits, false, false);
    p.features.push_back(e);
  }
  // V = W scaled by each feature's step, quantized per column. A feature constant over the
  // calibration rows has no step: its term W_jc·x_j is folded into the offset (x_j taken as its
  // calibration value, as the clipping quantizer would) and its weight is 0, so that its
  // quantizer's placeholder scale does not set the column's step.
  const int64_t wmax = (int64_t{1} << (n_bits - 1)) - 1;
  std::vector<bool> constant(f.features);
  int64_t n_constant = 0;
  for (int64_t j = 0; j < f.features; ++j) {
    constant[j] = is_constant_range(ranges.first[j], ranges.second[j]);
    n_constant += constant[j] ? 1 : 0;
    if (constant[j]) p.features[j].constant = ranges.first[j];
  }
  circuit::Tensor q{{f.features, f.outputs}, std::vector<int64_t>(f.features * f.outputs)};
  for (int64_t c = 0; c < f.outputs; ++c) {
    double vmax = 0;
    for (int64_t j = 0; j < f.features; ++j)
      if (!constant[j]) vmax = std::max(vmax, std::fabs(f.w[j * f.outputs + c] * p.features[j].quantizer.scale));
    const double t = vmax > 0 ? vmax / static_cast<double>(wmax) : 1.0;
    double offset = f.b[c];
    for (int64_t j = 0; j < f.features; ++j) {
      if (constant[j]) {
        offset += f.w[j * f.outputs + c] * ranges.first[j];
        continue;
      }
      const int64_t qw = static_cast<int64_t>(std::nearbyint(f.w[j * f.outputs + c] * p.features[j].quantizer.scale / t));
      q.data[j * f.outputs + c] = qw;
      offset -= t * static_cast<double>(qw) * static_cast<double>(p.features[j].quantizer.zero_point);
    }
    p.output_scale.push_back(t);
    p.output_offset.push_back(offset);
  }
  circuit::Builder b;
  auto x = b.input({f.features}, 0, (int64_t{1} << n_bits) - 1, "features");
  b.output(b.matmul(x, std::move(q), "linear"), "scores");
  BLINDML_ASSIGN_OR_RETURN(out.circuit, b.finish());
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "quantization: %u-bit inputs (one quantizer per feature), %u-bit weights per output column; "
                "leveled only\n",
                n_bits, n_bits);
  out.notes = buf;
  if (f.ovo)
    out.notes += "SVMClassifier: " + std::to_string(f.outputs) + " one-vs-one decision value(s) for " +
                 std::to_string(f.ovo->classes) + " classes; the client counts the votes and computes the scores (" +
                 ovo_kind_name(f.ovo->kind) + ")\n";
  if (n_constant > 0)
    out.notes += std::to_string(n_constant) +
                 " feature(s) constant over the calibration rows: folded into the offset (their value is taken as "
                 "constant; other values are reported as out of range)\n";
  return out;
}

}  // namespace blindml::model::internal
