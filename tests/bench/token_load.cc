// Redemptions of one-use tokens (RFC 9474 blind signatures) against a private PostgreSQL (fsync
// on): semper-ca as a process makes the kind; the tokens are signed beforehand (their making is
// the holders' and the issuer's work, not the redemption's); then many clients redeem them, one
// in ten a token already redeemed, in-process (TokenBook on the CA's database) and, with --grpc,
// over TLS to semper-ca as an accepting organisation. After each run: every accepted redemption
// is in the spent set once, and no replay was accepted.
//   build/tests/bench/token_load [--clients 64] [--seconds 5] [--grpc]
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "common/base/proto_time.h"
#include "common/base/status.h"
#include "common/crypto/blind_rsa.h"
#include "common/crypto/cms.h"
#include "common/crypto/random.h"
#include "common/db/pool.h"
#include "common/server/grpc_status.h"
#include "semper/v1/privacy.grpc.pb.h"
#include "services/ca/store.h"
#include "services/ca/tokens.h"
#include "tests/support/postgres.h"
#include "tests/support/subprocess.h"
#include "tests/support/suite.h"

int main(int argc, char** argv) {
  // Load from one client: the per-client limits of the daemons started here are off.
  setenv("SEMPER_LIMITS_PER_SECOND", "0", 0);
  using namespace semper;
  using namespace std::chrono;
  setvbuf(stdout, nullptr, _IOLBF, 0);
  int clients = 64;
  double seconds = 5;
  bool grpc_mode = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const char* value = i + 1 < argc ? argv[i + 1] : "0";
    if (a == "--grpc") grpc_mode = true;
    if (a == "--clients") clients = std::atoi(value);
    if (a == "--seconds") seconds = std::atof(value);
  }
  auto pg = semper::testing::TestPostgres::Start();
  if (!pg.ok()) return 1;
  auto db = (*pg)->CreateDatabase();
  semper::testing::TempDir dir;
  auto so = semper::testing::Suite::Options::Only({}, (*pg)->ConnInfo(*db));
  auto started = semper::testing::Suite::Start(&dir, so);
  if (!started.ok()) {
    std::fprintf(stderr, "%s\n", std::string(started.status().message()).c_str());
    return 1;
  }
  auto suite = *std::move(started);
  auto issuer = suite->Enroll("Bench Transit GmbH", v1::CUSTOMER_KIND_ENTERPRISE);
  auto acceptor = suite->Enroll("Bench Kiosk GmbH", v1::CUSTOMER_KIND_ENTERPRISE);
  if (!issuer.ok() || !acceptor.ok()) return 1;
  v1::TokenKindRequestStatement st;
  st.set_type("semper-token-kind-request");
  st.set_name("Bench ride");
  *st.mutable_valid_until() = ToTimestamp(absl::Now() + absl::Hours(24));
  *st.mutable_made_at() = ToTimestamp(absl::Now());
  v1::CreateTokenKindRequest creq;
  creq.set_request(st.SerializeAsString());
  creq.set_signature(*CmsSignDetached(creq.request(), issuer->key, issuer->certificate, suite->Chain()));
  v1::TokenKind kind;
  {
    grpc::ClientContext ctx;
    if (!v1::Credentials::NewStub(suite->Channel("ca"))->CreateTokenKind(&ctx, creq, &kind).ok()) return 1;
  }

  db::PoolOptions po;
  po.conninfo = so.conninfo;
  po.size = 8;
  po.statements = ca::CaStore::Statements();  // redemptions are dated through the CA store
  for (auto& st : ca::TokenBook::Statements()) po.statements.push_back(std::move(st));
  auto pool = db::ConnectionPool::New(po);
  if (!pool.ok()) return 1;
  // The kind's key, as the CA keeps it: tokens made here the way a finalized blind signature
  // looks (RSASSA-PSS, SHA-384, salt 48, over a prepared message).
  std::string key_pem;
  (void)(*pool)->Read([&](pqxx::nontransaction& tx) -> absl::Status {
    key_pem = tx.exec_params1("SELECT private_key FROM ca.token_kinds WHERE id = $1", kind.id())[0].as<std::string>();
    return absl::OkStatus();
  });
  auto key = PrivateKey::FromPem(key_pem, SecretData(so.passphrase));
  if (!key.ok()) return 1;
  const int runs = grpc_mode ? 2 : 1;
  const int n = static_cast<int>(seconds * 9000) * runs;
  std::printf("signing %d tokens...\n", n);
  std::vector<std::pair<std::string, std::string>> tokens(n);
  {
    std::vector<std::thread> makers;
    std::atomic<int> next{0};
    for (int w = 0; w < 2; ++w) {
      makers.emplace_back([&] {
        for (int i; (i = next++) < n;) {
          std::string msg = blind_rsa::Prepare("ride " + std::to_string(i));
          EVP_MD_CTX* ctx = EVP_MD_CTX_new();
          EVP_PKEY_CTX* pctx = nullptr;
          size_t len = 256;
          std::string sig(len, '\0');
          EVP_DigestSignInit(ctx, &pctx, EVP_sha384(), nullptr, key->evp());
          EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
          EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 48);
          EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha384());
          EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                         reinterpret_cast<const unsigned char*>(msg.data()), msg.size());
          EVP_MD_CTX_free(ctx);
          tokens[i] = {msg, sig};
        }
      });
    }
    for (auto& m : makers) m.join();
  }
  if (!blind_rsa::Verify(*PublicKey::FromDer(kind.public_key()), tokens[0].first, tokens[0].second).ok()) {
    std::fprintf(stderr, "the tokens made here do not verify as the kind's\n");
    return 1;
  }

  ca::CaStore store(pool->get());
  ca::TokenBook::Deps deps;
  deps.pool = pool->get();
  deps.store = &store;
  auto signer_chain = Certificate::ChainFromPem(semper::testing::Slurp(suite->P("pki/services/ca-signing.pem")));
  auto signer_key =
      PrivateKey::FromPem(semper::testing::Slurp(suite->P("pki/services/ca-signing.key")), SecretData(so.passphrase));
  if (!signer_chain.ok() || !signer_key.ok()) return 1;
  deps.signer = *CmsDetachedSigner::New(*signer_key, signer_chain->front(), {signer_chain->back()});
  ca::TokenBook book(std::move(deps));
  const std::string acceptor_id = *acceptor->certificate.SubjectAttribute("serialNumber");
  std::vector<std::unique_ptr<v1::Credentials::Stub>> stubs;
  for (int c = 0; c < 4; ++c) stubs.push_back(v1::Credentials::NewStub(suite->ChannelAs("ca", *acceptor)));

  // Each run has its own tokens: the first half, then the second.
  std::atomic<int> next{0};
  auto run = [&](bool over_grpc) {
    const int base = over_grpc ? n / runs : 0, limit = base + n / runs;
    next.store(base);
    std::atomic<long> accepted{0}, replays_refused{0}, replays_accepted{0}, failed{0};
    auto start = steady_clock::now();
    std::vector<std::thread> threads;
    for (int c = 0; c < clients; ++c) {
      threads.emplace_back([&, c] {
        for (int k = 0; duration<double>(steady_clock::now() - start).count() < seconds; ++k) {
          // One in ten presents a token redeemed before.
          const bool replay = k % 10 == 9 && next.load() > base + 1000;
          const int i = replay ? base + (next.load() - base) / 2 : next++;
          if (i >= limit) break;
          v1::RedeemTokenRequest req;
          req.set_kind_id(kind.id());
          req.set_message(tokens[i].first);
          req.set_signature(tokens[i].second);
          absl::Status s;
          if (over_grpc) {
            v1::RedeemTokenResponse resp;
            grpc::ClientContext ctx;
            s = FromGrpcStatus(stubs[c % stubs.size()]->RedeemToken(&ctx, req, &resp));
          } else {
            s = book.Redeem(req, acceptor_id).status();
          }
          if (s.ok()) {
            (replay ? replays_accepted : accepted)++;
          } else if (ReasonOf(s) == v1::ALREADY_USED) {
            (replay ? replays_refused : failed)++;
          } else {
            ++failed;
          }
        }
      });
    }
    for (auto& t : threads) t.join();
    double elapsed = duration<double>(steady_clock::now() - start).count();
    long spent = 0;
    (void)(*pool)->Read([&](pqxx::nontransaction& tx) -> absl::Status {
      spent = tx.exec("SELECT count(*) FROM ca.spent_tokens")[0][0].as<long>();
      return absl::OkStatus();
    });
    std::printf(
        "  %s: %.0f redemptions/s (%ld accepted, %ld replays refused, %ld replays accepted, %ld failed); "
        "spent set %ld\n",
        over_grpc ? "over gRPC (TLS) to semper-ca" : "in-process", (accepted + replays_refused) / elapsed,
        accepted.load(), replays_refused.load(), replays_accepted.load(), failed.load(), spent);
  };
  std::printf("redeeming: %d concurrent clients for %.0f s\n", clients, seconds);
  run(false);
  if (grpc_mode) run(true);
  std::printf("  database: %s\n", semper::testing::RowCost(**pg, *db, "ca.spent_tokens").c_str());
  return 0;
}
