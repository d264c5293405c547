// SQL of the TSA, and its group commit of tokens.
#include "services/timestamp/store.h"

#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/crypto/random.h"
#include "common/db/values.h"

namespace semper::tsa {

std::vector<db::PreparedStatement> TokenStore::Statements() {
  return {
      {"tsa_next_block", "SELECT nextval('tsa.serial_blocks')"},
      // One statement for a whole group: arrays in, one row per element out.
      {"tsa_insert_tokens",
       R"(INSERT INTO tsa.tokens (serial, gen_time, hash_algorithm, imprint, policy, requester, token, cert_req,
                                  batch_tree_size, batch_leaves)
          SELECT s, t, a, decode(i, 'hex'), p, r, decode(k, 'hex'), c, n, decode(nullif(l, ''), 'hex')
          FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[],
                      $7::text[], $8::boolean[], $9::bigint[], $10::text[]) AS u(s, t, a, i, p, r, k, c, n, l))"},
      {"tsa_lookup",
       R"(SELECT extract(epoch from gen_time)::numeric::text, hash_algorithm, imprint, policy, requester, token,
                 batch_tree_size, cert_req
          FROM tsa.tokens WHERE serial = $1)"},
  };
}

absl::StatusOr<uint64_t> TokenStore::NextSerialBlock() {
  uint64_t block = 0;
  SEMPER_RETURN_IF_ERROR(pool_->Read([&](pqxx::nontransaction& tx) -> absl::Status {
    block = tx.exec_prepared1("tsa_next_block")[0].as<uint64_t>();
    return absl::OkStatus();
  }));
  return block;
}

absl::Status TokenStore::Insert(const std::vector<TokenRow>& rows) {
  std::vector<std::string> serial, gen, alg, imprint, policy, requester, token, cert_req, size, leaves;
  for (const TokenRow& r : rows) {
    serial.push_back(StrCat(r.serial));
    gen.push_back(db::TimeText(r.gen_time));
    alg.push_back(r.hash_algorithm);
    imprint.push_back(HexEncode(r.imprint));
    policy.push_back(r.policy);
    requester.push_back(r.requester);
    token.push_back(HexEncode(r.token_der));
    cert_req.push_back(r.cert_req ? "t" : "f");
    size.push_back(StrCat(r.batch_tree_size));
    leaves.push_back(HexEncode(r.batch_leaves));
  }
  // One statement, so its own transaction (one round trip; a second run after a lost connection
  // fails on the serials' primary key if the first committed).
  return pool_->WriteOneStatement([&](pqxx::nontransaction& tx) -> absl::Status {
    tx.exec_prepared0("tsa_insert_tokens", db::TextArray(serial), db::TextArray(gen), db::TextArray(alg),
                      db::TextArray(imprint), db::TextArray(policy), db::TextArray(requester), db::TextArray(token),
                      db::TextArray(cert_req), db::TextArray(size), db::TextArray(leaves));
    return absl::OkStatus();
  });
}

absl::StatusOr<TokenRow> TokenStore::Lookup(uint64_t serial) {
  TokenRow row;
  SEMPER_RETURN_IF_ERROR(pool_->Read([&](pqxx::nontransaction& tx) -> absl::Status {
    auto r = tx.exec_prepared("tsa_lookup", static_cast<int64_t>(serial));
    if (r.empty()) return MakeError(absl::StatusCode::kNotFound, v1::NOT_FOUND, "no token with this serial");
    row.serial = serial;
    // Seconds with the full fraction, as text, so that microseconds survive.
    double seconds = std::stod(r[0][0].as<std::string>());
    row.gen_time = absl::FromUnixMicros(static_cast<int64_t>(std::llround(seconds * 1e6)));
    row.hash_algorithm = r[0][1].as<std::string>();
    row.imprint = pqxx::binarystring(r[0][2]).str();
    row.policy = r[0][3].as<std::string>();
    row.requester = r[0][4].as<std::string>();
    row.token_der = pqxx::binarystring(r[0][5]).str();
    row.batch_tree_size = r[0][6].as<uint64_t>();
    row.cert_req = r[0][7].as<bool>();
    return absl::OkStatus();
  }));
  return row;
}

std::unique_ptr<TokenCommitter> MakeTokenCommitter(TokenStore* store, db::GroupCommitOptions options) {
  return std::make_unique<TokenCommitter>(std::move(options),
                                          [store](std::vector<TokenRow>& rows, std::vector<absl::Status>& results) {
                                            absl::Status s = store->Insert(rows);
                                            results.assign(rows.size(), s);
                                            return s;
                                          });
}

}  // namespace semper::tsa
