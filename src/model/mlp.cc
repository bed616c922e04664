// Multi-layer perceptrons (model.h, shared/models.md §2, docs/models.md): post-training
// quantization and one fused lookup per live hidden neuron.
//
// Layer ℓ reads q_j (n_bits, unsigned) with x_j ≈ s_j·(q_j - z_j): the input features' quantizers
// for the first layer, the previous layer's activation quantizers after it (calibrated per neuron
// on the float network's activations over the calibration set). With V_jh = W_jh·s_j quantized per
// neuron, V_jh ≈ t_h·Q_jh (symmetric, n_bits signed; the common factor of the Q_jh moved into
// t_h), the accumulator acc_h = Σ_j Q_jh·q_j gives the pre-activation a_h ≈ t_h·acc_h + o_h,
// o_h = b_h - t_h·Σ_j Q_jh·z_j.
// Hidden layers: acc_h - min_h (its range over the input box) is rounded by the fewest bits s_h
// that leave at most the lookup width (exact or approximate; neurons grouped by s_h), then one
// lookup per neuron computes quantize_next(act(t_h·(r·2^s_h + min_h) + o_h)). A neuron constant
// over the calibration rows has no lookup: the next layer folds its value into its offsets. The
// last layer's accumulator is the output; the client applies t_h and o_h, then the final
// Softmax/Sigmoid. Without rounding_bits, the lookup width (and fitted weights) are chosen on the
// calibration rows (lower_mlp).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <span>

#include "blindml/circuit/analysis.h"
#include "blindml/circuit/clear_eval.h"
#include "blindml/compiler/optimizer.h"
#include "internal/lowering.h"

namespace blindml::model::internal {

namespace {

enum class Act { kNone, kRelu, kLeakyRelu, kSigmoid, kTanh, kClip };

struct Layer {
  int64_t in = 0, out = 0;
  std::vector<double> w;  // [in, out]
  std::vector<double> b;  // [out]
  Act act = Act::kNone;
  double alpha = 0.01, clip_lo = -INFINITY, clip_hi = INFINITY;
  std::string name;
};

double apply(const Layer& l, double a) {
  switch (l.act) {
    case Act::kNone: return a;
    case Act::kRelu: return a > 0 ? a : 0;
    case Act::kLeakyRelu: return a > 0 ? a : l.alpha * a;
    case Act::kSigmoid: return 1.0 / (1.0 + std::exp(-a));
    case Act::kTanh: return std::tanh(a);
    case Act::kClip: return std::min(std::max(a, l.clip_lo), l.clip_hi);
  }
  return a;
}

Status unsupported(const OnnxNode& n, const std::string& what) {
  return unimplemented("node '" + n.name + "' (" + n.op_type + "): " + what);
}

struct Parsed {
  std::vector<Layer> layers;
  PostTransform post = PostTransform::kNone;
  bool classifier = false;
};

Result<Parsed> parse(const OnnxGraph& g) {
  Parsed p;
  auto init = [&](const std::string& name) -> const FloatTensor* {
    auto it = g.float_initializers.find(name);
    return it == g.float_initializers.end() ? nullptr : &it->second;
  };
  bool pending_bias = false;  // a MatMul waits for its Add
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const OnnxNode& n = g.nodes[i];
    const bool last_op = [&] {
      for (size_t k = i + 1; k < g.nodes.size(); ++k)
        if (!is_trailing_op(g.nodes[k])) return false;
      return true;
    }();
    if (n.op_type == "Gemm" || n.op_type == "MatMul") {
      const FloatTensor* w = n.inputs.size() > 1 ? init(n.inputs[1]) : nullptr;
      if (!w || w->shape.size() != 2) return unsupported(n, "the weights must be a 2-D initializer");
      if (n.op_type == "Gemm" && n.int_attr("transA", 0) != 0) return unsupported(n, "transA=1 is not supported");
      const bool tb = n.op_type == "Gemm" && n.int_attr("transB", 0) != 0;
      const double alpha = n.op_type == "Gemm" ? n.float_attr("alpha", 1.0) : 1.0;
      Layer l;
      l.name = n.name;
      l.in = tb ? w->shape[1] : w->shape[0];
      l.out = tb ? w->shape[0] : w->shape[1];
      if (!p.layers.empty() && p.layers.back().out != l.in)
        return unsupported(n, "takes " + std::to_string(l.in) + " inputs but the layer before gives " +
                                  std::to_string(p.layers.back().out));
      l.w.resize(l.in * l.out);
      for (int64_t j = 0; j < l.in; ++j)
        for (int64_t h = 0; h < l.out; ++h)
          l.w[j * l.out + h] = alpha * (tb ? w->data[h * l.in + j] : w->data[j * l.out + h]);
      l.b.assign(l.out, 0.0);
      if (n.op_type == "Gemm" && n.inputs.size() > 2 && !n.inputs[2].empty()) {
        const FloatTensor* c = init(n.inputs[2]);
        if (!c || (static_cast<int64_t>(c->data.size()) != l.out && c->data.size() != 1))
          return unsupported(n, "the bias must be an initializer of the layer's width");
        for (int64_t h = 0; h < l.out; ++h) l.b[h] = n.float_attr("beta", 1.0) * c->data[c->data.size() == 1 ? 0 : h];
      }
      p.layers.push_back(std::move(l));
      pending_bias = n.op_type == "MatMul";
    } else if (n.op_type == "Add" && pending_bias) {
      const FloatTensor* c = nullptr;
      for (const auto& in : n.inputs)
        if (init(in)) c = init(in);
      Layer& l = p.layers.back();
      if (!c || (static_cast<int64_t>(c->data.size()) != l.out && c->data.size() != 1))
        return unsupported(n, "only the addition of a bias initializer after MatMul is supported");
      for (int64_t h = 0; h < l.out; ++h) l.b[h] += c->data[c->data.size() == 1 ? 0 : h];
      pending_bias = false;
    } else if (n.op_type == "BatchNormalization") {
      if (p.layers.empty()) return unsupported(n, "a batch normalization before the first layer is not supported");
      Layer& l = p.layers.back();
      const FloatTensor* gamma = n.inputs.size() > 4 ? init(n.inputs[1]) : nullptr;
      const FloatTensor* beta = n.inputs.size() > 4 ? init(n.inputs[2]) : nullptr;
      const FloatTensor* mean = n.inputs.size() > 4 ? init(n.inputs[3]) : nullptr;
      const FloatTensor* var = n.inputs.size() > 4 ? init(n.inputs[4]) : nullptr;
      if (!gamma || !beta || !mean || !var || static_cast<int64_t>(gamma->data.size()) != l.out)
        return unsupported(n, "scale, bias, mean and variance must be initializers of the layer's width");
      const double eps = n.float_attr("epsilon", 1e-5);
      for (int64_t h = 0; h < l.out; ++h) {
        const double k = gamma->data[h] / std::sqrt(var->data[h] + eps);
        for (int64_t j = 0; j < l.in; ++j) l.w[j * l.out + h] *= k;
        l.b[h] = (l.b[h] - mean->data[h]) * k + beta->data[h];
      }
    } else if (n.op_type == "Relu" || n.op_type == "LeakyRelu" || n.op_type == "Tanh" || n.op_type == "Clip" ||
               n.op_type == "Sigmoid") {
      if (p.layers.empty()) return unsupported(n, "an activation before the first layer is not supported");
      Layer& l = p.layers.back();
      if (l.act != Act::kNone) return unsupported(n, "two activations in a row are not supported");
      if (n.op_type == "Sigmoid" && last_op) {
        p.post = PostTransform::kLogistic;
        p.classifier = true;
        continue;
      }
      if (n.op_type == "Relu") l.act = Act::kRelu;
      if (n.op_type == "LeakyRelu") {
        l.act = Act::kLeakyRelu;
        l.alpha = n.float_attr("alpha", 0.01);
      }
      if (n.op_type == "Sigmoid") l.act = Act::kSigmoid;
      if (n.op_type == "Tanh") l.act = Act::kTanh;
      if (n.op_type == "Clip") {
        l.act = Act::kClip;
        l.clip_lo = n.float_attr("min", -INFINITY);
        l.clip_hi = n.float_attr("max", INFINITY);
        if (n.inputs.size() > 1 && !n.inputs[1].empty()) {
          const FloatTensor* t = init(n.inputs[1]);
          if (!t || t->data.size() != 1) return unsupported(n, "min must be a scalar initializer");
          l.clip_lo = t->data[0];
        }
        if (n.inputs.size() > 2 && !n.inputs[2].empty()) {
          const FloatTensor* t = init(n.inputs[2]);
          if (!t || t->data.size() != 1) return unsupported(n, "max must be a scalar initializer");
          l.clip_hi = t->data[0];
        }
      }
    } else if (n.op_type == "Softmax") {
      if (!last_op) return unsupported(n, "Softmax is supported only at the end of the network");
      if (n.int_attr("axis", g.opset >= 13 ? -1 : 1) != -1 && n.int_attr("axis", 1) != 1)
        return unsupported(n, "Softmax over an axis other than the classes");
      p.post = PostTransform::kSoftmax;
      p.classifier = true;
    } else if (n.op_type == "Flatten" || n.op_type == "Reshape" || is_trailing_op(n)) {
      // The input is a [batch, features] matrix: shape ops are no-ops here.
    } else {
      return unsupported(n, "this operator has no place in an MLP (supported: Gemm, MatMul, Add, "
                            "BatchNormalization, Relu, LeakyRelu, Sigmoid, Tanh, Clip, Softmax at the end)");
    }
  }
  if (p.layers.empty()) return unimplemented("the network has no linear layer");
  if (p.layers.back().act != Act::kNone)
    return unimplemented("the last layer '" + p.layers.back().name +
                         "' ends with an activation; blindml applies only Softmax/Sigmoid after the last layer");
  return p;
}

}  // namespace

namespace {

// The float network over the calibration rows: each hidden neuron's activation range, and each
// row's outputs (the last layer's values, before the final Softmax/Sigmoid).
struct FloatPass {
  std::vector<std::vector<double>> act_lo, act_hi;
  std::vector<std::vector<double>> outputs;
};

FloatPass float_pass(const std::vector<Layer>& layers, const Rows& calibration) {
  FloatPass f;
  f.act_lo.resize(layers.size());
  f.act_hi.resize(layers.size());
  for (size_t l = 0; l < layers.size(); ++l) {
    f.act_lo[l].assign(layers[l].out, INFINITY);
    f.act_hi[l].assign(layers[l].out, -INFINITY);
  }
  f.outputs.reserve(calibration.size());
  for (const auto& row : calibration) {
    std::vector<double> x = row;
    for (size_t l = 0; l < layers.size(); ++l) {
      const Layer& L = layers[l];
      std::vector<double> y(L.out);
      for (int64_t h = 0; h < L.out; ++h) {
        double a = L.b[h];
        for (int64_t j = 0; j < L.in; ++j) a += L.w[j * L.out + h] * x[j];
        y[h] = apply(L, a);
        f.act_lo[l][h] = std::min(f.act_lo[l][h], y[h]);
        f.act_hi[l][h] = std::max(f.act_hi[l][h], y[h]);
      }
      x = std::move(y);
    }
    f.outputs.push_back(std::move(x));
  }
  return f;
}

// The bit widths of one lowering.
struct Plan {
  uint32_t input_bits = 6;   // the features' quantizers
  uint32_t weight_bits = 6;  // every layer's weights (signed, symmetric per neuron)
  uint32_t act_bits = 6;     // the hidden activations' quantizers (the lookups' outputs)
  uint32_t lookup_bits = 6;  // the most bits a lookup reads (the accumulator rounded to them)
  bool fit_weights = false;  // hidden weights scaled down (< 1 bit) where that saves a dropped bit
};

int64_t gcd64(int64_t a, int64_t b) {
  while (b != 0) {
    const int64_t t = a % b;
    a = b;
    b = t;
  }
  return a < 0 ? -a : a;
}

int64_t rounded(int64_t v, uint32_t drop) { return drop == 0 ? v : (v + (int64_t{1} << (drop - 1))) >> drop; }

struct Built {
  Lowered lowered;
};

// The circuit and client processing for one plan. `base` carries the kind, post transform and
// labels.
Result<Built> build(const Parsed& parsed, const std::pair<std::vector<double>, std::vector<double>>& ranges,
                    const FloatPass& fp, const ClientProcessing& base, const Plan& plan, bool exact) {
  const auto& layers = parsed.layers;
  const int64_t features = layers.front().in;
  Built built;
  Lowered& out = built.lowered;
  ClientProcessing& p = out.processing;
  p = base;
  p.features.clear();
  // Per input of the current layer: its quantizer, its code range, its float range over the
  // calibration rows, and its position in the circuit value x (-1: not in x, constant).
  std::vector<Quantizer> in_q;
  std::vector<int64_t> code_lo, code_hi, pos;
  std::vector<double> in_lo = ranges.first, in_hi = ranges.second;
  int64_t n_constant_inputs = 0;
  for (int64_t j = 0; j < features; ++j) {
    FeatureEncoder e;
    e.quantizer = Quantizer::calibrate(ranges.first[j], ranges.second[j], plan.input_bits, false, false);
    if (is_constant_range(in_lo[j], in_hi[j])) {
      ++n_constant_inputs;
      e.constant = in_lo[j];
    }
    in_q.push_back(e.quantizer);
    p.features.push_back(e);
    code_lo.push_back(0);
    code_hi.push_back((int64_t{1} << plan.input_bits) - 1);
    pos.push_back(j);
  }
  circuit::Builder b;
  circuit::ValueId x = b.input({features}, 0, (int64_t{1} << plan.input_bits) - 1, "features");
  int64_t x_size = features;
  const int64_t wmax = (int64_t{1} << (plan.weight_bits - 1)) - 1;
  std::string notes;
  for (size_t l = 0; l < layers.size(); ++l) {
    const Layer& L = layers[l];
    const bool last = l + 1 == layers.size();
    const std::string lname = "layer" + std::to_string(l);
    // The neurons this layer computes in the circuit: every output of the last layer; of a
    // hidden layer those that are not constant over the calibration rows (a dead ReLU): the next
    // layer folds a constant neuron's value into its offsets, so it needs no lookup.
    std::vector<int64_t> cols;
    for (int64_t h = 0; h < L.out; ++h)
      if (last || !is_constant_range(fp.act_lo[l][h], fp.act_hi[l][h])) cols.push_back(h);
    if (cols.empty())
      return invalid_argument("every neuron of " + lname + " ('" + L.name +
                              "') is constant over the calibration rows: the network's answer does not depend on "
                              "its input");
    const int64_t m = static_cast<int64_t>(cols.size());
    circuit::Tensor q{{x_size, m}, std::vector<int64_t>(x_size * m)};
    std::vector<double> t(m), o(m);
    std::vector<int64_t> amin(m, 0), amax(m, 0);
    int64_t divided = 0, fitted = 0;  // neurons whose weights had a common factor / were fitted
    auto drop_for = [&](int64_t span) {
      uint32_t s = 0;
      while (bits_for(rounded(span, s)) > plan.lookup_bits) ++s;
      return s;
    };
    for (int64_t c = 0; c < m; ++c) {
      const int64_t h = cols[c];
      double vmax = 0;
      for (int64_t j = 0; j < L.in; ++j)
        if (pos[j] >= 0 && !is_constant_range(in_lo[j], in_hi[j]))
          vmax = std::max(vmax, std::fabs(L.w[j * L.out + h] * in_q[j].scale));
      std::vector<int64_t> qw(L.in, 0);
      // The neuron quantized with weights of magnitude at most `top`: its integer weights (the
      // common factor g divided out: the same products, an accumulator log2(g) bits narrower),
      // scale, offset and accumulator range over the input box.
      auto quantize = [&](int64_t top) {
        t[c] = vmax > 0 ? vmax / static_cast<double>(top) : 1.0;
        o[c] = L.b[h];
        int64_t g = 0;
        for (int64_t j = 0; j < L.in; ++j) {
          qw[j] = 0;
          if (pos[j] < 0 || is_constant_range(in_lo[j], in_hi[j])) {
            o[c] += L.w[j * L.out + h] * in_lo[j];
            continue;
          }
          qw[j] = static_cast<int64_t>(std::nearbyint(L.w[j * L.out + h] * in_q[j].scale / t[c]));
          o[c] -= t[c] * static_cast<double>(qw[j]) * static_cast<double>(in_q[j].zero_point);
          g = gcd64(g, qw[j]);
        }
        if (g > 1) {
          for (auto& v : qw) v /= g;
          t[c] *= static_cast<double>(g);
        }
        amin[c] = amax[c] = 0;
        for (int64_t j = 0; j < L.in; ++j) {
          if (pos[j] < 0) continue;
          amin[c] += std::min(qw[j] * code_lo[j], qw[j] * code_hi[j]);
          amax[c] += std::max(qw[j] * code_lo[j], qw[j] * code_hi[j]);
        }
        return g;
      };
      int64_t g = quantize(wmax);
      // Fitted weights: the largest weight magnitude in [wmax/2, wmax) whose accumulator drops
      // one bit fewer: one extraction less, and the lookup's table filled (a span just past a
      // power of two leaves half of it unused), for at most one bit of weight precision.
      if (!last && plan.fit_weights && drop_for(amax[c] - amin[c]) > 0) {
        const uint32_t s0 = drop_for(amax[c] - amin[c]);
        int64_t chosen = wmax;
        for (int64_t top = wmax - 1; top >= (wmax + 1) / 2 && chosen == wmax; --top) {
          quantize(top);
          if (drop_for(amax[c] - amin[c]) < s0) chosen = top;
        }
        if (chosen != wmax) ++fitted;
        g = quantize(chosen);
      }
      if (g > 1) ++divided;
      for (int64_t j = 0; j < L.in; ++j)
        if (pos[j] >= 0) q.data[pos[j] * m + c] = qw[j];
    }
    auto acc = b.matmul(x, std::move(q), lname);
    char buf[512];
    if (last) {
      p.output_scale = t;
      p.output_offset = o;
      b.output(acc, "scores");
      int64_t widest = 0;
      for (int64_t c = 0; c < m; ++c) widest = std::max(widest, amax[c] - amin[c]);
      std::snprintf(buf, sizeof buf, "%s: %lld -> %lld, the output (leveled; accumulators span at most %lld)%s\n",
                    lname.c_str(), static_cast<long long>(L.in), static_cast<long long>(L.out),
                    static_cast<long long>(widest),
                    divided ? (", " + std::to_string(divided) + " column(s) divided by their weights' common factor").c_str()
                            : "");
      notes += buf;
      break;
    }
    // Per neuron: the accumulator shifted to [0, span], rounded by the fewest bits s that leave
    // at most lookup_bits, then one table (rescale, bias, activation, next quantizer). Neurons
    // are grouped by s: one rounding and one lookup op per group.
    std::vector<uint32_t> drop(m), width(m);
    std::vector<Quantizer> next_q(m);
    for (int64_t c = 0; c < m; ++c) {
      const int64_t span = amax[c] - amin[c];
      uint32_t s = 0;
      while (bits_for(rounded(span, s)) > plan.lookup_bits) ++s;
      drop[c] = s;
      width[c] = bits_for(rounded(span, s));
      next_q[c] = Quantizer::calibrate(fp.act_lo[l][cols[c]], fp.act_hi[l][cols[c]], plan.act_bits, false, false);
    }
    std::vector<uint32_t> group_drops(drop.begin(), drop.end());
    std::sort(group_drops.begin(), group_drops.end());
    group_drops.erase(std::unique(group_drops.begin(), group_drops.end()), group_drops.end());
    std::vector<circuit::ValueId> parts;
    std::vector<int64_t> order;  // the neuron (column) at each position of the layer's output
    std::vector<int64_t> part_lo, part_hi;
    std::string drops_note;
    uint32_t widest_read = 0;
    for (uint32_t s : group_drops) {
      std::vector<int64_t> members;
      for (int64_t c = 0; c < m; ++c)
        if (drop[c] == s) members.push_back(c);
      const std::string gname = lname + (group_drops.size() > 1 ? "_s" + std::to_string(s) : "");
      circuit::ValueId v = acc;
      if (static_cast<int64_t>(members.size()) != m) v = b.gather(acc, 0, members, gname + "_pick");
      circuit::Tensor shifts{{static_cast<int64_t>(members.size())}, {}};
      uint32_t w = 1;
      for (int64_t c : members) {
        shifts.data.push_back(-amin[c]);
        w = std::max(w, width[c]);
      }
      widest_read = std::max(widest_read, w);
      v = b.add_const(v, std::move(shifts), gname + "_shift");
      if (s > 0) v = b.round(v, s, exact, gname + "_round");
      std::vector<std::vector<int64_t>> tables;
      std::vector<uint32_t> index;
      for (int64_t c : members) {
        const int64_t h = cols[c];
        const int64_t top = rounded(amax[c] - amin[c], s);
        std::vector<int64_t> table(size_t{1} << w);
        int64_t lo = INT64_MAX, hi = INT64_MIN;
        for (int64_t i = 0; i < static_cast<int64_t>(table.size()); ++i) {
          // Index i stands for the accumulator i·2^s + amin (the middle of its rounding interval);
          // indices above the range are never reached and repeat the last entry.
          const int64_t ii = std::min(i, top);
          const double accv = static_cast<double>(ii * (int64_t{1} << s) + amin[c]);
          table[i] = next_q[c].quantize(apply(L, t[c] * accv + o[c]));
          if (i <= top) {
            lo = std::min(lo, table[i]);
            hi = std::max(hi, table[i]);
          }
        }
        (void)h;
        index.push_back(static_cast<uint32_t>(tables.size()));
        tables.push_back(std::move(table));
        order.push_back(c);
        part_lo.push_back(lo);
        part_hi.push_back(hi);
      }
      parts.push_back(b.lookup(v, std::move(tables), std::move(index), w, 0, gname + "_act"));
      drops_note += (drops_note.empty() ? "" : ", ") + std::to_string(members.size()) + " by " + std::to_string(s);
    }
    x = parts.size() == 1 ? parts[0] : b.concat(parts, 0, lname + "_acts");
    x_size = m;
    // The next layer's inputs: position of each neuron in x, or -1 for the constant ones.
    std::vector<Quantizer> nq(L.out);
    std::vector<int64_t> npos(L.out, -1), nlo(L.out, 0), nhi(L.out, 0);
    for (size_t k = 0; k < order.size(); ++k) {
      const int64_t c = order[k];
      npos[cols[c]] = static_cast<int64_t>(k);
      nq[cols[c]] = next_q[c];
      nlo[cols[c]] = part_lo[k];
      nhi[cols[c]] = part_hi[k];
    }
    in_q = std::move(nq);
    pos = std::move(npos);
    code_lo = std::move(nlo);
    code_hi = std::move(nhi);
    in_lo = fp.act_lo[l];
    in_hi = fp.act_hi[l];
    int64_t widest = 0;
    for (int64_t c = 0; c < m; ++c) widest = std::max(widest, amax[c] - amin[c]);
    std::snprintf(buf, sizeof buf,
                  "%s: %lld -> %lld, %lld neuron(s) constant over the calibration rows (no lookup); accumulators "
                  "spanning at most %lld rounded (%s) by the fewest bits that leave %u: %s; %u-bit lookups%s\n",
                  lname.c_str(), static_cast<long long>(L.in), static_cast<long long>(L.out),
                  static_cast<long long>(L.out - m), static_cast<long long>(widest), exact ? "exact" : "approximate",
                  plan.lookup_bits, drops_note.c_str(), widest_read,
                  divided ? (", " + std::to_string(divided) + " neuron(s) divided by their weights' common factor").c_str()
                          : "");
    notes += buf;
    if (fitted > 0)
      notes += lname + ": " + std::to_string(fitted) +
               " neuron(s) with fitted weights (magnitude below " + std::to_string(wmax) +
               ", at most one bit less precise, so that the accumulator drops one bit fewer)\n";
  }
  BLINDML_ASSIGN_OR_RETURN(out.circuit, b.finish());
  char head[256];
  std::snprintf(head, sizeof head,
                "quantization: %u-bit inputs, %u-bit weights, %u-bit activations (per feature/neuron); lookups read "
                "at most %u bits\n",
                plan.input_bits, plan.weight_bits, plan.act_bits, plan.lookup_bits);
  out.notes = head + notes;
  if (n_constant_inputs > 0)
    out.notes += std::to_string(n_constant_inputs) +
                 " feature(s) constant over the calibration rows: folded into the first layer's offsets\n";
  return built;
}

// The quantized-clear model against the float model on calibration rows: rows whose label
// differs, and the mean over rows of the largest difference of a class probability.
struct Agreement {
  int64_t disagreements = 0;
  double proba_error = 0;
};

int64_t float_label(const ClientProcessing& p, const std::vector<double>& values, std::vector<double>* proba_out) {
  std::vector<double> proba;
  if (p.binary_single_score) {
    const double v = apply_post_transform(p.post, values)[0];
    proba = {1.0 - v, v};
  } else {
    proba = apply_post_transform(p.post, values);
  }
  const size_t best = std::max_element(proba.begin(), proba.end()) - proba.begin();
  *proba_out = std::move(proba);
  return best < p.class_labels.size() ? p.class_labels[best] : static_cast<int64_t>(best);
}

Result<Agreement> agreement(const Lowered& l, const Rows& rows, const FloatPass& fp, size_t limit) {
  Agreement a;
  size_t n = 0;
  std::vector<double> proba;
  for (size_t r = 0; r < rows.size() && r < limit; ++r, ++n) {
    BLINDML_ASSIGN_OR_RETURN(circuit::Tensor in, l.processing.encode_row(rows[r]));
    BLINDML_ASSIGN_OR_RETURN(auto out, circuit::evaluate_clear(l.circuit, std::span<const circuit::Tensor>(&in, 1)));
    BLINDML_ASSIGN_OR_RETURN(Prediction pr, l.processing.decode(out[0]));
    a.disagreements += pr.label != float_label(l.processing, fp.outputs[r], &proba);
    double e = 0;
    for (size_t c = 0; c < proba.size() && c < pr.proba.size(); ++c) e = std::max(e, std::fabs(proba[c] - pr.proba[c]));
    a.proba_error += e;
  }
  if (n > 0) a.proba_error /= static_cast<double>(n);
  return a;
}

}  // namespace

Result<Lowered> lower_mlp(const OnnxGraph& graph, const Rows& calibration, const CompileOptions& options) {
  const uint32_t n_bits = options.n_bits ? options.n_bits : 6;
  const uint32_t r_bits = options.rounding_bits ? options.rounding_bits : 6;
  if (n_bits < 2 || n_bits > 12) return invalid_argument("n_bits must be 2..12 for an MLP");
  if (r_bits < 1 || r_bits > 8) return invalid_argument("rounding_bits must be 1..8");
  BLINDML_ASSIGN_OR_RETURN(Parsed parsed, parse(graph));
  const auto& layers = parsed.layers;
  for (const Layer& l : layers) {
    BLINDML_RETURN_IF_ERROR(check_finite(l.w, "layer '" + l.name + "': the weights"));
    BLINDML_RETURN_IF_ERROR(check_finite(l.b, "layer '" + l.name + "': the bias"));
    BLINDML_RETURN_IF_ERROR(check_finite({l.alpha}, "layer '" + l.name + "': the LeakyRelu slope"));
    if (std::isnan(l.clip_lo) || std::isnan(l.clip_hi) || l.clip_lo > l.clip_hi)
      return invalid_argument("layer '" + l.name + "': the Clip bounds are NaN or out of order");
  }
  const int64_t features = layers.front().in;
  BLINDML_ASSIGN_OR_RETURN(auto ranges, feature_ranges(calibration, features));
  const FloatPass fp = float_pass(layers, calibration);

  ClientProcessing base;
  std::optional<ModelKind> forced = options.kind;
  const bool classifier = forced ? *forced == ModelKind::kClassifier : parsed.classifier;
  base.kind = classifier ? ModelKind::kClassifier : ModelKind::kRegressor;
  base.post = parsed.post;
  if (classifier && base.post == PostTransform::kNone)
    base.post = layers.back().out == 1 ? PostTransform::kLogistic : PostTransform::kSoftmax;
  if (classifier) {
    if (layers.back().out == 1) {
      base.binary_single_score = true;
      base.class_labels = {0, 1};
    } else {
      for (int64_t c = 0; c < layers.back().out; ++c) base.class_labels.push_back(c);
      if (auto labels = label_initializer(graph, layers.back().out)) base.class_labels = *labels;
    }
  }
  const Plan reference{n_bits, n_bits, n_bits, r_bits};
  BLINDML_ASSIGN_OR_RETURN(Built ref, build(parsed, ranges, fp, base, reference, options.exact_rounding));
  // The lookup width, when rounding_bits is not given (classifiers): 6, 5 and 4 bits are tried,
  // each with and without fitted weights, and the cheapest (estimated time per evaluation under
  // its own parameters: a lookup of w bits needs N >= 2^(w+7) or so) is kept among those whose
  // quantized-clear model, on the calibration rows, (a) gives the float model's label on at
  // least as many rows as 6-bit lookups without fitting (the reference) and (b) errs on the
  // probabilities by at most 2.5 times as much on average. One bit fewer doubles the rounding
  // step of every accumulator, which about doubles the probability error; (b) accepts that step,
  // with a quarter for the sampling of ~100 rows, and refuses a second one (4-bit lookups:
  // 3.2-3.5x on the iris MLPs, and labels lost on every committed MLP). Regressors keep
  // rounding_bits (6): an error relative to the outputs' range is no safe stand-in (a logits
  // network compiled as a regressor accepted 4-bit lookups that lose labels as a classifier).
  if (!classifier || options.rounding_bits != 0) return std::move(ref.lowered);
  int64_t weights = 0;
  for (const auto& L : layers) weights += L.in * L.out;
  const size_t limit = 2000;  // calibration rows measured per candidate
  const size_t measured = std::min(limit, calibration.size());
  if (weights * static_cast<int64_t>(measured) > (int64_t{1} << 26)) {
    ref.lowered.notes += "lookups of " + std::to_string(r_bits) +
                         " bits: the network is too large to try narrower lookups on the calibration rows\n";
    return std::move(ref.lowered);
  }
  auto cost = [&](const Lowered& l) -> std::optional<double> {
    auto an = circuit::analyze(l.circuit);
    if (!an.ok()) return std::nullopt;
    auto c = compiler::choose_parameters(*an, options.optimizer);
    if (!c.ok()) return std::nullopt;
    return c->needs_bootstrapping ? c->estimated_circuit_ms : 0.0;
  };
  BLINDML_ASSIGN_OR_RETURN(Agreement ref_ag, agreement(ref.lowered, calibration, fp, limit));
  std::optional<double> best_cost = cost(ref.lowered);
  std::optional<Built> best;
  uint32_t best_bits = r_bits;
  bool best_fit = false;
  std::string tried;
  char buf[512];
  for (uint32_t r : {6u, 5u, 4u})
    for (bool fit : {false, true}) {
      if (r == r_bits && !fit) continue;  // the reference
      auto b = build(parsed, ranges, fp, base, Plan{n_bits, n_bits, n_bits, r, fit}, options.exact_rounding);
      if (!b.ok()) continue;
      const std::optional<double> c = cost(b->lowered);
      BLINDML_ASSIGN_OR_RETURN(Agreement ag, agreement(b->lowered, calibration, fp, limit));
      const bool accepted = ag.disagreements <= ref_ag.disagreements && ag.proba_error <= 2.5 * ref_ag.proba_error;
      std::snprintf(buf, sizeof buf, "; %u bits%s: %lld, %.4f, %s", r, fit ? " fitted" : "",
                    static_cast<long long>(ag.disagreements), ag.proba_error,
                    !c ? "no parameter set" : accepted ? "accepted" : "refused");
      tried += buf;
      if (accepted && c && (!best_cost || *c < *best_cost)) {
        best_cost = c;
        best = std::move(b).value();
        best_bits = r;
        best_fit = fit;
      }
    }
  Lowered chosen = best ? std::move(best->lowered) : std::move(ref.lowered);
  std::snprintf(buf, sizeof buf,
                "lookups of %u bits%s, chosen automatically (no --rounding-bits): the cheapest of 6, 5, 4 bits, with "
                "and without fitted weights, whose labels on the %zu calibration rows differ from the float model's "
                "no more often than with 6-bit lookups and whose mean probability error is at most 2.5 times theirs "
                "(rows differing, mean error: 6 bits: %lld, %.4f",
                best_bits, best_fit ? " with fitted weights" : "", measured,
                static_cast<long long>(ref_ag.disagreements), ref_ag.proba_error);
  chosen.notes = buf + tried + ")\n" + chosen.notes;
  return chosen;
}

}  // namespace blindml::model::internal
