#include "internal/zip_io.h"

#include <zip.h>

#include <algorithm>
#include <memory>

namespace blindml::deploy::internal {

namespace {

constexpr int64_t kMaxZipEntries = 64;
constexpr uint64_t kReadChunk = uint64_t{1} << 20;

struct ZipCloser {
  void operator()(zip_t* z) const {
    if (z) zip_discard(z);
  }
};

std::string zip_message(zip_error_t* e) {
  const char* s = zip_error_strerror(e);
  return s ? s : "unknown libzip error";
}

}  // namespace

Result<std::vector<uint8_t>> write_zip(const std::vector<ZipEntry>& entries) {
  zip_error_t err;
  zip_error_init(&err);
  zip_source_t* buffer = zip_source_buffer_create(nullptr, 0, 0, &err);
  if (!buffer) return internal_error("zip: " + zip_message(&err));
  zip_source_keep(buffer);
  zip_t* z = zip_open_from_source(buffer, ZIP_TRUNCATE, &err);
  if (!z) {
    zip_source_free(buffer);
    return internal_error("zip: " + zip_message(&err));
  }
  for (const auto& e : entries) {
    zip_source_t* s = zip_source_buffer(z, e.data.data(), e.data.size(), 0);
    if (!s || zip_file_add(z, e.name.c_str(), s, ZIP_FL_ENC_UTF_8 | ZIP_FL_OVERWRITE) < 0) {
      if (s) zip_source_free(s);
      std::string msg = zip_strerror(z);
      zip_discard(z);
      zip_source_free(buffer);
      return internal_error("zip: cannot add " + e.name + ": " + msg);
    }
  }
  if (zip_close(z) < 0) {
    std::string msg = zip_strerror(z);
    zip_discard(z);
    zip_source_free(buffer);
    return internal_error("zip: " + msg);
  }
  std::vector<uint8_t> out;
  zip_stat_t st;
  if (zip_source_stat(buffer, &st) < 0 || zip_source_open(buffer) < 0) {
    zip_source_free(buffer);
    return internal_error("zip: cannot read the archive back");
  }
  out.resize(st.size);
  zip_int64_t got = zip_source_read(buffer, out.data(), out.size());
  zip_source_close(buffer);
  zip_source_free(buffer);
  if (got < 0 || static_cast<uint64_t>(got) != out.size()) return internal_error("zip: short read of the archive");
  return out;
}

Result<std::map<std::string, std::vector<uint8_t>>> read_zip(std::span<const uint8_t> bytes, const std::string& what,
                                                            uint64_t max_entry_bytes, uint64_t max_total_bytes) {
  if (bytes.empty()) return corrupted(what + " is empty");
  zip_error_t err;
  zip_error_init(&err);
  zip_source_t* src = zip_source_buffer_create(bytes.data(), bytes.size(), 0, &err);
  if (!src) return internal_error("zip: " + zip_message(&err));
  zip_t* raw = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &err);
  if (!raw) {
    zip_source_free(src);
    return corrupted(what + " is not a readable zip archive (" + zip_message(&err) + ")");
  }
  std::unique_ptr<zip_t, ZipCloser> z(raw);
  std::map<std::string, std::vector<uint8_t>> files;
  const zip_int64_t n = zip_get_num_entries(z.get(), 0);
  if (n < 0 || n > static_cast<zip_int64_t>(kMaxZipEntries))
    return corrupted(what + " has " + std::to_string(n) + " entries, more than the " + std::to_string(kMaxZipEntries) +
                     " a blindml artifact may hold");
  // The declared sizes come from the archive: they are checked against the limits, and memory
  // grows with the bytes actually inflated (a 100-byte archive may declare a 1 GiB entry).
  const uint64_t max_total = max_total_bytes ? max_total_bytes : max_entry_bytes;
  uint64_t total = 0;
  for (zip_int64_t i = 0; i < n; ++i) {
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(z.get(), i, 0, &st) < 0 || !(st.valid & ZIP_STAT_NAME) || !(st.valid & ZIP_STAT_SIZE))
      return corrupted(what + ": entry " + std::to_string(i) + " cannot be read");
    const std::string name = st.name;
    if (files.count(name)) return corrupted(what + ": entry " + name + " appears twice");
    if (st.size > max_entry_bytes)
      return resource_exhausted(what + ": entry " + name + " is " + std::to_string(st.size) +
                                " bytes, over the limit of " + std::to_string(max_entry_bytes));
    if (st.size > max_total - total)
      return resource_exhausted(what + ": its entries hold more than " + std::to_string(max_total) + " bytes in all");
    total += st.size;
    zip_file_t* f = zip_fopen_index(z.get(), i, 0);
    if (!f) return corrupted(what + ": entry " + name + " cannot be opened (" + zip_strerror(z.get()) + ")");
    std::vector<uint8_t> data;
    data.reserve(std::min<uint64_t>(st.size, kReadChunk));
    bool ok = true;
    while (ok && data.size() < st.size) {
      const uint64_t want = std::min<uint64_t>(kReadChunk, st.size - data.size());
      const size_t at = data.size();
      data.resize(at + want);
      const zip_int64_t got = zip_fread(f, data.data() + at, want);
      ok = got >= 0 && static_cast<uint64_t>(got) == want;
    }
    // A final read must find the end: an entry longer than declared is damaged too.
    uint8_t extra = 0;
    if (ok && zip_fread(f, &extra, 1) != 0) ok = false;
    zip_fclose(f);
    if (!ok) return corrupted(what + ": entry " + name + " is damaged (CRC or length mismatch)");
    files[name] = std::move(data);
  }
  return files;
}

}  // namespace blindml::deploy::internal
