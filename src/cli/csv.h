// The CSV files of the `blindml` command (docs/cli.md, "CSV formats").
//
// In: a header row of column names, then one row of numbers per sample, the columns in the
// model's feature order. When the model's feature count is known, a row may carry one more
// column if the header names it `target` or `label` (the data sets' answer column); it is
// ignored. Parsing is strict: a non-number, a non-finite number, a wrong column count, a header
// made of numbers, an empty file or a file without rows is an error naming the file, the line
// and the column.
//
// Out: regressors `prediction` (or `prediction_0,...` for several outputs); classifiers
// `label,proba_<class>,...` with the model's class labels. Numbers are written in the shortest
// form that reads back to the same double.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "blindml/base/status.h"
#include "blindml/model/model.h"
#include "blindml/model/processing.h"

namespace blindml::cli {

struct FeatureTable {
  std::vector<std::string> header;  // the feature columns' names (without a dropped column)
  model::Rows rows;
  std::string dropped_column;       // "target" / "label" when such a column was ignored, else ""
};

// expected_features < 0: unknown (a last column named target/label is dropped, the rest kept).
// path is used in messages only; text is the file's content.
// String cells (a string graph input's columns, docs/cli.md): such a column's cell is mapped to
// its index in the sorted `vocabulary` (-1 for a string not in it) instead of being parsed.
struct StringCells {
  std::vector<bool> columns;              // per feature column; empty: none
  std::vector<std::string> vocabulary;    // sorted, distinct
};
StringCells string_cells(const model::ClientProcessing& processing);
StringCells string_cells(const model::OnnxGraph& graph);

Result<FeatureTable> parse_feature_csv(std::string_view text, const std::string& path, int64_t expected_features,
                                       const StringCells* strings = nullptr);
Result<FeatureTable> read_feature_csv(const std::string& path, int64_t expected_features,
                                      const StringCells* strings = nullptr);

// The shortest decimal text that reads back to exactly v.
std::string format_double(double v);

// The predictions as CSV (header and one line per row, each ending with '\n').
std::string format_predictions(const model::ClientProcessing& processing,
                               const std::vector<model::Prediction>& predictions);

}  // namespace blindml::cli
