// `semperctl pseudonym ...`: holders obtain pseudonyms (a new wallet that other commands use
// like any other); an arbitrator with semper-arbiter's escrow key opens a link with a reveal
// order; officers read the reveal log.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>

#include "cli/semperctl/common.h"

namespace semper::ctl {

class PrivacyCommands {
 public:
  PrivacyCommands(CLI::App& app, Connection& c);
  std::optional<int> Run();

 private:
  Connection& c_;
  CLI::App *request_ = nullptr, *reveal_ = nullptr, *reveals_ = nullptr;
  std::string wallet_, wallet_pass_, out_wallet_, kind_ = "transaction", name_, valid_days_;
  std::string order_, order_sig_, escrow_cert_, escrow_key_, escrow_pass_, serial_;
  bool shared_ = false;
};

}  // namespace semper::ctl
