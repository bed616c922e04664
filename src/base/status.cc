#include "blindml/base/status.h"

namespace blindml {

const char* status_code_name(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "ok";
    case StatusCode::kInvalidArgument: return "invalid_argument";
    case StatusCode::kCorrupted: return "corrupted";
    case StatusCode::kVersionMismatch: return "version_mismatch";
    case StatusCode::kNonConformant: return "non_conformant";
    case StatusCode::kParameterMismatch: return "parameter_mismatch";
    case StatusCode::kNotFound: return "not_found";
    case StatusCode::kResourceExhausted: return "resource_exhausted";
    case StatusCode::kIoError: return "io_error";
    case StatusCode::kUnimplemented: return "unimplemented";
    case StatusCode::kInternal: return "internal";
  }
  return "unknown";
}

std::string Status::to_string() const {
  if (ok()) return "ok";
  return std::string(status_code_name(code_)) + ": " + message_;
}

Status invalid_argument(std::string m) { return Status(StatusCode::kInvalidArgument, std::move(m)); }
Status corrupted(std::string m) { return Status(StatusCode::kCorrupted, std::move(m)); }
Status version_mismatch(std::string m) { return Status(StatusCode::kVersionMismatch, std::move(m)); }
Status non_conformant(std::string m) { return Status(StatusCode::kNonConformant, std::move(m)); }
Status parameter_mismatch(std::string m) { return Status(StatusCode::kParameterMismatch, std::move(m)); }
Status not_found(std::string m) { return Status(StatusCode::kNotFound, std::move(m)); }
Status resource_exhausted(std::string m) { return Status(StatusCode::kResourceExhausted, std::move(m)); }
Status io_error(std::string m) { return Status(StatusCode::kIoError, std::move(m)); }
Status unimplemented(std::string m) { return Status(StatusCode::kUnimplemented, std::move(m)); }
Status internal_error(std::string m) { return Status(StatusCode::kInternal, std::move(m)); }

}  // namespace blindml
