// Versioned binary serialisation of keys and ciphertexts (design.md §4; the format is specified
// in docs/formats.md, "Binary blobs").
//
// Every blob is a fixed 68-byte little-endian header followed by a payload:
//
//   offset  size  field
//        0     4  magic "BLML"
//        4     4  format version (u32, kBlobFormatVersion)
//        8     4  kind (u32, BlobKind)
//       12    16  parameter fingerprint (crypto::fingerprint of the set the content belongs to)
//       28     8  payload length in bytes (u64)
//       36    32  SHA-256 of the payload
//
// The payload records every dimension explicitly (u64 words), then the data words. A loader
// re-derives each dimension from the parameter set it is told to expect and refuses anything
// that disagrees, so a blob can never make a loader build an entity of a shape the caller did
// not ask for.
//
// Loaders are safe by default (style.md, "Errors"): each takes the expected ParameterSet and a
// byte limit, checks in this order — size limit, header length, magic, version, kind,
// fingerprint, payload length, checksum, then every recorded dimension and count — computes
// sizes with overflow-checked arithmetic and allocates only once the data is known to be there.
// Any failure is a Status naming the problem (resource_exhausted, corrupted, version_mismatch,
// invalid_argument, non_conformant); none of them crashes or returns a half-built object.
//
// serialize_client_key returns the secret key in the clear: those bytes belong on the client
// only, and the caller should wipe them (secure_wipe) once written out.
//
// Thread safety: pure functions over their arguments; safe to call concurrently.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "blindml/base/status.h"
#include "blindml/crypto/entities.h"
#include "blindml/crypto/keys.h"
#include "blindml/crypto/params.h"

namespace blindml::crypto {

inline constexpr std::array<uint8_t, 4> kBlobMagic = {'B', 'L', 'M', 'L'};
inline constexpr uint32_t kBlobFormatVersion = 1;
inline constexpr uint64_t kBlobHeaderSize = 68;

// What a blob holds (the header's kind field).
enum class BlobKind : uint32_t {
  kClientKey = 1,               // secret: small LWE key and GLWE key
  kSeededEvaluationKeys = 2,    // seeded bootstrapping key and seeded key-switching key
  kSeededLweCiphertextList = 3, // bodies and one mask seed
  kLweCiphertextList = 4,       // full ciphertexts (masks and bodies)
};
// "client key", "seeded evaluation keys", "seeded LWE ciphertext list", "LWE ciphertext list".
[[nodiscard]] const char* blob_kind_name(BlobKind kind);

// ---- client key (secret) ----
// Payload: n, k, N, then the n LWE key bits and the k·N GLWE key coefficients, one u64 word each.
[[nodiscard]] std::vector<uint8_t> serialize_client_key(const ClientKey& key);
// Also refuses a key whose bits are not all 0 or 1 (corrupted) and, like ClientKey::generate,
// an expected set that fails check_security (non_conformant).
[[nodiscard]] Result<ClientKey> deserialize_client_key(std::span<const uint8_t> blob, const ParameterSet& expected,
                                                       uint64_t max_bytes);

// ---- seeded evaluation keys (public, uploaded by the client) ----
// Payload: n, k, N, PBS base log, PBS levels, KS base log, KS levels, then bootstrapping-key seed,
// body count, bodies, then key-switching-key seed, body count, bodies.
[[nodiscard]] std::vector<uint8_t> serialize_seeded_evaluation_keys(const SeededEvaluationKeys& keys);
[[nodiscard]] Result<SeededEvaluationKeys> deserialize_seeded_evaluation_keys(std::span<const uint8_t> blob,
                                                                              const ParameterSet& expected,
                                                                              uint64_t max_bytes);

// ---- ciphertext lists (dimension k·N, the big key: fresh encryptions and PBS outputs) ----
// Seeded payload: dimension, count, seed, count bodies. The list must have dimension k·N of params.
[[nodiscard]] std::vector<uint8_t> serialize_seeded_lwe_list(const SeededLweCiphertextList& list,
                                                             const ParameterSet& params);
[[nodiscard]] Result<SeededLweCiphertextList> deserialize_seeded_lwe_list(std::span<const uint8_t> blob,
                                                                          const ParameterSet& expected,
                                                                          uint64_t max_bytes);
// Payload: dimension, count, count·(k·N + 1) words. The list must have dimension k·N of params.
[[nodiscard]] std::vector<uint8_t> serialize_lwe_list(const LweCiphertextList& list, const ParameterSet& params);
[[nodiscard]] Result<LweCiphertextList> deserialize_lwe_list(std::span<const uint8_t> blob,
                                                             const ParameterSet& expected, uint64_t max_bytes);

// ---- sizes (header + payload, in bytes) ----
// What the serialize_* functions return for these parameters, e.g. to choose a max_bytes. Sizes
// that do not fit in 64 bits saturate at UINT64_MAX (which any byte limit then refuses).
[[nodiscard]] uint64_t serialized_client_key_size(const ParameterSet& params);
[[nodiscard]] uint64_t serialized_seeded_evaluation_keys_size(const ParameterSet& params);
// 100 + 8·count: a seeded ciphertext costs one 8-byte body.
[[nodiscard]] uint64_t serialized_seeded_lwe_list_size(const ParameterSet& params, uint64_t count);
[[nodiscard]] uint64_t serialized_lwe_list_size(const ParameterSet& params, uint64_t count);

}  // namespace blindml::crypto
