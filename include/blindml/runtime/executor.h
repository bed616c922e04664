// Runs a Program for R rows at once (docs/circuits.md "Multi-row execution").
//
// The rows' ciphertexts sit slot-major: slot s of row r at (s·R + r)·(kN + 1) words, so a leveled
// step is one contiguous loop over every row's ciphertext of its slots, split over the pool's
// threads by word range, and the PBS inputs of one job for every row are contiguous too. Each
// wave runs its leveled steps for all rows, then ONE crypto::programmable_bootstrap_batch call
// with every row's jobs of that wave: R rows cost the same number of key passes as one row as
// long as a wave's jobs are fewer than the batch width, and never more than R times one row.
//
// Memory: a group of rows needs rows × Program::working_bytes_per_row(); rows beyond
// ExecuteOptions::max_working_bytes run in consecutive groups (each group still one batch per
// wave). Results are bit for bit those of running each row alone (PBS is deterministic).
//
// Thread safety: execute is reentrant; concurrent calls need their own pools (ThreadPool runs one
// parallel_for at a time).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "blindml/base/status.h"
#include "blindml/base/thread_pool.h"
#include "blindml/crypto/algorithms.h"
#include "blindml/crypto/keys.h"
#include "blindml/runtime/program.h"

namespace blindml::runtime {

// Counts of one execute call (a test hook; also what a server may log).
struct ExecutionStats {
  uint64_t row_groups = 0;
  uint64_t waves = 0;        // waves run, over all groups
  uint64_t pbs_batches = 0;  // programmable_bootstrap_batch calls
  uint64_t pbs_jobs = 0;     // ciphertexts bootstrapped, over all rows
};

struct ExecuteOptions {
  uint64_t max_working_bytes = uint64_t{1} << 30;  // per group of rows (slots and wave buffers)
  crypto::PbsBatchOptions batch;
  ExecutionStats* stats = nullptr;
};

// inputs[i]: rows × elements(program.inputs()[i]) ciphertexts of dimension kN, row-major (row r's
// elements at r·elements…). Returns one list per program output, row-major the same way. keys may
// be null only when the program needs no bootstrapping.
Result<std::vector<crypto::LweCiphertextList>> execute(const Program& program, uint64_t rows,
                                                       std::span<const crypto::LweCiphertextList> inputs,
                                                       const crypto::EvaluationKeys* keys, ThreadPool& pool,
                                                       const ExecuteOptions& options = {});

// One row, as tensors (the shapes checked against the program's).
Result<std::vector<EncryptedTensor>> execute(const Program& program, std::vector<EncryptedTensor> inputs,
                                             const crypto::EvaluationKeys* keys, ThreadPool& pool,
                                             const ExecuteOptions& options = {});

}  // namespace blindml::runtime
