// Status and Result<T>: how every part reports a failure caused by something outside it
// (files, bytes on the wire, user arguments). A Status is an error code and a message a user
// can act on; Result<T> is either a T or a non-ok Status. Exceptions never cross a part's
// public API: functions that can fail on external input return one of these.
//
// Thread safety: plain values; safe to copy between threads.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace blindml {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,
  kCorrupted,
  kVersionMismatch,
  kNonConformant,
  kParameterMismatch,  // data made for another parameter set (its fingerprint differs)
  kNotFound,
  kResourceExhausted,
  kIoError,
  kUnimplemented,
  kInternal,
};

// The snake_case name of a code, as used in messages and JSON errors ("invalid_argument", ...).
const char* status_code_name(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // ok
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok_status() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "corrupted: checksum mismatch in bootstrapping key"
  std::string to_string() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

Status invalid_argument(std::string message);
Status corrupted(std::string message);
Status version_mismatch(std::string message);
Status non_conformant(std::string message);
Status parameter_mismatch(std::string message);
Status not_found(std::string message);
Status resource_exhausted(std::string message);
Status io_error(std::string message);
Status unimplemented(std::string message);
Status internal_error(std::string message);

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}                      // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {               // NOLINT: implicit by design
    if (status_.ok()) status_ = internal_error("Result constructed from an ok Status without a value");
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace blindml

// Propagates a non-ok Status from an expression returning Status.
#define BLINDML_RETURN_IF_ERROR(expr)             \
  do {                                            \
    ::blindml::Status blindml_status_ = (expr);   \
    if (!blindml_status_.ok()) return blindml_status_; \
  } while (0)

#define BLINDML_CONCAT_INNER_(a, b) a##b
#define BLINDML_CONCAT_(a, b) BLINDML_CONCAT_INNER_(a, b)
// BLINDML_ASSIGN_OR_RETURN(auto x, f()); declares x from a Result or returns its Status.
#define BLINDML_ASSIGN_OR_RETURN(decl, expr) \
  BLINDML_ASSIGN_OR_RETURN_IMPL_(BLINDML_CONCAT_(blindml_result_, __LINE__), decl, expr)
#define BLINDML_ASSIGN_OR_RETURN_IMPL_(tmp, decl, expr) \
  auto tmp = (expr);                                   \
  if (!tmp.ok()) return tmp.status();                  \
  decl = std::move(tmp).value()
