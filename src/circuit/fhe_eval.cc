#include "blindml/circuit/fhe_eval.h"

#include <optional>

#include "blindml/circuit/encoding.h"
#include "blindml/crypto/algorithms.h"
#include "internal/index_maps.h"

namespace blindml::circuit {

namespace {

using crypto::LweCiphertextList;

// acc += w · x over whole ciphertexts (torus arithmetic wraps).
inline void axpy(std::span<uint64_t> acc, std::span<const uint64_t> x, int64_t w) {
  const uint64_t uw = static_cast<uint64_t>(w);
  uint64_t* __restrict a = acc.data();
  const uint64_t* __restrict b = x.data();
  for (size_t i = 0; i < acc.size(); ++i) a[i] += uw * b[i];
}

inline void copy_ct(std::span<uint64_t> dst, std::span<const uint64_t> src) {
  std::copy(src.begin(), src.end(), dst.begin());
}

}  // namespace

struct FheEvaluator::State {
  explicit State(const crypto::ParameterSet& p) : params(p) {}
  Circuit circuit;
  Analysis analysis;
  crypto::ParameterSet params;
  uint32_t carrier = 0;
  std::vector<crypto::LookupTable> luts;
  std::vector<uint32_t> lut_base;         // per node: index of its first table in luts
  std::vector<uint8_t> materialized;      // per round node
  // Per exact round node: its clearing steps in order (a chunk's top-bit sign read, then the
  // lookup of the bits below it), each with its table.
  struct Step {
    uint32_t first_bit, bits;
    bool sign;
    uint32_t lut;
  };
  std::vector<std::vector<Step>> steps;
  std::vector<int64_t> identity_min;      // per materialized round: smallest t
  std::vector<uint32_t> identity_bits;    // per materialized round: index width

  // P of a value's ciphertexts, and of what lookups read through a rounding (its input's).
  uint32_t P(ValueId v) const { return analysis.values[v].carrier_bits; }
  uint32_t read_P(ValueId v) const {
    const Node& n = circuit.node(v);
    return n.kind == OpKind::kRound ? P(n.inputs[0]) : P(v);
  }
};

FheEvaluator::FheEvaluator(std::unique_ptr<State> state) : state_(std::move(state)) {}
FheEvaluator::FheEvaluator(FheEvaluator&&) noexcept = default;
FheEvaluator& FheEvaluator::operator=(FheEvaluator&&) noexcept = default;
FheEvaluator::~FheEvaluator() = default;

const Circuit& FheEvaluator::circuit() const { return state_->circuit; }
const Analysis& FheEvaluator::analysis() const { return state_->analysis; }
uint32_t FheEvaluator::carrier_bits() const { return state_->carrier; }
bool FheEvaluator::needs_bootstrapping() const { return state_->analysis.needs_bootstrapping(); }

Result<FheEvaluator> FheEvaluator::create(const Circuit& circuit, const crypto::ParameterSet& params,
                                          uint32_t carrier_bits) {
  BLINDML_RETURN_IF_ERROR(crypto::check_structure(params));
  BLINDML_ASSIGN_OR_RETURN(Analysis analysis, analyze(circuit));
  if (carrier_bits < analysis.carrier_bits || carrier_bits > kMaxCarrierBits)
    return invalid_argument("carrier of " + std::to_string(carrier_bits) + " bits, but the circuit needs " +
                            std::to_string(analysis.carrier_bits) + " (at most " + std::to_string(kMaxCarrierBits) +
                            ")");
  auto st = std::make_unique<State>(params);
  st->circuit = circuit;
  st->carrier = carrier_bits;
  const uint64_t n_poly = params.polynomial_size.value;
  const size_t count = circuit.size();
  st->lut_base.assign(count, 0);
  st->materialized.assign(count, 0);
  st->identity_min.assign(count, 0);
  st->identity_bits.assign(count, 0);
  st->steps.assign(count, {});
  auto fits = [&](uint32_t bits, const Node& node) -> Status {
    if (n_poly < (uint64_t{2} << bits))
      return non_conformant(std::string(op_kind_name(node.kind)) + " '" + node.name + "' reads " +
                            std::to_string(bits) + " bits, more than polynomial size " + std::to_string(n_poly) +
                            " can hold (N >= 2^(bits+1))");
    return Status();
  };
  for (size_t id = 0; id < count; ++id) {
    const Node& node = circuit.node(static_cast<ValueId>(id));
    if (node.kind == OpKind::kLookup) {
      BLINDML_RETURN_IF_ERROR(fits(node.input_bits, node));
      st->lut_base[id] = static_cast<uint32_t>(st->luts.size());
      for (const auto& table : node.tables) {
        std::vector<uint64_t> enc(table.size());
        for (size_t i = 0; i < table.size(); ++i) enc[i] = encoding::encode(table[i], analysis.values[id].carrier_bits);
        st->luts.push_back(crypto::make_lookup_table_encoded(enc, node.input_bits, params.polynomial_size));
      }
    } else if (node.kind == OpKind::kRound) {
      if (node.attrs[1]) {
        // Bit extraction j: a constant table; the rotation's sign carries the bit.
        const uint32_t Px = analysis.values[node.inputs[0]].carrier_bits;
        for (const auto& ch : rounding_chunks(circuit, static_cast<ValueId>(id))) {
          BLINDML_RETURN_IF_ERROR(fits(ch.bits - 1, node));
          st->steps[id].push_back({ch.first_bit, ch.bits, true, static_cast<uint32_t>(st->luts.size())});
          const uint64_t top = encoding::extraction_table_entry(Px, ch.first_bit + ch.bits - 1);
          st->luts.emplace_back(params.polynomial_size, 0, std::vector<uint64_t>(n_poly, top));
          if (ch.bits > 1) {
            st->steps[id].push_back({ch.first_bit, ch.bits, false, static_cast<uint32_t>(st->luts.size())});
            std::vector<uint64_t> enc(size_t{1} << (ch.bits - 1));
            for (size_t m = 0; m < enc.size(); ++m) enc[m] = encoding::chunk_rest_entry(m, Px, ch.first_bit);
            st->luts.push_back(crypto::make_lookup_table_encoded(enc, ch.bits - 1, params.polynomial_size));
          }
        }
      }
      if (round_is_materialized(circuit, static_cast<ValueId>(id))) {
        st->materialized[id] = 1;
        const ValueInfo& v = analysis.values[id];
        const uint32_t w = std::max<uint32_t>(1, [&] {
          uint32_t b = 1;
          while (b < 62 && ((v.hi - v.lo) >> b) != 0) ++b;
          return b;
        }());
        BLINDML_RETURN_IF_ERROR(fits(w, node));
        st->identity_min[id] = v.lo;
        st->identity_bits[id] = w;
        st->lut_base[id] = static_cast<uint32_t>(st->luts.size());
        std::vector<uint64_t> enc(size_t{1} << w);
        for (size_t i = 0; i < enc.size(); ++i) enc[i] = encoding::encode(v.lo + static_cast<int64_t>(i), v.carrier_bits);
        st->luts.push_back(crypto::make_lookup_table_encoded(enc, w, params.polynomial_size));
      }
    }
  }
  st->analysis = std::move(analysis);
  return FheEvaluator(std::move(st));
}

Result<std::vector<EncryptedTensor>> FheEvaluator::evaluate(std::vector<EncryptedTensor> inputs,
                                                            const crypto::EvaluationKeys* keys,
                                                            ThreadPool& pool) const {
  const State& st = *state_;
  const Circuit& circuit = st.circuit;
  const size_t count = circuit.size();
  const crypto::LweDimension dim = st.params.big_lwe_dimension();
  if (inputs.size() != circuit.inputs().size())
    return invalid_argument("the circuit takes " + std::to_string(circuit.inputs().size()) + " encrypted inputs, got " +
                            std::to_string(inputs.size()));
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Node& node = circuit.node(circuit.inputs()[i]);
    if (inputs[i].shape != node.shape ||
        inputs[i].ciphertexts.count() != static_cast<uint64_t>(shape_elements(node.shape)) ||
        inputs[i].ciphertexts.dimension() != dim)
      return invalid_argument("encrypted input '" + node.name + "' must have shape " + shape_to_string(node.shape) +
                              " and dimension " + std::to_string(dim.value) + ", got " +
                              shape_to_string(inputs[i].shape) + " of dimension " +
                              std::to_string(inputs[i].ciphertexts.dimension().value));
  }
  if (st.analysis.needs_bootstrapping()) {
    if (keys == nullptr) return invalid_argument("this circuit has table lookups: it needs evaluation keys");
    if (crypto::fingerprint(keys->parameters()) != crypto::fingerprint(st.params))
      return invalid_argument("the evaluation keys were made for other parameters (fingerprint " +
                              crypto::fingerprint_hex(keys->parameters()) + ", expected " +
                              crypto::fingerprint_hex(st.params) + ")");
  }

  // vals: a node's value; fused: what lookups read from a rounding; work: an exact rounding's
  // value while its low bits are being cleared (step[id] of them so far).
  std::vector<std::optional<LweCiphertextList>> vals(count), fused(count), work(count);
  std::vector<uint32_t> step(count, 0);
  std::vector<uint8_t> done(count, 0);
  size_t next_input = 0;
  auto operand_ready = [&](bool for_lookup, ValueId v) {
    if (for_lookup && circuit.node(v).kind == OpKind::kRound) return fused[v].has_value();
    return vals[v].has_value();
  };

  // One PBS of a wave: which node and element, which table.
  struct Job {
    ValueId node;
    int64_t element;
    uint32_t lut;
  };
  size_t remaining = count;
  while (remaining > 0) {
    // Leveled ops, in topological order, as far as their operands are ready.
    for (size_t id = 0; id < count; ++id) {
      if (done[id]) continue;
      const Node& node = circuit.node(static_cast<ValueId>(id));
      const int64_t n = shape_elements(node.shape);
      if (node.kind == OpKind::kLookup) continue;
      if (node.kind == OpKind::kRound) {
        const ValueId x = node.inputs[0];
        if (!fused[id] && !work[id] && vals[x]) {
          LweCiphertextList z = *vals[x];
          if (node.attrs[1]) {
            const uint64_t half = encoding::rounding_half(st.P(x), static_cast<uint32_t>(node.attrs[0]));
            for (int64_t e = 0; e < n; ++e) crypto::add_plain_inplace(z.at(e), half);
            work[id] = std::move(z);
          } else {
            fused[id] = std::move(z);
          }
        }
        if (fused[id] && !st.materialized[id]) {
          done[id] = 1;
          --remaining;
        }
        continue;
      }
      bool ok = true;
      for (ValueId v : node.inputs) ok = ok && operand_ready(false, v);
      if (!ok) continue;
      if (node.kind == OpKind::kOutput) {
        vals[id] = *vals[node.inputs[0]];
        done[id] = 1;
        --remaining;
        continue;
      }
      LweCiphertextList out(dim, static_cast<uint64_t>(n));
      auto in = [&](size_t i) -> const LweCiphertextList& { return *vals[node.inputs[i]]; };
      switch (node.kind) {
        case OpKind::kInput:
          out = std::move(inputs[next_input++].ciphertexts);
          break;
        case OpKind::kAdd:
        case OpKind::kSub:
          for (int64_t e = 0; e < n; ++e) {
            copy_ct(out.at(e), in(0).at(e));
            if (node.kind == OpKind::kAdd) {
              crypto::add_inplace(out.at(e), in(1).at(e));
            } else {
              crypto::sub_inplace(out.at(e), in(1).at(e));
            }
          }
          break;
        case OpKind::kNeg:
          for (int64_t e = 0; e < n; ++e) {
            copy_ct(out.at(e), in(0).at(e));
            crypto::negate_inplace(out.at(e));
          }
          break;
        case OpKind::kAddConst:
          for (int64_t e = 0; e < n; ++e) {
            copy_ct(out.at(e), in(0).at(e));
            crypto::add_plain_inplace(out.at(e), encoding::encode(internal::constant_at(node.constant, e), st.P(static_cast<ValueId>(id))));
          }
          break;
        case OpKind::kMulConst:
          for (int64_t e = 0; e < n; ++e) {
            copy_ct(out.at(e), in(0).at(e));
            crypto::mul_scalar_inplace(out.at(e), internal::constant_at(node.constant, e));
          }
          break;
        case OpKind::kMatMul: {
          const auto d = internal::matmul_dims(node, circuit.node(node.inputs[0]).shape);
          const auto& w = node.constant.data;
          for (int64_t r = 0; r < d.rows; ++r)
            for (int64_t c = 0; c < d.cols; ++c)
              for (int64_t k = 0; k < d.inner; ++k)
                if (int64_t wk = w[k * d.cols + c]; wk != 0) axpy(out.at(r * d.cols + c), in(0).at(r * d.inner + k), wk);
          break;
        }
        case OpKind::kSum: {
          auto groups = internal::sum_groups(node, circuit.node(node.inputs[0]).shape);
          for (int64_t e = 0; e < n; ++e)
            for (int64_t i : groups[e]) crypto::add_inplace(out.at(e), in(0).at(i));
          break;
        }
        case OpKind::kReshape:
        case OpKind::kTranspose:
        case OpKind::kSlice:
        case OpKind::kGather:
        case OpKind::kConcat: {
          auto map = internal::structural_map(circuit, node);
          for (int64_t e = 0; e < n; ++e) copy_ct(out.at(e), vals[node.inputs[map[e].operand]]->at(map[e].index));
          break;
        }
        default:
          return internal_error("unexpected op in the leveled pass");
      }
      vals[id] = std::move(out);
      done[id] = 1;
      --remaining;
    }
    if (remaining == 0) break;

    // Every PBS whose input is ready, as one batch.
    std::vector<Job> jobs;
    for (size_t id = 0; id < count; ++id) {
      if (done[id]) continue;
      const Node& node = circuit.node(static_cast<ValueId>(id));
      const int64_t n = shape_elements(node.shape);
      const ValueId vid = static_cast<ValueId>(id);
      if (node.kind == OpKind::kLookup && operand_ready(true, node.inputs[0])) {
        for (int64_t e = 0; e < n; ++e)
          jobs.push_back({vid, e, st.lut_base[id] + (node.table_index.empty() ? 0 : node.table_index[e])});
      } else if (node.kind == OpKind::kRound && work[id]) {
        for (int64_t e = 0; e < n; ++e) jobs.push_back({vid, e, st.steps[id][step[id]].lut});
      } else if (node.kind == OpKind::kRound && fused[id] && st.materialized[id] && !vals[id]) {
        for (int64_t e = 0; e < n; ++e) jobs.push_back({vid, e, st.lut_base[id]});
      }
    }
    if (jobs.empty()) return internal_error("the FHE evaluation stalled with " + std::to_string(remaining) + " ops left");

    // Prepare each PBS input: the value moved so that its read bits sit under the padding bit.
    LweCiphertextList pbs_in(dim, jobs.size()), pbs_out(dim, jobs.size());
    std::vector<uint32_t> lut_index(jobs.size());
    for (size_t j = 0; j < jobs.size(); ++j) {
      const Job& job = jobs[j];
      const Node& node = circuit.node(job.node);
      auto dst = pbs_in.at(j);
      lut_index[j] = job.lut;
      if (node.kind == OpKind::kLookup) {
        const ValueId x = node.inputs[0];
        const Node& xn = circuit.node(x);
        const uint32_t P = st.read_P(x);
        const bool from_round = xn.kind == OpKind::kRound;
        const uint32_t s = from_round ? static_cast<uint32_t>(xn.attrs[0]) : 0;
        copy_ct(dst, (from_round ? fused[x] : vals[x])->at(job.element));
        crypto::add_plain_inplace(dst, encoding::lookup_offset(node.input_min, P, s, from_round && !xn.attrs[1]));
        crypto::mul_scalar_inplace(dst, int64_t{1} << encoding::lookup_shift(P, node.input_bits, s));
      } else if (work[job.node]) {
        // Bit j of the working value to the top bit, plus a quarter turn.
        const uint32_t P = st.read_P(job.node);
        const State::Step& sp = st.steps[job.node][step[job.node]];
        copy_ct(dst, work[job.node]->at(job.element));
        crypto::mul_scalar_inplace(dst, int64_t{1} << encoding::chunk_shift(P, sp.first_bit, sp.bits));
        if (sp.sign) crypto::add_plain_inplace(dst, encoding::chunk_sign_offset(sp.bits));
      } else {
        const uint32_t P = st.read_P(job.node);
        const uint32_t s = static_cast<uint32_t>(node.attrs[0]);
        copy_ct(dst, fused[job.node]->at(job.element));
        crypto::add_plain_inplace(dst, encoding::lookup_offset(st.identity_min[job.node], P, s, !node.attrs[1]));
        crypto::mul_scalar_inplace(dst, int64_t{1} << encoding::lookup_shift(P, st.identity_bits[job.node], s));
      }
    }
    crypto::programmable_bootstrap_batch(*keys, pbs_in, st.luts, lut_index, pbs_out, pool);

    // Distribute the results.
    std::vector<uint8_t> touched(count, 0);
    for (size_t j = 0; j < jobs.size(); ++j) {
      const Job& job = jobs[j];
      const Node& node = circuit.node(job.node);
      touched[job.node] = 1;
      if (node.kind == OpKind::kLookup || !work[job.node]) {
        if (!vals[job.node]) vals[job.node].emplace(dim, static_cast<uint64_t>(shape_elements(node.shape)));
        copy_ct(vals[job.node]->at(job.element), pbs_out.at(j));
      } else {
        // Top bit: ±2^(j-1)Δ + 2^(j-1)Δ = bit·2^j·Δ; the rest: its bits at their place. Both are
        // removed from the working value.
        const State::Step& sp = st.steps[job.node][step[job.node]];
        auto bit = pbs_out.at(j);
        if (sp.sign)
          crypto::add_plain_inplace(bit, encoding::extraction_correction(st.read_P(job.node), sp.first_bit + sp.bits - 1));
        crypto::sub_inplace(work[job.node]->at(job.element), bit);
      }
    }
    for (size_t id = 0; id < count; ++id) {
      if (!touched[id]) continue;
      const Node& node = circuit.node(static_cast<ValueId>(id));
      if (node.kind == OpKind::kLookup) {
        done[id] = 1;
        --remaining;
      } else if (work[id]) {
        if (++step[id] == st.steps[id].size()) {
          fused[id] = std::move(work[id]);
          work[id].reset();
          if (!st.materialized[id]) {
            done[id] = 1;
            --remaining;
          }
        }
      } else {
        done[id] = 1;  // materialized rounding
        --remaining;
      }
    }
  }
  std::vector<EncryptedTensor> outs;
  for (ValueId o : circuit.outputs()) outs.push_back(EncryptedTensor{circuit.node(o).shape, std::move(*vals[o])});
  return outs;
}

EncryptedTensor encrypt_tensor(const crypto::ClientKey& key, const Tensor& values, uint32_t carrier_bits) {
  auto seeded = crypto::encrypt_seeded(key, values.data, carrier_bits);
  return EncryptedTensor{values.shape, crypto::expand_seeded_lwe_list(seeded)};
}

Tensor decrypt_tensor(const crypto::ClientKey& key, const EncryptedTensor& ct, uint32_t carrier_bits,
                      bool is_signed) {
  Tensor t{ct.shape, std::vector<int64_t>(ct.ciphertexts.count())};
  for (uint64_t i = 0; i < ct.ciphertexts.count(); ++i)
    t.data[i] = crypto::decrypt(key, ct.ciphertexts.at(i), carrier_bits, is_signed);
  return t;
}

}  // namespace blindml::circuit
