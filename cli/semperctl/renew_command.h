// `semperctl renew`: new keys and certificates for a wallet, on proof of its current
// authentication key (no enrolment code): once, or as a daemon that renews whenever two thirds of
// the certificates' validity have passed.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>

#include "cli/semperctl/common.h"

namespace semper::ctl {

class RenewCommand {
 public:
  RenewCommand(CLI::App& app, Connection& c);
  // The exit code of `renew`, or nullopt if it was not given.
  std::optional<int> Run();

 private:
  // One renewal of the wallet: OK, or why not (the new keys stay for the next try).
  absl::Status RenewOnce(bool ask);
  int Daemon();
  // Whether `cert` is on hold at the CA now (a suspension: may be released).
  bool Held(const Certificate& cert);

  Connection& c_;
  CLI::App* cmd_ = nullptr;
  std::string wallet_, pass_file_, key_type_;
  bool daemon_ = false;
};

}  // namespace semper::ctl
