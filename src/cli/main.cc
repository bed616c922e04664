// blindml: the command line of the deployment workflow (docs/cli.md).
//
// Exit status: 0 success, 1 failure (one line `blindml: <command>: <message>` on stderr),
// 2 usage error (unknown command or option, missing or malformed argument). Nothing escapes
// main(): any exception becomes such a line too.
#include <cstdio>
#include <exception>
#include <new>
#include <string>
#include <vector>

#include "blindml/deploy/deploy.h"
#include "commands.h"

namespace {

using blindml::cli::Command;
using blindml::cli::commands;

constexpr int kFailure = 1;
constexpr int kUsage = 2;

// The command being run, for the error line of an exception caught in main().
std::string g_command;

void error_line(const std::string& message) {
  if (g_command.empty()) {
    std::fprintf(stderr, "blindml: %s\n", message.c_str());
  } else {
    std::fprintf(stderr, "blindml: %s: %s\n", g_command.c_str(), message.c_str());
  }
}

std::string one_line(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

std::string version_text() {
  return std::string("blindml ") + blindml::deploy::blindml_version() + " (artifact format " +
         std::to_string(blindml::deploy::kArtifactFormatVersion) + ", exchange format " +
         std::to_string(blindml::deploy::kExchangeFormatVersion) + ")\n";
}

std::string general_help() {
  std::string out =
      "usage: blindml <command> [arguments] [options]\n"
      "\n"
      "Machine-learning inference on encrypted data (TFHE). The development machine compiles a\n"
      "model into client.zip and server.zip; the client keeps the secret key, encrypts rows and\n"
      "decrypts answers; the server runs the model on ciphertexts with the client's public\n"
      "evaluation keys.\n"
      "\n"
      "commands:\n";
  for (const Command& c : commands()) {
    std::string left = "  " + c.spec.name;
    left.resize(12, ' ');
    out += left + c.spec.summary + "\n";
  }
  out +=
      "\n"
      "a walkthrough:\n"
      "  blindml compile model.onnx --calibration train.csv --out artifacts\n"
      "  blindml keygen artifacts/client.zip --out keys\n"
      "  blindml encrypt artifacts/client.zip --keys keys --input rows.csv --out input.ct\n"
      "  blindml run artifacts/server.zip --evaluation-keys keys/evaluation.keys --input input.ct --out output.ct\n"
      "  blindml decrypt artifacts/client.zip --keys keys --input output.ct\n"
      "  blindml predict artifacts --mode clear --input rows.csv\n"
      "\n"
      "`blindml <command> --help` for a command's options; `blindml --version`.\n"
      "Exit status: 0 success, 1 failure, 2 usage error.\n";
  return out;
}

int usage_error(const std::string& message) {
  std::string hint = g_command.empty() ? "blindml --help" : "blindml " + g_command + " --help";
  error_line(one_line(message) + " (see " + hint + ")");
  return kUsage;
}

int real_main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  // -q/--quiet may also come before the command: every command accepts it.
  bool quiet = false;
  while (!args.empty() && (args[0] == "-q" || args[0] == "--quiet")) {
    quiet = true;
    args.erase(args.begin());
  }
  if (args.empty()) {
    std::fputs(general_help().c_str(), stderr);
    return kUsage;
  }
  const std::string& first = args[0];
  if (first == "-h" || first == "--help") {
    std::fputs(general_help().c_str(), stdout);
    return 0;
  }
  if (first == "--version" || first == "-V" || first == "version") {
    std::fputs(version_text().c_str(), stdout);
    return 0;
  }
  if (first == "help") {
    if (args.size() == 1) {
      std::fputs(general_help().c_str(), stdout);
      return 0;
    }
    for (const Command& c : commands()) {
      if (c.spec.name == args[1]) {
        std::fputs(blindml::cli::command_help(c.spec).c_str(), stdout);
        return 0;
      }
    }
    return usage_error("unknown command \"" + args[1] + "\"");
  }
  const Command* command = nullptr;
  for (const Command& c : commands())
    if (c.spec.name == first) command = &c;
  if (!command) {
    if (!first.empty() && first[0] == '-') return usage_error("unknown option " + first + " (a command comes first)");
    return usage_error("unknown command \"" + first + "\"");
  }
  g_command = command->spec.name;

  std::vector<std::string> command_args(args.begin() + 1, args.end());
  if (quiet) command_args.insert(command_args.begin(), "--quiet");
  auto parsed = blindml::cli::parse_args(command->spec, command_args);
  if (!parsed.ok()) return usage_error(parsed.status().message());
  if (parsed->help) {
    std::fputs(blindml::cli::command_help(command->spec).c_str(), stdout);
    return 0;
  }
  if (command->check) {
    blindml::Status usage = command->check(*parsed);
    if (!usage.ok()) return usage_error(usage.message());
  }
  blindml::Status status = command->run(*parsed);
  if (!status.ok()) {
    std::fflush(stdout);
    error_line(one_line(status.message().empty() ? status.to_string() : status.message()));
    return kFailure;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return real_main(argc, argv);
  } catch (const std::bad_alloc&) {
    error_line("out of memory");
  } catch (const std::exception& e) {
    error_line(std::string("internal error: ") + one_line(e.what()));
  } catch (...) {
    error_line("internal error (unknown exception)");
  }
  return kFailure;
}
