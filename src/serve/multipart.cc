// multipart/form-data (internal/multipart.h).
#include "internal/multipart.h"

#include <cctype>

namespace blindml::serve::internal {
namespace {

constexpr size_t kMaxPartHeaderBytes = 8 * 1024;

bool iequals_prefix(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(text[i])) != std::tolower(static_cast<unsigned char>(prefix[i])))
      return false;
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The value of parameter `key` in "form-data; name=\"x\"; filename=\"y\"" (quoted or bare).
std::string_view parameter(std::string_view header_value, std::string_view key) {
  size_t at = 0;
  while (at < header_value.size()) {
    size_t semi = header_value.find(';', at);
    if (semi == std::string_view::npos) semi = header_value.size();
    std::string_view item = trim(header_value.substr(at, semi - at));
    at = semi + 1;
    if (item.size() > key.size() && iequals_prefix(item, key) && item[key.size()] == '=') {
      std::string_view v = item.substr(key.size() + 1);
      if (v.size() >= 2 && v.front() == '"') {
        const size_t close = v.find('"', 1);
        return close == std::string_view::npos ? std::string_view() : v.substr(1, close - 1);
      }
      return v;
    }
  }
  return {};
}

}  // namespace

std::string_view multipart_boundary(std::string_view content_type) {
  if (!iequals_prefix(content_type, "multipart/form-data")) return {};
  std::string_view b = parameter(content_type.substr(std::string_view("multipart/form-data").size()), "boundary");
  if (b.empty() || b.size() > 70) return {};
  return b;
}

Result<std::vector<MultipartPart>> parse_multipart(std::string_view content_type, std::string_view body,
                                                   size_t max_parts) {
  const std::string_view boundary = multipart_boundary(content_type);
  if (boundary.empty()) return invalid_argument("multipart/form-data without a boundary (1..70 characters)");
  const std::string delimiter = "--" + std::string(boundary);
  const std::string next_delimiter = "\r\n" + delimiter;
  auto bad = [](const char* why) { return invalid_argument(std::string("malformed multipart/form-data: ") + why); };

  size_t at = body.find(delimiter);  // a preamble before the first delimiter is ignored
  if (at == std::string_view::npos) return bad("no delimiter");
  at += delimiter.size();
  std::vector<MultipartPart> parts;
  for (;;) {
    if (body.substr(at, 2) == "--") return parts;  // the closing delimiter
    if (body.substr(at, 2) != "\r\n") return bad("a delimiter is not followed by CRLF");
    at += 2;
    if (parts.size() == max_parts) return bad("too many parts");
    const size_t headers_end = body.find("\r\n\r\n", at);
    if (headers_end == std::string_view::npos || headers_end - at > kMaxPartHeaderBytes)
      return bad("a part's headers do not end (or exceed 8 KiB)");
    MultipartPart part;
    std::string_view headers = body.substr(at, headers_end - at);
    while (!headers.empty()) {
      size_t eol = headers.find("\r\n");
      std::string_view line = headers.substr(0, eol);
      headers = eol == std::string_view::npos ? std::string_view() : headers.substr(eol + 2);
      if (iequals_prefix(line, "content-disposition:")) {
        const std::string_view value = trim(line.substr(std::string_view("content-disposition:").size()));
        if (!iequals_prefix(value, "form-data")) return bad("a part is not form-data");
        part.name = parameter(value, "name");
        part.filename = parameter(value, "filename");
      }
    }
    if (part.name.empty()) return bad("a part has no name");
    at = headers_end + 4;
    const size_t end = body.find(next_delimiter, at);
    if (end == std::string_view::npos) return bad("a part does not end (truncated body)");
    part.content = body.substr(at, end - at);
    parts.push_back(part);
    at = end + next_delimiter.size();
  }
}

}  // namespace blindml::serve::internal
