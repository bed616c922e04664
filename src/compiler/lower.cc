#include "blindml/compiler/lower.h"

#include <algorithm>
#include <map>
#include <numeric>
#include <optional>
#include <queue>

#include "blindml/circuit/encoding.h"
#include "blindml/crypto/algorithms.h"
#include "circuit/internal/index_maps.h"

namespace blindml::compiler {

namespace {

using circuit::Node;
using circuit::OpKind;
using circuit::ValueId;
using runtime::LeveledStep;
using runtime::PbsJob;
using runtime::SlotId;
using runtime::Wave;
using Kind = LeveledStep::Kind;
namespace enc = circuit::encoding;

constexpr uint64_t kForever = UINT64_MAX;

std::string label(const Node& node) { return std::string(circuit::op_kind_name(node.kind)) + " '" + node.name + "'"; }


// The circuit being lowered: virtual slots (one per value element; an exact rounding's working
// value is one slot updated in place) with the time of their definition and of their last read,
// on a clock that ticks once per leveled step and twice per PBS phase (inputs read, outputs
// written).
class Lowering {
 public:
  Lowering(const circuit::Circuit& c, const circuit::Analysis& a, const crypto::ParameterSet& p)
      : c_(c), a_(a), params_(p), n_(c.size()), parts_{p, {}, {}, {}, {}, 0} {}

  Result<runtime::Program> run();

 private:
  uint32_t carrier(ValueId v) const { return a_.values[v].carrier_bits; }
  Status check();
  Status prepare_tables();
  Status schedule();
  void leveled_pass(Wave& wave);
  std::vector<size_t> pbs_pass(Wave& wave);
  SlotId read_job(Wave& wave, SlotId input, uint64_t offset, uint32_t shift, uint32_t table, uint64_t t_read,
                  uint64_t t_write);
  void finish(size_t id) {
    done_[id] = 1;
    --remaining_;
  }
  void leveled(const Node& node, ValueId id, Wave& wave);
  SlotId fresh(uint64_t t) {
    def_.push_back(t);
    last_.push_back(t);
    return static_cast<SlotId>(def_.size() - 1);
  }
  void use(SlotId s, uint64_t t) { last_[s] = std::max(last_[s], t); }
  // A step defining a new slot.
  SlotId def(Wave& w, Kind kind, SlotId a, SlotId b = 0, int64_t scalar = 0, uint64_t plain = 0) {
    const uint64_t t = clock_++;
    if (kind != Kind::kZero) use(a, t);
    if (kind == Kind::kAdd || kind == Kind::kSub) use(b, t);
    const SlotId d = fresh(t);
    w.steps.push_back(LeveledStep{kind, d, kind == Kind::kZero ? d : a, kind == Kind::kAdd || kind == Kind::kSub ? b : d,
                                  scalar, plain});
    return d;
  }
  void axpy(Wave& w, SlotId dst, SlotId a, int64_t scalar) {
    const uint64_t t = clock_++;
    use(dst, t);
    use(a, t);
    w.steps.push_back(LeveledStep{Kind::kAxpy, dst, a, dst, scalar, 0});
  }
  uint32_t table(uint32_t bits, std::vector<uint64_t> encoded);
  uint32_t extraction_table(uint32_t carrier, uint32_t bit);
  void allocate();

  const circuit::Circuit& c_;
  const circuit::Analysis& a_;
  const crypto::ParameterSet& params_;
  const size_t n_;
  std::vector<uint8_t> materialized_;
  std::vector<std::vector<uint32_t>> lut_;  // per lookup: its tables; per materialized rounding: {identity}
  std::vector<uint32_t> identity_bits_;
  std::map<std::pair<uint32_t, std::vector<uint64_t>>, uint32_t> table_ids_;
  std::map<std::pair<uint32_t, uint32_t>, uint32_t> extraction_ids_;
  runtime::Program::Parts parts_;
  std::vector<uint64_t> def_, last_;
  uint64_t clock_ = 1;
  std::vector<std::vector<SlotId>> val_, fused_, work_;
  std::vector<uint8_t> has_val_, has_fused_, has_work_, done_;
  std::vector<uint32_t> extracted_;  // clearing steps of an exact rounding done so far
  // Per exact rounding: its clearing steps (circuit::rounding_chunks: a chunk's top-bit sign read,
  // then the lookup of the bits below it when it has more than one).
  struct ClearStep {
    uint32_t first_bit, bits;
    bool sign;
    uint32_t table;
  };
  std::vector<std::vector<ClearStep>> clear_steps_;
  size_t remaining_ = 0;             // nodes not yet lowered
};

Status Lowering::check() {
  if (a_.values.size() != n_)
    return invalid_argument("the analysis describes " + std::to_string(a_.values.size()) + " values, the circuit has " +
                            std::to_string(n_));
  const uint64_t poly = params_.polynomial_size.value;
  auto fits = [&](uint32_t bits, const Node& node) -> Status {
    if (bits > 30 || poly < (uint64_t{2} << bits))
      return non_conformant(label(node) + " reads " + std::to_string(bits) + " bits, more than polynomial size " +
                            std::to_string(poly) + " can hold (N >= 2^(bits+1))");
    return Status();
  };
  auto narrow = [&](const Node& node, uint32_t need, uint32_t have) {
    return invalid_argument(label(node) + " needs a carrier of " + std::to_string(need) + " bits, the analysis gives " +
                            std::to_string(have) + " (at most " + std::to_string(circuit::kMaxCarrierBits) + ")");
  };
  materialized_.assign(n_, 0);
  identity_bits_.assign(n_, 0);
  for (size_t id = 0; id < n_; ++id) {
    const Node& node = c_.node(static_cast<ValueId>(id));
    const auto& info = a_.values[id];
    const uint32_t p = info.carrier_bits;
    if (info.min.size() != static_cast<size_t>(circuit::shape_elements(node.shape)))
      return invalid_argument(label(node) + ": the analysis is of another circuit");
    const bool round = node.kind == OpKind::kRound;
    if (round) materialized_[id] = circuit::round_is_materialized(c_, static_cast<ValueId>(id)) ? 1 : 0;
    if ((!round || materialized_[id]) && (p == 0 || p > circuit::kMaxCarrierBits || info.bits > p))
      return narrow(node, info.bits, p);
    switch (node.kind) {
      case OpKind::kInput:
        break;
      case OpKind::kLookup: {
        BLINDML_RETURN_IF_ERROR(fits(node.input_bits, node));
        const Node& xn = c_.node(node.inputs[0]);
        const bool from_round = xn.kind == OpKind::kRound;
        const ValueId read = from_round ? xn.inputs[0] : node.inputs[0];
        const uint32_t s = from_round ? static_cast<uint32_t>(xn.attrs[0]) : 0;
        if (node.input_bits + s > carrier(read) || carrier(read) > circuit::kMaxCarrierBits)
          return narrow(node, node.input_bits + s, carrier(read));
        break;
      }
      case OpKind::kRound: {
        const ValueId x = node.inputs[0];
        const uint32_t px = carrier(x), s = static_cast<uint32_t>(node.attrs[0]);
        if (px == 0 || px > circuit::kMaxCarrierBits || s >= px) return narrow(node, s + 1, px);
        if (materialized_[id]) {
          const uint32_t w = enc::index_bits(info.hi - info.lo);
          BLINDML_RETURN_IF_ERROR(fits(w, node));
          if (w + s > px) return narrow(node, w + s, px);
          identity_bits_[id] = w;
        }
        break;
      }
      default:
        // Leveled ops and outputs: operands and result in one encoding (encoding.h).
        for (ValueId i : node.inputs)
          if (carrier(i) != p)
            return invalid_argument(label(node) + ": its operand %" + std::to_string(i) + " is encoded with P = " +
                                    std::to_string(carrier(i)) + " and its result with P = " + std::to_string(p) +
                                    "; leveled ops need one carrier");
        break;
    }
  }
  return Status();
}

uint32_t Lowering::table(uint32_t bits, std::vector<uint64_t> encoded) {
  auto key = std::make_pair(bits, std::move(encoded));
  auto it = table_ids_.find(key);
  if (it != table_ids_.end()) return it->second;
  const uint32_t id = static_cast<uint32_t>(parts_.tables.size());
  parts_.tables.push_back(crypto::make_lookup_table_encoded(key.second, bits, params_.polynomial_size));
  table_ids_.emplace(std::move(key), id);
  return id;
}

// Bit extraction j at carrier P: a constant table; the rotation's sign carries the bit.
uint32_t Lowering::extraction_table(uint32_t p, uint32_t bit) {
  auto [it, inserted] = extraction_ids_.try_emplace({p, bit}, static_cast<uint32_t>(parts_.tables.size()));
  if (inserted)
    parts_.tables.emplace_back(params_.polynomial_size, 0,
                               std::vector<uint64_t>(params_.polynomial_size.value, enc::extraction_table_entry(p, bit)));
  return it->second;
}

Status Lowering::prepare_tables() {
  lut_.assign(n_, {});
  clear_steps_.assign(n_, {});
  for (size_t id = 0; id < n_; ++id) {
    const Node& node = c_.node(static_cast<ValueId>(id));
    const uint32_t p = carrier(static_cast<ValueId>(id));
    if (node.kind == OpKind::kLookup) {
      for (const auto& t : node.tables) {
        std::vector<uint64_t> e(t.size());
        for (size_t i = 0; i < t.size(); ++i) e[i] = enc::encode(t[i], p);
        lut_[id].push_back(table(node.input_bits, std::move(e)));
      }
    }
    if (node.kind == OpKind::kRound && node.attrs[1]) {
      const uint32_t px = carrier(node.inputs[0]);
      for (const auto& ch : circuit::rounding_chunks(c_, static_cast<ValueId>(id))) {
        if (params_.polynomial_size.value < (uint64_t{1} << ch.bits))
          return non_conformant(label(node) + " clears " + std::to_string(ch.bits) +
                                " bits at once, more than polynomial size " +
                                std::to_string(params_.polynomial_size.value) + " can read");
        clear_steps_[id].push_back({ch.first_bit, ch.bits, true, extraction_table(px, ch.first_bit + ch.bits - 1)});
        if (ch.bits > 1) {
          std::vector<uint64_t> e(size_t{1} << (ch.bits - 1));
          for (size_t m = 0; m < e.size(); ++m) e[m] = enc::chunk_rest_entry(m, px, ch.first_bit);
          clear_steps_[id].push_back({ch.first_bit, ch.bits, false, table(ch.bits - 1, std::move(e))});
        }
      }
    }
    if (node.kind == OpKind::kRound && materialized_[id]) {
      const int64_t lo = a_.values[id].lo;
      std::vector<uint64_t> e(size_t{1} << identity_bits_[id]);
      for (size_t i = 0; i < e.size(); ++i) e[i] = enc::encode(lo + static_cast<int64_t>(i), p);
      lut_[id].push_back(table(identity_bits_[id], std::move(e)));
    }
  }
  return Status();
}

void Lowering::leveled(const Node& node, ValueId id, Wave& wave) {
  const int64_t n = circuit::shape_elements(node.shape);
  auto& out = val_[id];
  auto in = [&](size_t i) -> const std::vector<SlotId>& { return val_[node.inputs[i]]; };
  const uint32_t p = carrier(id);
  switch (node.kind) {
    case OpKind::kInput:
      for (int64_t e = 0; e < n; ++e) out.push_back(fresh(0));
      break;
    case OpKind::kOutput:
      out = in(0);
      break;
    case OpKind::kAdd:
    case OpKind::kSub:
      for (int64_t e = 0; e < n; ++e)
        out.push_back(def(wave, node.kind == OpKind::kAdd ? Kind::kAdd : Kind::kSub, in(0)[e], in(1)[e]));
      break;
    case OpKind::kNeg:
      for (int64_t e = 0; e < n; ++e) out.push_back(def(wave, Kind::kNeg, in(0)[e]));
      break;
    case OpKind::kAddConst:
      for (int64_t e = 0; e < n; ++e)
        out.push_back(def(wave, Kind::kAddPlain, in(0)[e], 0, 0,
                          enc::encode(circuit::internal::constant_at(node.constant, e), p)));
      break;
    case OpKind::kMulConst:
      for (int64_t e = 0; e < n; ++e)
        out.push_back(def(wave, Kind::kMulScalar, in(0)[e], 0, circuit::internal::constant_at(node.constant, e)));
      break;
    case OpKind::kMatMul: {
      const auto d = circuit::internal::matmul_dims(node, c_.node(node.inputs[0]).shape);
      const auto& w = node.constant.data;
      out.resize(n);
      for (int64_t r = 0; r < d.rows; ++r)
        for (int64_t col = 0; col < d.cols; ++col) {
          std::optional<SlotId> acc;
          for (int64_t k = 0; k < d.inner; ++k) {
            const int64_t wk = w[k * d.cols + col];
            if (wk == 0) continue;
            const SlotId x = in(0)[r * d.inner + k];
            if (acc) {
              axpy(wave, *acc, x, wk);
            } else {
              acc = def(wave, Kind::kMulScalar, x, 0, wk);
            }
          }
          out[r * d.cols + col] = acc ? *acc : def(wave, Kind::kZero, 0);
        }
      break;
    }
    case OpKind::kSum: {
      const auto groups = circuit::internal::sum_groups(node, c_.node(node.inputs[0]).shape);
      for (int64_t e = 0; e < n; ++e) {
        if (groups[e].empty()) {
          out.push_back(def(wave, Kind::kZero, 0));
          continue;
        }
        const SlotId acc = def(wave, Kind::kCopy, in(0)[groups[e][0]]);
        for (size_t i = 1; i < groups[e].size(); ++i) axpy(wave, acc, in(0)[groups[e][i]], 1);
        out.push_back(acc);
      }
      break;
    }
    case OpKind::kReshape:
    case OpKind::kTranspose:
    case OpKind::kSlice:
    case OpKind::kGather:
    case OpKind::kConcat: {
      const auto map = circuit::internal::structural_map(c_, node);
      for (int64_t e = 0; e < n; ++e) out.push_back(val_[node.inputs[map[e].operand]][map[e].index]);
      break;
    }
    default:
      break;
  }
}

// The waves, as the circuit's readiness dictates: every leveled op whose operands are ready, in
// topological order, then every PBS whose input is ready.
Status Lowering::schedule() {
  val_.assign(n_, {});
  fused_.assign(n_, {});
  work_.assign(n_, {});
  has_val_.assign(n_, 0);
  has_fused_.assign(n_, 0);
  has_work_.assign(n_, 0);
  done_.assign(n_, 0);
  extracted_.assign(n_, 0);
  remaining_ = n_;
  while (remaining_ > 0) {
    Wave wave;
    leveled_pass(wave);
    if (remaining_ == 0) {
      parts_.waves.push_back(std::move(wave));
      break;
    }
    const std::vector<size_t> ran = pbs_pass(wave);
    if (wave.jobs.empty()) return internal_error("lowering stalled with " + std::to_string(remaining_) + " ops left");
    for (size_t id : ran) {
      const Node& node = c_.node(static_cast<ValueId>(id));
      if (node.kind == OpKind::kLookup) {
        has_val_[id] = 1;
        finish(id);
      } else if (has_work_[id]) {
        if (++extracted_[id] == clear_steps_[id].size()) {
          fused_[id] = std::move(work_[id]);
          has_work_[id] = 0;
          has_fused_[id] = 1;
          if (!materialized_[id]) finish(id);
        }
      } else {
        has_val_[id] = 1;  // materialized rounding
        finish(id);
      }
    }
    parts_.waves.push_back(std::move(wave));
  }
  return Status();
}

// Every leveled op whose operands are ready; roundings start here (an exact one's working value
// x + 2^(s-1), an approximate one's value is x itself).
void Lowering::leveled_pass(Wave& wave) {
  for (size_t id = 0; id < n_; ++id) {
    if (done_[id]) continue;
    const Node& node = c_.node(static_cast<ValueId>(id));
    if (node.kind == OpKind::kLookup) continue;
    if (node.kind == OpKind::kRound) {
      const ValueId x = node.inputs[0];
      if (!has_fused_[id] && !has_work_[id] && has_val_[x]) {
        if (node.attrs[1]) {
          const uint64_t half = enc::rounding_half(carrier(x), static_cast<uint32_t>(node.attrs[0]));
          for (SlotId s : val_[x]) work_[id].push_back(def(wave, Kind::kAddPlain, s, 0, 0, half));
          has_work_[id] = 1;
        } else {
          fused_[id] = val_[x];
          has_fused_[id] = 1;
        }
      }
      if (has_fused_[id] && !materialized_[id]) finish(id);
      continue;
    }
    bool ready = true;
    for (ValueId v : node.inputs) ready = ready && has_val_[v];
    if (!ready) continue;
    leveled(node, static_cast<ValueId>(id), wave);
    has_val_[id] = 1;
    finish(id);
  }
}

// The wave's PBS jobs: lookups whose input is ready, the next bit extraction of every exact
// rounding under way, the identity lookups of materialized roundings. Returns the nodes served.
std::vector<size_t> Lowering::pbs_pass(Wave& wave) {
  const uint64_t t_read = clock_++, t_write = clock_++;
  std::vector<size_t> ran;
  for (size_t id = 0; id < n_; ++id) {
    if (done_[id]) continue;
    const Node& node = c_.node(static_cast<ValueId>(id));
    const bool round = node.kind == OpKind::kRound;
    if (node.kind == OpKind::kLookup) {
      const ValueId x = node.inputs[0];
      const Node& xn = c_.node(x);
      const bool from_round = xn.kind == OpKind::kRound;
      if (from_round ? !has_fused_[x] : !has_val_[x]) continue;
      // Through a rounding: its input's carrier, its s, its half step if approximate.
      const uint32_t pr = carrier(from_round ? xn.inputs[0] : x);
      const uint32_t s = from_round ? static_cast<uint32_t>(xn.attrs[0]) : 0;
      const uint64_t offset = enc::lookup_offset(node.input_min, pr, s, from_round && xn.attrs[1] == 0);
      const auto& src = from_round ? fused_[x] : val_[x];
      for (size_t e = 0; e < src.size(); ++e)
        val_[id].push_back(read_job(wave, src[e], offset, enc::lookup_shift(pr, node.input_bits, s),
                                    lut_[id][node.table_index.empty() ? 0 : node.table_index[e]], t_read, t_write));
    } else if (round && has_work_[id]) {
      const uint32_t px = carrier(node.inputs[0]);
      const ClearStep& step = clear_steps_[id][extracted_[id]];
      for (SlotId w : work_[id]) {
        use(w, t_write);
        PbsJob job;
        job.input = w;
        job.shift = enc::chunk_shift(px, step.first_bit, step.bits);
        job.post_offset = step.sign ? enc::chunk_sign_offset(step.bits) : 0;
        job.table = step.table;
        job.output = w;
        job.post = PbsJob::Post::kSubtractBit;
        job.correction = step.sign ? enc::extraction_correction(px, step.first_bit + step.bits - 1) : 0;
        wave.jobs.push_back(job);
      }
    } else if (round && has_fused_[id] && materialized_[id] && !has_val_[id]) {
      const uint32_t px = carrier(node.inputs[0]), s = static_cast<uint32_t>(node.attrs[0]);
      const uint64_t offset = enc::lookup_offset(a_.values[id].lo, px, s, node.attrs[1] == 0);
      for (SlotId f : fused_[id])
        val_[id].push_back(
            read_job(wave, f, offset, enc::lookup_shift(px, identity_bits_[id], s), lut_[id][0], t_read, t_write));
    } else {
      continue;
    }
    ran.push_back(id);
  }
  return ran;
}

// A PBS job storing its result in a new slot.
SlotId Lowering::read_job(Wave& wave, SlotId input, uint64_t offset, uint32_t shift, uint32_t table,
                          uint64_t t_read, uint64_t t_write) {
  use(input, t_read);
  PbsJob job;
  job.input = input;
  job.offset = offset;
  job.shift = shift;
  job.table = table;
  job.output = fresh(t_write);
  wave.jobs.push_back(job);
  return job.output;
}

// Linear scan over the definitions: a slot whose last read came strictly before a definition
// takes that value (PBS outputs are written after every input of their wave was read).
void Lowering::allocate() {
  const size_t v = def_.size();
  for (ValueId o : c_.outputs())
    for (SlotId s : val_[o]) last_[s] = kForever;
  std::vector<SlotId> order(v);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](SlotId x, SlotId y) { return def_[x] < def_[y]; });
  std::vector<SlotId> phys(v);
  using Live = std::pair<uint64_t, SlotId>;  // last read, physical slot
  std::priority_queue<Live, std::vector<Live>, std::greater<Live>> live;
  std::vector<SlotId> free;
  SlotId next = 0;
  for (SlotId s : order) {
    while (!live.empty() && live.top().first < def_[s]) {
      free.push_back(live.top().second);
      live.pop();
    }
    if (free.empty()) {
      phys[s] = next++;
    } else {
      phys[s] = free.back();
      free.pop_back();
    }
    live.emplace(last_[s], phys[s]);
  }
  for (Wave& w : parts_.waves) {
    for (LeveledStep& st : w.steps) {
      st.dst = phys[st.dst];
      st.a = phys[st.a];
      st.b = phys[st.b];
    }
    for (PbsJob& j : w.jobs) {
      j.input = phys[j.input];
      j.output = phys[j.output];
    }
  }
  parts_.slot_count = next;
  auto spec = [&](ValueId id) {
    const Node& node = c_.node(id);
    const auto& info = a_.values[id];
    runtime::TensorSpec t{node.name, node.shape, info.carrier_bits, info.bits, info.is_signed, {}};
    for (SlotId s : val_[id]) t.slots.push_back(phys[s]);
    return t;
  };
  for (ValueId i : c_.inputs()) parts_.inputs.push_back(spec(i));
  for (ValueId o : c_.outputs()) parts_.outputs.push_back(spec(o));
}

Result<runtime::Program> Lowering::run() {
  BLINDML_RETURN_IF_ERROR(crypto::check_structure(params_));
  BLINDML_RETURN_IF_ERROR(c_.validate());
  BLINDML_RETURN_IF_ERROR(check());
  BLINDML_RETURN_IF_ERROR(prepare_tables());
  BLINDML_RETURN_IF_ERROR(schedule());
  allocate();
  BLINDML_ASSIGN_OR_RETURN(runtime::Program program, runtime::Program::assemble(std::move(parts_)));
  if (program.pbs_count() != a_.pbs_count)
    return internal_error("the program runs " + std::to_string(program.pbs_count()) + " PBS per row, the analysis counts " +
                          std::to_string(a_.pbs_count));
  return program;
}

}  // namespace

Result<runtime::Program> lower(const circuit::Circuit& circuit, const circuit::Analysis& analysis,
                               const crypto::ParameterSet& params) {
  return Lowering(circuit, analysis, params).run();
}

}  // namespace blindml::compiler
