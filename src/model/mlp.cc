// Multi-layer perceptrons (model.h, shared/models.md §2): post-training quantization and one fused
// lookup per hidden neuron.
//
// Layer ℓ reads q_j (n_bits, unsigned) with x_j ≈ s_j·(q_j - z_j): the input features' quantizers
// for the first layer, the previous layer's activation quantizers after it (calibrated per neuron
// on the float network's activations over the calibration set). With V_jh = W_jh·s_j quantized per
// neuron, V_jh ≈ t_h·Q_jh (symmetric, n_bits signed), the accumulator acc_h = Σ_j Q_jh·q_j gives
// the pre-activation a_h ≈ t_h·acc_h + o_h, o_h = b_h - t_h·Σ_j Q_jh·z_j.
// Hidden layers: acc is rounded to rounding_bits (its s low bits dropped, exact or approximate),
// then one lookup per neuron computes quantize_next(act(t_h·(r·2^s) + o_h)). The last layer's
// accumulator is the output; the client applies t_h and o_h, then the final Softmax/Sigmoid.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "blindml/circuit/analysis.h"
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

Result<Lowered> lower_mlp(const OnnxGraph& graph, const Rows& calibration, const CompileOptions& options) {
  const uint32_t n_bits = options.n_bits ? options.n_bits : 6;
  const uint32_t r_bits = options.rounding_bits ? options.rounding_bits : 6;
  if (n_bits < 2 || n_bits > 12) return invalid_argument("n_bits must be 2..12 for an MLP");
  if (r_bits < 1 || r_bits > 8) return invalid_argument("rounding_bits must be 1..8");
  BLINDML_ASSIGN_OR_RETURN(Parsed parsed, parse(graph));
  const auto& layers = parsed.layers;
  const int64_t features = layers.front().in;
  BLINDML_ASSIGN_OR_RETURN(auto ranges, feature_ranges(calibration, features));

  // Float activations of the calibration set, per hidden layer and neuron: min and max.
  std::vector<std::vector<double>> act_lo(layers.size()), act_hi(layers.size());
  for (size_t l = 0; l < layers.size(); ++l) {
    act_lo[l].assign(layers[l].out, INFINITY);
    act_hi[l].assign(layers[l].out, -INFINITY);
  }
  for (const auto& row : calibration) {
    std::vector<double> x = row;
    for (size_t l = 0; l < layers.size(); ++l) {
      const Layer& L = layers[l];
      std::vector<double> y(L.out);
      for (int64_t h = 0; h < L.out; ++h) {
        double a = L.b[h];
        for (int64_t j = 0; j < L.in; ++j) a += L.w[j * L.out + h] * x[j];
        y[h] = apply(L, a);
        act_lo[l][h] = std::min(act_lo[l][h], y[h]);
        act_hi[l][h] = std::max(act_hi[l][h], y[h]);
      }
      x = std::move(y);
    }
  }

  Lowered out;
  ClientProcessing& p = out.processing;
  std::optional<ModelKind> forced = options.kind;
  const bool classifier = forced ? *forced == ModelKind::kClassifier : parsed.classifier;
  p.kind = classifier ? ModelKind::kClassifier : ModelKind::kRegressor;
  p.post = parsed.post;
  if (classifier && p.post == PostTransform::kNone) p.post = layers.back().out == 1 ? PostTransform::kLogistic : PostTransform::kSoftmax;
  if (classifier) {
    if (layers.back().out == 1) {
      p.binary_single_score = true;
      p.class_labels = {0, 1};
    } else {
      for (int64_t c = 0; c < layers.back().out; ++c) p.class_labels.push_back(c);
      if (auto labels = label_initializer(graph, layers.back().out)) p.class_labels = *labels;
    }
  }
  std::vector<Quantizer> in_q;
  for (int64_t j = 0; j < features; ++j) {
    FeatureEncoder e;
    e.quantizer = Quantizer::calibrate(ranges.first[j], ranges.second[j], n_bits, false, false);
    in_q.push_back(e.quantizer);
    p.features.push_back(e);
  }

  circuit::Builder b;
  circuit::ValueId x = b.input({features}, 0, (int64_t{1} << n_bits) - 1, "features");
  const int64_t wmax = (int64_t{1} << (n_bits - 1)) - 1;
  std::string notes;
  // The float range of each layer's inputs over the calibration rows: an input constant there (a
  // border pixel, an unused one-hot column, a dead neuron) has no quantization step; its term is
  // folded into the offset and its weight is 0, so its placeholder scale cannot set the neuron's
  // weight step and collapse the other weights.
  std::vector<double> in_lo = ranges.first, in_hi = ranges.second;
  int64_t n_constant_inputs = 0;
  for (size_t l = 0; l < layers.size(); ++l) {
    const Layer& L = layers[l];
    std::vector<bool> constant(L.in);
    for (int64_t j = 0; j < L.in; ++j) {
      constant[j] = is_constant_range(in_lo[j], in_hi[j]);
      if (l == 0 && constant[j]) {
        ++n_constant_inputs;
        p.features[j].constant = in_lo[j];
      }
    }
    circuit::Tensor q{{L.in, L.out}, std::vector<int64_t>(L.in * L.out)};
    std::vector<double> t(L.out), o(L.out);
    for (int64_t h = 0; h < L.out; ++h) {
      double vmax = 0;
      for (int64_t j = 0; j < L.in; ++j)
        if (!constant[j]) vmax = std::max(vmax, std::fabs(L.w[j * L.out + h] * in_q[j].scale));
      t[h] = vmax > 0 ? vmax / static_cast<double>(wmax) : 1.0;
      o[h] = L.b[h];
      for (int64_t j = 0; j < L.in; ++j) {
        if (constant[j]) {
          o[h] += L.w[j * L.out + h] * in_lo[j];
          continue;
        }
        const int64_t qw = static_cast<int64_t>(std::nearbyint(L.w[j * L.out + h] * in_q[j].scale / t[h]));
        q.data[j * L.out + h] = qw;
        o[h] -= t[h] * static_cast<double>(qw) * static_cast<double>(in_q[j].zero_point);
      }
    }
    const std::string lname = "layer" + std::to_string(l);
    auto acc = b.matmul(x, std::move(q), lname);
    if (l + 1 == layers.size()) {
      p.output_scale = t;
      p.output_offset = o;
      b.output(acc, "scores");
      break;
    }
    // Each neuron's accumulator moved to [0, m_h·(hi_h - lo_h)] with an integer gain m_h that
    // brings every neuron near the widest one's span, so that one rounding keeps about
    // rounding_bits of resolution for each of them; then one table per neuron.
    circuit::Builder probe = b;
    probe.output(acc);
    BLINDML_ASSIGN_OR_RETURN(auto pc, probe.finish());
    BLINDML_ASSIGN_OR_RETURN(auto pa, circuit::analyze(pc));
    const auto& amin = pa.values[acc].min;
    const auto& amax = pa.values[acc].max;
    int64_t widest = 1;
    for (int64_t h = 0; h < L.out; ++h) widest = std::max(widest, amax[h] - amin[h]);
    std::vector<int64_t> gain(L.out), shift(L.out);
    circuit::Tensor gains{{L.out}, std::vector<int64_t>(L.out)}, shifts{{L.out}, std::vector<int64_t>(L.out)};
    for (int64_t h = 0; h < L.out; ++h) {
      gain[h] = std::max<int64_t>(1, widest / std::max<int64_t>(1, amax[h] - amin[h]));
      shift[h] = -amin[h];
      gains.data[h] = gain[h];
      shifts.data[h] = shift[h];
    }
    auto centred = b.mul_const(b.add_const(acc, shifts, lname + "_shift"), gains, lname + "_gain");
    const int64_t lo = 0, hi = widest;
    uint32_t s = 0;
    auto rounded = [&](int64_t v, uint32_t drop) { return drop == 0 ? v : (v + (int64_t{1} << (drop - 1))) >> drop; };
    while (bits_for(rounded(hi, s) - rounded(lo, s)) > r_bits) ++s;
    circuit::ValueId src = centred;
    if (s > 0) src = b.round(centred, s, options.exact_rounding, lname + "_round");
    const int64_t tlo = rounded(lo, s), thi = rounded(hi, s);
    const uint32_t w = bits_for(thi - tlo);
    std::vector<Quantizer> next_q(L.out);
    std::vector<std::vector<int64_t>> tables(L.out, std::vector<int64_t>(size_t{1} << w));
    std::vector<uint32_t> index(L.out);
    for (int64_t h = 0; h < L.out; ++h) {
      next_q[h] = Quantizer::calibrate(act_lo[l][h], act_hi[l][h], n_bits, false, false);
      for (size_t i = 0; i < tables[h].size(); ++i) {
        // The accumulator this index stands for: (i·2^s) / m_h - shift_h.
        const double y = static_cast<double>((tlo + static_cast<int64_t>(i)) * (int64_t{1} << s));
        const double accv = y / static_cast<double>(gain[h]) - static_cast<double>(shift[h]);
        tables[h][i] = next_q[h].quantize(apply(L, t[h] * accv + o[h]));
      }
      index[h] = static_cast<uint32_t>(h);
    }
    x = b.lookup(src, std::move(tables), std::move(index), w, tlo, lname + "_act");
    in_q = next_q;
    in_lo = act_lo[l];
    in_hi = act_hi[l];
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  "%s: %lld -> %lld, accumulators shifted to [0, %lld] (integer gains per neuron), rounded by %u bits "
                  "(%s) to a %u-bit lookup\n",
                  lname.c_str(), static_cast<long long>(L.in), static_cast<long long>(L.out),
                  static_cast<long long>(hi), s,
                  options.exact_rounding ? "exact" : "approximate", w);
    notes += buf;
  }
  {
    const Layer& L = layers.back();
    char buf[256];
    std::snprintf(buf, sizeof buf, "layer%zu: %lld -> %lld, the output (leveled)\n", layers.size() - 1,
                  static_cast<long long>(L.in), static_cast<long long>(L.out));
    notes += buf;
  }
  BLINDML_ASSIGN_OR_RETURN(out.circuit, b.finish());
  char head[200];
  std::snprintf(head, sizeof head, "quantization: %u-bit inputs, weights and activations (per feature/neuron); accumulators rounded to %u bits\n",
                n_bits, r_bits);
  out.notes = head + notes;
  if (n_constant_inputs > 0)
    out.notes += std::to_string(n_constant_inputs) +
                 " feature(s) constant over the calibration rows: folded into the first layer's offsets\n";
  return out;
}

}  // namespace blindml::model::internal
