// ONNX models through the compile-time path a developer's file takes: load_onnx, then
// compile_model on eight synthetic calibration rows (the family lowerings, the client
// preprocessing tracer, the GaussianNB and TreeEnsemble rewrites, the float interpreter they
// call) and the clear prediction of those rows. Small graphs only (at most 64 nodes and 64
// columns), so that one input stays fast.
#include <cstdint>
#include <span>

#include "blindml/model/model.h"

using namespace blindml;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto g = model::load_onnx(std::span<const uint8_t>(data, size), uint64_t{1} << 20);
  if (!g.ok() || g->nodes.size() > 64) return 0;
  const int64_t width = model::graph_row_width(*g);
  if (width <= 0 || width > 64) return 0;
  // Small integers: valid for float, int64 and string-code (vocabulary index) columns alike.
  model::Rows rows(8, std::vector<double>(static_cast<size_t>(width)));
  for (size_t r = 0; r < rows.size(); ++r)
    for (int64_t j = 0; j < width; ++j) rows[r][static_cast<size_t>(j)] = static_cast<double>((r * 3 + static_cast<size_t>(j)) % 4);
  auto m = model::compile_model(*g, rows);
  if (m.ok()) (void)model::predict_clear(*m, rows);
  return 0;
}
