// What a hostile peer can send the loaders, with every checksum recomputed (anyone can): counts
// that wrap when multiplied, counts far beyond the bytes present, wrong-typed JSON fields. Each
// case asserts the exact status code, a message naming the field, and — where a count could size
// an allocation — that nothing large was allocated before the refusal. Leveled models only, so
// that these run in seconds with the real 128-bit parameters.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

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

// A seeded input is 8 bytes per ciphertext on the wire and kN + 1 words once expanded: a request
// of many rows passes the byte limit on its input and the limit on its answer, and is refused by
// the limit on its expanded input before anything is expanded.
TEST(EnvelopeCounts, InputLargerOnceExpandedIsRefusedBeforeExpanding) {
  Session& s = session();
  model::Rows rows(leveled().test.features.begin(), leveled().test.features.begin() + 8);
  auto enc = s.client.encrypt(rows).value();
  ServerLimits limits;
  const uint64_t one_ct = (s.server.compiled().params.big_lwe_dimension().value + 1) * 8;
  const uint64_t one_row = one_ct * static_cast<uint64_t>(s.client.specs().input_features);
  limits.max_expanded_input = 4 * one_row;  // room for 4 of the 8 rows
  {
    testing::LargestAllocation largest;
    expect_status(s.server.run(enc, s.keys, pool(), limits).status(), StatusCode::kResourceExhausted,
                  "over the limit of " + std::to_string(limits.max_expanded_input));
    EXPECT_LT(largest.bytes(), 4 * one_row) << "refused before the input was expanded";
  }
  limits.max_expanded_input = 8 * one_row;
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


// ---- wrong-typed and out-of-range JSON fields ----

using nlohmann::json;

// client.zip with one JSON entry edited.
std::vector<uint8_t> edit_zip(const std::vector<uint8_t>& zip, const std::string& entry,
                              const std::function<void(json&)>& edit) {
  auto files = internal::read_zip(zip, "zip", 1 << 26).value();
  json j = json::parse(files.at(entry).begin(), files.at(entry).end());
  edit(j);
  const std::string text = j.dump();
  std::vector<internal::ZipEntry> entries;
  for (auto& [name, data] : files)
    entries.push_back({name, name == entry ? std::vector<uint8_t>(text.begin(), text.end()) : data});
  return internal::write_zip(entries).value();
}

struct JsonCase {
  std::string entry;
  std::function<void(json&)> edit;
  std::string field;  // the message names it
};

TEST(JsonFields, WrongTypesInClientZipAreCorruptedNamingTheField) {
  const json big = json::parse("9223372036854775808");  // 2^63: no int64_t
  const std::vector<JsonCase> cases = {
      {"client.specs.json", [](json& j) { j["needs_evaluation_keys"] = "yes"; }, "'needs_evaluation_keys' must be a boolean, got a string"},
      {"client.specs.json", [](json& j) { j["carrier_bits"] = "8"; }, "'carrier_bits' must be a non-negative integer, got a string"},
      {"client.specs.json", [](json& j) { j["carrier_bits"] = 4096; }, "'carrier_bits' = 4096 is outside [1, 48]"},
      {"client.specs.json", [](json& j) { j["output"]["signed"] = 1; }, "output: field 'signed' must be a boolean"},
      {"client.specs.json", [&](json& j) { j["input"]["shape"][0] = big; }, "input: field 'shape[0]' = 9223372036854775808 is outside"},
      {"client.specs.json", [](json& j) { j["input"]["shape"][0] = 1 << 30; }, "field 'shape[0]' = 1073741824 is outside [1, 16777216]"},
      {"client.specs.json", [](json& j) { j["parameters"]["lwe_dimension"] = "742"; }, "parameters: field 'lwe_dimension' must be a non-negative integer"},
      {"client.specs.json", [](json& j) { j["parameters"]["lwe_noise_log2_std"] = true; }, "field 'lwe_noise_log2_std' must be a finite number, got a boolean"},
      {"client.specs.json", [](json& j) { j["model_id"] = 7; }, "field 'model_id' must be a string, got an integer"},
      {"client.specs.json", [](json& j) { j["parameters"] = json::array(); }, "field 'parameters' must be an object, got an array"},
      {"serialized_processing.json", [](json& j) { j["features"][0]["signed"] = "true"; }, "features[0]: field 'signed' must be a boolean, got a string"},
      {"serialized_processing.json", [&](json& j) { j["features"][1]["zero_point"] = big; }, "features[1]: field 'zero_point' = 9223372036854775808 is outside the range"},
      {"serialized_processing.json", [](json& j) { j["features"][1]["zero_point"] = int64_t{1} << 40; }, "features[1]: field 'zero_point' = 1099511627776 is outside"},
      {"serialized_processing.json", [](json& j) { j["features"][0]["n_bits"] = 2.5; }, "field 'n_bits' must be a non-negative integer, got a number with a fraction"},
      {"serialized_processing.json", [](json& j) { j["post_transform"] = 3; }, "field 'post_transform' must be a string, got an integer"},
      {"serialized_processing.json", [](json& j) { j["binary_single_score"] = "no"; }, "field 'binary_single_score' must be a boolean, got a string"},
      {"serialized_processing.json", [](json& j) { j["normalize_l1"] = json::object(); }, "field 'normalize_l1' must be a boolean, got an object"},
      {"serialized_processing.json", [](json& j) { j["output"]["scale"][0] = "1"; }, "output: field 'scale[0]' must be a finite number, got a string"},
      {"serialized_processing.json", [](json& j) { j["features"] = 3; }, "field 'features' must be an array, got an integer"},
      {"versions.json", [](json& j) { j["format_version"] = "1"; }, "field 'format_version' must be a non-negative integer, got a string"},
      {"versions.json", [](json& j) { j["artifact"] = 1; }, "field 'artifact' must be a string, got an integer"},
      {"versions.json", [](json& j) { j["model_id"] = json(); }, "field 'model_id' must be a string, got null"},
  };
  ASSERT_TRUE(Client::load_bytes(leveled().client_zip).ok());
  for (const auto& c : cases) {
    auto zip = edit_zip(leveled().client_zip, c.entry, c.edit);
    auto r = Client::load_bytes(zip);
    expect_status(r.status(), StatusCode::kCorrupted, c.field);
    EXPECT_NE(r.status().message().find(c.entry), std::string::npos) << r.status().message();
  }
}

TEST(JsonFields, WrongTypesInServerZipAreCorruptedNamingTheField) {
  ASSERT_TRUE(Server::load_bytes(leveled().server_zip).ok());
  const std::vector<JsonCase> cases = {
      {"versions.json", [](json& j) { j["format_version"] = -1; }, "field 'format_version' = -1 is outside the range"},
      {"versions.json", [](json& j) { j["artifact"] = json::array({"server"}); }, "field 'artifact' must be a string, got an array"},
      {"versions.json", [](json& j) { j["model_id"] = false; }, "field 'model_id' must be a string, got a boolean"},
      {"versions.json", [](json& j) { j.erase("model_id"); }, "field 'model_id' is missing"},
  };
  for (const auto& c : cases) {
    auto r = Server::load_bytes(edit_zip(leveled().server_zip, c.entry, c.edit));
    expect_status(r.status(), StatusCode::kCorrupted, c.field);
    EXPECT_NE(r.status().message().find("server.zip/versions.json"), std::string::npos) << r.status().message();
  }
}

// ---- a circuit whose analysis would need gigabytes ----

// input [2^20] -> sum (one element with 2^20 noise terms) -> reshape [1] -> gather 2^20 copies of
// it: 8 MiB of gather indices (a few KiB deflated) that asked the analysis for 2^40 terms.
TEST(CircuitBombs, GatheredWideSumIsRefusedWithBoundedMemory) {
  const int64_t n = int64_t{1} << 20;
  std::vector<circuit::Node> nodes(5);
  nodes[0].kind = circuit::OpKind::kInput;
  nodes[0].name = "x";
  nodes[0].shape = {n};
  nodes[0].range_min = {0};
  nodes[0].range_max = {1};
  nodes[1].kind = circuit::OpKind::kSum;
  nodes[1].name = "s";
  nodes[1].inputs = {0};
  nodes[1].attrs = {0};
  nodes[2].kind = circuit::OpKind::kReshape;
  nodes[2].name = "r";
  nodes[2].inputs = {1};
  nodes[2].shape = {1};
  nodes[3].kind = circuit::OpKind::kGather;
  nodes[3].name = "g";
  nodes[3].inputs = {2};
  nodes[3].shape = {n};
  nodes[3].attrs.assign(n + 1, 0);  // axis 0, then n zero indices
  nodes[4].kind = circuit::OpKind::kOutput;
  nodes[4].name = "y";
  nodes[4].inputs = {3};
  nodes[4].shape = {n};
  auto compiled = Server::load_bytes(leveled().server_zip)->compiled();
  compiled.circuit = circuit::Circuit(std::move(nodes));
  ASSERT_TRUE(compiled.circuit.validate().ok()) << compiled.circuit.validate().to_string();
  const auto blob = compiler::serialize_compiled_circuit(compiled);
  auto zip = internal::write_zip({{"circuit.bin", blob},
                                  {"versions.json", internal::read_zip(leveled().server_zip, "z", 1 << 20)
                                                        .value()
                                                        .at("versions.json")}})
                 .value();
  EXPECT_LT(zip.size(), size_t{256} << 10);
  testing::LargestAllocation largest;
  auto r = Server::load_bytes(zip);
  expect_status(r.status(), StatusCode::kCorrupted, "the noise analysis would track more than 8388608 terms");
  EXPECT_NE(r.status().message().find("gather 'g'"), std::string::npos) << r.status().message();
  // The blob (8 MiB), its inflated copy and the bounded forms; not the 16 TiB asked for.
  EXPECT_LT(largest.total(), size_t{1} << 30);
}


// ---- zip entries that declare more than they hold ----

TEST(ZipEntries, DeclaredSizeIsNotAllocatedBeforeTheBytesExist) {
  auto zip = internal::write_zip({{"versions.json", std::vector<uint8_t>(100, '{')}}).value();
  // Both headers record the uncompressed size: local header at +22, central directory at +24.
  const uint32_t claimed = uint32_t{1} << 29;
  int patched = 0;
  for (size_t i = 0; i + 4 <= zip.size(); ++i) {
    if (std::memcmp(&zip[i], "PK\3\4", 4) == 0) std::memcpy(&zip[i + 22], &claimed, 4), ++patched;
    if (std::memcmp(&zip[i], "PK\1\2", 4) == 0) std::memcpy(&zip[i + 24], &claimed, 4), ++patched;
  }
  ASSERT_EQ(patched, 2);
  testing::LargestAllocation largest;
  auto r = internal::read_zip(zip, "server.zip", uint64_t{1} << 30);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorrupted) << r.status().to_string();
  EXPECT_LT(largest.bytes(), size_t{8} << 20);
  // Over the per-entry limit: refused from the declaration alone.
  auto small = internal::read_zip(zip, "client.zip", uint64_t{64} << 20);
  EXPECT_EQ(small.status().code(), StatusCode::kResourceExhausted) << small.status().to_string();
}

TEST(ZipEntries, TooManyEntriesAndTooManyBytesInAll) {
  std::vector<internal::ZipEntry> many;
  for (int i = 0; i < 65; ++i) many.push_back({std::string("e").append(std::to_string(i)), {1}});  // not "e" + …: GCC 12 -Wrestrict false positive
  auto r = internal::read_zip(internal::write_zip(many).value(), "client.zip", 1 << 20);
  expect_status(r.status(), StatusCode::kCorrupted, "65 entries");
  std::vector<internal::ZipEntry> big = {{"a", std::vector<uint8_t>(600, 1)}, {"b", std::vector<uint8_t>(600, 2)}};
  auto t = internal::read_zip(internal::write_zip(big).value(), "client.zip", 1000, 1000);
  expect_status(t.status(), StatusCode::kResourceExhausted, "more than 1000 bytes in all");
  EXPECT_TRUE(internal::read_zip(internal::write_zip(big).value(), "client.zip", 1000, 1200).ok());
}

// A client.zip (which a server hands out on /get_client) whose parameters pass the security
// check but would make key generation allocate terabytes: refused at load.
TEST(JsonFields, ParametersWhoseKeysWouldBeHugeAreRefusedAtLoad) {
  auto zip = edit_zip(leveled().client_zip, "client.specs.json", [](json& j) {
    auto& p = j["parameters"];
    p["lwe_dimension"] = 65536;
    p["glwe_dimension"] = 8;
    p["polynomial_size"] = 131072;
    p["lwe_noise_log2_std"] = 10.0;
    p["glwe_noise_log2_std"] = 10.0;
    p["pbs_base_log"] = 1;
    p["pbs_level_count"] = 53;
  });
  testing::LargestAllocation largest;
  auto r = Client::load_bytes(zip);
  expect_status(r.status(), StatusCode::kResourceExhausted, "bytes of evaluation keys, over the limit of 4294967296");
  EXPECT_LT(largest.bytes(), size_t{16} << 20);
}
}  // namespace
}  // namespace blindml::deploy
