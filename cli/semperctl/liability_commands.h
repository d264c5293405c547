// `semperctl liability ...`: buyers sign a SEMPER agreement and follow their liability; sellers
// ask for a guarantee per order, end it (settle, release), and verify one offline.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>

#include "cli/semperctl/common.h"

namespace semper::ctl {

class LiabilityCommands {
 public:
  LiabilityCommands(CLI::App& app, Connection& c);
  std::optional<int> Run();

 private:
  Connection& c_;
  CLI::App *agree_ = nullptr, *status_ = nullptr, *change_ = nullptr, *guarantee_ = nullptr, *settle_ = nullptr,
           *release_ = nullptr, *verify_ = nullptr, *show_ = nullptr;
  std::string wallet_, wallet_pass_, overall_, per_tx_, currency_ = "EUR", law_ = "DE", conditions_,
                                                        valid_days_ = "365";
  std::string agreement_id_, state_, reason_, buyer_cert_, order_, amount_, request_id_, out_, guarantee_id_, in_;
};

}  // namespace semper::ctl
