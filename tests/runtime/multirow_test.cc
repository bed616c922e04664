// Multi-row execution (runtime::execute with R rows): bit for bit the R single-row executions,
// equal to the clear evaluator, one PBS batch per wave whatever R (rows share waves), exactly
// R × pbs_count() ciphertexts bootstrapped; rows split into groups by the memory bound give the
// same bits; and values on different carriers (a per-partition analysis) lowered correctly.
// Parameters: the optimizer's 128-bit choice for each circuit.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "blindml/circuit/analysis.h"
#include "blindml/circuit/clear_eval.h"
#include "blindml/compiler/lower.h"
#include "blindml/compiler/optimizer.h"
#include "blindml/runtime/executor.h"
#include "circuit/sample_circuits.h"
#include "crypto/key_cache.h"

namespace blindml::runtime {

// Options that count what an execution did into *stats.
ExecuteOptions counted(ExecutionStats* stats) {
  ExecuteOptions o;
  o.stats = stats;
  return o;
}

namespace {

using circuit::Builder;
using circuit::Circuit;
using circuit::Tensor;
using crypto::testing::keys_for;
using crypto::testing::test_pool;

Tensor random_input(const circuit::Node& node, std::mt19937_64& rng) {
  Tensor t{node.shape, std::vector<int64_t>(circuit::shape_elements(node.shape))};
  for (size_t e = 0; e < t.data.size(); ++e) {
    const int64_t lo = node.range_min.size() == 1 ? node.range_min[0] : node.range_min[e];
    const int64_t hi = node.range_max.size() == 1 ? node.range_max[0] : node.range_max[e];
    t.data[e] = lo + static_cast<int64_t>(rng() % static_cast<uint64_t>(hi - lo + 1));
  }
  return t;
}

struct Case {
  Circuit circuit;
  circuit::Analysis analysis;
  crypto::ParameterSet params;
  Program program;
};

Case make_case(Circuit c, const circuit::Analysis* analysis = nullptr) {
  auto global = circuit::analyze(c).value();
  auto choice = compiler::choose_parameters(global).value();
  const circuit::Analysis a = analysis ? *analysis : global;
  auto program = compiler::lower(c, a, choice.params);
  EXPECT_TRUE(program.ok()) << program.status().to_string();
  return Case{std::move(c), a, choice.params, std::move(program).value()};
}

// R rows of random inputs: clear tensors per row, and one list of R × elements per input.
struct Rows {
  std::vector<std::vector<Tensor>> clear;
  std::vector<crypto::LweCiphertextList> enc;
};

Rows encrypt_rows(const Case& k, uint64_t rows, uint64_t seed) {
  std::mt19937_64 rng(seed);
  const auto& keys = keys_for(k.params);
  const auto dim = k.params.big_lwe_dimension();
  Rows out;
  out.clear.resize(rows);
  for (size_t i = 0; i < k.circuit.inputs().size(); ++i) {
    const auto& spec = k.program.inputs()[i];
    const uint64_t n = spec.slots.size();
    crypto::LweCiphertextList list(dim, rows * n);
    for (uint64_t r = 0; r < rows; ++r) {
      out.clear[r].push_back(random_input(k.circuit.node(k.circuit.inputs()[i]), rng));
      auto ct = encrypt_tensor(*keys.client, out.clear[r].back(), spec.carrier_bits);
      std::copy(ct.ciphertexts.data().begin(), ct.ciphertexts.data().end(), list.data().begin() + r * n * (dim.value + 1));
    }
    out.enc.push_back(std::move(list));
  }
  return out;
}

// The inputs of row r alone.
std::vector<crypto::LweCiphertextList> row_of(const Rows& rows, const Program& p, uint64_t r) {
  std::vector<crypto::LweCiphertextList> one;
  for (size_t i = 0; i < rows.enc.size(); ++i) {
    const uint64_t n = p.inputs()[i].slots.size(), words = rows.enc[i].dimension().value + 1;
    crypto::LweCiphertextList l(rows.enc[i].dimension(), n);
    std::copy_n(rows.enc[i].data().begin() + r * n * words, n * words, l.data().begin());
    one.push_back(std::move(l));
  }
  return one;
}

void expect_equals_clear(const Case& k, const Rows& rows, const std::vector<crypto::LweCiphertextList>& got) {
  const auto& keys = keys_for(k.params);
  for (uint64_t r = 0; r < rows.clear.size(); ++r) {
    auto want = circuit::evaluate_clear(k.circuit, rows.clear[r]).value();
    for (size_t o = 0; o < got.size(); ++o) {
      const auto& spec = k.program.outputs()[o];
      const uint64_t n = spec.slots.size();
      for (uint64_t e = 0; e < n; ++e)
        EXPECT_EQ(crypto::decrypt(*keys.client, got[o].at(r * n + e), spec.carrier_bits, spec.is_signed),
                  want[o].data[e])
            << "row " << r << " output " << o << " element " << e;
    }
  }
}

TEST(MultiRow, EqualsSingleRowsBitForBitAndSharesWaves) {
  // An exact rounding (extraction waves) and a ReLU lookup: several waves of different sizes.
  Case k = make_case(circuit::samples::mlp(true).value());
  const auto& keys = keys_for(k.params);
  constexpr uint64_t kRows = 5;
  Rows rows = encrypt_rows(k, kRows, 31);
  ExecutionStats many;
  auto together = execute(k.program, kRows, rows.enc, keys.eval.get(), test_pool(), counted(&many));
  ASSERT_TRUE(together.ok()) << together.status().to_string();
  expect_equals_clear(k, rows, *together);
  EXPECT_EQ(many.row_groups, 1u);
  EXPECT_EQ(many.pbs_jobs, kRows * k.analysis.pbs_count);
  for (uint64_t r = 0; r < kRows; ++r) {
    ExecutionStats one;
    auto alone = execute(k.program, 1, row_of(rows, k.program, r), keys.eval.get(), test_pool(), counted(&one));
    ASSERT_TRUE(alone.ok()) << alone.status().to_string();
    EXPECT_EQ(one.pbs_batches, many.pbs_batches) << "rows share waves: one batch per wave for any R";
    EXPECT_EQ(one.pbs_jobs, k.analysis.pbs_count);
    for (size_t o = 0; o < alone->size(); ++o) {
      const uint64_t words = (*alone)[o].data().size();
      ASSERT_TRUE(std::equal((*alone)[o].data().begin(), (*alone)[o].data().end(),
                             (*together)[o].data().begin() + r * words))
          << "row " << r << " output " << o << " differs from the multi-row run";
    }
  }
  EXPECT_EQ(many.pbs_batches, k.program.pbs_waves());
}

TEST(MultiRow, RowGroupsUnderAMemoryBoundGiveTheSameBits) {
  Case k = make_case(circuit::samples::decision_tree().value());
  const auto& keys = keys_for(k.params);
  constexpr uint64_t kRows = 3;
  Rows rows = encrypt_rows(k, kRows, 41);
  auto whole = execute(k.program, kRows, rows.enc, keys.eval.get(), test_pool());
  ASSERT_TRUE(whole.ok()) << whole.status().to_string();
  expect_equals_clear(k, rows, *whole);
  ExecutionStats split;
  ExecuteOptions tiny = counted(&split);
  tiny.max_working_bytes = 1;  // one row per group
  auto groups = execute(k.program, kRows, rows.enc, keys.eval.get(), test_pool(), tiny);
  ASSERT_TRUE(groups.ok()) << groups.status().to_string();
  EXPECT_EQ(split.row_groups, kRows);
  EXPECT_EQ(split.pbs_batches, kRows * 2);  // the tree's two PBS waves per group
  EXPECT_EQ(split.pbs_jobs, kRows * 7);
  ASSERT_EQ(groups->size(), whole->size());
  EXPECT_TRUE(std::equal((*groups)[0].data().begin(), (*groups)[0].data().end(), (*whole)[0].data().begin()));
}

// Two partitions on different carriers, as a per-partition analysis gives them: x and its exact
// rounding at P_x; the lookups' outputs, their sum and the output at P_y < P_x. The input is
// encrypted and the output decrypted at their own carriers.
TEST(MultiRow, ValuesOnDifferentCarriers) {
  Builder b;
  auto x = b.input({3}, 0, 63, "x");
  auto r = b.round(x, 3, true, "r");  // in [0, 8]: 4 bits
  std::vector<int64_t> t1(16), t2(64);
  for (int i = 0; i < 16; ++i) t1[i] = (i * 5) % 11;
  for (int i = 0; i < 64; ++i) t2[i] = i % 7;
  auto y1 = b.lookup(r, t1, 4, 0, "t1");
  auto y2 = b.lookup(x, t2, 6, 0, "t2");
  b.output(b.add(y1, y2), "y");  // in [0, 16]: 5 bits
  Circuit c = b.finish().value();
  auto a = circuit::analyze(c).value();
  const uint32_t px = a.carrier_bits, py = 6;
  ASSERT_GT(px, py);
  for (size_t v = 0; v < c.size(); ++v) {
    const auto kind = c.node(static_cast<circuit::ValueId>(v)).kind;
    const bool second = kind == circuit::OpKind::kLookup || kind == circuit::OpKind::kAdd ||
                        kind == circuit::OpKind::kOutput;
    a.values[v].carrier_bits = second ? py : px;
  }
  Case k = make_case(c, &a);
  EXPECT_EQ(k.program.inputs()[0].carrier_bits, px);
  EXPECT_EQ(k.program.outputs()[0].carrier_bits, py);
  const auto& keys = keys_for(k.params);
  Rows rows = encrypt_rows(k, 4, 51);
  auto got = execute(k.program, 4, rows.enc, keys.eval.get(), test_pool());
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  expect_equals_clear(k, rows, *got);
}

TEST(MultiRow, RefusesBadRowCounts) {
  Case k = make_case(circuit::samples::decision_tree().value());
  const auto& keys = keys_for(k.params);
  Rows rows = encrypt_rows(k, 2, 61);
  EXPECT_FALSE(execute(k.program, 3, rows.enc, keys.eval.get(), test_pool()).ok());
  EXPECT_FALSE(execute(k.program, 0, rows.enc, keys.eval.get(), test_pool()).ok());
  EXPECT_FALSE(execute(k.program, uint64_t{1} << 62, rows.enc, keys.eval.get(), test_pool()).ok());
}

}  // namespace
}  // namespace blindml::runtime
