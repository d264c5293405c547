#include "tests/support/suite.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>

#include "absl/strings/str_split.h"
#include "common/base/proto_time.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/container/container.h"
#include "common/crypto/blind_rsa.h"
#include "common/crypto/cms.h"
#include "common/crypto/csr.h"
#include "common/crypto/random.h"
#include "common/server/client_target.h"
#include "common/server/grpc_status.h"
#include "semper/v1/arbiter.pb.h"
#include "semper/v1/ca.grpc.pb.h"
#include "semper/v1/liability.pb.h"
#include "semper/v1/notary.pb.h"
#include "semper/v1/privacy.grpc.pb.h"
#include "semper/v1/tsa.pb.h"

namespace semper::testing {

grpc::Status CallUnary(grpc::GenericStub& stub, const std::string& method, const std::string& request,
                       std::chrono::milliseconds deadline) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + deadline);
  grpc::Slice slice(request);
  grpc::ByteBuffer request_buffer(&slice, 1), response;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  grpc::Status result;
  stub.UnaryCall(&ctx, method, {}, &request_buffer, &response, [&](grpc::Status s) {
    std::lock_guard<std::mutex> lock(mu);
    result = std::move(s);
    done = true;
    cv.notify_all();
  });
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return done; });
  return result;
}

const google::protobuf::ServiceDescriptor* SuiteService(const std::string& name) {
  // Naming one message of each file links the file's descriptors into the binary.
  for (const google::protobuf::FileDescriptor* file :
       {v1::RegisterSubscriberRequest::descriptor()->file(), v1::IssuePseudonymRequest::descriptor()->file(),
        v1::StampRequest::descriptor()->file(), v1::CertifyDocumentRequest::descriptor()->file(),
        v1::FileClaimRequest::descriptor()->file(), v1::GuaranteeRequest::descriptor()->file()}) {
    for (int i = 0; i < file->service_count(); ++i) {
      if (file->service(i)->full_name() == name) return file->service(i);
    }
  }
  return nullptr;
}

namespace {

// "liability2" -> "liability", "ca2" -> "ca": replicas run the same daemon.
std::string DaemonOf(const std::string& name) { return name.substr(0, name.find_last_not_of("0123456789") + 1); }

}  // namespace

Suite::Options Suite::Options::All(std::string conninfo) {
  return Only({"ca", "tsa", "notary", "arbiter", "liability"}, std::move(conninfo));
}

Suite::Options Suite::Options::Only(std::vector<std::string> daemons, std::string conninfo) {
  // As built with the tests (tests/CMakeLists.txt).
  static const std::map<std::string, std::string> kBuilt = {{"ca", SEMPER_SUITE_CA},
                                                            {"tsa", SEMPER_SUITE_TSA},
                                                            {"notary", SEMPER_SUITE_NOTARY},
                                                            {"arbiter", SEMPER_SUITE_ARBITER},
                                                            {"liability", SEMPER_SUITE_LIABILITY}};
  Options o;
  o.conninfo = std::move(conninfo);
  o.binaries["ca"] = kBuilt.at("ca");
  for (const std::string& d : daemons) o.binaries[d] = kBuilt.at(d);
  return o;
}

absl::StatusOr<std::unique_ptr<Suite>> Suite::Init(const TempDir* dir, Options options) {
  std::unique_ptr<Suite> s(new Suite(dir, std::move(options)));
  dir->Write("pass", s->o_.passphrase);
  auto init = RunCommand({s->o_.binaries.at("ca"), "init", "--dir", s->P("pki"), "--passphrase-file", s->P("pass")});
  if (init.exit_code != 0) return absl::InternalError(StrCat("semper-ca init: ", init.Describe()));
  // Every daemon's address is known before any starts: each names the others it calls.
  for (const char* d : {"ca", "tsa", "notary", "arbiter", "liability"}) s->PortOf(d);
  for (const std::string& d : s->o_.http) s->PortOf(d + "-http");
  return s;
}

absl::StatusOr<std::unique_ptr<Suite>> Suite::Start(const TempDir* dir, Options options) {
  SEMPER_ASSIGN_OR_RETURN(std::unique_ptr<Suite> s, Init(dir, std::move(options)));
  std::vector<std::string> names = {"ca", "tsa", "notary", "arbiter", "liability"};
  for (int r = 2; r <= s->o_.liability_replicas; ++r) names.push_back(StrCat("liability", r));
  for (int r = 2; r <= s->o_.ca_replicas; ++r) names.push_back(StrCat("ca", r));
  const auto& skip = s->o_.not_started;
  for (const std::string& name : names) {
    const std::string d = DaemonOf(name);
    if (!s->o_.binaries.contains(d) || std::find(skip.begin(), skip.end(), d) != skip.end()) continue;
    SEMPER_RETURN_IF_ERROR(s->StartDaemon(name));
  }
  return s;
}

int Suite::PortOf(const std::string& name) {
  auto [it, added] = ports_.emplace(name, 0);
  // A port the kernel calls free may be one this suite already gave out (its daemon is not
  // listening yet): found by a gRPC and an HTTP listener on one port.
  while (added && it->second == 0) {
    const int port = FreePort();
    bool taken = false;
    for (const auto& [other, p] : ports_) taken = taken || p == port;
    if (!taken) it->second = port;
  }
  return it->second;
}

std::vector<std::string> Suite::Argv(const std::string& name, const std::vector<std::string>& extra_env) {
  const std::string daemon = DaemonOf(name);
  const bool http = o_.http.contains(daemon);
  const std::string http_address = http ? StrCat("127.0.0.1:", PortOf(name + "-http")) : "";
  auto address = [this](const std::string& d) { return StrCat("127.0.0.1:", PortOf(d)); };
  std::vector<std::string> e = {
      "SEMPER_DATABASE_URL=" + o_.conninfo, "SEMPER_GRPC_LISTEN=" + address(name), "SEMPER_HTTP_LISTEN=" + http_address,
      "SEMPER_TLS_CERT_FILE=" + P("pki/services/" + daemon + "-tls.pem"),
      "SEMPER_TLS_KEY_FILE=" + P("pki/services/" + daemon + "-tls.key"), "SEMPER_TLS_KEY_PASSPHRASE_FILE=" + P("pass"),
      "SEMPER_TLS_CLIENT_CA_FILE=" + P("pki/client-ca.pem"), "SEMPER_TLS_REQUIRE_CLIENT_CERT=false",
      // Tests load a daemon from one address; common_env may set limits.
      "SEMPER_LIMITS_PER_SECOND=0"};
  e.insert(e.end(), o_.common_env.begin(), o_.common_env.end());
  // The signing key and certificate of `prefix` (SEMPER_<PREFIX>_...) from the init.
  auto signing = [&](const std::string& prefix, const std::string& file) {
    e.push_back(StrCat("SEMPER_", prefix, "_CERT_FILE=", P("pki/services/" + file + ".pem")));
    e.push_back(StrCat("SEMPER_", prefix, "_KEY_FILE=", P("pki/services/" + file + ".key")));
    e.push_back(StrCat("SEMPER_", prefix, "_KEY_PASSPHRASE_FILE=", P("pass")));
  };
  if (daemon == "ca") {
    e.insert(e.end(), {"SEMPER_CA_DIR=" + P("pki"), "SEMPER_CA_KEY_PASSPHRASE_FILE=" + P("pass"),
                       "SEMPER_CA_ARBITER_ADDRESS=" + address("arbiter"), "SEMPER_CA_UPSTREAM_SERVER_NAME=localhost"});
    if (http) e.push_back("SEMPER_CA_PUBLIC_URL=http://" + http_address);
  } else if (daemon == "liability") {
    signing("LIABILITY", "liability-signing");
    e.insert(e.end(),
             {"SEMPER_LIABILITY_TRUST_FILE=" + P("pki/root.pem"), "SEMPER_LIABILITY_CA_ADDRESS=" + address("ca"),
              "SEMPER_LIABILITY_UPSTREAM_SERVER_NAME=localhost",
              "SEMPER_LIABILITY_ARBITER_CERT_FILE=" + P("pki/services/arbiter-signing.pem"),
              "SEMPER_LIABILITY_INTERMEDIATES_FILE=" + P("pki/pseudonym-ca.pem")});
  } else if (daemon == "tsa") {
    signing("TSA", "tsa-signing");
    e.insert(e.end(), {"SEMPER_TSA_CLOCK_CHECK=off", "SEMPER_TSA_CA_ADDRESS=" + address("ca"),
                       "SEMPER_TSA_UPSTREAM_SERVER_NAME=localhost"});
  } else if (daemon == "notary") {
    signing("NOTARY", "notary-signing");
    e.insert(e.end(), {"SEMPER_NOTARY_TRUST_FILE=" + P("pki/root.pem"), "SEMPER_NOTARY_CA_ADDRESS=" + address("ca"),
                       "SEMPER_NOTARY_TSA_ADDRESS=" + address("tsa"), "SEMPER_NOTARY_UPSTREAM_SERVER_NAME=localhost"});
  } else if (daemon == "arbiter") {
    signing("ARBITER", "arbiter-signing");
    signing("ESCROW", "arbiter-escrow");
    e.insert(e.end(),
             {"SEMPER_ARBITER_TRUST_FILE=" + P("pki/root.pem"), "SEMPER_ARBITER_CA_ADDRESS=" + address("ca"),
              "SEMPER_ARBITER_NOTARY_ADDRESS=" + address("notary"), "SEMPER_ARBITER_UPSTREAM_SERVER_NAME=localhost"});
  }
  if (auto it = o_.env.find(daemon); it != o_.env.end()) e.insert(e.end(), it->second.begin(), it->second.end());
  e.insert(e.end(), extra_env.begin(), extra_env.end());
  // "-NAME" drops NAME's settings before it; later ones stay.
  std::vector<std::string> argv = {"env"};
  for (const std::string& setting : e) {
    if (setting.starts_with("-")) {
      const std::string drop = setting.substr(1) + "=";
      std::erase_if(argv, [&](const std::string& a) { return a.starts_with(drop); });
    } else {
      argv.push_back(setting);
    }
  }
  argv.push_back(o_.binaries.at(daemon));
  if (daemon == "ca") argv.push_back("serve");
  return argv;
}

absl::Status Suite::StartDaemon(const std::string& name, const std::vector<std::string>& extra_env) {
  if (Running(name) != nullptr) return absl::AlreadyExistsError(StrCat("semper-", name, " is running"));
  argv_[name] = Argv(name, extra_env);
  ChildProcess* slot = nullptr;
  for (auto& [n, p] : daemons_) {
    if (n == name) slot = &p;
  }
  if (slot == nullptr) slot = &daemons_.emplace_back(name, ChildProcess()).second;
  *slot = ChildProcess(argv_[name], P(name + ".log"));
  if (!Channel(name)->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(20))) {
    return absl::UnavailableError(StrCat("semper-", name, " did not start:\n", Slurp(P(name + ".log"))));
  }
  return absl::OkStatus();
}

Suite::~Suite() {
  for (auto it = daemons_.rbegin(); it != daemons_.rend(); ++it) {
    if (it->second.pid() > 0) {
      it->second.Signal(SIGTERM);
      // A clean stop exits 0; a sanitizer report or a crash on the way out does not.
      int code = it->second.Wait(15000);
      if (code != 0) {
        ADD_FAILURE() << "semper-" << it->first << " exited with " << code << ":\n" << Slurp(P(it->first + ".log"));
      }
    }
  }
}

ChildProcess* Suite::Running(const std::string& name) {
  for (auto& [n, p] : daemons_) {
    if (n == name && p.pid() > 0) return &p;
  }
  return nullptr;
}

absl::Status Suite::Stop(const std::string& name) {
  ChildProcess* p = Running(name);
  if (p == nullptr) return absl::NotFoundError(name);
  p->Signal(SIGTERM);
  int code = p->Wait(15000);
  *p = ChildProcess();
  if (code != 0) return absl::InternalError(StrCat("semper-", name, " exited with ", code));
  return absl::OkStatus();
}

absl::Status Suite::Kill(const std::string& name) {
  ChildProcess* p = Running(name);
  if (p == nullptr) return absl::NotFoundError(name);
  p->Signal(SIGKILL);
  (void)p->Wait(15000);
  *p = ChildProcess();
  return absl::OkStatus();
}

absl::Status Suite::Restart(const std::string& name) {
  if (Running(name) != nullptr) SEMPER_RETURN_IF_ERROR(Stop(name));
  for (auto& [n, p] : daemons_) {
    if (n != name) continue;
    p = ChildProcess(argv_.at(name), P(name + ".log"));
    if (!Channel(name)->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(20))) {
      return absl::UnavailableError(StrCat("semper-", name, " did not start again"));
    }
    return absl::OkStatus();
  }
  return absl::NotFoundError(name);
}

std::shared_ptr<grpc::Channel> Suite::ChannelWith(const std::string& daemon, std::string cert_chain_pem,
                                                  std::string key_pem) const {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = Slurp(P("pki/root.pem"));
  ssl.pem_cert_chain = std::move(cert_chain_pem);
  ssl.pem_private_key = std::move(key_pem);
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  args.SetInt("grpc.use_local_subchannel_pool", 1);
  SetRoundRobin(args);
  // "tsa,tsa2": every replica named, as a client of a replicated suite reaches them.
  std::string addresses;
  for (absl::string_view name : absl::StrSplit(daemon, ',')) {
    StrAppend(&addresses, addresses.empty() ? "" : ",", "127.0.0.1:", ports_.at(std::string(name)));
  }
  return grpc::CreateCustomChannel(*ClientTarget(addresses), grpc::SslCredentials(ssl), args);
}

std::shared_ptr<grpc::Channel> Suite::Channel(const std::string& daemon, const std::string& client) const {
  if (client.empty()) return ChannelWith(daemon, "", "");
  auto key = PrivateKey::FromPem(Slurp(P("pki/admin/" + client + ".key")), SecretData(o_.passphrase));
  return ChannelWith(daemon, Slurp(P("pki/admin/" + client + ".pem")),
                     key.ok() ? std::string(key->ToUnencryptedPemSecret().Reveal()) : "");
}

std::shared_ptr<grpc::Channel> Suite::ChannelAs(const std::string& daemon, const Subscriber& who) const {
  if (!who.authentication_key.has_value() || !who.authentication_certificate.has_value()) return Channel(daemon);
  return ChannelWith(daemon, who.authentication_certificate->Pem() + Slurp(P("pki/ca.pem")),
                     std::string(who.authentication_key->ToUnencryptedPemSecret().Reveal()));
}

std::vector<Certificate> Suite::Chain() const { return {*Certificate::FromPem(Slurp(P("pki/ca.pem")))}; }

absl::StatusOr<Suite::Subscriber> Suite::Enroll(const std::string& name, v1::CustomerKind kind,
                                                const std::string& ca) const {
  SEMPER_ASSIGN_OR_RETURN(std::string code, Register(name, kind, ca));
  SEMPER_ASSIGN_OR_RETURN(Enrolment enrolment, NewEnrolment(code));
  return Complete(enrolment, ca);
}

absl::StatusOr<std::string> Suite::Register(const std::string& name, v1::CustomerKind kind,
                                            const std::string& ca) const {
  auto admin = v1::CertificationAuthority::NewStub(Channel(ca, "admin"));
  v1::RegisterSubscriberRequest reg;
  auto* s = reg.mutable_subscriber();
  s->set_name(name);
  s->set_kind(kind);
  s->set_country("DE");
  s->set_applicable_law("DE");
  s->set_email("x@example.de");
  if (kind == v1::CUSTOMER_KIND_ENTERPRISE) s->set_vat_reference("VATDE-123456789");
  v1::RegisterSubscriberResponse registered;
  grpc::ClientContext c1;
  if (auto r = admin->RegisterSubscriber(&c1, reg, &registered); !r.ok()) return FromGrpcStatus(r);
  return registered.enrolment_code();
}

absl::StatusOr<Suite::Enrolment> Suite::NewEnrolment(const std::string& code) const {
  SEMPER_ASSIGN_OR_RETURN(PrivateKey auth_key, PrivateKey::Generate(KeyType::kEcP256));
  SEMPER_ASSIGN_OR_RETURN(PrivateKey sig_key, PrivateKey::Generate(KeyType::kEcP256));
  v1::EnrollRequest enroll;
  enroll.set_enrolment_code(code);
  enroll.set_authentication_csr(CertificationRequest::Create(auth_key, {})->Der());
  enroll.set_signature_csr(CertificationRequest::Create(sig_key, {})->Der());
  return Enrolment{std::move(enroll), std::move(auth_key), std::move(sig_key)};
}

absl::StatusOr<Suite::Subscriber> Suite::Complete(const Enrolment& enrolment, const std::string& ca) const {
  v1::EnrollResponse enrolled;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  if (auto r = v1::CertificationAuthority::NewStub(Channel(ca))->Enroll(&ctx, enrolment.request, &enrolled); !r.ok()) {
    return FromGrpcStatus(r);
  }
  SEMPER_ASSIGN_OR_RETURN(Certificate cert, Certificate::FromDer(enrolled.signature().certificate()));
  SEMPER_ASSIGN_OR_RETURN(Certificate auth_cert, Certificate::FromDer(enrolled.authentication().certificate()));
  return Subscriber{enrolment.signature_key, cert, enrolment.authentication_key, auth_cert};
}

absl::StatusOr<v1::TokenKind> Suite::CreateTokenKind(const Subscriber& issuer, const std::string& name,
                                                     const std::string& ca) const {
  v1::TokenKindRequestStatement st;
  st.set_type("semper-token-kind-request");
  st.set_name(name);
  st.mutable_value()->set_currency("EUR");
  st.mutable_value()->set_minor_units(290);
  *st.mutable_valid_until() = ToTimestamp(absl::Now() + absl::Hours(24 * 30));
  *st.mutable_made_at() = ToTimestamp(absl::Now());
  v1::CreateTokenKindRequest req;
  req.set_request(st.SerializeAsString());
  SEMPER_ASSIGN_OR_RETURN(std::string signature,
                          CmsSignDetached(req.request(), issuer.key, issuer.certificate, Chain()));
  req.set_signature(signature);
  v1::TokenKind kind;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  if (grpc::Status s = v1::Credentials::NewStub(Channel(ca))->CreateTokenKind(&ctx, req, &kind); !s.ok()) {
    return FromGrpcStatus(s);
  }
  return kind;
}

absl::StatusOr<v1::IssueBlindTokenResponse> Suite::IssueBlindToken(const Subscriber& issuer, const std::string& kind_id,
                                                                   const std::string& blinded,
                                                                   const std::string& ca) const {
  v1::BlindIssueStatement st;
  st.set_type("semper-blind-issue");
  st.set_kind_id(kind_id);
  st.set_blinded_message(blinded);
  *st.mutable_made_at() = ToTimestamp(absl::Now());
  v1::IssueBlindTokenRequest req;
  req.set_request(st.SerializeAsString());
  SEMPER_ASSIGN_OR_RETURN(std::string signature,
                          CmsSignDetached(req.request(), issuer.key, issuer.certificate, Chain()));
  req.set_signature(signature);
  v1::IssueBlindTokenResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  if (grpc::Status s = v1::Credentials::NewStub(Channel(ca))->IssueBlindToken(&ctx, req, &resp); !s.ok()) {
    return FromGrpcStatus(s);
  }
  return resp;
}

absl::StatusOr<Suite::BlindToken> Suite::ObtainToken(const Subscriber& issuer, const v1::TokenKind& kind,
                                                     const std::string& what, const std::string& ca) const {
  SEMPER_ASSIGN_OR_RETURN(PublicKey pk, PublicKey::FromDer(kind.public_key()));
  BlindToken t;
  t.message = blind_rsa::Prepare(what);
  SEMPER_ASSIGN_OR_RETURN(auto blinding, blind_rsa::Blind(pk, t.message));
  t.blinded = blinding.blinded_message;
  SEMPER_ASSIGN_OR_RETURN(v1::IssueBlindTokenResponse issued, IssueBlindToken(issuer, kind.id(), t.blinded, ca));
  SEMPER_ASSIGN_OR_RETURN(t.signature, blind_rsa::Finalize(pk, t.message, issued.blind_signature(), blinding.inv));
  return t;
}

std::string Suite::SignedOrder(const Subscriber& buyer, const Certificate& seller, int64_t minor_units,
                               const std::string& currency, const std::string& order_id) const {
  v1::ContainerContent content = NewContainerContent(absl::Now());
  v1::Order* o = content.mutable_template_()->mutable_order();
  o->set_order_id(order_id.empty() ? StrCat("O-", HexEncode(RandomBytes(8))) : order_id);
  o->mutable_buyer()->set_name(buyer.certificate.SubjectAttribute("CN").value_or("buyer"));
  o->mutable_buyer()->set_certificate(buyer.certificate.Der());
  o->mutable_seller()->set_name(seller.SubjectAttribute("CN").value_or("seller"));
  o->mutable_seller()->set_certificate(seller.Der());
  o->set_applicable_law("DE");
  o->set_customer_kind(v1::CUSTOMER_KIND_INDIVIDUAL);
  o->mutable_amount()->set_currency(currency);
  o->mutable_amount()->set_minor_units(minor_units);
  content.mutable_requested()->set_non_repudiation_of_origin(true);
  auto sealed = Seal(content, {.signers = {SignerIdentity{buyer.key, buyer.certificate, Chain()}}});
  EXPECT_TRUE(sealed.ok()) << sealed.status();
  return sealed.ok() ? sealed->SerializeAsString() : std::string();
}

absl::StatusOr<Suite::Subscriber> Suite::IssuePseudonym(const Subscriber& holder, v1::PseudonymKind kind,
                                                        const std::string& name) const {
  SEMPER_ASSIGN_OR_RETURN(PrivateKey key, PrivateKey::Generate(KeyType::kEcP256));
  v1::PseudonymRequestStatement st;
  st.set_type("semper-pseudonym-request");
  st.set_csr(CertificationRequest::Create(key, {})->Der());
  st.set_kind(kind);
  st.set_name(name);
  // On a pseudonym (no authentication key): for the hours its base has left, whole, since a
  // pseudonym may not outlive its base and is valid from the hour.
  if (!holder.authentication_key.has_value()) {
    const absl::Time from = absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()) / 3600 * 3600);
    const int64_t hours = absl::ToInt64Hours(holder.certificate.not_after() - from);
    const int64_t fallback = kind == v1::PSEUDONYM_KIND_ROLE ? 365 * 24 : 24;
    st.set_valid_seconds(std::max<int64_t>(1, std::min(hours, fallback)) * 3600);
  }
  *st.mutable_made_at() = ToTimestamp(absl::Now());
  v1::IssuePseudonymRequest req;
  req.set_request(st.SerializeAsString());
  SEMPER_ASSIGN_OR_RETURN(std::string sig, CmsSignDetached(req.request(), holder.key, holder.certificate, Chain()));
  req.set_signature(sig);
  v1::IssuePseudonymResponse resp;
  grpc::ClientContext ctx;
  if (auto r = v1::Pseudonyms::NewStub(Channel("ca"))->IssuePseudonym(&ctx, req, &resp); !r.ok())
    return FromGrpcStatus(r);
  SEMPER_ASSIGN_OR_RETURN(Certificate cert, Certificate::FromDer(resp.certificate()));
  return Subscriber{key, cert, std::nullopt, std::nullopt};
}

absl::Status Suite::Revoke(const Certificate& cert, int reason) const {
  auto admin = v1::CertificationAuthority::NewStub(Channel("ca", "admin"));
  v1::RevokeCertificateRequest req;
  req.set_serial(cert.SerialHex());
  req.set_reason(static_cast<v1::RevocationReason>(reason));
  v1::RevokeCertificateResponse resp;
  grpc::ClientContext ctx;
  return FromGrpcStatus(admin->RevokeCertificate(&ctx, req, &resp));
}

}  // namespace semper::testing
