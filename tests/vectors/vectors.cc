// The test vectors of docs/vectors/ for client developers: for each bytes field a client signs or
// hashes (docs/signing.md), the exact bytes of an example, what they decode to, their hashes, and a
// signature over them by a fixed test PKI (docs/vectors/pki, the fuzz targets' PKI: P-256, valid
// 2026-2075, keys unencrypted because they are for tests only).
//   vectors write DIR   makes DIR/*.bin|der|txt, DIR/vectors.json and DIR/pki/ (run once; signatures
//                       are randomised, so a second run makes other bytes that check just as well)
//   vectors check DIR   the test (ctest `vectors`): every file has the recorded SHA-256; every
//                       protobuf decodes to the recorded content and re-encodes (deterministically) to
//                       the same bytes; every JSON statement is what the daemons print for it; every
//                       signature verifies under the test root for nonRepudiation by the recorded
//                       certificate; every derived hash (order_sha256, a Merkle leaf) is what the
//                       rules say; the Merkle proofs verify. Exit 0, or 1 naming the first vector
//                       that is no longer true.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>

#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/base/files.h"
#include "common/base/proto_json.h"
#include "common/base/proto_time.h"
#include "common/base/strings.h"
#include "common/container/container.h"
#include "common/crypto/certificate.h"
#include "common/crypto/cms.h"
#include "common/crypto/csr.h"
#include "common/crypto/digest.h"
#include "common/crypto/keys.h"
#include "common/crypto/merkle.h"
#include "common/crypto/random.h"
#include "common/crypto/timestamp.h"
#include "semper/v1/arbiter.pb.h"
#include "semper/v1/ca.pb.h"
#include "semper/v1/liability.pb.h"
#include "semper/v1/notary.pb.h"
#include "semper/v1/privacy.pb.h"
#include "services/liability/statement.h"

namespace semper {
namespace {

namespace fs = std::filesystem;
using google::protobuf::Struct;
using google::protobuf::Value;

// The moment every statement claims to be made at, and at which the signatures are checked.
const absl::Time kAt = absl::FromCivil(absl::CivilSecond(2026, 12, 7, 10, 0, 0), absl::UTCTimeZone());

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "vectors: %s\n", what.c_str());
  std::exit(1);
}

template <typename T>
T Must(absl::StatusOr<T> v, const std::string& what) {
  if (!v.ok()) Fail(StrCat(what, ": ", v.status().message()));
  return *std::move(v);
}

std::string Slurp(const fs::path& p) { return Must(ReadFile(p.string()), p.string()); }

std::string Json(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, o);
  return out;
}

Value JsonValue(const std::string& json) {
  Value v;
  if (!google::protobuf::util::JsonStringToMessage(json, &v).ok()) Fail("a JSON rendering does not parse");
  return v;
}

Value Str(const std::string& s) {
  Value v;
  v.set_string_value(s);
  return v;
}

struct Pki {
  Certificate root, ca, signer, notary;
  PrivateKey signer_key, notary_key;
};

Pki LoadPki(const fs::path& dir) {
  auto key = [&](const char* name) {
    return Must(PrivateKey::FromPem(Slurp(dir / name), SecretData(), /*allow_unencrypted=*/true), name);
  };
  auto cert = [&](const char* name) { return Must(Certificate::FromPem(Slurp(dir / name)), name); };
  return {cert("root.pem"),   cert("ca.pem"),    cert("signer.pem"),
          cert("notary.pem"), key("signer.key"), key("notary.key")};
}

// One vector as vectors.json records it.
struct Entry {
  std::string name, file, kind, message, used_in, signer;
  std::string bytes;
  std::string content_json;                   // protobuf: its proto3 JSON (names as in the .proto)
  std::map<std::string, std::string> hashes;  // name -> "rule=hex"
};

Value ToValue(const Entry& e) {
  Value v;
  Struct& s = *v.mutable_struct_value();
  (*s.mutable_fields())["name"] = Str(e.name);
  (*s.mutable_fields())["file"] = Str(e.file);
  (*s.mutable_fields())["kind"] = Str(e.kind);
  if (!e.message.empty()) (*s.mutable_fields())["message"] = Str(e.message);
  (*s.mutable_fields())["used_in"] = Str(e.used_in);
  (*s.mutable_fields())["sha256"] = Str(HexEncode(Sha256(e.bytes)));
  if (!e.content_json.empty()) (*s.mutable_fields())["content"] = JsonValue(e.content_json);
  if (!e.signer.empty()) {
    (*s.mutable_fields())["signature_file"] = Str(e.file + ".sig.der");
    (*s.mutable_fields())["signer"] = Str("pki/" + e.signer + ".pem");
  }
  Struct& h = *(*s.mutable_fields())["hashes"].mutable_struct_value();
  for (const auto& [k, rule_hex] : e.hashes) (*h.mutable_fields())[k] = Str(rule_hex);
  return v;
}

// The derived hashes a vector states, by rule: "sha256(file)", "sha256(signed.content)" (a
// SealedContainer's signed content), "merkle_leaf(file)" (RFC 9162: SHA-256(0x00 || file)).
std::string Derived(const std::string& rule, const std::string& bytes) {
  if (rule == "sha256(file)") return Sha256(bytes);
  if (rule == "merkle_leaf(file)") return MerkleLeafHash(bytes);
  if (rule == "sha256(signed.content)") {
    v1::SealedContainer sealed;
    if (!sealed.ParseFromString(bytes)) Fail("a sealed container does not parse");
    return Sha256(sealed.signed_().content());
  }
  Fail("unknown hash rule " + rule);
}

const google::protobuf::Descriptor* MessageType(const std::string& name) {
  const auto* d = google::protobuf::DescriptorPool::generated_pool()->FindMessageTypeByName(name);
  if (d == nullptr) Fail("unknown message " + name);
  return d;
}

google::protobuf::Timestamp At(absl::Duration offset = absl::ZeroDuration()) { return ToTimestamp(kAt + offset); }

int Write(const fs::path& dir, const fs::path& pki_source) {
  fs::create_directories(dir / "pki");
  for (const char* f : {"root.pem", "ca.pem", "signer.pem", "signer.key", "notary.pem", "notary.key"}) {
    fs::copy_file(pki_source / f, dir / "pki" / f, fs::copy_options::overwrite_existing);
  }
  const Pki pki = LoadPki(dir / "pki");
  std::vector<Entry> entries;
  auto sign = [&](const Entry& e, const PrivateKey& key, const Certificate& cert) {
    std::string sig = Must(CmsSignDetached(e.bytes, key, cert, {pki.ca}), "signing " + e.name);
    absl::Status s = WriteFile((dir / (e.file + ".sig.der")).string(), sig, 0644);
    if (!s.ok()) Fail(std::string(s.message()));
  };
  auto add = [&](Entry e) {
    absl::Status s = WriteFile((dir / e.file).string(), e.bytes, 0644);
    if (!s.ok()) Fail(std::string(s.message()));
    if (e.signer == "signer") sign(e, pki.signer_key, pki.signer);
    if (e.signer == "notary") sign(e, pki.notary_key, pki.notary);
    entries.push_back(std::move(e));
  };
  auto protobuf = [&](const std::string& name, const google::protobuf::Message& m, const std::string& used_in,
                      const std::string& signer = "signer") {
    Entry e{name,
            name + ".bin",
            "protobuf",
            m.GetDescriptor()->full_name(),
            used_in,
            signer,
            SerializeDeterministic(m),
            Json(m),
            {}};
    return e;
  };

  // Enrolment CSRs: empty subjects, P-256, SHA-256 (the CA decides every field).
  for (const char* which : {"authentication", "signature"}) {
    PrivateKey k = Must(PrivateKey::Generate(KeyType::kEcP256), "key");
    Entry e{StrCat("csr-", which),
            StrCat("csr-", which, ".der"),
            "der-csr",
            "",
            StrCat("CertificationAuthority/Enroll: ", which, "_csr"),
            "",
            Must(CertificationRequest::Create(k, {}), "CSR").Der(),
            "",
            {}};
    add(std::move(e));
  }
  // A SEMPER agreement (Liability/RegisterAgreement: agreement.content, agreement.signatures[0]).
  v1::ContainerContent agreement = NewContainerContent(kAt);
  agreement.set_id("00112233445566778899aabbccddeeff");
  v1::Agreement* a = agreement.mutable_template_()->mutable_agreement();
  a->mutable_overall_limit()->set_currency("EUR");
  a->mutable_overall_limit()->set_minor_units(100000);
  a->mutable_per_transaction_limit()->set_currency("EUR");
  a->mutable_per_transaction_limit()->set_minor_units(30000);
  *a->mutable_valid_from() = At();
  *a->mutable_valid_until() =
      ToTimestamp(absl::FromCivil(absl::CivilSecond(2074, 12, 31, 0, 0, 0), absl::UTCTimeZone()));
  a->set_applicable_law("DE");
  a->set_conditions("I am liable for what I sign with my signature key, within these limits.");
  agreement.mutable_requested()->set_non_repudiation_of_origin(true);
  add(protobuf("agreement", agreement,
               "Liability/RegisterAgreement: agreement.content (signatures[0] = the .sig.der)"));
  // An order, sealed: the bytes of GuaranteeRequest.order.
  v1::ContainerContent order = NewContainerContent(kAt);
  order.set_id("ffeeddccbbaa99887766554433221100");
  v1::Order* o = order.mutable_template_()->mutable_order();
  o->set_order_id("CAT-4711-1");
  o->mutable_buyer()->set_name("Fuzz signer");
  o->mutable_buyer()->set_certificate(pki.signer.Der());
  o->mutable_seller()->set_name("Katalog Versand GmbH");
  o->set_customer_kind(v1::CUSTOMER_KIND_INDIVIDUAL);
  o->set_applicable_law("DE");
  o->mutable_amount()->set_currency("EUR");
  o->mutable_amount()->set_minor_units(12990);
  auto* item = o->add_items();
  item->set_description("winter coat, catalogue no. 4711");
  item->set_quantity(1);
  item->mutable_unit_price()->set_currency("EUR");
  item->mutable_unit_price()->set_minor_units(12990);
  o->set_delivery_address("Hauptstr. 1, Berlin");
  order.mutable_requested()->set_non_repudiation_of_origin(true);
  add(protobuf("order-content", order, "the signed content of the order below (what the buyer's signature covers)"));
  v1::SealedContainer sealed =
      Must(Seal(order, {.signers = {SignerIdentity{pki.signer_key, pki.signer, {pki.ca}}}}), "sealing the order");
  Entry sealed_entry{"order",
                     "order.bin",
                     "protobuf",
                     "semper.v1.SealedContainer",
                     "Liability/RequestGuarantee: order (its signatures[0] covers order-content.bin)",
                     "",
                     SerializeDeterministic(sealed),
                     Json(sealed),
                     {}};
  sealed_entry.hashes["order_sha256"] = "sha256(file)=" + HexEncode(Sha256(sealed_entry.bytes));
  sealed_entry.hashes["order_content_sha256"] =
      "sha256(signed.content)=" + HexEncode(Sha256(sealed.signed_().content()));
  add(std::move(sealed_entry));
  // Client statements (binary protobuf, signed with the signature key).
  v1::LiabilityQueryStatement q;
  q.set_type("semper-liability-query");
  *q.mutable_made_at() = At();
  add(protobuf("liability-query", q, "Liability/GetLiability: query (signature = the .sig.der)"));
  v1::AgreementChangeStatement change;
  change.set_type("semper-agreement-change");
  change.set_agreement_id("A-0011223344556677");
  change.set_state(v1::AGREEMENT_STATE_SUSPENDED);
  change.set_reason("card lost");
  *change.mutable_made_at() = At();
  add(protobuf("agreement-change", change, "Liability/SetAgreementState: change"));
  v1::PseudonymRequestStatement ps;
  ps.set_type("semper-pseudonym-request");
  ps.set_csr(Must(CertificationRequest::Create(Must(PrivateKey::Generate(KeyType::kEcP256), "key"), {}), "CSR").Der());
  ps.set_kind(v1::PSEUDONYM_KIND_ROLE);
  ps.set_name("Bookworm");
  ps.set_valid_seconds(86400);
  *ps.mutable_made_at() = At();
  add(protobuf("pseudonym-request", ps, "Pseudonyms/IssuePseudonym: request"));
  v1::ClaimStatement claim;
  claim.set_type("semper-claim");
  claim.set_kind(v1::CLAIM_KIND_NON_DELIVERY);
  claim.set_text("Order CAT-4711-1 was never delivered.");
  claim.set_respondent_certificate(pki.notary.Der());
  claim.set_subject_reference("CAT-4711-1");
  claim.mutable_amount_claimed()->set_currency("EUR");
  claim.mutable_amount_claimed()->set_minor_units(12990);
  *claim.mutable_made_at() = At();
  claim.set_subject_sha256(Sha256(sealed.signed_().content()));
  add(protobuf("claim", claim, "Arbiter/FileClaim: claim (subject_sha256 = SHA-256 of the order's signed content)"));
  v1::AnswerStatement answer;
  answer.set_type("semper-answer");
  answer.set_case_id("00112233445566778899aabbccddeeff");
  answer.set_text("We shipped the coat on 2 December.");
  *answer.mutable_made_at() = At();
  add(protobuf("answer", answer, "Arbiter/AnswerClaim: answer"));
  v1::ListCasesStatement list;
  list.set_type("semper-list-cases");
  *list.mutable_made_at() = At();
  add(protobuf("list-cases", list, "Arbiter/ListCases: request"));
  v1::TokenKindRequestStatement kind;
  kind.set_type("semper-token-kind-request");
  kind.set_name("Single ride, zone A");
  kind.mutable_value()->set_currency("EUR");
  kind.mutable_value()->set_minor_units(290);
  *kind.mutable_valid_until() = At(absl::Hours(24 * 365));
  *kind.mutable_made_at() = At();
  add(protobuf("token-kind-request", kind, "Credentials/CreateTokenKind: request"));
  v1::CredentialRequestStatement cred;
  cred.set_type("semper-credential-request");
  cred.set_holder_certificate(pki.signer.Der());
  cred.set_kind("pass");
  cred.set_rights("10 rides, zones A-B");
  cred.set_uses(10);
  *cred.mutable_valid_from() = At();
  *cred.mutable_valid_until() = At(absl::Hours(24 * 90));
  *cred.mutable_made_at() = At();
  add(protobuf("credential-request", cred, "Credentials/IssueCredential: request"));
  // The notary's fixed signing texts (ASCII, no newline) and a certified document.
  const std::string contract_text = "Maintenance contract: ...\n";
  add({"contract-signing-text",
       "contract-signing-text.txt",
       "text",
       "",
       StrCat("Notary/SignContract: signature over semper-contract:<id>:<hex SHA-256 of the contract>; here id ",
              "C-0011223344556677 and the contract \"Maintenance contract: ...\\n\""),
       "signer",
       StrCat("semper-contract:C-0011223344556677:", HexEncode(Sha256(contract_text))),
       "",
       {}});
  add({"mail-receipt-text",
       "mail-receipt-text.txt",
       "text",
       "",
       "Notary/AcceptMail: receipt_signature over semper-receipt:<mail id>:<hex message_sha256>",
       "signer",
       StrCat("semper-receipt:M-0011223344556677:", HexEncode(Sha256("an EnvelopedData"))),
       "",
       {}});
  add({"document",
       "document.txt",
       "text",
       "",
       "Notary/CertifyDocument: document (signature = the .sig.der)",
       "signer",
       "Order confirmation CAT-4711-1: winter coat, EUR 129.90.\n",
       "",
       {{"document_sha256", ""}}});
  entries.back().hashes["document_sha256"] = "sha256(file)=" + HexEncode(Sha256(entries.back().bytes));
  // An RFC 3161 request over the document (no randomness: the nonce is given).
  TimeStampRequestOptions tso;
  tso.nonce = std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8);
  add({"timestamp-request",
       "timestamp-request.der",
       "der-timestamp-request",
       "",
       "TimeStamp/Stamp: request; HTTP POST /tsa (application/timestamp-query): SHA-256 of document.txt, nonce "
       "0102030405060708, certReq",
       "",
       Must(MakeTimeStampRequest(HashAlgorithm::kSha256, Sha256(entries.back().bytes), tso), "TSQ"),
       "",
       {}});
  // Statements the daemons sign (proto3 JSON as they print it), signed here by the test PKI's
  // "semper-notary signer".
  MerkleLog log;
  std::vector<std::string> leaves = {"a", "b", "c", "d", "e"};
  for (const auto& l : leaves) log.Append(MerkleLeafHash(l));
  v1::TreeHeadStatement head;
  head.set_type("semper-notary-tree-head");
  head.set_tree_size(log.size());
  head.set_root_hash(log.Root(log.size()));
  *head.mutable_timestamp() = At();
  Entry head_entry{"tree-head",
                   "tree-head.json",
                   "json-statement",
                   "semper.v1.TreeHeadStatement",
                   "Notary/GetTreeHead: SignedTreeHead.statement (signature = the .sig.der; a log of the five "
                   "entries \"a\"..\"e\")",
                   "notary",
                   StatementJson(head),
                   "",
                   {}};
  add(std::move(head_entry));
  v1::GuaranteeStatement g;
  g.set_type("semper-liability-guarantee");
  g.set_guarantee_id("G-00112233445566778899aabb");
  g.set_agreement_id("A-0011223344556677");
  g.set_buyer(pki.signer.Subject());
  g.set_buyer_certificate_serial(pki.signer.SerialHex());
  g.set_seller("CN=Katalog Versand GmbH");
  g.set_order_sha256(Sha256(SerializeDeterministic(sealed)));
  g.mutable_amount()->set_currency("EUR");
  g.mutable_amount()->set_minor_units(12990);
  *g.mutable_issued_at() = At();
  *g.mutable_valid_until() = At(absl::Hours(24 * 7));
  g.set_statement("The tracker guarantees the buyer's liability for this order up to the amount.");
  g.set_order_content_sha256(Sha256(sealed.signed_().content()));
  Entry g_entry{"guarantee",
                "guarantee.json",
                "json-guarantee",
                "semper.v1.GuaranteeStatement",
                "Liability/RequestGuarantee: Guarantee.statement, as semper-liability prints it (order_sha256 and "
                "order_content_sha256 name order.bin); unsigned here",
                "",
                liability::GuaranteeStatementJson(g),
                "",
                {}};
  add(std::move(g_entry));

  // Merkle: the five-entry log above, an inclusion proof of entry 2 and a consistency proof 3 -> 5.
  Struct merkle;
  auto list_value = [](const std::vector<std::string>& hashes) {
    Value v;
    for (const auto& h : hashes) *v.mutable_list_value()->add_values() = Str(HexEncode(h));
    return v;
  };
  (*merkle.mutable_fields())["leaves"] = list_value(leaves);
  std::vector<std::string> leaf_hashes;
  for (uint64_t i = 0; i < log.size(); ++i) leaf_hashes.push_back(log.Leaf(i));
  (*merkle.mutable_fields())["leaf_hashes"] = list_value(leaf_hashes);
  (*merkle.mutable_fields())["root_5"] = Str(HexEncode(log.Root(5)));
  (*merkle.mutable_fields())["root_3"] = Str(HexEncode(log.Root(3)));
  (*merkle.mutable_fields())["inclusion_2_of_5"] = list_value(log.InclusionProof(2, 5));
  (*merkle.mutable_fields())["consistency_3_to_5"] = list_value(log.ConsistencyProof(3, 5));

  Struct manifest;
  (*manifest.mutable_fields())["about"] =
      Str("semper test vectors: docs/vectors/README.md; the rules: docs/signing.md. Checked by the ctest `vectors`.");
  (*manifest.mutable_fields())["signed_at"] = Str(absl::FormatTime(absl::RFC3339_sec, kAt, absl::UTCTimeZone()));
  for (const Entry& e : entries)
    *(*manifest.mutable_fields())["vectors"].mutable_list_value()->add_values() = ToValue(e);
  *(*manifest.mutable_fields())["merkle"].mutable_struct_value() = merkle;
  std::string json;
  google::protobuf::util::JsonPrintOptions po;
  po.add_whitespace = true;
  po.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(manifest, &json, po);
  absl::Status s = WriteFile((dir / "vectors.json").string(), json, 0644);
  if (!s.ok()) Fail(std::string(s.message()));
  std::printf("vectors: %zu vectors written to %s\n", entries.size(), dir.c_str());
  return 0;
}

const Value& Field(const Struct& s, const std::string& k) {
  auto it = s.fields().find(k);
  if (it == s.fields().end()) Fail("vectors.json: no field " + k);
  return it->second;
}

std::string HexOf(const Value& v) {
  std::string out;
  const std::string& h = v.string_value();
  for (size_t i = 0; i + 1 < h.size(); i += 2) out.push_back(static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16)));
  return out;
}

// Every vector: its file, kind, message (and the statement type it must carry), and who signs it
// ("": no signature file). A vector dropped, added, renamed, re-kinded or left unsigned fails.
struct Want {
  std::string file, kind, message, type, signer;
};
const std::map<std::string, Want>& Expected() {
  static const auto* expected = new std::map<std::string, Want>{
      {"csr-authentication", {"csr-authentication.der", "der-csr", "", "", ""}},
      {"csr-signature", {"csr-signature.der", "der-csr", "", "", ""}},
      {"agreement", {"agreement.bin", "protobuf", "semper.v1.ContainerContent", "", "signer"}},
      {"order-content", {"order-content.bin", "protobuf", "semper.v1.ContainerContent", "", "signer"}},
      {"order", {"order.bin", "protobuf", "semper.v1.SealedContainer", "", ""}},
      {"liability-query",
       {"liability-query.bin", "protobuf", "semper.v1.LiabilityQueryStatement", "semper-liability-query", "signer"}},
      {"agreement-change",
       {"agreement-change.bin", "protobuf", "semper.v1.AgreementChangeStatement", "semper-agreement-change", "signer"}},
      {"pseudonym-request",
       {"pseudonym-request.bin", "protobuf", "semper.v1.PseudonymRequestStatement", "semper-pseudonym-request",
        "signer"}},
      {"claim", {"claim.bin", "protobuf", "semper.v1.ClaimStatement", "semper-claim", "signer"}},
      {"answer", {"answer.bin", "protobuf", "semper.v1.AnswerStatement", "semper-answer", "signer"}},
      {"list-cases", {"list-cases.bin", "protobuf", "semper.v1.ListCasesStatement", "semper-list-cases", "signer"}},
      {"token-kind-request",
       {"token-kind-request.bin", "protobuf", "semper.v1.TokenKindRequestStatement", "semper-token-kind-request",
        "signer"}},
      {"credential-request",
       {"credential-request.bin", "protobuf", "semper.v1.CredentialRequestStatement", "semper-credential-request",
        "signer"}},
      {"contract-signing-text", {"contract-signing-text.txt", "text", "", "semper-contract:", "signer"}},
      {"mail-receipt-text", {"mail-receipt-text.txt", "text", "", "semper-receipt:", "signer"}},
      {"document", {"document.txt", "text", "", "", "signer"}},
      {"timestamp-request", {"timestamp-request.der", "der-timestamp-request", "", "", ""}},
      {"tree-head",
       {"tree-head.json", "json-statement", "semper.v1.TreeHeadStatement", "semper-notary-tree-head", "notary"}},
      {"guarantee",
       {"guarantee.json", "json-guarantee", "semper.v1.GuaranteeStatement", "semper-liability-guarantee", ""}},
  };
  return *expected;
}

// The statement's `type` field (a message with one), or its prefix for a signing text.
void CheckType(const std::string& name, const Want& want, const google::protobuf::Message* m,
               const std::string& bytes) {
  if (want.type.empty()) return;
  if (m == nullptr) {
    if (bytes.rfind(want.type, 0) != 0) Fail(StrCat(name, ": does not start with ", want.type));
    return;
  }
  const auto* field = m->GetDescriptor()->FindFieldByName("type");
  if (field == nullptr || m->GetReflection()->GetString(*m, field) != want.type) {
    Fail(StrCat(name, ": its type is not \"", want.type, "\""));
  }
}

// What the vectors say about each other (their used_in): the order's signature covers
// order-content.bin and verifies; the guarantee and the claim name the order.
void CheckRelations(const fs::path& dir, const Pki& pki, const TrustStore& trust) {
  v1::SealedContainer sealed;
  if (!sealed.ParseFromString(Slurp(dir / "order.bin")) ||
      sealed.signed_().content() != Slurp(dir / "order-content.bin")) {
    Fail("order: its signed content is not order-content.bin");
  }
  OpenOptions o;
  o.trust = &trust;
  o.at = kAt;
  auto opened = Open(sealed, o);
  if (!opened.ok()) Fail(StrCat("order: does not open: ", opened.status().message()));
  if (opened->origin_signers.size() != 1 || opened->origin_signers[0].certificate.Der() != pki.signer.Der()) {
    Fail("order: not signed by pki/signer.pem alone");
  }
  v1::GuaranteeStatement g;
  google::protobuf::util::JsonParseOptions jo;
  if (!google::protobuf::util::JsonStringToMessage(Slurp(dir / "guarantee.json"), &g, jo).ok() ||
      g.order_sha256() != Sha256(Slurp(dir / "order.bin")) ||
      g.order_content_sha256() != Sha256(Slurp(dir / "order-content.bin"))) {
    Fail("guarantee: does not name order.bin");
  }
  v1::ClaimStatement claim;
  if (!claim.ParseFromString(Slurp(dir / "claim.bin")) ||
      claim.subject_sha256() != Sha256(Slurp(dir / "order-content.bin"))) {
    Fail("claim: subject_sha256 is not the order content's");
  }
}

int Check(const fs::path& dir) {
  const Pki pki = LoadPki(dir / "pki");
  TrustStore trust = Must(TrustStore::New({pki.root}), "the test root");
  Struct manifest;
  if (!google::protobuf::util::JsonStringToMessage(Slurp(dir / "vectors.json"), &manifest).ok()) {
    Fail("vectors.json does not parse");
  }
  std::set<std::string> names;
  for (const Value& v : Field(manifest, "vectors").list_value().values()) {
    const Struct& e = v.struct_value();
    const std::string name = Field(e, "name").string_value();
    auto want = Expected().find(name);
    if (want == Expected().end() || !names.insert(name).second)
      Fail(StrCat(name, ": not an expected vector, or twice"));
    const bool has_signature = e.fields().count("signature_file") != 0;
    if (has_signature != !want->second.signer.empty() ||
        (has_signature && Field(e, "signer").string_value() != StrCat("pki/", want->second.signer, ".pem"))) {
      Fail(StrCat(name, ": its signature is missing, unexpected or by someone else"));
    }
    const std::string message = e.fields().count("message") != 0 ? Field(e, "message").string_value() : "";
    if (Field(e, "file").string_value() != want->second.file || Field(e, "kind").string_value() != want->second.kind ||
        message != want->second.message) {
      Fail(StrCat(name, ": not the file, kind or message it is"));
    }
    // The derived hashes a client developer looks for.
    static const std::map<std::string, std::vector<std::string>> kHashes = {
        {"order", {"order_sha256", "order_content_sha256"}}, {"document", {"document_sha256"}}};
    if (auto h = kHashes.find(name); h != kHashes.end()) {
      for (const std::string& k : h->second) {
        if (Field(e, "hashes").struct_value().fields().count(k) == 0) Fail(StrCat(name, ": states no ", k));
      }
    }
  }
  if (names.size() != Expected().size()) Fail("vectors are missing from vectors.json");
  CheckRelations(dir, pki, trust);
  int n = 0;
  for (const Value& v : Field(manifest, "vectors").list_value().values()) {
    const Struct& e = v.struct_value();
    const std::string name = Field(e, "name").string_value();
    const std::string kind = Field(e, "kind").string_value();
    const std::string bytes = Slurp(dir / Field(e, "file").string_value());
    auto fail = [&](const std::string& why) { Fail(StrCat(name, ": ", why)); };
    if (HexEncode(Sha256(bytes)) != Field(e, "sha256").string_value()) fail("the file's SHA-256 differs");
    if (kind == "protobuf" || kind == "json-statement" || kind == "json-guarantee") {
      std::unique_ptr<google::protobuf::Message> m(google::protobuf::MessageFactory::generated_factory()
                                                       ->GetPrototype(MessageType(Field(e, "message").string_value()))
                                                       ->New());
      if (kind == "protobuf") {
        if (!m->ParseFromString(bytes)) fail("does not decode as " + m->GetDescriptor()->full_name());
        CheckType(name, Expected().at(name), m.get(), bytes);
        if (SerializeDeterministic(*m) != bytes) fail("does not re-encode to the same bytes");
        std::string recorded;
        (void)google::protobuf::util::MessageToJsonString(Field(e, "content"), &recorded);
        Value now = JsonValue(Json(*m)), was = JsonValue(recorded);
        if (!google::protobuf::util::MessageDifferencer::Equals(now, was))
          fail("decodes to other content than recorded");
      } else {
        google::protobuf::util::JsonParseOptions jo;
        jo.ignore_unknown_fields = false;
        if (!google::protobuf::util::JsonStringToMessage(bytes, m.get(), jo).ok())
          fail("is not proto3 JSON of its message");
        CheckType(name, Expected().at(name), m.get(), bytes);
        const auto* guarantee = dynamic_cast<const v1::GuaranteeStatement*>(m.get());
        if (kind == "json-guarantee" && guarantee == nullptr) fail("json-guarantee names another message");
        const std::string printed =
            kind == "json-statement" ? StatementJson(*m) : liability::GuaranteeStatementJson(*guarantee);
        if (printed != bytes) fail("is not what the daemons print for it");
      }
    } else if (kind == "der-csr") {
      if (!CertificationRequest::FromDer(bytes).ok()) fail("is not a CSR semper-ca accepts");
    } else if (kind == "der-timestamp-request") {
      TimeStampRequestOptions tso;
      tso.nonce = std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8);
      if (MakeTimeStampRequest(HashAlgorithm::kSha256, Sha256(Slurp(dir / "document.txt")), tso).value_or("") !=
          bytes) {
        fail("is not the request for document.txt");
      }
    } else if (kind == "text") {
      CheckType(name, Expected().at(name), nullptr, bytes);
    } else {
      fail("unknown kind " + kind);
    }
    if (e.fields().count("signature_file") != 0) {
      const std::string sig = Slurp(dir / Field(e, "signature_file").string_value());
      auto signers = CmsVerifyDetached(sig, bytes, trust, kAt, KeyPurpose::kNonRepudiation);
      if (!signers.ok()) fail(StrCat("the signature does not verify: ", signers.status().message()));
      const Certificate want = Must(Certificate::FromPem(Slurp(dir / Field(e, "signer").string_value())), "signer");
      if (signers->size() != 1 || (*signers)[0].certificate.Der() != want.Der()) fail("signed by someone else");
    }
    for (const auto& [hname, rule_hex] : Field(e, "hashes").struct_value().fields()) {
      const std::string& s = rule_hex.string_value();
      const size_t eq = s.find('=');
      if (eq == std::string::npos || HexEncode(Derived(s.substr(0, eq), bytes)) != s.substr(eq + 1)) {
        fail("its " + hname + " is not " + s);
      }
    }
    ++n;
  }
  const Struct& merkle = Field(manifest, "merkle").struct_value();
  std::vector<std::string> leaves, proof, consistency;
  for (const Value& l : Field(merkle, "leaves").list_value().values()) leaves.push_back(HexOf(l));
  MerkleLog log;
  for (const auto& l : leaves) log.Append(MerkleLeafHash(l));
  const auto& recorded_leaf_hashes = Field(merkle, "leaf_hashes").list_value().values();
  if (static_cast<size_t>(recorded_leaf_hashes.size()) != leaves.size()) Fail("merkle: the leaf hashes");
  for (int i = 0; i < recorded_leaf_hashes.size(); ++i) {
    if (HexOf(recorded_leaf_hashes[i]) != MerkleLeafHash(leaves[static_cast<size_t>(i)]))
      Fail("merkle: the leaf hashes");
  }
  for (const Value& p : Field(merkle, "inclusion_2_of_5").list_value().values()) proof.push_back(HexOf(p));
  for (const Value& p : Field(merkle, "consistency_3_to_5").list_value().values()) consistency.push_back(HexOf(p));
  const std::string root5 = HexOf(Field(merkle, "root_5")), root3 = HexOf(Field(merkle, "root_3"));
  if (log.size() != 5 || log.Root(5) != root5 || log.Root(3) != root3) Fail("merkle: the roots differ");
  if (!VerifyMerkleInclusion(2, 5, MerkleLeafHash(leaves[2]), proof, root5)) Fail("merkle: the inclusion proof");
  if (!VerifyMerkleConsistency(3, 5, root3, root5, consistency)) Fail("merkle: the consistency proof");
  // The tree head vector is the head of this log.
  v1::TreeHeadStatement head;
  if (!google::protobuf::util::JsonStringToMessage(Slurp(dir / "tree-head.json"), &head).ok() ||
      head.root_hash() != root5 || head.tree_size() != 5) {
    Fail("tree-head: not the head of the Merkle vector's log");
  }
  std::printf("vectors: %d vectors and the Merkle proofs in %s hold\n", n, dir.c_str());
  return 0;
}

}  // namespace
}  // namespace semper

int main(int argc, char** argv) {
  if (argc == 4 && std::string(argv[1]) == "write") return semper::Write(argv[2], argv[3]);
  if (argc == 3 && std::string(argv[1]) == "check") return semper::Check(argv[2]);
  std::fprintf(stderr, "usage: vectors write DIR PKI_SOURCE_DIR | vectors check DIR\n");
  return 2;
}
