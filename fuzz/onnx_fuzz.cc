// ONNX models (model/onnx.h): load_onnx on the bytes of a ModelProto.
#include <cstdint>
#include <span>

#include "blindml/model/onnx.h"

using namespace blindml;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)model::load_onnx(std::span<const uint8_t>(data, size), uint64_t{1} << 24);
  return 0;
}
