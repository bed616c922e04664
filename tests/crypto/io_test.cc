// Binary blobs (docs/formats.md, "Binary blobs"): round trips of the four kinds that still
// decrypt and bootstrap, the documented header layout, and a corrupted-input corpus — every
// truncation, every flipped byte, wrong parameters, byte limits, inflated counts and invalid key
// bits — each refused with its specific Status code, never a crash.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "blindml/base/bytes.h"
#include "blindml/crypto/algorithms.h"
#include "blindml/crypto/io.h"
#include "key_cache.h"

using namespace blindml;
using namespace blindml::crypto;
using blindml::crypto::testing::keys_for_bits;
using blindml::crypto::testing::test_pool;

namespace {

constexpr uint32_t kBits = 2;
constexpr uint64_t kNoLimit = ~uint64_t{0};

// Header offsets, from the table in docs/formats.md (written independently of io.cc on purpose).
constexpr size_t kVersionAt = 4;
constexpr size_t kKindAt = 8;
constexpr size_t kFingerprintAt = 12;
constexpr size_t kLengthAt = 28;
constexpr size_t kChecksumAt = 36;
constexpr size_t kHeader = 68;

const ParameterSet& params() { return keys_for_bits(kBits).params; }
const ClientKey& client_key() { return *keys_for_bits(kBits).client; }
const SeededEvaluationKeys& seeded_keys() { return *keys_for_bits(kBits).seeded; }

std::vector<int64_t> messages(size_t count) {
  std::vector<int64_t> m(count);
  for (size_t i = 0; i < count; ++i) m[i] = static_cast<int64_t>(i % (1u << kBits));
  return m;
}

uint32_t read_u32(const std::vector<uint8_t>& b, size_t at) {
  uint32_t v;
  std::memcpy(&v, b.data() + at, 4);
  return v;
}
uint64_t read_u64(const std::vector<uint8_t>& b, size_t at) {
  uint64_t v;
  std::memcpy(&v, b.data() + at, 8);
  return v;
}

// A blob built by hand from the documented layout: any header, any payload, a valid checksum.
std::vector<uint8_t> make_blob(uint32_t version, uint32_t kind, const Fingerprint& fp,
                               const std::vector<uint8_t>& payload) {
  ByteWriter w;
  w.put_bytes(std::vector<uint8_t>{'B', 'L', 'M', 'L'});
  w.put_u32(version);
  w.put_u32(kind);
  w.put_bytes(fp);
  w.put_u64(payload.size());
  w.put_bytes(sha256(payload));
  w.put_bytes(payload);
  return w.take();
}

// Recomputes the checksum after a test edited the payload in place.
void reseal(std::vector<uint8_t>& blob) {
  const auto digest = sha256(std::span<const uint8_t>(blob).subspan(kHeader));
  std::memcpy(blob.data() + kChecksumAt, digest.data(), digest.size());
}

void expect_code(const Status& s, StatusCode code, const std::string& context) {
  EXPECT_FALSE(s.ok()) << context;
  EXPECT_EQ(s.code(), code) << context << ": " << s.to_string();
}

std::vector<uint8_t> small_seeded_list_blob() {
  return serialize_seeded_lwe_list(encrypt_seeded(client_key(), messages(4), kBits), params());
}

// ---- round trips ----

TEST(IoRoundTrip, ClientKeyDecryptsWhatTheOriginalEncrypted) {
  const auto blob = serialize_client_key(client_key());
  EXPECT_EQ(blob.size(), serialized_client_key_size(params()));
  auto loaded = deserialize_client_key(blob, params(), blob.size());
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  EXPECT_EQ(fingerprint(loaded->parameters()), fingerprint(params()));
  EXPECT_TRUE(std::ranges::equal(loaded->lwe_key().bits(), client_key().lwe_key().bits()));
  EXPECT_TRUE(std::ranges::equal(loaded->big_lwe_key(), client_key().big_lwe_key()));
  for (int64_t m = 0; m < (1 << kBits); ++m) {
    const auto ct = encrypt(client_key(), m, kBits);
    EXPECT_EQ(decrypt(*loaded, ct.data(), kBits, false), m);
    const auto back = encrypt(*loaded, m, kBits);
    EXPECT_EQ(decrypt(client_key(), back.data(), kBits, false), m);
  }
}

TEST(IoRoundTrip, SeededEvaluationKeysAreByteEqualAndBootstrap) {
  const auto& original = seeded_keys();
  const auto blob = serialize_seeded_evaluation_keys(original);
  EXPECT_EQ(blob.size(), serialized_seeded_evaluation_keys_size(params()));
  auto loaded = deserialize_seeded_evaluation_keys(blob, params(), blob.size());
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  EXPECT_EQ(loaded->bootstrap_key.seed(), original.bootstrap_key.seed());
  EXPECT_EQ(loaded->keyswitch_key.seed(), original.keyswitch_key.seed());
  const auto& bb = loaded->bootstrap_key.bodies();
  const auto& kb = loaded->keyswitch_key.bodies();
  ASSERT_EQ(bb.size(), original.bootstrap_key.bodies().size());
  ASSERT_EQ(kb.size(), original.keyswitch_key.bodies().size());
  EXPECT_EQ(std::memcmp(bb.data(), original.bootstrap_key.bodies().data(), bb.size_bytes()), 0);
  EXPECT_EQ(std::memcmp(kb.data(), original.keyswitch_key.bodies().data(), kb.size_bytes()), 0);

  const auto eval = expand_evaluation_keys(*loaded, &test_pool());
  const auto& p = params();
  const std::vector<int64_t> table = {3, 0, 2, 1};
  const auto lut = make_lookup_table(table, kBits, kBits, p.polynomial_size);
  PbsScratch scratch(p);
  for (int64_t m = 0; m < (1 << kBits); ++m) {
    const auto in = encrypt(client_key(), m, kBits);
    LweCiphertext out(p.big_lwe_dimension());
    programmable_bootstrap(eval, in.data(), lut, out.data(), scratch);
    EXPECT_EQ(decrypt(client_key(), out.data(), kBits, false), table[m]) << "input " << m;
  }
}

TEST(IoRoundTrip, SeededLweListDecrypts) {
  const auto msgs = messages(37);
  const auto list = encrypt_seeded(client_key(), msgs, kBits);
  const auto blob = serialize_seeded_lwe_list(list, params());
  EXPECT_EQ(blob.size(), serialized_seeded_lwe_list_size(params(), msgs.size()));
  auto loaded = deserialize_seeded_lwe_list(blob, params(), blob.size());
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  EXPECT_EQ(loaded->dimension(), list.dimension());
  EXPECT_EQ(loaded->seed(), list.seed());
  EXPECT_TRUE(std::ranges::equal(loaded->bodies(), list.bodies()));
  const auto expanded = expand_seeded_lwe_list(*loaded);
  ASSERT_EQ(expanded.count(), msgs.size());
  for (size_t i = 0; i < msgs.size(); ++i) EXPECT_EQ(decrypt(client_key(), expanded.at(i), kBits, false), msgs[i]);
}

TEST(IoRoundTrip, LweListDecrypts) {
  const auto msgs = messages(13);
  const auto list = expand_seeded_lwe_list(encrypt_seeded(client_key(), msgs, kBits));
  const auto blob = serialize_lwe_list(list, params());
  EXPECT_EQ(blob.size(), serialized_lwe_list_size(params(), msgs.size()));
  auto loaded = deserialize_lwe_list(blob, params(), blob.size());
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  EXPECT_EQ(loaded->dimension(), list.dimension());
  EXPECT_EQ(loaded->count(), list.count());
  EXPECT_TRUE(std::ranges::equal(loaded->data(), list.data()));
  for (size_t i = 0; i < msgs.size(); ++i) EXPECT_EQ(decrypt(client_key(), loaded->at(i), kBits, false), msgs[i]);
}

TEST(IoRoundTrip, EmptyListsRoundTrip) {
  const auto seeded = encrypt_seeded(client_key(), std::vector<int64_t>{}, kBits);
  const auto blob = serialize_seeded_lwe_list(seeded, params());
  auto loaded = deserialize_seeded_lwe_list(blob, params(), kNoLimit);
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  EXPECT_EQ(loaded->count(), 0u);
  const auto full = serialize_lwe_list(LweCiphertextList(params().big_lwe_dimension(), 0), params());
  auto loaded_full = deserialize_lwe_list(full, params(), kNoLimit);
  ASSERT_TRUE(loaded_full.ok()) << loaded_full.status().to_string();
  EXPECT_EQ(loaded_full->count(), 0u);
}

// ---- layout and sizes ----

TEST(IoFormat, HeaderMatchesTheDocumentedLayout) {
  const auto blob = small_seeded_list_blob();
  ASSERT_GE(blob.size(), kHeader);
  EXPECT_EQ(std::string(blob.begin(), blob.begin() + 4), "BLML");
  EXPECT_EQ(read_u32(blob, kVersionAt), 1u);
  EXPECT_EQ(read_u32(blob, kKindAt), 3u);
  const auto fp = fingerprint(params());
  EXPECT_EQ(std::memcmp(blob.data() + kFingerprintAt, fp.data(), fp.size()), 0);
  EXPECT_EQ(read_u64(blob, kLengthAt), blob.size() - kHeader);
  const auto digest = sha256(std::span<const uint8_t>(blob).subspan(kHeader));
  EXPECT_EQ(std::memcmp(blob.data() + kChecksumAt, digest.data(), digest.size()), 0);
  // Payload: dimension k·N, count, 16-byte seed, then the bodies.
  EXPECT_EQ(read_u64(blob, kHeader), params().big_lwe_dimension().value);
  EXPECT_EQ(read_u64(blob, kHeader + 8), 4u);
  EXPECT_EQ(blob.size(), kHeader + 8 + 8 + 16 + 4 * 8);
  // The kind field of each kind.
  EXPECT_EQ(read_u32(serialize_client_key(client_key()), kKindAt), 1u);
  EXPECT_EQ(read_u32(serialize_lwe_list(LweCiphertextList(params().big_lwe_dimension(), 1), params()), kKindAt), 4u);
}

TEST(IoFormat, SeededListCostsAtMost16BytesPerCiphertextPlusFixedOverhead) {
  constexpr uint64_t kOverhead = 128;  // header (68) + dimension, count and seed (32), rounded up
  for (uint64_t f : {0ull, 1ull, 10ull, 1000ull, 1000000ull}) {
    EXPECT_LE(serialized_seeded_lwe_list_size(params(), f), 16 * f + kOverhead) << f << " ciphertexts";
  }
  const auto blob = serialize_seeded_lwe_list(encrypt_seeded(client_key(), messages(1000), kBits), params());
  EXPECT_EQ(blob.size(), serialized_seeded_lwe_list_size(params(), 1000));
  EXPECT_LE(blob.size(), 16 * 1000 + kOverhead);
}

TEST(IoFormat, SizeHelpersSaturateInsteadOfWrapping) {
  EXPECT_EQ(serialized_seeded_lwe_list_size(params(), uint64_t{1} << 61), ~uint64_t{0});
  EXPECT_EQ(serialized_lwe_list_size(params(), uint64_t{1} << 60), ~uint64_t{0});
}

// ---- truncation ----

TEST(IoCorruption, EveryTruncationOfASeededListIsRejected) {
  const auto blob = small_seeded_list_blob();
  for (size_t len = 0; len < blob.size(); ++len) {
    auto r = deserialize_seeded_lwe_list(std::span<const uint8_t>(blob).first(len), params(), kNoLimit);
    expect_code(r.status(), StatusCode::kCorrupted, "length " + std::to_string(len));
    if (len < kHeader) {
      EXPECT_NE(r.status().message().find("truncated"), std::string::npos) << r.status().message();
    }
  }
}

TEST(IoCorruption, TruncatedEvaluationKeysAreRejected) {
  const auto blob = serialize_seeded_evaluation_keys(seeded_keys());
  for (size_t len : {size_t{0}, kHeader - 1, kHeader, kHeader + 1, blob.size() / 2, blob.size() - 1}) {
    auto r = deserialize_seeded_evaluation_keys(std::span<const uint8_t>(blob).first(len), params(), kNoLimit);
    expect_code(r.status(), StatusCode::kCorrupted, "length " + std::to_string(len));
  }
}

// ---- flipped bytes ----

// The code a flip at offset i must produce (header fields have their own checks; anything in
// the payload is caught by the checksum).
StatusCode code_for_flip_at(size_t i) {
  if (i < kVersionAt) return StatusCode::kCorrupted;           // magic
  if (i < kKindAt) return StatusCode::kVersionMismatch;        // version
  if (i < kFingerprintAt) return StatusCode::kInvalidArgument; // kind
  if (i < kLengthAt) return StatusCode::kParameterMismatch;    // fingerprint
  return StatusCode::kCorrupted;                               // length, checksum, payload
}

TEST(IoCorruption, EveryFlippedByteOfASeededListIsRejected) {
  const auto blob = small_seeded_list_blob();
  for (size_t i = 0; i < blob.size(); ++i) {
    auto bad = blob;
    bad[i] ^= 0xff;
    auto r = deserialize_seeded_lwe_list(bad, params(), kNoLimit);
    expect_code(r.status(), code_for_flip_at(i), "byte " + std::to_string(i));
    if (i >= kChecksumAt) {
      EXPECT_NE(r.status().message().find("checksum mismatch"), std::string::npos) << r.status().message();
    }
  }
}

TEST(IoCorruption, FlippedBytesOfEvaluationKeysGiveTheirSpecificErrors) {
  const auto blob = serialize_seeded_evaluation_keys(seeded_keys());
  struct Case {
    size_t at;
    StatusCode code;
    const char* message_part;
  };
  const Case cases[] = {
      {0, StatusCode::kCorrupted, "not a blindml blob"},
      {kVersionAt, StatusCode::kVersionMismatch, "version"},
      {kKindAt, StatusCode::kInvalidArgument, "expected seeded evaluation keys, found"},
      {kFingerprintAt + 5, StatusCode::kParameterMismatch, "fingerprint"},
      {kLengthAt, StatusCode::kCorrupted, "payload length"},
      {kChecksumAt + 3, StatusCode::kCorrupted, "checksum mismatch"},
      {kHeader + 100, StatusCode::kCorrupted, "checksum mismatch"},
      {blob.size() - 1, StatusCode::kCorrupted, "checksum mismatch"},
  };
  for (const Case& c : cases) {
    auto bad = blob;
    bad[c.at] ^= 0x5a;
    auto r = deserialize_seeded_evaluation_keys(bad, params(), kNoLimit);
    expect_code(r.status(), c.code, "byte " + std::to_string(c.at));
    EXPECT_NE(r.status().message().find(c.message_part), std::string::npos) << r.status().message();
  }
}

// ---- header mismatches ----

TEST(IoCorruption, KeysOfAnotherParameterSetAreAParameterMismatch) {
  const ParameterSet other = parameters_for_bits(3).value();
  const auto keys_blob = serialize_seeded_evaluation_keys(seeded_keys());
  auto r = deserialize_seeded_evaluation_keys(keys_blob, other, kNoLimit);
  expect_code(r.status(), StatusCode::kParameterMismatch, "evaluation keys");
  EXPECT_NE(r.status().message().find("fingerprint"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find(fingerprint_hex(other)), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find(fingerprint_hex(params())), std::string::npos) << r.status().message();

  auto ck = deserialize_client_key(serialize_client_key(client_key()), other, kNoLimit);
  expect_code(ck.status(), StatusCode::kParameterMismatch, "client key");
  auto list = deserialize_seeded_lwe_list(small_seeded_list_blob(), other, kNoLimit);
  expect_code(list.status(), StatusCode::kParameterMismatch, "seeded list");
}

TEST(IoCorruption, WrongKindNamesBothKinds) {
  auto r = deserialize_seeded_evaluation_keys(serialize_client_key(client_key()), params(), kNoLimit);
  expect_code(r.status(), StatusCode::kInvalidArgument, "client key as evaluation keys");
  EXPECT_NE(r.status().message().find("expected seeded evaluation keys, found client key"), std::string::npos)
      << r.status().message();
  auto l = deserialize_lwe_list(small_seeded_list_blob(), params(), kNoLimit);
  expect_code(l.status(), StatusCode::kInvalidArgument, "seeded list as full list");
  EXPECT_NE(l.status().message().find("expected LWE ciphertext list, found seeded LWE ciphertext list"),
            std::string::npos)
      << l.status().message();
}

TEST(IoCorruption, OtherFormatVersionIsAVersionMismatchNamingBoth) {
  auto blob = small_seeded_list_blob();
  const std::vector<uint8_t> payload(blob.begin() + kHeader, blob.end());
  const auto v2 = make_blob(2, 3, fingerprint(params()), payload);
  auto r = deserialize_seeded_lwe_list(v2, params(), kNoLimit);
  expect_code(r.status(), StatusCode::kVersionMismatch, "version 2");
  EXPECT_NE(r.status().message().find("version 2"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("version 1"), std::string::npos) << r.status().message();
  // The hand-built blob with the right version loads: make_blob follows the documented layout.
  EXPECT_TRUE(deserialize_seeded_lwe_list(make_blob(1, 3, fingerprint(params()), payload), params(), kNoLimit).ok());
}

TEST(IoCorruption, BlobLargerThanTheLimitIsResourceExhausted) {
  const auto list = small_seeded_list_blob();
  expect_code(deserialize_seeded_lwe_list(list, params(), list.size() - 1).status(), StatusCode::kResourceExhausted,
              "seeded list");
  EXPECT_TRUE(deserialize_seeded_lwe_list(list, params(), list.size()).ok());
  const auto keys = serialize_seeded_evaluation_keys(seeded_keys());
  expect_code(deserialize_seeded_evaluation_keys(keys, params(), keys.size() - 1).status(),
              StatusCode::kResourceExhausted, "evaluation keys");
  expect_code(deserialize_seeded_evaluation_keys(keys, params(), 0).status(), StatusCode::kResourceExhausted,
              "evaluation keys, limit 0");
  const auto ck = serialize_client_key(client_key());
  expect_code(deserialize_client_key(ck, params(), 1000).status(), StatusCode::kResourceExhausted, "client key");
}

// ---- crafted payloads with valid checksums ----

TEST(IoCorruption, InflatedCountsAreRejectedWithoutAllocating) {
  const uint64_t big_n = params().big_lwe_dimension().value;
  const Fingerprint fp = fingerprint(params());
  // Seeded list: counts that overflow (2^61 · 8) or would need terabytes (2^40 · 8), with a few
  // real bodies behind them. Allocating first would throw or exhaust memory.
  for (uint64_t count : {uint64_t{1} << 61, uint64_t{1} << 40, ~uint64_t{0}, uint64_t{5}}) {
    ByteWriter w;
    w.put_u64(big_n);
    w.put_u64(count);
    w.put_bytes(std::vector<uint8_t>(16, 7));  // seed
    w.put_u64s(std::vector<uint64_t>(4, 1));   // 4 bodies
    auto r = deserialize_seeded_lwe_list(make_blob(1, 3, fp, w.bytes()), params(), kNoLimit);
    EXPECT_FALSE(r.ok()) << "count " << count;
    EXPECT_NE(r.status().message().find("records " + std::to_string(count) + " ciphertexts"), std::string::npos)
        << r.status().message();
    EXPECT_TRUE(r.status().code() == StatusCode::kCorrupted || r.status().code() == StatusCode::kResourceExhausted)
        << r.status().to_string();
  }
  // Full list: count · (kN + 1) · 8 overflowing, and merely too large.
  for (uint64_t count : {uint64_t{1} << 60, uint64_t{1} << 30, uint64_t{2}}) {
    ByteWriter w;
    w.put_u64(big_n);
    w.put_u64(count);
    w.put_u64s(std::vector<uint64_t>(big_n + 1, 3));  // one ciphertext
    auto r = deserialize_lwe_list(make_blob(1, 4, fp, w.bytes()), params(), kNoLimit);
    EXPECT_FALSE(r.ok()) << "count " << count;
    EXPECT_NE(r.status().message().find("records " + std::to_string(count) + " ciphertexts"), std::string::npos)
        << r.status().message();
    EXPECT_TRUE(r.status().code() == StatusCode::kCorrupted || r.status().code() == StatusCode::kResourceExhausted)
        << r.status().to_string();
  }
  // Evaluation keys with an inflated bootstrapping-key body count.
  auto keys = serialize_seeded_evaluation_keys(seeded_keys());
  const size_t bsk_count_at = kHeader + 7 * 8 + 16;
  ASSERT_EQ(read_u64(keys, bsk_count_at), seeded_keys().bootstrap_key.bodies().size());
  const uint64_t huge = uint64_t{1} << 62;
  std::memcpy(keys.data() + bsk_count_at, &huge, 8);
  reseal(keys);
  auto r = deserialize_seeded_evaluation_keys(keys, params(), kNoLimit);
  expect_code(r.status(), StatusCode::kCorrupted, "inflated bootstrapping key count");
}

TEST(IoCorruption, DimensionsThatContradictTheParametersAreRejected) {
  const Fingerprint fp = fingerprint(params());
  // A seeded list recorded with the small dimension n instead of k·N.
  ByteWriter w;
  w.put_u64(params().lwe_dimension.value);
  w.put_u64(1);
  w.put_bytes(std::vector<uint8_t>(16, 0));
  w.put_u64(42);
  auto r = deserialize_seeded_lwe_list(make_blob(1, 3, fp, w.bytes()), params(), kNoLimit);
  expect_code(r.status(), StatusCode::kCorrupted, "small dimension");
  EXPECT_NE(r.status().message().find("dimension"), std::string::npos) << r.status().message();
  // Evaluation keys whose recorded PBS level count disagrees.
  auto keys = serialize_seeded_evaluation_keys(seeded_keys());
  const size_t pbs_levels_at = kHeader + 4 * 8;
  keys[pbs_levels_at] ^= 0x02;
  reseal(keys);
  auto k = deserialize_seeded_evaluation_keys(keys, params(), kNoLimit);
  expect_code(k.status(), StatusCode::kCorrupted, "PBS level count");
  EXPECT_NE(k.status().message().find("PBS level count"), std::string::npos) << k.status().message();
}

TEST(IoCorruption, TrailingPayloadBytesAreRejected) {
  auto blob = small_seeded_list_blob();
  std::vector<uint8_t> payload(blob.begin() + kHeader, blob.end());
  payload.push_back(0);
  auto r = deserialize_seeded_lwe_list(make_blob(1, 3, fingerprint(params()), payload), params(), kNoLimit);
  expect_code(r.status(), StatusCode::kCorrupted, "one trailing byte");
  EXPECT_NE(r.status().message().find("trailing"), std::string::npos) << r.status().message();
}

TEST(IoCorruption, ClientKeyBitOtherThanZeroOrOneIsCorrupted) {
  const auto blob = serialize_client_key(client_key());
  const uint64_t n = params().lwe_dimension.value;
  // Payload: n, k, N, n LWE bits, kN GLWE coefficients; poison one of each kind in turn.
  for (size_t word : {size_t{0}, static_cast<size_t>(n - 1), static_cast<size_t>(n + 17)}) {
    auto bad = blob;
    const uint64_t two = 2;
    std::memcpy(bad.data() + kHeader + 3 * 8 + word * 8, &two, 8);
    reseal(bad);
    auto r = deserialize_client_key(bad, params(), kNoLimit);
    expect_code(r.status(), StatusCode::kCorrupted, "key word " + std::to_string(word));
    EXPECT_NE(r.status().message().find("is 2"), std::string::npos) << r.status().message();
  }
}

}  // namespace
