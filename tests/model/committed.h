// Test helper (GoogleTest): a committed ONNX model with its data set's splits. Kept apart from
// model_data.h, which the benchmarks include too.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "model_data.h"

namespace blindml::model::testing {

// A committed ONNX file (`path` under tests/data, without ".onnx") with its data set's splits;
// failures are reported as test failures and leave the graph empty.
struct Committed {
  OnnxGraph graph;
  DataSet train, test;
};
inline Committed load_committed(const std::string& path, const std::string& dataset) {
  Committed c;
  auto g = load_onnx_file(data_dir() + "/" + path + ".onnx");
  EXPECT_TRUE(g.ok()) << g.status().to_string();
  if (g.ok()) c.graph = std::move(g).value();
  EXPECT_TRUE(load_split(dataset, "train", c.train));
  EXPECT_TRUE(load_split(dataset, "test", c.test));
  return c;
}

}  // namespace blindml::model::testing
