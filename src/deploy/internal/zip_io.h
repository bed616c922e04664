// Zip archives in memory (libzip): the container of client.zip and server.zip.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "blindml/base/status.h"

namespace blindml::deploy::internal {

struct ZipEntry {
  std::string name;
  std::vector<uint8_t> data;
};

Result<std::vector<uint8_t>> write_zip(const std::vector<ZipEntry>& entries);
// Every entry (at most 64, names distinct), each at most max_entry_bytes and all together at most
// max_total_bytes (default: max_entry_bytes); CRCs and lengths checked. Memory grows with the
// bytes inflated, never with a declared size. `what` names the archive in errors.
Result<std::map<std::string, std::vector<uint8_t>>> read_zip(std::span<const uint8_t> bytes, const std::string& what,
                                                            uint64_t max_entry_bytes, uint64_t max_total_bytes = 0);

}  // namespace blindml::deploy::internal
