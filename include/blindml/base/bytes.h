// Little-endian byte writer and bounds-checked reader for the binary formats of docs/.
// The reader never reads past its span: every get_* returns a Status naming what was being
// read when the data ran out, so a truncated blob is a clear error, not a crash.
//
// Thread safety: not thread-safe; one reader or writer per thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "blindml/base/status.h"

namespace blindml {

class ByteWriter {
 public:
  void put_u8(uint8_t v) { bytes_.push_back(v); }
  void put_u32(uint32_t v);
  void put_u64(uint64_t v);
  void put_f64(double v);
  void put_bytes(std::span<const uint8_t> data);
  void put_u64s(std::span<const uint64_t> data);
  // Overwrites 8 bytes at offset (for lengths known only after the payload is written).
  void patch_u64(size_t offset, uint64_t v);

  size_t size() const { return bytes_.size(); }
  std::vector<uint8_t>& bytes() { return bytes_; }
  std::vector<uint8_t> take() { return std::move(bytes_); }

 private:
  std::vector<uint8_t> bytes_;
};

class ByteReader {
 public:
  explicit ByteReader(std::span<const uint8_t> data) : data_(data) {}

  Status get_u8(uint8_t& out, std::string_view what);
  Status get_u32(uint32_t& out, std::string_view what);
  Status get_u64(uint64_t& out, std::string_view what);
  Status get_f64(double& out, std::string_view what);
  Status get_bytes(std::span<uint8_t> out, std::string_view what);
  Status get_u64s(std::span<uint64_t> out, std::string_view what);

  size_t remaining() const { return data_.size() - pos_; }
  size_t position() const { return pos_; }

 private:
  Status need(size_t n, std::string_view what) const;
  std::span<const uint8_t> data_;
  size_t pos_ = 0;
};

// SHA-256 of data (used for checksums and parameter fingerprints).
std::array<uint8_t, 32> sha256(std::span<const uint8_t> data);
std::string to_hex(std::span<const uint8_t> data);

}  // namespace blindml
