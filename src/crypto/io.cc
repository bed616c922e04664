// Binary blobs of keys and ciphertexts; the format is specified in docs/formats.md ("Binary
// blobs") and summarised in include/blindml/crypto/io.h.
#include "blindml/crypto/io.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include "blindml/base/bytes.h"
#include "blindml/base/checked.h"
#include "internal/check.h"

namespace blindml::crypto {
namespace {

// Header field offsets (docs/formats.md): the two fields written last are patched in place.
constexpr size_t kPayloadLengthOffset = 28;
constexpr size_t kChecksumOffset = 36;
static_assert(kChecksumOffset + 32 == kBlobHeaderSize);

// Fixed payload prefixes, in bytes (dimensions are u64 words, seeds 16 bytes).
constexpr uint64_t kClientKeyPrefix = 3 * 8;                            // n, k, N
constexpr uint64_t kEvaluationKeysPrefix = 7 * 8 + 2 * (sizeof(Seed) + 8);  // 7 dims, 2 × (seed, count)
constexpr uint64_t kSeededListPrefix = 8 + 8 + sizeof(Seed);            // dimension, count, seed
constexpr uint64_t kListPrefix = 8 + 8;                                 // dimension, count

constexpr uint64_t kSaturated = std::numeric_limits<uint64_t>::max();

uint64_t saturate(std::optional<uint64_t> v) { return v ? *v : kSaturated; }

// header + prefix + 8·words, saturating.
uint64_t blob_size(uint64_t prefix, std::optional<uint64_t> words) {
  if (!words) return kSaturated;
  auto data = checked_mul(*words, 8);
  if (!data) return kSaturated;
  auto with_prefix = checked_add(*data, prefix);
  return with_prefix ? saturate(checked_add(*with_prefix, kBlobHeaderSize)) : kSaturated;
}

// Body counts of the seeded keys implied by a parameter set (keys.h layouts):
// bootstrapping key n·(k+1)·l_pbs polynomials of N words, key-switching key kN·l_ks words.
std::optional<uint64_t> bsk_body_count(const ParameterSet& p) {
  auto rows = checked_add(p.glwe_dimension.value, 1);
  if (!rows) return std::nullopt;
  return checked_product(p.lwe_dimension.value, *rows, p.pbs_level_count.value, p.polynomial_size.value);
}
std::optional<uint64_t> ksk_body_count(const ParameterSet& p) {
  return checked_product(p.glwe_dimension.value, p.polynomial_size.value, p.ks_level_count.value);
}
std::optional<uint64_t> big_dimension(const ParameterSet& p) {
  return checked_mul(p.glwe_dimension.value, p.polynomial_size.value);
}
// Words of one LWE ciphertext of the big dimension: kN + 1.
std::optional<uint64_t> big_lwe_size(const ParameterSet& p) {
  auto d = big_dimension(p);
  return d ? checked_add(*d, 1) : std::nullopt;
}

// "client key (kind 1)", or "unknown kind 7".
std::string kind_description(uint32_t kind) {
  if (kind >= 1 && kind <= 4) {
    return std::string(blob_kind_name(static_cast<BlobKind>(kind))) + " (kind " + std::to_string(kind) + ")";
  }
  return "unknown kind " + std::to_string(kind);
}

std::span<const uint8_t> seed_bytes(const Seed& seed) { return std::span<const uint8_t>(seed.data(), seed.size()); }

// Writes the header with placeholder length and checksum, then lets the caller append the
// payload; finish() fills both in. The buffer is reserved at its final size up front, so it is
// never reallocated (no stray copies of secret words are left in freed memory).
class BlobWriter {
 public:
  BlobWriter(BlobKind kind, const ParameterSet& params, uint64_t total_size) {
    w_.bytes().reserve(total_size);
    w_.put_bytes(kBlobMagic);
    w_.put_u32(kBlobFormatVersion);
    w_.put_u32(static_cast<uint32_t>(kind));
    w_.put_bytes(fingerprint(params));
    w_.put_u64(0);  // payload length, patched by finish()
    const std::array<uint8_t, 32> zeros{};
    w_.put_bytes(zeros);  // checksum, patched by finish()
    BLINDML_CHECK_EQ(w_.size(), kBlobHeaderSize);
  }

  ByteWriter& payload() { return w_; }

  std::vector<uint8_t> finish(uint64_t expected_total_size) {
    BLINDML_CHECK_EQ(w_.size(), expected_total_size);
    std::vector<uint8_t>& bytes = w_.bytes();
    const auto payload = std::span<const uint8_t>(bytes).subspan(kBlobHeaderSize);
    w_.patch_u64(kPayloadLengthOffset, payload.size());
    const auto digest = sha256(payload);
    std::memcpy(bytes.data() + kChecksumOffset, digest.data(), digest.size());
    return w_.take();
  }

 private:
  ByteWriter w_;
};

// Validates the header of blob (checks in the order of io.h) and returns its payload.
Result<std::span<const uint8_t>> open_blob(std::span<const uint8_t> blob, BlobKind kind,
                                           const ParameterSet& expected, uint64_t max_bytes) {
  const std::string what = blob_kind_name(kind);
  if (blob.size() > max_bytes) {
    return resource_exhausted(what + " blob of " + std::to_string(blob.size()) + " bytes exceeds the limit of " +
                              std::to_string(max_bytes) + " bytes");
  }
  if (blob.size() < kBlobHeaderSize) {
    return corrupted("truncated " + what + " blob: " + std::to_string(blob.size()) +
                     " bytes, shorter than the " + std::to_string(kBlobHeaderSize) + "-byte header");
  }
  ByteReader r(blob);
  std::array<uint8_t, 4> magic;
  BLINDML_RETURN_IF_ERROR(r.get_bytes(magic, "magic"));
  if (magic != kBlobMagic) {
    return corrupted("not a blindml blob: magic bytes " + to_hex(magic) + ", expected " + to_hex(kBlobMagic) +
                     " (\"BLML\")");
  }
  uint32_t version = 0;
  BLINDML_RETURN_IF_ERROR(r.get_u32(version, "format version"));
  if (version != kBlobFormatVersion) {
    return version_mismatch("blob format version " + std::to_string(version) +
                            " is not supported: this build reads version " + std::to_string(kBlobFormatVersion));
  }
  uint32_t found_kind = 0;
  BLINDML_RETURN_IF_ERROR(r.get_u32(found_kind, "kind"));
  if (found_kind != static_cast<uint32_t>(kind)) {
    return invalid_argument("expected " + what + ", found " + kind_description(found_kind));
  }
  Fingerprint found_fp;
  BLINDML_RETURN_IF_ERROR(r.get_bytes(found_fp, "parameter fingerprint"));
  if (found_fp != fingerprint(expected)) {
    return parameter_mismatch("parameter fingerprint mismatch: blob " + to_hex(found_fp) + " vs expected " +
                          fingerprint_hex(expected) + " (" + expected.name +
                          "): keys/ciphertexts of another parameter set");
  }
  uint64_t payload_length = 0;
  BLINDML_RETURN_IF_ERROR(r.get_u64(payload_length, "payload length"));
  std::array<uint8_t, 32> checksum;
  BLINDML_RETURN_IF_ERROR(r.get_bytes(checksum, "checksum"));
  const auto payload = blob.subspan(kBlobHeaderSize);
  if (payload_length != payload.size()) {
    return corrupted("payload length mismatch: header says " + std::to_string(payload_length) + " bytes, blob holds " +
                     std::to_string(payload.size()) + " after the header (truncated or padded " + what + " blob)");
  }
  if (sha256(payload) != checksum) {
    return corrupted("checksum mismatch: the SHA-256 of the " + what + " payload differs from the header's");
  }
  return payload;
}

// Reads a recorded dimension and compares it with the one the expected set implies. The blob
// has passed the fingerprint and checksum checks, so a disagreement means it contradicts itself.
Status expect_dimension(ByteReader& r, std::string_view what, uint64_t expected) {
  uint64_t found = 0;
  BLINDML_RETURN_IF_ERROR(r.get_u64(found, what));
  if (found != expected) {
    return corrupted("blob records " + std::string(what) + " " + std::to_string(found) +
                     ", the expected parameter set implies " + std::to_string(expected));
  }
  return Status();
}

// Reads a body count that the parameters fix exactly, and checks the words are there.
Status expect_body_count(ByteReader& r, std::string_view what, std::optional<uint64_t> expected) {
  if (!expected) return invalid_argument("the expected parameter set's " + std::string(what) + " overflows 64 bits");
  BLINDML_RETURN_IF_ERROR(expect_dimension(r, what, *expected));
  if (*expected > r.remaining() / 8) {
    return corrupted("truncated payload: " + std::string(what) + " " + std::to_string(*expected) +
                     " needs as many 8-byte words, but only " + std::to_string(r.remaining()) + " bytes remain");
  }
  return Status();
}

// Checks that count ciphertexts of words_each words fit in what is left of the payload, with
// checked arithmetic, before anything of that size is allocated.
Status check_fits(const ByteReader& r, std::string_view list, uint64_t count, uint64_t words_each) {
  const auto bytes = checked_product(count, words_each, 8);
  if (!bytes) {
    return corrupted(std::string(list) + " records " + std::to_string(count) + " ciphertexts of " +
                     std::to_string(words_each) + " words, a size that overflows 64 bits");
  }
  if (*bytes > r.remaining()) {
    return corrupted(std::string(list) + " records " + std::to_string(count) + " ciphertexts of " +
                     std::to_string(words_each) + " words (" + std::to_string(*bytes) + " bytes), but only " +
                     std::to_string(r.remaining()) + " payload bytes remain");
  }
  return Status();
}

Status expect_end(const ByteReader& r, std::string_view what) {
  if (r.remaining() != 0) {
    return corrupted(std::to_string(r.remaining()) + " trailing bytes after the " + std::string(what) + " payload");
  }
  return Status();
}

// Secret-key words must be bits.
Status check_bits(std::span<const uint64_t> words, std::string_view what) {
  for (size_t i = 0; i < words.size(); ++i) {
    if (words[i] > 1) {
      return corrupted(std::string(what) + " coefficient " + std::to_string(i) + " is " + std::to_string(words[i]) +
                       ", a binary key holds only 0 or 1");
    }
  }
  return Status();
}

}  // namespace

const char* blob_kind_name(BlobKind kind) {
  switch (kind) {
    case BlobKind::kClientKey:
      return "client key";
    case BlobKind::kSeededEvaluationKeys:
      return "seeded evaluation keys";
    case BlobKind::kSeededLweCiphertextList:
      return "seeded LWE ciphertext list";
    case BlobKind::kLweCiphertextList:
      return "LWE ciphertext list";
  }
  return "unknown kind";
}

// ---- sizes ----

uint64_t serialized_client_key_size(const ParameterSet& p) {
  const auto big = big_dimension(p);
  return blob_size(kClientKeyPrefix, big ? checked_add(p.lwe_dimension.value, *big) : std::nullopt);
}

uint64_t serialized_seeded_evaluation_keys_size(const ParameterSet& p) {
  const auto bsk = bsk_body_count(p), ksk = ksk_body_count(p);
  return blob_size(kEvaluationKeysPrefix, bsk && ksk ? checked_add(*bsk, *ksk) : std::nullopt);
}

uint64_t serialized_seeded_lwe_list_size(const ParameterSet&, uint64_t count) {
  return blob_size(kSeededListPrefix, count);
}

uint64_t serialized_lwe_list_size(const ParameterSet& p, uint64_t count) {
  const auto each = big_lwe_size(p);
  return blob_size(kListPrefix, each ? checked_mul(*each, count) : std::nullopt);
}

// ---- client key ----

std::vector<uint8_t> serialize_client_key(const ClientKey& key) {
  const ParameterSet& p = key.parameters();
  const uint64_t total = serialized_client_key_size(p);
  BlobWriter blob(BlobKind::kClientKey, p, total);
  ByteWriter& w = blob.payload();
  w.put_u64(key.lwe_key().dimension().value);
  w.put_u64(key.glwe_key().glwe_dimension().value);
  w.put_u64(key.glwe_key().polynomial_size().value);
  w.put_u64s(key.lwe_key().bits());
  w.put_u64s(key.glwe_key().as_lwe_key());
  return blob.finish(total);
}

Result<ClientKey> deserialize_client_key(std::span<const uint8_t> bytes, const ParameterSet& expected,
                                         uint64_t max_bytes) {
  const char* what = blob_kind_name(BlobKind::kClientKey);
  BLINDML_ASSIGN_OR_RETURN(auto payload, open_blob(bytes, BlobKind::kClientKey, expected, max_bytes));
  ByteReader r(payload);
  BLINDML_RETURN_IF_ERROR(expect_dimension(r, "LWE dimension n", expected.lwe_dimension.value));
  BLINDML_RETURN_IF_ERROR(expect_dimension(r, "GLWE dimension k", expected.glwe_dimension.value));
  BLINDML_RETURN_IF_ERROR(expect_dimension(r, "polynomial size N", expected.polynomial_size.value));
  // Bounds the dimensions (>= 450, N a power of two, ...) before they size anything.
  BLINDML_RETURN_IF_ERROR(check_security(expected));
  const uint64_t n = expected.lwe_dimension.value;
  const auto big = big_dimension(expected);
  const auto words = big ? checked_add(n, *big) : std::nullopt;
  if (!words || *words > r.remaining() / 8) {
    return corrupted("client key payload is too short for n + kN key words (" + std::to_string(r.remaining()) +
                     " bytes remain)");
  }
  SecretU64 lwe_bits(n);
  SecretU64 glwe_coefficients(*big);
  BLINDML_RETURN_IF_ERROR(r.get_u64s(lwe_bits, "LWE key bits"));
  BLINDML_RETURN_IF_ERROR(r.get_u64s(glwe_coefficients, "GLWE key coefficients"));
  BLINDML_RETURN_IF_ERROR(expect_end(r, what));
  BLINDML_RETURN_IF_ERROR(check_bits(lwe_bits, "LWE key"));
  BLINDML_RETURN_IF_ERROR(check_bits(glwe_coefficients, "GLWE key"));
  return ClientKey(expected, LweSecretKey(expected.lwe_dimension, std::move(lwe_bits)),
                   GlweSecretKey(expected.glwe_dimension, expected.polynomial_size, std::move(glwe_coefficients)));
}

// ---- seeded evaluation keys ----

std::vector<uint8_t> serialize_seeded_evaluation_keys(const SeededEvaluationKeys& keys) {
  const ParameterSet& p = keys.params;
  const SeededBootstrapKey& bsk = keys.bootstrap_key;
  const SeededLweKeyswitchKey& ksk = keys.keyswitch_key;
  // The keys must have the shape of their own parameter set (our invariant, not input).
  BLINDML_CHECK_EQ(bsk.input_dimension().value, p.lwe_dimension.value);
  BLINDML_CHECK_EQ(bsk.glwe_dimension().value, p.glwe_dimension.value);
  BLINDML_CHECK_EQ(bsk.polynomial_size().value, p.polynomial_size.value);
  BLINDML_CHECK_EQ(bsk.base_log().value, p.pbs_base_log.value);
  BLINDML_CHECK_EQ(bsk.level_count().value, p.pbs_level_count.value);
  BLINDML_CHECK_EQ(ksk.input_dimension().value, p.big_lwe_dimension().value);
  BLINDML_CHECK_EQ(ksk.output_dimension().value, p.lwe_dimension.value);
  BLINDML_CHECK_EQ(ksk.base_log().value, p.ks_base_log.value);
  BLINDML_CHECK_EQ(ksk.level_count().value, p.ks_level_count.value);
  BLINDML_CHECK_EQ(bsk.bodies().size(), saturate(bsk_body_count(p)));
  BLINDML_CHECK_EQ(ksk.bodies().size(), saturate(ksk_body_count(p)));

  const uint64_t total = serialized_seeded_evaluation_keys_size(p);
  BlobWriter blob(BlobKind::kSeededEvaluationKeys, p, total);
  ByteWriter& w = blob.payload();
  w.put_u64(p.lwe_dimension.value);
  w.put_u64(p.glwe_dimension.value);
  w.put_u64(p.polynomial_size.value);
  w.put_u64(p.pbs_base_log.value);
  w.put_u64(p.pbs_level_count.value);
  w.put_u64(p.ks_base_log.value);
  w.put_u64(p.ks_level_count.value);
  w.put_bytes(seed_bytes(bsk.seed()));
  w.put_u64(bsk.bodies().size());
  w.put_u64s(bsk.bodies());
  w.put_bytes(seed_bytes(ksk.seed()));
  w.put_u64(ksk.bodies().size());
  w.put_u64s(ksk.bodies());
  return blob.finish(total);
}

Result<SeededEvaluationKeys> deserialize_seeded_evaluation_keys(std::span<const uint8_t> bytes,
                                                                const ParameterSet& expected, uint64_t max_bytes) {
  const char* what = blob_kind_name(BlobKind::kSeededEvaluationKeys);
  BLINDML_ASSIGN_OR_RETURN(auto payload, open_blob(bytes, BlobKind::kSeededEvaluationKeys, expected, max_bytes));
  const ParameterSet& p = expected;
  ByteReader r(payload);
  BLINDML_RETURN_IF_ERROR(expect_dimension(r, "LWE dimension n", p.lwe_dimension.value));
  BLINDML_RETURN_IF_ERROR(expect_dimension(r, "GLWE dimension k", p.glwe_dimension.value));
  BLINDML_RETURN_IF_ERROR(expect_dimension(r, "polynomial size N", p.polynomial_size.value));
  BLINDML_RETURN_IF_ERROR(expect_dimension(r, "PBS base log", p.pbs_base_log.value));
  BLINDML_RETURN_IF_ERROR(expect_dimension(r, "PBS level count", p.pbs_level_count.value));
  BLINDML_RETURN_IF_ERROR(expect_dimension(r, "KS base log", p.ks_base_log.value));
  BLINDML_RETURN_IF_ERROR(expect_dimension(r, "KS level count", p.ks_level_count.value));

  Seed bsk_seed;
  BLINDML_RETURN_IF_ERROR(r.get_bytes(bsk_seed, "bootstrapping key seed"));
  const auto bsk_count = bsk_body_count(p);
  BLINDML_RETURN_IF_ERROR(expect_body_count(r, "bootstrapping key body count", bsk_count));
  std::vector<uint64_t> bsk_bodies(*bsk_count);
  BLINDML_RETURN_IF_ERROR(r.get_u64s(bsk_bodies, "bootstrapping key bodies"));

  Seed ksk_seed;
  BLINDML_RETURN_IF_ERROR(r.get_bytes(ksk_seed, "key-switching key seed"));
  const auto ksk_count = ksk_body_count(p);
  BLINDML_RETURN_IF_ERROR(expect_body_count(r, "key-switching key body count", ksk_count));
  std::vector<uint64_t> ksk_bodies(*ksk_count);
  BLINDML_RETURN_IF_ERROR(r.get_u64s(ksk_bodies, "key-switching key bodies"));
  BLINDML_RETURN_IF_ERROR(expect_end(r, what));

  return SeededEvaluationKeys{
      p,
      SeededBootstrapKey(p.lwe_dimension, p.glwe_dimension, p.polynomial_size, p.pbs_base_log, p.pbs_level_count,
                         bsk_seed, std::move(bsk_bodies)),
      SeededLweKeyswitchKey(p.big_lwe_dimension(), p.lwe_dimension, p.ks_base_log, p.ks_level_count, ksk_seed,
                            std::move(ksk_bodies)),
  };
}

// ---- ciphertext lists ----

std::vector<uint8_t> serialize_seeded_lwe_list(const SeededLweCiphertextList& list, const ParameterSet& params) {
  BLINDML_CHECK_EQ(list.dimension().value, params.big_lwe_dimension().value);
  const uint64_t total = serialized_seeded_lwe_list_size(params, list.count());
  BlobWriter blob(BlobKind::kSeededLweCiphertextList, params, total);
  ByteWriter& w = blob.payload();
  w.put_u64(list.dimension().value);
  w.put_u64(list.count());
  w.put_bytes(seed_bytes(list.seed()));
  w.put_u64s(list.bodies());
  return blob.finish(total);
}

Result<SeededLweCiphertextList> deserialize_seeded_lwe_list(std::span<const uint8_t> bytes,
                                                            const ParameterSet& expected, uint64_t max_bytes) {
  const char* what = blob_kind_name(BlobKind::kSeededLweCiphertextList);
  BLINDML_ASSIGN_OR_RETURN(auto payload, open_blob(bytes, BlobKind::kSeededLweCiphertextList, expected, max_bytes));
  const auto dimension = big_dimension(expected);
  if (!dimension) return invalid_argument("the expected parameter set's dimension k·N overflows 64 bits");
  ByteReader r(payload);
  BLINDML_RETURN_IF_ERROR(expect_dimension(r, "ciphertext dimension k·N", *dimension));
  uint64_t count = 0;
  BLINDML_RETURN_IF_ERROR(r.get_u64(count, "ciphertext count"));
  Seed seed;
  BLINDML_RETURN_IF_ERROR(r.get_bytes(seed, "mask seed"));
  BLINDML_RETURN_IF_ERROR(check_fits(r, what, count, 1));
  std::vector<uint64_t> bodies(count);
  BLINDML_RETURN_IF_ERROR(r.get_u64s(bodies, "ciphertext bodies"));
  BLINDML_RETURN_IF_ERROR(expect_end(r, what));
  return SeededLweCiphertextList(LweDimension(*dimension), seed, std::move(bodies));
}

std::vector<uint8_t> serialize_lwe_list(const LweCiphertextList& list, const ParameterSet& params) {
  BLINDML_CHECK_EQ(list.dimension().value, params.big_lwe_dimension().value);
  const uint64_t total = serialized_lwe_list_size(params, list.count());
  BlobWriter blob(BlobKind::kLweCiphertextList, params, total);
  ByteWriter& w = blob.payload();
  w.put_u64(list.dimension().value);
  w.put_u64(list.count());
  w.put_u64s(list.data());
  return blob.finish(total);
}

Result<LweCiphertextList> deserialize_lwe_list(std::span<const uint8_t> bytes, const ParameterSet& expected,
                                               uint64_t max_bytes) {
  const char* what = blob_kind_name(BlobKind::kLweCiphertextList);
  BLINDML_ASSIGN_OR_RETURN(auto payload, open_blob(bytes, BlobKind::kLweCiphertextList, expected, max_bytes));
  const auto dimension = big_dimension(expected);
  const auto words_each = big_lwe_size(expected);
  if (!words_each) return invalid_argument("the expected parameter set's dimension k·N overflows 64 bits");
  ByteReader r(payload);
  BLINDML_RETURN_IF_ERROR(expect_dimension(r, "ciphertext dimension k·N", *dimension));
  uint64_t count = 0;
  BLINDML_RETURN_IF_ERROR(r.get_u64(count, "ciphertext count"));
  BLINDML_RETURN_IF_ERROR(check_fits(r, what, count, *words_each));
  LweCiphertextList list(LweDimension(*dimension), count);
  BLINDML_RETURN_IF_ERROR(r.get_u64s(list.data(), "ciphertext words"));
  BLINDML_RETURN_IF_ERROR(expect_end(r, what));
  return list;
}

}  // namespace blindml::crypto
