// The framing of stored evaluation keys, shared by the file and Redis key stores (docs/server.md,
// "Key store files"): magic "BLKS", format version (u32), length of the keys (u64), SHA-256 of
// the keys, then the keys as uploaded; integers little-endian.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "blindml/base/status.h"

namespace blindml::serve::internal {

inline constexpr size_t kKeyHeaderBytes = 4 + 4 + 8 + 32;

// The header that precedes keys in the store.
std::array<uint8_t, kKeyHeaderBytes> key_header(std::span<const uint8_t> keys);

// Checks a header read from `where` (a file path or Redis key, for messages) whose whole record,
// header included, is record_bytes long; on success, the length of the keys that follow it. Keys
// longer than max_bytes are refused (resource_exhausted) before they are read.
Result<uint64_t> check_key_header(std::span<const uint8_t, kKeyHeaderBytes> header, uint64_t record_bytes,
                                  uint64_t max_bytes, const std::string& where, std::string_view uid);

// Checks the keys read after a header against its SHA-256.
Status check_key_digest(std::span<const uint8_t, kKeyHeaderBytes> header, std::span<const uint8_t> keys,
                        const std::string& where);

}  // namespace blindml::serve::internal
