// A fresh, empty directory for one test, made with mkdtemp(3): its name is unique even when an
// earlier process with the same pid left a directory behind (pids repeat in a container's pid
// namespace, and a killed test runs no destructors), so a test never finds another run's files.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

namespace blindml::testing {

// Creates TMPDIR/PREFIX_XXXXXX and returns its path; throws when the directory cannot be made.
inline std::string make_temp_dir(const std::string& prefix) {
  std::string pattern = (std::filesystem::temp_directory_path() / (prefix + "_XXXXXX")).string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw std::system_error(errno, std::generic_category(), "mkdtemp " + pattern);
  }
  return pattern;
}

// Directories removed, with everything in them, when the object goes out of scope.
class TempDirs {
 public:
  TempDirs() = default;
  TempDirs(const TempDirs&) = delete;
  TempDirs& operator=(const TempDirs&) = delete;
  ~TempDirs() {
    std::error_code ec;
    for (const auto& d : dirs_) std::filesystem::remove_all(d, ec);
  }
  std::string make(const std::string& prefix) {
    dirs_.push_back(make_temp_dir(prefix));
    return dirs_.back();
  }

 private:
  std::vector<std::string> dirs_;
};

}  // namespace blindml::testing
