// base/json.h: every typed read refuses the wrong JSON type and values outside the destination's
// range with `corrupted` naming the field, and never throws.
#include "blindml/base/json.h"

#include <gtest/gtest.h>

#include "blindml/base/checked.h"

namespace blindml {
namespace {

using nlohmann::json;

template <typename T>
Status read(const std::string& text, T* out) {
  return json_get(json::parse(text), "f.json", "v", out);
}

void expect_corrupted(const Status& s, const std::string& words) {
  EXPECT_EQ(s.code(), StatusCode::kCorrupted) << s.to_string();
  EXPECT_NE(s.message().find(words), std::string::npos) << s.message() << "\nexpected: " << words;
}

TEST(JsonGet, TypesAreChecked) {
  bool b = false;
  EXPECT_TRUE(read(R"({"v": true})", &b).ok());
  EXPECT_TRUE(b);
  expect_corrupted(read(R"({"v": "true"})", &b), "f.json: field 'v' must be a boolean, got a string");
  expect_corrupted(read(R"({"v": 1})", &b), "must be a boolean, got an integer");
  std::string s;
  expect_corrupted(read(R"({"v": null})", &s), "must be a string, got null");
  double d = 0;
  EXPECT_TRUE(read(R"({"v": 3})", &d).ok());
  EXPECT_EQ(d, 3.0);
  expect_corrupted(read(R"({"v": [1]})", &d), "must be a finite number, got an array");
  expect_corrupted(read(R"({"w": 1})", &d), "field 'v' is missing");
  expect_corrupted(json_get(json::parse("[1]"), "f.json", "v", &d), "f.json is not a JSON object");
}

TEST(JsonGet, IntegersMustFitTheirType) {
  int64_t i = 0;
  uint64_t u = 0;
  uint32_t u32 = 0;
  int32_t i32 = 0;
  EXPECT_TRUE(read(R"({"v": -9223372036854775808})", &i).ok());
  EXPECT_EQ(i, INT64_MIN);
  expect_corrupted(read(R"({"v": 9223372036854775808})", &i), "= 9223372036854775808 is outside the range of a signed 64-bit");
  EXPECT_TRUE(read(R"({"v": 18446744073709551615})", &u).ok());
  EXPECT_EQ(u, UINT64_MAX);
  expect_corrupted(read(R"({"v": -1})", &u), "= -1 is outside the range of an unsigned 64-bit");
  expect_corrupted(read(R"({"v": 4294967296})", &u32), "outside the range of an unsigned 32-bit");
  EXPECT_TRUE(read(R"({"v": 4294967295})", &u32).ok());
  expect_corrupted(read(R"({"v": -2147483649})", &i32), "outside the range of a signed 32-bit");
  expect_corrupted(read(R"({"v": 2.0})", &i), "must be an integer, got a number with a fraction");
}

TEST(JsonGet, RangesAndOptionalFields) {
  const json j = json::parse(R"({"bits": 17, "zp": -5})");
  uint32_t bits = 0;
  expect_corrupted(json_get_in<uint32_t>(j, "p.json", "bits", 1, 16, &bits), "p.json: field 'bits' = 17 is outside [1, 16]");
  EXPECT_EQ(bits, 0u);  // untouched on failure
  int64_t zp = 0;
  EXPECT_TRUE(json_get_in<int64_t>(j, "p.json", "zp", -8, 8, &zp).ok());
  EXPECT_EQ(zp, -5);
  bool flag = true;
  EXPECT_TRUE(json_get_optional(j, "p.json", "absent", &flag).ok());
  EXPECT_TRUE(flag);
  expect_corrupted(json_get_optional(j, "p.json", "bits", &flag), "must be a boolean");
  const json* arr = nullptr;
  expect_corrupted(json_get_array(json::parse(R"({"a": [1, 2, 3]})"), "p.json", "a", 2, &arr),
                   "field 'a' has 3 entries, more than the 2 allowed");
  expect_corrupted(json_get_object(j, "p.json", "bits", &arr), "field 'bits' must be an object, got an integer");
}

TEST(JsonParse, NotAnObjectIsCorrupted) {
  EXPECT_EQ(parse_json_object("[1, 2]", "x.json").status().code(), StatusCode::kCorrupted);
  EXPECT_EQ(parse_json_object("{\"a\": ", "x.json").status().code(), StatusCode::kCorrupted);
  EXPECT_EQ(parse_json_object("{\"a\": \"\xff\"}", "x.json").status().code(), StatusCode::kCorrupted);
  EXPECT_TRUE(parse_json_object("{\"a\": 1}", "x.json").ok());
}

TEST(Checked, ProductsOverflowToNullopt) {
  EXPECT_EQ(checked_mul((uint64_t{1} << 63) + 1, 10), std::nullopt);
  EXPECT_EQ(checked_product(uint64_t{1} << 32, uint64_t{1} << 31, 2), std::nullopt);
  EXPECT_EQ(checked_product(uint64_t{1} << 32, uint64_t{1} << 31), uint64_t{1} << 63);
  EXPECT_EQ(checked_add(UINT64_MAX, 1), std::nullopt);
}

}  // namespace
}  // namespace blindml
