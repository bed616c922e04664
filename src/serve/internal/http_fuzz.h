// An entry point for fuzzing the server's request handling without sockets
// (fuzz/http_request_fuzz.cc): the bytes go through the same parser, with the same limits, as
// on a connection (request line, headers, Content-Length or chunked body), then through the
// target split and, for a multipart body, the multipart parser. Returns the status the server
// would answer for the framing (200 when the request is well framed, 400, 413, 431), or 0 when the
// bytes end before the request does.
//
// Thread safety: a pure function.
#pragma once

#include <cstdint>
#include <span>

namespace blindml::serve::internal {

int parse_request_for_fuzzing(std::span<const uint8_t> bytes);

}  // namespace blindml::serve::internal
