// Exchange files (deploy.h envelopes) against a leveled model with real keys made at start-up.
// Input: one control byte, then the envelope.
//   control & 3: 0 and 3 Server::run (an encrypted input), 1 Client::decrypt (an encrypted
//                output), 2 Server::load_evaluation_keys
//   control & 4: keep the model and key ids as they are (else set to the session's, so that
//                mutations get past the id checks to the counts)
//   control & 8: keep the checksums as they are (else the envelope header and the blob inside
//                are resealed)
#include <cstdint>
#include <vector>

#include "fuzz_common.h"

using namespace blindml;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)fuzz::leveled_session();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const fuzz::Session& s = fuzz::leveled_session();
  const uint8_t control = data[0];
  std::vector<uint8_t> env(data + 1, data + size);
  if (!(control & 4) && env.size() >= 44) {
    const auto model = s.server->model_id();
    std::copy(model.begin(), model.end(), env.begin() + 12);
    std::copy(s.keys.key_id.begin(), s.keys.key_id.end(), env.begin() + 28);
  }
  if (!(control & 8)) fuzz::reseal_envelope(env);
  deploy::ServerLimits limits;
  limits.max_output = uint64_t{64} << 20;
  switch (control & 3) {
    case 0:
    case 3: {
      auto out = s.server->run(env, s.keys, *s.pool, limits);
      if (out.ok() && !s.client->decrypt(*out).ok()) __builtin_trap();  // our own answer must decrypt
      break;
    }
    case 1:
      (void)s.client->decrypt(env);
      break;
    case 2:
      (void)s.server->load_evaluation_keys(env, limits);
      break;
  }
  return 0;
}
