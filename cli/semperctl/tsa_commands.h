// `semperctl tsa ...`: time-stamp a file, verify a token against a file, look a token up, and
// batch stamps with their inclusion proofs.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cli/semperctl/common.h"

namespace semper::ctl {

class TsaCommands {
 public:
  TsaCommands(CLI::App& app, Connection& c);
  // The exit code of the tsa command given, or nullopt if none was.
  std::optional<int> Run();

 private:
  Connection& c_;
  CLI::App* stamp_ = nullptr;
  CLI::App* verify_ = nullptr;
  CLI::App* lookup_ = nullptr;
  CLI::App* batch_ = nullptr;
  CLI::App* verify_proof_ = nullptr;
  std::string file_, out_, hash_ = "sha256", policy_, token_, serial_, untrusted_, proof_, out_dir_ = ".";
  std::string lookup_file_, lookup_imprint_;
  std::vector<std::string> files_;
};

}  // namespace semper::ctl
