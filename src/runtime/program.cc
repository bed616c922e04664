#include "blindml/runtime/program.h"

#include <algorithm>

namespace blindml::runtime {

Program::Program(std::shared_ptr<const Parts> state) : state_(std::move(state)) {
  for (const Wave& w : state_->waves) {
    pbs_count_ += w.jobs.size();
    pbs_waves_ += w.jobs.empty() ? 0 : 1;
    step_count_ += w.steps.size();
    max_wave_jobs_ = std::max<uint64_t>(max_wave_jobs_, w.jobs.size());
  }
}

Result<Program> Program::assemble(Parts parts) {
  BLINDML_RETURN_IF_ERROR(crypto::check_structure(parts.params));
  const uint32_t slots = parts.slot_count;
  auto bad = [](const std::string& what) { return internal_error("program: " + what); };
  auto slot_ok = [&](SlotId s) { return s < slots; };
  for (size_t t = 0; t < parts.tables.size(); ++t)
    if (parts.tables[t].polynomial_size().value != parts.params.polynomial_size.value ||
        parts.tables[t].polynomial().size() != parts.params.polynomial_size.value)
      return bad("table " + std::to_string(t) + " is for another polynomial size");
  std::vector<uint8_t> is_input(slots, 0);
  for (const auto* list : {&parts.inputs, &parts.outputs}) {
    for (const TensorSpec& t : *list) {
      if (static_cast<int64_t>(t.slots.size()) != circuit::shape_elements(t.shape))
        return bad("'" + t.name + "' has " + std::to_string(t.slots.size()) + " slots for shape " +
                   circuit::shape_to_string(t.shape));
      if (t.carrier_bits == 0 || t.carrier_bits > 62) return bad("'" + t.name + "' has no valid carrier");
      for (SlotId s : t.slots) {
        if (!slot_ok(s)) return bad("'" + t.name + "' names slot " + std::to_string(s));
        if (list == &parts.inputs) {
          if (is_input[s]) return bad("input slot " + std::to_string(s) + " used twice");
          is_input[s] = 1;
        }
      }
    }
  }
  for (size_t w = 0; w < parts.waves.size(); ++w) {
    for (const LeveledStep& st : parts.waves[w].steps) {
      if (!slot_ok(st.dst) || !slot_ok(st.a) || !slot_ok(st.b))
        return bad("a step of wave " + std::to_string(w) + " names a slot beyond " + std::to_string(slots));
      if (st.kind != LeveledStep::Kind::kZero && st.dst == st.a) return bad("a step reads its own destination");
      if ((st.kind == LeveledStep::Kind::kAdd || st.kind == LeveledStep::Kind::kSub) && st.dst == st.b)
        return bad("a step reads its own destination");
    }
    for (const PbsJob& j : parts.waves[w].jobs) {
      if (!slot_ok(j.input) || !slot_ok(j.output) || j.table >= parts.tables.size() || j.shift > 63)
        return bad("a PBS job of wave " + std::to_string(w) + " names a slot or table out of range");
    }
  }
  return Program(std::make_shared<const Parts>(std::move(parts)));
}

uint64_t Program::working_bytes_per_row() const {
  const uint64_t ct = (state_->params.big_lwe_dimension().value + 1) * sizeof(uint64_t);
  return (uint64_t{slot_count()} + 2 * max_wave_jobs_) * ct;
}

EncryptedTensor encrypt_tensor(const crypto::ClientKey& key, const circuit::Tensor& values, uint32_t carrier_bits) {
  auto seeded = crypto::encrypt_seeded(key, values.data, carrier_bits);
  return EncryptedTensor{values.shape, crypto::expand_seeded_lwe_list(seeded)};
}

circuit::Tensor decrypt_tensor(const crypto::ClientKey& key, const EncryptedTensor& ct, uint32_t carrier_bits,
                               bool is_signed) {
  circuit::Tensor t{ct.shape, std::vector<int64_t>(ct.ciphertexts.count())};
  for (uint64_t i = 0; i < ct.ciphertexts.count(); ++i)
    t.data[i] = crypto::decrypt(key, ct.ciphertexts.at(i), carrier_bits, is_signed);
  return t;
}

}  // namespace blindml::runtime
