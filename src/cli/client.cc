// `blindml client URL --input ROWS.csv`: the client's whole round trip against a running
// `blindml serve` (docs/server.md): client.zip (from the server, or --client), keys (made once in
// KEYDIR and reused), the uid (uploaded once per server and remembered in KEYDIR/server.uid),
// encrypt, POST /compute, decrypt; the predictions as CSV (docs/cli.md, "CSV formats").
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "blindml/deploy/deploy.h"
#include "blindml/serve/http_client.h"
#include "blindml/serve/key_store.h"
#include "commands.h"
#include "csv.h"

namespace blindml::cli {
namespace {

namespace fs = std::filesystem;

void say(bool quiet, const std::string& line) {
  if (!quiet) std::fprintf(stderr, "blindml: %s\n", line.c_str());
}

Result<std::vector<uint8_t>> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return io_error("cannot open " + path);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (f.bad()) return io_error("cannot read " + path);
  return bytes;
}

Status write_bytes(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) return io_error("cannot write " + tmp);
    f.write(text.data(), static_cast<std::streamsize>(text.size()));
    if (!f) return io_error("cannot write " + tmp);
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return io_error("cannot write " + path + ": " + ec.message());
  return {};
}

Status run_client(const Args& args) {
  const std::string url = args.positional;
  const bool quiet = args.quiet;
  const char* token = std::getenv("BLINDML_SERVE_TOKEN");
  BLINDML_ASSIGN_OR_RETURN(serve::HttpClient http,
                           serve::HttpClient::create(url, args.get_uint("timeout", 600), token ? token : "",
                                                     args.get("ca-cert", "")));

  std::vector<uint8_t> zip;
  if (args.has("client")) {
    BLINDML_ASSIGN_OR_RETURN(zip, read_bytes(args.get("client")));
  } else {
    BLINDML_ASSIGN_OR_RETURN(zip, http.get_client());
    say(quiet, "fetched client.zip from " + url + " (" + std::to_string(zip.size()) + " bytes)");
  }
  BLINDML_ASSIGN_OR_RETURN(deploy::Client client, deploy::Client::load_bytes(zip));

  const std::string dir = args.get("keys", "blindml-client-keys");
  const std::string secret = (fs::path(dir) / "secret.key").string();
  const std::string eval = (fs::path(dir) / "evaluation.keys").string();
  const std::string uid_file = (fs::path(dir) / "server.uid").string();
  std::error_code ec;
  std::vector<uint8_t> evaluation_keys;
  if (fs::exists(secret, ec)) {
    BLINDML_RETURN_IF_ERROR(client.load_secret_key(secret));
    BLINDML_ASSIGN_OR_RETURN(evaluation_keys, read_bytes(eval));
  } else {
    fs::create_directories(dir, ec);
    if (ec) return io_error("cannot create " + dir + ": " + ec.message());
    fs::permissions(dir, fs::perms::owner_all, ec);
    say(quiet, "generating keys in " + dir);
    ThreadPool pool(args.get_uint("threads", 0));
    BLINDML_RETURN_IF_ERROR(client.generate_keys(&pool));
    BLINDML_ASSIGN_OR_RETURN(evaluation_keys, client.evaluation_keys());
    BLINDML_RETURN_IF_ERROR(client.save_secret_key(secret));
    BLINDML_RETURN_IF_ERROR(write_bytes(eval, std::string(evaluation_keys.begin(), evaluation_keys.end())));
  }

  // server.uid: "<url> <uid>" of the last server the keys went to.
  std::string uid;
  if (auto remembered = read_bytes(uid_file); remembered.ok()) {
    std::string line(remembered->begin(), remembered->end());
    auto space = line.find(' ');
    if (space != std::string::npos && line.substr(0, space) == url) {
      uid = line.substr(space + 1);
      while (!uid.empty() && (uid.back() == '\n' || uid.back() == ' ')) uid.pop_back();
      if (!serve::is_valid_uid(uid)) uid.clear();
    }
  }
  auto upload = [&]() -> Status {
    say(quiet, "uploading the evaluation keys (" + std::to_string(evaluation_keys.size()) + " bytes)");
    BLINDML_ASSIGN_OR_RETURN(uid, http.add_key(evaluation_keys));
    return write_bytes(uid_file, url + " " + uid + "\n");
  };
  if (uid.empty()) BLINDML_RETURN_IF_ERROR(upload());

  const StringCells strings = string_cells(client.processing());
  BLINDML_ASSIGN_OR_RETURN(FeatureTable table,
                           read_feature_csv(args.get("input"), client.processing().feature_count(),
                                            &strings));
  BLINDML_ASSIGN_OR_RETURN(std::vector<uint8_t> input, client.encrypt(table.rows));
  auto output = http.compute(uid, input);
  if (!output.ok() && output.status().code() == StatusCode::kNotFound) {
    BLINDML_RETURN_IF_ERROR(upload());  // the server lost or deleted the keys: once more
    output = http.compute(uid, input);
  }
  if (!output.ok()) return output.status();
  say(quiet, "computed " + std::to_string(table.rows.size()) + " rows on " + url + " (uid " + uid + ")");
  BLINDML_ASSIGN_OR_RETURN(std::vector<model::Prediction> predictions, client.decrypt(*output));
  const std::string csv = format_predictions(client.processing(), predictions);
  if (args.has("out")) return write_bytes(args.get("out"), csv);
  std::fwrite(csv.data(), 1, csv.size(), stdout);
  return std::fflush(stdout) == 0 ? Status() : io_error("cannot write to standard output");
}

OptionSpec opt(std::string name, ValueType type, std::string value_name, std::string help, bool required = false) {
  return {std::move(name), type, std::move(value_name), std::move(help), required, {}};
}

}  // namespace

Command client_command() {
  return {{"client", "URL",
           "predict on rows through a running `blindml serve` (keys, upload, encrypt, compute, decrypt)",
           "Keys are generated once into KEYDIR (secret.key stays there) and uploaded once per server;\n"
           "the uid is remembered in KEYDIR/server.uid. Only ciphertexts and public keys travel.\n"
           "With BLINDML_SERVE_TOKEN set, it is sent as \"Authorization: Bearer <token>\". An https://\n"
           "URL checks the server's certificate against --ca-cert, or the system's CA store.\n",
           {opt("input", ValueType::kPath, "ROWS.csv", "the rows", true),
            opt("keys", ValueType::kPath, "KEYDIR", "the client's key directory (default ./blindml-client-keys)"),
            opt("client", ValueType::kPath, "CLIENT.zip", "use this client.zip instead of GET /get_client"),
            opt("out", ValueType::kPath, "PREDICTIONS.csv", "where to write the CSV (default: stdout)"),
            opt("threads", ValueType::kUint, "N", "key-generation threads (default 0: one per core)"),
            opt("timeout", ValueType::kUint, "SECONDS", "per read or write on the connection (default 600)"),
            opt("ca-cert", ValueType::kPath, "CA.pem", "trust this CA (or self-signed) certificate for https://")},
           "  blindml client http://127.0.0.1:8000 --input rows.csv\n"},
          run_client};
}

}  // namespace blindml::cli
