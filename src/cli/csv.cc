#include "csv.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>

namespace blindml::cli {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> split_cells(std::string_view line) {
  std::vector<std::string_view> cells;
  size_t start = 0;
  while (true) {
    size_t comma = line.find(',', start);
    if (comma == std::string_view::npos) {
      cells.push_back(trim(line.substr(start)));
      break;
    }
    cells.push_back(trim(line.substr(start, comma - start)));
    start = comma + 1;
  }
  return cells;
}

// A header cell may be quoted ("mean radius"); numbers may not.
std::string unquote(std::string_view s) {
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
  return std::string(s);
}

enum class Parsed { kOk, kNotANumber, kOutOfRange };

Parsed parse_cell(std::string_view s, double& out) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.empty()) return Parsed::kNotANumber;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out, std::chars_format::general);
  if (ptr != s.data() + s.size()) return Parsed::kNotANumber;
  if (ec == std::errc::result_out_of_range) return Parsed::kOutOfRange;
  return ec == std::errc() ? Parsed::kOk : Parsed::kNotANumber;
}

bool parse_number(std::string_view s, double& out) { return parse_cell(s, out) == Parsed::kOk; }

bool is_answer_column(std::string_view name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  return lower == "target" || lower == "label";
}

std::string quoted(std::string_view s) {
  constexpr size_t kMax = 40;
  std::string shown(s.substr(0, kMax));
  if (s.size() > kMax) shown += "...";
  return "\"" + shown + "\"";
}

}  // namespace

StringCells string_cells(const model::ClientProcessing& processing) {
  StringCells s;
  for (const auto& in : processing.inputs)
    for (int64_t c = 0; c < in.width; ++c) s.columns.push_back(in.text);
  s.vocabulary = processing.vocabulary;
  return s;
}

StringCells string_cells(const model::OnnxGraph& graph) {
  StringCells s;
  bool any = false;
  for (const auto& in : graph.inputs) {
    const int64_t w = in.has_shape && in.shape.size() == 2 && in.shape[1] > 0 ? in.shape[1] : 1;
    any = any || in.elem_type == 8;
    for (int64_t c = 0; c < w && c < (int64_t{1} << 20); ++c) s.columns.push_back(in.elem_type == 8);
  }
  if (!any) s.columns.clear();
  else s.vocabulary = model::string_vocabulary(graph);
  return s;
}

Result<FeatureTable> parse_feature_csv(std::string_view text, const std::string& path, int64_t expected_features,
                                       const StringCells* strings) {
  // A UTF-8 byte-order mark (spreadsheet exports) is not part of the first name.
  if (text.size() >= 3 && std::memcmp(text.data(), "\xEF\xBB\xBF", 3) == 0) text.remove_prefix(3);

  FeatureTable table;
  std::vector<std::string> names;
  size_t columns = 0;      // in the file
  size_t keep = 0;         // the features
  bool have_header = false;
  size_t line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (trim(line).empty()) continue;  // blank lines (a trailing newline, a spreadsheet's last line)
    const std::string where = path + ": line " + std::to_string(line_no);
    std::vector<std::string_view> cells = split_cells(line);

    if (!have_header) {
      have_header = true;
      columns = cells.size();
      bool all_numbers = true;
      for (size_t c = 0; c < cells.size(); ++c) {
        double ignored;
        if (!parse_number(cells[c], ignored)) all_numbers = false;
        if (cells[c].empty())
          return invalid_argument(where + ", column " + std::to_string(c + 1) + ": empty column name in the header");
        names.push_back(unquote(cells[c]));
      }
      if (all_numbers)
        return invalid_argument(where + ": the first row must be a header of column names, found numbers only");
      keep = columns;
      if (expected_features >= 0) {
        const auto f = static_cast<size_t>(expected_features);
        if (columns == f + 1 && is_answer_column(names.back())) {
          keep = f;
        } else if (columns != f) {
          std::string msg = where + ": the header has " + std::to_string(columns) + " columns, the model takes " +
                            std::to_string(f) + " features";
          if (columns == f + 1)
            msg += " (one extra last column is ignored only when it is named target or label, not " +
                   quoted(names.back()) + ")";
          return invalid_argument(msg);
        }
      } else if (columns >= 2 && is_answer_column(names.back())) {
        keep = columns - 1;
      }
      if (keep < columns) table.dropped_column = names.back();
      table.header.assign(names.begin(), names.begin() + static_cast<std::ptrdiff_t>(keep));
      continue;
    }

    if (cells.size() != columns)
      return invalid_argument(where + ": " + std::to_string(cells.size()) + " columns, the header has " +
                              std::to_string(columns));
    std::vector<double> row(keep);
    for (size_t c = 0; c < keep; ++c) {
      const std::string at = where + ", column " + std::to_string(c + 1) + " (" + names[c] + ")";
      if (cells[c].empty()) return invalid_argument(at + ": empty value");
      if (strings && c < strings->columns.size() && strings->columns[c]) {
        const std::string cell = unquote(cells[c]);
        const auto& v = strings->vocabulary;
        auto it = std::lower_bound(v.begin(), v.end(), cell);
        row[c] = it != v.end() && *it == cell ? static_cast<double>(it - v.begin()) : -1.0;
        continue;
      }
      switch (parse_cell(cells[c], row[c])) {
        case Parsed::kOk:
          break;
        case Parsed::kOutOfRange:
          return invalid_argument(at + ": " + quoted(cells[c]) + " is out of the range of a double");
        case Parsed::kNotANumber:
          return invalid_argument(at + ": " + quoted(cells[c]) + " is not a number");
      }
      if (!std::isfinite(row[c])) return invalid_argument(at + ": " + quoted(cells[c]) + " is not a finite number");
    }
    // The ignored answer column is not read: a class name there is fine.
    table.rows.push_back(std::move(row));
  }
  if (!have_header) return invalid_argument(path + ": empty file (expected a header row, then one row per sample)");
  if (table.rows.empty()) return invalid_argument(path + ": no rows after the header");
  return table;
}

Result<FeatureTable> read_feature_csv(const std::string& path, int64_t expected_features, const StringCells* strings) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return io_error("cannot open " + path + ": " + std::strerror(errno));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return io_error("cannot read " + path + ": " + std::strerror(errno));
  return parse_feature_csv(buffer.str(), path, expected_features, strings);
}

std::string format_double(double v) {
  char buf[64];
  auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, v);
  if (ec != std::errc()) return "nan";
  return std::string(buf, ptr);
}

namespace {

// A name as one CSV field: quoted (with doubled quotes) when it holds a comma, a quote or a line break.
std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

}  // namespace

std::string format_predictions(const model::ClientProcessing& processing,
                               const std::vector<model::Prediction>& predictions) {
  std::string out;
  if (processing.kind == model::ModelKind::kClassifier) {
    size_t classes = processing.class_labels.size();
    if (classes == 0 && !predictions.empty()) classes = predictions.front().proba.size();
    out += "label";
    for (size_t c = 0; c < classes; ++c) {
      out += ",proba_";
      out += c < processing.class_names.size()    ? csv_field(processing.class_names[c])
             : c < processing.class_labels.size() ? std::to_string(processing.class_labels[c])
                                                   : std::to_string(c);
    }
    out += '\n';
    for (const auto& p : predictions) {
      // String labels: the class's name (the label is its index).
      out += p.label >= 0 && static_cast<size_t>(p.label) < processing.class_names.size()
                 ? csv_field(processing.class_names[static_cast<size_t>(p.label)])
                 : std::to_string(p.label);
      for (double q : p.proba) {
        out += ',';
        out += format_double(q);
      }
      out += '\n';
    }
    return out;
  }
  size_t outputs = static_cast<size_t>(processing.output_count());
  if (outputs == 0 && !predictions.empty()) outputs = predictions.front().values.size();
  if (outputs == 1) {
    out += "prediction";
  } else {
    for (size_t c = 0; c < outputs; ++c) out += (c ? ",prediction_" : "prediction_") + std::to_string(c);
  }
  out += '\n';
  for (const auto& p : predictions) {
    for (size_t c = 0; c < p.values.size(); ++c) {
      if (c) out += ',';
      out += format_double(p.values[c]);
    }
    out += '\n';
  }
  return out;
}

}  // namespace blindml::cli
