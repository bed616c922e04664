// Typed reads of JSON fields from files a peer controls (client.specs.json,
// serialized_processing.json, versions.json): the one place where a JSON value becomes a C++
// value. Each read checks the type — and for numbers the range of the destination type, plus an
// optional [lo, hi] — and returns a Status instead of letting nlohmann::json throw, so that a
// string where a boolean belongs is `corrupted: client.specs.json: field 'needs_evaluation_keys'
// must be a boolean, got a string`, never an exception through a part's API.
//
//   json_get(obj, where, "field", &out)              required field
//   json_get_optional(obj, where, "field", &out)     absent: ok and out unchanged
//   json_get_in(obj, where, "field", lo, hi, &out)   required, integer or double in [lo, hi]
//   json_get_object / json_get_array                 a pointer to the nested value (arrays with
//                                                    a maximum size, checked before iterating)
//   json_as(value, where, "name", &out)              the same checks on a value (array elements)
//
// `where` names the file and the enclosing object in messages ("client.specs.json: input").
// Types: bool, std::string, int64_t, uint64_t, uint32_t, int32_t, double (finite only).
// Integers must be JSON integers (1.0 is not an integer) within the destination's range: 2^63
// is not an int64_t.
//
// Header-only; include it only from parts that link nlohmann_json (model, deploy).
// Thread safety: pure functions.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <type_traits>

#include "blindml/base/status.h"

namespace blindml {

namespace json_internal {

inline const char* type_name(const nlohmann::json& v) {
  if (v.is_null()) return "null";
  if (v.is_boolean()) return "a boolean";
  if (v.is_number_integer()) return "an integer";
  if (v.is_number_float()) return "a number with a fraction";
  if (v.is_string()) return "a string";
  if (v.is_array()) return "an array";
  if (v.is_object()) return "an object";
  return "a binary value";
}

template <typename T>
constexpr const char* wanted_name() {
  if constexpr (std::is_same_v<T, bool>) {
    return "a boolean";
  } else if constexpr (std::is_same_v<T, std::string>) {
    return "a string";
  } else if constexpr (std::is_same_v<T, double>) {
    return "a finite number";
  } else if constexpr (std::is_unsigned_v<T>) {
    return "a non-negative integer";
  } else {
    return "an integer";
  }
}

inline std::string at(std::string_view where, std::string_view name) {
  return std::string(where) + ": field '" + std::string(name) + "'";
}

template <typename T>
std::string to_text(T v) {
  if constexpr (std::is_same_v<T, double>) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    return buf;
  } else {
    return std::to_string(v);
  }
}

}  // namespace json_internal

template <typename T>
[[nodiscard]] Status json_as(const nlohmann::json& v, std::string_view where, std::string_view name, T* out) {
  using json_internal::at;
  auto wrong = [&] {
    return corrupted(at(where, name) + " must be " + json_internal::wanted_name<T>() + ", got " +
                     json_internal::type_name(v));
  };
  if constexpr (std::is_same_v<T, bool>) {
    if (!v.is_boolean()) return wrong();
    *out = v.get<bool>();
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!v.is_string()) return wrong();
    *out = v.get_ref<const std::string&>();
  } else if constexpr (std::is_same_v<T, double>) {
    if (!v.is_number()) return wrong();
    const double d = v.get<double>();
    if (!std::isfinite(d)) return corrupted(at(where, name) + " is not a finite number");
    *out = d;
  } else {
    static_assert(std::is_integral_v<T>, "json_as: unsupported type");
    if (!v.is_number_integer()) return wrong();
    // Compare in the widest types: the JSON integer is an int64_t or, above 2^63 - 1, a uint64_t.
    const bool above = v.is_number_unsigned()
                           ? v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<T>::max())
                           : v.get<int64_t>() > 0 && static_cast<uint64_t>(v.get<int64_t>()) >
                                                         static_cast<uint64_t>(std::numeric_limits<T>::max());
    const bool below = !v.is_number_unsigned() && v.get<int64_t>() < 0 &&
                       (std::is_unsigned_v<T> ||
                        v.get<int64_t>() < static_cast<int64_t>(std::numeric_limits<T>::min()));
    if (above || below) {
      return corrupted(at(where, name) + " = " + v.dump() + " is outside the range of " +
                       (std::is_unsigned_v<T> ? "an unsigned " : "a signed ") + std::to_string(8 * sizeof(T)) +
                       "-bit integer");
    }
    *out = v.is_number_unsigned() ? static_cast<T>(v.get<uint64_t>()) : static_cast<T>(v.get<int64_t>());
  }
  return Status();
}

template <typename T>
[[nodiscard]] Status json_get(const nlohmann::json& obj, std::string_view where, std::string_view field, T* out) {
  if (!obj.is_object()) return corrupted(std::string(where) + " is not a JSON object");
  const auto it = obj.find(field);
  if (it == obj.end()) return corrupted(json_internal::at(where, field) + " is missing");
  return json_as(*it, where, field, out);
}

template <typename T>
[[nodiscard]] Status json_get_optional(const nlohmann::json& obj, std::string_view where, std::string_view field,
                                       T* out) {
  if (!obj.is_object()) return corrupted(std::string(where) + " is not a JSON object");
  const auto it = obj.find(field);
  if (it == obj.end()) return Status();
  return json_as(*it, where, field, out);
}

// Also out of range: a value outside [lo, hi] (message with both bounds).
template <typename T>
[[nodiscard]] Status json_in_range(T v, std::string_view where, std::string_view field, T lo, T hi) {
  if (v < lo || v > hi) {
    return corrupted(json_internal::at(where, field) + " = " + json_internal::to_text(v) + " is outside [" +
                     json_internal::to_text(lo) + ", " + json_internal::to_text(hi) + "]");
  }
  return Status();
}

template <typename T>
[[nodiscard]] Status json_get_in(const nlohmann::json& obj, std::string_view where, std::string_view field, T lo,
                                 T hi, T* out) {
  T v{};
  BLINDML_RETURN_IF_ERROR(json_get(obj, where, field, &v));
  BLINDML_RETURN_IF_ERROR(json_in_range(v, where, field, lo, hi));
  *out = v;
  return Status();
}

[[nodiscard]] inline Status json_get_object(const nlohmann::json& obj, std::string_view where, std::string_view field,
                                            const nlohmann::json** out) {
  if (!obj.is_object()) return corrupted(std::string(where) + " is not a JSON object");
  const auto it = obj.find(field);
  if (it == obj.end()) return corrupted(json_internal::at(where, field) + " is missing");
  if (!it->is_object())
    return corrupted(json_internal::at(where, field) + " must be an object, got " + json_internal::type_name(*it));
  *out = &*it;
  return Status();
}

[[nodiscard]] inline Status json_get_array(const nlohmann::json& obj, std::string_view where, std::string_view field,
                                           size_t max_size, const nlohmann::json** out) {
  if (!obj.is_object()) return corrupted(std::string(where) + " is not a JSON object");
  const auto it = obj.find(field);
  if (it == obj.end()) return corrupted(json_internal::at(where, field) + " is missing");
  if (!it->is_array())
    return corrupted(json_internal::at(where, field) + " must be an array, got " + json_internal::type_name(*it));
  if (it->size() > max_size)
    return corrupted(json_internal::at(where, field) + " has " + std::to_string(it->size()) +
                     " entries, more than the " + std::to_string(max_size) + " allowed");
  *out = &*it;
  return Status();
}

// Parses text that must be one JSON object; corrupted naming `what` otherwise. Never throws.
[[nodiscard]] inline Result<nlohmann::json> parse_json_object(std::string_view text, std::string_view what) {
  nlohmann::json j = nlohmann::json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return corrupted(std::string(what) + " is not a JSON object");
  return j;
}

}  // namespace blindml
