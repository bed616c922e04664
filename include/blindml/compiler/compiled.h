// A compiled circuit: an integer circuit together with the TFHE parameters the optimizer chose
// for it, and its versioned binary format (what server.zip carries; design.md §4). The format is
// specified in docs/formats.md, "Compiled circuit (server side)".
//
// Invariants of a CompiledCircuit made by compile() or deserialize_compiled_circuit():
//   - circuit.validate() is ok and circuit::analyze(circuit) succeeds;
//   - carrier_bits and needs_bootstrapping are the analysis's (P and pbs_count > 0);
//   - params pass crypto::check_security;
//   - the circuit's values hold at most kMaxCircuitElements elements in all, and every node's
//     fields that its kind does not use are empty (so the format has one encoding per circuit).
//
// The blob is a 64-byte header (magic "BLMC", format version, parameter fingerprint, payload
// length, SHA-256 of the payload) followed by the payload: the parameter set, the encoding and
// optimizer figures, then every node with explicit counts. The loader takes a byte limit, checks
// the header and the checksum, checks every count against the bytes that remain (overflow-checked)
// before allocating, and re-establishes the invariants above before returning; any failure is a
// Status (resource_exhausted, corrupted, version_mismatch, non_conformant), never a crash.
//
// Thread safety: CompiledCircuit is immutable once made; share it freely between threads. The
// functions are pure and safe to call concurrently.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "blindml/base/status.h"
#include "blindml/circuit/circuit.h"
#include "blindml/compiler/optimizer.h"
#include "blindml/crypto/params.h"

namespace blindml::compiler {

// A circuit with the parameters chosen for it: what server.zip carries.
struct CompiledCircuit {
  circuit::Circuit circuit;
  crypto::ParameterSet params;       // name: "optimized", or a named set's name when it is one
  uint32_t carrier_bits = 0;         // P: every ciphertext encodes v·2^(63-P) (circuit::Analysis)
  bool needs_bootstrapping = false;  // false: leveled, no evaluation keys
  // From the optimizer (OptimizerChoice): the per-read target applied, the predicted probability
  // that one evaluation is wrong somewhere, and the estimated cost of one KS-PBS on one thread.
  double log2_p_error_per_read = 0;
  double global_p_error = 0;
  double estimated_pbs_ms = 0;
};

// Largest number of elements, summed over every value of the circuit, that compile() accepts and
// the loader reads: it bounds what the analysis and the evaluators allocate for a circuit whose
// shapes (unlike its weights and tables) cost no bytes in the blob. 2^22 (4 Mi elements: about
// 16 bytes each in the analysis, plus the noise forms it bounds by circuit::kMaxNoiseTerms); the
// committed models hold at most 1,602 (random_forest_breast_cancer).
inline constexpr uint64_t kMaxCircuitElements = uint64_t{1} << 22;

// circuit::analyze + choose_parameters. Errors name the op (an invalid node, a value that does
// not fit, a constraint no secure set satisfies) and come from the step that refused.
[[nodiscard]] Result<CompiledCircuit> compile(const circuit::Circuit& circuit, const OptimizerOptions& options = {});

// A few readable lines: op counts, PBS count and depth, widths, the parameter set and its
// fingerprint, the error probabilities and the estimated cost.
[[nodiscard]] std::string compile_report(const CompiledCircuit& compiled);

// Version 2: per-value encodings (circuit/encoding.h). A version-1 blob was evaluated with one
// carrier for every value; its client.zip encrypts at that carrier, so it is refused (recompile).
inline constexpr uint32_t kCircuitFormatVersion = 2;
inline constexpr uint64_t kCircuitHeaderSize = 64;

[[nodiscard]] std::vector<uint8_t> serialize_compiled_circuit(const CompiledCircuit& compiled);
// Refuses a blob larger than max_bytes (resource_exhausted) before reading it.
[[nodiscard]] Result<CompiledCircuit> deserialize_compiled_circuit(std::span<const uint8_t> bytes,
                                                                   uint64_t max_bytes);

}  // namespace blindml::compiler
