// The commands of `blindml` (docs/cli.md): each one's specification (options, help) and its
// implementation on the deploy API. A command returns a Status; main() turns a non-ok one into
// the single line `blindml: <command>: <message>` and exit status 1.
//
// Thread safety: run from main()'s thread only.
#pragma once

#include <string>
#include <vector>

#include "args.h"
#include "blindml/base/status.h"

namespace blindml::cli {

struct Command {
  CommandSpec spec;
  Status (*run)(const Args& args);
  // Usage checks beyond parse_args (options that exclude each other, ranges): a non-ok Status is
  // a usage error (exit status 2). May be null.
  Status (*check)(const Args& args) = nullptr;
};

const std::vector<Command>& commands();

// `blindml serve` (serve.cc) and `blindml client` (client.cc).
Command serve_command();
Command client_command();

}  // namespace blindml::cli
