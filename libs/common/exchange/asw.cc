// ASW optimistic contract signing: message construction and checks.
#include "common/exchange/asw.h"

#include <google/protobuf/util/time_util.h>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/crypto/cms.h"
#include "common/crypto/digest.h"
#include "common/crypto/random.h"
#include "common/crypto/signature.h"

namespace semper::asw {
namespace {

// Parties reuse their certificates across many exchanges, and parsing one costs ~100 µs in
// OpenSSL 3.0's key decoder: parsed certificates are kept by their exact DER (bounded).
absl::StatusOr<Certificate> ParseCertificate(const std::string& der) {
  static absl::Mutex mu;
  static auto* cache = new absl::flat_hash_map<std::string, Certificate>();
  {
    absl::MutexLock lock(&mu);
    if (auto it = cache->find(der); it != cache->end()) return it->second;
  }
  SEMPER_ASSIGN_OR_RETURN(Certificate cert, Certificate::FromDer(der));
  absl::MutexLock lock(&mu);
  if (cache->size() >= 10000) cache->clear();
  cache->emplace(der, cert);
  return cert;
}

absl::Status Bad(std::string_view what) {
  return MakeError(absl::StatusCode::kInvalidArgument, v1::SIGNATURE_INVALID, what);
}

absl::StatusOr<v1::SignedBody> SignBody(const google::protobuf::Message& body, const PrivateKey& key) {
  v1::SignedBody out;
  if (!body.SerializeToString(out.mutable_body())) return absl::InternalError("serializing");
  SEMPER_ASSIGN_OR_RETURN(auto signer, PublicKeySign::New(key, DefaultSignatureAlgorithm(key.type())));
  SEMPER_ASSIGN_OR_RETURN(*out.mutable_signature(), signer->Sign(out.body()));
  return out;
}

template <typename T>
absl::StatusOr<T> OpenBody(const v1::SignedBody& signed_body, const Certificate& signer, std::string_view type) {
  SEMPER_ASSIGN_OR_RETURN(PublicKey key, signer.public_key());
  SEMPER_ASSIGN_OR_RETURN(auto verifier, PublicKeyVerify::New(key, DefaultSignatureAlgorithm(key.type())));
  if (!verifier->Verify(signed_body.signature(), signed_body.body()).ok()) {
    return Bad(StrCat(type, " is not signed by ", signer.Subject()));
  }
  T body;
  if (!body.ParseFromString(signed_body.body()) || body.type() != type) return Bad(StrCat("not an ", type, " message"));
  return body;
}

}  // namespace

std::string Hash(std::string_view bytes) { return Sha256(bytes); }

namespace {

// The items of the exchange's kind are present and well formed.
absl::Status CheckTerms(const v1::Me1Body& body) {
  switch (body.kind()) {
    case v1::EXCHANGE_KIND_CONTRACT:
      return absl::OkStatus();
    case v1::EXCHANGE_KIND_DOCUMENT_FOR_RECEIPT:
      if (body.document_sha256().size() != 32) return InvalidField("me1.document_sha256", "must be 32 bytes");
      if (body.document_escrow().empty()) return InvalidField("me1.document_escrow", "is required");
      return absl::OkStatus();
    case v1::EXCHANGE_KIND_DELIVERY_FOR_PAYMENT: {
      const v1::Payment& p = body.payment();
      // Printable ASCII, no space at either end, at most 128 characters: one payment has one
      // spelling, so that the arbiter's binding of a payment to one exchange cannot be dodged with
      // a look-alike or padded variant.
      auto plain = [](std::string_view field, std::string_view v) -> absl::Status {
        if (v.empty()) return InvalidField(field, "is required");
        if (v.size() > 128) return InvalidField(field, "must be at most 128 characters");
        for (char ch : v) {
          if (ch < 0x20 || ch > 0x7e) return InvalidField(field, "must be printable ASCII");
        }
        if (v.front() == ' ' || v.back() == ' ') return InvalidField(field, "must not begin or end with a space");
        return absl::OkStatus();
      };
      SEMPER_RETURN_IF_ERROR(plain("me1.payment.provider", p.provider()));
      SEMPER_RETURN_IF_ERROR(plain("me1.payment.reference", p.reference()));
      if (p.amount().minor_units() <= 0 || p.amount().currency().size() != 3) {
        return InvalidField("me1.payment.amount", "must be a positive amount with an ISO 4217 currency");
      }
      return absl::OkStatus();
    }
    default:
      return InvalidField("me1.kind", "is not a known kind of exchange");
  }
}

}  // namespace

absl::StatusOr<Me1View> VerifyMe1(const v1::SignedBody& me1) {
  v1::Me1Body body;
  if (!body.ParseFromString(me1.body()) || body.type() != "asw-me1") return Bad("not an asw-me1 message");
  SEMPER_RETURN_IF_ERROR(CheckTerms(body));
  auto o = ParseCertificate(body.originator_certificate());
  auto r = ParseCertificate(body.responder_certificate());
  auto t = ParseCertificate(body.arbiter_certificate());
  if (!o.ok() || !r.ok() || !t.ok()) return Bad("me1 names a certificate that does not parse");
  if (body.originator_nonce_hash().size() != 32) return Bad("me1 lacks H(N_O)");
  SEMPER_RETURN_IF_ERROR(OpenBody<v1::Me1Body>(me1, *o, "asw-me1").status());
  return Me1View{body, *o, *r, *t, Hash(me1.body())};
}

Originator::Originator(Party self, Certificate responder, Certificate arbiter, std::string contract)
    : Originator(std::move(self), std::move(responder), std::move(arbiter),
                 ExchangeTerms{.contract = std::move(contract)}) {}

Originator::Originator(Party self, Certificate responder, Certificate arbiter, ExchangeTerms terms)
    : self_(std::move(self)),
      responder_(std::move(responder)),
      arbiter_(std::move(arbiter)),
      terms_(std::move(terms)) {}

absl::StatusOr<v1::SignedBody> Originator::Me1() {
  nonce_ = RandomBytes(32);
  v1::Me1Body body;
  body.set_type("asw-me1");
  body.set_originator_certificate(self_.certificate.Der());
  body.set_responder_certificate(responder_.Der());
  body.set_arbiter_certificate(arbiter_.Der());
  body.set_contract(terms_.contract);
  body.set_originator_nonce_hash(Hash(nonce_));
  body.set_kind(terms_.kind);
  if (terms_.kind == v1::EXCHANGE_KIND_DOCUMENT_FOR_RECEIPT) {
    if (!terms_.escrow.has_value()) return InvalidField("escrow", "the arbiter's escrow certificate is required");
    body.set_document_sha256(Hash(terms_.document));
    SEMPER_ASSIGN_OR_RETURN(*body.mutable_document_escrow(), CmsEncrypt(terms_.document, {*terms_.escrow}));
  } else if (terms_.kind == v1::EXCHANGE_KIND_DELIVERY_FOR_PAYMENT) {
    *body.mutable_payment() = terms_.payment;
  }
  SEMPER_RETURN_IF_ERROR(CheckTerms(body));
  SEMPER_ASSIGN_OR_RETURN(me1_, SignBody(body, self_.key));
  return me1_;
}

absl::StatusOr<v1::SignedBody> Originator::Me3(const v1::SignedBody& me2) {
  SEMPER_ASSIGN_OR_RETURN(v1::Me2Body b2, OpenBody<v1::Me2Body>(me2, responder_, "asw-me2"));
  if (b2.me1_hash() != Hash(me1_.body()) || b2.responder_nonce_hash().size() != 32) {
    return Bad("me2 is not an answer to this me1");
  }
  me2_ = me2;
  responder_nonce_hash_ = b2.responder_nonce_hash();
  v1::Me3Body body;
  body.set_type("asw-me3");
  body.set_me1_hash(b2.me1_hash());
  body.set_originator_nonce(nonce_);
  body.set_responder_nonce_hash(responder_nonce_hash_);
  SEMPER_ASSIGN_OR_RETURN(me3_, SignBody(body, self_.key));
  return me3_;
}

absl::StatusOr<v1::StandardContract> Originator::Finish(const v1::SignedBody& me4) {
  SEMPER_ASSIGN_OR_RETURN(v1::Me4Body b4, OpenBody<v1::Me4Body>(me4, responder_, "asw-me4"));
  if (b4.me1_hash() != Hash(me1_.body()) || b4.originator_nonce() != nonce_ ||
      Hash(b4.responder_nonce()) != responder_nonce_hash_) {
    return Bad("me4 does not bind this exchange's nonces");
  }
  v1::StandardContract c;
  *c.mutable_me1() = me1_;
  *c.mutable_me2() = me2_;
  *c.mutable_me3() = me3_;
  *c.mutable_me4() = me4;
  return c;
}

absl::StatusOr<v1::AbortRequest> Originator::Abort() const {
  v1::ArbiterRequestBody body;
  body.set_type("asw-abort");
  body.set_requester("originator");
  body.set_me1_hash(Hash(me1_.body()));
  v1::AbortRequest req;
  *req.mutable_me1() = me1_;
  SEMPER_ASSIGN_OR_RETURN(*req.mutable_request(), SignBody(body, self_.key));
  return req;
}

absl::StatusOr<v1::ResolveRequest> Originator::Resolve() const {
  if (me2_.body().empty())
    return MakeError(absl::StatusCode::kFailedPrecondition, v1::WRONG_STATE, "no me2 yet: abort instead");
  v1::ArbiterRequestBody body;
  body.set_type("asw-resolve");
  body.set_requester("originator");
  body.set_me1_hash(Hash(me1_.body()));
  v1::ResolveRequest req;
  *req.mutable_me1() = me1_;
  *req.mutable_me2() = me2_;
  SEMPER_ASSIGN_OR_RETURN(*req.mutable_request(), SignBody(body, self_.key));
  return req;
}

v1::ExchangeState Originator::State() const {
  v1::ExchangeState st;
  st.set_role("originator");
  *st.mutable_me1() = me1_;
  *st.mutable_me2() = me2_;
  *st.mutable_me3() = me3_;
  st.set_nonce(nonce_);
  st.set_document(terms_.document);
  return st;
}

absl::StatusOr<Originator> Originator::Restore(Party self, const v1::ExchangeState& state) {
  if (state.role() != "originator") return InvalidField("state.role", "is not the originator's state");
  SEMPER_ASSIGN_OR_RETURN(Me1View v, VerifyMe1(state.me1()));
  if (v.body.originator_certificate() != self.certificate.Der()) return Bad("the state is another originator's");
  if (Hash(state.nonce()) != v.body.originator_nonce_hash()) return Bad("the state's nonce is not the one me1 binds");
  ExchangeTerms terms;
  terms.kind = v.body.kind();
  terms.contract = v.body.contract();
  terms.document = state.document();
  terms.payment = v.body.payment();
  Originator o(std::move(self), v.responder, v.arbiter, std::move(terms));
  o.nonce_ = state.nonce();
  o.me1_ = state.me1();
  if (!state.me2().body().empty()) {
    SEMPER_ASSIGN_OR_RETURN(v1::Me2Body b2, OpenBody<v1::Me2Body>(state.me2(), v.responder, "asw-me2"));
    o.me2_ = state.me2();
    o.responder_nonce_hash_ = b2.responder_nonce_hash();
  }
  o.me3_ = state.me3();
  return o;
}

v1::ExchangeState Responder::State() const {
  v1::ExchangeState st;
  st.set_role("responder");
  *st.mutable_me1() = me1_;
  *st.mutable_me2() = me2_;
  *st.mutable_me3() = me3_;
  *st.mutable_me4() = me4_;
  st.set_nonce(nonce_);
  st.set_document_received(document_received_);
  return st;
}

absl::StatusOr<Responder> Responder::Restore(Party self, const v1::ExchangeState& state) {
  if (state.role() != "responder") return InvalidField("state.role", "is not the responder's state");
  SEMPER_ASSIGN_OR_RETURN(Me1View v, VerifyMe1(state.me1()));
  if (v.body.responder_certificate() != self.certificate.Der()) return Bad("the state is another responder's");
  Responder r(std::move(self), v.originator, state.me1(), v.body);
  r.nonce_ = state.nonce();
  r.me2_ = state.me2();
  r.me3_ = state.me3();
  r.me4_ = state.me4();
  r.document_received_ = state.document_received();
  return r;
}

absl::StatusOr<Responder> Responder::Accept(Party self, const Certificate& arbiter, const v1::SignedBody& me1) {
  SEMPER_ASSIGN_OR_RETURN(Me1View view, VerifyMe1(me1));
  if (view.body.responder_certificate() != self.certificate.Der()) return Bad("me1 names another responder");
  if (view.body.arbiter_certificate() != arbiter.Der()) return Bad("me1 names another arbiter");
  return Responder(std::move(self), view.originator, me1, view.body);
}

absl::Status Responder::ReceiveDocument(const std::string& document) {
  if (body_.kind() != v1::EXCHANGE_KIND_DOCUMENT_FOR_RECEIPT) {
    return MakeError(absl::StatusCode::kFailedPrecondition, v1::WRONG_STATE, "this exchange carries no document");
  }
  if (Hash(document) != body_.document_sha256()) return Bad("the document is not the one me1 names (SHA-256 differs)");
  document_received_ = true;
  return absl::OkStatus();
}

absl::StatusOr<v1::SignedBody> Responder::Me2() {
  nonce_ = RandomBytes(32);
  v1::Me2Body body;
  body.set_type("asw-me2");
  body.set_me1_hash(Hash(me1_.body()));
  body.set_responder_nonce_hash(Hash(nonce_));
  SEMPER_ASSIGN_OR_RETURN(me2_, SignBody(body, self_.key));
  return me2_;
}

absl::StatusOr<v1::SignedBody> Responder::Me4(const v1::SignedBody& me3) {
  if (body_.kind() == v1::EXCHANGE_KIND_DOCUMENT_FOR_RECEIPT && !document_received_) {
    return MakeError(absl::StatusCode::kFailedPrecondition, v1::WRONG_STATE,
                     "no receipt before the document: ReceiveDocument first (or resolve to get it from the arbiter)");
  }
  SEMPER_ASSIGN_OR_RETURN(v1::Me3Body b3, OpenBody<v1::Me3Body>(me3, originator_, "asw-me3"));
  if (b3.me1_hash() != Hash(me1_.body()) || Hash(b3.originator_nonce()) != originator_nonce_hash_ ||
      b3.responder_nonce_hash() != Hash(nonce_)) {
    return Bad("me3 does not bind this exchange's nonces");
  }
  me3_ = me3;
  v1::Me4Body body;
  body.set_type("asw-me4");
  body.set_me1_hash(b3.me1_hash());
  body.set_originator_nonce(b3.originator_nonce());
  body.set_responder_nonce(nonce_);
  SEMPER_ASSIGN_OR_RETURN(me4_, SignBody(body, self_.key));
  return me4_;
}

absl::StatusOr<v1::ResolveRequest> Responder::Resolve() const {
  v1::ArbiterRequestBody body;
  body.set_type("asw-resolve");
  body.set_me1_hash(Hash(me1_.body()));
  body.set_requester("responder");
  v1::ResolveRequest req;
  *req.mutable_me1() = me1_;
  *req.mutable_me2() = me2_;
  SEMPER_ASSIGN_OR_RETURN(*req.mutable_request(), SignBody(body, self_.key));
  return req;
}

v1::StandardContract Responder::Contract() const {
  v1::StandardContract c;
  *c.mutable_me1() = me1_;
  *c.mutable_me2() = me2_;
  *c.mutable_me3() = me3_;
  *c.mutable_me4() = me4_;
  return c;
}

absl::StatusOr<Me1View> VerifyStandardContract(const v1::StandardContract& c) {
  SEMPER_ASSIGN_OR_RETURN(Me1View v, VerifyMe1(c.me1()));
  SEMPER_ASSIGN_OR_RETURN(v1::Me2Body b2, OpenBody<v1::Me2Body>(c.me2(), v.responder, "asw-me2"));
  SEMPER_ASSIGN_OR_RETURN(v1::Me3Body b3, OpenBody<v1::Me3Body>(c.me3(), v.originator, "asw-me3"));
  SEMPER_ASSIGN_OR_RETURN(v1::Me4Body b4, OpenBody<v1::Me4Body>(c.me4(), v.responder, "asw-me4"));
  bool ok = b2.me1_hash() == v.hash && b3.me1_hash() == v.hash && b4.me1_hash() == v.hash &&
            Hash(b3.originator_nonce()) == v.body.originator_nonce_hash() &&
            b4.originator_nonce() == b3.originator_nonce() && b3.responder_nonce_hash() == b2.responder_nonce_hash() &&
            Hash(b4.responder_nonce()) == b2.responder_nonce_hash();
  if (!ok) return Bad("the contract's messages do not bind the same exchange and nonces");
  return v;
}

absl::StatusOr<ArbiterRequest> CheckAbort(const v1::AbortRequest& req, const Certificate& arbiter) {
  SEMPER_ASSIGN_OR_RETURN(Me1View v, VerifyMe1(req.me1()));
  if (v.body.arbiter_certificate() != arbiter.Der()) return Bad("this exchange names another arbiter");
  // Only the originator may abort.
  SEMPER_ASSIGN_OR_RETURN(v1::ArbiterRequestBody body,
                          OpenBody<v1::ArbiterRequestBody>(req.request(), v.originator, "asw-abort"));
  if (body.me1_hash() != v.hash) return Bad("the abort request is about another exchange");
  return ArbiterRequest{ArbiterRequest::Kind::kAbort, std::move(v), req.me1(), {}};
}

absl::StatusOr<ArbiterRequest> CheckResolve(const v1::ResolveRequest& req, const Certificate& arbiter) {
  SEMPER_ASSIGN_OR_RETURN(Me1View v, VerifyMe1(req.me1()));
  if (v.body.arbiter_certificate() != arbiter.Der()) return Bad("this exchange names another arbiter");
  SEMPER_ASSIGN_OR_RETURN(v1::Me2Body b2, OpenBody<v1::Me2Body>(req.me2(), v.responder, "asw-me2"));
  if (b2.me1_hash() != v.hash || b2.responder_nonce_hash().size() != 32) return Bad("me2 is not an answer to this me1");
  // Either party may resolve; the key the request names is tried first.
  v1::ArbiterRequestBody hint;
  (void)hint.ParseFromString(req.request().body());
  const Certificate& first = hint.requester() == "responder" ? v.responder : v.originator;
  const Certificate& second = hint.requester() == "responder" ? v.originator : v.responder;
  auto by_first = OpenBody<v1::ArbiterRequestBody>(req.request(), first, "asw-resolve");
  auto by_r = by_first.ok() ? by_first : OpenBody<v1::ArbiterRequestBody>(req.request(), second, "asw-resolve");
  if (!by_r.ok()) {
    return MakeError(absl::StatusCode::kPermissionDenied, v1::PERMISSION_DENIED,
                     "the resolve request is signed by neither party of the exchange");
  }
  if (by_r->me1_hash() != v.hash) return Bad("the resolve request is about another exchange");
  return ArbiterRequest{ArbiterRequest::Kind::kResolve, std::move(v), req.me1(), req.me2()};
}

absl::StatusOr<v1::SignedBody> IssueToken(bool resolved, const v1::SignedBody& me1, const v1::SignedBody& me2,
                                          const Party& arbiter, absl::Time now) {
  v1::ArbiterTokenBody body;
  body.set_type(resolved ? "asw-replacement-contract" : "asw-abort-token");
  body.set_me1_hash(Hash(me1.body()));
  *body.mutable_me1() = me1;
  if (resolved) *body.mutable_me2() = me2;
  *body.mutable_decided_at() = google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(now));
  return SignBody(body, arbiter.key);
}

std::optional<v1::AffidavitStatement> AffidavitFor(const Me1View& me1, bool resolved, absl::Time now) {
  v1::AffidavitStatement a;
  a.set_me1_hash(me1.hash);
  a.set_originator(me1.originator.Subject());
  a.set_responder(me1.responder.Subject());
  *a.mutable_decided_at() = google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(now));
  switch (me1.body.kind()) {
    case v1::EXCHANGE_KIND_DOCUMENT_FOR_RECEIPT:
      if (!resolved) return std::nullopt;
      a.set_type("semper-substitute-receipt");
      a.set_document_sha256(me1.body.document_sha256());
      a.set_statement(StrCat("The arbiter holds the document with SHA-256 ", HexEncode(me1.body.document_sha256()),
                             ", which ", me1.responder.Subject(), " committed to receive (me2), and gives it to ",
                             "the recipient on request: this affidavit stands in for the recipient's receipt."));
      return a;
    case v1::EXCHANGE_KIND_DELIVERY_FOR_PAYMENT: {
      const v1::Payment& p = me1.body.payment();
      *a.mutable_payment() = p;
      a.set_addressed_to(p.provider());
      // An abort gives no order at once: the arbiter does not know whether the parties completed
      // the exchange without it (PaymentReversal, after the objection period).
      if (!resolved) return std::nullopt;
      a.set_type("semper-payment-release-order");
      a.set_statement(StrCat("To ", p.provider(), ": the arbiter resolved the exchange; ", me1.responder.Subject(),
                             " is bound to deliver. Release payment ", p.reference(), " to it."));
      return a;
    }
    default:
      return std::nullopt;
  }
}

namespace {
v1::AffidavitStatement PaymentOrder(const Me1View& me1, absl::Time now) {
  v1::AffidavitStatement a;
  a.set_me1_hash(me1.hash);
  a.set_originator(me1.originator.Subject());
  a.set_responder(me1.responder.Subject());
  *a.mutable_decided_at() = google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(now));
  *a.mutable_payment() = me1.body.payment();
  a.set_addressed_to(me1.body.payment().provider());
  return a;
}
std::string TimeText(absl::Time t) { return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone()); }
}  // namespace

v1::AffidavitStatement PaymentReversal(const Me1View& me1, absl::Time aborted_at, absl::Time objection_until,
                                       absl::Time now) {
  v1::AffidavitStatement a = PaymentOrder(me1, now);
  const v1::Payment& p = me1.body.payment();
  a.set_type("semper-payment-reversal-order");
  a.set_statement(StrCat("To ", p.provider(), ": at ", TimeText(aborted_at), " the arbiter granted ",
                         me1.originator.Subject(), "'s request to abort the exchange and will not resolve it, and no ",
                         "standard contract of the exchange (me1 to me4, signed by both) was shown to it by ",
                         TimeText(objection_until), ". Reverse payment ", p.reference(), " to ",
                         me1.originator.Subject(), "."));
  return a;
}

v1::AffidavitStatement PaymentReleaseOnContract(const Me1View& me1, absl::Time now) {
  v1::AffidavitStatement a = PaymentOrder(me1, now);
  const v1::Payment& p = me1.body.payment();
  a.set_type("semper-payment-release-order");
  a.set_statement(StrCat("To ", p.provider(), ": a standard contract of the exchange (me1 to me4, signed by both) ",
                         "was shown to the arbiter; ", me1.responder.Subject(),
                         " is bound to deliver. Release payment ", p.reference(), " to it."));
  return a;
}

absl::StatusOr<TokenView> VerifyToken(const v1::SignedBody& token, const Certificate& arbiter) {
  SEMPER_ASSIGN_OR_RETURN(auto key, arbiter.public_key());
  SEMPER_ASSIGN_OR_RETURN(auto verifier, PublicKeyVerify::New(key, DefaultSignatureAlgorithm(key.type())));
  if (!verifier->Verify(token.signature(), token.body()).ok()) return Bad("the token is not signed by the arbiter");
  TokenView v;
  if (!v.body.ParseFromString(token.body())) return Bad("not an arbiter token");
  if (v.body.type() == "asw-replacement-contract") {
    v.resolved = true;
  } else if (v.body.type() != "asw-abort-token") {
    return Bad("not an arbiter token");
  }
  if (v.body.me1_hash() != Hash(v.body.me1().body())) return Bad("the token's me1 is not the one it names");
  return v;
}

}  // namespace semper::asw
