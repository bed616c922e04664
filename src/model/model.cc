#include "blindml/model/model.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>
#include <random>

#include "blindml/circuit/analysis.h"
#include "blindml/circuit/clear_eval.h"
#include "blindml/compiler/lower.h"
#include "blindml/runtime/executor.h"
#include "internal/lowering.h"
#include "internal/preprocess.h"

namespace blindml::model {

namespace internal {

Result<std::pair<std::vector<double>, std::vector<double>>> feature_ranges(const Rows& rows, size_t features) {
  if (rows.empty()) return invalid_argument("the calibration set is empty");
  std::vector<double> lo(features, INFINITY), hi(features, -INFINITY);
  for (size_t r = 0; r < rows.size(); ++r) {
    if (rows[r].size() != features)
      return invalid_argument("calibration row " + std::to_string(r) + " has " + std::to_string(rows[r].size()) +
                              " values, the model takes " + std::to_string(features) + " features");
    for (size_t j = 0; j < features; ++j) {
      if (!std::isfinite(rows[r][j]))
        return invalid_argument("calibration row " + std::to_string(r) + ", feature " + std::to_string(j) +
                                " is not a finite number");
      lo[j] = std::min(lo[j], rows[r][j]);
      hi[j] = std::max(hi[j], rows[r][j]);
    }
  }
  return std::make_pair(lo, hi);
}

bool is_trailing_op(const OnnxNode& node) {
  return node.op_type == "ZipMap" || node.op_type == "Cast" || node.op_type == "Identity" ||
         node.op_type == "Normalizer" || is_label_op(node);
}

bool is_label_op(const OnnxNode& node) {
  // A classifier's label output as skl2onnx and torch write it: ArgMax over the scores, the class
  // labels read at it (ArrayFeatureExtractor), reshaped; the client computes the label itself.
  return node.op_type == "ArgMax" || node.op_type == "ArrayFeatureExtractor" || node.op_type == "Reshape";
}

Status check_finite(const std::vector<double>& values, const std::string& what) {
  // 1e100: far beyond any trained weight, and far enough below DBL_MAX that products with the
  // quantizers' scales and sums over the inputs stay finite.
  for (size_t k = 0; k < values.size(); ++k)
    if (!(std::fabs(values[k]) <= 1e100))
      return invalid_argument(what + " holds " + std::to_string(values[k]) + " at index " + std::to_string(k) +
                              ", not a finite number below 1e100 in magnitude: the model cannot be quantized");
  return Status();
}

std::vector<int64_t> class_ids(const OnnxNode& n, const char* ints_key) {
  std::vector<int64_t> ids;
  if (const Attribute* s = n.attribute("classlabels_strings")) {
    for (size_t k = 0; k < s->strings.size(); ++k) ids.push_back(static_cast<int64_t>(k));
  } else if (const Attribute* i = n.attribute(ints_key)) {
    ids = i->ints;
  }
  return ids;
}

std::optional<std::vector<std::string>> string_class_labels(const OnnxGraph& graph) {
  for (const auto& n : graph.nodes) {
    if (n.op_type != "LinearClassifier" && n.op_type != "TreeEnsembleClassifier" && n.op_type != "SVMClassifier") continue;
    if (const Attribute* s = n.attribute("classlabels_strings")) return s->strings;
  }
  return std::nullopt;
}

std::optional<std::vector<int64_t>> label_initializer(const OnnxGraph& graph, int64_t classes) {
  for (const auto& n : graph.nodes) {
    if (n.op_type != "ArrayFeatureExtractor" || n.inputs.empty()) continue;
    auto it = graph.int_initializers.find(n.inputs[0]);
    if (it != graph.int_initializers.end() && static_cast<int64_t>(it->second.data.size()) == classes)
      return it->second.data;
  }
  return std::nullopt;
}

}  // namespace internal

namespace {

enum class Family { kLinear, kTrees, kMlp };

Result<Family> detect_family(const OnnxGraph& graph) {
  int linear_layers = 0;
  bool activation_between = false;
  for (const auto& n : graph.nodes) {
    if (n.op_type == "TreeEnsembleClassifier" || n.op_type == "TreeEnsembleRegressor") return Family::kTrees;
    if (n.op_type == "LinearClassifier" || n.op_type == "LinearRegressor" || n.op_type == "SVMRegressor" ||
        n.op_type == "SVMClassifier")
      return Family::kLinear;
    if (n.op_type == "Gemm" || n.op_type == "MatMul") ++linear_layers;
    // A final Sigmoid (tf2onnx's Dense(1, sigmoid), a logistic regression as MatMul+Add+Sigmoid)
    // is the client's post transform, not an activation between layers.
    if ((n.op_type == "Relu" || n.op_type == "LeakyRelu" || n.op_type == "Tanh" || n.op_type == "Clip" ||
         n.op_type == "Sigmoid") &&
        linear_layers > 0) {
      bool last = true;
      for (const auto* k = &n + 1; k < graph.nodes.data() + graph.nodes.size(); ++k)
        if (!internal::is_trailing_op(*k)) last = false;
      if (!(n.op_type == "Sigmoid" && last)) activation_between = true;
    }
  }
  if (linear_layers == 0)
    return unimplemented("the model has no linear layer, linear model or tree ensemble: nothing blindml can lower");
  if (linear_layers == 1 && !activation_between) return Family::kLinear;
  return Family::kMlp;
}

// The family's lowering: the one place that maps a family to its lowering function.
Result<internal::Lowered> lower_family(const OnnxGraph& graph, const Rows& calibration, const CompileOptions& options,
                                       Family family) {
  switch (family) {
    case Family::kLinear: return internal::lower_linear(graph, calibration, options);
    case Family::kTrees: return internal::lower_trees(graph, calibration, options);
    case Family::kMlp: return internal::lower_mlp(graph, calibration, options);
  }
  return invalid_argument("unknown model family");
}

Result<compiler::CompiledCircuit> lower_and_compile(const OnnxGraph& graph, const Rows& calibration,
                                                    const CompileOptions& options, Family family) {
  BLINDML_ASSIGN_OR_RETURN(internal::Lowered lowered, lower_family(graph, calibration, options, family));
  return compiler::compile(lowered.circuit, options.optimizer);
}

// When no parameter set fits: the option that helps, tried in the compiler (a few values below
// the one used, largest first), and what the first value that compiles costs.
std::string suggest_options(const OnnxGraph& graph, const Rows& calibration, const CompileOptions& options,
                            Family family) {
  struct Knob {
    const char* flag;
    uint32_t CompileOptions::*field;
    uint32_t current, lowest;
  };
  std::vector<Knob> knobs;
  // (default leaf bits: 7..4 were tried already)
  if (family == Family::kTrees) knobs.push_back({"--leaf-bits", &CompileOptions::leaf_bits, options.leaf_bits ? options.leaf_bits : 4, 2});
  if (family == Family::kMlp)
    knobs.push_back({"--rounding-bits", &CompileOptions::rounding_bits, options.rounding_bits ? options.rounding_bits : 6, 2});
  const uint32_t n_default = family == Family::kMlp ? 6 : 8;
  knobs.push_back({"--n-bits", &CompileOptions::n_bits, options.n_bits ? options.n_bits : n_default, 2});
  std::string tried;
  int budget = 6;  // compiles in all: each is a parameter search
  for (const Knob& k : knobs) {
    for (uint32_t v = k.current - 1; v >= k.lowest && v < k.current && budget > 0; --v, --budget) {
      CompileOptions o = options;
      o.*k.field = v;
      auto c = lower_and_compile(graph, calibration, o, family);
      if (c.ok()) {
        char buf[256];
        auto a = circuit::analyze(c->circuit);
        const long long pbs = a.ok() ? static_cast<long long>(a->pbs_count) : -1;
        std::snprintf(buf, sizeof buf,
                      " Tried: %s %u compiles (%lld PBS per sample, estimated %.0f ms per evaluation on one thread)%s.",
                      k.flag, v, pbs, c->estimated_pbs_ms * static_cast<double>(pbs),
                      family == Family::kTrees && k.field == &CompileOptions::leaf_bits
                          ? "; fewer leaf bits make each tree's answer coarser (step = largest leaf / 2^(bits-1))"
                          : "");
        return buf;
      }
      tried += (tried.empty() ? "" : ", ") + std::string(k.flag) + " " + std::to_string(v);
    }
  }
  return tried.empty() ? "" : " Tried without success: " + tried + ".";
}

const char* family_name(Family f) {
  switch (f) {
    case Family::kLinear: return "linear";
    case Family::kTrees: return "tree_ensemble";
    case Family::kMlp: return "mlp";
  }
  return "?";
}

}  // namespace

namespace {

Result<CompiledModel> compile_without_preprocessing(const OnnxGraph& graph, const Rows& calibration,
                                                    const CompileOptions& options);

// skl2onnx's PCA before a linear model: Sub(X, mean) -> MatMul(P [F, K]) -> LinearClassifier /
// LinearRegressor on K components. The affine map is folded into the linear model's weights
// (coef'[c, j] = Σ_k P[j, k]·coef[c, k], intercept'[c] = intercept[c] - Σ_j mean_j·coef'[c, j]),
// so the circuit stays one leveled product on the F original features.
std::optional<OnnxGraph> fold_linear_map(const OnnxGraph& graph, std::string* note) {
  if (graph.inputs.size() != 1 || graph.nodes.size() < 3) return std::nullopt;
  const std::string x = graph.inputs[0].name;
  const OnnxNode& sub = graph.nodes[0];
  const OnnxNode& mm = graph.nodes[1];
  const OnnxNode& lin = graph.nodes[2];
  if (sub.op_type != "Sub" || sub.inputs.size() != 2 || sub.inputs[0] != x) return std::nullopt;
  if (mm.op_type != "MatMul" || mm.inputs.size() != 2 || mm.inputs[0] != sub.outputs[0]) return std::nullopt;
  if ((lin.op_type != "LinearClassifier" && lin.op_type != "LinearRegressor") || lin.inputs.empty() ||
      lin.inputs[0] != mm.outputs[0])
    return std::nullopt;
  auto mean_it = graph.float_initializers.find(sub.inputs[1]);
  auto p_it = graph.float_initializers.find(mm.inputs[1]);
  if (mean_it == graph.float_initializers.end() || p_it == graph.float_initializers.end()) return std::nullopt;
  const FloatTensor& P = p_it->second;
  if (P.shape.size() != 2) return std::nullopt;
  const int64_t F = P.shape[0], K = P.shape[1];
  const std::vector<double>& mean = mean_it->second.data;
  if (static_cast<int64_t>(mean.size()) != F && mean.size() != 1) return std::nullopt;
  const Attribute* coef = lin.attribute("coefficients");
  if (!coef || coef->floats.empty() || coef->floats.size() % static_cast<size_t>(K) != 0) return std::nullopt;
  const int64_t C = static_cast<int64_t>(coef->floats.size()) / K;
  std::vector<double> intercepts(static_cast<size_t>(C), 0.0);
  if (const Attribute* icpt = lin.attribute("intercepts")) {
    if (static_cast<int64_t>(icpt->floats.size()) != C) return std::nullopt;
    intercepts = icpt->floats;
  }
  std::vector<double> folded(static_cast<size_t>(C * F), 0.0);
  for (int64_t c = 0; c < C; ++c)
    for (int64_t j = 0; j < F; ++j) {
      double v = 0;
      for (int64_t k = 0; k < K; ++k) v += P.data[j * K + k] * coef->floats[c * K + k];
      folded[c * F + j] = v;
      intercepts[c] -= (mean.size() == 1 ? mean[0] : mean[j]) * v;
    }
  OnnxGraph g = graph;
  OnnxNode nl = lin;
  nl.inputs[0] = x;
  nl.attributes["coefficients"].floats = folded;
  Attribute ia;
  ia.kind = Attribute::Kind::kFloats;
  ia.floats = intercepts;
  nl.attributes["intercepts"] = ia;
  g.nodes.erase(g.nodes.begin(), g.nodes.begin() + 3);
  g.nodes.insert(g.nodes.begin(), nl);
  *note = "preprocessing: nodes '" + sub.name + "' (Sub) and '" + mm.name + "' (MatMul, " + std::to_string(F) + " -> " +
          std::to_string(K) + ", a PCA) folded into '" + lin.name + "'\n";
  return g;
}

}  // namespace

namespace {

// A GaussianNB compiled as the linear model on (x, (x - m)²) it equals (naive_bayes.cc); the
// client's encoders compute the squares. nullopt: the graph is not one.
Result<std::optional<CompiledModel>> compile_gaussian_nb(const OnnxGraph& graph, const Rows& calibration,
                                                         const CompileOptions& options) {
  BLINDML_ASSIGN_OR_RETURN(auto nb, internal::gaussian_nb_as_linear(graph, calibration));
  if (!nb) return std::optional<CompiledModel>();
  // 12 bits by default: a square needs about twice the bits of x for the same relative precision,
  // and leveled bits cost only carrier width (8 bits lose 2 of 143 breast-cancer labels, all
  // near ties; 12 bits 1).
  CompileOptions o = options;
  if (o.n_bits == 0) o.n_bits = 12;
  BLINDML_ASSIGN_OR_RETURN(CompiledModel m, compile_without_preprocessing(nb->graph, nb->calibration, o));
  BLINDML_RETURN_IF_ERROR(internal::merge_square_encoders(nb->centre, &m.processing));
  m.report = nb->note + m.report;
  return std::optional<CompiledModel>(std::move(m));
}

// The model after its client-side steps: a GaussianNB, a PCA folded into a linear model, or the
// graph as it is.
Result<CompiledModel> compile_after_preprocessing(const OnnxGraph& graph, const Rows& calibration,
                                                  const CompileOptions& options) {
  BLINDML_ASSIGN_OR_RETURN(auto nb, compile_gaussian_nb(graph, calibration, options));
  if (nb) return std::move(*nb);
  std::string note;
  if (auto folded = fold_linear_map(graph, &note)) {
    BLINDML_ASSIGN_OR_RETURN(CompiledModel m, compile_without_preprocessing(*folded, calibration, options));
    m.report = note + m.report;
    return m;
  }
  return compile_without_preprocessing(graph, calibration, options);
}

// String class labels: the circuit and the processing count classes by index; the names travel in
// ClientProcessing::class_names and are what the client answers.
Status attach_class_names(const OnnxGraph& graph, ClientProcessing* p) {
  auto names = internal::string_class_labels(graph);
  if (!names || p->kind != ModelKind::kClassifier) return Status();
  if (names->size() != p->class_labels.size())
    return internal_error(std::to_string(names->size()) + " class names for " + std::to_string(p->class_labels.size()) +
                          " classes");
  p->class_names = std::move(*names);
  return Status();
}

Result<CompiledModel> compile_model_by_index(const OnnxGraph& graph, const Rows& calibration, const CompileOptions& options);

}  // namespace

Result<CompiledModel> compile_model(const OnnxGraph& graph, const Rows& calibration, const CompileOptions& options) {
  BLINDML_ASSIGN_OR_RETURN(CompiledModel m, compile_model_by_index(graph, calibration, options));
  BLINDML_RETURN_IF_ERROR(attach_class_names(graph, &m.processing));
  return m;
}

namespace {

Result<CompiledModel> compile_model_by_index(const OnnxGraph& graph, const Rows& calibration, const CompileOptions& options) {
  const int64_t width = calibration.empty() ? 0 : static_cast<int64_t>(calibration[0].size());
  BLINDML_ASSIGN_OR_RETURN(auto prefix, internal::split_client_prefix(graph, width));
  if (!prefix) return compile_after_preprocessing(graph, calibration, options);
  // The calibration rows through the client's steps: what the rest of the graph sees.
  ClientProcessing client;
  client.preprocess = prefix->preprocess;
  client.row_width = prefix->row_width;
  client.inputs = prefix->inputs;
  Rows rows;
  rows.reserve(calibration.size());
  for (size_t r = 0; r < calibration.size(); ++r) {
    if (static_cast<int64_t>(calibration[r].size()) != prefix->row_width)
      return invalid_argument("calibration row " + std::to_string(r) + " has " + std::to_string(calibration[r].size()) +
                              " values, the graph inputs have " + std::to_string(prefix->row_width) + " columns");
    std::vector<double> row = calibration[r];
    for (size_t i = 0; i < client.preprocess.size(); ++i) {
      Status st = client.preprocess[i].apply(row);
      if (!st.ok())
        return Status(st.code(), "calibration row " + std::to_string(r) + ", preprocessing step " + std::to_string(i) +
                                     ": " + st.message());
    }
    rows.push_back(std::move(row));
  }
  BLINDML_ASSIGN_OR_RETURN(CompiledModel m, compile_after_preprocessing(prefix->graph, rows, options));
  m.processing.preprocess = std::move(client.preprocess);
  if (m.processing.encoder_count() != prefix->row_width) m.processing.row_width = prefix->row_width;
  bool integer = false;
  for (const auto& in : prefix->inputs) integer = integer || in.integer || in.text;
  if (prefix->inputs.size() > 1 || integer) {
    m.processing.inputs = std::move(client.inputs);
    m.processing.row_width = prefix->row_width;
  }
  m.processing.vocabulary = std::move(prefix->vocabulary);
  m.report = prefix->notes + m.report;
  return m;
}

}  // namespace

int64_t graph_row_width(const OnnxGraph& graph) {
  auto inputs = internal::raw_inputs(graph, 0);
  if (!inputs.ok() || inputs->empty()) return -1;
  for (const auto& in : *inputs)
    if (in.width <= 0) return -1;
  return inputs->back().first + inputs->back().width;
}

namespace {

// The categories an encoder node accepts, as the client's codes (strings: their index in the
// graph's vocabulary); empty for other nodes.
std::vector<double> encoder_categories(const OnnxNode& n, const std::vector<std::string>& vocabulary) {
  std::vector<double> out;
  const bool onehot = n.op_type == "OneHotEncoder";
  if (!onehot && n.op_type != "LabelEncoder") return out;
  if (const Attribute* a = n.attribute(onehot ? "cats_int64s" : "keys_int64s"))
    for (int64_t v : a->ints) out.push_back(static_cast<double>(v));
  if (const Attribute* a = n.attribute(onehot ? "cats_strings" : "keys_strings"))
    for (const auto& str : a->strings)
      out.push_back(static_cast<double>(std::lower_bound(vocabulary.begin(), vocabulary.end(), str) - vocabulary.begin()));
  if (const Attribute* a = n.attribute("keys_floats"); a && !onehot) out.insert(out.end(), a->floats.begin(), a->floats.end());
  return out;
}

}  // namespace

Rows synthetic_rows(const OnnxGraph& graph, int64_t width, size_t count, uint64_t seed) {
  const size_t w = width > 0 ? static_cast<size_t>(width) : 0;
  std::vector<int> kind(w, 0);  // 0 float, 1 int64, 2 string
  std::vector<std::vector<double>> cats(w);
  auto inputs = internal::raw_inputs(graph, width);
  std::map<std::string, RawInput> by_name;
  if (inputs.ok())
    for (const auto& in : *inputs) {
      by_name[in.name] = in;
      for (int64_t c = in.first; c < in.first + in.width && c < width; ++c)
        kind[static_cast<size_t>(c)] = in.text ? 2 : in.integer ? 1 : 0;
    }
  const std::vector<std::string> vocabulary = string_vocabulary(graph);
  std::map<std::string, const OnnxNode*> producer;
  for (const auto& n : graph.nodes)
    for (const auto& o : n.outputs) producer[o] = &n;
  for (const auto& n : graph.nodes) {
    const std::vector<double> values = encoder_categories(n, vocabulary);
    if (values.empty() || n.inputs.empty()) continue;
    // Back to a graph input through renames and one column selection (skl2onnx's Gather(axis=1)).
    std::string v = n.inputs[0];
    int64_t column = -1;
    for (int step = 0; step < 16; ++step) {
      if (auto in = by_name.find(v); in != by_name.end()) {
        for (int64_t c = 0; c < in->second.width; ++c)
          if ((column < 0 || c == column) && in->second.first + c < width) cats[static_cast<size_t>(in->second.first + c)] = values;
        break;
      }
      auto p = producer.find(v);
      if (p == producer.end() || p->second->inputs.empty()) break;
      const OnnxNode& q = *p->second;
      if (q.op_type == "Cast" || q.op_type == "Identity" || q.op_type == "Reshape" || q.op_type == "Flatten") {
        v = q.inputs[0];
        continue;
      }
      const bool select = (q.op_type == "Gather" && q.int_attr("axis", 0) == 1) || q.op_type == "ArrayFeatureExtractor";
      auto idx = q.inputs.size() > 1 ? graph.int_initializers.find(q.inputs[1]) : graph.int_initializers.end();
      if (!select || column >= 0 || idx == graph.int_initializers.end() || idx->second.data.size() != 1) break;
      column = idx->second.data[0];
      v = q.inputs[0];
    }
  }
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> n01(0, 1);
  Rows rows(count, std::vector<double>(w));
  for (auto& r : rows)
    for (size_t j = 0; j < w; ++j) {
      const double x = n01(rng);
      const double pick = std::floor(std::fmod(std::fabs(x) * 1e3, 1e9));
      if (!cats[j].empty()) r[j] = cats[j][static_cast<size_t>(pick) % cats[j].size()];
      else if (kind[j] == 1) r[j] = std::round(x);
      else if (kind[j] == 2) r[j] = vocabulary.empty() ? -1.0 : static_cast<double>(static_cast<size_t>(pick) % vocabulary.size());
      else r[j] = x;
    }
  return rows;
}

namespace {

// A tree ensemble lowered and compiled with `bits` leaf bits.
Result<std::pair<internal::Lowered, compiler::CompiledCircuit>> trees_at_leaf_bits(const OnnxGraph& graph,
                                                                                  const Rows& calibration,
                                                                                  CompileOptions options, uint32_t bits) {
  options.leaf_bits = bits;
  BLINDML_ASSIGN_OR_RETURN(auto l, internal::lower_trees(graph, calibration, options));
  BLINDML_ASSIGN_OR_RETURN(auto c, compiler::compile(l.circuit, options.optimizer));
  return std::make_pair(std::move(l), std::move(c));
}

// How a lowered model's clear answers on rows compare with the float model's: labels that
// differ (classifiers), and the mean absolute error of the probabilities (classifiers) or values.
struct FloatGap {
  int64_t labels = 0;
  double error = 0;
};
Result<FloatGap> float_gap(const OnnxGraph& graph, const internal::Lowered& l, const compiler::CompiledCircuit& c,
                           const Rows& rows) {
  const CompiledModel m{l.processing, c, ""};
  BLINDML_ASSIGN_OR_RETURN(auto clear, predict_clear(m, rows));
  BLINDML_ASSIGN_OR_RETURN(auto fl, predict_float(graph, l.processing, rows));
  FloatGap g;
  double sum = 0;
  size_t terms = 0;
  for (size_t r = 0; r < rows.size() && r < clear.size() && r < fl.size(); ++r) {
    const bool cls = l.processing.kind == ModelKind::kClassifier;
    if (cls) g.labels += clear[r].label != fl[r].label;
    const auto& a = cls ? clear[r].proba : clear[r].values;
    const auto& b = cls ? fl[r].proba : fl[r].values;
    for (size_t i = 0; i < a.size() && i < b.size(); ++i, ++terms) sum += std::fabs(a[i] - b[i]);
  }
  g.error = terms ? sum / static_cast<double>(terms) : 0;
  return g;
}

// Trees at the default leaf precision (8 bits) that compiled: fewer leaf bits narrow the summed
// answer, which is what the output's decryption (and so the PBS decomposition and the key size)
// pays for. 7 and then 6 bits are tried; one is kept when its estimated cost per evaluation is
// lower and, on the calibration rows (at most 1000), its labels differ from the float model's no
// more often than at 8 bits and its mean error is at most 2.5 times the 8-bit one (one bit fewer
// about doubles it). The report lists what was tried. nullopt: keep 8 bits.
Result<std::optional<std::pair<internal::Lowered, compiler::CompiledCircuit>>> fewer_leaf_bits(
    const OnnxGraph& graph, const Rows& calibration, const CompileOptions& options, const internal::Lowered& base,
    const compiler::CompiledCircuit& base_c) {
  const Rows rows(calibration.begin(), calibration.begin() + std::min<size_t>(calibration.size(), 1000));
  auto cost = [](const compiler::CompiledCircuit& c) {
    auto a = circuit::analyze(c.circuit);
    return a.ok() ? c.estimated_pbs_ms * static_cast<double>(a->pbs_count) : 0.0;
  };
  auto ref = float_gap(graph, base, base_c, rows);
  if (!ref.ok()) return std::optional<std::pair<internal::Lowered, compiler::CompiledCircuit>>{};  // no float reference (an unusual graph): keep 8 bits
  const double base_cost = cost(base_c);
  std::optional<std::pair<internal::Lowered, compiler::CompiledCircuit>> best;
  double best_cost = base_cost;
  char buf[256];
  std::snprintf(buf, sizeof buf, "8 bits: %.0f ms estimated, %lld label(s) differ from the float model, mean error %.4g",
                base_cost, static_cast<long long>(ref->labels), ref->error);
  std::string tried = buf;
  for (uint32_t v = 7; v >= 6; --v) {
    auto lc = trees_at_leaf_bits(graph, calibration, options, v);
    if (!lc.ok()) break;
    auto& [l, c] = *lc;
    const double ms = cost(c);
    if (!(ms < best_cost)) break;  // no cheaper: fewer bits would only cost accuracy
    auto gap = float_gap(graph, l, c, rows);
    if (!gap.ok()) break;
    const bool accepted = gap->labels <= ref->labels && gap->error <= 2.5 * ref->error + 1e-12;
    std::snprintf(buf, sizeof buf, "; %u bits: %.0f ms, %lld label(s), mean error %.4g, %s", v, ms,
                  static_cast<long long>(gap->labels), gap->error, accepted ? "accepted" : "refused");
    tried += buf;
    if (!accepted) break;
    best_cost = ms;
    best.emplace(std::move(l), std::move(c));
  }
  if (!best) return std::optional<std::pair<internal::Lowered, compiler::CompiledCircuit>>{};
  best->first.notes += "leaf values on fewer bits, chosen automatically (no --leaf-bits): the cheapest whose labels on " +
                       std::to_string(rows.size()) +
                       " calibration rows differ from the float model's no more often than at 8 bits and whose mean "
                       "error is at most 2.5 times theirs (" + tried + ")\n";
  return best;
}

Result<CompiledModel> compile_without_preprocessing(const OnnxGraph& graph, const Rows& calibration,
                                                    const CompileOptions& options) {
  BLINDML_ASSIGN_OR_RETURN(Family family, detect_family(graph));
  Result<internal::Lowered> lowered = lower_family(graph, calibration, options, family);
  if (!lowered.ok()) return lowered.status();
  lowered->processing.family = family_name(family);
  auto compiled = compiler::compile(lowered->circuit, options.optimizer);
  // Trees at the default leaf precision: when the summed answer of a large ensemble is too wide
  // for any 128-bit parameter set, the leaf bits are chosen from the ensemble instead (7 down to
  // 4, the first that compiles), and the report says so. An explicit --leaf-bits is kept.
  const bool auto_leaf_bits = family == Family::kTrees && options.leaf_bits == 0;
  if (!compiled.ok() && compiled.status().code() == StatusCode::kNonConformant && auto_leaf_bits) {
    for (uint32_t v = 7; v >= 4; --v) {
      auto lc = trees_at_leaf_bits(graph, calibration, options, v);
      if (lc.ok()) {
        lc->first.notes += "leaf values on " + std::to_string(v) +
                           " bits, chosen automatically: at 8 bits no 128-bit parameter set decrypts the summed trees; "
                           "each leaf is off by at most half its column's step (largest leaf / " +
                           std::to_string((1 << (v - 1)) - 1) + ")\n";
        lowered = std::move(lc->first);
        lowered->processing.family = family_name(family);
        compiled = std::move(lc->second);
        break;
      }
      if (lc.status().code() != StatusCode::kNonConformant) break;
    }
  }
  if (compiled.ok() && auto_leaf_bits && !calibration.empty()) {
    BLINDML_ASSIGN_OR_RETURN(auto cheaper, fewer_leaf_bits(graph, calibration, options, *lowered, *compiled));
    if (cheaper) {
      lowered = std::move(cheaper->first);
      lowered->processing.family = family_name(family);
      compiled = std::move(cheaper->second);
    }
  }
  if (!compiled.ok()) {
    std::string msg = std::string(family_name(family)) + " model: " + compiled.status().message();
    if (compiled.status().code() == StatusCode::kNonConformant) msg += suggest_options(graph, calibration, options, family);
    return Status(compiled.status().code(), msg);
  }
  CompiledModel m{std::move(lowered->processing), std::move(compiled).value(), ""};
  m.report = "model: " + std::string(family_name(family)) + " " +
             (m.processing.kind == ModelKind::kClassifier ? "classifier" : "regressor") + ", " +
             std::to_string(m.processing.encoder_count()) + " features, " +
             std::to_string(m.processing.output_count()) + " outputs\n" + lowered->notes +
             compiler::compile_report(m.compiled);
  return m;
}

template <typename Eval>
Result<std::vector<Prediction>> predict_with(const CompiledModel& model, const Rows& rows, const PredictOptions& options,
                                             Eval&& eval) {
  if (options.range) *options.range = model.processing.count_out_of_range(rows);
  if (options.refuse_out_of_range) BLINDML_RETURN_IF_ERROR(check_in_range(model.processing, rows));
  std::vector<Prediction> out;
  out.reserve(rows.size());
  for (size_t r = 0; r < rows.size(); ++r) {
    auto in = model.processing.encode_row(rows[r]);
    if (!in.ok()) return Status(in.status().code(), "row " + std::to_string(r) + ": " + in.status().message());
    auto res = eval(*in);
    if (!res.ok()) return Status(res.status().code(), "row " + std::to_string(r) + ": " + res.status().message());
    auto p = model.processing.decode((*res)[0]);
    if (!p.ok()) return p.status();
    out.push_back(std::move(p).value());
  }
  return out;
}

// An SVMClassifier's float answers: the label from its label output (the class index with the most
// votes), the scores from the graph output of the width the client answers (compile_model checked
// that it is the graph's score output).
Result<std::vector<Prediction>> predict_float_svm(const OnnxGraph& graph, const ClientProcessing& processing,
                                                  const std::map<std::string, FloatTensor>& values, size_t n) {
  const OnnxNode* svm = nullptr;
  for (const auto& node : graph.nodes)
    if (node.op_type == "SVMClassifier") svm = &node;
  if (svm == nullptr) return invalid_argument("the client processing is an SVMClassifier's, the graph has none");
  auto label_it = values.find(svm->outputs[0]);
  if (label_it == values.end()) return invalid_argument("the SVMClassifier's label output was not computed");
  const FloatTensor& label = label_it->second;
  const size_t width = static_cast<size_t>(processing.ovo->score_count());
  const FloatTensor* scores = nullptr;
  for (auto it = graph.outputs.rbegin(); it != graph.outputs.rend() && !scores; ++it) {
    auto v = values.find(it->name);
    if (v != values.end() && v->second.data.size() == n * width) scores = &v->second;
  }
  if (label.data.size() != n) return invalid_argument("the SVMClassifier's label output does not split into rows");
  std::vector<Prediction> out(n);
  for (size_t r = 0; r < n; ++r) {
    const auto c = static_cast<size_t>(label.data[r]);
    out[r].label = c < processing.class_labels.size() ? processing.class_labels[c] : static_cast<int64_t>(c);
    if (scores) out[r].proba.assign(scores->data.begin() + r * width, scores->data.begin() + (r + 1) * width);
    out[r].values = out[r].proba;
  }
  return out;
}

}  // namespace

Result<std::vector<Prediction>> predict_float(const OnnxGraph& graph, const ClientProcessing& processing,
                                              const Rows& rows) {
  if (rows.empty()) return std::vector<Prediction>{};
  const int64_t features = static_cast<int64_t>(rows[0].size());
  // Several graph inputs: each row holds their columns concatenated in graph-input order.
  BLINDML_ASSIGN_OR_RETURN(const auto inputs, internal::raw_inputs(graph, features));
  const int64_t width = inputs.back().first + inputs.back().width;
  std::map<std::string, FloatTensor> feed;
  for (const auto& in : inputs) {
    FloatTensor x{{static_cast<int64_t>(rows.size()), in.width}, {}};
    const ValueInfo* info = nullptr;
    for (const auto& v : graph.inputs)
      if (v.name == in.name) info = &v;
    if (info && info->has_shape && info->shape.size() == 1) x.shape = {static_cast<int64_t>(rows.size())};
    x.data.reserve(rows.size() * static_cast<size_t>(in.width));
    for (size_t r = 0; r < rows.size(); ++r) {
      if (static_cast<int64_t>(rows[r].size()) != width)
        return invalid_argument("row " + std::to_string(r) + " has " + std::to_string(rows[r].size()) +
                                " values, the graph inputs have " + std::to_string(width) + " columns");
      x.data.insert(x.data.end(), rows[r].begin() + in.first, rows[r].begin() + in.first + in.width);
    }
    feed.emplace(in.name, std::move(x));
  }
  BLINDML_ASSIGN_OR_RETURN(auto values, evaluate_float(graph, feed));
  const size_t n = rows.size();
  std::vector<Prediction> out(n);
  if (processing.kind == ModelKind::kRegressor) {
    const FloatTensor& y = values.at(graph.outputs[0].name);
    if (y.data.size() % n != 0) return invalid_argument("the model's output does not split into rows");
    const size_t cols = y.data.size() / n;
    for (size_t r = 0; r < n; ++r) out[r].values.assign(y.data.begin() + r * cols, y.data.begin() + (r + 1) * cols);
    return out;
  }
  if (processing.ovo) return predict_float_svm(graph, processing, values, n);
  const size_t classes = processing.class_labels.size();
  bool probabilities = false;  // the graph computes probabilities itself
  for (const auto& node : graph.nodes)
    if (node.op_type == "Softmax" || node.op_type == "Sigmoid" || node.op_type == "LinearClassifier" ||
        node.op_type == "TreeEnsembleClassifier" || node.op_type == "ReduceLogSumExp")  // exp(s - logsumexp s)
      probabilities = true;
  for (auto it = graph.outputs.rbegin(); it != graph.outputs.rend(); ++it) {
    const FloatTensor& y = values.at(it->name);
    if (y.data.size() % n != 0) continue;
    const size_t cols = y.data.size() / n;
    if (cols != classes && !(cols == 1 && classes == 2)) continue;
    for (size_t r = 0; r < n; ++r) {
      std::vector<double> s(y.data.begin() + r * cols, y.data.begin() + (r + 1) * cols);
      out[r].values = s;
      if (!probabilities) s = apply_post_transform(processing.post, s);
      out[r].proba = cols == 1 ? std::vector<double>{1.0 - s[0], s[0]} : s;
      const size_t best = std::max_element(out[r].proba.begin(), out[r].proba.end()) - out[r].proba.begin();
      out[r].label = processing.class_labels[best];
    }
    return out;
  }
  return unimplemented("no output of the model has one column per class (" + std::to_string(classes) + ")");
}

Status check_in_range(const ClientProcessing& processing, const Rows& rows) {
  const RangeCount c = processing.count_out_of_range(rows);
  if (c.values == 0) return Status();
  for (size_t r = 0; r < rows.size(); ++r) {
    auto row = processing.preprocess_row(rows[r]);
    if (!row.ok()) continue;
    for (size_t j = 0; j < row->size() && j < processing.features.size(); ++j)
      if (!processing.features[j].in_range((*row)[j]))
        return invalid_argument("row " + std::to_string(r) + ", feature " + std::to_string(j) + " (" +
                                std::to_string((*row)[j]) + (processing.preprocess.empty() ? "" : " after preprocessing") +
                                ") lies outside the calibration range; " + std::to_string(c.values) + " value(s) in " +
                                std::to_string(c.rows) + " row(s) would be clipped (recompile with calibration rows that cover them)");
  }
  return Status();
}

Result<std::vector<Prediction>> predict_clear(const CompiledModel& model, const Rows& rows,
                                              const PredictOptions& options) {
  return predict_with(model, rows, options, [&](const circuit::Tensor& in) {
    return circuit::evaluate_clear(model.compiled.circuit, std::vector<circuit::Tensor>{in});
  });
}

Result<std::vector<Prediction>> predict_simulated(const CompiledModel& model, const Rows& rows, std::mt19937_64& rng,
                                                  const PredictOptions& options) {
  const double p = std::exp2(model.compiled.log2_p_error_per_read);
  return predict_with(model, rows, options, [&](const circuit::Tensor& in) {
    return circuit::simulate(model.compiled.circuit, std::vector<circuit::Tensor>{in}, p, rng);
  });
}

Result<std::vector<Prediction>> predict_fhe(const CompiledModel& model, const Rows& rows, const crypto::ClientKey& key,
                                            const crypto::EvaluationKeys* keys, ThreadPool& pool,
                                            const PredictOptions& options) {
  const auto& compiled = model.compiled;
  BLINDML_ASSIGN_OR_RETURN(const auto analysis, circuit::analyze(compiled.circuit));
  BLINDML_ASSIGN_OR_RETURN(const auto program, compiler::lower(compiled.circuit, analysis, compiled.params));
  if (program.inputs().size() != 1 || program.outputs().size() != 1)
    return unimplemented("predict_fhe takes circuits with one input and one output");
  if (options.range) *options.range = model.processing.count_out_of_range(rows);
  if (options.refuse_out_of_range) BLINDML_RETURN_IF_ERROR(check_in_range(model.processing, rows));
  if (rows.empty()) return std::vector<Prediction>{};
  // Every row encrypted into one list, run together (one PBS batch per wave), then decrypted.
  const runtime::TensorSpec& in = program.inputs()[0];
  const runtime::TensorSpec& out = program.outputs()[0];
  const auto dim = compiled.params.big_lwe_dimension();
  const uint64_t n = in.slots.size(), words = dim.value + 1;
  crypto::LweCiphertextList list(dim, rows.size() * n);
  for (size_t r = 0; r < rows.size(); ++r) {
    auto x = model.processing.encode_row(rows[r]);
    if (!x.ok()) return Status(x.status().code(), "row " + std::to_string(r) + ": " + x.status().message());
    if (x->shape != in.shape)
      return invalid_argument("row " + std::to_string(r) + ": encoded to shape " + circuit::shape_to_string(x->shape) +
                              ", the circuit takes " + circuit::shape_to_string(in.shape));
    const auto ct = runtime::encrypt_tensor(key, *x, in.carrier_bits);
    std::copy(ct.ciphertexts.data().begin(), ct.ciphertexts.data().end(), list.data().begin() + r * n * words);
  }
  BLINDML_ASSIGN_OR_RETURN(auto res, runtime::execute(program, rows.size(), std::span(&list, 1), keys, pool));
  const uint64_t m = out.slots.size();
  std::vector<Prediction> predictions;
  predictions.reserve(rows.size());
  for (size_t r = 0; r < rows.size(); ++r) {
    circuit::Tensor t{out.shape, std::vector<int64_t>(m)};
    for (uint64_t e = 0; e < m; ++e)
      t.data[e] = crypto::decrypt(key, res[0].at(r * m + e), out.carrier_bits, out.is_signed);
    auto p = model.processing.decode(t);
    if (!p.ok()) return p.status();
    predictions.push_back(std::move(p).value());
  }
  return predictions;
}

}  // namespace blindml::model
