// `semperctl order ...`: a buyer signs an order as a SEMPER container (the facts cross-border
// trade needs, taken from the buyer's certificate), and a seller checks one and reads it,
// confirms it, and either signs a receipt (the buyer's of delivery, the seller's of payment).
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cli/semperctl/common.h"

namespace semper::ctl {

class OrderCommands {
 public:
  OrderCommands(CLI::App& app, Connection& c);
  std::optional<int> Run();

 private:
  Connection& c_;
  CLI::App* sign_ = nullptr;
  CLI::App* show_ = nullptr;
  CLI::App* confirm_ = nullptr;
  CLI::App* receipt_ = nullptr;
  bool time_stamped_ = false;
  std::string acknowledges_, wallet_, wallet_pass_, seller_, amount_, currency_ = "EUR", order_id_, description_,
                                                                      address_, law_, out_, in_, buyer_out_;
};

}  // namespace semper::ctl
