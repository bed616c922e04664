// Tree ensembles, lowered exactly (model.h, shared/models.md §2):
//   client   q_f = #{ t in T_f : t < x_f }, T_f the sorted distinct thresholds of feature f
//   server   c_n = [q_f(n) <= k_n]            one lookup per internal node (x <= T_f[k_n])
//            s_l = Σ_{n on l's path} (c_n or 1 - c_n)   leveled (a path matrix and a constant)
//            v_le = s_l == depth_l ? Q_le : 0  one lookup per leaf and output column
//            out_e = Σ_l v_le                  leveled: the trees summed on the server
//   client   score_e = u_e·out_e + base_e, then the ensemble's post_transform
// Q_le = rint(w_le / u_e): the leaf weights quantized symmetrically per column on leaf_bits.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

#include "internal/lowering.h"

namespace blindml::model::internal {

namespace {

struct TreeNode {
  int64_t feature = -1;
  double threshold = 0;
  int64_t true_child = -1, false_child = -1;  // indices into the tree's node vector
  bool leaf = false;
  bool strict = false;          // the test is x < t (else x <= t)
  std::vector<double> weights;  // leaf: per output column
};

Status unsupported(const OnnxNode& n, const std::string& what) {
  return unimplemented("node '" + n.name + "' (" + n.op_type + "): " + what);
}

}  // namespace

Result<Lowered> lower_trees(const OnnxGraph& graph, const Rows& calibration, const CompileOptions& options) {
  const OnnxNode* ens = nullptr;
  for (const auto& n : graph.nodes)
    if (n.op_type == "TreeEnsembleClassifier" || n.op_type == "TreeEnsembleRegressor") {
      if (ens) return unsupported(n, "one tree ensemble per model is supported");
      ens = &n;
    } else if (!is_trailing_op(n)) {
      return unimplemented("node '" + n.name + "' (" + n.op_type + ") has no place in a tree-ensemble model");
    }
  const OnnxNode& n = *ens;
  const bool classifier = n.op_type == "TreeEnsembleClassifier";
  const uint32_t max_bits = options.n_bits ? options.n_bits : 8;
  const uint32_t leaf_bits = options.leaf_bits ? options.leaf_bits : 8;
  if (max_bits < 1 || max_bits > 12) return invalid_argument("n_bits must be 1..12 for a tree ensemble");
  if (leaf_bits < 2 || leaf_bits > 16) return invalid_argument("leaf_bits must be 2..16");

  auto ints = [&](const char* key) -> std::vector<int64_t> {
    const Attribute* a = n.attribute(key);
    return a ? a->ints : std::vector<int64_t>{};
  };
  auto floats = [&](const char* key) -> std::vector<double> {
    const Attribute* a = n.attribute(key);
    return a ? a->floats : std::vector<double>{};
  };
  const auto tree_ids = ints("nodes_treeids"), node_ids = ints("nodes_nodeids"), feat = ints("nodes_featureids");
  const auto true_ids = ints("nodes_truenodeids"), false_ids = ints("nodes_falsenodeids");
  const auto values = floats("nodes_values");
  const Attribute* modes_attr = n.attribute("nodes_modes");
  const size_t count = tree_ids.size();
  if (!modes_attr || modes_attr->strings.size() != count || node_ids.size() != count || feat.size() != count ||
      true_ids.size() != count || false_ids.size() != count || values.size() != count)
    return unsupported(n, "the nodes_* attributes differ in length");
  const std::string prefix = classifier ? "class_" : "target_";
  const auto w_tree = ints((prefix + "treeids").c_str()), w_node = ints((prefix + "nodeids").c_str()),
             w_col = ints((prefix + "ids").c_str());
  const auto w_val = floats((prefix + "weights").c_str());
  if (w_tree.size() != w_node.size() || w_tree.size() != w_col.size() || w_tree.size() != w_val.size())
    return unsupported(n, "the " + prefix + "* attributes differ in length");

  // Output columns.
  std::vector<int64_t> labels;
  int64_t columns = 0;
  bool binary_single = false;
  if (classifier) {
    if (n.attribute("classlabels_strings")) return unsupported(n, "string class labels are not supported (use integers)");
    labels = ints("classlabels_int64s");
    if (labels.empty()) return unsupported(n, "no classlabels_int64s");
    std::set<int64_t> used(w_col.begin(), w_col.end());
    if (labels.size() == 2 && used.size() <= 1) {
      binary_single = true;  // the ONNX-ML binary case: one score column for class 1
      columns = 1;
    } else {
      columns = static_cast<int64_t>(labels.size());
    }
  } else {
    columns = n.int_attr("n_targets", 1);
  }
  if (columns < 1 || columns > 1024) return unsupported(n, "unsupported number of outputs");
  for (int64_t c : w_col)
    if (c < 0 || (!binary_single && c >= columns)) return unsupported(n, "a weight refers to a missing output");

  PostTransform post = PostTransform::kNone;
  {
    const std::string pt = n.string_attr("post_transform", "NONE");
    if (pt == "LOGISTIC") {
      post = PostTransform::kLogistic;
    } else if (pt == "SOFTMAX") {
      post = PostTransform::kSoftmax;
    } else if (pt == "SOFTMAX_ZERO") {
      post = PostTransform::kSoftmaxZero;
    } else if (pt != "NONE") {
      return unsupported(n, "post_transform " + pt + " is not supported");
    }
  }
  double weight_scale = 1.0;
  if (!classifier) {
    const std::string agg = n.string_attr("aggregate_function", "SUM");
    if (agg != "SUM" && agg != "AVERAGE") return unsupported(n, "aggregate_function " + agg + " is not supported");
    if (agg == "AVERAGE") {
      std::set<int64_t> trees(tree_ids.begin(), tree_ids.end());
      weight_scale = 1.0 / static_cast<double>(trees.size());
    }
  }
  std::vector<double> base = floats("base_values");
  if (!base.empty() && static_cast<int64_t>(base.size()) != columns)
    return unsupported(n, "base_values has " + std::to_string(base.size()) + " entries for " + std::to_string(columns) +
                              " outputs");
  base.resize(columns, 0.0);

  // Trees.
  std::map<int64_t, std::vector<TreeNode>> trees;
  std::map<std::pair<int64_t, int64_t>, size_t> index;
  for (size_t i = 0; i < count; ++i) {
    auto& t = trees[tree_ids[i]];
    index[{tree_ids[i], node_ids[i]}] = t.size();
    t.emplace_back();
  }
  int64_t features = 0;
  for (size_t i = 0; i < count; ++i) {
    auto& node = trees[tree_ids[i]][index[{tree_ids[i], node_ids[i]}]];
    const std::string& mode = modes_attr->strings[i];
    if (mode == "LEAF") {
      node.leaf = true;
      node.weights.assign(columns, 0.0);
      continue;
    }
    if (mode != "BRANCH_LEQ" && mode != "BRANCH_GT" && mode != "BRANCH_LT" && mode != "BRANCH_GTE")
      return unsupported(n, "node mode " + mode + " (BRANCH_LEQ, BRANCH_GT, BRANCH_LT, BRANCH_GTE and LEAF are supported)");
    auto tc = index.find({tree_ids[i], true_ids[i]}), fc = index.find({tree_ids[i], false_ids[i]});
    if (tc == index.end() || fc == index.end()) return unsupported(n, "a node's child does not exist");
    node.feature = feat[i];
    if (node.feature < 0 || node.feature > 100000) return unsupported(n, "a feature id is out of range");
    node.threshold = static_cast<double>(static_cast<float>(values[i]));
    // x > t is the negation of x <= t, x >= t that of x < t: swap the children.
    const bool negated = mode == "BRANCH_GT" || mode == "BRANCH_GTE";
    node.strict = mode == "BRANCH_LT" || mode == "BRANCH_GTE";
    node.true_child = static_cast<int64_t>(negated ? fc->second : tc->second);
    node.false_child = static_cast<int64_t>(negated ? tc->second : fc->second);
    features = std::max(features, node.feature + 1);
  }
  for (size_t i = 0; i < w_tree.size(); ++i) {
    auto it = index.find({w_tree[i], w_node[i]});
    if (it == index.end()) return unsupported(n, "a leaf weight refers to a missing node");
    auto& node = trees[w_tree[i]][it->second];
    if (!node.leaf) return unsupported(n, "a weight is attached to a branch node");
    node.weights[binary_single ? 0 : w_col[i]] += w_val[i] * weight_scale;
  }
  // Per-tree constants into the base values: each tree's leaves, per column, are centred on the
  // midpoint of their range (LightGBM's first tree carries the init score, e.g. -5.2 beside
  // leaves <= 0.72; a probability tree's leaves span [0, 1]). The sum is unchanged; the largest
  // leaf magnitude, which sets the column's quantization step, is the smallest it can be, and a
  // tree's extreme leaves (a pure leaf's 0 and 1) land on ±Q_max exactly.
  double moved_max = 0;
  for (auto& [id, t] : trees)
    for (int64_t c = 0; c < columns; ++c) {
      double lo = INFINITY, hi = -INFINITY;
      for (const auto& node : t)
        if (node.leaf) {
          lo = std::min(lo, node.weights[c]);
          hi = std::max(hi, node.weights[c]);
        }
      if (!(lo <= hi)) continue;
      const double mid = lo == hi ? lo : lo + (hi - lo) / 2;
      if (mid == 0) continue;
      for (auto& node : t)
        if (node.leaf) node.weights[c] -= mid;
      base[c] += mid;
      moved_max = std::max(moved_max, std::fabs(mid));
    }
  if (!graph.inputs.empty() && graph.inputs[0].shape.size() == 2 && graph.inputs[0].shape[1] > 0) {
    if (graph.inputs[0].shape[1] < features) return unsupported(n, "a node uses a feature beyond the input's width");
    features = graph.inputs[0].shape[1];
  }
  BLINDML_ASSIGN_OR_RETURN(auto ranges, feature_ranges(calibration, features));
  (void)ranges;  // binning is exact: the calibration set is only checked for shape

  // Thresholds per feature; merged when a feature would need more than max_bits.
  std::vector<std::vector<double>> thresholds(features);
  std::vector<int> strictness(features, -1);  // per feature: 0 x <= t, 1 x < t
  for (auto& [id, t] : trees)
    for (auto& node : t)
      if (!node.leaf) {
        thresholds[node.feature].push_back(node.threshold);
        const int s = node.strict ? 1 : 0;
        if (strictness[node.feature] >= 0 && strictness[node.feature] != s)
          return unsupported(n, "feature " + std::to_string(node.feature) +
                                    " is compared both with x <= t and x < t, which one binning cannot serve");
        strictness[node.feature] = s;
      }
  std::string notes;
  for (int64_t f = 0; f < features; ++f) {
    auto& th = thresholds[f];
    std::sort(th.begin(), th.end());
    th.erase(std::unique(th.begin(), th.end()), th.end());
    const size_t limit = (size_t{1} << max_bits) - 1;
    if (th.size() > limit) {
      std::vector<double> kept;
      for (size_t k = 0; k < limit; ++k) kept.push_back(th[(k * th.size()) / limit]);
      notes += "feature " + std::to_string(f) + ": " + std::to_string(th.size()) + " thresholds merged to " +
               std::to_string(limit) + " (" + std::to_string(max_bits) +
               " bits); predictions may differ from the float model\n";
      th = kept;
    }
  }
  auto threshold_index = [&](int64_t f, double t) -> int64_t {
    const auto& th = thresholds[f];
    // The kept threshold nearest to t (t itself when nothing was merged).
    auto it = std::lower_bound(th.begin(), th.end(), t);
    if (it == th.end()) return static_cast<int64_t>(th.size()) - 1;
    if (it != th.begin() && t - *(it - 1) < *it - t) --it;
    return it - th.begin();
  };

  // Internal nodes and leaves in a fixed order; the path of each leaf.
  struct Leaf {
    std::vector<std::pair<int64_t, bool>> path;  // (internal node index, goes to its true side)
    std::vector<double> weights;
  };
  std::vector<int64_t> node_feature, node_k;
  std::vector<Leaf> leaves;
  for (auto& [id, t] : trees) {
    std::vector<int64_t> internal_index(t.size(), -1);
    for (size_t i = 0; i < t.size(); ++i)
      if (!t[i].leaf) {
        internal_index[i] = static_cast<int64_t>(node_feature.size());
        node_feature.push_back(t[i].feature);
        node_k.push_back(threshold_index(t[i].feature, t[i].threshold));
      }
    // Depth-first from the root (node 0 of the tree's list is not necessarily the root: find it).
    std::vector<bool> is_child(t.size(), false);
    for (auto& node : t)
      if (!node.leaf) is_child[node.true_child] = is_child[node.false_child] = true;
    int64_t root = -1;
    for (size_t i = 0; i < t.size(); ++i)
      if (!is_child[i]) root = static_cast<int64_t>(i);
    if (root < 0) return unsupported(n, "tree " + std::to_string(id) + " has no root");
    std::vector<std::pair<int64_t, std::vector<std::pair<int64_t, bool>>>> stack{{root, {}}};
    size_t visited = 0;
    while (!stack.empty()) {
      auto [i, path] = std::move(stack.back());
      stack.pop_back();
      if (++visited > t.size()) return unsupported(n, "tree " + std::to_string(id) + " is not a tree");
      if (t[i].leaf) {
        leaves.push_back({path, t[i].weights});
        continue;
      }
      auto pt = path, pf = path;
      pt.emplace_back(internal_index[i], true);
      pf.emplace_back(internal_index[i], false);
      stack.push_back({t[i].false_child, pf});
      stack.push_back({t[i].true_child, pt});
    }
  }
  const int64_t n_nodes = static_cast<int64_t>(node_feature.size());
  const int64_t n_leaves = static_cast<int64_t>(leaves.size());
  if (n_nodes == 0) return unsupported(n, "the ensemble has no branch node");

  Lowered out;
  ClientProcessing& p = out.processing;
  p.kind = classifier ? ModelKind::kClassifier : ModelKind::kRegressor;
  p.post = post;
  p.binary_single_score = binary_single;
  p.class_labels = labels;
  std::vector<int64_t> in_min(features, 0), in_max(features, 0);
  uint32_t in_bits = 1;
  for (int64_t f = 0; f < features; ++f) {
    FeatureEncoder e;
    e.kind = FeatureEncoder::Kind::kBin;
    e.thresholds = thresholds[f];
    e.strict = strictness[f] == 1;
    in_max[f] = static_cast<int64_t>(thresholds[f].size());
    in_bits = std::max(in_bits, bits_for(in_max[f]));
    p.features.push_back(std::move(e));
  }
  // Leaf weights quantized per column.
  const int64_t qmax = (int64_t{1} << (leaf_bits - 1)) - 1;
  std::vector<double> u(columns, 1.0);
  for (int64_t c = 0; c < columns; ++c) {
    double m = 0;
    for (auto& l : leaves) m = std::max(m, std::fabs(l.weights[c]));
    u[c] = m > 0 ? m / static_cast<double>(qmax) : 1.0;
    p.output_scale.push_back(u[c]);
    p.output_offset.push_back(base[c]);
  }

  circuit::Builder b;
  auto x = b.input({features}, in_min, in_max, "bins");
  auto g = b.gather(x, 0, node_feature, "node_features");
  // One comparison table per distinct threshold index k: [v <= k].
  std::map<int64_t, uint32_t> table_of_k;
  std::vector<std::vector<int64_t>> cmp_tables;
  std::vector<uint32_t> cmp_index;
  for (int64_t k : node_k) {
    auto it = table_of_k.find(k);
    if (it == table_of_k.end()) {
      std::vector<int64_t> t(size_t{1} << in_bits);
      for (size_t v = 0; v < t.size(); ++v) t[v] = static_cast<int64_t>(v) <= k ? 1 : 0;
      it = table_of_k.emplace(k, static_cast<uint32_t>(cmp_tables.size())).first;
      cmp_tables.push_back(std::move(t));
    }
    cmp_index.push_back(it->second);
  }
  auto c = b.lookup(g, cmp_tables, cmp_index, in_bits, 0, "compare");
  circuit::Tensor path{{n_nodes, n_leaves}, std::vector<int64_t>(n_nodes * n_leaves, 0)};
  circuit::Tensor path_const{{n_leaves}, std::vector<int64_t>(n_leaves, 0)};
  int64_t max_depth = 1;
  for (int64_t l = 0; l < n_leaves; ++l) {
    for (auto [node, side] : leaves[l].path) {
      path.data[node * n_leaves + l] = side ? 1 : -1;
      if (!side) path_const.data[l] += 1;
    }
    max_depth = std::max<int64_t>(max_depth, static_cast<int64_t>(leaves[l].path.size()));
  }
  auto s = b.add_const(b.matmul(c, path, "path"), path_const, "path_score");
  // One table per (column, leaf): Q when the score equals the leaf's depth.
  const uint32_t s_bits = bits_for(max_depth);
  std::vector<int64_t> gather_leaves;
  std::vector<std::vector<int64_t>> leaf_tables;
  std::vector<uint32_t> leaf_index;
  for (int64_t col = 0; col < columns; ++col)
    for (int64_t l = 0; l < n_leaves; ++l) {
      gather_leaves.push_back(l);
      std::vector<int64_t> t(size_t{1} << s_bits, 0);
      t[leaves[l].path.size()] = static_cast<int64_t>(std::nearbyint(leaves[l].weights[col] / u[col]));
      leaf_index.push_back(static_cast<uint32_t>(leaf_tables.size()));
      leaf_tables.push_back(std::move(t));
    }
  auto sl = b.gather(s, 0, gather_leaves, "leaf_scores");
  auto v = b.lookup(sl, leaf_tables, leaf_index, s_bits, 0, "leaf_values");
  auto sum = b.sum(b.reshape(v, {columns, n_leaves}), 1, "sum_trees");
  b.output(sum, "scores");
  BLINDML_ASSIGN_OR_RETURN(out.circuit, b.finish());
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "trees: %zu trees, %lld branch nodes, %lld leaves, %lld output column(s); features binned exactly "
                "on their thresholds (largest bin index %u bits); leaf values on %u bits; PBS per sample: %lld\n",
                trees.size(), static_cast<long long>(n_nodes), static_cast<long long>(n_leaves),
                static_cast<long long>(columns), in_bits, leaf_bits,
                static_cast<long long>(n_nodes + columns * n_leaves));
  out.notes = buf + notes;
  if (moved_max > 0) {
    std::snprintf(buf, sizeof buf,
                  "leaves centred per tree and column, the constants moved into the base values (largest %.6g)\n",
                  moved_max);
    out.notes += buf;
  }
  return out;
}

}  // namespace blindml::model::internal
