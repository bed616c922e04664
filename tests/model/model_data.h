// The committed test models and data sets (tests/data/README.md): loading them, and the per-model
// expectations of the model tests.
#pragma once

#include <cmath>
#include <fstream>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "blindml/model/model.h"

namespace blindml::model::testing {

inline std::string data_dir() { return std::string(BLINDML_TEST_DATA_DIR); }

struct Csv {
  std::vector<std::string> header;
  std::vector<std::vector<double>> rows;
};

inline bool read_csv(const std::string& path, Csv& out) {
  std::ifstream f(path);
  if (!f) return false;
  std::string line;
  if (!std::getline(f, line)) return false;
  std::stringstream hs(line);
  for (std::string cell; std::getline(hs, cell, ',');) out.header.push_back(cell);
  while (std::getline(f, line)) {
    if (line.empty()) continue;
    std::vector<double> row;
    std::stringstream ls(line);
    for (std::string cell; std::getline(ls, cell, ',');) row.push_back(std::stod(cell));
    out.rows.push_back(std::move(row));
  }
  return true;
}

struct DataSet {
  Rows features;
  std::vector<double> target;
};

// features: every column but the last ("target").
inline bool load_split(const std::string& dataset, const std::string& split, DataSet& out) {
  Csv csv;
  if (!read_csv(data_dir() + "/" + dataset + "/" + split + ".csv", csv)) return false;
  for (auto& r : csv.rows) {
    out.target.push_back(r.back());
    r.pop_back();
    out.features.push_back(std::move(r));
  }
  return true;
}

struct ModelCase {
  const char* name;      // tests/data/models/<name>.onnx
  const char* dataset;   // tests/data/<dataset>/{train,test}.csv
  bool classifier;
  // The quantized model may lose at most this much accuracy (points) or R² against the float
  // model on the test split; trees must agree on every label (exact binning).
  double margin;
  bool exact_labels;
  int fhe_rows;
};

// gtest prints parameters with this (the model's name instead of the struct's bytes).
inline void PrintTo(const ModelCase& c, std::ostream* os) { *os << c.name; }

inline const std::vector<ModelCase>& model_cases() {
  static const std::vector<ModelCase> cases = {
      {"linear_regression_diabetes", "diabetes", false, 0.02, false, 20},
      {"logistic_regression_breast_cancer", "breast_cancer", true, 2.0, false, 20},
      {"logistic_regression_iris", "iris", true, 3.0, false, 20},
      {"decision_tree_breast_cancer", "breast_cancer", true, 0.0, true, 20},
      {"random_forest_breast_cancer", "breast_cancer", true, 0.0, true, 20},
      {"gradient_boosting_breast_cancer", "breast_cancer", true, 0.0, true, 20},
      {"decision_tree_diabetes", "diabetes", false, 0.02, false, 20},
      {"mlp_iris", "iris", true, 3.0, false, 20},
      {"mlp_breast_cancer", "breast_cancer", true, 3.0, false, 20},
      {"xgboost_breast_cancer", "breast_cancer", true, 0.0, true, 20},
  };
  return cases;
}

inline double accuracy(const std::vector<int64_t>& labels, const std::vector<double>& target) {
  int ok = 0;
  for (size_t i = 0; i < labels.size(); ++i) ok += static_cast<double>(labels[i]) == target[i];
  return 100.0 * ok / static_cast<double>(labels.size());
}

inline double r2(const std::vector<double>& pred, const std::vector<double>& target) {
  double mean = 0;
  for (double t : target) mean += t;
  mean /= static_cast<double>(target.size());
  double ss_res = 0, ss_tot = 0;
  for (size_t i = 0; i < target.size(); ++i) {
    ss_res += (target[i] - pred[i]) * (target[i] - pred[i]);
    ss_tot += (target[i] - mean) * (target[i] - mean);
  }
  return 1.0 - ss_res / ss_tot;
}

// Attributes of hand-built ONNX nodes.
inline Attribute ints(std::vector<int64_t> v) {
  Attribute a;
  a.kind = Attribute::Kind::kInts;
  a.ints = std::move(v);
  return a;
}
inline Attribute floats(std::vector<double> v) {
  Attribute a;
  a.kind = Attribute::Kind::kFloats;
  a.floats = std::move(v);
  return a;
}
inline Attribute strings(std::vector<std::string> v) {
  Attribute a;
  a.kind = Attribute::Kind::kStrings;
  a.strings = std::move(v);
  return a;
}
inline Attribute str(std::string v) {
  Attribute a;
  a.kind = Attribute::Kind::kString;
  a.s = std::move(v);
  return a;
}

}  // namespace blindml::model::testing
