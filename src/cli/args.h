// Command-line parsing for `blindml <command> ARG [options]`: each command declares its one
// positional argument and its options; parse_args checks names, presence and the values' types
// (a usage error is a plain message, reported with exit status 2), so the commands only ever see
// well-formed arguments.
//
// Options: `--name VALUE` or `--name=VALUE`; flags take no value. `-h/--help` and `-q/--quiet`
// are accepted by every command. `--` ends the options.
//
// Thread safety: plain data and pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "blindml/base/status.h"

namespace blindml::cli {

enum class ValueType : uint8_t {
  kFlag,         // no value
  kString,       // any non-empty text
  kPath,         // a file or directory name (non-empty)
  kUint,         // a non-negative integer (fits in 32 bits)
  kProbability,  // 0 < p < 1, written 1e-12, 0.001 or 2^-40
  kUint64,       // a non-negative integer (fits in 64 bits)
};

struct OptionSpec {
  std::string name;          // without the leading dashes
  ValueType type = ValueType::kFlag;
  std::string value_name;    // shown in help: "DIR", "N"
  std::string help;
  bool required = false;
  std::vector<std::string> choices;  // kString: the accepted values (empty: any)
};

struct CommandSpec {
  std::string name;
  std::string positional;    // shown in help: "MODEL.onnx"; empty: the command takes none
  std::string summary;       // one line for the command list
  std::string description;   // paragraphs for `blindml CMD --help`
  std::vector<OptionSpec> options;
  std::string examples;
};

struct Args {
  std::string positional;
  std::map<std::string, std::string> values;  // by option name (flags: "1")
  bool help = false;
  bool quiet = false;

  bool has(const std::string& name) const { return values.count(name) != 0; }
  std::string get(const std::string& name, const std::string& fallback = "") const;
  uint32_t get_uint(const std::string& name, uint32_t fallback) const;
  uint64_t get_uint64(const std::string& name, uint64_t fallback) const;
  std::optional<double> get_probability(const std::string& name) const;
};

// argv: the arguments after the command name. A non-ok Status is a usage error.
Result<Args> parse_args(const CommandSpec& spec, const std::vector<std::string>& argv);

// `blindml CMD --help`.
std::string command_help(const CommandSpec& spec);

// Value parsers (exposed for tests): nullopt when the text is not of the type.
std::optional<uint64_t> parse_uint(const std::string& text, uint64_t max);
std::optional<double> parse_probability(const std::string& text);

}  // namespace blindml::cli
