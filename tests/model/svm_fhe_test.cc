// A linear-kernel SVC under FHE (issue 13 part 5): the corpus's three-class SVC and the binary
// Pipeline(StandardScaler, SVC), compiled at default flags (128-bit parameters), answer the
// quantized-clear decision values, labels and scores on test rows. A linear model is leveled: no
// PBS, hence no evaluation keys — only the client key.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>

#include "blindml/model/model.h"
#include "crypto/key_cache.h"
#include "model_data.h"

namespace blindml::model {
namespace {

void expect_fhe_equals_clear(const char* name, const char* dataset, size_t n_rows) {
  SCOPED_TRACE(name);
  auto graph = load_onnx_file(testing::data_dir() + "/corpus/" + name + ".onnx");
  ASSERT_TRUE(graph.ok()) << graph.status().to_string();
  testing::DataSet train, test;
  ASSERT_TRUE(testing::load_split(dataset, "train", train));
  ASSERT_TRUE(testing::load_split(dataset, "test", test));
  auto model = compile_model(*graph, train.features);
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  ASSERT_TRUE(model->processing.ovo.has_value());
  EXPECT_FALSE(model->compiled.needs_bootstrapping);
  const Rows rows(test.features.begin(), test.features.begin() + std::min(n_rows, test.features.size()));
  auto clear = predict_clear(*model, rows);
  ASSERT_TRUE(clear.ok()) << clear.status().to_string();
  auto key = crypto::ClientKey::generate(model->compiled.params);
  ASSERT_TRUE(key.ok()) << key.status().to_string();
  const auto t0 = std::chrono::steady_clock::now();
  auto fhe = predict_fhe(*model, rows, *key, nullptr, crypto::testing::test_pool());
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(fhe.ok()) << fhe.status().to_string();
  ASSERT_EQ(fhe->size(), rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ((*fhe)[i].values, (*clear)[i].values) << "row " << i;
    EXPECT_EQ((*fhe)[i].proba, (*clear)[i].proba) << "row " << i;
    EXPECT_EQ((*fhe)[i].label, (*clear)[i].label) << "row " << i;
  }
  std::printf("%s: %zu rows under FHE = quantized clear (%lld outputs, N = %llu, %.2f s)\n", name, rows.size(),
              static_cast<long long>(model->processing.output_count()),
              static_cast<unsigned long long>(model->compiled.params.polynomial_size.value), s);
}

TEST(SvmFhe, ThreeClassSvcEqualsQuantizedClear) { expect_fhe_equals_clear("skl2onnx_svc_linear_iris", "iris", 20); }

TEST(SvmFhe, BinaryPipelineSvcEqualsQuantizedClear) {
  expect_fhe_equals_clear("skl2onnx_pipeline_scaler_svc_linear_breast_cancer", "breast_cancer", 20);
}

}  // namespace
}  // namespace blindml::model
