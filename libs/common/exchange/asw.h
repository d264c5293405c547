// The party side and the arbiter's checks of the optimistic contract-signing protocol of
// Asokan, Shoup and Waidner with the Shmatikov-Mitchell fix (messages in
// proto/semper/v1/exchange.proto). Parties run the exchange directly; only when a message does
// not come do they turn to the arbiter (AbortRequest, ResolveRequest), whose ArbiterDecide()
// turns a request and its record into the signed answer. Certificates are checked against the
// suite's trust by the callers; here they are bound by their exact DER.
#pragma once

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/crypto/certificate.h"
#include "common/crypto/keys.h"
#include "semper/v1/exchange.pb.h"

namespace semper::asw {

struct Party {
  PrivateKey key;
  Certificate certificate;
};

std::string Hash(std::string_view bytes);  // SHA-256

// What is exchanged (Me1Body.kind and its items).
struct ExchangeTerms {
  v1::ExchangeKind kind = v1::EXCHANGE_KIND_CONTRACT;
  // The text both sides sign; for other kinds, what the exchange is about.
  std::string contract;
  // DOCUMENT_FOR_RECEIPT: the document O sends, and the arbiter's escrow certificate
  // (ArbiterCertificate.escrow_certificate) it is encrypted to in me1.
  std::string document;
  std::optional<Certificate> escrow;
  // DELIVERY_FOR_PAYMENT: the payment O commits.
  v1::Payment payment;
};

class Originator {
 public:
  Originator(Party self, Certificate responder, Certificate arbiter, std::string contract);
  Originator(Party self, Certificate responder, Certificate arbiter, ExchangeTerms terms);
  // DOCUMENT_FOR_RECEIPT: the document to send to R together with me3.
  const std::string& document() const { return terms_.document; }
  absl::StatusOr<v1::SignedBody> Me1();
  // Checks me2 (R's signature, over this me1) and reveals N_O.
  absl::StatusOr<v1::SignedBody> Me3(const v1::SignedBody& me2);
  // Checks me4 (R's signature, both nonces) and returns the standard contract.
  absl::StatusOr<v1::StandardContract> Finish(const v1::SignedBody& me4);
  // When me2 does not come.
  absl::StatusOr<v1::AbortRequest> Abort() const;
  // When me4 does not come (after Me3).
  absl::StatusOr<v1::ResolveRequest> Resolve() const;

  // The state to keep between steps (secret: holds N_O), and an Originator from it.
  v1::ExchangeState State() const;
  static absl::StatusOr<Originator> Restore(Party self, const v1::ExchangeState& state);

 private:
  Party self_;
  Certificate responder_, arbiter_;
  ExchangeTerms terms_;
  std::string nonce_;
  v1::SignedBody me1_, me2_, me3_;
  std::string responder_nonce_hash_;
};

class Responder {
 public:
  // Checks me1: O's signature, R named as responder, the expected arbiter. The caller decides
  // whether it wants to sign `contract()` with `originator()`.
  static absl::StatusOr<Responder> Accept(Party self, const Certificate& arbiter, const v1::SignedBody& me1);
  const std::string& contract() const { return contract_; }
  const Certificate& originator() const { return originator_; }
  // What is exchanged: kind, H(D), payment (as me1 says).
  const v1::Me1Body& terms() const { return body_; }
  absl::StatusOr<v1::SignedBody> Me2();
  // DOCUMENT_FOR_RECEIPT: the document that came with me3, checked against H(D) in me1. Me4 (the
  // receipt) is refused until a matching document was received.
  absl::Status ReceiveDocument(const std::string& document);
  // Checks me3 (O's signature, N_O against H(N_O) in me1, H(N_R)) and reveals N_R.
  absl::StatusOr<v1::SignedBody> Me4(const v1::SignedBody& me3);
  // When me3 does not come (after Me2).
  absl::StatusOr<v1::ResolveRequest> Resolve() const;
  // The standard contract once me4 is sent.
  v1::StandardContract Contract() const;

  // The state to keep between steps (secret: holds N_R), and a Responder from it.
  v1::ExchangeState State() const;
  static absl::StatusOr<Responder> Restore(Party self, const v1::ExchangeState& state);

 private:
  Responder(Party self, Certificate originator, v1::SignedBody me1, v1::Me1Body body)
      : self_(std::move(self)),
        originator_(std::move(originator)),
        me1_(std::move(me1)),
        contract_(body.contract()),
        originator_nonce_hash_(body.originator_nonce_hash()),
        body_(std::move(body)) {}
  Party self_;
  Certificate originator_;
  v1::SignedBody me1_, me2_, me3_, me4_;
  std::string contract_, originator_nonce_hash_, nonce_;
  v1::Me1Body body_;
  bool document_received_ = false;
};

// What an exchange binds, read from a verified me1.
struct Me1View {
  v1::Me1Body body;
  Certificate originator;
  Certificate responder;
  Certificate arbiter;
  std::string hash;  // H(me1.body): the arbiter's record key
};
absl::StatusOr<Me1View> VerifyMe1(const v1::SignedBody& me1);

// Anyone: a standard contract is valid when every signature and every nonce binds.
absl::StatusOr<Me1View> VerifyStandardContract(const v1::StandardContract& contract);

// The arbiter's side. A request checked and reduced to what decides it.
struct ArbiterRequest {
  enum class Kind { kAbort, kResolve } kind;
  Me1View me1;
  v1::SignedBody me1_signed;
  v1::SignedBody me2_signed;  // resolve only
};
// Checks an abort (by O, about a me1 naming `arbiter`) or a resolve (by O or R, with a me2 by R
// over that me1). INVALID_ARGUMENT / PERMISSION_DENIED with the reason otherwise.
absl::StatusOr<ArbiterRequest> CheckAbort(const v1::AbortRequest& req, const Certificate& arbiter);
absl::StatusOr<ArbiterRequest> CheckResolve(const v1::ResolveRequest& req, const Certificate& arbiter);
// The signed token for a decision: an abort token, or a replacement contract (me1 + me2).
absl::StatusOr<v1::SignedBody> IssueToken(bool resolved, const v1::SignedBody& me1, const v1::SignedBody& me2,
                                          const Party& arbiter, absl::Time now);

// The affidavit that comes with a decision on an exchange of another kind: a substitute receipt
// (certified mail, resolved) or a payment release order (delivery against payment, resolved);
// nullopt for contract signing and for every abort. An abort token proves only that the arbiter
// will not resolve: it never states or orders more.
std::optional<v1::AffidavitStatement> AffidavitFor(const Me1View& me1, bool resolved, absl::Time now);

// DELIVERY_FOR_PAYMENT after an abort at `aborted_at`: the reversal order, given only when no
// standard contract was shown to the arbiter by `objection_until` (a standard contract binds both
// whatever token exists; an originator who completed the exchange and then aborted gets no refund
// from a responder who shows it in time). It states exactly that, and nothing about commitments.
v1::AffidavitStatement PaymentReversal(const Me1View& me1, absl::Time aborted_at, absl::Time objection_until,
                                       absl::Time now);
// DELIVERY_FOR_PAYMENT: the release order when a standard contract was shown.
v1::AffidavitStatement PaymentReleaseOnContract(const Me1View& me1, absl::Time now);

// Anyone: what an arbiter's token says (signature checked against `arbiter`).
struct TokenView {
  bool resolved = false;  // a replacement contract; else an abort token
  v1::ArbiterTokenBody body;
};
absl::StatusOr<TokenView> VerifyToken(const v1::SignedBody& token, const Certificate& arbiter);

}  // namespace semper::asw
