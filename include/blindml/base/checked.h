// Overflow-checked arithmetic for sizes computed from untrusted input (headers, JSON, CLI
// arguments). Each returns std::nullopt on overflow instead of wrapping.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>

namespace blindml {

inline std::optional<uint64_t> checked_mul(uint64_t a, uint64_t b) {
  uint64_t r;
  if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
  return r;
}

inline std::optional<uint64_t> checked_add(uint64_t a, uint64_t b) {
  uint64_t r;
  if (__builtin_add_overflow(a, b, &r)) return std::nullopt;
  return r;
}

// Product of all arguments, or nullopt if any partial product overflows.
template <typename... Ts>
std::optional<uint64_t> checked_product(uint64_t first, Ts... rest) {
  std::optional<uint64_t> acc = first;
  ((acc = acc ? checked_mul(*acc, static_cast<uint64_t>(rest)) : std::nullopt), ...);
  return acc;
}

}  // namespace blindml
