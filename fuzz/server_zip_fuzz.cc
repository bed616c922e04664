// server.zip as a whole (zip container, versions.json, circuit.bin): Server::load_bytes.
#include <cstdint>
#include <span>

#include "fuzz_common.h"

using namespace blindml;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto s = deploy::Server::load_bytes(std::span<const uint8_t>(data, size));
  if (s.ok()) (void)s->info_json();
  return 0;
}
