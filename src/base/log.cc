#include "blindml/base/log.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace blindml {

static LogLevel level_from_env() {
  const char* v = std::getenv("BLINDML_LOG");
  if (v == nullptr) return LogLevel::kWarn;
  if (std::strcmp(v, "error") == 0) return LogLevel::kError;
  if (std::strcmp(v, "info") == 0) return LogLevel::kInfo;
  if (std::strcmp(v, "debug") == 0) return LogLevel::kDebug;
  return LogLevel::kWarn;
}

bool log_enabled(LogLevel level) {
  static const LogLevel configured = level_from_env();
  return static_cast<int>(level) <= static_cast<int>(configured);
}

void log_line(LogLevel level, std::string_view message) {
  if (!log_enabled(level)) return;
  static const char* kNames[] = {"error", "warn", "info", "debug"};
  std::string line = std::string("[blindml ") + kNames[static_cast<int>(level)] + "] ";
  line.append(message);
  line.push_back('\n');
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace blindml
