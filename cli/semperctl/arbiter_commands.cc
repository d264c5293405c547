// semperctl exchange / dispute: the parties' side of semper-arbiter.
#include "cli/semperctl/arbiter_commands.h"

#include <google/protobuf/struct.pb.h>

#include <cstdio>
#include <filesystem>

#include "absl/strings/str_split.h"
#include "common/base/files.h"
#include "common/base/proto_time.h"
#include "common/container/money.h"
#include "common/crypto/cms.h"
#include "common/crypto/digest.h"
#include "common/crypto/random.h"
#include "common/crypto/suite_signer.h"
#include "common/exchange/asw.h"
#include "common/server/grpc_status.h"
#include "semper/v1/arbiter.grpc.pb.h"
#include "semper/v1/ca.grpc.pb.h"

namespace semper::ctl {
namespace {

namespace fs = std::filesystem;

std::unique_ptr<v1::Arbiter::Stub> ArbiterStub(const Connection& c) {
  return v1::Arbiter::NewStub(ChannelTo(c, c.arbiter));
}

[[noreturn]] void Usage(std::string_view field, std::string_view what) { Die(InvalidField(field, what), 2); }

template <typename T>
T ReadMessage(const std::string& path) {
  T m;
  if (!m.ParseFromString(ReadFileOrDie(path))) {
    Die(MakeError(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT,
                  StrCat(path, " is not the expected message")),
        2);
  }
  return m;
}

// The arbiter's certificate, checked against the suite's roots.
v1::ArbiterCertificate ArbiterCertificates(const Connection& c, const TrustStore& trust) {
  v1::ArbiterCertificate resp;
  Call(ArbiterStub(c)->GetArbiterCertificate(Ctx().get(), {}, &resp));
  auto cert = Certificate::FromDer(resp.certificate());
  if (!cert.ok()) Die(cert.status());
  std::vector<Certificate> chain;
  for (const auto& der : resp.chain()) chain.push_back(*Certificate::FromDer(der));
  if (auto path = trust.VerifyPath(*cert, chain, absl::Now(), KeyPurpose::kNonRepudiation); !path.ok()) {
    Die(Annotate(path.status(), "the arbiter's certificate"));
  }
  // Any subscriber's signature certificate has a path too: it must be semper-arbiter's own.
  if (absl::Status own = CheckSuiteSigner(*cert, "arbiter"); !own.ok()) Die(Annotate(own, "the arbiter's certificate"));
  if (!resp.escrow_certificate().empty()) {
    auto escrow = Certificate::FromDer(resp.escrow_certificate());
    if (!escrow.ok()) Die(Annotate(escrow.status(), "the arbiter's escrow certificate"));
    if (auto path = trust.VerifyPath(*escrow, chain, absl::Now(), KeyPurpose::kAny); !path.ok()) {
      Die(Annotate(path.status(), "the arbiter's escrow certificate"));
    }
    if (absl::Status own = CheckSuiteCertificate(*escrow, "semper-arbiter escrow"); !own.ok()) {
      Die(Annotate(own, "the arbiter's escrow certificate"));
    }
  }
  return resp;
}

asw::Party WalletParty(const std::string& wallet, const std::string& pass) {
  std::vector<Certificate> chain = WalletChain(wallet);
  return asw::Party{WalletKey(wallet, pass), chain.front()};
}

std::string Money(const v1::Money& m) { return FormatMoney(m); }

int64_t ParseMinorUnits(const std::string& amount) {
  auto minor = ::semper::ParseMinorUnits(amount);
  if (!minor.has_value()) Usage("--amount", "must be an amount like 12.00");
  return *minor;
}

void PrintTerms(const v1::Me1Body& b) {
  const char* kind = b.kind() == v1::EXCHANGE_KIND_DOCUMENT_FOR_RECEIPT   ? "certified mail (document against receipt)"
                     : b.kind() == v1::EXCHANGE_KIND_DELIVERY_FOR_PAYMENT ? "delivery against payment"
                                                                          : "contract signing";
  std::printf("  exchange:   %s\n", kind);
  std::printf("  text:\n");
  std::vector<std::string> lines = absl::StrSplit(b.contract(), '\n');
  for (const std::string& line : lines) std::printf("    | %s\n", Visible(line).c_str());
  if (b.kind() == v1::EXCHANGE_KIND_DOCUMENT_FOR_RECEIPT) {
    std::printf("  document:   SHA-256 %s (escrowed to the arbiter)\n", HexEncode(b.document_sha256()).c_str());
  }
  if (b.kind() == v1::EXCHANGE_KIND_DELIVERY_FOR_PAYMENT) {
    std::printf("  payment:    %s by %s, reference %s at %s\n", VisibleLine(Money(b.payment().amount())).c_str(),
                VisibleLine(b.payment().instrument()).c_str(), VisibleLine(b.payment().reference()).c_str(),
                VisibleLine(b.payment().provider()).c_str());
  }
  std::printf("  originator: %s\n", VisibleLine(Certificate::FromDer(b.originator_certificate())->Subject()).c_str());
  std::printf("  responder:  %s\n", VisibleLine(Certificate::FromDer(b.responder_certificate())->Subject()).c_str());
  std::printf("  arbiter:    %s\n", VisibleLine(Certificate::FromDer(b.arbiter_certificate())->Subject()).c_str());
}

void SaveState(const std::string& path, const v1::ExchangeState& st) {
  // The state holds the party's nonce: readable by the party only.
  WriteOrDie(path, st.SerializeAsString(), 0600);
}

int Offer(const Connection& c, const std::string& wallet, const std::string& pass, const std::string& to,
          const std::string& contract_file, const std::string& kind, const std::string& document_file,
          v1::Payment payment, const std::string& state, const std::string& out) {
  TrustStore trust = Trust(c);
  auto responder = Certificate::FromPem(ReadFileOrDie(to));
  if (!responder.ok()) Die(Annotate(responder.status(), "--to"), 2);
  v1::ArbiterCertificate arbiter = ArbiterCertificates(c, trust);
  asw::ExchangeTerms terms;
  terms.contract = ReadFileOrDie(contract_file);
  if (kind == "mail") {
    if (document_file.empty()) Usage("--document", "is required for certified mail");
    if (arbiter.escrow_certificate().empty())
      Die(MakeError(absl::StatusCode::kUnimplemented, v1::NOT_SUPPORTED, "the arbiter takes no escrows"));
    terms.kind = v1::EXCHANGE_KIND_DOCUMENT_FOR_RECEIPT;
    terms.document = ReadFileOrDie(document_file);
    terms.escrow = *Certificate::FromDer(arbiter.escrow_certificate());
  } else if (kind == "payment") {
    terms.kind = v1::EXCHANGE_KIND_DELIVERY_FOR_PAYMENT;
    terms.payment = std::move(payment);
  } else if (kind != "contract") {
    Usage("--kind", "must be contract, mail or payment");
  }
  std::vector<Certificate> chain = WalletChain(wallet);
  asw::Originator preview(asw::Party{*PrivateKey::Generate(KeyType::kEcP256), chain.front()}, *responder,
                          *Certificate::FromDer(arbiter.certificate()), terms);
  v1::Me1Body shown;
  shown.set_kind(terms.kind);
  shown.set_contract(terms.contract);
  shown.set_document_sha256(terms.kind == v1::EXCHANGE_KIND_DOCUMENT_FOR_RECEIPT ? Sha256(terms.document) : "");
  *shown.mutable_payment() = terms.payment;
  shown.set_originator_certificate(chain.front().Der());
  shown.set_responder_certificate(responder->Der());
  shown.set_arbiter_certificate(arbiter.certificate());
  std::printf("You are about to sign, with your signature key (legally binding once the exchange completes):\n");
  PrintTerms(shown);
  if (!Confirm(c, "Sign and write the first message?")) {
    std::fprintf(stderr, "semperctl: nothing signed\n");
    return 1;
  }
  asw::Originator o(WalletParty(wallet, pass), *responder, *Certificate::FromDer(arbiter.certificate()), terms);
  auto me1 = o.Me1();
  if (!me1.ok()) Die(me1.status());
  SaveState(state, o.State());
  WriteOrDie(out, me1->SerializeAsString());
  std::printf("Wrote %s: send it to %s. Your state is in %s (keep it private).\n", out.c_str(),
              responder->Subject().c_str(), state.c_str());
  std::printf("If no answer comes: semperctl exchange abort --state %s\n", state.c_str());
  return 0;
}

// A party's signature certificate in an exchange chains to the suite's root, is for signing, and
// is good at semper-ca now: nothing in an exchange proves when it was signed, so a key revoked
// (or on hold) since counts as revoked. Its issuing CA comes from the arbiter's chain when the
// file at hand lacks it. semper-ca unreachable: exit 1 (neither valid nor not).
absl::Status CheckSigner(const Connection& c, const TrustStore& trust, const Certificate& cert) {
  if (!trust.VerifyPath(cert, {}, absl::Now(), KeyPurpose::kNonRepudiation).ok()) {
    v1::ArbiterCertificate arbiter = ArbiterCertificates(c, trust);
    std::vector<Certificate> chain;
    for (const auto& der : arbiter.chain()) chain.push_back(*Certificate::FromDer(der));
    SEMPER_RETURN_IF_ERROR(trust.VerifyPath(cert, chain, absl::Now(), KeyPurpose::kNonRepudiation).status());
  }
  v1::GetCertificateStatusRequest req;
  req.set_certificate(cert.Der());
  v1::CertificateStatus st;
  grpc::Status s =
      v1::CertificationAuthority::NewStub(ChannelTo(c, c.server))->GetCertificateStatus(Ctx().get(), req, &st);
  if (!s.ok()) Die(Annotate(FromGrpcStatus(s), "asking semper-ca for the certificate's status"));
  if (st.state() == v1::CERTIFICATE_STATE_REVOKED) {
    return MakeError(
        absl::StatusCode::kFailedPrecondition, v1::CERTIFICATE_REVOKED,
        StrCat("certificate ", cert.SerialHex(), " is revoked since ", TimeText(st.revoked_at()), " (",
               v1::RevocationReason_Name(st.reason()), "); nothing in an exchange proves it was signed before"));
  }
  if (st.state() != v1::CERTIFICATE_STATE_GOOD) {
    return MakeError(absl::StatusCode::kFailedPrecondition, v1::CERTIFICATE_UNTRUSTED,
                     StrCat("certificate ", cert.SerialHex(), " is unknown to semper-ca"));
  }
  return absl::OkStatus();
}

int Accept(const Connection& c, const std::string& wallet, const std::string& pass, const std::string& in,
           const std::string& state, const std::string& out) {
  TrustStore trust = Trust(c);
  v1::SignedBody me1 = ReadMessage<v1::SignedBody>(in);
  auto view = asw::VerifyMe1(me1);
  if (!view.ok()) Die(view.status());
  if (absl::Status path = CheckSigner(c, trust, view->originator); !path.ok()) {
    Die(Annotate(path, "the originator's certificate"));
  }
  v1::ArbiterCertificate arbiter = ArbiterCertificates(c, trust);
  std::printf("%s offers an exchange. You are about to commit to it with your signature key:\n",
              VisibleLine(view->originator.Subject()).c_str());
  PrintTerms(view->body);
  if (!Confirm(c, "Commit and write the answer?")) {
    std::fprintf(stderr, "semperctl: nothing signed\n");
    return 1;
  }
  auto r = asw::Responder::Accept(WalletParty(wallet, pass), *Certificate::FromDer(arbiter.certificate()), me1);
  if (!r.ok()) Die(r.status());
  auto me2 = r->Me2();
  if (!me2.ok()) Die(me2.status());
  SaveState(state, r->State());
  WriteOrDie(out, me2->SerializeAsString());
  std::printf("Wrote %s: send it to %s. If nothing comes back: semperctl exchange resolve --state %s\n", out.c_str(),
              view->originator.Subject().c_str(), state.c_str());
  return 0;
}

void CheckDecision(const Connection& c, const TrustStore& trust, const asw::Me1View& me1, const v1::ArbiterDecision& d);
void PrintDecision(const v1::ArbiterDecision& d, const std::string& out);

int Step(const Connection& c, const std::string& wallet, const std::string& pass, const std::string& state_file,
         const std::string& in, const std::string& document_file, const std::string& out) {
  v1::ExchangeState st = ReadMessage<v1::ExchangeState>(state_file);
  asw::Party self = WalletParty(wallet, pass);
  if (st.role() == "originator") {
    auto o = asw::Originator::Restore(self, st);
    if (!o.ok()) Die(o.status());
    if (st.me3().body().empty()) {
      auto me3 = o->Me3(ReadMessage<v1::SignedBody>(in));  // checks me2; nothing leaves before the answer
      if (!me3.ok()) Die(me3.status());
      auto view = asw::VerifyMe1(st.me1());
      if (!view.ok()) Die(view.status());
      std::printf("The responder committed. Giving the third message binds you to:\n");
      PrintTerms(view->body);
      if (!Confirm(c, "Sign and write the third message?")) {
        std::fprintf(stderr, "semperctl: nothing written\n");
        return 1;
      }
      SaveState(state_file, o->State());
      WriteOrDie(out, me3->SerializeAsString());
      std::printf("Wrote %s: send it%s.\n", out.c_str(), o->document().empty() ? "" : " together with the document");
      std::printf("If the last message does not come: semperctl exchange resolve --state %s\n", state_file.c_str());
      return 0;
    }
    auto contract = o->Finish(ReadMessage<v1::SignedBody>(in));
    if (!contract.ok()) Die(contract.status());
    WriteOrDie(out, contract->SerializeAsString());
    std::printf("Exchange complete: both sides are bound. The signed contract is in %s.\n", out.c_str());
    return 0;
  }
  auto r = asw::Responder::Restore(self, st);
  if (!r.ok()) Die(r.status());
  if (r->terms().kind() == v1::EXCHANGE_KIND_DOCUMENT_FOR_RECEIPT) {
    if (document_file.empty()) Usage("--document", "the document that came with the message is required");
    if (absl::Status s = r->ReceiveDocument(ReadFileOrDie(document_file)); !s.ok()) Die(s);
  }
  std::printf("Giving the last message binds you to:\n");
  PrintTerms(r->terms());
  if (!Confirm(c, "Sign the last message?")) {
    std::fprintf(stderr, "semperctl: nothing signed\n");
    return 1;
  }
  auto me4 = r->Me4(ReadMessage<v1::SignedBody>(in));
  if (!me4.ok()) Die(me4.status());
  if (r->terms().kind() == v1::EXCHANGE_KIND_DELIVERY_FOR_PAYMENT) {
    // Before me4 leaves: the arbiter records the contract and orders the payment released. If it
    // refuses (an abort, or another exchange of the payer's holds the payment), me4 is not written:
    // without it the originator holds no standard contract, and its resolve gets nothing either.
    v1::ShowStandardContractRequest show;
    *show.mutable_contract() = r->Contract();
    v1::ArbiterDecision d;
    grpc::Status shown = ArbiterStub(c)->ShowStandardContract(Ctx().get(), show, &d);
    if (!shown.ok()) {
      // A lost answer may hide a recorded completion: asking again gets the same record.
      Die(Annotate(FromGrpcStatus(shown),
                   "no release order for this payment (or its answer was lost): me4 not "
                   "written, do not deliver; run this step again to ask again"));
    }
    auto view = asw::VerifyMe1(show.contract().me1());
    if (!view.ok()) Die(view.status());
    CheckDecision(c, Trust(c), *view, d);
    v1::AffidavitStatement order;
    google::protobuf::util::JsonParseOptions lenient;
    lenient.ignore_unknown_fields = true;
    if (!d.completed() || !google::protobuf::util::JsonStringToMessage(d.affidavit(), &order, lenient).ok() ||
        order.type() != "semper-payment-release-order") {
      Die(MakeError(absl::StatusCode::kFailedPrecondition, v1::WRONG_STATE,
                    "the arbiter's answer holds no release order: me4 not written, do not deliver"));
    }
    PrintDecision(d, out + ".arbiter");
  }
  SaveState(state_file, r->State());
  WriteOrDie(out, me4->SerializeAsString());
  WriteOrDie(out + ".contract", r->Contract().SerializeAsString());
  std::printf("Wrote %s: send it. The signed contract is in %s.contract.\n", out.c_str(), out.c_str());
  if (r->terms().kind() == v1::EXCHANGE_KIND_DELIVERY_FOR_PAYMENT) {
    std::printf("Delivery against payment: the arbiter's release order is in %s.arbiter; deliver against it.\n",
                out.c_str());
  }
  return 0;
}

// The arbiter's answer is checked before anything of it is kept: its token is signed by
// semper-arbiter, is for this exchange (me1) and says what the answer says; the affidavit is
// semper-arbiter's, about this exchange; a document from the escrow is the one me1 names.
void CheckDecision(const Connection& c, const TrustStore& trust, const asw::Me1View& me1,
                   const v1::ArbiterDecision& d) {
  auto fail = [](const std::string& what) {
    Die(MakeError(absl::StatusCode::kDataLoss, v1::SIGNATURE_INVALID, StrCat("the arbiter's answer: ", what)), 3);
  };
  v1::ArbiterCertificate arbiter = ArbiterCertificates(c, trust);
  auto t = asw::VerifyToken(d.token(), *Certificate::FromDer(arbiter.certificate()));
  if (!t.ok()) fail(std::string(t.status().message()));
  if (t->body.me1_hash() != me1.hash) fail("a token for another exchange");
  if (t->resolved != d.resolved()) fail("the token says the opposite of the answer");
  if (!d.affidavit().empty()) {
    auto signers =
        CmsVerifyDetached(d.affidavit_signature(), d.affidavit(), trust, absl::Now(), KeyPurpose::kNonRepudiation);
    if (!signers.ok() || signers->size() != 1 || !CheckSuiteSigner(signers->front().certificate, "arbiter").ok()) {
      fail("an affidavit semper-arbiter did not sign");
    }
    v1::AffidavitStatement a;
    google::protobuf::util::JsonParseOptions lenient;
    lenient.ignore_unknown_fields = true;
    if (!google::protobuf::util::JsonStringToMessage(d.affidavit(), &a, lenient).ok() || a.me1_hash() != me1.hash) {
      fail("an affidavit about another exchange");
    }
    // What the affidavit orders fits the decision: a reversal only after an abort that no
    // standard contract answered; a release or a substitute receipt only for a bound exchange.
    const bool bound = d.resolved() || d.completed();
    if ((a.type() == "semper-payment-reversal-order" && bound) ||
        (a.type() == "semper-payment-release-order" && !bound) ||
        (a.type() == "semper-substitute-receipt" && !d.resolved())) {
      fail(StrCat("an affidavit (", a.type(), ") that contradicts the decision"));
    }
  }
  if (!d.document().empty() && asw::Hash(d.document()) != me1.body.document_sha256()) {
    fail("a document other than the one me1 names");
  }
}

void PrintDecision(const v1::ArbiterDecision& d, const std::string& out) {
  fs::create_directories(out);
  WriteOrDie(out + "/token", d.token().SerializeAsString());
  std::printf("The arbiter decided: %s (saved in %s/token)\n",
              d.resolved() ? "resolved: the exchange stands (replacement contract)"
                           : "aborted: the arbiter will never resolve it (a standard contract me1..me4, if the parties "
                             "completed the exchange, still binds both)",
              out.c_str());
  if (d.completed()) std::printf("A standard contract of this exchange was shown to the arbiter: both are bound.\n");
  if (d.has_payment_order_from() && d.affidavit().empty()) {
    std::printf(
        "No payment order yet: until %s whoever holds the standard contract may show it (semperctl exchange "
        "show-contract), which makes the order a release; after it, ask again for the reversal order.\n",
        absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", FromTimestamp(d.payment_order_from()), absl::UTCTimeZone()).c_str());
  }
  if (!d.affidavit().empty()) {
    WriteOrDie(out + "/affidavit.json", d.affidavit());
    WriteOrDie(out + "/affidavit.sig", d.affidavit_signature());
    v1::AffidavitStatement a;
    (void)google::protobuf::util::JsonStringToMessage(d.affidavit(), &a);
    std::printf("Affidavit %s: %s\n  saved in %s/affidavit.json and .sig.\n", VisibleLine(a.type()).c_str(),
                VisibleLine(a.statement()).c_str(), out.c_str());
    PrintOpensslCheck(out + "/affidavit.sig", out + "/affidavit.json", "arbiter");
  }
  if (!d.document().empty()) {
    WriteOrDie(out + "/document", d.document());
    std::printf("The document from the arbiter's escrow is in %s/document (%zu bytes).\n", out.c_str(),
                d.document().size());
  }
}

int AbortOrResolve(const Connection& c, bool abort, const std::string& wallet, const std::string& pass,
                   const std::string& state_file, const std::string& out) {
  v1::ExchangeState st = ReadMessage<v1::ExchangeState>(state_file);
  auto view = asw::VerifyMe1(st.me1());
  if (!view.ok()) Die(Annotate(view.status(), "--state"), 2);
  std::printf(abort ? "You are about to ask semper-arbiter to abort this exchange: it will never resolve it, and\n"
                      "its first decision stands for both sides:\n"
                    : "You are about to ask semper-arbiter to resolve this exchange: both sides are bound unless it\n"
                      "was aborted first, and its first decision stands for both sides:\n");
  PrintTerms(view->body);
  if (!Confirm(c, abort ? "Ask for the abort?" : "Ask for the resolve?")) {
    std::fprintf(stderr, "semperctl: nothing sent\n");
    return 1;
  }
  asw::Party self = WalletParty(wallet, pass);
  v1::ArbiterDecision d;
  if (abort) {
    auto o = asw::Originator::Restore(self, st);
    if (!o.ok()) Die(o.status());
    if (!st.me2().body().empty()) Usage("--state", "the responder has committed: resolve instead of abort");
    auto req = o->Abort();
    if (!req.ok()) Die(req.status());
    Call(ArbiterStub(c)->Abort(Ctx().get(), *req, &d));
  } else {
    absl::StatusOr<v1::ResolveRequest> req;
    if (st.role() == "originator") {
      auto o = asw::Originator::Restore(self, st);
      if (!o.ok()) Die(o.status());
      req = o->Resolve();
    } else {
      auto r = asw::Responder::Restore(self, st);
      if (!r.ok()) Die(r.status());
      req = r->Resolve();
    }
    if (!req.ok()) Die(req.status());
    Call(ArbiterStub(c)->Resolve(Ctx().get(), *req, &d));
  }
  CheckDecision(c, Trust(c), *view, d);
  PrintDecision(d, out);
  return 0;
}

// Shows a completed exchange's standard contract to the arbiter: after an abort of a delivery
// against payment, within the objection period, the payment order becomes a release.
int ShowContract(const Connection& c, const std::string& in, const std::string& out) {
  v1::StandardContract contract;
  if (!contract.ParseFromString(ReadFileOrDie(in)) || contract.me4().body().empty()) {
    Usage("--in", "is not a completed standard contract (me1..me4, from exchange continue)");
  }
  auto v = asw::VerifyStandardContract(contract);
  if (!v.ok()) Die(Annotate(v.status(), "the contract"), 3);
  std::printf("You are about to show this completed exchange to semper-arbiter (it learns its terms):\n");
  PrintTerms(v->body);
  if (!Confirm(c, "Show the contract?")) {
    std::fprintf(stderr, "semperctl: nothing sent\n");
    return 1;
  }
  v1::ShowStandardContractRequest req;
  *req.mutable_contract() = contract;
  v1::ArbiterDecision d;
  Call(ArbiterStub(c)->ShowStandardContract(Ctx().get(), req, &d));
  CheckDecision(c, Trust(c), *v, d);
  if (!d.completed()) {
    Die(MakeError(absl::StatusCode::kDataLoss, v1::SIGNATURE_INVALID,
                  "the arbiter's answer does not record the standard contract"),
        3);
  }
  PrintDecision(d, out);
  return 0;
}

int VerifyExchange(const Connection& c, const std::string& in) {
  TrustStore trust = Trust(c);
  std::string bytes = ReadFileOrDie(in);
  v1::StandardContract contract;
  if (contract.ParseFromString(bytes) && !contract.me4().body().empty()) {
    // Exit 3 when it does not bind: a signature, a nonce, or a party not certified in this suite.
    auto v = asw::VerifyStandardContract(contract);
    if (!v.ok()) Die(Annotate(v.status(), "the contract"), 3);
    if (absl::Status path = CheckSigner(c, trust, v->originator); !path.ok()) {
      Die(Annotate(path, "the originator's certificate"), 3);
    }
    if (absl::Status path = CheckSigner(c, trust, v->responder); !path.ok()) {
      Die(Annotate(path, "the responder's certificate"), 3);
    }
    std::printf("A valid standard contract: every signature and nonce binds.\n");
    PrintTerms(v->body);
    return 0;
  }
  v1::SignedBody token;
  if (!token.ParseFromString(bytes)) Usage("--in", "is neither a contract nor an arbiter token");
  v1::ArbiterCertificate arbiter = ArbiterCertificates(c, trust);
  auto t = asw::VerifyToken(token, *Certificate::FromDer(arbiter.certificate()));
  if (!t.ok()) Die(Annotate(t.status(), "the arbiter's token"), 3);
  auto me1 = asw::VerifyMe1(t->body.me1());
  if (!me1.ok()) Die(Annotate(me1.status(), "the arbiter's token"), 3);
  std::printf("A valid arbiter token: %s\n",
              t->resolved ? "replacement contract (the exchange stands)" : "abort token");
  PrintTerms(me1->body);
  return 0;
}

// ---- disputes ----

v1::ClaimKind ParseClaimKind(const std::string& s) {
  static const std::pair<const char*, v1::ClaimKind> kinds[] = {
      {"non-delivery", v1::CLAIM_KIND_NON_DELIVERY},
      {"non-payment", v1::CLAIM_KIND_NON_PAYMENT},
      {"not-as-ordered", v1::CLAIM_KIND_NOT_AS_ORDERED},
      {"repudiated-order", v1::CLAIM_KIND_REPUDIATED_ORDER},
      {"repudiated-signature", v1::CLAIM_KIND_REPUDIATED_SIGNATURE},
      {"other", v1::CLAIM_KIND_OTHER},
  };
  for (const auto& [name, kind] : kinds) {
    if (s == name) return kind;
  }
  Usage("--kind", "must be non-delivery, non-payment, not-as-ordered, repudiated-order, repudiated-signature or other");
}

// KIND:FILE[,FILE...][#label]
v1::EvidenceItem ParseEvidence(const Connection& c_for_stamps, const std::string& spec) {
  std::string body = spec, label;
  if (auto hash = spec.find('#'); hash != std::string::npos) {
    body = spec.substr(0, hash);
    label = spec.substr(hash + 1);
  }
  auto colon = body.find(':');
  if (colon == std::string::npos) Usage("--evidence", "must be KIND:FILE[,FILE...][#label]");
  std::string kind = body.substr(0, colon);
  std::vector<std::string> files = absl::StrSplit(body.substr(colon + 1), ',');
  v1::EvidenceItem item;
  item.set_label(label.empty() ? StrCat(kind, " ", files[0]) : label);
  if (kind == "signed" && (files.size() == 2 || files.size() == 3)) {
    auto* d = item.mutable_signed_document();
    d->set_document(ReadFileOrDie(files[0]));
    d->set_signature(ReadFileOrDie(files[1]));
    if (files.size() == 3) d->set_signature_time_stamp(ReadFileOrDie(files[2]));
  } else if (kind == "timestamp" && files.size() == 2) {
    item.mutable_time_stamp()->set_document(ReadFileOrDie(files[0]));
    item.mutable_time_stamp()->set_token(ReadFileOrDie(files[1]));
  } else if (kind == "notary" && files.size() == 1) {
    *item.mutable_notary_evidence() = FromJsonFile<v1::Evidence>(files[0]);
  } else if (kind == "certificate" && files.size() == 1) {
    auto cert = Certificate::FromPem(ReadFileOrDie(files[0]));
    if (!cert.ok()) Die(Annotate(cert.status(), files[0]), 2);
    item.set_certificate(cert->Der());
  } else if (kind == "contract" && files.size() == 1) {
    *item.mutable_exchange_contract() = ReadMessage<v1::StandardContract>(files[0]);
  } else if (kind == "token" && files.size() == 1) {
    *item.mutable_arbiter_token() = ReadMessage<v1::SignedBody>(files[0]);
  } else if (kind == "container" && !files.empty()) {
    // A signed container (an order, a confirmed order, a receipt), with a time-stamp per signature.
    auto sealed = ReadMessage<v1::SealedContainer>(files[0]);
    if (!sealed.has_signed_()) Usage("--evidence", StrCat(files[0], " is not a signed (unencrypted) container"));
    *item.mutable_container()->mutable_container() = sealed.signed_();
    for (size_t i = 1; i < files.size(); ++i)
      item.mutable_container()->add_signature_time_stamps(ReadFileOrDie(files[i]));
    if (files.size() == 1) {  // the stamps semperctl kept beside it
      for (const auto& t : ReadStamps(c_for_stamps, files[0], sealed.signed_())) {
        item.mutable_container()->add_signature_time_stamps(t);
      }
    }
  } else {
    Usage("--evidence",
          "kinds: signed:DOC,SIG[,TIMESTAMP]  timestamp:DOC,TOKEN  notary:EVIDENCE.json  certificate:PEM  "
          "contract:FILE  token:FILE  container:FILE[,TIMESTAMP...]");
  }
  return item;
}

void PrintEvidence(const google::protobuf::RepeatedPtrField<v1::EvidenceItem>& items) {
  for (int i = 0; i < items.size(); ++i) std::printf("    %d. %s\n", i + 1, items[i].label().c_str());
}

std::string StateText(v1::CaseState s) {
  switch (s) {
    case v1::CASE_STATE_FILED:
      return "filed, waiting for the answer";
    case v1::CASE_STATE_AWAITING_ARBITRATOR:
      return "waiting for a human arbitrator";
    case v1::CASE_STATE_DECIDED:
      return "decided (verdict going to the notary)";
    case v1::CASE_STATE_CLOSED:
      return "closed (verdict in the notary's log)";
    default:
      return "unknown";
  }
}

void PrintCase(const v1::Case& c) {
  std::printf("Case %s: %s\n", c.case_id().c_str(), StateText(c.state()).c_str());
  std::printf("  claim:       %s\n", v1::ClaimKind_Name(c.kind()).c_str());
  std::printf("  claimant:    %s\n  respondent:  %s\n", VisibleLine(c.claimant()).c_str(),
              VisibleLine(c.respondent()).c_str());
  std::printf("  answer by:   %s\n", TimeText(c.answer_deadline()).c_str());
  if (!c.findings().empty()) std::printf("  findings:\n");
  for (const auto& f : c.findings()) {
    std::printf("    [%s] %s item %u (%s, %s)%s%s\n", f.holds() ? "holds" : "FAILS",
                VisibleLine(f.submitted_by()).c_str(), f.item() + 1, VisibleLine(f.label()).c_str(),
                VisibleLine(f.kind()).c_str(), f.holds() ? "" : ": ", VisibleLine(f.problem()).c_str());
  }
  if (!c.verdict().empty()) {
    v1::VerdictStatement v;
    (void)google::protobuf::util::JsonStringToMessage(c.verdict(), &v);
    std::printf("  verdict:     %s, by %s\n", v1::VerdictOutcome_Name(v.outcome()).c_str(),
                VisibleLine(v.decided_by()).c_str());
    std::printf("  reasoning:   %s\n", VisibleLine(v.reasoning()).c_str());
    for (const auto& r : v.remedies()) std::printf("  remedy:      %s\n", VisibleLine(r).c_str());
  }
  if (!c.reveal_order().empty()) std::printf("  a reveal order was issued for the pseudonymous respondent\n");
  std::printf("  history:\n");
  for (const auto& e : c.history()) {
    std::printf("    %s  %-19s %s%s%s\n", TimeText(e.at()).c_str(), VisibleLine(e.event()).c_str(),
                VisibleLine(e.by()).c_str(), e.note().empty() ? "" : " - ", VisibleLine(e.note()).c_str());
  }
}

int FileClaim(const Connection& c, const std::string& wallet, const std::string& pass, const std::string& against,
              const std::string& kind, const std::string& text, const std::string& reference, const std::string& amount,
              const std::string& currency, const std::string& order_file, const std::string& subject_file,
              const std::vector<std::string>& evidence) {
  auto respondent = Certificate::FromPem(ReadFileOrDie(against));
  if (!respondent.ok()) Die(Annotate(respondent.status(), "--against"), 2);
  v1::ClaimStatement claim;
  claim.set_type("semper-claim");
  claim.set_kind(ParseClaimKind(kind));
  claim.set_text(text);
  claim.set_respondent_certificate(respondent->Der());
  claim.set_subject_reference(reference);
  if (!amount.empty()) {
    claim.mutable_amount_claimed()->set_minor_units(ParseMinorUnits(amount));
    claim.mutable_amount_claimed()->set_currency(currency);
  }
  // What is in dispute, by its SHA-256: the order's content (the order goes in as the first item
  // of evidence), or another document.
  if (!order_file.empty() && !subject_file.empty()) Usage("--order", "give --order or --subject, not both");
  if (!order_file.empty()) {
    auto sealed = ReadMessage<v1::SealedContainer>(order_file);
    if (!sealed.has_signed_() || sealed.signed_().content().empty()) {
      Usage("--order", StrCat(order_file, " is not a signed (unencrypted) container"));
    }
    v1::EvidenceItem* order = claim.add_evidence();
    order->set_label("the order in dispute");
    *order->mutable_container()->mutable_container() = sealed.signed_();
    for (const auto& t : ReadStamps(c, order_file, sealed.signed_())) {
      order->mutable_container()->add_signature_time_stamps(t);
    }
    claim.set_subject_sha256(Sha256(sealed.signed_().content()));
  } else if (!subject_file.empty()) {
    const std::string bytes = ReadFileOrDie(subject_file);
    // A signed container is named by its content, never by the file's bytes (which nobody signs).
    v1::SealedContainer sealed;
    if (sealed.ParseFromString(bytes) && sealed.has_signed_() && !sealed.signed_().content().empty() &&
        !sealed.signed_().signatures().empty()) {
      Usage("--subject", StrCat(subject_file, " is a signed container: name it with --order (its content's SHA-256)"));
    }
    claim.set_subject_sha256(Sha256(bytes));
  } else if (claim.kind() != v1::CLAIM_KIND_OTHER) {
    Usage("--order", "name what is in dispute: --order ORDER (the signed order) or --subject FILE (another document)");
  }
  for (const auto& spec : evidence) *claim.add_evidence() = ParseEvidence(c, spec);
  *claim.mutable_made_at() = ToTimestamp(absl::Now());
  std::vector<Certificate> chain = WalletChain(wallet);
  std::printf("You are about to sign and file this claim at %s:\n", c.arbiter.c_str());
  std::printf("  claim:      %s\n  against:    %s\n  claimant:   %s\n", v1::ClaimKind_Name(claim.kind()).c_str(),
              respondent->Subject().c_str(), chain.front().Subject().c_str());
  if (!reference.empty()) std::printf("  reference:  %s\n", VisibleLine(reference).c_str());
  if (!claim.subject_sha256().empty()) {
    std::printf("  subject:    SHA-256 %s (%s)\n", HexEncode(claim.subject_sha256()).c_str(),
                !order_file.empty() ? "the content of the order in dispute" : "the document in dispute");
  }
  if (claim.has_amount_claimed()) std::printf("  amount:     %s\n", Money(claim.amount_claimed()).c_str());
  if (!text.empty()) std::printf("  text:       %s\n", VisibleLine(text).c_str());
  std::printf("  evidence:\n");
  PrintEvidence(claim.evidence());
  if (!Confirm(c, "Sign and file?")) {
    std::fprintf(stderr, "semperctl: nothing filed\n");
    return 1;
  }
  v1::FileClaimRequest req;
  req.set_claim(claim.SerializeAsString());
  req.set_signature(WalletSign(req.claim(), WalletKey(wallet, pass), chain));
  v1::Case filed;
  Call(ArbiterStub(c)->FileClaim(Ctx().get(), req, &filed));
  PrintCase(filed);
  return 0;
}

int AnswerClaim(const Connection& c, const std::string& wallet, const std::string& pass, const std::string& case_id,
                const std::string& text, const std::vector<std::string>& evidence) {
  v1::Case shown;
  v1::GetCaseRequest get;
  get.set_case_id(case_id);
  Call(ArbiterStub(c)->GetCase(Ctx().get(), get, &shown));
  PrintCase(shown);
  v1::AnswerStatement answer;
  answer.set_type("semper-answer");
  answer.set_case_id(case_id);
  answer.set_text(text);
  for (const auto& spec : evidence) *answer.add_evidence() = ParseEvidence(c, spec);
  *answer.mutable_made_at() = ToTimestamp(absl::Now());
  std::vector<Certificate> chain = WalletChain(wallet);
  std::printf("You are about to sign and send this answer as %s:\n", chain.front().Subject().c_str());
  if (!text.empty()) std::printf("  text:     %s\n", VisibleLine(text).c_str());
  std::printf("  evidence:\n");
  PrintEvidence(answer.evidence());
  if (!Confirm(c, "Sign and send?")) {
    std::fprintf(stderr, "semperctl: nothing sent\n");
    return 1;
  }
  v1::AnswerClaimRequest req;
  req.set_answer(answer.SerializeAsString());
  req.set_signature(WalletSign(req.answer(), WalletKey(wallet, pass), chain));
  v1::Case answered;
  Call(ArbiterStub(c)->AnswerClaim(Ctx().get(), req, &answered));
  PrintCase(answered);
  return 0;
}

int ShowCase(const Connection& c, const std::string& case_id, const std::string& out) {
  v1::GetCaseRequest get;
  get.set_case_id(case_id);
  v1::Case shown;
  Call(ArbiterStub(c)->GetCase(Ctx().get(), get, &shown));
  if (shown.case_id() != case_id) {
    Die(MakeError(absl::StatusCode::kDataLoss, v1::SIGNATURE_INVALID, "the arbiter's answer: another case"), 3);
  }
  // A verdict (and a reveal order) is shown and kept only as semper-arbiter signed it, for this case.
  TrustStore trust = Trust(c);
  auto arbiter_signed = [&](const std::string& statement, const std::string& signature, const char* what) {
    auto signers = CmsVerifyDetached(signature, statement, trust, absl::Now(), KeyPurpose::kNonRepudiation);
    google::protobuf::Struct parsed;
    if (!signers.ok() || signers->size() != 1 || !CheckSuiteSigner(signers->front().certificate, "arbiter").ok() ||
        !google::protobuf::util::JsonStringToMessage(statement, &parsed).ok() || !parsed.fields().contains("case_id") ||
        parsed.fields().at("case_id").string_value() != case_id) {
      Die(MakeError(absl::StatusCode::kDataLoss, v1::SIGNATURE_INVALID,
                    StrCat("the arbiter's answer: ", what, " semper-arbiter did not sign for this case")),
          3);
    }
  };
  if (!shown.verdict().empty()) arbiter_signed(shown.verdict(), shown.verdict_signature(), "a verdict");
  if (!shown.reveal_order().empty())
    arbiter_signed(shown.reveal_order(), shown.reveal_order_signature(), "a reveal order");
  PrintCase(shown);
  if (!out.empty() && !shown.verdict().empty()) {
    WriteOrDie(out + ".json", shown.verdict());
    WriteOrDie(out + ".sig", shown.verdict_signature());
    std::printf("Verdict saved in %s.json and %s.sig.\n", out.c_str(), out.c_str());
    PrintOpensslCheck(out + ".sig", out + ".json", "arbiter");
    if (!shown.reveal_order().empty()) {
      WriteOrDie(out + ".reveal-order.json", shown.reveal_order());
      WriteOrDie(out + ".reveal-order.sig", shown.reveal_order_signature());
    }
  }
  return 0;
}

int ListCases(const Connection& c, const std::string& wallet, const std::string& pass) {
  v1::ListCasesStatement st;
  st.set_type("semper-list-cases");
  *st.mutable_made_at() = ToTimestamp(absl::Now());
  std::vector<Certificate> chain = WalletChain(wallet);
  WalletKeys keys = WalletBothKeys(wallet, pass);
  v1::ListCasesRequest req;
  req.set_request(st.SerializeAsString());
  req.set_signature(WalletSign(req.request(), keys.signature, chain));
  v1::ListCasesResponse resp;
  // As the wallet over TLS too: the arbiter lists a party's cases to that party's connection only.
  Call(v1::Arbiter::NewStub(ChannelAsWallet(c, c.arbiter, wallet, keys))->ListCases(Ctx().get(), req, &resp));
  if (resp.cases().empty()) std::printf("No cases name %s.\n", chain.front().Subject().c_str());
  for (const auto& k : resp.cases()) {
    std::printf("%s  %-32s %-40s %s vs %s\n", k.case_id().c_str(), v1::ClaimKind_Name(k.kind()).c_str(),
                StateText(k.state()).c_str(), k.claimant().c_str(), k.respondent().c_str());
  }
  return 0;
}

int Decide(const Connection& c, const std::string& case_id, const std::string& outcome, const std::string& reason,
           const std::vector<std::string>& remedies) {
  v1::DecideCaseRequest req;
  req.set_case_id(case_id);
  if (outcome == "upheld") {
    req.set_outcome(v1::VERDICT_OUTCOME_CLAIM_UPHELD);
  } else if (outcome == "rejected") {
    req.set_outcome(v1::VERDICT_OUTCOME_CLAIM_REJECTED);
  } else if (outcome == "partially-upheld") {
    req.set_outcome(v1::VERDICT_OUTCOME_PARTIALLY_UPHELD);
  } else {
    Usage("--outcome", "must be upheld, rejected or partially-upheld");
  }
  if (reason.empty()) Usage("--reason", "is required: the written reason for the decision");
  req.set_reasoning(reason);
  for (const auto& r : remedies) req.add_remedies(r);
  v1::GetCaseRequest get;
  get.set_case_id(case_id);
  v1::Case shown;
  Call(ArbiterStub(c)->GetCase(Ctx().get(), get, &shown));
  PrintCase(shown);
  std::printf("You are about to decide: %s\n  reason: %s\n", outcome.c_str(), reason.c_str());
  for (const auto& r : remedies) std::printf("  remedy: %s\n", r.c_str());
  std::printf("The arbiter signs this verdict and puts it into the notary's log: it cannot be undone.\n");
  if (!Confirm(c, "Decide?")) {
    std::fprintf(stderr, "semperctl: nothing decided\n");
    return 1;
  }
  v1::Case decided;
  Call(ArbiterStub(c)->DecideCase(Ctx().get(), req, &decided));
  PrintCase(decided);
  return 0;
}

}  // namespace

ArbiterCommands::ArbiterCommands(CLI::App& app, Connection& c) : c_(c) {
  app.add_option("--arbiter", c.arbiter,
                 "semper-arbiter address host:port; replicas as IP:port,IP:port or one DNS name (dns:///name:port), "
                 "balanced round robin")
      ->envname("SEMPERCTL_ARBITER")
      ->capture_default_str();
  auto wallet = [this](CLI::App* cmd) {
    cmd->add_option("--wallet", wallet_, "your wallet (semperctl enroll): signs with its signature key")->required();
    cmd->add_option("--wallet-passphrase-file", wallet_pass_, "file with the wallet's passphrase (asked otherwise)");
  };
  auto* ex = app.add_subcommand("exchange", "optimistic fair exchange with another party (the arbiter only if needed)");
  offer_ = ex->add_subcommand("offer", "start an exchange: sign the first message (me1)");
  wallet(offer_);
  offer_->add_option("--to", to_, "the other party's signature certificate (PEM)")->required();
  offer_->add_option("--contract", contract_, "file with the text both sides sign")->required();
  offer_
      ->add_option("--kind", kind_,
                   "contract, mail (a document against a receipt) or payment (delivery against payment)")
      ->capture_default_str();
  offer_->add_option("--document", document_, "mail: the document you send");
  offer_->add_option("--payment-provider", provider_, "payment: the provider holding the payment");
  offer_->add_option("--payment-reference", reference_, "payment: the payment's reference at the provider");
  offer_->add_option("--payment-instrument", instrument_, "payment: card, sepa-credit-transfer, ...")
      ->capture_default_str();
  offer_->add_option("--amount", amount_, "payment: the amount, e.g. 12.00");
  offer_->add_option("--currency", currency_, "payment: ISO 4217 currency")->capture_default_str();
  offer_->add_option("--state", state_, "file to keep your side of the exchange in (private)")->required();
  offer_->add_option("--out", out_, "where to write me1")->required();
  accept_ = ex->add_subcommand("accept", "answer an offer: check me1, show it, and commit (me2)");
  wallet(accept_);
  accept_->add_option("--in", in_, "the me1 you received")->required();
  accept_->add_option("--state", state_, "file to keep your side of the exchange in (private)")->required();
  accept_->add_option("--out", out_, "where to write me2")->required();
  step_ = ex->add_subcommand("continue", "the next message: me2 -> me3 (originator), me3 -> me4, me4 -> contract");
  wallet(step_);
  step_->add_option("--state", state_, "your state file")->required();
  step_->add_option("--in", in_, "the message you received")->required();
  step_->add_option("--document", document_, "responder of certified mail: the document that came with me3");
  step_->add_option("--out", out_, "where to write your message or the completed contract")->required();
  abort_ = ex->add_subcommand("abort", "originator: no answer to me1 came; ask the arbiter to abort");
  wallet(abort_);
  abort_->add_option("--state", state_, "your state file")->required();
  abort_->add_option("--out", out_, "directory for the arbiter's token and affidavit")->required();
  resolve_ = ex->add_subcommand("resolve", "the last message did not come; ask the arbiter to resolve");
  wallet(resolve_);
  resolve_->add_option("--state", state_, "your state file")->required();
  resolve_->add_option("--out", out_, "directory for the arbiter's token, affidavit and document")->required();
  show_contract_ = ex->add_subcommand(
      "show-contract", "show the arbiter the completed contract, e.g. after the other side aborted a payment exchange");
  show_contract_->add_option("--in", in_, "the completed contract (from exchange continue)")->required();
  show_contract_->add_option("--out", out_, "directory for the arbiter's token and affidavit")->required();
  verify_ = ex->add_subcommand("verify",
                               "check a completed contract (signatures, nonces, both parties certified and good at "
                               "semper-ca now) or an arbiter's token: exit 0 valid, 3 not");
  verify_->add_option("--in", in_, "the contract or token file")->required();

  auto* d = app.add_subcommand("dispute", "claims against another party, decided by semper-arbiter from the evidence");
  file_ = d->add_subcommand("file", "sign and file a claim with evidence");
  wallet(file_);
  file_->add_option("--against", to_, "the respondent's signature certificate (PEM)")->required();
  file_
      ->add_option("--kind", claim_kind_,
                   "non-delivery, non-payment, not-as-ordered, repudiated-order, repudiated-signature, other")
      ->required();
  file_->add_option("--text", text_, "your account of the claim (required for other)");
  file_->add_option("--reference", reference_, "the order, exchange or contract in dispute, for people");
  file_
      ->add_option("--order", order_file_,
                   "the signed order in dispute (semperctl order sign/confirm); it goes in as "
                   "evidence, and the claim names it by its content's SHA-256")
      ->check(CLI::ExistingFile);
  file_->add_option("--subject", subject_file_, "instead of --order: the document in dispute (its SHA-256 is named)")
      ->check(CLI::ExistingFile);
  file_->add_option("--amount", amount_, "the amount claimed, e.g. 129.90");
  file_->add_option("--currency", currency_, "ISO 4217 currency")->capture_default_str();
  file_->add_option("--evidence", evidence_,
                    "KIND:FILE[,FILE...][#label], repeatable. signed:DOC,SIG[,TIMESTAMP] timestamp:DOC,TOKEN "
                    "notary:EVIDENCE.json certificate:PEM contract:FILE token:FILE container:FILE[,TIMESTAMP...] "
                    "(a container's time-stamps default to those semperctl kept in FILE.stamps)");
  answer_ = d->add_subcommand("answer", "respondent: sign and send your answer with evidence before the deadline");
  wallet(answer_);
  answer_->add_option("case", case_id_, "the case id")->required();
  answer_->add_option("--text", text_, "your account");
  answer_->add_option("--evidence", evidence_, "as for dispute file");
  show_ = d->add_subcommand("show", "a case: state, findings on each item of evidence, verdict, history");
  show_->add_option("case", case_id_, "the case id")->required();
  show_->add_option("--verdict-out", out_, "save the signed verdict as PREFIX.json and PREFIX.sig");
  list_ = d->add_subcommand("list", "the cases that name you (signed with your wallet)");
  wallet(list_);
  decide_ = d->add_subcommand("decide", "arbitrators (--cert/--key with the arbitrator role): decide a case");
  decide_->add_option("case", case_id_, "the case id")->required();
  decide_->add_option("--outcome", outcome_, "upheld, rejected or partially-upheld")->required();
  decide_->add_option("--reason", reason_, "the written reason")->required();
  decide_->add_option("--remedy", remedies_, "what the parties must do (repeatable; default from the claim)");
}

std::optional<int> ArbiterCommands::Run() {
  if (offer_->parsed()) {
    v1::Payment payment;
    if (kind_ == "payment") {
      if (provider_.empty() || reference_.empty() || amount_.empty()) {
        Usage("--payment-provider", "payment exchanges need --payment-provider, --payment-reference and --amount");
      }
      payment.set_provider(provider_);
      payment.set_reference(reference_);
      payment.set_instrument(instrument_);
      payment.mutable_amount()->set_minor_units(ParseMinorUnits(amount_));
      payment.mutable_amount()->set_currency(currency_);
    }
    return Offer(c_, wallet_, wallet_pass_, to_, contract_, kind_, document_, payment, state_, out_);
  }
  if (accept_->parsed()) return Accept(c_, wallet_, wallet_pass_, in_, state_, out_);
  if (step_->parsed()) return Step(c_, wallet_, wallet_pass_, state_, in_, document_, out_);
  if (abort_->parsed()) return AbortOrResolve(c_, true, wallet_, wallet_pass_, state_, out_);
  if (resolve_->parsed()) return AbortOrResolve(c_, false, wallet_, wallet_pass_, state_, out_);
  if (show_contract_->parsed()) return ShowContract(c_, in_, out_);
  if (verify_->parsed()) return VerifyExchange(c_, in_);
  if (file_->parsed()) {
    return FileClaim(c_, wallet_, wallet_pass_, to_, claim_kind_, text_, reference_, amount_, currency_, order_file_,
                     subject_file_, evidence_);
  }
  if (answer_->parsed()) return AnswerClaim(c_, wallet_, wallet_pass_, case_id_, text_, evidence_);
  if (show_->parsed()) return ShowCase(c_, case_id_, out_);
  if (list_->parsed()) return ListCases(c_, wallet_, wallet_pass_);
  if (decide_->parsed()) return Decide(c_, case_id_, outcome_, reason_, remedies_);
  return std::nullopt;
}

}  // namespace semper::ctl
