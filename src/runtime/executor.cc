#include "blindml/runtime/executor.h"

#include <algorithm>

#include "blindml/base/checked.h"

namespace blindml::runtime {

namespace {

using Kind = LeveledStep::Kind;

// Below this many words of work a wave's steps run on the calling thread: waking the pool costs
// more than a few hundred thousand additions.
constexpr uint64_t kParallelStepWords = uint64_t{1} << 18;

// The rows of one group in slot-major order: slot s, row r at (s·rows + r)·words.
struct Arena {
  uint64_t rows, words;  // words = kN + 1 per ciphertext
  std::vector<uint64_t> data;
  uint64_t* slot(SlotId s) { return data.data() + uint64_t{s} * rows * words; }
};

// Words of every slot a block of steps runs on at a time: a wave's slots, 16 KiB each, stay in
// L2 while all of its steps run over them (16 rows of a 30-feature linear model are 8 MB).
constexpr uint64_t kBlockWords = 2048;

// Runs `steps` on words [lo, hi) of every slot span (rows·words long). Each word of a
// destination depends only on the same word of its operands, so word ranges are independent.
void run_steps_block(std::span<const LeveledStep> steps, Arena& arena, uint64_t lo, uint64_t hi);

void run_steps(std::span<const LeveledStep> steps, Arena& arena, uint64_t lo, uint64_t hi) {
  for (uint64_t b = lo; b < hi; b += kBlockWords) run_steps_block(steps, arena, b, std::min(hi, b + kBlockWords));
}

void run_steps_block(std::span<const LeveledStep> steps, Arena& arena, uint64_t lo, uint64_t hi) {
  const uint64_t words = arena.words;
  for (const LeveledStep& st : steps) {
    uint64_t* __restrict d = arena.slot(st.dst);
    const uint64_t* a = arena.slot(st.a);
    const uint64_t* b = arena.slot(st.b);
    const uint64_t w = static_cast<uint64_t>(st.scalar);
    switch (st.kind) {
      case Kind::kZero:
        std::fill(d + lo, d + hi, uint64_t{0});
        break;
      case Kind::kCopy:
      case Kind::kAddPlain:
        std::copy(a + lo, a + hi, d + lo);
        break;
      case Kind::kAdd:
        for (uint64_t i = lo; i < hi; ++i) d[i] = a[i] + b[i];
        break;
      case Kind::kSub:
        for (uint64_t i = lo; i < hi; ++i) d[i] = a[i] - b[i];
        break;
      case Kind::kNeg:
        for (uint64_t i = lo; i < hi; ++i) d[i] = 0 - a[i];
        break;
      case Kind::kMulScalar:
        for (uint64_t i = lo; i < hi; ++i) d[i] = w * a[i];
        break;
      case Kind::kAxpy:
        for (uint64_t i = lo; i < hi; ++i) d[i] += w * a[i];
        break;
    }
    if (st.kind == Kind::kAddPlain) {
      // The body of row r is word r·words + words - 1.
      for (uint64_t body = (lo / words) * words + words - 1; body < hi; body += words)
        if (body >= lo) d[body] += st.plain;
    }
  }
}

// Splits [0, total) into `parts` word ranges and runs fn(lo, hi) on the pool (or inline).
template <typename Fn>
void for_word_ranges(ThreadPool& pool, uint64_t total, uint64_t work, Fn&& fn) {
  const uint64_t parts = work < kParallelStepWords ? 1 : std::min<uint64_t>(pool.size(), total);
  if (parts <= 1) {
    fn(uint64_t{0}, total);
    return;
  }
  pool.parallel_for(parts, [&](size_t q, size_t) { fn(q * total / parts, (q + 1) * total / parts); });
}

Status check_keys(const Program& program, const crypto::EvaluationKeys* keys) {
  if (!program.needs_bootstrapping()) return Status();
  if (keys == nullptr) return invalid_argument("this circuit has table lookups: it needs evaluation keys");
  if (crypto::fingerprint(keys->parameters()) != crypto::fingerprint(program.parameters()))
    return invalid_argument("the evaluation keys were made for other parameters (fingerprint " +
                            crypto::fingerprint_hex(keys->parameters()) + ", expected " +
                            crypto::fingerprint_hex(program.parameters()) + ")");
  return Status();
}

// Rows [first, first + count) of the request, start to end.
void run_group(const Program& program, uint64_t first, uint64_t count,
               std::span<const crypto::LweCiphertextList> inputs, const crypto::EvaluationKeys* keys,
               ThreadPool& pool, const ExecuteOptions& options, std::vector<crypto::LweCiphertextList>& outputs) {
  const crypto::LweDimension dim = program.parameters().big_lwe_dimension();
  const uint64_t words = dim.value + 1;
  const uint64_t span = count * words;  // one slot, every row of the group
  Arena arena{count, words, std::vector<uint64_t>(uint64_t{program.slot_count()} * span)};
  for (size_t i = 0; i < inputs.size(); ++i) {
    const TensorSpec& spec = program.inputs()[i];
    const uint64_t n = spec.slots.size();
    for (uint64_t e = 0; e < n; ++e) {
      uint64_t* dst = arena.slot(spec.slots[e]);
      for (uint64_t r = 0; r < count; ++r) {
        auto src = inputs[i].at((first + r) * n + e);
        std::copy(src.begin(), src.end(), dst + r * words);
      }
    }
  }
  ExecutionStats* stats = options.stats;
  if (stats) ++stats->row_groups;
  std::vector<uint32_t> lut_index;
  for (const Wave& wave : program.waves()) {
    if (stats) ++stats->waves;
    for_word_ranges(pool, span, wave.steps.size() * span,
                    [&](uint64_t lo, uint64_t hi) { run_steps(wave.steps, arena, lo, hi); });
    if (wave.jobs.empty()) continue;
    const uint64_t jobs = wave.jobs.size();
    // Job j of row r is ciphertext j·count + r of the wave's buffers: each job's rows contiguous.
    crypto::LweCiphertextList pbs_in(dim, jobs * count), pbs_out(dim, jobs * count);
    lut_index.resize(jobs * count);
    pool.parallel_for(jobs, [&](size_t j, size_t) {
      const PbsJob& job = wave.jobs[j];
      const uint64_t* src = arena.slot(job.input);
      uint64_t* dst = pbs_in.data().data() + j * span;
      const uint64_t scale = uint64_t{1} << job.shift;
      // (x + offset)·2^shift + post = x·2^shift + (offset·2^shift + post) on the torus.
      const uint64_t body_add = job.offset * scale + job.post_offset;
      for (uint64_t i = 0; i < span; ++i) dst[i] = src[i] * scale;
      for (uint64_t r = 0; r < count; ++r) dst[r * words + words - 1] += body_add;
      std::fill_n(lut_index.begin() + j * count, count, job.table);
    });
    crypto::programmable_bootstrap_batch(*keys, pbs_in, program.tables(), lut_index, pbs_out, pool, options.batch);
    if (stats) {
      ++stats->pbs_batches;
      stats->pbs_jobs += jobs * count;
    }
    pool.parallel_for(jobs, [&](size_t j, size_t) {
      const PbsJob& job = wave.jobs[j];
      const uint64_t* res = pbs_out.data().data() + j * span;
      uint64_t* out = arena.slot(job.output);
      if (job.post == PbsJob::Post::kStore) {
        std::copy(res, res + span, out);
      } else {
        for (uint64_t i = 0; i < span; ++i) out[i] -= res[i];
        for (uint64_t r = 0; r < count; ++r) out[r * words + words - 1] -= job.correction;
      }
    });
  }
  for (size_t o = 0; o < program.outputs().size(); ++o) {
    const TensorSpec& spec = program.outputs()[o];
    const uint64_t n = spec.slots.size();
    for (uint64_t e = 0; e < n; ++e) {
      const uint64_t* src = arena.slot(spec.slots[e]);
      for (uint64_t r = 0; r < count; ++r) {
        auto dst = outputs[o].at((first + r) * n + e);
        std::copy(src + r * words, src + (r + 1) * words, dst.begin());
      }
    }
  }
}

}  // namespace

Result<std::vector<crypto::LweCiphertextList>> execute(const Program& program, uint64_t rows,
                                                       std::span<const crypto::LweCiphertextList> inputs,
                                                       const crypto::EvaluationKeys* keys, ThreadPool& pool,
                                                       const ExecuteOptions& options) {
  const crypto::LweDimension dim = program.parameters().big_lwe_dimension();
  if (inputs.size() != program.inputs().size())
    return invalid_argument("the circuit takes " + std::to_string(program.inputs().size()) +
                            " encrypted inputs, got " + std::to_string(inputs.size()));
  if (rows == 0) return invalid_argument("no rows to run");
  for (size_t i = 0; i < inputs.size(); ++i) {
    const TensorSpec& spec = program.inputs()[i];
    const auto want = checked_mul(rows, spec.slots.size());
    if (!want || inputs[i].count() != *want || inputs[i].dimension() != dim)
      return invalid_argument("encrypted input '" + spec.name + "' must hold " + std::to_string(rows) +
                              " row(s) of shape " + circuit::shape_to_string(spec.shape) + " and dimension " +
                              std::to_string(dim.value) + ", got " + std::to_string(inputs[i].count()) +
                              " ciphertexts of dimension " + std::to_string(inputs[i].dimension().value));
  }
  BLINDML_RETURN_IF_ERROR(check_keys(program, keys));
  std::vector<crypto::LweCiphertextList> outputs;
  for (const TensorSpec& spec : program.outputs()) {
    const auto n = checked_mul(rows, spec.slots.size());
    if (!n || !checked_mul(*n, dim.value + 1))
      return resource_exhausted(std::to_string(rows) + " rows of output '" + spec.name + "' do not fit in memory");
    outputs.emplace_back(dim, *n);
  }
  const uint64_t per_row = std::max<uint64_t>(1, program.working_bytes_per_row());
  const uint64_t group = std::clamp<uint64_t>(options.max_working_bytes / per_row, 1, rows);
  for (uint64_t first = 0; first < rows; first += group)
    run_group(program, first, std::min(group, rows - first), inputs, keys, pool, options, outputs);
  return outputs;
}

Result<std::vector<EncryptedTensor>> execute(const Program& program, std::vector<EncryptedTensor> inputs,
                                             const crypto::EvaluationKeys* keys, ThreadPool& pool,
                                             const ExecuteOptions& options) {
  if (inputs.size() != program.inputs().size())
    return invalid_argument("the circuit takes " + std::to_string(program.inputs().size()) +
                            " encrypted inputs, got " + std::to_string(inputs.size()));
  std::vector<crypto::LweCiphertextList> lists;
  lists.reserve(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const TensorSpec& spec = program.inputs()[i];
    if (inputs[i].shape != spec.shape)
      return invalid_argument("encrypted input '" + spec.name + "' must have shape " +
                              circuit::shape_to_string(spec.shape) + ", got " +
                              circuit::shape_to_string(inputs[i].shape));
    lists.push_back(std::move(inputs[i].ciphertexts));
  }
  BLINDML_ASSIGN_OR_RETURN(auto outs, execute(program, 1, lists, keys, pool, options));
  std::vector<EncryptedTensor> result;
  for (size_t o = 0; o < outs.size(); ++o)
    result.push_back(EncryptedTensor{program.outputs()[o].shape, std::move(outs[o])});
  return result;
}

}  // namespace blindml::runtime
