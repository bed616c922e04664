// FHE predictions of the committed test models equal their quantized-clear predictions, row by
// row (the integers decrypted equal the clear evaluator's, so the decoded answers are identical).
// MLPs are compiled with exact rounding here: approximate rounding may move an accumulator that
// sits within the PBS noise of a half-way point by one step (docs/circuits.md). To keep the test
// within minutes they use 4-bit quantization and 4-bit rounding (78 PBS per row for iris at
// N = 2048, against 125 at N = 4096 at default flags); the property checked does not depend on
// the bit widths (mlp_fhe_test.cc checks the default flags).
#include <gtest/gtest.h>

#include <cstdio>

#include "blindml/circuit/analysis.h"
#include "blindml/model/model.h"
#include "crypto/key_cache.h"
#include "model_data.h"

namespace blindml::model {
namespace {

class ModelFhe : public ::testing::TestWithParam<testing::ModelCase> {};

TEST_P(ModelFhe, EqualsQuantizedClear) {
  const auto& mc = GetParam();
  auto graph = load_onnx_file(testing::data_dir() + "/models/" + mc.name + ".onnx");
  ASSERT_TRUE(graph.ok()) << graph.status().to_string();
  testing::DataSet train, test;
  ASSERT_TRUE(testing::load_split(mc.dataset, "train", train));
  ASSERT_TRUE(testing::load_split(mc.dataset, "test", test));
  CompileOptions options;
  if (mc.classifier) options.kind = ModelKind::kClassifier;
  options.exact_rounding = true;
  if (std::string(mc.name).rfind("mlp_", 0) == 0) {
    options.n_bits = 4;
    options.rounding_bits = 4;
  }
  auto model = compile_model(*graph, train.features, options);
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  Rows rows(test.features.begin(), test.features.begin() + std::min<size_t>(mc.fhe_rows, test.features.size()));
  auto clear = predict_clear(*model, rows);
  ASSERT_TRUE(clear.ok()) << clear.status().to_string();
  const auto& keys = crypto::testing::keys_for(model->compiled.params);
  const crypto::EvaluationKeys* eval = model->compiled.needs_bootstrapping ? keys.eval.get() : nullptr;
  auto fhe = predict_fhe(*model, rows, *keys.client, eval, crypto::testing::test_pool());
  ASSERT_TRUE(fhe.ok()) << fhe.status().to_string();
  ASSERT_EQ(fhe->size(), rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ((*fhe)[i].values, (*clear)[i].values) << "row " << i;
    EXPECT_EQ((*fhe)[i].label, (*clear)[i].label) << "row " << i;
  }
  std::printf("%s: %zu rows, FHE = quantized clear; %llu PBS per row, N = %llu\n", mc.name, rows.size(),
              static_cast<unsigned long long>(circuit::analyze(model->compiled.circuit)->pbs_count),
              static_cast<unsigned long long>(model->compiled.params.polynomial_size.value));
}

// The server form of the tree lowering (bins sent, one comparison PBS per distinct test) under FHE:
// two rows of the gradient boosting model equal their clear predictions, which equal the client
// form's (tests/model/trees_test.cc checks both against a walk of the ONNX trees on every row).
TEST(ModelFheTrees, ServerComparisonsEqualQuantizedClear) {
  auto graph = load_onnx_file(testing::data_dir() + "/models/gradient_boosting_breast_cancer.onnx");
  ASSERT_TRUE(graph.ok()) << graph.status().to_string();
  testing::DataSet train, test;
  ASSERT_TRUE(testing::load_split("breast_cancer", "train", train));
  ASSERT_TRUE(testing::load_split("breast_cancer", "test", test));
  CompileOptions options;
  options.kind = ModelKind::kClassifier;
  options.tree_comparisons = CompileOptions::TreeComparisons::kServer;
  auto model = compile_model(*graph, train.features, options);
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  ASSERT_NE(model->report.find("comparisons on the server"), std::string::npos) << model->report;
  Rows rows(test.features.begin(), test.features.begin() + 2);
  auto clear = predict_clear(*model, rows);
  ASSERT_TRUE(clear.ok()) << clear.status().to_string();
  const auto& keys = crypto::testing::keys_for(model->compiled.params);
  auto fhe = predict_fhe(*model, rows, *keys.client, keys.eval.get(), crypto::testing::test_pool());
  ASSERT_TRUE(fhe.ok()) << fhe.status().to_string();
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ((*fhe)[i].values, (*clear)[i].values) << "row " << i;
    EXPECT_EQ((*fhe)[i].label, (*clear)[i].label) << "row " << i;
  }
  std::printf("gradient_boosting_breast_cancer, server comparisons: %zu rows, FHE = quantized clear; %llu PBS per "
              "row, N = %llu\n",
              rows.size(), static_cast<unsigned long long>(circuit::analyze(model->compiled.circuit)->pbs_count),
              static_cast<unsigned long long>(model->compiled.params.polynomial_size.value));
}

// Ensembles of the size people commit (issue 13, part 4; tests/data/corpus): scikit-learn's
// default 100 unpruned trees and a 100-tree booster of depth 5, one row each under FHE at default
// flags, equal to the quantized clear answer (corpus_test checks the clear answers on every row).
TEST(ModelFheLarge, HundredTreeEnsemblesEqualQuantizedClear) {
  for (const char* name : {"onnxmltools_lightgbm_100_trees_breast_cancer", "skl2onnx_random_forest_100_trees_breast_cancer"}) {
    auto graph = load_onnx_file(testing::data_dir() + "/corpus/" + name + ".onnx");
    ASSERT_TRUE(graph.ok()) << graph.status().to_string();
    testing::DataSet train, test;
    ASSERT_TRUE(testing::load_split("breast_cancer", "train", train));
    ASSERT_TRUE(testing::load_split("breast_cancer", "test", test));
    CompileOptions options;
    options.kind = ModelKind::kClassifier;
    auto model = compile_model(*graph, train.features, options);
    ASSERT_TRUE(model.ok()) << model.status().to_string();
    Rows rows(test.features.begin(), test.features.begin() + 1);
    auto clear = predict_clear(*model, rows);
    ASSERT_TRUE(clear.ok()) << clear.status().to_string();
    const auto& keys = crypto::testing::keys_for(model->compiled.params);
    auto fhe = predict_fhe(*model, rows, *keys.client, keys.eval.get(), crypto::testing::test_pool());
    ASSERT_TRUE(fhe.ok()) << fhe.status().to_string();
    ASSERT_EQ(fhe->size(), 1u);
    EXPECT_EQ((*fhe)[0].values, (*clear)[0].values) << name;
    EXPECT_EQ((*fhe)[0].label, (*clear)[0].label) << name;
    std::printf("%s: FHE = quantized clear; %llu PBS per row, N = %llu\n", name,
                static_cast<unsigned long long>(circuit::analyze(model->compiled.circuit)->pbs_count),
                static_cast<unsigned long long>(model->compiled.params.polynomial_size.value));
  }
}

INSTANTIATE_TEST_SUITE_P(Committed, ModelFhe, ::testing::ValuesIn(testing::model_cases()),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace blindml::model
