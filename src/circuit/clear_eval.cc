#include "blindml/circuit/clear_eval.h"

#include <algorithm>
#include <atomic>
#include <limits>
#include <mutex>

#include "blindml/circuit/analysis.h"
#include "internal/index_maps.h"

namespace blindml::circuit {

namespace {

using internal::constant_at;

constexpr int64_t kLimit = int64_t{1} << 62;
constexpr __int128 kAccumulatorLimit = static_cast<__int128>(1) << 125;

std::string label(const Node& node) { return std::string(op_kind_name(node.kind)) + " '" + node.name + "'"; }

struct ErrorInjector {
  double p = 0;
  std::mt19937_64* rng = nullptr;
  uint64_t injected = 0;
  // The index a PBS actually reads: idx, or a neighbour with probability p.
  int64_t perturb(int64_t idx, int64_t size) {
    if (rng == nullptr || p <= 0) return idx;
    std::uniform_real_distribution<double> u(0.0, 1.0);
    double r = u(*rng);
    if (r >= p) return idx;
    ++injected;
    int64_t j = r < p / 2 ? idx - 1 : idx + 1;
    return std::clamp<int64_t>(j, 0, size - 1);
  }
};

Status overflow(const Node& node) {
  return invalid_argument(label(node) + ": a value leaves ±2^62 (the analysis would refuse this circuit)");
}

Result<std::vector<Tensor>> run(const Circuit& circuit, std::span<const Tensor> inputs, ErrorInjector* inject) {
  BLINDML_RETURN_IF_ERROR(circuit.validate());
  if (inputs.size() != circuit.inputs().size())
    return invalid_argument("the circuit takes " + std::to_string(circuit.inputs().size()) + " inputs, got " +
                            std::to_string(inputs.size()));
  std::vector<Tensor> v(circuit.size());
  size_t next_input = 0;
  for (size_t id = 0; id < circuit.size(); ++id) {
    const Node& node = circuit.node(static_cast<ValueId>(id));
    Tensor& out = v[id];
    out.shape = node.shape;
    const int64_t count = shape_elements(node.shape);
    auto in = [&](size_t i) -> const Tensor& { return v[node.inputs[i]]; };
    switch (node.kind) {
      case OpKind::kInput: {
        const Tensor& t = inputs[next_input++];
        if (t.shape != node.shape || static_cast<int64_t>(t.data.size()) != count)
          return invalid_argument("input '" + node.name + "' has shape " + shape_to_string(node.shape) + ", got " +
                                  shape_to_string(t.shape));
        for (int64_t e = 0; e < count; ++e) {
          int64_t lo = node.range_min.size() == 1 ? node.range_min[0] : node.range_min[e];
          int64_t hi = node.range_max.size() == 1 ? node.range_max[0] : node.range_max[e];
          if (t.data[e] < lo || t.data[e] > hi)
            return invalid_argument("input '" + node.name + "' element " + std::to_string(e) + " = " +
                                    std::to_string(t.data[e]) + " is outside its declared range [" +
                                    std::to_string(lo) + ", " + std::to_string(hi) + "]");
        }
        out.data = t.data;
        break;
      }
      case OpKind::kAdd:
      case OpKind::kSub:
      case OpKind::kAddConst:
      case OpKind::kMulConst:
      case OpKind::kNeg: {
        out.data.resize(count);
        for (int64_t e = 0; e < count; ++e) {
          int64_t a = in(0).data[e], r = 0;
          bool bad = false;
          switch (node.kind) {
            case OpKind::kAdd: bad = __builtin_add_overflow(a, in(1).data[e], &r); break;
            case OpKind::kSub: bad = __builtin_sub_overflow(a, in(1).data[e], &r); break;
            case OpKind::kAddConst: bad = __builtin_add_overflow(a, constant_at(node.constant, e), &r); break;
            case OpKind::kMulConst: bad = __builtin_mul_overflow(a, constant_at(node.constant, e), &r); break;
            default: r = -a; break;
          }
          if (bad || r <= -kLimit || r >= kLimit) return overflow(node);
          out.data[e] = r;
        }
        break;
      }
      case OpKind::kMatMul: {
        const auto d = internal::matmul_dims(node, in(0).shape);
        out.data.assign(count, 0);
        const auto& w = node.constant.data;
        for (int64_t r = 0; r < d.rows; ++r)
          for (int64_t c = 0; c < d.cols; ++c) {
            __int128 acc = 0;
            // Each product is below 2^124 in magnitude; stopping once the sum passes 2^125 keeps
            // it from overflowing __int128 over any inner dimension.
            for (int64_t k = 0; k < d.inner; ++k) {
              acc += static_cast<__int128>(in(0).data[r * d.inner + k]) * w[k * d.cols + c];
              if (acc <= -kAccumulatorLimit || acc >= kAccumulatorLimit) return overflow(node);
            }
            if (acc <= -kLimit || acc >= kLimit) return overflow(node);
            out.data[r * d.cols + c] = static_cast<int64_t>(acc);
          }
        break;
      }
      case OpKind::kSum: {
        auto groups = internal::sum_groups(node, in(0).shape);
        out.data.resize(count);
        for (int64_t e = 0; e < count; ++e) {
          __int128 acc = 0;
          for (int64_t i : groups[e]) acc += in(0).data[i];
          if (acc <= -kLimit || acc >= kLimit) return overflow(node);
          out.data[e] = static_cast<int64_t>(acc);
        }
        break;
      }
      case OpKind::kReshape:
      case OpKind::kTranspose:
      case OpKind::kSlice:
      case OpKind::kGather:
      case OpKind::kConcat: {
        auto map = internal::structural_map(circuit, node);
        out.data.resize(count);
        for (int64_t e = 0; e < count; ++e) out.data[e] = v[node.inputs[map[e].operand]].data[map[e].index];
        break;
      }
      case OpKind::kLookup: {
        out.data.resize(count);
        const int64_t size = int64_t{1} << node.input_bits;
        for (int64_t e = 0; e < count; ++e) {
          int64_t idx = in(0).data[e] - node.input_min;
          if (idx < 0 || idx >= size)
            return invalid_argument(label(node) + ": element " + std::to_string(e) + " = " +
                                    std::to_string(in(0).data[e]) + " is outside the table's domain [" +
                                    std::to_string(node.input_min) + ", " + std::to_string(node.input_min + size - 1) +
                                    "]");
          if (inject) idx = inject->perturb(idx, size);
          out.data[e] = internal::table_for(node, e)[idx];
        }
        break;
      }
      case OpKind::kRound: {
        const int64_t s = node.attrs[0];
        out.data.resize(count);
        const bool materialized = inject && round_is_materialized(circuit, static_cast<ValueId>(id));
        for (int64_t e = 0; e < count; ++e) {
          __int128 x = in(0).data[e];
          // floor((x + 2^(s-1)) / 2^s): arithmetic shift floors for negative values too.
          int64_t t = static_cast<int64_t>((x + (static_cast<__int128>(1) << (s - 1))) >> s);
          // A materialized rounding is an identity PBS: an error moves it by one step.
          if (materialized) t += inject->perturb(1, 3) - 1;
          out.data[e] = t;
        }
        break;
      }
      case OpKind::kOutput:
        out.data = in(0).data;
        break;
    }
  }
  return v;
}

}  // namespace

Result<std::vector<Tensor>> evaluate_clear_all(const Circuit& circuit, std::span<const Tensor> inputs) {
  return run(circuit, inputs, nullptr);
}

Result<std::vector<Tensor>> evaluate_clear(const Circuit& circuit, std::span<const Tensor> inputs) {
  BLINDML_ASSIGN_OR_RETURN(auto all, run(circuit, inputs, nullptr));
  std::vector<Tensor> outs;
  for (ValueId o : circuit.outputs()) outs.push_back(std::move(all[o]));
  return outs;
}

Result<std::vector<std::vector<Tensor>>> evaluate_clear_batch(const Circuit& circuit,
                                                              const std::vector<std::vector<Tensor>>& samples,
                                                              ThreadPool* pool) {
  std::vector<std::vector<Tensor>> results(samples.size());
  std::vector<Status> errors(samples.size());
  auto one = [&](size_t i, size_t) {
    auto r = evaluate_clear(circuit, samples[i]);
    if (r.ok()) {
      results[i] = std::move(r).value();
    } else {
      errors[i] = r.status();
    }
  };
  if (pool) {
    pool->parallel_for(samples.size(), one);
  } else {
    for (size_t i = 0; i < samples.size(); ++i) one(i, 0);
  }
  for (size_t i = 0; i < samples.size(); ++i)
    if (!errors[i].ok()) return Status(errors[i].code(), "sample " + std::to_string(i) + ": " + errors[i].message());
  return results;
}

Result<std::vector<MeasuredRange>> measure_ranges(const Circuit& circuit,
                                                  const std::vector<std::vector<Tensor>>& samples) {
  if (samples.empty()) return invalid_argument("no calibration samples");
  std::vector<MeasuredRange> ranges(circuit.size(),
                                    MeasuredRange{std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::min()});
  for (size_t s = 0; s < samples.size(); ++s) {
    auto all = run(circuit, samples[s], nullptr);
    if (!all.ok()) return Status(all.status().code(), "sample " + std::to_string(s) + ": " + all.status().message());
    for (size_t id = 0; id < circuit.size(); ++id)
      for (int64_t x : (*all)[id].data) {
        ranges[id].lo = std::min(ranges[id].lo, x);
        ranges[id].hi = std::max(ranges[id].hi, x);
      }
  }
  return ranges;
}

Result<std::vector<Tensor>> simulate(const Circuit& circuit, std::span<const Tensor> inputs, double p_error,
                                     std::mt19937_64& rng, uint64_t* errors_out) {
  if (!(p_error >= 0 && p_error <= 1)) return invalid_argument("p_error must be in [0, 1]");
  ErrorInjector inject{.p = p_error, .rng = &rng};
  BLINDML_ASSIGN_OR_RETURN(auto all, run(circuit, inputs, &inject));
  if (errors_out) *errors_out = inject.injected;
  std::vector<Tensor> outs;
  for (ValueId o : circuit.outputs()) outs.push_back(std::move(all[o]));
  return outs;
}

}  // namespace blindml::circuit
