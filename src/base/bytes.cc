#include "blindml/base/bytes.h"

#include <openssl/evp.h>

#include <bit>
#include <cstring>

static_assert(std::endian::native == std::endian::little,
              "the binary formats are little-endian; a big-endian port needs byte swaps here");

namespace blindml {

void ByteWriter::put_u32(uint32_t v) {
  uint8_t b[4];
  std::memcpy(b, &v, 4);
  bytes_.insert(bytes_.end(), b, b + 4);
}

void ByteWriter::put_u64(uint64_t v) {
  uint8_t b[8];
  std::memcpy(b, &v, 8);
  bytes_.insert(bytes_.end(), b, b + 8);
}

void ByteWriter::put_f64(double v) { put_u64(std::bit_cast<uint64_t>(v)); }

void ByteWriter::put_bytes(std::span<const uint8_t> data) {
  bytes_.insert(bytes_.end(), data.begin(), data.end());
}

void ByteWriter::put_u64s(std::span<const uint64_t> data) {
  size_t at = bytes_.size();
  bytes_.resize(at + data.size_bytes());
  if (!data.empty()) std::memcpy(bytes_.data() + at, data.data(), data.size_bytes());
}

void ByteWriter::patch_u64(size_t offset, uint64_t v) { std::memcpy(bytes_.data() + offset, &v, 8); }

Status ByteReader::need(size_t n, std::string_view what) const {
  if (remaining() < n) {
    return corrupted("truncated data: reading " + std::string(what) + " needs " + std::to_string(n) +
                     " bytes at offset " + std::to_string(pos_) + ", only " +
                     std::to_string(remaining()) + " remain");
  }
  return Status();
}

Status ByteReader::get_u8(uint8_t& out, std::string_view what) {
  BLINDML_RETURN_IF_ERROR(need(1, what));
  out = data_[pos_++];
  return Status();
}

Status ByteReader::get_u32(uint32_t& out, std::string_view what) {
  BLINDML_RETURN_IF_ERROR(need(4, what));
  std::memcpy(&out, data_.data() + pos_, 4);
  pos_ += 4;
  return Status();
}

Status ByteReader::get_u64(uint64_t& out, std::string_view what) {
  BLINDML_RETURN_IF_ERROR(need(8, what));
  std::memcpy(&out, data_.data() + pos_, 8);
  pos_ += 8;
  return Status();
}

Status ByteReader::get_f64(double& out, std::string_view what) {
  uint64_t bits;
  BLINDML_RETURN_IF_ERROR(get_u64(bits, what));
  out = std::bit_cast<double>(bits);
  return Status();
}

Status ByteReader::get_bytes(std::span<uint8_t> out, std::string_view what) {
  BLINDML_RETURN_IF_ERROR(need(out.size(), what));
  if (!out.empty()) std::memcpy(out.data(), data_.data() + pos_, out.size());
  pos_ += out.size();
  return Status();
}

Status ByteReader::get_u64s(std::span<uint64_t> out, std::string_view what) {
  BLINDML_RETURN_IF_ERROR(need(out.size_bytes(), what));
  if (!out.empty()) std::memcpy(out.data(), data_.data() + pos_, out.size_bytes());
  pos_ += out.size_bytes();
  return Status();
}

std::array<uint8_t, 32> sha256(std::span<const uint8_t> data) {
  std::array<uint8_t, 32> out{};
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sha256(), nullptr);
  return out;
}

std::string to_hex(std::span<const uint8_t> data) {
  static const char* kDigits = "0123456789abcdef";
  std::string s;
  s.reserve(data.size() * 2);
  for (uint8_t b : data) {
    s.push_back(kDigits[b >> 4]);
    s.push_back(kDigits[b & 15]);
  }
  return s;
}

}  // namespace blindml
