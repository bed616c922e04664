#include "blindml/model/processing.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

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

int64_t FeatureEncoder::min_code() const { return kind == Kind::kQuantize ? quantizer.qmin() : 0; }
int64_t FeatureEncoder::max_code() const {
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

Result<circuit::Tensor> ClientProcessing::encode_row(std::span<const double> row) const {
  if (static_cast<int64_t>(row.size()) != feature_count())
    return invalid_argument("the model takes " + std::to_string(feature_count()) + " features, the row has " +
                            std::to_string(row.size()));
  circuit::Tensor t{{feature_count()}, std::vector<int64_t>(row.size())};
  for (size_t j = 0; j < row.size(); ++j) {
    if (!std::isfinite(row[j])) return invalid_argument("feature " + std::to_string(j) + " is not a finite number");
    t.data[j] = features[j].encode(row[j]);
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
    } else {
      e["encoder"] = "bin";
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
  return j.dump(2);
}

Result<ClientProcessing> ClientProcessing::from_json(std::string_view text) {
  json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return corrupted("serialized processing: not a JSON object");
  auto bad = [](const std::string& what) { return corrupted("serialized processing: " + what); };
  auto finite = [](const json& v) { return v.is_number() && std::isfinite(v.get<double>()); };
  ClientProcessing p;
  if (!j.contains("model_kind") || !j["model_kind"].is_string()) return bad("missing model_kind");
  const std::string kind = j["model_kind"];
  if (kind != "classifier" && kind != "regressor") return bad("model_kind '" + kind + "' is not classifier/regressor");
  p.kind = kind == "classifier" ? ModelKind::kClassifier : ModelKind::kRegressor;
  if (j.contains("family") && j["family"].is_string()) p.family = j["family"];
  if (!j.contains("features") || !j["features"].is_array() || j["features"].empty())
    return bad("missing features");
  if (j["features"].size() > 1000000) return bad("too many features");
  for (size_t i = 0; i < j["features"].size(); ++i) {
    const json& e = j["features"][i];
    const std::string at = "feature " + std::to_string(i) + ": ";
    if (!e.is_object() || !e.contains("encoder") || !e["encoder"].is_string()) return bad(at + "missing encoder");
    FeatureEncoder f;
    if (e["encoder"] == "quantize") {
      f.kind = FeatureEncoder::Kind::kQuantize;
      if (!e.contains("n_bits") || !e["n_bits"].is_number_unsigned() || e["n_bits"] < 1 || e["n_bits"] > 16)
        return bad(at + "n_bits must be 1..16");
      if (!e.contains("signed") || !e["signed"].is_boolean()) return bad(at + "missing signed");
      if (!e.contains("scale") || !finite(e["scale"]) || !(e["scale"].get<double>() > 0))
        return bad(at + "scale must be a positive number");
      if (!e.contains("zero_point") || !e["zero_point"].is_number_integer()) return bad(at + "missing zero_point");
      f.quantizer.n_bits = e["n_bits"];
      f.quantizer.is_signed = e["signed"];
      f.quantizer.scale = e["scale"];
      f.quantizer.zero_point = e["zero_point"];
      if (std::llabs(f.quantizer.zero_point) > (int64_t{1} << 20)) return bad(at + "zero_point out of range");
    } else if (e["encoder"] == "bin") {
      f.kind = FeatureEncoder::Kind::kBin;
      const std::string cmp = e.value("comparison", "leq");
      if (cmp != "leq" && cmp != "lt") return bad(at + "comparison must be leq or lt");
      f.strict = cmp == "lt";
      if (!e.contains("thresholds") || !e["thresholds"].is_array() || e["thresholds"].size() > 65535)
        return bad(at + "thresholds must be an array of at most 65535 numbers");
      for (const auto& t : e["thresholds"]) {
        if (!finite(t)) return bad(at + "a threshold is not a finite number");
        f.thresholds.push_back(t.get<double>());
      }
      for (size_t k = 1; k < f.thresholds.size(); ++k)
        if (!(f.thresholds[k - 1] < f.thresholds[k])) return bad(at + "thresholds are not sorted and distinct");
    } else {
      return bad(at + "unknown encoder");
    }
    p.features.push_back(std::move(f));
  }
  if (!j.contains("output") || !j["output"].is_object()) return bad("missing output");
  for (const char* key : {"scale", "offset"}) {
    const json& a = j["output"][key];
    if (!a.is_array() || a.empty() || a.size() > 100000) return bad(std::string("output.") + key + " missing");
    auto& dst = std::string(key) == "scale" ? p.output_scale : p.output_offset;
    for (const auto& v : a) {
      if (!finite(v)) return bad(std::string("output.") + key + " has a non-finite value");
      dst.push_back(v.get<double>());
    }
  }
  if (p.output_scale.size() != p.output_offset.size()) return bad("output.scale and output.offset differ in length");
  const std::string post = j.value("post_transform", "NONE");
  if (post == "NONE") {
    p.post = PostTransform::kNone;
  } else if (post == "LOGISTIC") {
    p.post = PostTransform::kLogistic;
  } else if (post == "SOFTMAX") {
    p.post = PostTransform::kSoftmax;
  } else if (post == "SOFTMAX_ZERO") {
    p.post = PostTransform::kSoftmaxZero;
  } else {
    return bad("post_transform '" + post + "' is not NONE/LOGISTIC/SOFTMAX/SOFTMAX_ZERO");
  }
  p.binary_single_score = j.value("binary_single_score", false);
  p.normalize_l1 = j.value("normalize_l1", false);
  if (j.contains("class_labels")) {
    if (!j["class_labels"].is_array()) return bad("class_labels must be an array of integers");
    for (const auto& v : j["class_labels"]) {
      if (!v.is_number_integer()) return bad("class_labels must be an array of integers");
      p.class_labels.push_back(v.get<int64_t>());
    }
  }
  if (p.kind == ModelKind::kClassifier) {
    const size_t classes = p.binary_single_score ? 2 : p.output_scale.size();
    if (p.binary_single_score && p.output_scale.size() != 1) return bad("binary_single_score needs one output");
    if (p.class_labels.size() != classes)
      return bad("a classifier with " + std::to_string(classes) + " classes needs as many class_labels");
  }
  return p;
}

}  // namespace blindml::model
