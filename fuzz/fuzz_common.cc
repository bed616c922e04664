#include "fuzz_common.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace blindml::fuzz {

model::Rows read_rows(const std::string& dataset) {
  std::ifstream f(source_dir() + "/tests/data/" + dataset + "/train.csv");
  model::Rows rows;
  std::string line;
  std::getline(f, line);  // header
  while (std::getline(f, line)) {
    if (line.empty()) continue;
    std::vector<double> row;
    std::stringstream ls(line);
    for (std::string cell; std::getline(ls, cell, ',');) row.push_back(std::strtod(cell.c_str(), nullptr));
    row.pop_back();  // target
    rows.push_back(std::move(row));
  }
  return rows;
}

namespace {
[[noreturn]] void die(const Status& s) {
  std::fprintf(stderr, "fuzz setup failed: %s\n", s.to_string().c_str());
  std::abort();
}
}  // namespace

const Session& leveled_session() {
  static const Session* s = [] {
    auto* out = new Session;
    auto dev = deploy::Dev::compile(source_dir() + "/tests/data/models/linear_regression_diabetes.onnx",
                                    read_rows("diabetes"));
    if (!dev.ok()) die(dev.status());
    out->client_zip = dev->client_zip().value();
    out->server_zip = dev->server_zip().value();
    auto client = deploy::Client::load_bytes(out->client_zip);
    if (!client.ok()) die(client.status());
    if (Status st = client->generate_keys(); !st.ok()) die(st);
    out->client = std::make_unique<deploy::Client>(std::move(client).value());
    auto server = deploy::Server::load_bytes(out->server_zip);
    if (!server.ok()) die(server.status());
    out->server = std::make_unique<deploy::Server>(std::move(server).value());
    auto keys = out->server->load_evaluation_keys(out->client->evaluation_keys().value());
    if (!keys.ok()) die(keys.status());
    out->keys = *keys;
    out->pool = std::make_unique<ThreadPool>(1);
    return out;
  }();
  return *s;
}

}  // namespace blindml::fuzz
