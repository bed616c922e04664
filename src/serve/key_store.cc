// The file-system key store (docs/server.md, "Key store files").
#include "blindml/serve/key_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/random.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

#include "blindml/base/bytes.h"
#include "internal/key_framing.h"

namespace blindml::serve {
namespace {

namespace fs = std::filesystem;

using internal::kKeyHeaderBytes;
constexpr const char* kSuffix = ".key";

std::string errno_text(int err) { return std::strerror(err); }

// A full disk (or quota) is resource_exhausted: the server answers 507, not "an I/O error".
Status errno_status(int err) {
  if (err == ENOSPC || err == EDQUOT) return resource_exhausted("no space left on the key store's device");
  return io_error(errno_text(err));
}

Status write_all(int fd, const uint8_t* data, size_t n) {
  size_t done = 0;
  while (done < n) {
    ssize_t w = ::write(fd, data + done, n - done);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return errno_status(errno);
    done += static_cast<size_t>(w);
  }
  return {};
}

Status read_all(int fd, uint8_t* data, size_t n) {
  size_t done = 0;
  while (done < n) {
    ssize_t r = ::read(fd, data + done, n - done);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return io_error(errno_text(errno));
    if (r == 0) return corrupted("the file ends early");
    done += static_cast<size_t>(r);
  }
  return {};
}

class FileKeyStore final : public KeyStore {
 public:
  FileKeyStore(std::string dir, uint64_t min_free_bytes) : dir_(std::move(dir)), min_free_bytes_(min_free_bytes) {}

  std::string describe() const override { return "file store at " + dir_; }

  Status put(std::string_view uid, std::span<const uint8_t> keys) override {
    if (!is_valid_uid(uid)) return invalid_argument("not a client id: \"" + std::string(uid) + "\"");
    const auto header = internal::key_header(keys);

    // A temporary name no other writer uses: the uid, the process and a counter.
    static std::atomic<uint64_t> counter{0};
    const std::string target = path(uid);
    const std::string tmp = dir_ + "/.tmp-" + std::string(uid) + "-" + std::to_string(::getpid()) + "-" +
                            std::to_string(counter.fetch_add(1));
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
      const Status e = errno_status(errno);
      return Status(e.code(), "key store: cannot create " + tmp + ": " + e.message());
    }
    Status s = write_all(fd, header.data(), header.size());
    if (s.ok()) s = write_all(fd, keys.data(), keys.size());
    if (s.ok() && ::fsync(fd) != 0) s = errno_status(errno);
    if (::close(fd) != 0 && s.ok()) s = errno_status(errno);
    if (s.ok() && ::rename(tmp.c_str(), target.c_str()) != 0) s = errno_status(errno);
    if (!s.ok()) {
      ::unlink(tmp.c_str());
      return Status(s.code(), "key store: cannot write " + target + ": " + s.message());
    }
    sync_dir();
    return {};
  }

  Result<std::vector<uint8_t>> get(std::string_view uid, uint64_t max_bytes) const override {
    if (!is_valid_uid(uid)) return invalid_argument("not a client id: \"" + std::string(uid) + "\"");
    const std::string p = path(uid);
    int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) return not_found("no keys are stored under uid " + std::string(uid));
      return io_error("key store: cannot open " + p + ": " + errno_text(errno));
    }
    struct FdCloser {
      int fd;
      ~FdCloser() { ::close(fd); }
    } closer{fd};
    struct stat st {};
    if (::fstat(fd, &st) != 0) return io_error("key store: cannot read " + p + ": " + errno_text(errno));
    const uint64_t size = static_cast<uint64_t>(st.st_size);
    if (size < kKeyHeaderBytes)
      return corrupted("key store: " + p + " is truncated (" + std::to_string(size) + " bytes)");
    std::array<uint8_t, kKeyHeaderBytes> header{};
    if (Status s = read_all(fd, header.data(), header.size()); !s.ok())
      return Status(s.code(), "key store: cannot read " + p + ": " + s.message());
    BLINDML_ASSIGN_OR_RETURN(const uint64_t length, internal::check_key_header(header, size, max_bytes, p, uid));
    std::vector<uint8_t> keys(static_cast<size_t>(length));
    if (Status s = read_all(fd, keys.data(), keys.size()); !s.ok())
      return Status(s.code(), "key store: cannot read " + p + ": " + s.message());
    BLINDML_RETURN_IF_ERROR(internal::check_key_digest(header, keys, p));
    return keys;
  }

  Status remove(std::string_view uid) override {
    if (!is_valid_uid(uid)) return invalid_argument("not a client id: \"" + std::string(uid) + "\"");
    const std::string p = path(uid);
    if (::unlink(p.c_str()) != 0) {
      if (errno == ENOENT) return not_found("no keys are stored under uid " + std::string(uid));
      return io_error("key store: cannot remove " + p + ": " + errno_text(errno));
    }
    sync_dir();
    return {};
  }

  Status ready() const override {
    if (::access(dir_.c_str(), R_OK | W_OK | X_OK) != 0)
      return io_error("the key store directory cannot be written (" + errno_text(errno) + ")");
    struct statvfs st {};
    if (::statvfs(dir_.c_str(), &st) != 0) return io_error("the key store's filesystem cannot be queried (" + errno_text(errno) + ")");
    const uint64_t free_bytes = static_cast<uint64_t>(st.f_bavail) * static_cast<uint64_t>(st.f_frsize);
    if (free_bytes < min_free_bytes_)
      return resource_exhausted("the key store's disk is full: " + std::to_string(free_bytes) +
                                " bytes free, below the threshold of " + std::to_string(min_free_bytes_) + " bytes");
    if (st.f_files != 0 && st.f_favail == 0) return resource_exhausted("the key store's disk has no free inode");
    return {};
  }

  Result<KeyStoreStats> stats() const override {
    KeyStoreStats out;
    std::error_code ec;
    fs::directory_iterator it(dir_, ec);
    if (ec) return io_error("key store: cannot list " + dir_ + ": " + ec.message());
    for (; it != fs::directory_iterator(); it.increment(ec)) {
      if (ec) return io_error("key store: cannot list " + dir_ + ": " + ec.message());
      const std::string name = it->path().filename().string();
      if (name.size() != kUidHexDigits + std::strlen(kSuffix) || !name.ends_with(kSuffix)) continue;
      if (!is_valid_uid(std::string_view(name).substr(0, kUidHexDigits))) continue;
      std::error_code size_ec;
      const auto size = it->file_size(size_ec);
      if (size_ec) continue;  // removed meanwhile
      ++out.keys;
      out.bytes += size >= kKeyHeaderBytes ? size - kKeyHeaderBytes : 0;
    }
    return out;
  }

 private:
  std::string path(std::string_view uid) const { return dir_ + "/" + std::string(uid) + kSuffix; }

  // Makes a rename or unlink durable.
  void sync_dir() const {
    int fd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    (void)::fsync(fd);
    ::close(fd);
  }

  std::string dir_;
  uint64_t min_free_bytes_;
};

// The writer's pid in a temporary name ".tmp-<uid>-<pid>-<counter>"; 0 when not of that form.
pid_t temp_file_pid(const std::string& name) {
  const size_t first = name.find('-', 5);
  if (first == std::string::npos) return 0;
  const size_t second = name.find('-', first + 1);
  if (second == std::string::npos) return 0;
  const std::string digits = name.substr(first + 1, second - first - 1);
  if (digits.empty() || digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos) return 0;
  return static_cast<pid_t>(std::stol(digits));
}

}  // namespace

Result<std::string> new_uid() {
  std::array<uint8_t, kUidHexDigits / 2> bytes{};
  size_t got = 0;
  while (got < bytes.size()) {
    ssize_t r = ::getrandom(bytes.data() + got, bytes.size() - got, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return io_error("cannot draw a client id: getrandom: " + errno_text(errno));
    got += static_cast<size_t>(r);
  }
  return to_hex(bytes);
}

bool is_valid_uid(std::string_view uid) {
  if (uid.size() != kUidHexDigits) return false;
  for (char c : uid)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

Result<std::unique_ptr<KeyStore>> open_file_key_store(const std::string& dir, uint64_t min_free_bytes) {
  if (dir.empty()) return invalid_argument("the key store directory is empty");
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    if (!fs::is_directory(dir, ec)) return io_error("cannot use " + dir + " as the key store: it is not a directory");
  } else {
    fs::create_directories(dir, ec);
    if (ec) return io_error("cannot create the key store " + dir + ": " + ec.message());
    fs::permissions(dir, fs::perms::owner_all, ec);
  }
  if (::access(dir.c_str(), R_OK | W_OK | X_OK) != 0)
    return io_error("cannot use " + dir + " as the key store: " + errno_text(errno));
  // Temporary files of writers that died (killed during an upload) are garbage. Their name holds
  // the writer's pid: when no such process exists the file goes at once; one whose pid is alive
  // may belong to another server process sharing the directory (or to a reused pid), so it goes
  // only when older than an hour.
  const auto hour_ago = fs::file_time_type::clock::now() - std::chrono::hours(1);
  for (fs::directory_iterator it(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!name.starts_with(".tmp-")) continue;
    const pid_t pid = temp_file_pid(name);
    const bool writer_gone = pid > 0 && pid != ::getpid() && ::kill(pid, 0) != 0 && errno == ESRCH;
    std::error_code time_ec;
    const bool old = it->last_write_time(time_ec) < hour_ago && !time_ec;
    if (writer_gone || old) {
      std::error_code rm;
      fs::remove(it->path(), rm);
    }
  }
  return std::unique_ptr<KeyStore>(new FileKeyStore(dir, min_free_bytes));
}


namespace internal {
namespace {

constexpr std::array<uint8_t, 4> kMagic = {'B', 'L', 'K', 'S'};
constexpr uint32_t kStoreFormatVersion = 1;

void put_u32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void put_u64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint32_t get_u32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
uint64_t get_u64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

std::array<uint8_t, kKeyHeaderBytes> key_header(std::span<const uint8_t> keys) {
  std::array<uint8_t, kKeyHeaderBytes> header{};
  std::memcpy(header.data(), kMagic.data(), 4);
  put_u32(header.data() + 4, kStoreFormatVersion);
  put_u64(header.data() + 8, keys.size());
  const auto digest = sha256(keys);
  std::memcpy(header.data() + 16, digest.data(), 32);
  return header;
}

Result<uint64_t> check_key_header(std::span<const uint8_t, kKeyHeaderBytes> header, uint64_t record_bytes,
                                  uint64_t max_bytes, const std::string& where, std::string_view uid) {
  if (std::memcmp(header.data(), kMagic.data(), 4) != 0) return corrupted("key store: " + where + " does not hold keys");
  const uint32_t version = get_u32(header.data() + 4);
  if (version != kStoreFormatVersion)
    return version_mismatch("key store: " + where + " has format version " + std::to_string(version) +
                            ", expected " + std::to_string(kStoreFormatVersion));
  const uint64_t length = get_u64(header.data() + 8);
  if (length != record_bytes - kKeyHeaderBytes)
    return corrupted("key store: " + where + " declares " + std::to_string(length) + " bytes of keys but holds " +
                     std::to_string(record_bytes - kKeyHeaderBytes));
  if (length > max_bytes)
    return resource_exhausted("key store: the keys under uid " + std::string(uid) + " are " +
                              std::to_string(length) + " bytes, over the limit of " + std::to_string(max_bytes));
  return length;
}

Status check_key_digest(std::span<const uint8_t, kKeyHeaderBytes> header, std::span<const uint8_t> keys,
                        const std::string& where) {
  const auto digest = sha256(keys);
  if (std::memcmp(digest.data(), header.data() + 16, 32) != 0)
    return corrupted("key store: checksum mismatch in " + where);
  return {};
}

}  // namespace internal

}  // namespace blindml::serve
