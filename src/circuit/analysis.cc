#include "blindml/circuit/analysis.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "blindml/circuit/encoding.h"
#include "internal/index_maps.h"

namespace blindml::circuit {

namespace {

constexpr int64_t kLimit = int64_t{1} << 62;
constexpr __int128 kAccumulatorLimit = static_cast<__int128>(1) << 125;

// A noise linear form: Σ coef·source, sorted by source id.
struct Form {
  std::vector<std::pair<uint32_t, double>> terms;
};

Form scaled(const Form& f, double w) {
  Form r;
  if (w == 0) return r;
  r.terms = f.terms;
  for (auto& t : r.terms) t.second *= w;
  return r;
}

// Σ w_i·f_i, combining equal sources.
Form combine(const std::vector<std::pair<const Form*, double>>& parts) {
  Form r;
  size_t total = 0;
  for (auto& p : parts) total += p.first->terms.size();
  r.terms.reserve(total);
  for (auto& [f, w] : parts)
    if (w != 0)
      for (auto& t : f->terms) r.terms.emplace_back(t.first, t.second * w);
  std::sort(r.terms.begin(), r.terms.end(), [](auto& a, auto& b) { return a.first < b.first; });
  size_t o = 0;
  for (size_t i = 0; i < r.terms.size();) {
    uint32_t s = r.terms[i].first;
    double c = 0;
    while (i < r.terms.size() && r.terms[i].first == s) c += r.terms[i++].second;
    if (c != 0) r.terms[o++] = {s, c};
  }
  r.terms.resize(o);
  return r;
}

uint32_t width_of(int64_t lo, int64_t hi) {
  if (lo >= 0) {
    uint32_t b = 1;
    while (b < 63 && (hi >> b) != 0) ++b;
    return b;
  }
  uint32_t w = 1;
  while (w < 64 && !(lo >= -(int64_t{1} << (w - 1)) && hi < (int64_t{1} << (w - 1)))) ++w;
  return w;
}


std::string label(const Node& node) { return std::string(op_kind_name(node.kind)) + " '" + node.name + "'"; }

struct Pending {
  NoiseConstraint::Kind kind;
  std::string where;
  ValueId node;
  uint32_t read_bits;
  uint32_t shift;  // amplify = P - read_bits - shift (PBS); 0 for decryption
  ValueId read;    // the value whose encoding (its partition's carrier) is read
  double fresh = 0, pbs = 0;
  uint64_t count = 0;
  bool decryption_at_carrier = false;
};

}  // namespace

bool round_is_materialized(const Circuit& circuit, ValueId round_node) {
  for (const Node& n : circuit.nodes())
    for (ValueId i : n.inputs)
      if (i == round_node && n.kind != OpKind::kLookup) return true;
  return false;
}

std::vector<RoundingChunk> rounding_chunks(const Circuit& circuit, ValueId round_node) {
  const Node& r = circuit.node(round_node);
  const uint32_t s = static_cast<uint32_t>(r.attrs[0]);
  uint32_t widest_read = 0;  // the widest lookup reading this rounding
  for (const Node& n : circuit.nodes())
    if (n.kind == OpKind::kLookup && n.inputs[0] == round_node) widest_read = std::max(widest_read, n.input_bits);
  const uint32_t max_chunk = widest_read + 1;
  std::vector<RoundingChunk> chunks;
  if (s <= 2 || max_chunk <= 2) {
    // Two single bits cost what one 2-bit chunk costs, and read with the most margin.
    for (uint32_t j = 0; j < s; ++j) chunks.push_back({j, 1});
    return chunks;
  }
  const uint32_t k = (s + max_chunk - 1) / max_chunk;
  uint32_t at = 0;
  for (uint32_t i = 0; i < k; ++i) {
    const uint32_t c = s / k + (i < s % k ? 1 : 0);
    chunks.push_back({at, c});
    at += c;
  }
  return chunks;
}

namespace {

// The partitions of encoding.h: a union-find over values, joined across leveled ops.
struct Partitions {
  std::vector<ValueId> parent;
  ValueId find(ValueId v) {
    while (parent[v] != v) v = parent[v] = parent[parent[v]];
    return v;
  }
  void join(ValueId a, ValueId b) {
    a = find(a);
    b = find(b);
    if (a != b) parent[std::max(a, b)] = std::min(a, b);
  }
};

Partitions partition(const Circuit& circuit) {
  Partitions p;
  p.parent.resize(circuit.size());
  for (size_t i = 0; i < circuit.size(); ++i) p.parent[i] = static_cast<ValueId>(i);
  std::vector<uint8_t> leveled_consumer(circuit.size(), 0);  // read by something other than a lookup
  for (const Node& n : circuit.nodes())
    if (n.kind != OpKind::kLookup)
      for (ValueId i : n.inputs) leveled_consumer[i] = 1;
  for (size_t id = 0; id < circuit.size(); ++id) {
    const Node& n = circuit.node(static_cast<ValueId>(id));
    switch (n.kind) {
      case OpKind::kInput:
      case OpKind::kLookup:
        break;  // a fresh encryption or a table's output: its encoding is free
      case OpKind::kRound:
        // A materialized rounding's value is its identity lookup's output; otherwise the lookups
        // read its input's ciphertexts.
        if (!leveled_consumer[id]) p.join(static_cast<ValueId>(id), n.inputs[0]);
        break;
      default:
        for (ValueId i : n.inputs) p.join(static_cast<ValueId>(id), i);
    }
  }
  return p;
}

}  // namespace

Result<Analysis> analyze(const Circuit& circuit) {
  BLINDML_RETURN_IF_ERROR(circuit.validate());
  const size_t count = circuit.size();
  Analysis a;
  a.values.resize(count);
  std::vector<std::vector<Form>> forms(count);        // the value's noise per element
  std::vector<std::vector<Form>> fused(count);        // rounds: what a lookup reads (x, or x cleared)
  std::vector<uint32_t> depth(count, 0), fused_depth(count, 0);
  std::vector<uint8_t> source_is_pbs;
  std::vector<Pending> pending;
  Partitions parts = partition(circuit);
  // Per partition (at its root): the carrier it needs, and what needs it (for the error message).
  std::vector<uint32_t> carrier(count, 1);
  std::vector<std::string> widest(count);

  auto new_source = [&](bool pbs) {
    source_is_pbs.push_back(pbs ? 1 : 0);
    return static_cast<uint32_t>(source_is_pbs.size() - 1);
  };
  auto norms = [&](const Form& f, double extra_pbs = 0) {
    double fr = 0, pb = extra_pbs;
    for (auto& [s, c] : f.terms) (source_is_pbs[s] ? pb : fr) += c * c;
    return std::pair<double, double>(fr, pb);
  };
  // Every noise term held, over all forms: a crafted circuit (a sum over many elements gathered
  // into every element of a wide value) would otherwise need gigabytes from a few bytes of blob.
  uint64_t terms_held = 0;
  auto hold = [&](const Form& g) {
    terms_held += g.terms.size();
    return terms_held <= kMaxNoiseTerms;
  };
  auto need_carrier = [&](ValueId member, uint32_t bits, const std::string& what) {
    const ValueId r = parts.find(member);
    if (bits > carrier[r]) {
      carrier[r] = bits;
      widest[r] = what;
    }
  };

  for (size_t id = 0; id < count; ++id) {
    const Node& node = circuit.node(static_cast<ValueId>(id));
    ValueInfo& info = a.values[id];
    const int64_t n = shape_elements(node.shape);
    info.min.resize(n);
    info.max.resize(n);
    auto& f = forms[id];
    f.resize(n);
    auto& in0 = node.inputs.empty() ? info : a.values[node.inputs[0]];
    auto too_many_terms = [&]() {
      return resource_exhausted(label(node) + ": the noise analysis would track more than " +
                                std::to_string(kMaxNoiseTerms) +
                                " terms (the circuit copies wide sums into many elements); refused to bound memory");
    };
    auto range_error = [&]() {
      return invalid_argument(label(node) + ": a value's range leaves ±2^62 (use smaller weights or inputs)");
    };
    uint32_t d_in = 0;
    for (ValueId i : node.inputs) d_in = std::max(d_in, depth[i]);
    depth[id] = d_in;

    switch (node.kind) {
      case OpKind::kInput:
        for (int64_t e = 0; e < n; ++e) {
          info.min[e] = node.range_min.size() == 1 ? node.range_min[0] : node.range_min[e];
          info.max[e] = node.range_max.size() == 1 ? node.range_max[0] : node.range_max[e];
          f[e].terms = {{new_source(false), 1.0}};
          if (!hold(f[e])) return too_many_terms();
        }
        break;
      case OpKind::kAdd:
      case OpKind::kSub: {
        const auto& b = a.values[node.inputs[1]];
        const double sign = node.kind == OpKind::kAdd ? 1.0 : -1.0;
        for (int64_t e = 0; e < n; ++e) {
          __int128 lo = node.kind == OpKind::kAdd ? (__int128)in0.min[e] + b.min[e] : (__int128)in0.min[e] - b.max[e];
          __int128 hi = node.kind == OpKind::kAdd ? (__int128)in0.max[e] + b.max[e] : (__int128)in0.max[e] - b.min[e];
          if (lo <= -kLimit || hi >= kLimit) return range_error();
          info.min[e] = (int64_t)lo;
          info.max[e] = (int64_t)hi;
          f[e] = combine({{&forms[node.inputs[0]][e], 1.0}, {&forms[node.inputs[1]][e], sign}});
          if (!hold(f[e])) return too_many_terms();
        }
        a.leveled_ops += n;
        break;
      }
      case OpKind::kNeg:
        for (int64_t e = 0; e < n; ++e) {
          info.min[e] = -in0.max[e];
          info.max[e] = -in0.min[e];
          f[e] = scaled(forms[node.inputs[0]][e], -1.0);
          if (!hold(f[e])) return too_many_terms();
        }
        a.leveled_ops += n;
        break;
      case OpKind::kAddConst:
      case OpKind::kMulConst:
        for (int64_t e = 0; e < n; ++e) {
          const __int128 c = internal::constant_at(node.constant, e);
          __int128 lo, hi;
          if (node.kind == OpKind::kAddConst) {
            lo = in0.min[e] + c;
            hi = in0.max[e] + c;
            f[e] = forms[node.inputs[0]][e];
            if (!hold(f[e])) return too_many_terms();
          } else {
            __int128 p = in0.min[e] * c, q = in0.max[e] * c;
            lo = std::min(p, q);
            hi = std::max(p, q);
            f[e] = scaled(forms[node.inputs[0]][e], static_cast<double>(c));
            if (!hold(f[e])) return too_many_terms();
          }
          if (lo <= -kLimit || hi >= kLimit) return range_error();
          info.min[e] = (int64_t)lo;
          info.max[e] = (int64_t)hi;
        }
        a.leveled_ops += n;
        break;
      case OpKind::kMatMul: {
        const auto d = internal::matmul_dims(node, circuit.node(node.inputs[0]).shape);
        const auto& w = node.constant.data;
        const auto& xf = forms[node.inputs[0]];
        for (int64_t r = 0; r < d.rows; ++r)
          for (int64_t c = 0; c < d.cols; ++c) {
            __int128 lo = 0, hi = 0;
            std::vector<std::pair<const Form*, double>> parts;
            for (int64_t k = 0; k < d.inner; ++k) {
              const __int128 wk = w[k * d.cols + c];
              const int64_t xi = r * d.inner + k;
              __int128 p = wk * in0.min[xi], q = wk * in0.max[xi];
              lo += std::min(p, q);
              hi += std::max(p, q);
              // Each product is below 2^124 in magnitude: stopping at 2^125 keeps the sums from
              // overflowing __int128 however long the inner dimension (signed overflow is UB).
              if (lo <= -kAccumulatorLimit || hi >= kAccumulatorLimit) return range_error();
              if (wk != 0) parts.emplace_back(&xf[xi], static_cast<double>(wk));
            }
            if (lo <= -kLimit || hi >= kLimit) return range_error();
            info.min[r * d.cols + c] = (int64_t)lo;
            info.max[r * d.cols + c] = (int64_t)hi;
            f[r * d.cols + c] = combine(parts);
            if (!hold(f[r * d.cols + c])) return too_many_terms();
          }
        a.leveled_ops += d.rows * d.inner * d.cols;
        break;
      }
      case OpKind::kSum: {
        auto groups = internal::sum_groups(node, circuit.node(node.inputs[0]).shape);
        for (int64_t e = 0; e < n; ++e) {
          __int128 lo = 0, hi = 0;
          std::vector<std::pair<const Form*, double>> parts;
          for (int64_t i : groups[e]) {
            lo += in0.min[i];
            hi += in0.max[i];
            parts.emplace_back(&forms[node.inputs[0]][i], 1.0);
          }
          if (lo <= -kLimit || hi >= kLimit) return range_error();
          info.min[e] = (int64_t)lo;
          info.max[e] = (int64_t)hi;
          f[e] = combine(parts);
          if (!hold(f[e])) return too_many_terms();
          a.leveled_ops += groups[e].size();
        }
        break;
      }
      case OpKind::kReshape:
      case OpKind::kTranspose:
      case OpKind::kSlice:
      case OpKind::kGather:
      case OpKind::kConcat: {
        auto map = internal::structural_map(circuit, node);
        for (int64_t e = 0; e < n; ++e) {
          const ValueId src = node.inputs[map[e].operand];
          info.min[e] = a.values[src].min[map[e].index];
          info.max[e] = a.values[src].max[map[e].index];
          f[e] = forms[src][map[e].index];
          if (!hold(f[e])) return too_many_terms();
        }
        break;
      }
      case OpKind::kLookup: {
        const ValueId x = node.inputs[0];
        const Node& xn = circuit.node(x);
        const bool from_round = xn.kind == OpKind::kRound;
        const uint32_t s = from_round ? static_cast<uint32_t>(xn.attrs[0]) : 0;
        const int64_t size = int64_t{1} << node.input_bits;
        double fr = 0, pb = 0;
        for (int64_t e = 0; e < n; ++e) {
          const int64_t lo = in0.min[e] - node.input_min, hi = in0.max[e] - node.input_min;
          if (lo < 0 || hi >= size)
            return invalid_argument(label(node) + ": its input ranges over [" + std::to_string(in0.min[e]) + ", " +
                                    std::to_string(in0.max[e]) + "] at element " + std::to_string(e) +
                                    ", beyond the table's domain [" + std::to_string(node.input_min) + ", " +
                                    std::to_string(node.input_min + size - 1) + "]");
          const auto& table = internal::table_for(node, e);
          info.min[e] = *std::min_element(table.begin() + lo, table.begin() + hi + 1);
          info.max[e] = *std::max_element(table.begin() + lo, table.begin() + hi + 1);
          auto [a_fr, a_pb] = norms(from_round ? fused[x][e] : forms[x][e]);
          fr = std::max(fr, a_fr);
          pb = std::max(pb, a_pb);
          f[e].terms = {{new_source(true), 1.0}};
          if (!hold(f[e])) return too_many_terms();
        }
        char where[256];
        std::snprintf(where, sizeof where, "lookup '%s' (%u-bit input%s)", node.name.c_str(), node.input_bits,
                      from_round ? (", rounded from " + std::to_string(s + node.input_bits) + " bits").c_str() : "");
        // Through a rounding, the ciphertexts read are its input's (x + half, cleared when exact).
        const ValueId read = from_round ? xn.inputs[0] : x;
        pending.push_back({NoiseConstraint::Kind::kPbsInput, where, static_cast<ValueId>(id), node.input_bits, s, read,
                           fr, pb, static_cast<uint64_t>(n)});
        need_carrier(read, node.input_bits + s, label(node) + " (its table index" +
                                              (from_round ? std::string(" scaled by the rounding") : "") + ")");
        depth[id] = (from_round ? fused_depth[x] : depth[x]) + 1;
        a.pbs_count += n;
        a.leveled_ops += 2 * n;
        break;
      }
      case OpKind::kRound: {
        const int64_t s = node.attrs[0];
        const bool exact = node.attrs[1] != 0;
        const int64_t half = int64_t{1} << (s - 1);
        const ValueId x = node.inputs[0];
        fused[id].resize(n);
        const std::vector<RoundingChunk> chunks = exact ? rounding_chunks(circuit, static_cast<ValueId>(id))
                                                        : std::vector<RoundingChunk>{};
        uint32_t cleanup_pbs = 0;  // PBS per element that clear the low bits
        for (const auto& ch : chunks) cleanup_pbs += ch.pbs();
        double fr = 0, pb = 0;
        int64_t zlo = INT64_MAX, zhi = INT64_MIN;
        std::vector<std::vector<uint32_t>> extraction_sources(n);
        for (int64_t e = 0; e < n; ++e) {
          info.min[e] = (in0.min[e] + half) >> s;
          info.max[e] = (in0.max[e] + half) >> s;
          zlo = std::min(zlo, in0.min[e] + half);
          zhi = std::max(zhi, in0.max[e] + half);
          if (exact) {
            std::vector<std::pair<const Form*, double>> parts{{&forms[x][e], 1.0}};
            std::vector<Form> bits(cleanup_pbs);
            for (uint32_t j = 0; j < cleanup_pbs; ++j) {
              bits[j].terms = {{new_source(true), 1.0}};
              parts.emplace_back(&bits[j], -1.0);
            }
            fused[id][e] = combine(parts);
            if (!hold(fused[id][e])) return too_many_terms();
          } else {
            fused[id][e] = forms[x][e];
            if (!hold(fused[id][e])) return too_many_terms();
          }
          auto [a_fr, a_pb] = norms(forms[x][e]);
          fr = std::max(fr, a_fr);
          pb = std::max(pb, a_pb);
        }
        fused_depth[id] = depth[x];
        if (exact) {
          // Chunk [j0, j0 + c) of z = x + 2^(s-1) - (the chunks below): its top bit is read at the
          // sign of the torus with the bits below it, c - 1 of them, as margin (encoding.h); then
          // those bits by a (c-1)-bit lookup. The working value carries every earlier PBS output.
          uint32_t done_pbs = 0;
          for (const auto& ch : chunks) {
            const std::string bits_name = ch.bits == 1 ? "extraction of bit " + std::to_string(ch.first_bit)
                                                       : "bits " + std::to_string(ch.first_bit) + ".." +
                                                             std::to_string(ch.first_bit + ch.bits - 1);
            pending.push_back({NoiseConstraint::Kind::kPbsInput,
                               "rounding '" + node.name + "' (exact, " + bits_name + (ch.bits == 1 ? ")" : ": top bit)"),
                               static_cast<ValueId>(id), ch.bits - 1, ch.first_bit, x, fr, pb + done_pbs,
                               static_cast<uint64_t>(n)});
            ++done_pbs;
            if (ch.bits > 1) {
              pending.push_back({NoiseConstraint::Kind::kPbsInput,
                                 "rounding '" + node.name + "' (exact, " + bits_name + ": the bits below the top)",
                                 static_cast<ValueId>(id), ch.bits - 1, ch.first_bit, x, fr, pb + done_pbs,
                                 static_cast<uint64_t>(n)});
              ++done_pbs;
            }
          }
          need_carrier(x, width_of(zlo, zhi), label(node) + " (its input plus half a step)");
          a.pbs_count += cleanup_pbs * n;
          a.leveled_ops += 3 * cleanup_pbs * n;
          fused_depth[id] = depth[x] + cleanup_pbs;
        }
        if (round_is_materialized(circuit, static_cast<ValueId>(id))) {
          // An identity lookup turns the rounded value into an ordinary ciphertext of t.
          int64_t tlo = INT64_MAX, thi = INT64_MIN;
          double ffr = 0, fpb = 0;
          for (int64_t e = 0; e < n; ++e) {
            tlo = std::min(tlo, info.min[e]);
            thi = std::max(thi, info.max[e]);
            auto [a_fr, a_pb] = norms(fused[id][e]);
            ffr = std::max(ffr, a_fr);
            fpb = std::max(fpb, a_pb);
            f[e].terms = {{new_source(true), 1.0}};
            if (!hold(f[e])) return too_many_terms();
          }
          const uint32_t w = encoding::index_bits(thi - tlo);
          pending.push_back({NoiseConstraint::Kind::kPbsInput,
                             "rounding '" + node.name + "' (" + std::to_string(w) + "-bit result, materialized)",
                             static_cast<ValueId>(id), w, static_cast<uint32_t>(s), x, ffr, fpb,
                             static_cast<uint64_t>(n)});
          need_carrier(x, w + static_cast<uint32_t>(s), label(node) + " (materialized)");
          a.pbs_count += n;
          a.leveled_ops += 2 * n;
          depth[id] = fused_depth[id] + 1;
        } else {
          for (int64_t e = 0; e < n; ++e) {
            f[e] = fused[id][e];
            if (!hold(f[e])) return too_many_terms();
          }
          depth[id] = fused_depth[id];
        }
        break;
      }
      case OpKind::kOutput: {
        double fr = 0, pb = 0;
        for (int64_t e = 0; e < n; ++e) {
          info.min[e] = in0.min[e];
          info.max[e] = in0.max[e];
          f[e] = forms[node.inputs[0]][e];
          if (!hold(f[e])) return too_many_terms();
          auto [a_fr, a_pb] = norms(f[e]);
          fr = std::max(fr, a_fr);
          pb = std::max(pb, a_pb);
        }
        Pending p{NoiseConstraint::Kind::kDecryption, "output '" + node.name + "'", static_cast<ValueId>(id), 0, 0,
                  static_cast<ValueId>(id), fr, pb, static_cast<uint64_t>(n)};
        p.decryption_at_carrier = true;
        pending.push_back(p);
        a.pbs_depth = std::max(a.pbs_depth, depth[id]);
        break;
      }
    }
    info.lo = n ? *std::min_element(info.min.begin(), info.min.end()) : 0;
    info.hi = n ? *std::max_element(info.max.begin(), info.max.end()) : 0;
    info.bits = width_of(info.lo, info.hi);
    info.is_signed = info.lo < 0;
    need_carrier(static_cast<ValueId>(id), info.bits, label(node));
  }
  uint32_t widest_carrier = 1;
  for (size_t id = 0; id < count; ++id) {
    const ValueId r = parts.find(static_cast<ValueId>(id));
    if (carrier[r] > kMaxCarrierBits)
      return non_conformant(widest[r] + " needs " + std::to_string(carrier[r]) + " bits, beyond the " +
                            std::to_string(kMaxCarrierBits) +
                            " bits a ciphertext can carry: round it (or the values feeding it) to fewer bits, or lower "
                            "the precision of its inputs and weights");
    a.values[id].carrier_bits = carrier[r];
    widest_carrier = std::max(widest_carrier, carrier[r]);
  }
  a.carrier_bits = widest_carrier;
  a.noise_terms = terms_held;
  a.keyswitch_count = a.pbs_count;
  for (auto& p : pending) {
    NoiseConstraint c;
    c.kind = p.kind;
    c.where = p.where;
    c.node = p.node;
    c.fresh_norm2 = p.fresh;
    c.pbs_norm2 = p.pbs;
    c.count = p.count;
    const uint32_t P = a.values[p.read].carrier_bits;
    if (p.decryption_at_carrier) {
      c.read_bits = P;
      c.amplify_log2 = 0;
    } else {
      c.read_bits = p.read_bits;
      // shift holds s for lookups and materialized roundings, j for the extraction of bit j.
      c.amplify_log2 = encoding::lookup_shift(P, p.read_bits, p.shift);
      a.max_lookup_bits = std::max(a.max_lookup_bits, p.read_bits);
    }
    a.constraints.push_back(std::move(c));
  }
  return a;
}

std::string describe(const Circuit& circuit, const Analysis& a) {
  std::string s;
  char line[512];
  for (size_t id = 0; id < circuit.size(); ++id) {
    const Node& n = circuit.node(static_cast<ValueId>(id));
    const ValueInfo& v = a.values[id];
    std::snprintf(line, sizeof line, "  %%%-4zu %-10s %-20s %-14s [%lld, %lld] %u bits %s\n", id, op_kind_name(n.kind),
                  n.name.c_str(), shape_to_string(n.shape).c_str(), static_cast<long long>(v.lo),
                  static_cast<long long>(v.hi), v.bits, v.is_signed ? "signed" : "unsigned");
    s += line;
  }
  std::snprintf(line, sizeof line,
                "  carrier: %u bits (Δ = 2^%u); PBS: %llu (depth %u); leveled ops: %llu; largest lookup input: %u bits\n",
                a.carrier_bits, 63 - a.carrier_bits, static_cast<unsigned long long>(a.pbs_count), a.pbs_depth,
                static_cast<unsigned long long>(a.leveled_ops), a.max_lookup_bits);
  s += line;
  for (const auto& c : a.constraints) {
    std::snprintf(line, sizeof line, "  reads %-60s %2u bits, x2^%-2u, norm² fresh %.3g pbs %.3g, %llu ct\n",
                  c.where.c_str(), c.read_bits, c.amplify_log2, c.fresh_norm2, c.pbs_norm2,
                  static_cast<unsigned long long>(c.count));
    s += line;
  }
  return s;
}

}  // namespace blindml::circuit
