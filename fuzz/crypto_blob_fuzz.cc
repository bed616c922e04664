// Key and ciphertext blobs (crypto/io.h). Input: one control byte, then the blob.
//   control & 3: 0 secret key (real parameters), 1 seeded evaluation keys, 2 seeded ciphertext
//                list, 3 full ciphertext list (the insecure toy set: blobs of a few KiB)
//   control & 4: leave the header's length and checksum as they are (else resealed, so that
//                mutations reach the payload checks)
#include <cstdint>
#include <vector>

#include "blindml/crypto/io.h"
#include "fuzz_common.h"

using namespace blindml;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t control = data[0];
  std::vector<uint8_t> blob(data + 1, data + size);
  if (!(control & 4)) fuzz::reseal_blob(blob);
  const uint64_t limit = uint64_t{1} << 24;
  switch (control & 3) {
    case 0: {
      auto k = crypto::deserialize_client_key(blob, fuzz::real_params(), limit);
      if (k.ok() && crypto::serialize_client_key(*k) != blob) __builtin_trap();
      break;
    }
    case 1: {
      auto k = crypto::deserialize_seeded_evaluation_keys(blob, fuzz::insecure_toy_params(), limit);
      if (k.ok() && crypto::serialize_seeded_evaluation_keys(*k) != blob) __builtin_trap();
      break;
    }
    case 2: {
      auto l = crypto::deserialize_seeded_lwe_list(blob, fuzz::insecure_toy_params(), limit);
      if (l.ok() && crypto::serialize_seeded_lwe_list(*l, fuzz::insecure_toy_params()) != blob) __builtin_trap();
      break;
    }
    case 3: {
      auto l = crypto::deserialize_lwe_list(blob, fuzz::insecure_toy_params(), limit);
      if (l.ok() && crypto::serialize_lwe_list(*l, fuzz::insecure_toy_params()) != blob) __builtin_trap();
      break;
    }
  }
  return 0;
}
