// The model families' lowerings (model.h): each turns an ONNX graph and a calibration set into
// the client processing and an integer circuit.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "blindml/circuit/circuit.h"
#include "blindml/model/model.h"

namespace blindml::model::internal {

struct Lowered {
  ClientProcessing processing;
  circuit::Circuit circuit;
  std::string notes;  // what the lowering chose (bits, merged thresholds, ...), for the report
};

Result<Lowered> lower_linear(const OnnxGraph& graph, const Rows& calibration, const CompileOptions& options);
Result<Lowered> lower_trees(const OnnxGraph& graph, const Rows& calibration, const CompileOptions& options);
Result<Lowered> lower_mlp(const OnnxGraph& graph, const Rows& calibration, const CompileOptions& options);

// Per-feature min and max over the calibration rows (invalid_argument when empty or ragged).
Result<std::pair<std::vector<double>, std::vector<double>>> feature_ranges(const Rows& rows, size_t features);

// A calibration range too narrow to quantize (the degenerate case of Quantizer::calibrate): the
// value is treated as the constant rmin by the lowerings, never as a scaled input.
inline bool is_constant_range(double rmin, double rmax) { return !(rmax - rmin >= 1e-6); }

// Bits to hold 0..max_value (at least 1).
inline uint32_t bits_for(int64_t max_value) {
  uint32_t b = 1;
  while ((max_value >> b) != 0) ++b;
  return b;
}

// Nodes after the model proper that only shape the answer: ZipMap, Cast, Identity, Normalizer,
// and the label ops.
bool is_trailing_op(const OnnxNode& node);
// ArgMax, ArrayFeatureExtractor, Reshape: the label tail of a classifier.
bool is_label_op(const OnnxNode& node);
// The class labels of an ArrayFeatureExtractor that reads an int64 initializer of `classes`
// entries (skl2onnx's label tail), if the graph has one.
std::optional<std::vector<int64_t>> label_initializer(const OnnxGraph& graph, int64_t classes);

// invalid_argument naming `what` when a model parameter is NaN, infinite or beyond 1e100 in
// magnitude (a crafted or broken export): such values cannot be quantized.
Status check_finite(const std::vector<double>& values, const std::string& what);

// A classifier node's integer labels (`ints_key`), or 0..n-1 when it has classlabels_strings
// (compile_model attaches the strings as ClientProcessing::class_names).
std::vector<int64_t> class_ids(const OnnxNode& n, const char* ints_key);
// The classifier's string labels, if its node has them (LinearClassifier, TreeEnsembleClassifier,
// SVMClassifier).
std::optional<std::vector<std::string>> string_class_labels(const OnnxGraph& graph);

// A model rewritten as a linear model on each feature x_j and its centred square (x_j - centre_j)²,
// interleaved (x_0, u_0², x_1, u_1², ...), with calibration rows to match (naive_bayes.cc).
struct SquaredFeatures {
  OnnxGraph graph;
  Rows calibration;
  std::vector<double> centre;
  std::string note;
};
// skl2onnx's GaussianNB as such a LinearClassifier (SOFTMAX); nullopt when the graph is not one,
// unimplemented when it is one with something else attached.
Result<std::optional<SquaredFeatures>> gaussian_nb_as_linear(const OnnxGraph& graph, const Rows& calibration);
// The 2F quantize encoders of such a model back into F encoders with square terms.
Status merge_square_encoders(const std::vector<double>& centre, ClientProcessing* p);

}  // namespace blindml::model::internal
