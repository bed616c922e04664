// A lowered program: what a circuit computes, as the operations the server runs on ciphertexts
// (design.md §2, docs/circuits.md "Programs"). Built once by compiler::lower; executed for many
// rows at once by runtime::execute.
//
// Slots. Every ciphertext a row needs lives in a numbered slot; a slot holds one LWE ciphertext
// (dimension kN) per row. Slots are reused once their value is dead (the lowering's allocation),
// and structural ops (reshape, transpose, slice, gather, concat, outputs) cost nothing: their
// elements are the slots of their operands.
//
// Waves. The schedule is a list of waves; a wave is a list of leveled steps (whole-ciphertext
// torus operations on slots, in order), then one list of PBS jobs that read their inputs only
// after every step of the wave and write their outputs only after every job has read. Each job
// prepares its input as (slot + offset)·2^shift + post_offset, bootstraps it through table
// `table`, and stores the result in `output` (kStore) or, for a bit extraction of an exact
// rounding, subtracts (result + correction) from `output` (kSubtractBit). Rows never interact:
// all rows of a request run the same waves, and one PBS batch per wave serves every row.
//
// Invariants (checked by Program::assemble): every slot index < slot_count(), every table index
// < tables().size(), every table for the parameter set's polynomial size, no step reading its own
// destination, input slots distinct, inputs and outputs of shapes matching their slot lists. (An
// input's slot may be reused once the input is dead: the executor copies inputs in first.)
//
// Thread safety: a Program is immutable; copies share one state; use it from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "blindml/base/status.h"
#include "blindml/circuit/circuit.h"
#include "blindml/crypto/algorithms.h"
#include "blindml/crypto/params.h"

namespace blindml::runtime {

using SlotId = uint32_t;

// One leveled operation on whole ciphertexts (every row): dst ← f(a, b).
struct LeveledStep {
  enum class Kind : uint8_t {
    kZero,       // dst = 0
    kCopy,       // dst = a
    kAdd,        // dst = a + b
    kSub,        // dst = a - b
    kNeg,        // dst = -a
    kAddPlain,   // dst = a + plain (on the body)
    kMulScalar,  // dst = scalar·a
    kAxpy,       // dst += scalar·a
  };
  Kind kind = Kind::kZero;
  SlotId dst = 0, a = 0, b = 0;
  int64_t scalar = 0;
  uint64_t plain = 0;
};

struct PbsJob {
  enum class Post : uint8_t {
    kStore,        // output = PBS result
    kSubtractBit,  // output -= PBS result + correction (bit extraction: bit·2^j·Δ)
  };
  SlotId input = 0;
  uint64_t offset = 0;       // added to the input before the shift
  uint32_t shift = 0;        // the input is then multiplied by 2^shift
  uint64_t post_offset = 0;  // and this added (the quarter turn of a bit extraction)
  uint32_t table = 0;
  SlotId output = 0;
  Post post = Post::kStore;
  uint64_t correction = 0;
};

struct Wave {
  std::vector<LeveledStep> steps;
  std::vector<PbsJob> jobs;
};

// An encrypted input or output of the program: v·2^(63 - carrier_bits), element e in slots[e].
struct TensorSpec {
  std::string name;
  circuit::Shape shape;
  uint32_t carrier_bits = 0;
  uint32_t bits = 0;  // width of the value's range
  bool is_signed = false;
  std::vector<SlotId> slots;
};

class Program {
 public:
  struct Parts {
    crypto::ParameterSet params;
    std::vector<crypto::LookupTable> tables;
    std::vector<Wave> waves;
    std::vector<TensorSpec> inputs, outputs;
    uint32_t slot_count = 0;
  };
  // Checks the invariants above (internal_error naming the first broken one) and freezes.
  static Result<Program> assemble(Parts parts);

  const crypto::ParameterSet& parameters() const { return state_->params; }
  std::span<const crypto::LookupTable> tables() const { return state_->tables; }
  std::span<const Wave> waves() const { return state_->waves; }
  const std::vector<TensorSpec>& inputs() const { return state_->inputs; }
  const std::vector<TensorSpec>& outputs() const { return state_->outputs; }
  uint32_t slot_count() const { return state_->slot_count; }
  // PBS per row (the jobs of every wave); waves with jobs (PBS batches per group of rows).
  uint64_t pbs_count() const { return pbs_count_; }
  uint64_t pbs_waves() const { return pbs_waves_; }
  uint64_t leveled_step_count() const { return step_count_; }
  uint64_t max_wave_jobs() const { return max_wave_jobs_; }
  bool needs_bootstrapping() const { return pbs_count_ > 0; }
  // Bytes one row occupies while it runs: its slots and its share of the largest wave's buffers.
  uint64_t working_bytes_per_row() const;

 private:
  explicit Program(std::shared_ptr<const Parts> state);
  std::shared_ptr<const Parts> state_;
  uint64_t pbs_count_ = 0, pbs_waves_ = 0, step_count_ = 0, max_wave_jobs_ = 0;
};

// A tensor of ciphertexts for one row: one per element, row-major, dimension kN.
struct EncryptedTensor {
  circuit::Shape shape;
  crypto::LweCiphertextList ciphertexts;
};

// Client side: each element v encrypted as v·2^(63 - carrier_bits) under the big key.
EncryptedTensor encrypt_tensor(const crypto::ClientKey& key, const circuit::Tensor& values, uint32_t carrier_bits);
// Decrypts and decodes at carrier_bits (signed: two's complement).
circuit::Tensor decrypt_tensor(const crypto::ClientKey& key, const EncryptedTensor& ct, uint32_t carrier_bits,
                               bool is_signed);

}  // namespace blindml::runtime
