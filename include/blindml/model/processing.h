// Client-side processing: what turns a float feature row into the circuit's integer input, and
// the circuit's integer output into the model's answer. It travels to the client as
// serialized_processing.json (docs/formats.md); nothing here is secret and nothing here needs
// the circuit.
//
//   features   one encoder per feature, in the model's feature order:
//                quantize  q = Quantizer::quantize(x)                (linear models, MLPs)
//                bin       q = #{ t in thresholds : t < float32(x) } (trees: the tree only asks
//                          which interval between the feature's sorted thresholds x lies in, so
//                          this is exact for x <= t comparisons; thresholds are float32 as in
//                          the ONNX file, and x is rounded to float32 first as ONNX runtimes do);
//                          strict: q = #{ t : t <= float32(x) }, exact for x < t comparisons
//                          (with a square term, a second value: the quantized (x - centre)²)
//                compare   one value per threshold t (sorted, distinct): [float32(x) <= t], or
//                          [float32(x) < t] when strict (trees with the comparisons on the client:
//                          bit k equals [q <= k] of the bin encoder over the same thresholds, so the
//                          server reads each node's test from the input instead of computing it)
//              the circuit input is the encoders' values concatenated in feature order
//              (input_width() of them: one per quantize/bin encoder, one per threshold of a
//              compare encoder)
//   output     per output column c: score_c = scale_c·q_c + offset_c
//   post       the ONNX post_transform on the scores (NONE, LOGISTIC, SOFTMAX, SOFTMAX_ZERO);
//              classifiers with one score column and two classes answer [1 - p, p];
//              normalize_l1 divides the probabilities by their sum (skl2onnx's Normalizer)
//   labels     classifiers: the class labels; label = labels[argmax(proba)]
//   ovo        SVMClassifiers: the outputs are one-vs-one decision values; votes give the label
//              and OvoScores the proba (below)
//
// Regressors answer like scikit-learn's predict (values), classifiers like predict_proba
// (proba) and predict (label).
//
// Thread safety: immutable after construction; share freely.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "blindml/base/status.h"
#include "blindml/circuit/circuit.h"
#include "blindml/model/quantize.h"

namespace blindml::model {

enum class ModelKind : uint8_t { kRegressor, kClassifier };
enum class PostTransform : uint8_t { kNone, kLogistic, kSoftmax, kSoftmaxZero };
const char* post_transform_name(PostTransform p);

// An SVMClassifier's one-vs-one answer, computed on the client from the circuit's k(k-1)/2 decision
// values d (pairs in libsvm's order (0,1), (0,2), ..., (1,2), ...), as onnxruntime's SVMClassifier
// and scikit-learn's SVC compute it (docs/models.md, "SVMClassifier"):
//   label   d_p > 0 is a vote for the pair's first class, otherwise for its second; the label is
//           the first class with the most votes (libsvm's rule, ties to the lower index)
//   scores  kRaw:   onnxruntime's score output without probabilities: [-d, d] for two classes,
//                   d itself for more (decision_function_shape='ovo')
//           kOvr:   scikit-learn's decision_function_shape='ovr', which skl2onnx appends as a
//                   graph tail: votes'_c + s_c / (3·(|s_c| + 1)) with s_c the sum of d_p over the
//                   pairs c is first in minus the pairs it is second in, and votes' counting
//                   d_p >= 0 for the first class (scikit-learn's `dec < 0` test)
//           kPlatt: probability=True: r_p = 1/(1 + exp(A_p·d_p + B_p)) clipped to
//                   [1e-7, 1 - 1e-7], coupled into k probabilities by libsvm's
//                   multiclass_probability (Wu, Lin and Weng 2004, method 2)
struct OvoScores {
  enum class Kind : uint8_t { kRaw, kOvr, kPlatt };
  int64_t classes = 0;                 // k >= 2
  Kind kind = Kind::kRaw;
  std::vector<double> prob_a, prob_b;  // kPlatt: one per pair
  int64_t pairs() const { return classes * (classes - 1) / 2; }
  // Width of the scores: 2 (k = 2, kRaw), pairs() (kRaw), k (kOvr, kPlatt).
  int64_t score_count() const;
  // The label's class index and the scores for decision values d (pairs() of them).
  void answer(std::span<const double> d, int64_t* label, std::vector<double>* scores) const;
};
const char* ovo_kind_name(OvoScores::Kind k);


struct FeatureEncoder {
  enum class Kind : uint8_t { kQuantize, kBin, kCompare };
  Kind kind = Kind::kQuantize;
  Quantizer quantizer;              // kQuantize
  std::vector<double> thresholds;   // kBin, kCompare: sorted ascending, distinct
  bool strict = false;              // kBin, kCompare: the tree compares x < t (else x <= t)
  // kQuantize: the feature was constant over the calibration rows; the model folded this value
  // into its offsets (its weights are 0), so any other value is out of range.
  std::optional<double> constant;
  // kQuantize with a square term (GaussianNB: its log-likelihood is linear in x and x²): a second
  // value, square.quantize((x - centre)²), follows q(x); centre is the midpoint of x's
  // calibration range, so the square's range [0, (range/2)²] keeps its resolution.
  struct Square {
    Quantizer quantizer;
    double centre = 0;
  };
  std::optional<Square> square;
  // kQuantize, kBin: the one value of x (kCompare: the number of thresholds t with
  // [x <= t] false, i.e. the bin index; use encode_into for its values).
  int64_t encode(double x) const;
  // Values this encoder contributes to the circuit input: 1, or thresholds.size() for kCompare.
  int64_t width() const;
  // Writes width() values for x at out.
  void encode_into(double x, int64_t* out) const;
  // Whether x lies where the encoder represents it: kQuantize within half a step of the
  // quantizer's range (else encode clips it), or equal to `constant` (relative 1e-6); kBin always
  // (binning is exact on the whole line).
  bool in_range(double x) const;
  int64_t min_code() const;
  int64_t max_code() const;
};

struct Prediction {
  std::vector<double> values;  // regressors: the predictions; classifiers: the scores before post
  std::vector<double> proba;   // classifiers
  int64_t label = 0;           // classifiers
};

// Preprocessing from the graph, run on the client in the clear before the encoders (a
// Pipeline's leading steps, a ColumnTransformer; docs/models.md "Client processing"). The client
// starts from the raw row (ClientProcessing::row_width values: the graph inputs' columns
// concatenated in graph-input order) and applies the steps in order; each acts on the `width`
// columns starting at `at` (the others pass through) and may change the row's width:
//   scaler      x_j = (x_j - offset_j)·scale_j                          width kept
//   imputer     x_j = imputed_j where x_j is NaN or equals `replaced`   width kept
//   normalizer  x = x / ‖x‖ (MAX: max_j x_j, L1, L2; a zero norm leaves x)   width kept
//   linear      y_k = Σ_j (x_j - offset_j)·matrix[j·K + k] + bias_k    F = offset.size() -> K
//               (a PCA / TruncatedSVD before trees or an MLP)
//   onehot      each of the `width` columns x -> |categories| indicators [trunc(x) == c]
//               (ai.onnx.ml OneHotEncoder: an unknown value gives zeros when `zeros`, else an
//               error naming the column and the value)                   F -> F·|categories|
//   select      y = x[indices] over the whole row (Gather / ArrayFeatureExtractor / Concat)
//   map         x_j = values[k] where x_j == keys[k], else `fallback` (LabelEncoder; string keys
//               as vocabulary codes)                                    width kept
struct Preprocess {
  enum class Kind : uint8_t { kScaler, kImputer, kNormalizer, kLinear, kOneHot, kSelect, kMap };
  enum class Norm : uint8_t { kMax, kL1, kL2 };
  Kind kind = Kind::kScaler;
  int64_t at = 0;                     // first column acted on (kSelect: 0, the whole row)
  std::vector<double> offset, scale;  // kScaler (one per column); kLinear: offset, F values
  std::vector<double> imputed;        // kImputer, one per column
  double replaced = std::numeric_limits<double>::quiet_NaN();
  Norm norm = Norm::kMax;             // kNormalizer
  int64_t width = 0;                  // kNormalizer, kOneHot: columns acted on
  std::vector<double> matrix, bias;   // kLinear: F·K row-major, K
  std::vector<int64_t> categories;    // kOneHot
  bool zeros = true;                  // kOneHot: unknown values give all zeros (else an error)
  std::vector<int64_t> dropped;       // kOneHot: known categories that encode to all zeros (drop=...)
  std::vector<int64_t> indices;       // kSelect
  std::vector<double> keys, values;   // kMap (width columns)
  double fallback = -1;               // kMap: for a value that is no key
  // Columns read (starting at `at`; kSelect: the whole row, so 0 = any) and written.
  int64_t in_width() const;
  int64_t out_width() const;
  // invalid_argument when the row is too short or (kOneHot, zeros = false) a value is not a
  // category, naming the column (of the row this step sees) and the value.
  Status apply(std::vector<double>& row) const;
};

// One graph input as the client's raw row holds it: `width` columns starting at `first`.
struct RawInput {
  std::string name;
  int64_t first = 0, width = 0;
  bool integer = false;  // int64 in the graph: the values must be integral
  bool text = false;     // string in the graph: the values are codes in `vocabulary` (-1: unknown)
};

// Values outside the calibration range (FeatureEncoder::in_range) over a set of rows.
struct RangeCount {
  int64_t rows = 0;                  // rows with at least one such value
  int64_t values = 0;                // such values in all
  std::vector<int64_t> per_feature;  // such values per feature
};

struct ClientProcessing {
  ModelKind kind = ModelKind::kRegressor;
  std::string family;                       // "linear", "tree_ensemble", "mlp"
  std::vector<FeatureEncoder> features;
  std::vector<double> output_scale, output_offset;
  PostTransform post = PostTransform::kNone;
  bool binary_single_score = false;
  bool normalize_l1 = false;
  // An SVMClassifier: the outputs are its one-vs-one decision values, answered by ovo->answer
  // (votes, scores) instead of post / class_labels[argmax] (class_labels still names the classes).
  std::optional<OvoScores> ovo;
  std::vector<int64_t> class_labels;
  // Classifiers whose labels are strings: the name of each class (class_labels are then the
  // indices 0..n-1; the answer's label indexes this list). Empty: the labels are the integers.
  std::vector<std::string> class_names;
  std::vector<Preprocess> preprocess;       // applied in order before the encoders
  // Values of the raw row (before preprocess); 0 = features.size() (no step changes the width).
  int64_t row_width = 0;
  std::vector<RawInput> inputs;             // optional: the graph inputs in the raw row, in order
  // String inputs' cells are mapped to their index in this sorted list (-1 when absent) before
  // anything else: the row readers do it (string_code), the rest sees numbers.
  std::vector<std::string> vocabulary;
  double string_code(std::string_view s) const;

  // Values of a raw row (what encode_row and count_out_of_range take, what the CLI and Python
  // read): row_width, or the encoders' count when no preprocessing changes the width.
  int64_t feature_count() const { return row_width > 0 ? row_width : encoder_count(); }
  // Values the encoders take (the row after preprocess).
  int64_t encoder_count() const { return static_cast<int64_t>(features.size()); }
  // The raw row through the preprocess steps (what the encoders read); invalid_argument on a
  // wrong length, a non-integral value of an int64 input, or a step's refusal.
  Result<std::vector<double>> preprocess_row(std::span<const double> raw) const;
  // Values of the circuit input (what encode_row returns): Σ features[j].width().
  int64_t input_width() const;
  int64_t output_count() const { return static_cast<int64_t>(output_scale.size()); }
  // The circuit input for one row (shape [input_width()]); invalid_argument on a wrong length or a
  // non-finite value, naming the feature.
  Result<circuit::Tensor> encode_row(std::span<const double> row) const;
  // Counts the values the encoders clip (rows of the wrong length are skipped: encode_row
  // reports them).
  RangeCount count_out_of_range(std::span<const std::vector<double>> rows) const;
  // The answer for one circuit output (shape [outputs]).
  Result<Prediction> decode(const circuit::Tensor& output) const;

  std::string to_json() const;
  // Validates every field (kinds, sizes, finite numbers, sorted thresholds, bit widths).
  static Result<ClientProcessing> from_json(std::string_view json);
};

// Scores after a post transform (exposed for tests).
std::vector<double> apply_post_transform(PostTransform post, std::span<const double> scores);

}  // namespace blindml::model
