// Models: an ONNX graph and a calibration set become a quantized integer circuit plus the client
// processing around it (shared/models.md).
//
// Families, detected from the graph:
//   linear         LinearRegressor / LinearClassifier, or a single Gemm/MatMul(+Add) followed by
//                  nothing but a final Sigmoid/Softmax. Per-feature input quantizers; the weights,
//                  scaled by each feature's step, quantized per output column (symmetric); the
//                  circuit is one leveled matrix product, no PBS; bias and scales are applied by the
//                  client's dequantizer.
//   tree_ensemble  TreeEnsembleClassifier / TreeEnsembleRegressor (BRANCH_LEQ/BRANCH_GT nodes):
//                  the client sends one bit [x <= t] per distinct threshold the trees use (or, with
//                  tree_comparisons = kServer, each feature's bin index and the server compares);
//                  a leveled path matrix; one lookup per group of leaves (a leaf, or two sibling
//                  leaves) that yields its quantized value when reached, leaves equal to their
//                  tree's reference value needing none (or, for several output columns, one
//                  indicator lookup per leaf and a leveled product with the leaf values); the
//                  trees summed on the server (docs/models.md).
//   mlp            Gemm/MatMul(+Add) layers with Relu/LeakyRelu/Sigmoid/Tanh/Clip/Identity
//                  between them (BatchNormalization folded into the layer before), a final
//                  Softmax/Sigmoid applied by the client: leveled linear layers; per hidden neuron
//                  the accumulator is rounded by its own fewest bits to rounding_bits and one
//                  lookup applies rescale, bias, activation and the next layer's quantization
//                  (none for a neuron constant over the calibration rows).
//
// Thread safety: a CompiledModel is immutable; the functions are pure.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "blindml/base/status.h"
#include "blindml/base/thread_pool.h"
#include "blindml/compiler/compiled.h"
#include "blindml/crypto/keys.h"
#include "blindml/model/onnx.h"
#include "blindml/model/processing.h"
#include "blindml/runtime/program.h"

namespace blindml::model {

struct CompileOptions {
  // Bits of the input quantizers and weights (linear, MLP) / the largest bin index (trees);
  // 0 = the family's default (linear 8, trees 8, MLP 6).
  uint32_t n_bits = 0;
  // MLP: the accumulator is rounded to this many bits before its lookup. 0: classifiers try 6, 5
  // and 4 and keep the cheapest whose calibration-row labels and probabilities stay as close to
  // the float model as 6 bits' (docs/models.md, the report says which); regressors 6.
  uint32_t rounding_bits = 0;
  // Exact (the default): FHE equals predict_clear except with the compiled error probability, at
  // s more PBS per hidden neuron (s = the accumulator bits dropped, 7-9 on the committed MLPs).
  // Approximate: 1 PBS per neuron, but a neuron whose accumulator lies within the noise of a
  // rounding boundary may read the neighbouring table entry (its next-layer code off by one), so
  // FHE may differ from predict_clear on many rows.
  bool exact_rounding = true;
  // Trees: bits of the quantized leaf values (0 = default 8).
  uint32_t leaf_bits = 0;
  // Trees: where each node's test [x <= t] is computed. kClient (the default): the client sends
  // one encrypted bit per distinct threshold the trees use (a "compare" encoder), the server
  // computes no comparison; exact on every threshold (n_bits does not apply). kServer: the
  // client sends each feature's bin index and the server computes one comparison lookup per
  // distinct (feature, threshold); thresholds beyond n_bits of bins are merged.
  enum class TreeComparisons : uint8_t { kClient, kServer };
  TreeComparisons tree_comparisons = TreeComparisons::kClient;
  // Classifier or regressor when the graph does not say (a network ending in logits without
  // Softmax); unset: what the graph says, regressor when it says nothing.
  std::optional<ModelKind> kind;
  compiler::OptimizerOptions optimizer;
};

struct CompiledModel {
  ClientProcessing processing;
  compiler::CompiledCircuit compiled;
  std::string report;   // compile report: family, quantization, circuit, parameters
};

// Rows: one vector of doubles per sample, features in the model's order.
using Rows = std::vector<std::vector<double>>;

// Rows: the graph inputs' columns concatenated in graph-input order (one input: its features);
// leading preprocessing runs on the client (docs/models.md "Client processing").
Result<CompiledModel> compile_model(const OnnxGraph& graph, const Rows& calibration, const CompileOptions& options = {});

// Values of a raw row for this graph: the graph inputs' declared columns summed (-1 when an
// input does not declare its width).
int64_t graph_row_width(const OnnxGraph& graph);

// Rows to estimate a model on when there is no calibration data (`blindml check`), `width`
// values each: N(0, 1) for float columns; for an int64 or string column read by a
// OneHotEncoder or LabelEncoder (directly, or through skl2onnx's per-column Gather and Cast),
// one of that encoder's categories, so that an encoder exported with handle_unknown='error'
// accepts them; other int64 columns small integers, other string columns codes of the graph's
// strings. Deterministic in `seed`.
Rows synthetic_rows(const OnnxGraph& graph, int64_t width, size_t count, uint64_t seed);

// How the predict functions treat inputs outside the calibration range (the encoders clip them,
// ClientProcessing::count_out_of_range): counted into *range when set; refused (invalid_argument,
// naming the first row and feature) when refuse_out_of_range.
struct PredictOptions {
  bool refuse_out_of_range = false;
  RangeCount* range = nullptr;
};

// The quantized model in the clear (the exact reference for FHE).
Result<std::vector<Prediction>> predict_clear(const CompiledModel& model, const Rows& rows,
                                              const PredictOptions& options = {});
// The clear model with PBS errors drawn at the compiled per-read probability.
Result<std::vector<Prediction>> predict_simulated(const CompiledModel& model, const Rows& rows, std::mt19937_64& rng,
                                                  const PredictOptions& options = {});
// Encrypts each row with the client key, evaluates under FHE, decrypts. keys may be null for
// leveled models.
Result<std::vector<Prediction>> predict_fhe(const CompiledModel& model, const Rows& rows, const crypto::ClientKey& key,
                                            const crypto::EvaluationKeys* keys, ThreadPool& pool,
                                            const PredictOptions& options = {});

// The ONNX model itself in float (evaluate_float), answered like the compiled model whose
// processing is given (kind, class labels): the reference a user compares with first.
// Regressors: the first output's values; classifiers: the last output with one column per
// class (or one score column of a binary model), softmax/logistic applied when the graph ends in
// logits; label = class_labels[argmax].
Result<std::vector<Prediction>> predict_float(const OnnxGraph& graph, const ClientProcessing& processing,
                                              const Rows& rows);

// Refuses rows with values outside the calibration range (invalid_argument, naming the first row and
// feature and the count); ok when every value is in range.
Status check_in_range(const ClientProcessing& processing, const Rows& rows);

}  // namespace blindml::model
