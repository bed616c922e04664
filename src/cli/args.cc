#include "args.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>

namespace blindml::cli {
namespace {

const OptionSpec* find_option(const CommandSpec& spec, const std::string& name) {
  for (const auto& o : spec.options)
    if (o.name == name) return &o;
  return nullptr;
}

std::string expected_of(const OptionSpec& o) {
  switch (o.type) {
    case ValueType::kUint:
    case ValueType::kUint64:
      return "a non-negative integer";
    case ValueType::kProbability:
      return "a probability between 0 and 1 (e.g. 1e-12 or 2^-40)";
    default:
      return "a value";
  }
}

Status check_value(const OptionSpec& o, const std::string& value) {
  const std::string opt = "--" + o.name;
  if (value.empty()) return invalid_argument(opt + " needs " + (o.value_name.empty() ? "a value" : o.value_name));
  bool ok = true;
  switch (o.type) {
    case ValueType::kUint:
      ok = parse_uint(value, std::numeric_limits<uint32_t>::max()).has_value();
      break;
    case ValueType::kUint64:
      ok = parse_uint(value, std::numeric_limits<uint64_t>::max()).has_value();
      break;
    case ValueType::kProbability:
      ok = parse_probability(value).has_value();
      break;
    case ValueType::kString:
      if (!o.choices.empty()) {
        bool found = false;
        std::string list;
        for (const auto& c : o.choices) {
          found = found || c == value;
          list += (list.empty() ? "" : ", ") + c;
        }
        if (!found) return invalid_argument(opt + ": \"" + value + "\" is not one of " + list);
      }
      break;
    default:
      break;
  }
  if (!ok) return invalid_argument(opt + ": \"" + value + "\" is not " + expected_of(o));
  return {};
}

}  // namespace

std::optional<uint64_t> parse_uint(const std::string& text, uint64_t max) {
  if (text.empty()) return std::nullopt;
  uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v, 10);
  if (ec != std::errc() || ptr != text.data() + text.size() || v > max) return std::nullopt;
  return v;
}

std::optional<double> parse_probability(const std::string& text) {
  double p = 0;
  if (text.rfind("2^", 0) == 0) {
    double e = 0;
    const char* b = text.data() + 2;
    const char* end = text.data() + text.size();
    if (b != end && *b == '+') ++b;
    auto [ptr, ec] = std::from_chars(b, end, e);
    if (ec != std::errc() || ptr != end || !std::isfinite(e)) return std::nullopt;
    p = std::exp2(e);
  } else {
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), p);
    if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  }
  if (!(p > 0 && p < 1)) return std::nullopt;
  return p;
}

std::string Args::get(const std::string& name, const std::string& fallback) const {
  auto it = values.find(name);
  return it == values.end() ? fallback : it->second;
}

uint32_t Args::get_uint(const std::string& name, uint32_t fallback) const {
  auto it = values.find(name);
  if (it == values.end()) return fallback;
  return static_cast<uint32_t>(*parse_uint(it->second, std::numeric_limits<uint32_t>::max()));
}

uint64_t Args::get_uint64(const std::string& name, uint64_t fallback) const {
  auto it = values.find(name);
  if (it == values.end()) return fallback;
  return *parse_uint(it->second, std::numeric_limits<uint64_t>::max());
}

std::optional<double> Args::get_probability(const std::string& name) const {
  auto it = values.find(name);
  if (it == values.end()) return std::nullopt;
  return parse_probability(it->second);
}

Result<Args> parse_args(const CommandSpec& spec, const std::vector<std::string>& argv) {
  Args args;
  bool have_positional = false;
  bool options_done = false;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (!options_done && a == "--") {
      options_done = true;
      continue;
    }
    if (!options_done && (a == "-h" || a == "--help")) {
      args.help = true;
      continue;
    }
    if (!options_done && (a == "-q" || a == "--quiet")) {
      args.quiet = true;
      continue;
    }
    if (!options_done && a.size() > 1 && a[0] == '-' && !std::isdigit(static_cast<unsigned char>(a[1]))) {
      if (a.rfind("--", 0) != 0) return invalid_argument("unknown option " + a);
      std::string name = a.substr(2);
      std::optional<std::string> inline_value;
      if (auto eq = name.find('='); eq != std::string::npos) {
        inline_value = name.substr(eq + 1);
        name = name.substr(0, eq);
      }
      const OptionSpec* o = find_option(spec, name);
      if (!o) return invalid_argument("unknown option --" + name);
      if (args.values.count(name)) return invalid_argument("--" + name + " given twice");
      if (o->type == ValueType::kFlag) {
        if (inline_value) return invalid_argument("--" + name + " takes no value");
        args.values[name] = "1";
        continue;
      }
      std::string value;
      if (inline_value) {
        value = *inline_value;
      } else {
        if (i + 1 >= argv.size()) return invalid_argument("--" + name + " needs " + o->value_name);
        value = argv[++i];
      }
      BLINDML_RETURN_IF_ERROR(check_value(*o, value));
      args.values[name] = value;
      continue;
    }
    if (spec.positional.empty()) return invalid_argument("unexpected argument \"" + a + "\"");
    if (have_positional) return invalid_argument("unexpected second argument \"" + a + "\" (one " + spec.positional + " only)");
    if (a.empty()) return invalid_argument("empty " + spec.positional);
    args.positional = a;
    have_positional = true;
  }
  if (args.help) return args;
  if (!spec.positional.empty() && !have_positional) return invalid_argument("missing " + spec.positional);
  for (const auto& o : spec.options)
    if (o.required && !args.values.count(o.name)) return invalid_argument("missing --" + o.name + " " + o.value_name);
  return args;
}

std::string command_help(const CommandSpec& spec) {
  std::string out = "usage: blindml " + spec.name;
  if (!spec.positional.empty()) out += " " + spec.positional;
  for (const auto& o : spec.options)
    if (o.required) out += " --" + o.name + " " + o.value_name;
  out += " [options]\n\n" + spec.summary + "\n";
  if (!spec.description.empty()) out += "\n" + spec.description;
  out += "\noptions:\n";
  // Help text wrapped at 100 columns, under a 30-column left side.
  constexpr size_t kIndent = 30, kWidth = 100;
  auto line = [&](const std::string& left, const std::string& help) {
    std::string l = "  " + left;
    if (l.size() < kIndent) {
      l.resize(kIndent, ' ');
    } else {
      l += "\n" + std::string(kIndent, ' ');
    }
    size_t column = kIndent;
    size_t pos = 0;
    while (pos < help.size()) {
      size_t end = help.find(' ', pos);
      if (end == std::string::npos) end = help.size();
      std::string word = help.substr(pos, end - pos);
      if (column > kIndent && column + 1 + word.size() > kWidth) {
        l += "\n" + std::string(kIndent, ' ');
        column = kIndent;
      } else if (column > kIndent) {
        l += ' ';
        ++column;
      }
      l += word;
      column += word.size();
      pos = end + 1;
    }
    out += l + "\n";
  };
  for (const auto& o : spec.options) {
    std::string left = "--" + o.name;
    if (o.type != ValueType::kFlag) left += " " + o.value_name;
    line(left, o.help + (o.required ? " (required)" : ""));
  }
  line("-q, --quiet", "no progress lines on stderr");
  line("-h, --help", "this help");
  if (!spec.examples.empty()) out += "\nexamples:\n" + spec.examples;
  return out;
}

}  // namespace blindml::cli
