// libFuzzer target: HTTP requests as the server parses them (docs/server.md, "Limits and
// defenses"): request line, headers (16 KiB, 100 lines), Content-Length and chunked bodies (1 MiB),
// the target and query split, and multipart/form-data bodies (src/serve/multipart.cc), through
// serve::internal::parse_request_for_fuzzing; and the multipart parser alone, with the first line
// of the input as the Content-Type. Nothing may crash, hang or allocate beyond the limits.
// Seeds: fuzz/corpus/http_request/.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "../src/serve/internal/http_fuzz.h"
#include "../src/serve/internal/multipart.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)blindml::serve::internal::parse_request_for_fuzzing(std::span<const uint8_t>(data, size));
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const size_t eol = text.find('\n');
  if (eol != std::string_view::npos) {
    auto parts = blindml::serve::internal::parse_multipart(text.substr(0, eol), text.substr(eol + 1));
    if (parts.ok())
      for (const auto& p : *parts)
        if (p.content.data() < text.data() || p.content.data() + p.content.size() > text.data() + text.size())
          __builtin_trap();  // a part outside the body
  }
  return 0;
}
