// Compiled circuits (circuit.bin inside server.zip; compiler/compiled.h). Input: one control
// byte, then the blob. control & 1: keep the header's length and checksum (else resealed).
// A circuit that loads is evaluated in the clear on its inputs' lower bounds, reported, and must
// serialise back to the same bytes.
#include <cstdint>
#include <vector>

#include "blindml/circuit/clear_eval.h"
#include "blindml/compiler/compiled.h"
#include "fuzz_common.h"

using namespace blindml;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  std::vector<uint8_t> blob(data + 1, data + size);
  if (!(data[0] & 1)) fuzz::reseal_circuit(blob);
  auto c = compiler::deserialize_compiled_circuit(blob, uint64_t{1} << 24);
  if (!c.ok()) return 0;
  if (compiler::serialize_compiled_circuit(*c) != blob) __builtin_trap();
  (void)compiler::compile_report(*c);
  std::vector<circuit::Tensor> inputs;
  for (circuit::ValueId id : c->circuit.inputs()) {
    const auto& n = c->circuit.node(id);
    const int64_t count = circuit::shape_elements(n.shape);
    if (count > (int64_t{1} << 16)) return 0;
    circuit::Tensor t{n.shape, std::vector<int64_t>(count)};
    for (int64_t e = 0; e < count; ++e) t.data[e] = n.range_min.size() == 1 ? n.range_min[0] : n.range_min[e];
    inputs.push_back(std::move(t));
  }
  (void)circuit::evaluate_clear(c->circuit, inputs);
  return 0;
}
