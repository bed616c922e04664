// Minimal leveled logging to stderr. The level comes from BLINDML_LOG (error, warn, info, debug;
// default warn).
//
// Thread safety: thread-safe (each line is written with one call).
#pragma once

#include <string_view>

namespace blindml {

enum class LogLevel { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };

bool log_enabled(LogLevel level);
void log_line(LogLevel level, std::string_view message);

}  // namespace blindml
