// The client-side prefix of a graph (docs/models.md "Client processing"): the leading nodes that
// only reshape, select, encode or linearly map the graph inputs — a Pipeline's Scaler / Imputer /
// Normalizer / Cast, a PCA or TruncatedSVD before trees or an MLP, a ColumnTransformer's column
// selections, OneHotEncoders and Concat — become ClientProcessing::preprocess steps over the raw
// row (the graph inputs' columns concatenated in graph-input order), and the rest of the graph
// reads one feature vector.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "blindml/base/status.h"
#include "blindml/model/onnx.h"
#include "blindml/model/processing.h"

namespace blindml::model::internal {

struct ClientPrefix {
  OnnxGraph graph;                     // the rest: one graph input, the model's features
  std::vector<Preprocess> preprocess;  // raw row -> the rest's input
  std::vector<RawInput> inputs;        // the graph inputs in the raw row
  int64_t row_width = 0;
  std::vector<std::string> vocabulary;  // string inputs: their cells' codes (string_vocabulary)
  std::string notes;                   // for the compile report
};

// The graph inputs in the raw row: declared [N, w] (or [N], one column) each; a single input of
// undeclared width takes `single_width` columns (the calibration rows' length).
Result<std::vector<RawInput>> raw_inputs(const OnnxGraph& graph, int64_t single_width);

// nullopt: nothing runs on the client (one graph input, read by the model itself).
// unimplemented when several values reach the model (nothing concatenates them).
Result<std::optional<ClientPrefix>> split_client_prefix(const OnnxGraph& graph, int64_t single_width);

}  // namespace blindml::model::internal
