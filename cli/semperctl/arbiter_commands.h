// `semperctl exchange ...`: the party side of optimistic fair exchange (contract signing,
// certified mail, delivery against payment), run directly between two parties with files; the
// arbiter is contacted only to abort or resolve. `semperctl dispute ...`: file a claim with
// evidence, answer one, follow a case, and (arbitrators) decide.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cli/semperctl/common.h"

namespace semper::ctl {

class ArbiterCommands {
 public:
  ArbiterCommands(CLI::App& app, Connection& c);
  std::optional<int> Run();

 private:
  Connection& c_;
  CLI::App *offer_ = nullptr, *accept_ = nullptr, *step_ = nullptr, *abort_ = nullptr, *resolve_ = nullptr,
           *verify_ = nullptr, *show_contract_ = nullptr;
  CLI::App *file_ = nullptr, *answer_ = nullptr, *show_ = nullptr, *list_ = nullptr, *decide_ = nullptr;
  std::string wallet_, wallet_pass_, state_, in_, out_, to_, contract_, kind_ = "contract", document_;
  std::string provider_, reference_, instrument_ = "card", amount_, currency_ = "EUR";
  std::string claim_kind_, text_, case_id_, outcome_, reason_, order_file_, subject_file_;
  std::vector<std::string> evidence_, remedies_;
};

}  // namespace semper::ctl
