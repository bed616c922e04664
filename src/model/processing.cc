#include "blindml/model/processing.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "blindml/base/checked.h"
#include "blindml/base/json.h"

namespace blindml::model {

using nlohmann::json;

const char* post_transform_name(PostTransform p) {
  switch (p) {
    case PostTransform::kNone: return "NONE";
    case PostTransform::kLogistic: return "LOGISTIC";
    case PostTransform::kSoftmax: return "SOFTMAX";
    case PostTransform::kSoftmaxZero: return "SOFTMAX_ZERO";
  }
  return "?";
}

int64_t FeatureEncoder::encode(double x) const {
  if (kind == Kind::kQuantize) return quantizer.quantize(x);
  const double xf = static_cast<double>(static_cast<float>(x));
  if (strict) return std::upper_bound(thresholds.begin(), thresholds.end(), xf) - thresholds.begin();
  return std::lower_bound(thresholds.begin(), thresholds.end(), xf) - thresholds.begin();
}

int64_t FeatureEncoder::width() const {
  if (kind == Kind::kQuantize) return square ? 2 : 1;
  return kind == Kind::kCompare ? static_cast<int64_t>(thresholds.size()) : 1;
}

void FeatureEncoder::encode_into(double x, int64_t* out) const {
  if (kind != Kind::kCompare) {
    *out = encode(x);
    if (kind == Kind::kQuantize && square) out[1] = square->quantizer.quantize((x - square->centre) * (x - square->centre));
    return;
  }
  // [q <= k] for the bin index q of the same thresholds: q <= k iff t_k >= x (x <= t), or
  // t_k > x when strict (x < t).
  const double xf = static_cast<double>(static_cast<float>(x));
  for (size_t k = 0; k < thresholds.size(); ++k) out[k] = (strict ? xf < thresholds[k] : xf <= thresholds[k]) ? 1 : 0;
}

int64_t ClientProcessing::input_width() const {
  int64_t w = 0;
  for (const auto& f : features) w += f.width();
  return w;
}

int64_t Preprocess::in_width() const {
  switch (kind) {
    case Kind::kScaler: return static_cast<int64_t>(offset.size());
    case Kind::kImputer: return static_cast<int64_t>(imputed.size());
    case Kind::kNormalizer:
    case Kind::kOneHot:
    case Kind::kMap: return width;
    case Kind::kLinear: return static_cast<int64_t>(offset.size());
    case Kind::kSelect: return 0;
  }
  return 0;
}

int64_t Preprocess::out_width() const {
  switch (kind) {
    case Kind::kLinear: return static_cast<int64_t>(bias.size());
    case Kind::kOneHot: return width * static_cast<int64_t>(categories.size());
    case Kind::kSelect: return static_cast<int64_t>(indices.size());
    default: return in_width();
  }
}

Status Preprocess::apply(std::vector<double>& row) const {
  const int64_t n = static_cast<int64_t>(row.size());
  const int64_t w = in_width();
  if (kind != Kind::kSelect && (at < 0 || at > n || w > n - at))
    return invalid_argument("a preprocessing step reads columns " + std::to_string(at) + ".." +
                            std::to_string(at + w - 1) + " of a row of " + std::to_string(n));
  double* x = row.data() + at;
  switch (kind) {
    case Kind::kScaler:
      for (int64_t j = 0; j < w; ++j) x[j] = (x[j] - offset[j]) * scale[j];
      return Status();
    case Kind::kImputer:
      for (int64_t j = 0; j < w; ++j)
        if (std::isnan(x[j]) || x[j] == replaced) x[j] = imputed[j];
      return Status();
    case Kind::kNormalizer: {
      double d = 0;
      if (norm == Norm::kMax) {
        d = w > 0 ? *std::max_element(x, x + w) : 0;
      } else if (norm == Norm::kL1) {
        for (int64_t j = 0; j < w; ++j) d += std::fabs(x[j]);
      } else {
        for (int64_t j = 0; j < w; ++j) d += x[j] * x[j];
        d = std::sqrt(d);
      }
      if (d != 0)
        for (int64_t j = 0; j < w; ++j) x[j] /= d;
      return Status();
    }
    case Kind::kLinear: {
      const int64_t k_out = out_width();
      std::vector<double> y(bias.begin(), bias.end());
      for (int64_t j = 0; j < w; ++j) {
        const double v = x[j] - offset[j];
        const double* m = matrix.data() + j * k_out;
        for (int64_t k = 0; k < k_out; ++k) y[k] += v * m[k];
      }
      row.erase(row.begin() + at, row.begin() + at + w);
      row.insert(row.begin() + at, y.begin(), y.end());
      return Status();
    }
    case Kind::kOneHot: {
      const size_t c = categories.size();
      std::vector<double> y(static_cast<size_t>(w) * c, 0.0);
      for (int64_t j = 0; j < w; ++j) {
        // as onnxruntime: the value cast to int64 (truncated), then looked up
        const double v = x[j];
        const bool integral = std::isfinite(v) && std::fabs(v) < 9.2e18;
        const auto it = integral ? std::find(categories.begin(), categories.end(), static_cast<int64_t>(v))
                                 : categories.end();
        if (it != categories.end()) {
          y[static_cast<size_t>(j) * c + static_cast<size_t>(it - categories.begin())] = 1.0;
        } else if (!zeros && !(integral && std::find(dropped.begin(), dropped.end(), static_cast<int64_t>(v)) !=
                                               dropped.end())) {
          char buf[64];
          std::snprintf(buf, sizeof buf, "%.17g", v);
          return invalid_argument("column " + std::to_string(at + j) + " holds " + buf +
                                  ", which is not one of the one-hot encoder's " + std::to_string(c) +
                                  " categories (the encoder was exported with handle_unknown='error')");
        }
      }
      row.erase(row.begin() + at, row.begin() + at + w);
      row.insert(row.begin() + at, y.begin(), y.end());
      return Status();
    }
    case Kind::kMap:
      for (int64_t j = 0; j < w; ++j) {
        const auto it = std::find(keys.begin(), keys.end(), x[j]);
        x[j] = it == keys.end() ? fallback : values[static_cast<size_t>(it - keys.begin())];
      }
      return Status();
    case Kind::kSelect: {
      std::vector<double> y(indices.size());
      for (size_t k = 0; k < indices.size(); ++k) {
        if (indices[k] < 0 || indices[k] >= n)
          return invalid_argument("a column selection reads column " + std::to_string(indices[k]) + " of a row of " +
                                  std::to_string(n));
        y[k] = row[static_cast<size_t>(indices[k])];
      }
      row = std::move(y);
      return Status();
    }
  }
  return Status();
}

double ClientProcessing::string_code(std::string_view s) const {
  auto it = std::lower_bound(vocabulary.begin(), vocabulary.end(), s);
  return it != vocabulary.end() && *it == s ? static_cast<double>(it - vocabulary.begin()) : -1.0;
}

Result<std::vector<double>> ClientProcessing::preprocess_row(std::span<const double> raw) const {
  if (static_cast<int64_t>(raw.size()) != feature_count())
    return invalid_argument("the model takes " + std::to_string(feature_count()) + " features, the row has " +
                            std::to_string(raw.size()));
  for (const RawInput& in : inputs)
    for (int64_t j = in.first; (in.integer || in.text) && j < in.first + in.width && j < static_cast<int64_t>(raw.size()); ++j) {
      if (in.integer && raw[j] != std::trunc(raw[j]))
        return invalid_argument("column " + std::to_string(j) + " (input '" + in.name + "', an int64 input) holds " +
                                std::to_string(raw[j]) + ", not an integer");
      if (in.text && (raw[j] != std::trunc(raw[j]) || raw[j] < -1 || raw[j] >= static_cast<double>(vocabulary.size())))
        return invalid_argument("column " + std::to_string(j) + " (input '" + in.name + "', a string input) holds " +
                                std::to_string(raw[j]) + ", not a vocabulary code (-1 to " +
                                std::to_string(static_cast<int64_t>(vocabulary.size()) - 1) + ")");
    }
  std::vector<double> row(raw.begin(), raw.end());
  for (size_t i = 0; i < preprocess.size(); ++i) {
    Status st = preprocess[i].apply(row);
    if (!st.ok()) return Status(st.code(), "preprocessing step " + std::to_string(i) + ": " + st.message());
  }
  if (row.size() != features.size())
    return invalid_argument("the preprocessing gives " + std::to_string(row.size()) + " values, the encoders take " +
                            std::to_string(features.size()));
  return row;
}

bool FeatureEncoder::in_range(double x) const {
  if (kind != Kind::kQuantize) return true;
  if (constant) return std::fabs(x - *constant) <= 1e-6 * std::max(1.0, std::fabs(*constant));
  const double v = x / quantizer.scale + static_cast<double>(quantizer.zero_point);
  return v >= static_cast<double>(quantizer.qmin()) - 0.5 && v <= static_cast<double>(quantizer.qmax()) + 0.5;
}

RangeCount ClientProcessing::count_out_of_range(std::span<const std::vector<double>> rows) const {
  RangeCount c;
  c.per_feature.assign(features.size(), 0);
  for (const auto& raw : rows) {
    auto row = preprocess_row(raw);
    if (!row.ok()) continue;  // encode_row reports it
    bool any = false;
    for (size_t j = 0; j < row->size(); ++j)
      if (!features[j].in_range((*row)[j])) {
        ++c.per_feature[j];
        ++c.values;
        any = true;
      }
    c.rows += any ? 1 : 0;
  }
  return c;
}

int64_t FeatureEncoder::min_code() const { return kind == Kind::kQuantize ? quantizer.qmin() : 0; }
int64_t FeatureEncoder::max_code() const {
  if (kind == Kind::kCompare) return 1;
  return kind == Kind::kQuantize ? quantizer.qmax() : static_cast<int64_t>(thresholds.size());
}

std::vector<double> apply_post_transform(PostTransform post, std::span<const double> s) {
  std::vector<double> out(s.begin(), s.end());
  switch (post) {
    case PostTransform::kNone:
      break;
    case PostTransform::kLogistic:
      for (auto& v : out) v = 1.0 / (1.0 + std::exp(-v));
      break;
    case PostTransform::kSoftmax:
    case PostTransform::kSoftmaxZero: {
      double m = -INFINITY;
      for (double v : out) m = std::max(m, v);
      double sum = 0;
      for (auto& v : out) {
        v = (post == PostTransform::kSoftmaxZero && v == 0) ? 0 : std::exp(v - m);
        sum += v;
      }
      for (auto& v : out) v = sum > 0 ? v / sum : 0;
      break;
    }
  }
  return out;
}

const char* ovo_kind_name(OvoScores::Kind k) {
  switch (k) {
    case OvoScores::Kind::kRaw: return "raw";
    case OvoScores::Kind::kOvr: return "ovr";
    case OvoScores::Kind::kPlatt: return "platt";
  }
  return "?";
}

int64_t OvoScores::score_count() const {
  if (kind == Kind::kRaw) return classes == 2 ? 2 : pairs();
  return classes;
}

namespace {

// libsvm's multiclass_probability (Wu, Lin and Weng 2004, method 2): the p minimising
// Σ_i Σ_{j≠i} (r_ji·p_i − r_ij·p_j)² with Σ p = 1, by coordinate descent on Q·p = (pᵀQp)·1,
// stopping when every |(Qp)_t − pᵀQp| < 0.005/k or after max(100, k) sweeps. r is k×k, row-major.
void couple_pairwise(int64_t k, const std::vector<double>& r, double* p) {
  std::vector<double> q(static_cast<size_t>(k * k), 0.0), qp(static_cast<size_t>(k));
  for (int64_t t = 0; t < k; ++t) {
    p[t] = 1.0 / static_cast<double>(k);
    for (int64_t j = 0; j < k; ++j) {
      if (j == t) continue;
      q[t * k + t] += r[j * k + t] * r[j * k + t];
      q[t * k + j] = -r[j * k + t] * r[t * k + j];
    }
  }
  const double eps = 0.005 / static_cast<double>(k);
  const int64_t sweeps = std::max<int64_t>(100, k);
  for (int64_t it = 0; it < sweeps; ++it) {
    double pqp = 0;
    for (int64_t t = 0; t < k; ++t) {
      qp[t] = 0;
      for (int64_t j = 0; j < k; ++j) qp[t] += q[t * k + j] * p[j];
      pqp += p[t] * qp[t];
    }
    double worst = 0;
    for (int64_t t = 0; t < k; ++t) worst = std::max(worst, std::fabs(qp[t] - pqp));
    if (worst < eps) break;
    for (int64_t t = 0; t < k; ++t) {
      const double diff = (pqp - qp[t]) / q[t * k + t];
      p[t] += diff;
      pqp = (pqp + diff * (diff * q[t * k + t] + 2 * qp[t])) / (1 + diff) / (1 + diff);
      for (int64_t j = 0; j < k; ++j) {
        qp[j] = (qp[j] + diff * q[t * k + j]) / (1 + diff);
        p[j] /= 1 + diff;
      }
    }
  }
}

}  // namespace

void OvoScores::answer(std::span<const double> d, int64_t* label, std::vector<double>* scores) const {
  const int64_t k = classes;
  std::vector<int64_t> votes(static_cast<size_t>(k), 0);
  size_t p = 0;
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = i + 1; j < k; ++j, ++p) ++votes[d[p] > 0 ? i : j];
  *label = std::max_element(votes.begin(), votes.end()) - votes.begin();  // the first maximum
  scores->clear();
  switch (kind) {
    case Kind::kRaw:
      if (k == 2) *scores = {-d[0], d[0]};
      else scores->assign(d.begin(), d.begin() + pairs());
      break;
    case Kind::kOvr: {
      std::vector<double> v(static_cast<size_t>(k), 0.0), s(static_cast<size_t>(k), 0.0);
      p = 0;
      for (int64_t i = 0; i < k; ++i)
        for (int64_t j = i + 1; j < k; ++j, ++p) {
          v[d[p] < 0 ? j : i] += 1;
          s[i] += d[p];
          s[j] -= d[p];
        }
      scores->resize(static_cast<size_t>(k));
      for (int64_t c = 0; c < k; ++c) (*scores)[c] = v[c] + s[c] / (3 * (std::fabs(s[c]) + 1));
      break;
    }
    case Kind::kPlatt: {
      std::vector<double> r(static_cast<size_t>(k * k), 0.0);
      p = 0;
      for (int64_t i = 0; i < k; ++i)
        for (int64_t j = i + 1; j < k; ++j, ++p) {
          const double f = d[p] * prob_a[p] + prob_b[p];
          // 1/(1 + e^f), written so that neither branch overflows
          const double sig = f >= 0 ? std::exp(-f) / (1 + std::exp(-f)) : 1 / (1 + std::exp(f));
          r[i * k + j] = std::clamp(sig, 1e-7, 1 - 1e-7);
          r[j * k + i] = 1 - r[i * k + j];
        }
      scores->resize(static_cast<size_t>(k));
      couple_pairwise(k, r, scores->data());
      break;
    }
  }
}

Result<circuit::Tensor> ClientProcessing::encode_row(std::span<const double> raw) const {
  BLINDML_ASSIGN_OR_RETURN(const std::vector<double> row, preprocess_row(raw));
  const int64_t width = input_width();
  circuit::Tensor t{{width}, std::vector<int64_t>(static_cast<size_t>(width))};
  int64_t at = 0;
  for (size_t j = 0; j < row.size(); ++j) {
    if (!std::isfinite(row[j])) return invalid_argument("feature " + std::to_string(j) + " is not a finite number");
    features[j].encode_into(row[j], t.data.data() + at);
    at += features[j].width();
  }
  return t;
}

Result<Prediction> ClientProcessing::decode(const circuit::Tensor& output) const {
  if (static_cast<int64_t>(output.data.size()) != output_count())
    return invalid_argument("the model answers " + std::to_string(output_count()) + " values, got " +
                            std::to_string(output.data.size()));
  Prediction p;
  p.values.resize(output.data.size());
  for (size_t c = 0; c < output.data.size(); ++c)
    p.values[c] = output_scale[c] * static_cast<double>(output.data[c]) + output_offset[c];
  if (kind == ModelKind::kRegressor) return p;
  if (ovo) {
    if (static_cast<int64_t>(p.values.size()) != ovo->pairs() ||
        (ovo->kind == OvoScores::Kind::kPlatt &&
         (static_cast<int64_t>(ovo->prob_a.size()) != ovo->pairs() || ovo->prob_b.size() != ovo->prob_a.size())))
      return invalid_argument("the SVM's one-vs-one block of " + std::to_string(ovo->classes) +
                              " classes does not match its " + std::to_string(p.values.size()) + " outputs");
    int64_t best = 0;
    ovo->answer(p.values, &best, &p.proba);
    p.label = best < static_cast<int64_t>(class_labels.size()) ? class_labels[best] : best;
    return p;
  }
  if (binary_single_score) {
    const double v = apply_post_transform(post, p.values)[0];
    p.proba = {1.0 - v, v};
  } else {
    p.proba = apply_post_transform(post, p.values);
  }
  if (normalize_l1) {
    double sum = 0;
    for (double v : p.proba) sum += std::fabs(v);
    if (sum > 0)
      for (auto& v : p.proba) v /= sum;
  }
  const size_t best = std::max_element(p.proba.begin(), p.proba.end()) - p.proba.begin();
  p.label = best < class_labels.size() ? class_labels[best] : static_cast<int64_t>(best);
  return p;
}

namespace {

const char* norm_name(Preprocess::Norm n) {
  return n == Preprocess::Norm::kMax ? "MAX" : n == Preprocess::Norm::kL1 ? "L1" : "L2";
}

json preprocess_to_json(const Preprocess& p) {
  json e;
  switch (p.kind) {
    case Preprocess::Kind::kScaler:
      e = {{"op", "scaler"}, {"offset", p.offset}, {"scale", p.scale}};
      break;
    case Preprocess::Kind::kImputer:
      e = {{"op", "imputer"}, {"imputed", p.imputed}};
      if (!std::isnan(p.replaced)) e["replaced"] = p.replaced;
      break;
    case Preprocess::Kind::kNormalizer:
      e = {{"op", "normalizer"}, {"norm", norm_name(p.norm)}, {"width", p.width}};
      break;
    case Preprocess::Kind::kLinear: {
      const size_t k = p.bias.size();
      json m = json::array();
      for (size_t r = 0; r < p.offset.size(); ++r)
        m.push_back(std::vector<double>(p.matrix.begin() + r * k, p.matrix.begin() + (r + 1) * k));
      e = {{"op", "linear"}, {"offset", p.offset}, {"matrix", m}, {"bias", p.bias}};
      break;
    }
    case Preprocess::Kind::kOneHot:
      e = {{"op", "onehot"}, {"width", p.width}, {"categories", p.categories}, {"zeros", p.zeros}};
      if (!p.dropped.empty()) e["dropped"] = p.dropped;
      break;
    case Preprocess::Kind::kSelect:
      e = {{"op", "select"}, {"indices", p.indices}};
      break;
    case Preprocess::Kind::kMap:
      e = {{"op", "map"}, {"width", p.width}, {"keys", p.keys}, {"values", p.values}, {"default", p.fallback}};
      break;
  }
  if (p.kind != Preprocess::Kind::kSelect && p.at != 0) e["at"] = p.at;
  return e;
}

}  // namespace

std::string ClientProcessing::to_json() const {
  json j;
  j["model_kind"] = kind == ModelKind::kClassifier ? "classifier" : "regressor";
  j["family"] = family;
  json feats = json::array();
  for (const auto& f : features) {
    json e;
    if (f.kind == FeatureEncoder::Kind::kQuantize) {
      e["encoder"] = "quantize";
      e["n_bits"] = f.quantizer.n_bits;
      e["signed"] = f.quantizer.is_signed;
      e["scale"] = f.quantizer.scale;
      e["zero_point"] = f.quantizer.zero_point;
      if (f.constant) e["constant"] = *f.constant;
      if (f.square) {
        const Quantizer& q = f.square->quantizer;
        e["square"] = {{"centre", f.square->centre}, {"n_bits", q.n_bits}, {"signed", q.is_signed},
                       {"scale", q.scale}, {"zero_point", q.zero_point}};
      }
    } else {
      e["encoder"] = f.kind == FeatureEncoder::Kind::kBin ? "bin" : "compare";
      e["comparison"] = f.strict ? "lt" : "leq";
      e["thresholds"] = f.thresholds;
    }
    feats.push_back(e);
  }
  j["features"] = feats;
  j["output"] = {{"scale", output_scale}, {"offset", output_offset}};
  j["post_transform"] = post_transform_name(post);
  j["binary_single_score"] = binary_single_score;
  j["normalize_l1"] = normalize_l1;
  j["class_labels"] = class_labels;
  if (!class_names.empty()) j["class_names"] = class_names;
  if (ovo) {
    json o = {{"classes", ovo->classes}, {"scores", ovo_kind_name(ovo->kind)}};
    if (ovo->kind == OvoScores::Kind::kPlatt) {
      o["prob_a"] = ovo->prob_a;
      o["prob_b"] = ovo->prob_b;
    }
    j["ovo"] = o;
  }
  if (!preprocess.empty()) {
    json pre = json::array();
    for (const auto& p : preprocess) pre.push_back(preprocess_to_json(p));
    j["preprocess"] = pre;
  }
  if (row_width > 0) j["row_width"] = row_width;
  if (!inputs.empty()) {
    json ins = json::array();
    for (const auto& in : inputs)
      ins.push_back({{"name", in.name}, {"columns", in.width}, {"dtype", in.text ? "string" : in.integer ? "int64" : "float"}});
    j["inputs"] = ins;
  }
  if (!vocabulary.empty()) j["vocabulary"] = vocabulary;
  return j.dump(2);
}

namespace {

constexpr std::string_view kFile = "serialized_processing.json";
constexpr size_t kMaxFeatures = 1000000;
constexpr size_t kMaxThresholds = 65535;
// Values of the circuit input in all (compare encoders contribute one per threshold): the bound
// deploy puts on a circuit's input shape.
constexpr int64_t kMaxInputWidth = int64_t{1} << 24;
constexpr size_t kMaxOutputs = 100000;
// Zero points stay far from int64 overflow: q - zp and scale·(q - zp) are computed in int64/double.
constexpr int64_t kMaxZeroPoint = int64_t{1} << 20;

Status feature_from_json(const json& e, const std::string& where, FeatureEncoder* out) {
  FeatureEncoder f;
  std::string encoder;
  BLINDML_RETURN_IF_ERROR(json_get(e, where, "encoder", &encoder));
  if (encoder == "quantize") {
    f.kind = FeatureEncoder::Kind::kQuantize;
    BLINDML_RETURN_IF_ERROR(json_get_in<uint32_t>(e, where, "n_bits", 1, 16, &f.quantizer.n_bits));
    BLINDML_RETURN_IF_ERROR(json_get(e, where, "signed", &f.quantizer.is_signed));
    BLINDML_RETURN_IF_ERROR(json_get(e, where, "scale", &f.quantizer.scale));
    if (!(f.quantizer.scale > 0)) return corrupted(where + ": field 'scale' must be a positive number");
    BLINDML_RETURN_IF_ERROR(
        json_get_in<int64_t>(e, where, "zero_point", -kMaxZeroPoint, kMaxZeroPoint, &f.quantizer.zero_point));
    if (e.contains("constant")) {
      double c = 0;
      BLINDML_RETURN_IF_ERROR(json_get(e, where, "constant", &c));
      if (!std::isfinite(c)) return corrupted(where + ": field 'constant' must be a finite number");
      f.constant = c;
    }
    if (e.contains("square")) {
      const json* sq = nullptr;
      BLINDML_RETURN_IF_ERROR(json_get_object(e, where, "square", &sq));
      const std::string w = where + ": square";
      FeatureEncoder::Square s;
      BLINDML_RETURN_IF_ERROR(json_get(*sq, w, "centre", &s.centre));
      if (!std::isfinite(s.centre) || std::fabs(s.centre) > 1e150)
        return corrupted(w + ": field 'centre' must be a finite number below 1e150 in magnitude");
      BLINDML_RETURN_IF_ERROR(json_get_in<uint32_t>(*sq, w, "n_bits", 1, 16, &s.quantizer.n_bits));
      BLINDML_RETURN_IF_ERROR(json_get(*sq, w, "signed", &s.quantizer.is_signed));
      BLINDML_RETURN_IF_ERROR(json_get(*sq, w, "scale", &s.quantizer.scale));
      if (!(s.quantizer.scale > 0) || !std::isfinite(s.quantizer.scale))
        return corrupted(w + ": field 'scale' must be a positive number");
      BLINDML_RETURN_IF_ERROR(
          json_get_in<int64_t>(*sq, w, "zero_point", -kMaxZeroPoint, kMaxZeroPoint, &s.quantizer.zero_point));
      f.square = s;
    }
  } else if (encoder == "bin" || encoder == "compare") {
    f.kind = encoder == "bin" ? FeatureEncoder::Kind::kBin : FeatureEncoder::Kind::kCompare;
    std::string cmp = "leq";
    BLINDML_RETURN_IF_ERROR(json_get_optional(e, where, "comparison", &cmp));
    if (cmp != "leq" && cmp != "lt") return corrupted(where + ": field 'comparison' must be \"leq\" or \"lt\"");
    f.strict = cmp == "lt";
    const json* thresholds = nullptr;
    BLINDML_RETURN_IF_ERROR(json_get_array(e, where, "thresholds", kMaxThresholds, &thresholds));
    f.thresholds.reserve(thresholds->size());
    for (size_t k = 0; k < thresholds->size(); ++k) {
      double t = 0;
      BLINDML_RETURN_IF_ERROR(json_as((*thresholds)[k], where, "thresholds[" + std::to_string(k) + "]", &t));
      f.thresholds.push_back(t);
    }
    for (size_t k = 1; k < f.thresholds.size(); ++k)
      if (!(f.thresholds[k - 1] < f.thresholds[k]))
        return corrupted(where + ": field 'thresholds' is not sorted and distinct (at " + std::to_string(k) + ")");
  } else {
    return corrupted(where + ": field 'encoder' = \"" + encoder + "\" is not \"quantize\", \"bin\" or \"compare\"");
  }
  *out = std::move(f);
  return Status();
}

Status doubles_from_json(const json& obj, const std::string& where, const char* field, std::vector<double>* out) {
  const json* a = nullptr;
  BLINDML_RETURN_IF_ERROR(json_get_array(obj, where, field, kMaxOutputs, &a));
  if (a->empty()) return corrupted(where + ": field '" + field + "' is empty");
  out->reserve(a->size());
  for (size_t i = 0; i < a->size(); ++i) {
    double v = 0;
    BLINDML_RETURN_IF_ERROR(json_as((*a)[i], where, std::string(field) + "[" + std::to_string(i) + "]", &v));
    out->push_back(v);
  }
  return Status();
}

// Preprocessing: at most kMaxSteps steps; every width the row takes on (raw, between steps) at
// most kMaxRowWidth; a linear step's F·K and a one-hot step's width·categories proven with
// checked products before anything is allocated; the chain must end at the encoders' count.
constexpr size_t kMaxSteps = 1024;
constexpr int64_t kMaxRowWidth = int64_t{1} << 20;
constexpr uint64_t kMaxMatrix = uint64_t{1} << 24;
constexpr size_t kMaxCategories = 65535;
constexpr size_t kMaxInputs = 4096;
constexpr size_t kMaxNameBytes = 1024;
// The string vocabulary: entries, bytes per entry, bytes in all.
constexpr size_t kMaxVocabulary = size_t{1} << 20;
constexpr size_t kMaxStringBytes = 1024;
constexpr size_t kMaxVocabularyBytes = size_t{64} << 20;

// A list of strings (`field`, at most `max` of them), each at most kMaxStringBytes and all
// together at most kMaxVocabularyBytes; `sorted`: strictly increasing (sorted and distinct).
Status strings_from_json(const json& obj, const std::string& where, const char* field, size_t max, bool sorted,
                         std::vector<std::string>* out) {
  const json* a = nullptr;
  BLINDML_RETURN_IF_ERROR(json_get_array(obj, where, field, max, &a));
  size_t bytes = 0;
  for (size_t i = 0; i < a->size(); ++i) {
    std::string v;
    BLINDML_RETURN_IF_ERROR(json_as((*a)[i], where, std::string(field) + "[" + std::to_string(i) + "]", &v));
    bytes += v.size();
    if (v.size() > kMaxStringBytes || bytes > kMaxVocabularyBytes)
      return corrupted(where + ": " + field + "[" + std::to_string(i) + "] has " + std::to_string(v.size()) +
                       " bytes (at most " + std::to_string(kMaxStringBytes) + " each, " +
                       std::to_string(kMaxVocabularyBytes) + " in all)");
    if (sorted && !out->empty() && !(out->back() < v))
      return corrupted(where + ": field '" + field + "' is not sorted and distinct (at " + std::to_string(i) + ")");
    out->push_back(std::move(v));
  }
  return Status();
}

template <typename T>
Status numbers_from_json(const json& obj, const std::string& where, const char* field, size_t max, std::vector<T>* out) {
  const json* a = nullptr;
  BLINDML_RETURN_IF_ERROR(json_get_array(obj, where, field, max, &a));
  if (a->empty()) return corrupted(where + ": field '" + field + "' is empty");
  out->reserve(a->size());
  for (size_t i = 0; i < a->size(); ++i) {
    T v{};
    BLINDML_RETURN_IF_ERROR(json_as((*a)[i], where, std::string(field) + "[" + std::to_string(i) + "]", &v));
    if constexpr (std::is_floating_point_v<T>)
      if (!std::isfinite(v)) return corrupted(where + ": field '" + field + "' holds a non-finite number");
    out->push_back(v);
  }
  return Status();
}

Status step_from_json(const json& e, const std::string& w, Preprocess* out) {
  std::string op;
  BLINDML_RETURN_IF_ERROR(json_get(e, w, "op", &op));
  Preprocess s;
  const size_t kMax = static_cast<size_t>(kMaxRowWidth);
  if (op == "scaler") {
    s.kind = Preprocess::Kind::kScaler;
    BLINDML_RETURN_IF_ERROR(numbers_from_json(e, w, "offset", kMax, &s.offset));
    BLINDML_RETURN_IF_ERROR(numbers_from_json(e, w, "scale", kMax, &s.scale));
    if (s.offset.size() != s.scale.size())
      return corrupted(w + ": fields 'offset' and 'scale' differ in length (" + std::to_string(s.offset.size()) +
                       " and " + std::to_string(s.scale.size()) + ")");
  } else if (op == "imputer") {
    s.kind = Preprocess::Kind::kImputer;
    BLINDML_RETURN_IF_ERROR(numbers_from_json(e, w, "imputed", kMax, &s.imputed));
    if (e.contains("replaced")) BLINDML_RETURN_IF_ERROR(json_get(e, w, "replaced", &s.replaced));
  } else if (op == "normalizer") {
    s.kind = Preprocess::Kind::kNormalizer;
    std::string norm;
    BLINDML_RETURN_IF_ERROR(json_get(e, w, "norm", &norm));
    if (norm == "MAX") s.norm = Preprocess::Norm::kMax;
    else if (norm == "L1") s.norm = Preprocess::Norm::kL1;
    else if (norm == "L2") s.norm = Preprocess::Norm::kL2;
    else return corrupted(w + ": field 'norm' = \"" + norm + "\" is not MAX, L1 or L2");
    BLINDML_RETURN_IF_ERROR(json_get_in<int64_t>(e, w, "width", 1, kMaxRowWidth, &s.width));
  } else if (op == "linear") {
    s.kind = Preprocess::Kind::kLinear;
    BLINDML_RETURN_IF_ERROR(numbers_from_json(e, w, "offset", kMax, &s.offset));
    BLINDML_RETURN_IF_ERROR(numbers_from_json(e, w, "bias", kMax, &s.bias));
    const json* m = nullptr;
    BLINDML_RETURN_IF_ERROR(json_get_array(e, w, "matrix", kMax, &m));
    const size_t F = s.offset.size(), K = s.bias.size();
    const auto fk = checked_product(F, K);
    if (!fk || *fk > kMaxMatrix)
      return corrupted(w + ": a linear map of " + std::to_string(F) + " x " + std::to_string(K) +
                       " exceeds the limit of " + std::to_string(kMaxMatrix) + " coefficients");
    if (m->size() != F)
      return corrupted(w + ": field 'matrix' has " + std::to_string(m->size()) + " rows, 'offset' " +
                       std::to_string(F) + " values");
    s.matrix.reserve(static_cast<size_t>(*fk));
    for (size_t r = 0; r < F; ++r) {
      const json& row = (*m)[r];
      const std::string field = "matrix[" + std::to_string(r) + "]";
      if (!row.is_array() || row.size() != K)
        return corrupted(w + ": field '" + field + "' must be an array of " + std::to_string(K) +
                         " numbers (one per 'bias' value)");
      for (size_t k = 0; k < K; ++k) {
        double v = 0;
        BLINDML_RETURN_IF_ERROR(json_as(row[k], w, field + "[" + std::to_string(k) + "]", &v));
        s.matrix.push_back(v);
      }
    }
  } else if (op == "onehot") {
    s.kind = Preprocess::Kind::kOneHot;
    BLINDML_RETURN_IF_ERROR(json_get_in<int64_t>(e, w, "width", 1, kMaxRowWidth, &s.width));
    BLINDML_RETURN_IF_ERROR(numbers_from_json(e, w, "categories", kMaxCategories, &s.categories));
    BLINDML_RETURN_IF_ERROR(json_get_optional(e, w, "zeros", &s.zeros));
    if (e.contains("dropped")) BLINDML_RETURN_IF_ERROR(numbers_from_json(e, w, "dropped", kMaxCategories, &s.dropped));
    const auto out = checked_product(static_cast<uint64_t>(s.width), s.categories.size());
    if (!out || *out > static_cast<uint64_t>(kMaxRowWidth))
      return corrupted(w + ": " + std::to_string(s.width) + " columns of " + std::to_string(s.categories.size()) +
                       " categories exceed the row limit of " + std::to_string(kMaxRowWidth) + " values");
  } else if (op == "select") {
    s.kind = Preprocess::Kind::kSelect;
    BLINDML_RETURN_IF_ERROR(numbers_from_json(e, w, "indices", kMax, &s.indices));
  } else if (op == "map") {
    s.kind = Preprocess::Kind::kMap;
    BLINDML_RETURN_IF_ERROR(json_get_in<int64_t>(e, w, "width", 1, kMaxRowWidth, &s.width));
    BLINDML_RETURN_IF_ERROR(numbers_from_json(e, w, "keys", kMaxVocabulary, &s.keys));
    BLINDML_RETURN_IF_ERROR(numbers_from_json(e, w, "values", kMaxVocabulary, &s.values));
    BLINDML_RETURN_IF_ERROR(json_get(e, w, "default", &s.fallback));
    if (s.keys.size() != s.values.size())
      return corrupted(w + ": fields 'keys' and 'values' differ in length (" + std::to_string(s.keys.size()) + " and " +
                       std::to_string(s.values.size()) + ")");
  } else {
    return corrupted(w + ": field 'op' = \"" + op +
                     "\" is not one of scaler, imputer, normalizer, linear, onehot, select, map");
  }
  if (s.kind != Preprocess::Kind::kSelect)
    if (e.contains("at")) BLINDML_RETURN_IF_ERROR(json_get_in<int64_t>(e, w, "at", 0, kMaxRowWidth, &s.at));
  *out = std::move(s);
  return Status();
}

Status preprocess_from_json(const json& j, const std::string& where, ClientProcessing* p) {
  const int64_t encoders = p->encoder_count();
  if (j.contains("row_width"))
    BLINDML_RETURN_IF_ERROR(json_get_in<int64_t>(j, where, "row_width", 1, kMaxRowWidth, &p->row_width));
  int64_t width = p->row_width > 0 ? p->row_width : encoders;
  if (j.contains("inputs")) {
    const json* ins = nullptr;
    BLINDML_RETURN_IF_ERROR(json_get_array(j, where, "inputs", kMaxInputs, &ins));
    int64_t first = 0;
    for (size_t i = 0; i < ins->size(); ++i) {
      const std::string w = where + ": inputs[" + std::to_string(i) + "]";
      RawInput in;
      std::string dtype;
      BLINDML_RETURN_IF_ERROR(json_get((*ins)[i], w, "name", &in.name));
      if (in.name.size() > kMaxNameBytes) return corrupted(w + ": field 'name' is longer than " + std::to_string(kMaxNameBytes) + " bytes");
      BLINDML_RETURN_IF_ERROR(json_get_in<int64_t>((*ins)[i], w, "columns", 1, kMaxRowWidth, &in.width));
      BLINDML_RETURN_IF_ERROR(json_get((*ins)[i], w, "dtype", &dtype));
      if (dtype != "float" && dtype != "int64" && dtype != "string")
        return corrupted(w + ": field 'dtype' = \"" + dtype + "\" is not \"float\", \"int64\" or \"string\"");
      in.integer = dtype == "int64";
      in.text = dtype == "string";
      in.first = first;
      first += in.width;  // at most kMaxInputs·kMaxRowWidth: no overflow
      p->inputs.push_back(std::move(in));
    }
    if (first != width)
      return corrupted(where + ": the inputs have " + std::to_string(first) + " columns in all, the row " +
                       std::to_string(width));
  }
  if (j.contains("vocabulary"))
    BLINDML_RETURN_IF_ERROR(strings_from_json(j, where, "vocabulary", kMaxVocabulary, true, &p->vocabulary));
  if (!j.contains("preprocess")) {
    if (width != encoders)
      return corrupted(where + ": the row has " + std::to_string(width) + " values, the encoders take " +
                       std::to_string(encoders) + " (and no preprocessing changes the width)");
    return Status();
  }
  const json* pre = nullptr;
  BLINDML_RETURN_IF_ERROR(json_get_array(j, where, "preprocess", kMaxSteps, &pre));
  uint64_t held = 0;  // numbers the steps hold in all (coefficients, categories, keys, indices)
  for (size_t i = 0; i < pre->size(); ++i) {
    const std::string w = where + ": preprocess[" + std::to_string(i) + "]";
    Preprocess s;
    BLINDML_RETURN_IF_ERROR(step_from_json((*pre)[i], w, &s));
    held += s.offset.size() + s.scale.size() + s.imputed.size() + s.matrix.size() + s.bias.size() +
            s.categories.size() + s.indices.size() + s.keys.size() + s.values.size();
    if (held > kMaxMatrix)
      return corrupted(w + ": the preprocessing steps hold more than " + std::to_string(kMaxMatrix) + " numbers in all");
    if (s.kind == Preprocess::Kind::kSelect) {
      for (size_t k = 0; k < s.indices.size(); ++k)
        if (s.indices[k] < 0 || s.indices[k] >= width)
          return corrupted(w + ": indices[" + std::to_string(k) + "] = " + std::to_string(s.indices[k]) +
                           " is outside the row of " + std::to_string(width) + " values");
    } else if (s.at + s.in_width() > width) {  // both at most kMaxRowWidth
      return corrupted(w + ": reads columns " + std::to_string(s.at) + ".." + std::to_string(s.at + s.in_width() - 1) +
                       " of a row of " + std::to_string(width) + " values");
    }
    width = width - (s.kind == Preprocess::Kind::kSelect ? width : s.in_width()) + s.out_width();
    if (width < 1 || width > kMaxRowWidth)
      return corrupted(w + ": gives a row of " + std::to_string(width) + " values (1.." + std::to_string(kMaxRowWidth) + ")");
    p->preprocess.push_back(std::move(s));
  }
  if (width != encoders)
    return corrupted(where + ": the preprocessing gives " + std::to_string(width) + " values, the encoders take " +
                     std::to_string(encoders));
  return Status();
}

// An SVMClassifier's one-vs-one block: {"classes": k, "scores": "raw" | "ovr" | "platt",
// "prob_a": [...], "prob_b": [...] (platt only, one per pair)}.
constexpr int64_t kMaxOvoClasses = 256;  // 32640 pairs

Status ovo_from_json(const json& e, const std::string& where, OvoScores* out) {
  OvoScores o;
  BLINDML_RETURN_IF_ERROR(json_get_in<int64_t>(e, where, "classes", 2, kMaxOvoClasses, &o.classes));
  std::string kind;
  BLINDML_RETURN_IF_ERROR(json_get(e, where, "scores", &kind));
  if (kind == "raw") {
    o.kind = OvoScores::Kind::kRaw;
  } else if (kind == "ovr") {
    o.kind = OvoScores::Kind::kOvr;
  } else if (kind == "platt") {
    o.kind = OvoScores::Kind::kPlatt;
    BLINDML_RETURN_IF_ERROR(doubles_from_json(e, where, "prob_a", &o.prob_a));
    BLINDML_RETURN_IF_ERROR(doubles_from_json(e, where, "prob_b", &o.prob_b));
    if (static_cast<int64_t>(o.prob_a.size()) != o.pairs() || static_cast<int64_t>(o.prob_b.size()) != o.pairs())
      return corrupted(where + ": fields 'prob_a' and 'prob_b' need one value per pair (" + std::to_string(o.pairs()) +
                       "), got " + std::to_string(o.prob_a.size()) + " and " + std::to_string(o.prob_b.size()));
  } else {
    return corrupted(where + ": field 'scores' = \"" + kind + "\" is not \"raw\", \"ovr\" or \"platt\"");
  }
  if (o.kind != OvoScores::Kind::kPlatt && (e.contains("prob_a") || e.contains("prob_b")))
    return corrupted(where + ": fields 'prob_a' / 'prob_b' belong to scores \"platt\" only");
  *out = std::move(o);
  return Status();
}

}  // namespace

Result<ClientProcessing> ClientProcessing::from_json(std::string_view text) {
  BLINDML_ASSIGN_OR_RETURN(const json j, parse_json_object(text, kFile));
  const std::string where(kFile);
  ClientProcessing p;
  std::string kind;
  BLINDML_RETURN_IF_ERROR(json_get(j, where, "model_kind", &kind));
  if (kind != "classifier" && kind != "regressor")
    return corrupted(where + ": field 'model_kind' = \"" + kind + "\" is neither \"classifier\" nor \"regressor\"");
  p.kind = kind == "classifier" ? ModelKind::kClassifier : ModelKind::kRegressor;
  BLINDML_RETURN_IF_ERROR(json_get_optional(j, where, "family", &p.family));
  const json* features = nullptr;
  BLINDML_RETURN_IF_ERROR(json_get_array(j, where, "features", kMaxFeatures, &features));
  if (features->empty()) return corrupted(where + ": field 'features' is empty");
  p.features.resize(features->size());
  for (size_t i = 0; i < features->size(); ++i)
    BLINDML_RETURN_IF_ERROR(feature_from_json((*features)[i], where + ": features[" + std::to_string(i) + "]",
                                              &p.features[i]));
  // Each width is at most kMaxThresholds and there are at most kMaxFeatures: the sum fits.
  const int64_t width = p.input_width();
  if (width < 1 || width > kMaxInputWidth)
    return corrupted(where + ": the encoders give " + std::to_string(width) + " input values (1.." +
                     std::to_string(kMaxInputWidth) + ")");
  const json* output = nullptr;
  BLINDML_RETURN_IF_ERROR(json_get_object(j, where, "output", &output));
  BLINDML_RETURN_IF_ERROR(doubles_from_json(*output, where + ": output", "scale", &p.output_scale));
  BLINDML_RETURN_IF_ERROR(doubles_from_json(*output, where + ": output", "offset", &p.output_offset));
  if (p.output_scale.size() != p.output_offset.size())
    return corrupted(where + ": output.scale and output.offset differ in length");
  std::string post = "NONE";
  BLINDML_RETURN_IF_ERROR(json_get_optional(j, where, "post_transform", &post));
  if (post == "NONE") {
    p.post = PostTransform::kNone;
  } else if (post == "LOGISTIC") {
    p.post = PostTransform::kLogistic;
  } else if (post == "SOFTMAX") {
    p.post = PostTransform::kSoftmax;
  } else if (post == "SOFTMAX_ZERO") {
    p.post = PostTransform::kSoftmaxZero;
  } else {
    return corrupted(where + ": field 'post_transform' = \"" + post + "\" is not NONE/LOGISTIC/SOFTMAX/SOFTMAX_ZERO");
  }
  BLINDML_RETURN_IF_ERROR(json_get_optional(j, where, "binary_single_score", &p.binary_single_score));
  BLINDML_RETURN_IF_ERROR(json_get_optional(j, where, "normalize_l1", &p.normalize_l1));
  if (j.contains("class_labels")) {
    const json* labels = nullptr;
    BLINDML_RETURN_IF_ERROR(json_get_array(j, where, "class_labels", kMaxOutputs, &labels));
    for (size_t i = 0; i < labels->size(); ++i) {
      int64_t v = 0;
      BLINDML_RETURN_IF_ERROR(json_as((*labels)[i], where, "class_labels[" + std::to_string(i) + "]", &v));
      p.class_labels.push_back(v);
    }
  }
  if (j.contains("class_names")) {
    // String labels: one name per class, the class_labels then being the indices 0..n-1.
    BLINDML_RETURN_IF_ERROR(strings_from_json(j, where, "class_names", kMaxOutputs, false, &p.class_names));
    if (p.kind != ModelKind::kClassifier) return corrupted(where + ": class_names belong to a classifier");
    if (p.class_names.size() != p.class_labels.size())
      return corrupted(where + ": " + std::to_string(p.class_names.size()) + " class_names for " +
                       std::to_string(p.class_labels.size()) + " class_labels");
    for (size_t i = 0; i < p.class_labels.size(); ++i)
      if (p.class_labels[i] != static_cast<int64_t>(i))
        return corrupted(where + ": with class_names, class_labels must be the indices 0..n-1 (class_labels[" +
                         std::to_string(i) + "] = " + std::to_string(p.class_labels[i]) + ")");
  }
  BLINDML_RETURN_IF_ERROR(preprocess_from_json(j, where, &p));
  if (j.contains("ovo")) {
    const json* o = nullptr;
    BLINDML_RETURN_IF_ERROR(json_get_object(j, where, "ovo", &o));
    OvoScores ovo;
    BLINDML_RETURN_IF_ERROR(ovo_from_json(*o, where + ": ovo", &ovo));
    if (p.kind != ModelKind::kClassifier || p.binary_single_score || p.post != PostTransform::kNone || p.normalize_l1)
      return corrupted(where + ": ovo belongs to a classifier without binary_single_score, post_transform or "
                       "normalize_l1");
    if (static_cast<int64_t>(p.output_scale.size()) != ovo.pairs())
      return corrupted(where + ": ovo with " + std::to_string(ovo.classes) + " classes needs " +
                       std::to_string(ovo.pairs()) + " outputs (one per pair), got " +
                       std::to_string(p.output_scale.size()));
    if (static_cast<int64_t>(p.class_labels.size()) != ovo.classes)
      return corrupted(where + ": ovo with " + std::to_string(ovo.classes) + " classes needs as many class_labels, got " +
                       std::to_string(p.class_labels.size()));
    p.ovo = std::move(ovo);
  }
  if (p.kind == ModelKind::kClassifier && !p.ovo) {
    const size_t classes = p.binary_single_score ? 2 : p.output_scale.size();
    if (p.binary_single_score && p.output_scale.size() != 1)
      return corrupted(where + ": binary_single_score needs one output");
    if (p.class_labels.size() != classes)
      return corrupted(where + ": a classifier with " + std::to_string(classes) + " classes needs as many class_labels");
  }
  return p;
}

}  // namespace blindml::model
