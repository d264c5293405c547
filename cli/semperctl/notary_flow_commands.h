// `semperctl notary mail ...` and `semperctl notary contract ...`: certified mail (a message
// against a signed receipt) and contract signing through semper-notary, and `notary export`,
// which writes a piece of evidence as files the openssl command line checks.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cli/semperctl/common.h"

namespace semper::ctl {

class NotaryFlowCommands {
 public:
  // `notary` is the subcommand NotaryCommands made.
  NotaryFlowCommands(CLI::App* notary, Connection& c);
  std::optional<int> Run();

 private:
  Connection& c_;
  CLI::App* mail_send_ = nullptr;
  CLI::App* mail_show_ = nullptr;
  CLI::App* mail_accept_ = nullptr;
  CLI::App* contract_create_ = nullptr;
  CLI::App* contract_sign_ = nullptr;
  CLI::App* contract_show_ = nullptr;
  CLI::App* export_ = nullptr;
  std::string wallet_, wallet_pass_, to_, file_, days_ = "7", out_, id_, title_, text_out_, evidence_;
  std::vector<std::string> signers_;
};

}  // namespace semper::ctl
