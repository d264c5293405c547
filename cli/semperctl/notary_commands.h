// `semperctl notary ...`: certify a document with your signature key, and check the notary's
// evidence, tree heads and consistency proofs offline, from files.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>

#include "cli/semperctl/common.h"

namespace semper::ctl {

class NotaryCommands {
 public:
  NotaryCommands(CLI::App& app, Connection& c);
  std::optional<int> Run();

 private:
  Connection& c_;
  CLI::App* certify_ = nullptr;
  CLI::App* verify_ = nullptr;
  CLI::App* tree_head_ = nullptr;
  CLI::App* consistency_ = nullptr;
  CLI::App* verify_consistency_ = nullptr;
  std::string file_, wallet_, wallet_pass_, out_, evidence_, document_, old_head_, proof_;
};

}  // namespace semper::ctl
