// The exporter-shaped corpus (tests/data/corpus, written by tools/make_test_models.py --corpus;
// issue 13 part 7): graphs shaped like skl2onnx, onnxmltools, torch >= 2 and tf2onnx output,
// with the answers of the scikit-learn estimators themselves. Each model is compiled at default
// flags on its training split; on the test split, the float interpreter must reproduce the
// estimator (our reading of the exporter's graph is right) and the quantized model in the clear
// (= FHE at default flags) must agree with it.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <map>

#include "blindml/model/model.h"
#include "blindml/model/onnx.h"
#include "model_data.h"

namespace blindml::model {
namespace {

using testing::Csv;
using testing::DataSet;
using testing::data_dir;
using testing::load_split;
using testing::read_csv;

struct CorpusCase {
  const char* name;
  const char* dataset;
  bool classifier;
  double min_agreement;  // quantized labels equal to the estimator's (classifiers)
  double max_error;      // quantized |prediction - estimator| / range of the estimator's answers (regressors);
                         // a row agrees when within 1% of the range
};

const CorpusCase kCorpus[] = {
    {"skl2onnx_pipeline_scaler_logreg_breast_cancer", "breast_cancer", true, 0.99, 0},
    {"tf2onnx_dense_sigmoid_breast_cancer", "breast_cancer", true, 0.99, 0},
    {"skl2onnx_svr_linear_diabetes", "diabetes", false, 0, 0.03},
    {"skl2onnx_pipeline_mlpclassifier_iris", "iris", true, 0.97, 0},
    {"torch2_mlp_external_data_iris", "iris", true, 0.97, 0},
    {"onnxmltools_lightgbm_style_breast_cancer", "breast_cancer", true, 0.99, 0},
    {"skl2onnx_pipeline_scaler_pca_logreg_iris", "iris", true, 0.97, 0},
    // Issue 13 part 4: ensembles of the size people commit (scikit-learn's default 100 unpruned
    // trees; a 100-tree booster of depth 5).
    {"skl2onnx_random_forest_100_trees_breast_cancer", "breast_cancer", true, 0.99, 0},
    {"onnxmltools_lightgbm_100_trees_breast_cancer", "breast_cancer", true, 0.99, 0},
    // GaussianNB: a linear model on x and the client's centred squares.
    {"skl2onnx_gaussian_nb_iris", "iris", true, 0.97, 0},
    {"skl2onnx_gaussian_nb_breast_cancer", "breast_cancer", true, 0.99, 0},
    // MultinomialNB: MatMul + Add, its probability tail read as a softmax.
    {"skl2onnx_multinomial_nb_iris", "iris", true, 0.97, 0},
    // Issue 13 part 3: preprocessing on the client (a PCA before trees and an MLP; a
    // ColumnTransformer with two graph inputs, a StandardScaler and OneHotEncoders).
    {"skl2onnx_pipeline_pca_decision_tree_breast_cancer", "breast_cancer", true, 0.99, 0},
    {"skl2onnx_pipeline_pca_mlp_iris", "iris", true, 0.97, 0},
    {"skl2onnx_column_transformer_onehot_logreg_mixed", "mixed", true, 0.99, 0},
    {"skl2onnx_column_transformer_onehot_decision_tree_mixed", "mixed", true, 0.99, 0},
    // ... with OneHotEncoder(drop='first'): the kept categories gathered after each encoder.
    {"skl2onnx_column_transformer_onehot_drop_first_logreg_mixed", "mixed", true, 0.99, 0},
    // ... and on a string input (the categories as words, tests/data/mixed_strings).
    {"skl2onnx_column_transformer_onehot_strings_logreg_mixed", "mixed_strings", true, 0.99, 0},
    {"skl2onnx_column_transformer_ordinal_strings_decision_tree_mixed", "mixed_strings", true, 0.99, 0},
    // Issue 13 part 5: scikit-learn's SVC(kernel='linear') (SVMClassifier): binary in a Pipeline,
    // multiclass with skl2onnx's one-vs-rest tail, with probability=True, and with
    // decision_function_shape='ovo' (no tail).
    {"skl2onnx_pipeline_scaler_svc_linear_breast_cancer", "breast_cancer", true, 0.99, 0},
    {"skl2onnx_svc_linear_iris", "iris", true, 0.99, 0},
    {"skl2onnx_svc_linear_probability_iris", "iris", true, 0.99, 0},
    {"skl2onnx_svc_linear_ovo_iris", "iris", true, 0.99, 0},
    // String class labels (the iris species' names): answered by index, named by class_names.
    {"skl2onnx_logreg_string_labels_iris", "iris", true, 0.97, 0},
    {"skl2onnx_random_forest_string_labels_iris", "iris", true, 0.97, 0},
    // ai.onnx.ml 5's TreeEnsemble (interior nodes and leaves listed apart), read as a
    // TreeEnsembleRegressor.
    {"onnx_ml5_tree_ensemble_decision_tree_diabetes", "diabetes", false, 0, 0.03},
    {"onnx_ml5_tree_ensemble_random_forest_diabetes", "diabetes", false, 0, 0.03},
};

// A split whose cells may be words (a string input): a word becomes its code in the graph's
// string vocabulary (as the CLI's CSV reader maps it), numbers are read as numbers; the last
// column is the target.
bool load_split_with_strings(const std::string& dataset, const std::string& split, const OnnxGraph& g, DataSet& out) {
  std::ifstream in(data_dir() + "/" + dataset + "/" + split + ".csv");
  if (!in) return false;
  const std::vector<std::string> vocabulary = string_vocabulary(g);
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::vector<double> row;
    std::stringstream cells(line);
    std::string cell;
    while (std::getline(cells, cell, ',')) {
      char* end = nullptr;
      const double v = std::strtod(cell.c_str(), &end);
      if (!cell.empty() && end == cell.c_str() + cell.size()) {
        row.push_back(v);
        continue;
      }
      auto it = std::lower_bound(vocabulary.begin(), vocabulary.end(), cell);
      row.push_back(it != vocabulary.end() && *it == cell ? static_cast<double>(it - vocabulary.begin()) : -1.0);
    }
    out.target.push_back(row.back());
    row.pop_back();
    out.features.push_back(std::move(row));
  }
  return !out.features.empty();
}

// The graph inputs of a batch of rows: each row holds the inputs' columns concatenated in
// graph-input order (declared [N, columns]; the one input of an older file takes the row).
std::map<std::string, FloatTensor> graph_inputs(const OnnxGraph& g, const Rows& rows) {
  std::map<std::string, FloatTensor> feed;
  size_t first = 0;
  for (const auto& in : g.inputs) {
    const size_t w = g.inputs.size() == 1 ? rows[0].size() : static_cast<size_t>(in.shape[1]);
    FloatTensor x{{static_cast<int64_t>(rows.size()), static_cast<int64_t>(w)}, {}};
    for (const auto& r : rows) x.data.insert(x.data.end(), r.begin() + first, r.begin() + first + w);
    feed.emplace(in.name, std::move(x));
    first += w;
  }
  return feed;
}

TEST(Corpus, CompilesAndAgreesWithTheEstimators) {
  int compiled = 0, rows_total = 0, rows_agree = 0;
  for (const CorpusCase& c : kCorpus) {
    SCOPED_TRACE(c.name);
    const std::string base = data_dir() + "/corpus/" + c.name;
    auto g = load_onnx_file(base + ".onnx");
    ASSERT_TRUE(g.ok()) << g.status().to_string();
    DataSet train, test;
    if (std::string(c.dataset) == "mixed_strings") {
      ASSERT_TRUE(load_split_with_strings(c.dataset, "train", *g, train));
      ASSERT_TRUE(load_split_with_strings(c.dataset, "test", *g, test));
    } else {
      ASSERT_TRUE(load_split(c.dataset, "train", train));
      ASSERT_TRUE(load_split(c.dataset, "test", test));
    }
    Csv expected;
    ASSERT_TRUE(read_csv(base + ".expected.csv", expected));
    ASSERT_EQ(expected.rows.size(), test.features.size());

    // The float graph reproduces the estimator.
    auto fl = evaluate_float(*g, graph_inputs(*g, test.features));
    ASSERT_TRUE(fl.ok()) << fl.status().to_string();
    const FloatTensor& out = fl->at(g->outputs.back().name);
    const size_t cols = out.data.size() / test.features.size();
    double range_lo = INFINITY, range_hi = -INFINITY;
    for (const auto& e : expected.rows) {
      range_lo = std::min(range_lo, e[0]);
      range_hi = std::max(range_hi, e[0]);
    }
    for (size_t r = 0; r < test.features.size(); ++r) {
      if (c.classifier) {
        // probabilities: the last output (ZipMap's tensor, Softmax, or a one-column sigmoid)
        const double p_last = out.data[r * cols + cols - 1];
        const double want = expected.rows[r].back();
        EXPECT_NEAR(p_last, want, 1e-4) << "float row " << r;
      } else {
        EXPECT_NEAR(out.data[r * cols], expected.rows[r][0], 1e-3 * (range_hi - range_lo)) << "float row " << r;
      }
    }

    auto m = compile_model(*g, train.features);
    ASSERT_TRUE(m.ok()) << m.status().to_string();
    ++compiled;
    // predict_float (blindml predict --mode float) answers as the estimator does.
    auto fp = predict_float(*g, m->processing, test.features);
    ASSERT_TRUE(fp.ok()) << fp.status().to_string();
    for (size_t r = 0; r < test.features.size(); ++r) {
      if (c.classifier) {
        EXPECT_EQ((*fp)[r].label, static_cast<int64_t>(expected.rows[r][0])) << "predict_float row " << r;
        EXPECT_NEAR((*fp)[r].proba.back(), expected.rows[r].back(), 1e-4) << "predict_float row " << r;
      } else {
        EXPECT_NEAR((*fp)[r].values[0], expected.rows[r][0], 1e-3 * (range_hi - range_lo)) << "predict_float row " << r;
      }
    }
    auto pred = predict_clear(*m, test.features);
    ASSERT_TRUE(pred.ok()) << pred.status().to_string();
    int agree = 0;
    double worst = 0;
    for (size_t r = 0; r < test.features.size(); ++r) {
      if (c.classifier) {
        agree += (*pred)[r].label == static_cast<int64_t>(expected.rows[r][0]) ? 1 : 0;
      } else {
        const double e = std::fabs((*pred)[r].values[0] - expected.rows[r][0]) / (range_hi - range_lo);
        worst = std::max(worst, e);
        agree += e <= 0.01 ? 1 : 0;
      }
    }
    const double rate = static_cast<double>(agree) / static_cast<double>(test.features.size());
    std::printf("corpus %-48s %s: %d/%zu rows agree with the estimator (%.1f%%)%s\n", c.name,
                m->processing.family.c_str(), agree, test.features.size(), 100 * rate,
                c.classifier ? "" : (", worst error " + std::to_string(100 * worst) + "% of the range").c_str());
    rows_total += static_cast<int>(test.features.size());
    rows_agree += agree;
    if (c.classifier) EXPECT_GE(rate, c.min_agreement);
    else EXPECT_LE(worst, c.max_error);
  }
  std::printf("corpus: %d/%zu compile at default flags; %d/%d rows (%.2f%%) agree with the estimators\n", compiled,
              std::size(kCorpus), rows_agree, rows_total, 100.0 * rows_agree / std::max(1, rows_total));
  EXPECT_EQ(compiled, static_cast<int>(std::size(kCorpus)));
}

}  // namespace
}  // namespace blindml::model

namespace blindml::model {
namespace {

// String class labels: the classes are counted by index (what the circuit and the expected CSV
// hold) and named by the graph's classlabels_strings, which survive the processing JSON; a
// tampered JSON is refused by field.
TEST(Corpus, StringClassLabelsAreNamed) {
  testing::DataSet train;
  ASSERT_TRUE(testing::load_split("iris", "train", train));
  for (const char* name : {"skl2onnx_logreg_string_labels_iris", "skl2onnx_random_forest_string_labels_iris"}) {
    SCOPED_TRACE(name);
    auto g = load_onnx_file(testing::data_dir() + "/corpus/" + name + ".onnx");
    ASSERT_TRUE(g.ok()) << g.status().to_string();
    auto m = compile_model(*g, train.features);
    ASSERT_TRUE(m.ok()) << m.status().to_string();
    const ClientProcessing& p = m->processing;
    EXPECT_EQ(p.class_names, (std::vector<std::string>{"setosa", "versicolor", "virginica"}));
    EXPECT_EQ(p.class_labels, (std::vector<int64_t>{0, 1, 2}));
    auto back = ClientProcessing::from_json(p.to_json());
    ASSERT_TRUE(back.ok()) << back.status().to_string();
    EXPECT_EQ(back->class_names, p.class_names);
    const std::string text = p.to_json();
    for (auto [from, to] : {std::pair<std::string, std::string>{"\"virginica\"", "\"virginica\", \"extra\""},
                            {"\"class_labels\": [\n    0,", "\"class_labels\": [\n    7,"}}) {
      const size_t at = text.find(from);
      ASSERT_NE(at, std::string::npos) << from;
      std::string t = text;
      t.replace(at, from.size(), to);
      auto r = ClientProcessing::from_json(t);
      ASSERT_FALSE(r.ok()) << to;
      EXPECT_NE(r.status().message().find("class_"), std::string::npos) << r.status().message();
    }
  }
}

}  // namespace
}  // namespace blindml::model
