// FHE equals the quantized clear model for the committed MLPs at default flags: exact rounding,
// per-neuron drops and the automatically chosen lookup width (mlp_test.cc for the counts).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>

#include "blindml/circuit/analysis.h"
#include "blindml/model/model.h"
#include "crypto/key_cache.h"
#include "committed.h"
#include "model_data.h"

namespace blindml::model {
namespace {

uint64_t pbs_of(const CompiledModel& m) { return circuit::analyze(m.compiled.circuit)->pbs_count; }

using testing::Committed;
Committed load(const std::string& name, const std::string& dataset) {
  return testing::load_committed("models/" + name, dataset);
}

// FHE equals the quantized clear model at default flags (exact rounding, the automatic lookup
// width) on a few rows of each committed MLP, under the real 128-bit parameters.
TEST(MlpFhe, DefaultFlagsEqualClear) {
  for (auto [name, dataset] : {std::pair{"mlp_iris", "iris"}, std::pair{"mlp_breast_cancer", "breast_cancer"}}) {
    const Committed c = load(name, dataset);
    CompileOptions o;
    o.kind = ModelKind::kClassifier;
    auto m = compile_model(c.graph, c.train.features, o);
    ASSERT_TRUE(m.ok()) << m.status().to_string();
    Rows rows(c.test.features.begin(), c.test.features.begin() + 2);
    auto clear = predict_clear(*m, rows);
    ASSERT_TRUE(clear.ok()) << clear.status().to_string();
    const auto t0 = std::chrono::steady_clock::now();
    const auto& keys = crypto::testing::keys_for(m->compiled.params);
    const auto t1 = std::chrono::steady_clock::now();
    auto fhe = predict_fhe(*m, rows, *keys.client, keys.eval.get(), crypto::testing::test_pool());
    const auto t2 = std::chrono::steady_clock::now();
    ASSERT_TRUE(fhe.ok()) << fhe.status().to_string();
    for (size_t i = 0; i < rows.size(); ++i) {
      EXPECT_EQ((*fhe)[i].values, (*clear)[i].values) << name << " row " << i;
      EXPECT_EQ((*fhe)[i].label, (*clear)[i].label) << name << " row " << i;
    }
    std::printf("%s: %llu PBS per row, N = %llu; keys %.1f s, FHE %.2f s per row (test pool)\n", name,
                static_cast<unsigned long long>(pbs_of(*m)),
                static_cast<unsigned long long>(m->compiled.params.polynomial_size.value),
                std::chrono::duration<double>(t1 - t0).count(),
                std::chrono::duration<double>(t2 - t1).count() / static_cast<double>(rows.size()));
  }
}

}  // namespace
}  // namespace blindml::model
