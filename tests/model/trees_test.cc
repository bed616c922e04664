// Tree-ensemble lowering (issue 12, trees): comparisons on the client, sibling leaves in one lookup,
// leaves that need none. The circuit's integer output is checked against an independent walk of
// the ONNX trees in float (the quantization formulas of docs/models.md applied to the leaves of
// the tree each row reaches), for both comparison forms, on every test row of every committed
// tree model and the corpus' LightGBM-style model; the PBS counts against counts derived by hand.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

#include "blindml/circuit/analysis.h"
#include "blindml/circuit/clear_eval.h"
#include "blindml/model/model.h"
#include "blindml/model/processing.h"
#include "model_data.h"

namespace blindml::model {
namespace {

using testing::DataSet;

// The ensemble in float: per tree its nodes, per leaf its weights per column.
struct RefTree {
  struct Node {
    bool leaf = false;
    int64_t feature = 0;
    float threshold = 0;
    std::string mode;
    int64_t t = -1, f = -1;
    std::vector<double> w;
  };
  std::map<int64_t, Node> nodes;
  int64_t root = -1;
};

struct RefEnsemble {
  std::vector<RefTree> trees;
  int64_t columns = 0;
  std::vector<std::vector<int64_t>> q;  // per tree, per node id: unused; leaves quantized below
  std::vector<double> u;                // per column step
  std::vector<double> mid;              // per tree·column centre (tree-major)
  int64_t branch_nodes = 0, leaves = 0;
};

// The ensemble from the graph's TreeEnsemble node, written from the ONNX-ML operator definition.
RefEnsemble read_ensemble(const OnnxGraph& g, uint32_t leaf_bits = 8) {
  RefEnsemble e;
  const OnnxNode* n = nullptr;
  for (const auto& node : g.nodes)
    if (node.op_type.rfind("TreeEnsemble", 0) == 0) n = &node;
  if (!n) return e;
  const bool classifier = n->op_type == "TreeEnsembleClassifier";
  auto ints = [&](const std::string& k) { return n->attribute(k) ? n->attribute(k)->ints : std::vector<int64_t>{}; };
  auto floats = [&](const std::string& k) {
    return n->attribute(k) ? n->attribute(k)->floats : std::vector<double>{};
  };
  const auto tid = ints("nodes_treeids"), nid = ints("nodes_nodeids"), fid = ints("nodes_featureids");
  const auto tr = ints("nodes_truenodeids"), fa = ints("nodes_falsenodeids");
  const auto val = floats("nodes_values");
  const auto& modes = n->attribute("nodes_modes")->strings;
  const std::string pre = classifier ? "class_" : "target_";
  const auto wt = ints(pre + "treeids"), wn = ints(pre + "nodeids"), wc = ints(pre + "ids");
  const auto wv = floats(pre + "weights");
  std::set<int64_t> used(wc.begin(), wc.end());
  const bool single = classifier && ints("classlabels_int64s").size() == 2 && used.size() <= 1;
  e.columns = classifier ? (single ? 1 : static_cast<int64_t>(ints("classlabels_int64s").size()))
                         : n->int_attr("n_targets", 1);
  double scale = 1;
  std::map<int64_t, RefTree> by_id;
  for (size_t i = 0; i < tid.size(); ++i) {
    RefTree::Node& x = by_id[tid[i]].nodes[nid[i]];
    x.leaf = modes[i] == "LEAF";
    x.feature = fid[i];
    x.threshold = static_cast<float>(val[i]);
    x.mode = modes[i];
    x.t = tr[i];
    x.f = fa[i];
    x.w.assign(e.columns, 0.0);
  }
  if (!classifier && n->string_attr("aggregate_function", "SUM") == "AVERAGE") scale = 1.0 / by_id.size();
  for (size_t i = 0; i < wt.size(); ++i) by_id[wt[i]].nodes[wn[i]].w[single ? 0 : wc[i]] += wv[i] * scale;
  for (auto& [id, t] : by_id) {
    std::set<int64_t> children;
    for (auto& [k, x] : t.nodes)
      if (!x.leaf) children.insert({x.t, x.f});
    for (auto& [k, x] : t.nodes) {
      if (!children.count(k)) t.root = k;
      (x.leaf ? e.leaves : e.branch_nodes) += 1;
    }
    e.trees.push_back(t);
  }
  // Centre each tree's leaves per column on the midpoint of their range; step = largest |leaf| / qmax.
  const double qmax = static_cast<double>((1 << (leaf_bits - 1)) - 1);
  e.u.assign(e.columns, 0.0);
  for (auto& t : e.trees)
    for (int64_t c = 0; c < e.columns; ++c) {
      double lo = INFINITY, hi = -INFINITY;
      for (auto& [k, x] : t.nodes)
        if (x.leaf) lo = std::min(lo, x.w[c]), hi = std::max(hi, x.w[c]);
      const double mid = lo == hi ? lo : lo + (hi - lo) / 2;
      e.mid.push_back(mid);
      for (auto& [k, x] : t.nodes)
        if (x.leaf) {
          x.w[c] -= mid;
          e.u[c] = std::max(e.u[c], std::fabs(x.w[c]));
        }
    }
  for (auto& v : e.u) v = v > 0 ? v / qmax : 1.0;
  return e;
}

// Σ over trees of the quantized value of the leaf the row reaches, per column.
std::vector<int64_t> reference_output(const RefEnsemble& e, const std::vector<double>& row) {
  std::vector<int64_t> out(e.columns, 0);
  for (const auto& t : e.trees) {
    int64_t i = t.root;
    while (!t.nodes.at(i).leaf) {
      const auto& x = t.nodes.at(i);
      const float v = static_cast<float>(row[x.feature]);
      bool go = false;
      if (x.mode == "BRANCH_LEQ") go = v <= x.threshold;
      else if (x.mode == "BRANCH_LT") go = v < x.threshold;
      else if (x.mode == "BRANCH_GT") go = v > x.threshold;
      else if (x.mode == "BRANCH_GTE") go = v >= x.threshold;
      i = go ? x.t : x.f;
    }
    for (int64_t c = 0; c < e.columns; ++c)
      out[c] += static_cast<int64_t>(std::nearbyint(t.nodes.at(i).w[c] / e.u[c]));
  }
  return out;
}

std::vector<int64_t> circuit_output(const CompiledModel& m, const std::vector<double>& row) {
  auto in = m.processing.encode_row(row);
  EXPECT_TRUE(in.ok());
  auto out = circuit::evaluate_clear(m.compiled.circuit, std::vector<circuit::Tensor>{*in});
  EXPECT_TRUE(out.ok());
  return (*out)[0].data;
}

uint64_t pbs_of(const CompiledModel& m) { return circuit::analyze(m.compiled.circuit)->pbs_count; }

struct TreeCase {
  std::string path;  // under tests/data
  std::string dataset;
  bool classifier;
};

void PrintTo(const TreeCase& c, std::ostream* os) { *os << c.path; }

const std::vector<TreeCase>& tree_cases() {
  static const std::vector<TreeCase> cases = {
      {"models/decision_tree_breast_cancer", "breast_cancer", true},
      {"models/decision_tree_diabetes", "diabetes", false},
      {"models/random_forest_breast_cancer", "breast_cancer", true},
      {"models/gradient_boosting_breast_cancer", "breast_cancer", true},
      {"models/xgboost_breast_cancer", "breast_cancer", true},
      {"corpus/onnxmltools_lightgbm_style_breast_cancer", "breast_cancer", true},
  };
  return cases;
}

class TreeForms : public ::testing::TestWithParam<TreeCase> {};

TEST_P(TreeForms, BothComparisonFormsEqualTheReferenceWalkOnEveryRow) {
  const TreeCase& tc = GetParam();
  auto graph = load_onnx_file(testing::data_dir() + "/" + tc.path + ".onnx");
  ASSERT_TRUE(graph.ok()) << graph.status().to_string();
  DataSet train, test;
  ASSERT_TRUE(testing::load_split(tc.dataset, "train", train));
  ASSERT_TRUE(testing::load_split(tc.dataset, "test", test));
  const RefEnsemble ref = read_ensemble(*graph);
  ASSERT_FALSE(ref.trees.empty());
  CompileOptions client, server;
  server.tree_comparisons = CompileOptions::TreeComparisons::kServer;
  client.leaf_bits = server.leaf_bits = 8;  // as the reference; the automatic choice: LeafBits below
  if (tc.classifier) client.kind = server.kind = ModelKind::kClassifier;
  auto mc = compile_model(*graph, train.features, client);
  auto ms = compile_model(*graph, train.features, server);
  ASSERT_TRUE(mc.ok()) << mc.status().to_string();
  ASSERT_TRUE(ms.ok()) << ms.status().to_string();
  // Leaf bits at 8 (the reference quantizes on 8).
  ASSERT_NE(mc->report.find("leaf values on 8 bits"), std::string::npos) << mc->report;
  EXPECT_NE(mc->report.find("comparisons on the client"), std::string::npos);
  EXPECT_NE(ms->report.find("comparisons on the server"), std::string::npos);
  // Client form: one compare encoder per feature, one bit per threshold it sends.
  int64_t bits = 0;
  for (const auto& f : mc->processing.features) {
    EXPECT_EQ(f.kind, FeatureEncoder::Kind::kCompare);
    bits += static_cast<int64_t>(f.thresholds.size());
  }
  EXPECT_EQ(mc->processing.input_width(), bits);
  EXPECT_EQ(ms->processing.input_width(), ms->processing.feature_count());
  for (size_t r = 0; r < test.features.size(); ++r) {
    const auto want = reference_output(ref, test.features[r]);
    EXPECT_EQ(circuit_output(*mc, test.features[r]), want) << "client form, row " << r;
    EXPECT_EQ(circuit_output(*ms, test.features[r]), want) << "server form, row " << r;
  }
  auto pc = predict_clear(*mc, test.features), ps = predict_clear(*ms, test.features);
  ASSERT_TRUE(pc.ok() && ps.ok());
  for (size_t r = 0; r < test.features.size(); ++r) {
    EXPECT_EQ((*pc)[r].values, (*ps)[r].values) << "row " << r;
    EXPECT_EQ((*pc)[r].label, (*ps)[r].label) << "row " << r;
  }
  // Before: one comparison PBS per branch node and one lookup per leaf and column.
  const uint64_t before = static_cast<uint64_t>(ref.branch_nodes + ref.columns * ref.leaves);
  std::printf("%s: PBS per row %llu before, %llu with client comparisons, %llu with server comparisons\n",
              tc.path.c_str(), static_cast<unsigned long long>(before), static_cast<unsigned long long>(pbs_of(*mc)),
              static_cast<unsigned long long>(pbs_of(*ms)));
  EXPECT_LT(pbs_of(*mc), before);
  EXPECT_LT(pbs_of(*ms), before);
  // The client form computes no comparison: at most one lookup per leaf and column; the server
  // form adds one per distinct test.
  EXPECT_LE(pbs_of(*mc), static_cast<uint64_t>(ref.columns * ref.leaves));
  EXPECT_GE(pbs_of(*ms), pbs_of(*mc));
}

INSTANTIATE_TEST_SUITE_P(Committed, TreeForms, ::testing::ValuesIn(tree_cases()), [](const auto& info) {
  std::string name = info.param.path.substr(info.param.path.find('/') + 1);
  return name;
});

// ---- hand-built ensembles whose PBS counts are known ----

using testing::ints;
using testing::floats;
using testing::strings;

// A TreeEnsembleRegressor from per-tree node lists: (node id, feature, threshold, true, false) for
// branches (BRANCH_LEQ), and leaves with their value per target.
struct Branch {
  int64_t id, feature;
  double threshold;
  int64_t t, f;
};
struct Leaf {
  int64_t id;
  std::vector<double> values;
};
struct HandTree {
  std::vector<Branch> branches;
  std::vector<Leaf> leaves;
};

OnnxGraph regressor(const std::vector<HandTree>& trees, int64_t features, int64_t targets) {
  OnnxGraph g;
  g.opset = 13;
  g.ml_opset = 1;
  g.inputs = {ValueInfo{"X", 1, {-1, features}, true}};
  g.outputs = {ValueInfo{"Y", 1, {-1, targets}, true}};
  OnnxNode n;
  n.name = "trees";
  n.op_type = "TreeEnsembleRegressor";
  n.domain = "ai.onnx.ml";
  n.inputs = {"X"};
  n.outputs = {"Y"};
  std::vector<int64_t> tid, nid, fid, tr, fa, wt, wn, wc;
  std::vector<double> val, wv;
  std::vector<std::string> modes;
  for (size_t i = 0; i < trees.size(); ++i) {
    const int64_t id = static_cast<int64_t>(i);
    for (const Branch& b : trees[i].branches) {
      tid.push_back(id), nid.push_back(b.id), fid.push_back(b.feature), tr.push_back(b.t), fa.push_back(b.f);
      val.push_back(b.threshold), modes.push_back("BRANCH_LEQ");
    }
    for (const Leaf& l : trees[i].leaves) {
      tid.push_back(id), nid.push_back(l.id), fid.push_back(0), tr.push_back(0), fa.push_back(0);
      val.push_back(0), modes.push_back("LEAF");
      for (int64_t c = 0; c < targets; ++c) {
        wt.push_back(id), wn.push_back(l.id), wc.push_back(c), wv.push_back(l.values[c]);
      }
    }
  }
  n.attributes["nodes_treeids"] = ints(tid);
  n.attributes["nodes_nodeids"] = ints(nid);
  n.attributes["nodes_featureids"] = ints(fid);
  n.attributes["nodes_truenodeids"] = ints(tr);
  n.attributes["nodes_falsenodeids"] = ints(fa);
  n.attributes["nodes_values"] = floats(val);
  n.attributes["nodes_modes"] = strings(modes);
  n.attributes["target_treeids"] = ints(wt);
  n.attributes["target_nodeids"] = ints(wn);
  n.attributes["target_ids"] = ints(wc);
  n.attributes["target_weights"] = floats(wv);
  Attribute nt;
  nt.kind = Attribute::Kind::kInt;
  nt.i = targets;
  n.attributes["n_targets"] = nt;
  g.nodes = {n};
  return g;
}

Rows grid(int64_t features) {
  Rows rows;
  for (int i = 0; i <= 40; ++i)
    for (int j = 0; j <= 40; j += 8) {
      std::vector<double> r(features, 0.0);
      r[0] = 0.1 * i;
      if (features > 1) r[1] = 0.1 * j;
      rows.push_back(r);
    }
  return rows;
}

void expect_reference(const OnnxGraph& g, const CompiledModel& m, int64_t features) {
  const RefEnsemble ref = read_ensemble(g);
  for (const auto& row : grid(features)) EXPECT_EQ(circuit_output(m, row), reference_output(ref, row));
}

TEST(TreeLeaves, LookupsCountedByHand) {
  // tree 0: a stump x0 <= 1 (leaves 1 | 3): two sibling leaves, one lookup.
  // tree 1: x0 <= 2 ? (x1 <= 1 ? 5 : 7) : (x1 <= 3 ? 5 : 5): the false subtree's leaves are equal
  //         (it becomes one leaf, 5); centred on 6, the leaves are -1, 1, -1: reference -1, one
  //         lookup (the leaf 7).
  // tree 2: x0 <= 2 ? (x0 <= 3 ? 0 : 9) : 4: x0 <= 3 always holds under x0 <= 2, so the leaf 9
  //         is unreachable; what remains is a stump x0 <= 2 (0 | 4): one lookup.
  // tree 3: the stump of tree 0 again (x0 <= 1, leaves 2 | 4): same path, its values add to
  //         tree 0's, no lookup of its own.
  // Before: 7 branch nodes + 11 leaves = 18 PBS.
  const std::vector<HandTree> trees = {
      {{{0, 0, 1.0, 1, 2}}, {{1, {1}}, {2, {3}}}},
      {{{0, 0, 2.0, 1, 2}, {1, 1, 1.0, 3, 4}, {2, 1, 3.0, 5, 6}}, {{3, {5}}, {4, {7}}, {5, {5}}, {6, {5}}}},
      {{{0, 0, 2.0, 1, 2}, {1, 0, 3.0, 3, 4}}, {{3, {0}}, {4, {9}}, {2, {4}}}},
      {{{0, 0, 1.0, 1, 2}}, {{1, {2}}, {2, {4}}}},
  };
  const OnnxGraph g = regressor(trees, 2, 1);
  auto m = compile_model(g, grid(2));
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  EXPECT_EQ(pbs_of(*m), 3u) << m->report;
  // Bits sent: x0 <= 1, x0 <= 2, x1 <= 1 (x0 <= 3 and x1 <= 3 decide nothing any more).
  EXPECT_EQ(m->processing.input_width(), 3);
  expect_reference(g, *m, 2);
  // Server form: the same lookups plus one comparison per distinct test read.
  CompileOptions server;
  server.tree_comparisons = CompileOptions::TreeComparisons::kServer;
  auto s = compile_model(g, grid(2), server);
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_EQ(pbs_of(*s), 3u + 3u) << s->report;
  expect_reference(g, *s, 2);
}

TEST(TreeLeaves, PathsKeepTwoTestsPerFeature) {
  // A chain of 100 tests on x0 (x0 <= 4 - 0.04·i, the true side going on) with a leaf of its own
  // on each false side: every leaf's path is the interval between two thresholds, so its score
  // has at most 2 tests (2-bit lookups; the pair at the end scores up to 2·1 + 1 = 3) where the
  // chain is 100 deep. At most one lookup per leaf but the reference leaf, the last two paired.
  HandTree chain;
  for (int64_t i = 0; i < 100; ++i) {
    chain.branches.push_back({i, 0, 4.0 - 0.04 * static_cast<double>(i), i + 1 < 100 ? i + 1 : 200, 100 + i});
    chain.leaves.push_back({100 + i, {0.01 * static_cast<double>(i * i % 37)}});
  }
  chain.leaves.push_back({200, {-1.0}});
  const OnnxGraph g = regressor({chain}, 1, 1);
  auto m = compile_model(g, grid(1));
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  const RefEnsemble ref = read_ensemble(g);
  for (int i = -5; i <= 420; ++i) {  // every interval of the chain, and its thresholds exactly
    const std::vector<double> row{0.01 * i};
    EXPECT_EQ(circuit_output(*m, row), reference_output(ref, row)) << "x0 " << row[0];
  }
  EXPECT_NE(m->report.find("on 2-bit path scores"), std::string::npos) << m->report;
  EXPECT_LE(pbs_of(*m), 100u) << m->report;
}

TEST(TreeLeaves, SeveralColumnsUseIndicatorsWhenCheaper) {
  // Three targets; each tree a depth-2 tree of 4 distinct leaves. Values per column: 4 leaves ·
  // 3 columns, minus the reference leaf's column values (one per column) = 9 lookups per tree at
  // most (pairs: 2 per column, 6 per tree); indicators: 3 per tree (4 leaves, one the reference).
  std::vector<HandTree> trees;
  for (int t = 0; t < 6; ++t) {
    const double a = 0.3 * t;
    trees.push_back({{{0, 0, 1.0 + 0.1 * t, 1, 2}, {1, 1, 1.5, 3, 4}, {2, 1, 2.5 + 0.1 * t, 5, 6}},
                     {{3, {1 + a, 2, -1}}, {4, {-2, 3 + a, 0.5}}, {5, {0.7, -1.1, 2 + a}}, {6, {-0.4, 0.9, -2}}}});
  }
  const OnnxGraph g = regressor(trees, 2, 3);
  auto m = compile_model(g, grid(2));
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  expect_reference(g, *m, 2);
  const uint64_t pbs = pbs_of(*m);
  // Either form (the cheaper by estimated cost), never more than the value form with pairs.
  EXPECT_TRUE(pbs == 6u * 6 || pbs == 6u * 3) << m->report;
  EXPECT_NE(m->report.find("leaf form chosen by estimated cost"), std::string::npos) << m->report;
  EXPECT_NE(m->report.find("one indicator per leaf"), std::string::npos) << m->report;
}

TEST(CompareEncoder, BitsEqualTheBinTestsAndRoundTrip) {
  FeatureEncoder bin, cmp;
  bin.kind = FeatureEncoder::Kind::kBin;
  cmp.kind = FeatureEncoder::Kind::kCompare;
  bin.thresholds = cmp.thresholds = {-1.0, 0.25, static_cast<double>(0.1f), 3.0};
  std::sort(bin.thresholds.begin(), bin.thresholds.end());
  cmp.thresholds = bin.thresholds;
  for (bool strict : {false, true}) {
    bin.strict = cmp.strict = strict;
    EXPECT_EQ(cmp.width(), 4);
    for (double x : {-5.0, -1.0, -0.99, 0.1, 0.1000001, 0.25, 2.0, 3.0, 4.0}) {
      int64_t bits[4];
      cmp.encode_into(x, bits);
      const int64_t q = bin.encode(x);
      for (int64_t k = 0; k < 4; ++k) EXPECT_EQ(bits[k], q <= k ? 1 : 0) << "x " << x << " k " << k;
      // By hand: [x <= t] (strict: [x < t]).
      EXPECT_EQ(bits[3], strict ? (x < 3.0) : (x <= 3.0)) << x;
    }
  }
  ClientProcessing p;
  p.kind = ModelKind::kRegressor;
  p.family = "tree_ensemble";
  FeatureEncoder none = cmp;
  none.thresholds.clear();
  p.features = {cmp, none};
  p.output_scale = {0.5};
  p.output_offset = {1.0};
  EXPECT_EQ(p.input_width(), 4);
  auto back = ClientProcessing::from_json(p.to_json());
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(back->features[0].kind, FeatureEncoder::Kind::kCompare);
  EXPECT_EQ(back->features[0].thresholds, cmp.thresholds);
  EXPECT_TRUE(back->features[0].strict);
  auto row = back->encode_row(std::vector<double>{0.2, 7.0});
  ASSERT_TRUE(row.ok());
  EXPECT_EQ(row->shape, (circuit::Shape{4}));
  EXPECT_EQ(row->data, (std::vector<int64_t>{0, 0, 1, 1}));  // strict: 0.2 < -1, 0.1, 0.25, 3
  // Refused: unsorted thresholds, an unknown encoder, no input value at all.
  std::string text = p.to_json();
  std::string unsorted = text;
  unsorted.replace(unsorted.find("-1.0"), 4, "9.0");
  auto r = ClientProcessing::from_json(unsorted);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("sorted"), std::string::npos) << r.status().message();
  std::string unknown = text;
  unknown.replace(unknown.find("\"compare\""), 9, "\"onehot\"");
  r = ClientProcessing::from_json(unknown);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("onehot"), std::string::npos) << r.status().message();
  ClientProcessing empty = p;
  empty.features = {none};
  r = ClientProcessing::from_json(empty.to_json());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("input values"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace blindml::model

namespace blindml::model {
namespace {

// Without --leaf-bits, fewer leaf bits are kept when they are cheaper and the float model's labels
// stay as well matched on the calibration rows. The random forest's summed answer (20 trees) is
// what its PBS decomposition pays for: at 7 bits its estimated cost drops; gradient boosting's does
// not (its sum is narrower), so it stays at 8.
TEST(LeafBits, ChosenByCostWhenTheLabelsHold) {
  auto cost = [](const CompiledModel& m) {
    return m.compiled.estimated_pbs_ms * static_cast<double>(circuit::analyze(m.compiled.circuit)->pbs_count);
  };
  for (const char* name : {"random_forest_breast_cancer", "gradient_boosting_breast_cancer"}) {
    auto graph = load_onnx_file(testing::data_dir() + "/models/" + name + ".onnx");
    ASSERT_TRUE(graph.ok()) << graph.status().to_string();
    DataSet train;
    ASSERT_TRUE(testing::load_split("breast_cancer", "train", train));
    CompileOptions automatic, eight;
    automatic.kind = eight.kind = ModelKind::kClassifier;
    eight.leaf_bits = 8;
    auto ma = compile_model(*graph, train.features, automatic);
    auto m8 = compile_model(*graph, train.features, eight);
    ASSERT_TRUE(ma.ok() && m8.ok());
    const bool forest = std::string(name) == "random_forest_breast_cancer";
    EXPECT_EQ(ma->report.find("leaf values on 7 bits") != std::string::npos, forest) << ma->report;
    EXPECT_EQ(ma->report.find("chosen automatically (no --leaf-bits)") != std::string::npos, forest) << ma->report;
    if (forest) {
      EXPECT_LT(cost(*ma), cost(*m8));
      // Its labels on the calibration rows match the float model's as often as at 8 bits.
      auto fl = predict_float(*graph, ma->processing, train.features);
      auto ca = predict_clear(*ma, train.features);
      auto c8 = predict_clear(*m8, train.features);
      ASSERT_TRUE(fl.ok() && ca.ok() && c8.ok());
      int64_t da = 0, d8 = 0;
      for (size_t r = 0; r < train.features.size(); ++r) {
        da += (*ca)[r].label != (*fl)[r].label;
        d8 += (*c8)[r].label != (*fl)[r].label;
      }
      EXPECT_LE(da, d8);
    } else {
      EXPECT_DOUBLE_EQ(cost(*ma), cost(*m8));
    }
  }
}

}  // namespace
}  // namespace blindml::model
