// Lowering: a circuit, its analysis and a parameter set become a runtime::Program (the one place
// that turns circuit ops into ciphertext operations; every encoding constant comes from
// circuit/encoding.h, every value's P from analysis.values[v].carrier_bits).
//
// What it does (docs/circuits.md "Programs"): schedules the circuit in waves (every leveled op
// whose operands are ready, then every PBS whose input is ready), turns each op into steps on
// slots (structural ops into slot aliases), each lookup element, materialized rounding element
// and bit extraction into a PBS job with its prepared input, encodes every table once at its
// output's carrier, and gives slots back once their value is dead.
//
// Refuses (invalid_argument / non_conformant, naming the node): an analysis of another circuit,
// a carrier narrower than its value or than a lookup's read (w + s bits), leveled operands on
// different carriers (encoding.h: they share one), a table the polynomial size cannot hold
// (N < 2^(w+1)). The program's PBS count equals analysis.pbs_count.
//
// Thread safety: a pure function.
#pragma once

#include "blindml/base/status.h"
#include "blindml/circuit/analysis.h"
#include "blindml/circuit/circuit.h"
#include "blindml/crypto/params.h"
#include "blindml/runtime/program.h"

namespace blindml::compiler {

[[nodiscard]] Result<runtime::Program> lower(const circuit::Circuit& circuit, const circuit::Analysis& analysis,
                                             const crypto::ParameterSet& params);

}  // namespace blindml::compiler
