// Tree ensembles, lowered exactly (model.h, shared/models.md §2, docs/models.md):
//   client   tree_comparisons = client (default): b_{f,k} = [x_f <= T_f[k]] for each distinct
//            threshold the leaves' paths read ("compare" encoder); server form: the bin index
//            q_f = #{ t in T_f : t < x_f } and one lookup c_{f,k} = [q_f <= k] per distinct test
//   server   per tree, paths simplified (at most the two tests that bound each feature's interval,
//            tests the path decides and the subtrees they cut removed, equal sibling leaves merged);
//            r = the tree's reference value; per unit (a leaf, or two sibling leaves under test c):
//              s = Σ_{tests on the path} (b or 1 - b)          leveled (gather, ±1, sum, constant)
//              leaf  v = s == depth ? Q - r : 0                one lookup
//              pair  u = 2·s + c, v = Q_t - r at 2·depth + 1, Q_f - r at 2·depth, else 0
//            units on the same path in several trees merged (values added); leaves equal to r
//            need none; indicator form (C >= 2 columns): e = [s == depth], v = e·(Q - r) leveled
//            out_e = Σ units + Σ_trees r                    leveled: the trees summed on the server
//   client   score_e = u_e·out_e + base_e, then the ensemble's post_transform
// Q_le = rint(w_le / u_e): the leaf weights quantized symmetrically per column on leaf_bits.
// out_e is the integer Σ_trees Q of the leaves reached, whatever the form.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <set>
#include <tuple>

#include "blindml/compiler/compiled.h"

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

// Deeper trees are refused (the walks below recurse once per level); a path keeps at most two
// tests per feature, so its score stays far smaller.
constexpr int64_t kMaxTreeDepth = 1024;
constexpr size_t kMaxBitsPerFeature = 65535;

// A tree from its root, in threshold-index form.
struct IxNode {
  bool reached = false, leaf = false;
  int64_t f = -1, k = -1;          // branch: [q_f <= k] sends to t, else to fl
  int32_t t = -1, fl = -1;
  std::vector<double> w;           // leaf weights per column
  std::vector<int64_t> q;          // leaf: quantized per column
};
struct IxTree {
  std::vector<IxNode> nodes;
  int32_t root = 0;
};

struct TreeShape {
  bool client = true;
  int64_t columns = 1, features = 0;
  const std::vector<std::vector<double>>* thresholds = nullptr;
  const std::vector<IxTree>* trees = nullptr;
};

// One form of the lowering (lower_units).
struct TreeLowering {
  circuit::Circuit circuit;
  std::string form;
  uint64_t pbs = 0;
  uint32_t score_bits = 1, bin_bits = 1;
  int64_t bits = 0;                        // comparison bits sent (client) / comparison PBS (server)
  uint64_t singles = 0, pairs = 0;         // lookups on one leaf / on two sibling leaves
  std::vector<std::vector<double>> sent;   // client: per feature, the thresholds whose bits are sent
};

// A test on the path: (f·65536 + k, whether [q_f <= k] holds).
using Lit = std::pair<int64_t, bool>;
inline int64_t lit_key(int64_t f, int64_t k) { return f * 65536 + k; }

// What one lookup answers: a single leaf (reached when every literal holds: score |lits|) or two
// sibling leaves under the test `pair` (score 2·Σ lits + [pair], reached at 2|lits| + 0 or 1).
struct Unit {
  int64_t column = -1;             // value form: the output column; indicator form: -1
  std::vector<Lit> lits;           // sorted
  int64_t pair = -1;               // the sibling pair's test (its key), or -1
  std::vector<int64_t> vt, vf;     // single: vt; pair: vt when [pair] holds, vf when not
};

bool all_zero(const std::vector<int64_t>& v) {
  return std::all_of(v.begin(), v.end(), [](int64_t x) { return x == 0; });
}
std::vector<int64_t> minus(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  std::vector<int64_t> d(a.size());
  for (size_t i = 0; i < a.size(); ++i) d[i] = a[i] - b[i];
  return d;
}

// A tree with its leaves projected on some columns, tests the path already decides removed
// (binning is monotone: on a path with q_f <= 5, the test q_f <= 7 always holds) and nodes whose
// two children are leaves of equal value replaced by the leaf. Each path keeps at most two tests
// per feature, the interval lo < q_f <= hi it defines.
struct SNode {
  bool leaf = false;
  int64_t f = -1, k = -1;
  int32_t t = -1, fl = -1;
  std::vector<int64_t> v;
};

class TreeWalker {
 public:
  explicit TreeWalker(int64_t features) : lo_(features, -1), hi_(features, kNone) {}

  // Simplified copy of tree node i into out (projected on `cols`, all when empty); its index.
  int32_t simplify(const IxTree& tr, int32_t i, const std::vector<int64_t>& cols, std::vector<SNode>& out) {
    const IxNode& x = tr.nodes[i];
    if (x.leaf) {
      SNode s;
      s.leaf = true;
      if (cols.empty()) {
        s.v = x.q;
      } else {
        for (int64_t c : cols) s.v.push_back(x.q[c]);
      }
      out.push_back(std::move(s));
      return static_cast<int32_t>(out.size() - 1);
    }
    if (hi_[x.f] <= x.k) return simplify(tr, x.t, cols, out);
    if (x.k <= lo_[x.f]) return simplify(tr, x.fl, cols, out);
    const int64_t h = hi_[x.f];
    hi_[x.f] = x.k;
    const int32_t a = simplify(tr, x.t, cols, out);
    hi_[x.f] = h;
    const int64_t l = lo_[x.f];
    lo_[x.f] = x.k;
    const int32_t b = simplify(tr, x.fl, cols, out);
    lo_[x.f] = l;
    if (out[a].leaf && out[b].leaf && out[a].v == out[b].v) return a;
    SNode s;
    s.f = x.f;
    s.k = x.k;
    s.t = a;
    s.fl = b;
    out.push_back(std::move(s));
    return static_cast<int32_t>(out.size() - 1);
  }

  // The units of a simplified tree for reference value r (leaves equal to r need none).
  // pair_limit: sibling leaves share a lookup when its score fits in that many bits.
  void emit(const std::vector<SNode>& sn, int32_t i, const std::vector<int64_t>& r, uint32_t pair_limit,
            int64_t column, std::vector<Unit>& units) {
    const SNode& x = sn[i];
    if (x.leaf) {
      auto d = minus(x.v, r);
      if (!all_zero(d)) units.push_back(Unit{column, lits(), -1, std::move(d), {}});
      return;
    }
    const SNode& a = sn[x.t];
    const SNode& b = sn[x.fl];
    if (a.leaf && b.leaf) {
      auto dt = minus(a.v, r), df = minus(b.v, r);
      const bool zt = all_zero(dt), zf = all_zero(df);
      if (zt && zf) return;
      const auto parent = lits();
      if (!zt && !zf && bits_for(2 * static_cast<int64_t>(parent.size()) + 1) <= pair_limit) {
        units.push_back(Unit{column, parent, lit_key(x.f, x.k), std::move(dt), std::move(df)});
        return;
      }
    }
    const int64_t h = hi_[x.f];
    hi_[x.f] = x.k;
    path_.push_back(x.f);
    emit(sn, x.t, r, pair_limit, column, units);
    hi_[x.f] = h;
    const int64_t l = lo_[x.f];
    lo_[x.f] = x.k;
    emit(sn, x.fl, r, pair_limit, column, units);
    lo_[x.f] = l;
    path_.pop_back();
  }

 private:
  static constexpr int64_t kNone = std::numeric_limits<int64_t>::max();
  std::vector<Lit> lits() const {
    std::vector<int64_t> fs = path_;
    std::sort(fs.begin(), fs.end());
    fs.erase(std::unique(fs.begin(), fs.end()), fs.end());
    std::vector<Lit> out;
    for (int64_t f : fs) {
      if (hi_[f] != kNone) out.emplace_back(lit_key(f, hi_[f]), true);
      if (lo_[f] >= 0) out.emplace_back(lit_key(f, lo_[f]), false);
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  std::vector<int64_t> lo_, hi_;  // per feature: the path's interval lo < q <= hi (-1, kNone: open)
  std::vector<int64_t> path_;     // features tested on the path to the current node
};

// The units of every tree in one form, merged where two trees' units test the same path (their
// values add), and the circuit that evaluates them.
//   value form (indicator = false): units per output column, the lookup yields the leaf value;
//   indicator form: units over all columns, the lookup yields 1 when reached and a leveled
//   product with the units' value vectors gives the columns.
Result<TreeLowering> lower_units(const TreeShape& shape, bool indicator, uint32_t pair_limit) {
  const int64_t C = shape.columns;
  std::vector<Unit> units;
  std::map<std::tuple<int64_t, std::vector<Lit>, int64_t>, size_t> unit_of;
  std::vector<int64_t> consts(C, 0);
  TreeWalker walk(shape.features);
  const int64_t groups = indicator ? 1 : C;
  for (const IxTree& tr : *shape.trees)
    for (int64_t g = 0; g < groups; ++g) {
      std::vector<SNode> sn;
      const std::vector<int64_t> cols = indicator ? std::vector<int64_t>{} : std::vector<int64_t>{g};
      const int32_t root = walk.simplify(tr, tr.root, cols, sn);
      // Reference value: the most frequent leaf values (and 0) tried, the fewest units kept.
      std::map<std::vector<int64_t>, int64_t> freq;
      std::vector<int32_t> stack{root};
      while (!stack.empty()) {
        const int32_t i = stack.back();
        stack.pop_back();
        if (sn[i].leaf) {
          ++freq[sn[i].v];
        } else {
          stack.push_back(sn[i].t);
          stack.push_back(sn[i].fl);
        }
      }
      std::vector<std::pair<int64_t, std::vector<int64_t>>> by_count;
      for (auto& [v, count] : freq) by_count.emplace_back(-count, v);
      std::sort(by_count.begin(), by_count.end());
      if (by_count.size() > 8) by_count.resize(8);
      const size_t width = indicator ? static_cast<size_t>(C) : 1;
      by_count.emplace_back(0, std::vector<int64_t>(width, 0));
      // The output's range is the sum of each lookup's span with 0.
      auto span = [](const std::vector<Unit>& us) {
        int64_t w = 0;
        for (const Unit& x : us)
          for (size_t c = 0; c < x.vt.size(); ++c) {
            int64_t lo = std::min<int64_t>(0, x.vt[c]), hi = std::max<int64_t>(0, x.vt[c]);
            if (!x.vf.empty()) lo = std::min(lo, x.vf[c]), hi = std::max(hi, x.vf[c]);
            w += hi - lo;
          }
        return w;
      };
      std::vector<Unit> best_units;
      std::vector<int64_t> best_r;
      int64_t best_span = 0;
      bool have = false;
      for (auto& [count, r] : by_count) {
        std::vector<Unit> us;
        walk.emit(sn, root, r, indicator ? 0 : pair_limit, indicator ? -1 : g, us);
        const int64_t w = span(us);
        // Ties: r = 0 first (its units keep their pairs, which merge across trees more often),
        // then the narrowest span.
        const bool zero = all_zero(r), best_zero = have && all_zero(best_r);
        const bool tie = have && us.size() == best_units.size();
        if (!have || us.size() < best_units.size() || (tie && zero && !best_zero) ||
            (tie && zero == best_zero && w < best_span)) {
          best_units = std::move(us);
          best_r = r;
          best_span = w;
          have = true;
        }
      }
      for (size_t c = 0; c < width; ++c) consts[indicator ? c : g] += best_r[c];
      for (Unit& unit : best_units) {
        auto key = std::make_tuple(unit.column, unit.lits, unit.pair);
        auto it = unit_of.find(key);
        if (it == unit_of.end()) {
          unit_of.emplace(std::move(key), units.size());
          units.push_back(std::move(unit));
          continue;
        }
        Unit& into = units[it->second];
        for (size_t c = 0; c < into.vt.size(); ++c) into.vt[c] += unit.vt[c];
        for (size_t c = 0; c < into.vf.size(); ++c) into.vf[c] += unit.vf[c];
      }
    }
  std::erase_if(units, [](const Unit& x) { return all_zero(x.vt) && all_zero(x.vf); });

  TreeLowering out;
  // The tests the units read, ordered by feature then threshold (the order the client sends).
  std::map<int64_t, int64_t> bit_of;
  for (const Unit& x : units) {
    for (auto [key, side] : x.lits) bit_of.emplace(key, 0);
    if (x.pair >= 0) bit_of.emplace(x.pair, 0);
  }
  if (bit_of.empty())  // a constant ensemble: the input still carries one test
    for (int64_t f = 0; f < shape.features && bit_of.empty(); ++f)
      if (!(*shape.thresholds)[f].empty()) bit_of.emplace(lit_key(f, 0), 0);
  int64_t K = 0;
  for (auto& [key, index] : bit_of) index = K++;
  out.bits = K;
  circuit::Builder b;
  circuit::ValueId tests;
  if (shape.client) {
    out.sent.assign(shape.features, {});
    for (auto& [key, index] : bit_of) out.sent[key / 65536].push_back((*shape.thresholds)[key / 65536][key % 65536]);
    tests = b.input({K}, 0, 1, "comparisons");
  } else {
    std::vector<int64_t> in_min(shape.features, 0), in_max(shape.features, 0);
    for (int64_t f = 0; f < shape.features; ++f) {
      in_max[f] = static_cast<int64_t>((*shape.thresholds)[f].size());
      out.bin_bits = std::max(out.bin_bits, bits_for(in_max[f]));
    }
    auto x = b.input({shape.features}, in_min, in_max, "bins");
    std::vector<int64_t> gathered;
    std::map<int64_t, uint32_t> table_of_k;
    std::vector<std::vector<int64_t>> tables;
    std::vector<uint32_t> index;
    for (auto& [key, i] : bit_of) {
      gathered.push_back(key / 65536);
      const int64_t k = key % 65536;
      auto it = table_of_k.find(k);
      if (it == table_of_k.end()) {
        std::vector<int64_t> t(size_t{1} << out.bin_bits);
        for (size_t v = 0; v < t.size(); ++v) t[v] = static_cast<int64_t>(v) <= k ? 1 : 0;
        it = table_of_k.emplace(k, static_cast<uint32_t>(tables.size())).first;
        tables.push_back(std::move(t));
      }
      index.push_back(it->second);
    }
    tests = b.lookup(b.gather(x, 0, gathered, "node_features"), tables, index, out.bin_bits, 0, "compare");
    out.pbs += static_cast<uint64_t>(K);
  }
  const int64_t U = static_cast<int64_t>(units.size());
  circuit::Tensor consts_t{{C}, consts};
  circuit::ValueId sum;
  if (U == 0) {
    sum = b.matmul(tests, circuit::Tensor{{K, C}, std::vector<int64_t>(K * C, 0)}, "sum_trees");
  } else {
    // Each unit's score from its own tests (at most D of them): a gather, a clear product and a
    // sum, linear in Σ |path| rather than tests × units.
    int64_t D = 1;
    for (const Unit& x : units) D = std::max<int64_t>(D, static_cast<int64_t>(x.lits.size()) + (x.pair >= 0 ? 1 : 0));
    std::vector<int64_t> picked(U * D, 0);
    circuit::Tensor coef{{U, D}, std::vector<int64_t>(U * D, 0)};
    circuit::Tensor path_const{{U}, std::vector<int64_t>(U, 0)};
    int64_t max_score = 1;
    for (int64_t j = 0; j < U; ++j) {
      const Unit& x = units[j];
      const int64_t m = x.pair >= 0 ? 2 : 1;
      int64_t slot = 0;
      for (auto [key, side] : x.lits) {
        picked[j * D + slot] = bit_of[key];
        coef.data[j * D + slot++] = side ? m : -m;
        if (!side) path_const.data[j] += m;
      }
      if (x.pair >= 0) {
        picked[j * D + slot] = bit_of[x.pair];
        coef.data[j * D + slot] = 1;
      }
      const int64_t depth = static_cast<int64_t>(x.lits.size());
      max_score = std::max(max_score, x.pair >= 0 ? 2 * depth + 1 : depth);
      x.pair >= 0 ? ++out.pairs : ++out.singles;
    }
    out.score_bits = bits_for(max_score);
    auto tests_of_units = b.reshape(b.gather(tests, 0, picked, "path_tests"), {U, D});
    auto s = b.add_const(b.sum(b.mul_const(tests_of_units, coef, "path_signs"), 1, "path"), path_const, "path_score");
    std::map<std::vector<int64_t>, uint32_t> table_ids;
    std::vector<std::vector<int64_t>> tables;
    std::vector<uint32_t> index;
    circuit::Tensor gather{{U, C}, std::vector<int64_t>(U * C, 0)};
    for (int64_t j = 0; j < U; ++j) {
      const Unit& x = units[j];
      const int64_t depth = static_cast<int64_t>(x.lits.size());
      std::vector<int64_t> t(size_t{1} << out.score_bits, 0);
      if (indicator) {
        t[depth] = 1;
        for (int64_t c = 0; c < C; ++c) gather.data[j * C + c] = x.vt[c];
      } else if (x.pair >= 0) {
        t[2 * depth] = x.vf[0];
        t[2 * depth + 1] = x.vt[0];
        gather.data[j * C + x.column] = 1;
      } else {
        t[depth] = x.vt[0];
        gather.data[j * C + x.column] = 1;
      }
      auto it = table_ids.find(t);
      if (it == table_ids.end()) {
        it = table_ids.emplace(t, static_cast<uint32_t>(tables.size())).first;
        tables.push_back(std::move(t));
      }
      index.push_back(it->second);
    }
    auto v = b.lookup(s, tables, index, out.score_bits, 0, indicator ? "leaf_indicators" : "leaf_values");
    sum = b.matmul(v, gather, "sum_trees");
    out.pbs += static_cast<uint64_t>(U);
  }
  if (!all_zero(consts)) sum = b.add_const(sum, consts_t, "reference_values");
  b.output(sum, "scores");
  BLINDML_ASSIGN_OR_RETURN(out.circuit, b.finish());
  char buf[128];
  if (indicator) {
    std::snprintf(buf, sizeof buf, "one indicator per leaf times the leaf values");
  } else if (pair_limit == 0) {
    std::snprintf(buf, sizeof buf, "values per leaf and column");
  } else if (pair_limit > 2 * kMaxTreeDepth) {
    std::snprintf(buf, sizeof buf, "values per leaf and column, every pair of sibling leaves in one lookup");
  } else {
    std::snprintf(buf, sizeof buf, "values per leaf and column, sibling leaves in one lookup within %u bits",
                  pair_limit);
  }
  out.form = buf;
  return out;
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
  auto floats = [&](const char* key) -> std::vector<double> {  // or its float64 `_as_tensor` twin
    if (const Attribute* a = n.attribute(key)) return a->floats;
    const Attribute* t = n.attribute(std::string(key) + "_as_tensor");
    return t && !t->tensor_is_int ? t->tensor.data : std::vector<double>{};
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
  BLINDML_RETURN_IF_ERROR(check_finite(w_val, "node '" + n.name + "': the leaf weights"));
  for (size_t k = 0; k < values.size(); ++k)
    if (std::isnan(values[k]))
      return invalid_argument("node '" + n.name + "': threshold " + std::to_string(k) + " is NaN (no comparison "
                              "with it is ever true; the model is broken)");
  if (w_tree.size() != w_node.size() || w_tree.size() != w_col.size() || w_tree.size() != w_val.size())
    return unsupported(n, "the " + prefix + "* attributes differ in length");

  // Output columns.
  std::vector<int64_t> labels;
  int64_t columns = 0;
  bool binary_single = false;
  if (classifier) {
    labels = class_ids(n, "classlabels_int64s");  // string labels: their indices (compile_model names them)
    if (labels.empty()) return unsupported(n, "no classlabels_int64s or classlabels_strings");
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
  BLINDML_RETURN_IF_ERROR(check_finite(base, "node '" + n.name + "': base_values"));
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

  // Thresholds per feature. The server form bins each feature and merges thresholds when a
  // feature would need more than max_bits; the client form sends one bit per threshold and is
  // exact on all of them.
  const bool client_cmp = options.tree_comparisons == CompileOptions::TreeComparisons::kClient;
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
    if (th.size() > kMaxBitsPerFeature) return unsupported(n, "feature " + std::to_string(f) + " has more than 65535 thresholds");
    const size_t limit = (size_t{1} << max_bits) - 1;
    if (!client_cmp && th.size() > limit) {
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

  // Each tree from its root: the nodes reached, their threshold indices, the leaf weights.
  std::vector<IxTree> ix;
  int64_t n_nodes = 0, n_leaves = 0;
  for (auto& [id, t] : trees) {
    std::vector<bool> is_child(t.size(), false);
    for (auto& node : t)
      if (!node.leaf) is_child[node.true_child] = is_child[node.false_child] = true;
    int64_t root = -1;
    for (size_t i = 0; i < t.size(); ++i)
      if (!is_child[i]) root = static_cast<int64_t>(i);
    if (root < 0) return unsupported(n, "tree " + std::to_string(id) + " has no root");
    IxTree tr;
    tr.nodes.resize(t.size());
    tr.root = static_cast<int32_t>(root);
    std::vector<std::pair<int64_t, int64_t>> stack{{root, 0}};  // (node, depth)
    size_t visited = 0;
    while (!stack.empty()) {
      auto [i, depth] = stack.back();
      stack.pop_back();
      if (++visited > t.size()) return unsupported(n, "tree " + std::to_string(id) + " is not a tree");
      if (depth > kMaxTreeDepth) return unsupported(n, "tree " + std::to_string(id) + " is deeper than " + std::to_string(kMaxTreeDepth) + " levels");
      IxNode& x = tr.nodes[i];
      x.reached = true;
      if (t[i].leaf) {
        x.leaf = true;
        x.w = t[i].weights;
        ++n_leaves;
        continue;
      }
      ++n_nodes;
      x.f = t[i].feature;
      x.k = threshold_index(t[i].feature, t[i].threshold);
      x.t = static_cast<int32_t>(t[i].true_child);
      x.fl = static_cast<int32_t>(t[i].false_child);
      stack.push_back({t[i].false_child, depth + 1});
      stack.push_back({t[i].true_child, depth + 1});
    }
    ix.push_back(std::move(tr));
  }
  if (n_nodes == 0) return unsupported(n, "the ensemble has no branch node");

  Lowered out;
  ClientProcessing& p = out.processing;
  p.kind = classifier ? ModelKind::kClassifier : ModelKind::kRegressor;
  p.post = post;
  p.binary_single_score = binary_single;
  p.class_labels = labels;
  // Leaf weights quantized per column.
  const int64_t qmax = (int64_t{1} << (leaf_bits - 1)) - 1;
  std::vector<double> u(columns, 1.0);
  for (int64_t c = 0; c < columns; ++c) {
    double m = 0;
    for (auto& tr : ix)
      for (auto& x : tr.nodes)
        if (x.reached && x.leaf) m = std::max(m, std::fabs(x.w[c]));
    u[c] = m > 0 ? m / static_cast<double>(qmax) : 1.0;
    p.output_scale.push_back(u[c]);
    p.output_offset.push_back(base[c]);
  }
  for (auto& tr : ix)
    for (auto& x : tr.nodes)
      if (x.reached && x.leaf)
        for (int64_t c = 0; c < columns; ++c) x.q.push_back(static_cast<int64_t>(std::nearbyint(x.w[c] / u[c])));

  // The lowering in each form; the cheapest that compiles is kept.
  TreeShape shape{client_cmp, columns, features, &thresholds, &ix};
  std::vector<TreeLowering> candidates;
  BLINDML_ASSIGN_OR_RETURN(TreeLowering plain, lower_units(shape, false, 0));
  uint32_t fit = plain.score_bits;
  if (!client_cmp) fit = std::max(fit, plain.bin_bits);
  BLINDML_ASSIGN_OR_RETURN(TreeLowering paired, lower_units(shape, false, fit));
  candidates.push_back(std::move(paired));
  BLINDML_ASSIGN_OR_RETURN(TreeLowering all_pairs, lower_units(shape, false, kMaxTreeDepth * 2 + 1));
  if (all_pairs.pbs < candidates[0].pbs) candidates.push_back(std::move(all_pairs));
  if (columns >= 2) {
    BLINDML_ASSIGN_OR_RETURN(TreeLowering ind, lower_units(shape, true, 0));
    candidates.push_back(std::move(ind));
  }
  size_t best = 0;
  if (candidates.size() > 1) {
    std::vector<double> cost(candidates.size(), INFINITY);
    for (size_t i = 0; i < candidates.size(); ++i) {
      auto c = compiler::compile(candidates[i].circuit, options.optimizer);
      if (c.ok()) cost[i] = c->estimated_pbs_ms * static_cast<double>(candidates[i].pbs);
    }
    for (size_t i = 1; i < candidates.size(); ++i) {
      const bool cheaper = cost[i] < cost[best] || (cost[i] == cost[best] && candidates[i].pbs < candidates[best].pbs);
      if (cheaper) best = i;
    }
    std::string alternatives;
    for (size_t i = 0; i < candidates.size(); ++i) {
      if (i == best) continue;
      char buf[256];
      std::snprintf(buf, sizeof buf, "%s%s: %llu PBS, %s", alternatives.empty() ? "" : "; ",
                    candidates[i].form.c_str(), static_cast<unsigned long long>(candidates[i].pbs),
                    std::isfinite(cost[i]) ? (std::to_string(static_cast<long long>(std::llround(cost[i]))) +
                                              " ms estimated").c_str()
                                           : "no parameter set");
      alternatives += buf;
    }
    char buf[256];
    std::snprintf(buf, sizeof buf, "leaf form chosen by estimated cost: %s (%s)\n", candidates[best].form.c_str(),
                  std::isfinite(cost[best])
                      ? (std::to_string(static_cast<long long>(std::llround(cost[best]))) + " ms estimated").c_str()
                      : "no parameter set");
    notes += buf + ("  alternatives: " + alternatives + "\n");
  }
  TreeLowering& chosen = candidates[best];
  out.circuit = std::move(chosen.circuit);
  for (int64_t f = 0; f < features; ++f) {
    FeatureEncoder e;
    e.kind = client_cmp ? FeatureEncoder::Kind::kCompare : FeatureEncoder::Kind::kBin;
    e.thresholds = client_cmp ? chosen.sent[f] : thresholds[f];
    e.strict = strictness[f] == 1;
    p.features.push_back(std::move(e));
  }
  char buf[768];
  std::snprintf(buf, sizeof buf,
                "trees: %zu trees, %lld branch nodes, %lld leaves, %lld output column(s); leaf values on %u bits; "
                "PBS per sample: %llu (one per node and per leaf and column: %lld)\n",
                trees.size(), static_cast<long long>(n_nodes), static_cast<long long>(n_leaves),
                static_cast<long long>(columns), leaf_bits, static_cast<unsigned long long>(chosen.pbs),
                static_cast<long long>(n_nodes + columns * n_leaves));
  out.notes = buf;
  if (client_cmp) {
    std::snprintf(buf, sizeof buf,
                  "comparisons on the client (tree_comparisons = client, the default): the client sends %lld bits "
                  "[x <= t], one per distinct threshold the leaves' paths test, in place of %lld bin indices; no "
                  "comparison PBS, exact on every threshold\n",
                  static_cast<long long>(chosen.bits), static_cast<long long>(features));
  } else {
    std::snprintf(buf, sizeof buf,
                  "comparisons on the server (tree_comparisons = server): features binned exactly on their "
                  "thresholds (largest bin index %u bits); %lld comparison PBS, one per distinct (feature, "
                  "threshold) the leaves' paths test\n",
                  chosen.bin_bits, static_cast<long long>(chosen.bits));
  }
  out.notes += buf;
  std::snprintf(buf, sizeof buf,
                "leaves (%s): %llu lookups on %u-bit path scores, %llu on one leaf and %llu on two sibling leaves; "
                "no lookup for leaves equal to their tree's reference value, unreachable leaves (tests their path "
                "decides) and siblings of equal value; leaves of several trees on the same path share one\n",
                chosen.form.c_str(), static_cast<unsigned long long>(chosen.singles + chosen.pairs), chosen.score_bits,
                static_cast<unsigned long long>(chosen.singles), static_cast<unsigned long long>(chosen.pairs));
  out.notes += buf + notes;
  if (moved_max > 0) {
    std::snprintf(buf, sizeof buf,
                  "leaves centred per tree and column, the constants moved into the base values (largest %.6g)\n",
                  moved_max);
    out.notes += buf;
  }
  return out;
}

}  // namespace blindml::model::internal
