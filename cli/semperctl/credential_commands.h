// `semperctl token ...` and `semperctl credential ...`: issuers create token kinds, sign blinded
// tokens and issue named credentials; holders blind and finalize tokens and present credentials;
// accepting organisations redeem both (with their authentication certificate as --cert/--key);
// issuer and acceptor fetch signed clearing statements.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>

#include "cli/semperctl/common.h"

namespace semper::ctl {

class CredentialCommands {
 public:
  CredentialCommands(CLI::App& app, Connection& c);
  std::optional<int> Run();

 private:
  Connection& c_;
  CLI::App *kind_create_ = nullptr, *kind_show_ = nullptr, *blind_ = nullptr, *sign_ = nullptr, *finalize_ = nullptr,
           *redeem_ = nullptr, *clearing_ = nullptr;
  CLI::App *issue_ = nullptr, *show_ = nullptr, *present_ = nullptr, *use_ = nullptr, *verify_ = nullptr;
  std::string wallet_, wallet_pass_, name_, value_, currency_ = "EUR", valid_days_ = "365", kind_id_, message_, out_,
                                                    in_, state_, blinded_, blind_sig_, token_, issuer_, acceptor_,
                                                    from_, until_;
  std::string holder_, kind_ = "pass", rights_, uses_ = "1", credential_, credential_id_, presentation_, reference_;
};

}  // namespace semper::ctl
