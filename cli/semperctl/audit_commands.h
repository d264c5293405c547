// `semperctl audit ...`: check the daemons' hash-chained audit trails straight from the database
// (an auditor's read-only role is enough), independently of the daemons.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cli/semperctl/common.h"

namespace semper::ctl {

class AuditCommands {
 public:
  AuditCommands(CLI::App& app, Connection& c);
  std::optional<int> Run();

 private:
  CLI::App* verify_ = nullptr;
  std::string url_file_, head_out_, expect_head_;
  std::vector<std::string> schemas_;
  int show_ = 0;
};

}  // namespace semper::ctl
