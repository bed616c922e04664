// What a hostile peer can send the loaders, with every checksum recomputed (anyone can): counts
// that wrap when multiplied, counts far beyond the bytes present, wrong-typed JSON fields. Each
// case asserts the exact status code, a message naming the field, and — where a count could size
// an allocation — that nothing large was allocated before the refusal. Leveled models only, so
// that these run in seconds with the real 128-bit parameters.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "alloc_tracker.h"
#include "blindml/base/bytes.h"
#include "blindml/deploy/deploy.h"
#include "internal/zip_io.h"
#include "model_data.h"

namespace blindml::deploy {
namespace {

using model::testing::DataSet;

ThreadPool& pool() {
  static ThreadPool p(2);
  return p;
}

// Envelope header fields (docs/formats.md, "Exchange files").
constexpr size_t kRowsAt = 44;
constexpr size_t kEnvelopeHeader = 68;
// The crypto blob inside: header 68 bytes, then dimension (8), count (8).
constexpr size_t kBlobCountAt = kEnvelopeHeader + 68 + 8;

uint64_t read_u64(const std::vector<uint8_t>& b, size_t at) {
  uint64_t v;
  std::memcpy(&v, b.data() + at, 8);
  return v;
}
void write_u64(std::vector<uint8_t>& b, size_t at, uint64_t v) { std::memcpy(b.data() + at, &v, 8); }

// Recomputes the envelope's header checksum (first 8 bytes of SHA-256 of bytes 0..59) and the
// inner blob's payload checksum (SHA-256 of the blob payload at blob offset 36).
void reseal(std::vector<uint8_t>& e) {
  auto blob = std::span<uint8_t>(e).subspan(kEnvelopeHeader);
  if (blob.size() >= 68) {
    auto d = sha256(std::span<const uint8_t>(blob).subspan(68));
    std::memcpy(blob.data() + 36, d.data(), 32);
  }
  auto h = sha256(std::span<const uint8_t>(e).first(60));
  std::memcpy(e.data() + 60, h.data(), 8);
}

struct Model {
  std::vector<uint8_t> client_zip, server_zip;
  DataSet test;
};

// A leveled model (no PBS, no evaluation keys to expand), compiled once per binary.
const Model& leveled() {
  static const Model m = [] {
    DataSet train, test;
    EXPECT_TRUE(model::testing::load_split("diabetes", "train", train));
    EXPECT_TRUE(model::testing::load_split("diabetes", "test", test));
    auto dev = Dev::compile(model::testing::data_dir() + "/models/linear_regression_diabetes.onnx", train.features);
    EXPECT_TRUE(dev.ok()) << dev.status().to_string();
    EXPECT_FALSE(dev->model().compiled.needs_bootstrapping);
    return Model{dev->client_zip().value(), dev->server_zip().value(), test};
  }();
  return m;
}

struct Session {
  Client client;
  Server server;
  Server::Keys keys;
};
Session& session() {
  static Session s = [] {
    auto client = Client::load_bytes(leveled().client_zip).value();
    EXPECT_TRUE(client.generate_keys().ok());
    auto server = Server::load_bytes(leveled().server_zip).value();
    auto keys = server.load_evaluation_keys(client.evaluation_keys().value()).value();
    return Session{std::move(client), std::move(server), keys};
  }();
  return s;
}

void expect_status(const Status& s, StatusCode code, const std::string& words) {
  EXPECT_EQ(s.code(), code) << s.to_string();
  EXPECT_NE(s.message().find(words), std::string::npos) << "message: " << s.message() << "\nexpected: " << words;
}

TEST(EnvelopeCounts, ResealedRowCountThatWrapsIsRefused) {
  Session& s = session();
  const int64_t features = s.client.specs().input_features;
  ASSERT_EQ(features, 10);  // diabetes: even, so (2^63 + 1)·10 wraps to 10 mod 2^64
  auto enc = s.client.encrypt({leveled().test.features[0]}).value();
  ASSERT_EQ(read_u64(enc, kRowsAt), 1u);
  ASSERT_TRUE(s.server.run(enc, s.keys, pool()).ok());
  const uint64_t wrapping = (uint64_t{1} << 63) + 1;
  ASSERT_EQ(wrapping * static_cast<uint64_t>(features), static_cast<uint64_t>(features));
  for (uint64_t rows : {wrapping, uint64_t{1} << 40, ~uint64_t{0}, uint64_t{2}, uint64_t{0}}) {
    auto bad = enc;
    write_u64(bad, kRowsAt, rows);
    reseal(bad);
    testing::LargestAllocation largest;
    auto r = s.server.run(bad, s.keys, pool());
    expect_status(r.status(), StatusCode::kCorrupted, "header says " + std::to_string(rows) + " rows");
    EXPECT_LT(largest.bytes(), size_t{16} << 20) << "rows " << rows;
  }
}

TEST(EnvelopeCounts, ResealedCiphertextCountIsRefusedWithoutAllocating) {
  Session& s = session();
  auto enc = s.client.encrypt({leveled().test.features[0]}).value();
  ASSERT_EQ(read_u64(enc, kBlobCountAt), 10u);
  for (uint64_t count : {uint64_t{1} << 61, uint64_t{1} << 40, ~uint64_t{0}, uint64_t{11}}) {
    auto bad = enc;
    write_u64(bad, kBlobCountAt, count);
    reseal(bad);
    testing::LargestAllocation largest;
    auto r = s.server.run(bad, s.keys, pool());
    expect_status(r.status(), StatusCode::kCorrupted, "records " + std::to_string(count) + " ciphertexts");
    EXPECT_LT(largest.bytes(), size_t{16} << 20) << "count " << count;
  }
}

TEST(EnvelopeCounts, AnswerLargerThanTheOutputLimitIsRefusedBeforeRunning) {
  Session& s = session();
  model::Rows rows(leveled().test.features.begin(), leveled().test.features.begin() + 8);
  auto enc = s.client.encrypt(rows).value();
  ServerLimits limits;
  const uint64_t one_row = s.server.compiled().params.big_lwe_dimension().value * 8 + 8;
  limits.max_output = 4 * one_row;  // room for 4 of the 8 answers
  expect_status(s.server.run(enc, s.keys, pool(), limits).status(), StatusCode::kResourceExhausted,
                "over the limit of " + std::to_string(limits.max_output));
  limits.max_output = 16 * one_row + 1000;
  EXPECT_TRUE(s.server.run(enc, s.keys, pool(), limits).ok());
}

TEST(EnvelopeCounts, ResealedOutputRowCountIsRefusedByTheClient) {
  Session& s = session();
  auto enc = s.client.encrypt({leveled().test.features[0]}).value();
  auto out = s.server.run(enc, s.keys, pool()).value();
  ASSERT_TRUE(s.client.decrypt(out).ok());
  for (uint64_t rows : {(uint64_t{1} << 63) + 1, uint64_t{1} << 25, uint64_t{0}}) {
    auto bad = out;
    write_u64(bad, kRowsAt, rows);
    reseal(bad);
    testing::LargestAllocation largest;
    expect_status(s.client.decrypt(bad).status(), StatusCode::kCorrupted, "bad row count");
    EXPECT_LT(largest.bytes(), size_t{16} << 20);
  }
  auto bad = out;
  write_u64(bad, kRowsAt, 2);  // plausible, but the list holds one row's ciphertexts
  reseal(bad);
  expect_status(s.client.decrypt(bad).status(), StatusCode::kCorrupted, "2 rows need");
}

}  // namespace
}  // namespace blindml::deploy
