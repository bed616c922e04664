// serialized_processing.json (model/processing.h): from_json; what loads must survive
// to_json -> from_json with the same encoders.
#include <cstdint>
#include <string_view>

#include "blindml/model/processing.h"

using namespace blindml;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto p = model::ClientProcessing::from_json(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!p.ok()) return 0;
  auto again = model::ClientProcessing::from_json(p->to_json());
  if (!again.ok() || again->feature_count() != p->feature_count() || again->output_count() != p->output_count())
    __builtin_trap();
  if (p->feature_count() <= 64) {
    (void)p->encode_row(std::vector<double>(p->feature_count(), -1.25));
  }
  if (p->output_count() <= 4096) {  // the answer path too (an SVM's votes and scores, ...)
    circuit::Tensor out{{p->output_count()}, std::vector<int64_t>(static_cast<size_t>(p->output_count()), -3)};
    (void)p->decode(out);
  }
  return 0;
}
