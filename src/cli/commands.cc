#include "commands.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <thread>

#include "blindml/deploy/deploy.h"
#include "blindml/model/model.h"
#include "blindml/model/onnx.h"
#include "csv.h"

namespace blindml::cli {
namespace {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------------
// Progress lines on stderr: "blindml: generating keys (...)... 1.4 s".

class Progress {
 public:
  Progress(bool quiet, const std::string& what) : quiet_(quiet), start_(std::chrono::steady_clock::now()) {
    if (quiet_) return;
    std::fprintf(stderr, "blindml: %s... ", what.c_str());
    std::fflush(stderr);
  }
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;
  // Ends the line with the elapsed time (and a note, e.g. a size).
  void done(const std::string& note = "") {
    if (finished_) return;
    finished_ = true;
    if (quiet_) return;
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    std::fprintf(stderr, "%.1f s%s%s\n", s, note.empty() ? "" : ", ", note.c_str());
  }
  // A step that did not finish ends its line, so that the error line stands alone.
  ~Progress() {
    if (!finished_ && !quiet_) std::fprintf(stderr, "failed\n");
  }

 private:
  bool quiet_;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_;
};

void note(bool quiet, const std::string& line) {
  if (!quiet) std::fprintf(stderr, "blindml: %s\n", line.c_str());
}

std::string human_bytes(uint64_t n) {
  char buf[32];
  if (n < 10000) {
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(n));
  } else if (n < 10'000'000) {
    std::snprintf(buf, sizeof buf, "%.1f kB", static_cast<double>(n) / 1e3);
  } else if (n < 10'000'000'000ULL) {
    std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(n) / 1e6);
  } else {
    std::snprintf(buf, sizeof buf, "%.1f GB", static_cast<double>(n) / 1e9);
  }
  return buf;
}

std::string plural(size_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// ---------------------------------------------------------------------------------------------
// Files.

std::string errno_text(int err) { return std::strerror(err); }

// The file must exist and be a regular, readable file: checked before any library call so that
// a missing file reads the same everywhere.
Status check_input_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return io_error("cannot open " + path + ": " + errno_text(errno));
  if (S_ISDIR(st.st_mode)) return io_error(path + " is a directory, not a file");
  if (::access(path.c_str(), R_OK) != 0) return io_error("cannot read " + path + ": " + errno_text(errno));
  return {};
}

Result<std::vector<uint8_t>> read_file(const std::string& path, uint64_t max_bytes) {
  BLINDML_RETURN_IF_ERROR(check_input_file(path));
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return io_error("cannot open " + path + ": " + errno_text(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return io_error("cannot read " + path + ": " + errno_text(err));
  }
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    ::close(fd);
    return resource_exhausted(path + " is " + human_bytes(static_cast<uint64_t>(st.st_size)) +
                              ", more than the limit of " + human_bytes(max_bytes) + " for this file");
  }
  std::vector<uint8_t> bytes(static_cast<size_t>(st.st_size));
  size_t got = 0;
  while (got < bytes.size()) {
    ssize_t r = ::read(fd, bytes.data() + got, bytes.size() - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      int err = errno;
      ::close(fd);
      return io_error("cannot read " + path + ": " + errno_text(err));
    }
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  ::close(fd);
  bytes.resize(got);
  return bytes;
}

// Writes path atomically: a temporary file in the same directory, fsync, rename.
Status write_file(const std::string& path, std::span<const uint8_t> bytes, mode_t mode = 0644) {
  fs::path target(path);
  if (target.filename().empty()) return invalid_argument("\"" + path + "\" names a directory, not a file");
  std::error_code ec;
  if (fs::is_directory(target, ec)) return io_error("cannot write " + path + ": it is a directory");
  std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return io_error("cannot write " + path + ": " + errno_text(errno));
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t w = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return io_error("cannot write " + path + ": " + errno_text(err));
    }
    done += static_cast<size_t>(w);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return io_error("cannot write " + path + ": " + errno_text(err));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return io_error("cannot write " + path + ": " + errno_text(err));
  }
  return {};
}

Status write_text(const std::string& path, const std::string& text) {
  return write_file(path, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
}

Status write_stdout(const std::string& text) {
  if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size() || std::fflush(stdout) != 0)
    return io_error("cannot write to standard output: " + errno_text(errno));
  return {};
}

// Predictions (or a report) to --out, or to stdout without one.
Status emit(const Args& args, const std::string& text, const std::string& what) {
  if (!args.has("out")) return write_stdout(text);
  BLINDML_RETURN_IF_ERROR(write_text(args.get("out"), text));
  note(args.quiet, "wrote " + what + " to " + args.get("out"));
  return {};
}

Status make_directory(const std::string& dir, fs::perms perms) {
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    if (!fs::is_directory(dir, ec)) return io_error("cannot use " + dir + " as the output directory: it is a file");
    return {};
  }
  fs::create_directories(dir, ec);
  if (ec) return io_error("cannot create " + dir + ": " + ec.message());
  fs::permissions(dir, perms, ec);
  return {};
}

std::string join(const std::string& dir, const char* name) { return (fs::path(dir) / name).string(); }

uint64_t file_size_or_zero(const std::string& path) {
  std::error_code ec;
  auto n = fs::file_size(path, ec);
  return ec ? 0 : static_cast<uint64_t>(n);
}

// --keys KEYDIR (holding secret.key), or the secret key file itself.
std::string secret_key_path(const std::string& keys) {
  std::error_code ec;
  if (fs::is_regular_file(keys, ec)) return keys;
  return join(keys, "secret.key");
}

Status check_compile(const Args& args) {
  if (args.has("classifier") && args.has("regressor"))
    return invalid_argument("--classifier and --regressor exclude each other");
  if (args.has("exact-rounding") && args.has("approximate-rounding"))
    return invalid_argument("--exact-rounding and --approximate-rounding exclude each other");
  return {};
}

Status check_threads(const Args& args) {
  if (args.get_uint("threads", 0) > 4096)
    return invalid_argument("--threads " + args.get("threads") + ": at most 4096 (0 = one per core)");
  return {};
}

std::string thread_note(const ThreadPool& pool) { return plural(pool.size(), "thread", "threads"); }

// ---------------------------------------------------------------------------------------------
// Loading the two sides.

Result<deploy::Client> load_client(const std::string& path) {
  BLINDML_RETURN_IF_ERROR(check_input_file(path));
  return deploy::Client::load(path);
}

Result<deploy::Server> load_server(const std::string& path) {
  BLINDML_RETURN_IF_ERROR(check_input_file(path));
  return deploy::Server::load(path);
}

Status load_secret(deploy::Client& client, const std::string& keys) {
  const std::string path = secret_key_path(keys);
  BLINDML_RETURN_IF_ERROR(check_input_file(path));
  return client.load_secret_key(path);
}

Result<FeatureTable> read_rows(const std::string& path, int64_t features, bool quiet,
                               const StringCells& strings = StringCells()) {
  BLINDML_ASSIGN_OR_RETURN(FeatureTable table, read_feature_csv(path, features, &strings));
  if (!table.dropped_column.empty())
    note(quiet, path + ": ignoring the last column \"" + table.dropped_column + "\"");
  return table;
}

// Inputs the client's encoders would clip (outside the calibration range): refused with
// --refuse-out-of-range, else reported on stderr (even with --quiet: the answers on those rows
// may be far from the float model's).
Status check_ranges(const Args& args, const model::ClientProcessing& processing, const FeatureTable& table) {
  if (args.has("refuse-out-of-range")) return model::check_in_range(processing, table.rows);
  const model::RangeCount c = processing.count_out_of_range(table.rows);
  if (c.values == 0) return {};
  std::string worst;
  int64_t most = 0;
  for (size_t j = 0; j < c.per_feature.size(); ++j)
    if (c.per_feature[j] > most) {
      most = c.per_feature[j];
      worst = "feature " + std::to_string(j) + ": " + std::to_string(most);
    }
  std::fprintf(stderr,
               "warning: %lld value(s) in %lld of %zu row(s) lie outside the calibration range and are clipped "
               "(most: %s); their answers may differ from the float model's (--refuse-out-of-range refuses them)\n",
               static_cast<long long>(c.values), static_cast<long long>(c.rows), table.rows.size(), worst.c_str());
  return {};
}

std::string keygen_what(const deploy::ClientSpecs& specs) {
  const auto& p = specs.params;
  if (!specs.needs_evaluation_keys)
    return "generating the secret key (k = " + std::to_string(p.glwe_dimension.value) +
           ", N = " + std::to_string(p.polynomial_size.value) + "; a leveled circuit needs no evaluation keys)";
  return "generating keys (n = " + std::to_string(p.lwe_dimension.value) + ", k = " +
         std::to_string(p.glwe_dimension.value) + ", N = " + std::to_string(p.polynomial_size.value) +
         ", PBS " + std::to_string(p.pbs_level_count.value) + "x2^" + std::to_string(p.pbs_base_log.value) +
         ", KS " + std::to_string(p.ks_level_count.value) + "x2^" + std::to_string(p.ks_base_log.value) + ")";
}

std::string run_what(const deploy::Server& server, size_t threads) {
  const auto& compiled = server.compiled();
  std::string what = "running the circuit";
  if (compiled.needs_bootstrapping)
    what += " (" + plural(server.pbs_per_row(), "PBS", "PBS") + " per row";
  else
    what += " (leveled, no PBS";
  return what + ", " + plural(threads, "thread", "threads") + ")";
}

// ---------------------------------------------------------------------------------------------
// compile

// --tree-comparisons client|server (CompileOptions::tree_comparisons).
Status tree_comparisons_option(const Args& args, model::CompileOptions* options) {
  if (!args.has("tree-comparisons")) return Status();
  const std::string v = args.get("tree-comparisons");
  if (v == "client") {
    options->tree_comparisons = model::CompileOptions::TreeComparisons::kClient;
  } else if (v == "server") {
    options->tree_comparisons = model::CompileOptions::TreeComparisons::kServer;
  } else {
    return invalid_argument("--tree-comparisons " + v + ": expected client or server");
  }
  return Status();
}

Status run_compile(const Args& args) {
  const std::string onnx = args.positional;
  const std::string out = args.get("out");
  BLINDML_RETURN_IF_ERROR(check_input_file(onnx));
  std::error_code ec;
  if (fs::exists(out, ec) && !fs::is_directory(out, ec))
    return io_error("cannot write into " + out + ": it is a file, not a directory");

  BLINDML_ASSIGN_OR_RETURN(model::OnnxGraph graph, model::load_onnx_file(onnx));
  // The graph inputs' columns in graph-input order (several inputs: concatenated).
  const int64_t features = model::graph_row_width(graph);
  BLINDML_ASSIGN_OR_RETURN(FeatureTable calibration,
                           read_rows(args.get("calibration"), features, args.quiet, string_cells(graph)));

  model::CompileOptions options;
  options.n_bits = args.get_uint("n-bits", 0);
  options.rounding_bits = args.get_uint("rounding-bits", 0);
  options.leaf_bits = args.get_uint("leaf-bits", 0);
  BLINDML_RETURN_IF_ERROR(tree_comparisons_option(args, &options));
  options.exact_rounding = !args.has("approximate-rounding");
  if (args.has("classifier")) options.kind = model::ModelKind::kClassifier;
  if (args.has("regressor")) options.kind = model::ModelKind::kRegressor;
  if (auto p = args.get_probability("p-error")) options.optimizer.log2_p_error = std::log2(*p);
  if (auto p = args.get_probability("global-p-error")) options.optimizer.global_p_error = *p;

  Progress compiling(args.quiet, "compiling " + onnx + " (" +
                                     plural(calibration.rows.size(), "calibration row", "calibration rows") + ")");
  BLINDML_ASSIGN_OR_RETURN(deploy::Dev dev, deploy::Dev::compile(graph, calibration.rows, options));
  compiling.done();

  Progress saving(args.quiet, "writing " + join(out, "client.zip") + " and " + join(out, "server.zip"));
  BLINDML_RETURN_IF_ERROR(dev.save(out));
  saving.done(human_bytes(file_size_or_zero(join(out, "client.zip"))) + " + " +
              human_bytes(file_size_or_zero(join(out, "server.zip"))));

  std::string report = dev.report();
  if (!report.empty() && report.back() != '\n') report += '\n';
  return write_stdout(report);
}

// ---------------------------------------------------------------------------------------------
// check

// What a user deciding needs: every blocker at once (the loader gathers them), or the family and
// an estimate of the compiled circuit. Trees compile exactly without data (binning needs no
// calibration); linear models and MLPs are compiled on synthetic rows (seeded N(0, 1) features)
// unless --calibration is given, and say so: real ranges change the widths and parameters.
Status run_check(const Args& args) {
  const std::string onnx = args.positional;
  BLINDML_RETURN_IF_ERROR(check_input_file(onnx));
  auto graph = model::load_onnx_file(onnx);
  if (!graph.ok()) {
    std::string text = "blockers: " + graph.status().message() + "\n";
    BLINDML_RETURN_IF_ERROR(write_stdout(text));
    return Status(graph.status().code(), "the model cannot be compiled (see the blockers above)");
  }
  std::string text = "model: " + onnx + " (producer " + (graph->producer.empty() ? "unknown" : graph->producer) +
                     ", opset " + std::to_string(graph->opset) +
                     (graph->ml_opset ? ", ai.onnx.ml " + std::to_string(graph->ml_opset) : "") + ", " +
                     std::to_string(graph->nodes.size()) + " nodes)\n";
  const int64_t features = model::graph_row_width(*graph);
  if (graph->inputs.size() > 1) {
    text += "inputs (a row holds their columns in this order):";
    for (const auto& in : graph->inputs)
      text += " " + in.name + " [" + (in.has_shape && in.shape.size() == 2 ? std::to_string(in.shape[1]) : std::string("1")) +
              (in.elem_type == 8 ? " string" : in.elem_type == 7 ? " int64" : " float") + "]";
    text += "\n";
  }
  model::Rows rows;
  std::string source;
  if (args.has("calibration")) {
    BLINDML_ASSIGN_OR_RETURN(FeatureTable table,
                             read_rows(args.get("calibration"), features, args.quiet, string_cells(*graph)));
    rows = std::move(table.rows);
    source = "the calibration rows of " + args.get("calibration");
  } else {
    if (features <= 0)
      return invalid_argument(onnx + ": the graph input does not declare its feature count; pass --calibration DATA.csv");
    // int64 / string columns: categories of the encoders that read them (model::synthetic_rows)
    rows = model::synthetic_rows(*graph, features, 256, 1);
    source = "256 synthetic rows of N(0, 1) features (no --calibration): trees are exact, linear/MLP widths, "
             "parameters and costs are estimates";
  }
  model::CompileOptions options;
  if (args.has("classifier")) options.kind = model::ModelKind::kClassifier;
  BLINDML_RETURN_IF_ERROR(tree_comparisons_option(args, &options));
  auto compiled = model::compile_model(*graph, rows, options);
  if (!compiled.ok()) {
    text += "blockers: " + compiled.status().message() + "\n";
    BLINDML_RETURN_IF_ERROR(write_stdout(text));
    return Status(compiled.status().code(), "the model does not compile at default flags (see above)");
  }
  text += "compiled at default flags on " + source + ":\n" + compiled->report;
  if (!text.empty() && text.back() != '\n') text += '\n';
  return write_stdout(text);
}

// ---------------------------------------------------------------------------------------------
// keygen

Status run_keygen(const Args& args) {
  const std::string dir = args.get("out");
  BLINDML_ASSIGN_OR_RETURN(deploy::Client client, load_client(args.positional));
  const std::string secret = join(dir, "secret.key");
  const std::string eval = join(dir, "evaluation.keys");
  std::error_code ec;
  if (fs::exists(secret, ec) && !args.has("force"))
    return invalid_argument(secret + " exists already; --force replaces it (what was encrypted under it can then "
                            "no longer be decrypted)");
  BLINDML_RETURN_IF_ERROR(make_directory(dir, fs::perms::owner_all));

  ThreadPool pool(args.get_uint("threads", 0));
  Progress generating(args.quiet, keygen_what(client.specs()));
  BLINDML_RETURN_IF_ERROR(client.generate_keys(&pool));
  BLINDML_ASSIGN_OR_RETURN(std::vector<uint8_t> evaluation_keys, client.evaluation_keys());
  generating.done(thread_note(pool));

  BLINDML_RETURN_IF_ERROR(client.save_secret_key(secret));
  BLINDML_RETURN_IF_ERROR(write_file(eval, evaluation_keys));
  note(args.quiet, "wrote " + secret + " (secret: keep it on this machine) and " + eval + " (" +
                       human_bytes(evaluation_keys.size()) + ", for the server)");
  return {};
}

// ---------------------------------------------------------------------------------------------
// encrypt

Status run_encrypt(const Args& args) {
  BLINDML_ASSIGN_OR_RETURN(deploy::Client client, load_client(args.positional));
  BLINDML_RETURN_IF_ERROR(load_secret(client, args.get("keys")));
  BLINDML_ASSIGN_OR_RETURN(FeatureTable table,
                           read_rows(args.get("input"), client.processing().feature_count(), args.quiet,
                                     string_cells(client.processing())));
  BLINDML_RETURN_IF_ERROR(check_ranges(args, client.processing(), table));
  Progress encrypting(args.quiet, "encrypting " + plural(table.rows.size(), "row", "rows"));
  BLINDML_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, client.encrypt(table.rows));
  encrypting.done(human_bytes(bytes.size()));
  BLINDML_RETURN_IF_ERROR(write_file(args.get("out"), bytes));
  return {};
}

// ---------------------------------------------------------------------------------------------
// run

Status run_run(const Args& args) {
  deploy::ServerLimits limits;
  BLINDML_ASSIGN_OR_RETURN(deploy::Server server, load_server(args.positional));
  BLINDML_ASSIGN_OR_RETURN(std::vector<uint8_t> key_bytes,
                           read_file(args.get("evaluation-keys"), limits.max_evaluation_keys));
  BLINDML_ASSIGN_OR_RETURN(std::vector<uint8_t> input, read_file(args.get("input"), limits.max_input));
  ThreadPool pool(args.get_uint("threads", 0));

  Progress loading(args.quiet, "loading the evaluation keys (" + human_bytes(key_bytes.size()) + ")");
  BLINDML_ASSIGN_OR_RETURN(deploy::Server::Keys keys, server.load_evaluation_keys(key_bytes, limits, &pool));
  loading.done();

  Progress running(args.quiet, run_what(server, pool.size()));
  BLINDML_ASSIGN_OR_RETURN(std::vector<uint8_t> output, server.run(input, keys, pool, limits));
  running.done();
  return write_file(args.get("out"), output);
}

// ---------------------------------------------------------------------------------------------
// decrypt

Status run_decrypt(const Args& args) {
  BLINDML_ASSIGN_OR_RETURN(deploy::Client client, load_client(args.positional));
  BLINDML_RETURN_IF_ERROR(load_secret(client, args.get("keys")));
  BLINDML_ASSIGN_OR_RETURN(std::vector<uint8_t> output, read_file(args.get("input"), uint64_t{1} << 32));
  Progress decrypting(args.quiet, "decrypting " + args.get("input"));
  BLINDML_ASSIGN_OR_RETURN(std::vector<model::Prediction> predictions, client.decrypt(output));
  decrypting.done(plural(predictions.size(), "row", "rows"));
  return emit(args, format_predictions(client.processing(), predictions), "the predictions");
}

// ---------------------------------------------------------------------------------------------
// predict

Status run_predict(const Args& args) {
  const std::string dir = args.positional;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return io_error("cannot open " + dir + ": " + errno_text(ENOENT));
  if (!fs::is_directory(dir, ec))
    return invalid_argument(dir + " is not a directory (predict takes the directory holding client.zip and server.zip)");
  BLINDML_ASSIGN_OR_RETURN(deploy::Client client, load_client(join(dir, "client.zip")));
  BLINDML_ASSIGN_OR_RETURN(deploy::Server server, load_server(join(dir, "server.zip")));
  if (client.specs().model_id != server.model_id())
    return invalid_argument(join(dir, "client.zip") + " and " + join(dir, "server.zip") +
                            " belong to different models (compile them together)");
  BLINDML_ASSIGN_OR_RETURN(FeatureTable table,
                           read_rows(args.get("input"), client.processing().feature_count(), args.quiet,
                                     string_cells(client.processing())));
  BLINDML_RETURN_IF_ERROR(check_ranges(args, client.processing(), table));
  const std::string mode = args.get("mode");
  const std::string rows = plural(table.rows.size(), "row", "rows");

  std::vector<model::Prediction> predictions;
  if (mode == "float") {
    if (!args.has("model")) return invalid_argument("--mode float needs --model MODEL.onnx (the model compiled into " + dir + ")");
    BLINDML_RETURN_IF_ERROR(check_input_file(args.get("model")));
    BLINDML_ASSIGN_OR_RETURN(model::OnnxGraph graph, model::load_onnx_file(args.get("model")));
    BLINDML_ASSIGN_OR_RETURN(predictions, model::predict_float(graph, client.processing(), table.rows));
  } else if (mode == "clear" || mode == "simulate") {
    model::CompiledModel compiled{client.processing(), server.compiled(), ""};
    if (mode == "clear") {
      BLINDML_ASSIGN_OR_RETURN(predictions, model::predict_clear(compiled, table.rows));
    } else {
      uint64_t seed = args.has("seed") ? args.get_uint64("seed", 0) : std::random_device{}();
      std::mt19937_64 rng(seed);
      Progress simulating(args.quiet, "simulating " + rows + " (seed " + std::to_string(seed) + ")");
      BLINDML_ASSIGN_OR_RETURN(predictions, model::predict_simulated(compiled, table.rows, rng));
      simulating.done();
    }
  } else {
    ThreadPool pool(args.get_uint("threads", 0));
    Progress generating(args.quiet, keygen_what(client.specs()));
    BLINDML_RETURN_IF_ERROR(client.generate_keys(&pool));
    BLINDML_ASSIGN_OR_RETURN(std::vector<uint8_t> key_bytes, client.evaluation_keys());
    BLINDML_ASSIGN_OR_RETURN(deploy::Server::Keys keys, server.load_evaluation_keys(key_bytes, {}, &pool));
    generating.done(thread_note(pool));

    Progress encrypting(args.quiet, "encrypting " + rows);
    BLINDML_ASSIGN_OR_RETURN(std::vector<uint8_t> input, client.encrypt(table.rows));
    encrypting.done(human_bytes(input.size()));

    Progress running(args.quiet, run_what(server, pool.size()));
    BLINDML_ASSIGN_OR_RETURN(std::vector<uint8_t> output, server.run(input, keys, pool));
    running.done();

    Progress decrypting(args.quiet, "decrypting " + rows);
    BLINDML_ASSIGN_OR_RETURN(predictions, client.decrypt(output));
    decrypting.done();
  }
  return emit(args, format_predictions(client.processing(), predictions), "the predictions");
}

// ---------------------------------------------------------------------------------------------
// info

Status run_info(const Args& args) {
  BLINDML_RETURN_IF_ERROR(check_input_file(args.positional));
  std::error_code ec;
  if (fs::is_regular_file(args.positional, ec) && fs::file_size(args.positional, ec) == 0 && !ec)
    return invalid_argument(args.positional + " is empty: not a blindml file");
  BLINDML_ASSIGN_OR_RETURN(std::string text, deploy::describe_file(args.positional));
  if (!text.empty() && text.back() != '\n') text += '\n';
  return write_stdout(text);
}

// ---------------------------------------------------------------------------------------------
// The specifications.

OptionSpec flag(std::string name, std::string help) {
  return {std::move(name), ValueType::kFlag, "", std::move(help), false, {}};
}
OptionSpec option(std::string name, ValueType type, std::string value_name, std::string help, bool required = false) {
  return {std::move(name), type, std::move(value_name), std::move(help), required, {}};
}
OptionSpec threads_option() {
  return option("threads", ValueType::kUint, "N", "worker threads (default 0: one per core)");
}

std::vector<Command> make_commands() {
  std::vector<Command> c;
  c.push_back({{"compile", "MODEL.onnx",
                "compile an ONNX model into DIR/client.zip and DIR/server.zip",
                "Quantizes the model on the calibration rows, lowers it to an integer circuit and\n"
                "chooses 128-bit-secure TFHE parameters for it. The compile report goes to stdout.\n"
                "DATA.csv: a header row, then one row of numbers per sample in the model's feature\n"
                "order; a last column named target or label is ignored.\n",
                {option("calibration", ValueType::kPath, "DATA.csv", "the calibration rows", true),
                 option("out", ValueType::kPath, "DIR", "output directory (created when missing)", true),
                 option("n-bits", ValueType::kUint, "N",
                        "bits of the input quantizers and weights / tree bins (default per family: "
                        "linear 8, trees 8, MLP 6)"),
                 option("rounding-bits", ValueType::kUint, "R",
                        "MLP: bits an accumulator is rounded to before its lookup (default 6)"),
                 flag("exact-rounding", "MLP: round accumulators exactly (the default: FHE equals the clear "
                                        "model except with the error probability; one more PBS per dropped bit)"),
                 flag("approximate-rounding",
                      "MLP: round approximately (1 PBS per neuron, 8-10x fewer on the committed MLPs; FHE may then "
                      "differ from --mode clear by one step of a neuron's activation on many rows)"),
                 option("leaf-bits", ValueType::kUint, "B", "trees: bits of the quantized leaf values (default 8)"),
                 option("tree-comparisons", ValueType::kString, "WHERE",
                        "trees: client (default: the client sends one encrypted bit per threshold, no comparison "
                        "PBS) or server (the client sends bin indices, one comparison PBS per distinct test)"),
                 option("p-error", ValueType::kProbability, "P",
                        "error probability of each table lookup (default 2^-40; e.g. 1e-12)"),
                 option("global-p-error", ValueType::kProbability, "P",
                        "error probability of a whole evaluation instead (overrides --p-error)"),
                 flag("classifier", "treat the model as a classifier (a network ending in logits)"),
                 flag("regressor", "treat the model as a regressor")},
                "  blindml compile model.onnx --calibration train.csv --out artifacts\n"
                "  blindml compile mlp.onnx --calibration train.csv --out mlp --classifier\n"},
               run_compile, check_compile});
  c.push_back({{"check", "MODEL.onnx",
                "say whether an ONNX model compiles, and what it would cost",
                "Lists every blocker at once (unsupported opsets, operators, attributes, each with the\n"
                "estimator it likely came from), or the family detected and the compile report at\n"
                "default flags. Without --calibration, trees are exact and linear models / MLPs are\n"
                "estimated on synthetic N(0, 1) rows. Exit status 1 when the model cannot compile.\n",
                {option("calibration", ValueType::kPath, "DATA.csv", "calibration rows (optional)"),
                 option("tree-comparisons", ValueType::kString, "WHERE",
                        "trees: client (default: the client sends one encrypted bit per threshold, no comparison "
                        "PBS) or server (the client sends bin indices, one comparison PBS per distinct test)"),
                 flag("classifier", "treat the model as a classifier (a network ending in logits)")},
                "  blindml check model.onnx\n"
                "  blindml check model.onnx --calibration train.csv\n"},
               run_check});
  c.push_back({{"keygen", "CLIENT.zip",
                "generate a secret key and evaluation keys for a compiled model",
                "Writes KEYDIR/secret.key (mode 0600: it decrypts everything encrypted for you; keep it\n"
                "on the client) and KEYDIR/evaluation.keys (public; the server needs them to run).\n",
                {option("out", ValueType::kPath, "KEYDIR", "key directory (created with mode 0700 when missing)", true),
                 threads_option(), flag("force", "replace an existing KEYDIR/secret.key")},
                "  blindml keygen artifacts/client.zip --out keys\n"},
               run_keygen, check_threads});
  c.push_back({{"encrypt", "CLIENT.zip",
                "quantize and encrypt rows of features",
                "ROWS.csv: a header row, then one row of numbers per sample in the model's feature\n"
                "order; a last column named target or label is ignored.\n",
                {option("keys", ValueType::kPath, "KEYDIR", "the directory holding secret.key (or the key file)", true),
                 option("input", ValueType::kPath, "ROWS.csv", "the rows to encrypt", true),
                 option("out", ValueType::kPath, "INPUT.ct", "the encrypted input, for the server", true),
                 flag("refuse-out-of-range", "refuse rows with values outside the calibration range (default: "
                                             "clip them and say so on stderr)")},
                "  blindml encrypt artifacts/client.zip --keys keys --input rows.csv --out input.ct\n"},
               run_encrypt});
  c.push_back({{"run", "SERVER.zip",
                "evaluate the model on an encrypted input (the server's step)",
                "Needs no secret: the evaluation keys are public. The input must have been encrypted\n"
                "for this model with the secret key that belongs to these evaluation keys.\n",
                {option("evaluation-keys", ValueType::kPath, "FILE", "the client's evaluation.keys", true),
                 option("input", ValueType::kPath, "INPUT.ct", "the encrypted input", true),
                 option("out", ValueType::kPath, "OUTPUT.ct", "the encrypted answer, for the client", true),
                 threads_option()},
                "  blindml run artifacts/server.zip --evaluation-keys keys/evaluation.keys \\\n"
                "      --input input.ct --out output.ct\n"},
               run_run, check_threads});
  c.push_back({{"decrypt", "CLIENT.zip",
                "decrypt an encrypted answer into predictions (CSV)",
                "Regressors: a column prediction (prediction_0, ... for several outputs).\n"
                "Classifiers: label, then proba_<class> for each class label.\n",
                {option("keys", ValueType::kPath, "KEYDIR", "the directory holding secret.key (or the key file)", true),
                 option("input", ValueType::kPath, "OUTPUT.ct", "the encrypted answer", true),
                 option("out", ValueType::kPath, "PREDICTIONS.csv", "where to write the CSV (default: stdout)")},
                "  blindml decrypt artifacts/client.zip --keys keys --input output.ct\n"},
               run_decrypt});
  OptionSpec mode = option("mode", ValueType::kString, "MODE",
                           "float (the ONNX model itself, --model), clear (the quantized model, exact), "
                           "simulate (clear with lookup errors drawn at the compiled probability) or fhe "
                           "(keygen, encrypt, run, decrypt)",
                           true);
  mode.choices = {"float", "clear", "simulate", "fhe"};
  c.push_back({{"predict", "DIR",
                "predict on rows with a compiled model (DIR holds client.zip and server.zip)",
                "fhe mode does the whole round trip in memory with fresh keys; its answers equal\n"
                "clear mode's except with the compiled error probability.\n",
                {mode, option("input", ValueType::kPath, "ROWS.csv", "the rows", true),
                 option("out", ValueType::kPath, "PREDICTIONS.csv", "where to write the CSV (default: stdout)"),
                 threads_option(),
                 option("seed", ValueType::kUint64, "S", "simulate: the random seed (default: random)"),
                 option("model", ValueType::kPath, "MODEL.onnx", "float: the ONNX model that was compiled into DIR"),
                 flag("refuse-out-of-range", "refuse rows with values outside the calibration range (default: "
                                             "clip them and say so on stderr)")},
                "  blindml predict artifacts --mode clear --input rows.csv\n"
                "  blindml predict artifacts --mode float --model model.onnx --input rows.csv\n"
                "  blindml predict artifacts --mode fhe --input rows.csv --out predictions.csv\n"},
               run_predict, check_threads});
  c.push_back({{"info", "FILE",
                "describe an artifact or exchange file (client.zip, server.zip, keys, ciphertexts)",
                "",
                {},
                "  blindml info artifacts/server.zip\n"},
               run_info});
  c.push_back(serve_command());
  c.push_back(client_command());
  return c;
}

}  // namespace

const std::vector<Command>& commands() {
  static const std::vector<Command> list = make_commands();
  return list;
}

}  // namespace blindml::cli
