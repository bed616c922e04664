// The behaviour every KeyStore must show, run by the file store's tests (serve_test.cc) and the
// Redis store's (redis_store_test.cc) alike. Expects an empty store.
#pragma once

#include <gtest/gtest.h>

#include <vector>

#include "blindml/serve/key_store.h"

namespace blindml::serve::testing {

inline void expect_key_store_contract(KeyStore& store) {
  const std::string uid = new_uid().value();
  EXPECT_TRUE(is_valid_uid(uid));
  EXPECT_NE(uid, new_uid().value());
  const std::vector<uint8_t> keys = {1, 2, 3, 4, 5};
  EXPECT_EQ(store.stats().value().keys, 0u);
  ASSERT_TRUE(store.put(uid, keys).ok());
  EXPECT_EQ(store.get(uid, 1 << 20).value(), keys);
  EXPECT_EQ(store.stats().value().keys, 1u);
  EXPECT_EQ(store.stats().value().bytes, keys.size());
  // Replacing keeps one entry and the new size.
  const std::vector<uint8_t> more(300, 9);
  ASSERT_TRUE(store.put(uid, more).ok());
  EXPECT_EQ(store.get(uid, 1 << 20).value(), more);
  EXPECT_EQ(store.stats().value().keys, 1u);
  EXPECT_EQ(store.stats().value().bytes, more.size());
  // A second client is separate.
  const std::string other = new_uid().value();
  ASSERT_TRUE(store.put(other, keys).ok());
  EXPECT_EQ(store.get(uid, 1 << 20).value(), more);
  EXPECT_EQ(store.stats().value().keys, 2u);
  EXPECT_EQ(store.stats().value().bytes, more.size() + keys.size());
  ASSERT_TRUE(store.remove(other).ok());
  // Keys over the reader's limit are refused, not read.
  EXPECT_EQ(store.get(uid, 2).status().code(), StatusCode::kResourceExhausted);
  ASSERT_TRUE(store.remove(uid).ok());
  EXPECT_EQ(store.get(uid, 1 << 20).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store.remove(uid).code(), StatusCode::kNotFound);
  EXPECT_EQ(store.stats().value().keys, 0u);
  EXPECT_EQ(store.stats().value().bytes, 0u);
  EXPECT_EQ(store.get(new_uid().value(), 10).status().code(), StatusCode::kNotFound);
  // Ids that are not 32 hex digits never reach the storage (no path or key injection).
  EXPECT_EQ(store.put("../escape", keys).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store.get("ABCDEF", 10).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store.remove("nothex").code(), StatusCode::kInvalidArgument);
}

}  // namespace blindml::serve::testing
