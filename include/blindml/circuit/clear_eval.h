// The clear evaluator: the exact integer semantics of a circuit (circuit.h), the reference every
// FHE answer is compared with; and the simulation: the same with PBS errors drawn at a given
// probability, to see what a circuit's error probability does to its answers without encrypting.
//
// A PBS error moves a lookup's (or a rounding's) index to a neighbouring box: the simulation
// replaces the element's index by index ± 1 (each with half the probability), clamped to the
// table, which is what noise crossing a box boundary does.
//
// Thread safety: pure functions; evaluate_clear_batch parallelises over samples on the pool.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "blindml/base/status.h"
#include "blindml/base/thread_pool.h"
#include "blindml/circuit/circuit.h"

namespace blindml::circuit {

// One sample: one Tensor per circuit input, in input order, each of the input's shape with every
// element inside its declared range (invalid_argument otherwise). Returns one Tensor per output.
Result<std::vector<Tensor>> evaluate_clear(const Circuit& circuit, std::span<const Tensor> inputs);

// Every value of the circuit (indexed by ValueId; outputs repeat their operand).
Result<std::vector<Tensor>> evaluate_clear_all(const Circuit& circuit, std::span<const Tensor> inputs);

// Many samples; pool may be null (one thread). The first failing sample's error is returned.
Result<std::vector<std::vector<Tensor>>> evaluate_clear_batch(const Circuit& circuit,
                                                              const std::vector<std::vector<Tensor>>& samples,
                                                              ThreadPool* pool = nullptr);

// The smallest and largest value each node took over the samples (calibration measurement; the
// analysis' ranges are bounds, these are what the data does).
struct MeasuredRange {
  int64_t lo = 0, hi = 0;
};
Result<std::vector<MeasuredRange>> measure_ranges(const Circuit& circuit,
                                                  const std::vector<std::vector<Tensor>>& samples);

// The clear evaluation with every PBS (lookup element, materialized rounding element) wrong with
// probability p_error. errors_out, when given, receives how many were injected.
Result<std::vector<Tensor>> simulate(const Circuit& circuit, std::span<const Tensor> inputs, double p_error,
                                     std::mt19937_64& rng, uint64_t* errors_out = nullptr);

}  // namespace blindml::circuit
