// semperctl notary: the client side of semper-notary.
#include "cli/semperctl/notary_commands.h"

#include <google/protobuf/util/json_util.h>

#include <filesystem>

#include "common/base/files.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/crypto/cms.h"
#include "common/crypto/digest.h"
#include "common/crypto/random.h"
#include "common/notary/evidence.h"
#include "semper/v1/notary.grpc.pb.h"

namespace semper::ctl {
namespace {

namespace fs = std::filesystem;

std::unique_ptr<v1::Notary::Stub> NotaryStub(const Connection& c) {
  return v1::Notary::NewStub(ChannelTo(c, c.notary));
}

int Certify(const Connection& c, const std::string& file, const std::string& wallet, const std::string& pass_file,
            std::string out) {
  std::string document = ReadFileOrDie(file);
  auto chain = WalletChain(wallet);
  TrustStore trust = Trust(c);
  // Nothing is signed unseen: what, by whom, and where it goes.
  std::printf("You are about to sign, with your signature key (legally binding), and have notarised:\n");
  std::printf("  file:    %s (%zu bytes)\n", file.c_str(), document.size());
  std::printf("  SHA-256: %s\n", HexEncode(Sha256(document)).c_str());
  std::printf("  signer:  %s\n", chain.front().Subject().c_str());
  std::printf("  notary:  %s\n", c.notary.c_str());
  if (!Confirm(c, "Sign and send?")) {
    std::fprintf(stderr, "semperctl: nothing signed\n");
    return 1;
  }
  PrivateKey key = WalletKey(wallet, pass_file);
  std::string signature = WalletSign(document, key, chain);
  v1::CertifyDocumentRequest req;
  req.set_document(document);
  req.set_signature(signature);
  v1::Evidence e;
  Call(NotaryStub(c)->CertifyDocument(Ctx().get(), req, &e));
  if (absl::Status ok = notary::VerifyEvidence(e, trust); !ok.ok()) Die(Annotate(ok, "the notary's answer"));
  v1::AttestationStatement st;
  // For this document, and for the signature just made (a fresh CMS signature, so no earlier
  // attestation and nobody else's fits).
  if (!google::protobuf::util::JsonStringToMessage(e.statement(), &st).ok() ||
      st.document_sha256() != Sha256(document) || st.document_signature() != signature) {
    Die(MakeError(absl::StatusCode::kDataLoss, v1::SIGNATURE_INVALID,
                  "the notary's answer: the attestation is for another document than the one sent"));
  }
  if (out.empty()) out = file + ".evidence.json";
  WriteOrDie(out, Json(e));
  std::printf("Notarised: entry %llu of the notary's log (tree of %llu), time-stamped; evidence in %s\n",
              static_cast<unsigned long long>(e.index()), static_cast<unsigned long long>(e.tree_head().tree_size()),
              out.c_str());
  std::printf("Check it any time, offline: semperctl --ca-file %s notary verify %s --document %s\n", c.ca_file.c_str(),
              out.c_str(), file.c_str());
  return 0;
}

int Verify(const Connection& c, const std::string& evidence_file, const std::string& document) {
  auto e = FromJsonFile<v1::Evidence>(evidence_file);
  absl::Status ok = notary::VerifyEvidence(e, Trust(c));
  if (ok.ok() && !document.empty()) {
    v1::AttestationStatement st;
    if (!google::protobuf::util::JsonStringToMessage(e.statement(), &st).ok() ||
        st.document_sha256() != Sha256(ReadFileOrDie(document))) {
      ok = MakeError(absl::StatusCode::kInvalidArgument, v1::SIGNATURE_INVALID, "the evidence is for another document");
    }
  }
  if (!ok.ok()) {
    std::printf("NOT VERIFIED: %s\n", std::string(ok.message()).c_str());
    return 3;
  }
  std::printf("Verified: %s entry %llu, signed by the notary, in its log of %llu entries (signed tree head).\n",
              e.kind().c_str(), static_cast<unsigned long long>(e.index()),
              static_cast<unsigned long long>(e.tree_head().tree_size()));
  return 0;
}

int TreeHead(const Connection& c, const std::string& out) {
  v1::SignedTreeHead head;
  Call(NotaryStub(c)->GetTreeHead(Ctx().get(), {}, &head));
  if (absl::Status ok = notary::VerifyTreeHead(head, Trust(c)); !ok.ok()) Die(ok);
  if (!out.empty()) WriteOrDie(out, Json(head));
  std::printf("Tree head: %llu entries, root %s%s\n", static_cast<unsigned long long>(head.tree_size()),
              HexEncode(head.root_hash()).c_str(), out.empty() ? "" : StrCat(", saved to ", out).c_str());
  return 0;
}

int Consistency(const Connection& c, const std::string& old_file, const std::string& out) {
  auto old_head = FromJsonFile<v1::SignedTreeHead>(old_file);
  v1::GetConsistencyProofRequest req;
  req.set_old_size(old_head.tree_size());
  v1::ConsistencyProof proof;
  Call(NotaryStub(c)->GetConsistencyProof(Ctx().get(), req, &proof));
  if (!out.empty()) WriteOrDie(out, Json(proof));
  absl::Status ok = notary::VerifyConsistency(old_head, proof, Trust(c));
  if (!ok.ok()) {
    std::printf("NOT CONSISTENT: %s\n", std::string(ok.message()).c_str());
    return 3;
  }
  std::printf("Consistent: the log of %llu entries extends the one of %llu you kept.\n",
              static_cast<unsigned long long>(proof.new_size()), static_cast<unsigned long long>(old_head.tree_size()));
  return 0;
}

int VerifyConsistencyFiles(const Connection& c, const std::string& old_file, const std::string& proof_file) {
  absl::Status ok = notary::VerifyConsistency(FromJsonFile<v1::SignedTreeHead>(old_file),
                                              FromJsonFile<v1::ConsistencyProof>(proof_file), Trust(c));
  if (!ok.ok()) {
    std::printf("NOT CONSISTENT: %s\n", std::string(ok.message()).c_str());
    return 3;
  }
  std::printf("Consistent.\n");
  return 0;
}

}  // namespace

NotaryCommands::NotaryCommands(CLI::App& app, Connection& c) : c_(c) {
  app.add_option("--notary", c.notary,
                 "semper-notary address host:port; replicas as IP:port,IP:port or one DNS name (dns:///name:port), "
                 "balanced round robin")
      ->envname("SEMPERCTL_NOTARY")
      ->capture_default_str();
  auto* n = app.add_subcommand("notary", "notarise documents; check the notary's evidence and log offline");
  n->require_subcommand(1);
  certify_ = n->add_subcommand("certify", "sign a file with your signature key and have the notary attest it");
  certify_->add_option("file", file_)->required()->check(CLI::ExistingFile);
  certify_->add_option("--wallet", wallet_, "your wallet (signature.pem, signature.key)")->required();
  certify_->add_option("--wallet-passphrase-file", wallet_pass_, "file with the wallet passphrase (asked otherwise)");
  certify_->add_option("--out", out_, "where to save the evidence (default <file>.evidence.json)");
  verify_ = n->add_subcommand("verify", "check evidence offline: exit 0 verified, 3 not");
  verify_->add_option("evidence", evidence_, "an .evidence.json")->required()->check(CLI::ExistingFile);
  verify_->add_option("--document", document_, "the document it should attest")->check(CLI::ExistingFile);
  tree_head_ = n->add_subcommand("tree-head", "fetch, check and keep the notary's latest signed tree head");
  tree_head_->add_option("--out", out_, "save it here (JSON)");
  consistency_ = n->add_subcommand("consistency", "check that today's log extends a tree head you kept: exit 0 or 3");
  consistency_->add_option("old", old_head_, "a tree head saved by tree-head")->required()->check(CLI::ExistingFile);
  consistency_->add_option("--out", out_, "save the proof here (JSON)");
  verify_consistency_ = n->add_subcommand("verify-consistency", "check a saved consistency proof offline: exit 0 or 3");
  verify_consistency_->add_option("old", old_head_)->required()->check(CLI::ExistingFile);
  verify_consistency_->add_option("proof", proof_)->required()->check(CLI::ExistingFile);
}

std::optional<int> NotaryCommands::Run() {
  if (certify_->parsed()) return Certify(c_, file_, wallet_, wallet_pass_, out_);
  if (verify_->parsed()) return Verify(c_, evidence_, document_);
  if (tree_head_->parsed()) return TreeHead(c_, out_);
  if (consistency_->parsed()) return Consistency(c_, old_head_, out_);
  if (verify_consistency_->parsed()) return VerifyConsistencyFiles(c_, old_head_, proof_);
  return std::nullopt;
}

}  // namespace semper::ctl
