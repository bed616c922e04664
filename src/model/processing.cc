#include "blindml/model/processing.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

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

void Preprocess::apply(std::vector<double>& row) const {
  const size_t n = kind == Kind::kScaler ? std::min({row.size(), offset.size(), scale.size()})
                                         : std::min(row.size(), imputed.size());
  for (size_t j = 0; j < n; ++j) {
    if (kind == Kind::kScaler) {
      row[j] = (row[j] - offset[j]) * scale[j];
    } else if (std::isnan(row[j]) || row[j] == replaced) {
      row[j] = imputed[j];
    }
  }
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
    if (raw.size() != features.size()) continue;
    std::vector<double> row = raw;
    for (const auto& pre : preprocess) pre.apply(row);
    bool any = false;
    for (size_t j = 0; j < row.size(); ++j)
      if (!features[j].in_range(row[j])) {
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

Result<circuit::Tensor> ClientProcessing::encode_row(std::span<const double> raw) const {
  if (static_cast<int64_t>(raw.size()) != feature_count())
    return invalid_argument("the model takes " + std::to_string(feature_count()) + " features, the row has " +
                            std::to_string(raw.size()));
  const int64_t width = input_width();
  circuit::Tensor t{{width}, std::vector<int64_t>(static_cast<size_t>(width))};
  std::vector<double> row(raw.begin(), raw.end());
  for (const auto& pre : preprocess) pre.apply(row);
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
  if (!preprocess.empty()) {
    json pre = json::array();
    for (const auto& p : preprocess) {
      if (p.kind == Preprocess::Kind::kScaler) {
        pre.push_back({{"op", "scaler"}, {"offset", p.offset}, {"scale", p.scale}});
      } else {
        json e = {{"op", "imputer"}, {"imputed", p.imputed}};
        if (!std::isnan(p.replaced)) e["replaced"] = p.replaced;
        pre.push_back(e);
      }
    }
    j["preprocess"] = pre;
  }
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
  if (j.contains("preprocess")) {
    const json* pre = nullptr;
    BLINDML_RETURN_IF_ERROR(json_get_array(j, where, "preprocess", 16, &pre));
    for (size_t i = 0; i < pre->size(); ++i) {
      const std::string w = where + ": preprocess[" + std::to_string(i) + "]";
      const json& e = (*pre)[i];
      std::string op;
      BLINDML_RETURN_IF_ERROR(json_get(e, w, "op", &op));
      Preprocess s;
      std::vector<double>* lists[2] = {nullptr, nullptr};
      const char* names[2] = {"", ""};
      if (op == "scaler") {
        s.kind = Preprocess::Kind::kScaler;
        lists[0] = &s.offset;
        lists[1] = &s.scale;
        names[0] = "offset";
        names[1] = "scale";
      } else if (op == "imputer") {
        s.kind = Preprocess::Kind::kImputer;
        lists[0] = &s.imputed;
        names[0] = "imputed";
        if (e.contains("replaced")) BLINDML_RETURN_IF_ERROR(json_get(e, w, "replaced", &s.replaced));
      } else {
        return corrupted(w + ": field 'op' = \"" + op + "\" is neither \"scaler\" nor \"imputer\"");
      }
      for (int k = 0; k < 2 && lists[k]; ++k) {
        BLINDML_RETURN_IF_ERROR(doubles_from_json(e, w, names[k], lists[k]));
        if (lists[k]->size() != p.features.size())
          return corrupted(w + ": field '" + names[k] + "' has " + std::to_string(lists[k]->size()) + " values for " +
                           std::to_string(p.features.size()) + " features");
        for (double v : *lists[k])
          if (!std::isfinite(v)) return corrupted(w + ": field '" + names[k] + "' holds a non-finite number");
      }
      p.preprocess.push_back(std::move(s));
    }
  }
  if (p.kind == ModelKind::kClassifier) {
    const size_t classes = p.binary_single_score ? 2 : p.output_scale.size();
    if (p.binary_single_score && p.output_scale.size() != 1)
      return corrupted(where + ": binary_single_score needs one output");
    if (p.class_labels.size() != classes)
      return corrupted(where + ": a classifier with " + std::to_string(classes) + " classes needs as many class_labels");
  }
  return p;
}

}  // namespace blindml::model
