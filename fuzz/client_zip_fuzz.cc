// client.zip as a whole (zip container, versions.json, client.specs.json,
// serialized_processing.json): Client::load_bytes, then one row encoded and one answer decoded.
#include <cstdint>
#include <span>

#include "fuzz_common.h"

using namespace blindml;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto c = deploy::Client::load_bytes(std::span<const uint8_t>(data, size));
  if (!c.ok()) return 0;
  const auto& p = c->processing();
  (void)p.encode_row(std::vector<double>(p.feature_count(), 0.5));
  circuit::Tensor out{{p.output_count()}, std::vector<int64_t>(p.output_count(), 1)};
  (void)p.decode(out);
  return 0;
}
