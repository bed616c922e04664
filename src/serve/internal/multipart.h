// A multipart/form-data body (RFC 7578) split into its fields, for POST /add_key and /compute
// (docs/server.md): the parts are views into the body, nothing is copied. Bounded: at most
// max_parts parts, each part's headers at most 8 KiB, a boundary of 1..70 characters.
//
// Thread safety: a pure function.
#pragma once

#include <string_view>
#include <vector>

#include "blindml/base/status.h"

namespace blindml::serve::internal {

struct MultipartPart {
  std::string_view name;      // the Content-Disposition name
  std::string_view filename;  // empty when not a file
  std::string_view content;
};

// The boundary parameter of a multipart/form-data Content-Type; empty when there is none.
std::string_view multipart_boundary(std::string_view content_type);

// invalid_argument for a malformed or truncated body (no boundary, a part without a name, no
// closing delimiter) or more than max_parts parts.
Result<std::vector<MultipartPart>> parse_multipart(std::string_view content_type, std::string_view body,
                                                   size_t max_parts = 16);

}  // namespace blindml::serve::internal
