// semperctl tsa: the client side of semper-tsa.
#include "cli/semperctl/tsa_commands.h"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include <cctype>
#include <filesystem>

#include "absl/strings/escaping.h"
#include "common/base/files.h"
#include "common/base/proto_time.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/crypto/certificate.h"
#include "common/crypto/digest.h"
#include "common/crypto/merkle.h"
#include "common/crypto/random.h"
#include "common/crypto/timestamp.h"
#include "semper/v1/tsa.grpc.pb.h"

namespace semper::ctl {
namespace {

namespace fs = std::filesystem;
using google::protobuf::util::TimeUtil;

std::unique_ptr<v1::TimeStamp::Stub> TsaStub(const Connection& c) {
  return v1::TimeStamp::NewStub(ChannelTo(c, c.tsa));
}

HashAlgorithm ParseHash(const std::string& name) {
  if (name == "sha256") return HashAlgorithm::kSha256;
  if (name == "sha384") return HashAlgorithm::kSha384;
  if (name == "sha512") return HashAlgorithm::kSha512;
  Die(InvalidField("--hash", "must be sha256, sha384 or sha512"), 2);
}

std::vector<Certificate> Roots(const Connection& c) {
  if (c.ca_file.empty())
    Die(InvalidField("--ca-file", "is required: the roots the TSA's certificate must chain to"), 2);
  auto roots = Certificate::ChainFromPem(ReadFileOrDie(c.ca_file));
  if (!roots.ok()) Die(roots.status(), 2);
  return *roots;
}

std::string Time(absl::Time t) { return absl::FormatTime("%Y-%m-%d %H:%M:%E*S UTC", t, absl::UTCTimeZone()); }

void PrintInfo(const TimeStampInfo& info) {
  std::printf("  serial:   %s\n", info.serial_hex.c_str());
  std::printf("  time:     %s\n", Time(info.gen_time).c_str());
  std::printf("  policy:   %s\n", info.policy.c_str());
  std::printf("  imprint:  %s %s\n", info.hash_algorithm.c_str(), HexEncode(info.imprint).c_str());
  std::printf("  TSA:      %s\n", info.tsa_name.empty() ? info.signer_subject.c_str() : info.tsa_name.c_str());
}

void WriteOrDie(const std::string& path, const std::string& content) {
  absl::Status s = WriteFile(path, content, 0644);
  if (!s.ok()) Die(s, 2);
}

int Stamp(const Connection& c, const std::string& file, std::string out, const std::string& hash,
          const std::string& policy) {
  HashAlgorithm alg = ParseHash(hash);
  std::string digest = ComputeDigest(alg, ReadFileOrDie(file));
  std::vector<Certificate> roots = Roots(c);
  std::printf("Time-stamping %s (%s %s) at %s\n", file.c_str(), hash.c_str(), HexEncode(digest).c_str(), c.tsa.c_str());
  std::string nonce = RandomBytes(16);
  auto der = MakeTimeStampRequest(alg, digest, {true, policy, nonce});
  if (!der.ok()) Die(der.status(), 2);
  v1::StampRequest req;
  req.set_request(*der);
  v1::StampResponse resp;
  Call(TsaStub(c)->Stamp(Ctx().get(), req, &resp));
  if (resp.status() != v1::TIME_STAMP_STATUS_GRANTED && resp.status() != v1::TIME_STAMP_STATUS_GRANTED_WITH_MODS) {
    std::string failures;
    for (const auto& f : resp.failure_info()) failures += (failures.empty() ? "" : ", ") + f;
    std::fprintf(stderr, "semperctl: the TSA refused (%s): %s\n", failures.c_str(), resp.status_text().c_str());
    return 1;
  }
  // Checked before it is kept: signature, TSA certificate to the roots, imprint and nonce.
  auto info = VerifyTimeStampToken(resp.response(), digest, roots, {}, nonce);
  if (!info.ok()) Die(Annotate(info.status(), "the TSA's answer"), 1);
  if (out.empty()) out = file + ".tsr";
  WriteOrDie(out, resp.response());
  std::printf("Stamped; the reply (RFC 3161 TimeStampResp) is in %s:\n", out.c_str());
  PrintInfo(*info);
  std::printf("Check it with: semperctl tsa verify %s %s\n", out.c_str(), file.c_str());
  std::printf("           or: openssl ts -verify -data %s -in %s -CAfile %s\n", file.c_str(), out.c_str(),
              c.ca_file.c_str());
  return 0;
}

int Verify(const Connection& c, const std::string& token_file, const std::string& file, const std::string& untrusted) {
  std::string der = ReadFileOrDie(token_file);
  auto claimed = ReadTimeStampToken(der);
  if (!claimed.ok()) Die(claimed.status(), 2);
  HashAlgorithm alg = ParseHash(claimed->hash_algorithm);
  std::string digest = ComputeDigest(alg, ReadFileOrDie(file));
  std::vector<Certificate> extra;
  if (!untrusted.empty()) {
    auto chain = Certificate::ChainFromPem(ReadFileOrDie(untrusted));
    if (!chain.ok()) Die(chain.status(), 2);
    extra = *chain;
  }
  auto info = VerifyTimeStampToken(der, digest, Roots(c), extra);
  if (!info.ok()) {
    std::printf("NOT VERIFIED: %s\n", std::string(info.status().message()).c_str());
    return 3;
  }
  std::printf("Verified: %s existed at the time below.\n", file.c_str());
  PrintInfo(*info);
  return 0;
}

int Lookup(const Connection& c, const std::string& serial, const std::string& file, const std::string& imprint_hex,
           const std::string& out) {
  v1::LookupTokenRequest req;
  req.set_serial(serial);
  if (!file.empty()) {
    req.set_imprint(Sha256(ReadFileOrDie(file)));
  } else {
    const bool hex = !imprint_hex.empty() && imprint_hex.size() % 2 == 0 &&
                     imprint_hex.find_first_not_of("0123456789abcdefABCDEF") == std::string::npos;
    if (!hex) Die(InvalidField("--imprint", "must be the stamped hash in hex"), 2);
    req.set_imprint(absl::HexStringToBytes(imprint_hex));
  }
  v1::TokenRecord r;
  Call(TsaStub(c)->LookupToken(Ctx().get(), req, &r));
  // What is shown and kept is what the token says, checked: the TSA's signature, the imprint asked
  // for, the serial asked for. Only the requester comes from the TSA's record alone.
  auto info = VerifyTimeStampToken(r.token(), req.imprint(), Roots(c));
  if (!info.ok()) Die(Annotate(info.status(), "the TSA's answer"), 3);
  auto same_number = [](std::string_view a, std::string_view b) {
    auto norm = [](std::string_view h) {
      std::string out;
      for (char ch : h) {
        if (out.empty() && ch == '0') continue;
        out.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(ch))));
      }
      return out;
    };
    return norm(a) == norm(b);
  };
  if (!same_number(info->serial_hex, serial)) {
    Die(MakeError(absl::StatusCode::kDataLoss, v1::SIGNATURE_INVALID,
                  StrCat("the TSA's answer: a token with serial ", info->serial_hex, ", not ", serial)),
        3);
  }
  std::printf("  serial:    %s\n", info->serial_hex.c_str());
  std::printf("  time:      %s\n", TimeText(ToTimestamp(info->gen_time)).c_str());
  std::printf("  policy:    %s\n", info->policy.c_str());
  std::printf("  imprint:   %s %s\n", info->hash_algorithm.c_str(), HexEncode(info->imprint).c_str());
  std::printf("  requester: %s (the TSA's record)\n", r.requester().empty() ? "(anonymous)" : r.requester().c_str());
  if (r.batch_tree_size() > 0)
    std::printf("  batch:     root of a tree of %llu stamps\n", static_cast<unsigned long long>(r.batch_tree_size()));
  if (!out.empty()) {
    WriteOrDie(out, r.token());
    std::printf("Token (DER TimeStampToken) written to %s\n", out.c_str());
  }
  return 0;
}

int Batch(const Connection& c, const std::vector<std::string>& files, const std::string& out_dir) {
  v1::StampBatchRequest req;
  for (const std::string& f : files) {
    req.add_imprints(Sha256(ReadFileOrDie(f)));
    std::printf("  %s  %s\n", HexEncode(req.imprints(req.imprints_size() - 1)).c_str(), f.c_str());
  }
  std::vector<Certificate> roots = Roots(c);
  v1::StampBatchResponse resp;
  Call(TsaStub(c)->StampBatch(Ctx().get(), req, &resp));
  if (resp.proofs_size() != static_cast<int>(files.size()))
    Die(absl::InternalError("the TSA answered a wrong number of proofs"));
  for (size_t i = 0; i < files.size(); ++i) {
    const v1::BatchProof& p = resp.proofs(static_cast<int>(i));
    std::vector<std::string> path(p.audit_path().begin(), p.audit_path().end());
    if (p.imprint() != req.imprints(static_cast<int>(i)) ||
        !VerifyMerkleInclusion(p.leaf_index(), p.tree_size(), MerkleLeafHash(p.imprint()), path, p.root())) {
      Die(MakeError(absl::StatusCode::kDataLoss, v1::SIGNATURE_INVALID,
                    StrCat("the proof for ", files[i], " does not verify")));
    }
    auto info = VerifyTimeStampToken(p.root_token(), p.root(), roots);
    if (!info.ok()) Die(Annotate(info.status(), "the batch's root token"));
    std::string json;
    google::protobuf::util::JsonPrintOptions opts;
    opts.add_whitespace = true;
    opts.preserve_proto_field_names = true;
    (void)google::protobuf::util::MessageToJsonString(p, &json, opts);
    std::string out = (fs::path(out_dir) / (fs::path(files[i]).filename().string() + ".proof.json")).string();
    WriteOrDie(out, json);
    if (i == 0) {
      std::printf("Stamped at %s in a tree of %llu (root %s, token serial %s)\n", Time(info->gen_time).c_str(),
                  static_cast<unsigned long long>(p.tree_size()), HexEncode(p.root()).c_str(), p.serial().c_str());
    }
    std::printf("  proof: %s\n", out.c_str());
  }
  return 0;
}

int VerifyProof(const Connection& c, const std::string& proof_file, const std::string& file) {
  v1::BatchProof p;
  auto parsed = google::protobuf::util::JsonStringToMessage(ReadFileOrDie(proof_file), &p);
  if (!parsed.ok())
    Die(MakeError(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT, "not a batch proof (JSON)"), 2);
  std::string imprint = Sha256(ReadFileOrDie(file));
  std::vector<std::string> path(p.audit_path().begin(), p.audit_path().end());
  if (imprint != p.imprint()) {
    std::printf("NOT VERIFIED: the proof is for another file\n");
    return 3;
  }
  if (!VerifyMerkleInclusion(p.leaf_index(), p.tree_size(), MerkleLeafHash(imprint), path, p.root())) {
    std::printf("NOT VERIFIED: the audit path does not lead to the root\n");
    return 3;
  }
  auto info = VerifyTimeStampToken(p.root_token(), p.root(), Roots(c));
  if (!info.ok()) {
    std::printf("NOT VERIFIED: %s\n", std::string(info.status().message()).c_str());
    return 3;
  }
  std::printf("Verified: %s is leaf %llu of %llu under a root time-stamped at %s\n", file.c_str(),
              static_cast<unsigned long long>(p.leaf_index()), static_cast<unsigned long long>(p.tree_size()),
              Time(info->gen_time).c_str());
  PrintInfo(*info);
  return 0;
}

}  // namespace

TsaCommands::TsaCommands(CLI::App& app, Connection& c) : c_(c) {
  app.add_option("--tsa", c.tsa,
                 "semper-tsa address host:port; replicas as IP:port,IP:port or one DNS name (dns:///name:port), "
                 "balanced round robin")
      ->envname("SEMPERCTL_TSA")
      ->capture_default_str();
  auto* tsa = app.add_subcommand("tsa", "time-stamps (RFC 3161): stamp, verify, look up, batch");
  tsa->require_subcommand(1);
  stamp_ = tsa->add_subcommand("stamp", "time-stamp a file: only its hash is sent; the reply is checked and saved");
  stamp_->add_option("file", file_, "the file")->required()->check(CLI::ExistingFile);
  stamp_->add_option("--out", out_, "where to save the reply (default <file>.tsr)");
  stamp_->add_option("--hash", hash_, "sha256, sha384 or sha512")->capture_default_str();
  stamp_->add_option("--policy", policy_, "policy OID to ask for (default: the TSA's)");
  verify_ = tsa->add_subcommand("verify", "check a token (or reply) against a file: exit 0 verified, 3 not");
  verify_->add_option("token", token_, "the .tsr reply or a DER token")->required()->check(CLI::ExistingFile);
  verify_->add_option("file", file_, "the file it should be for")->required()->check(CLI::ExistingFile);
  verify_->add_option("--untrusted", untrusted_, "TSA certificate chain (PEM), if the token does not carry it");
  lookup_ =
      tsa->add_subcommand("lookup", "what the TSA recorded for a serial number (for the holder of the stamped hash)");
  lookup_->add_option("serial", serial_, "hex serial number")->required();
  auto* what = lookup_->add_option("--file", lookup_file_, "the stamped file (its SHA-256 is the imprint)");
  lookup_->add_option("--imprint", lookup_imprint_, "or the stamped hash, hex")->excludes(what);
  lookup_->add_option("--out", out_, "save the recorded token (DER) here");
  batch_ = tsa->add_subcommand("stamp-batch", "time-stamp many files in one Merkle tree; one proof file each");
  batch_->add_option("files", files_, "the files (SHA-256)")->required()->check(CLI::ExistingFile);
  batch_->add_option("--out-dir", out_dir_, "where to write <file>.proof.json")->capture_default_str();
  verify_proof_ = tsa->add_subcommand("verify-proof", "check a batch proof against a file: exit 0 verified, 3 not");
  verify_proof_->add_option("proof", proof_, "the .proof.json")->required()->check(CLI::ExistingFile);
  verify_proof_->add_option("file", file_, "the file")->required()->check(CLI::ExistingFile);
}

std::optional<int> TsaCommands::Run() {
  if (stamp_->parsed()) return Stamp(c_, file_, out_, hash_, policy_);
  if (verify_->parsed()) return Verify(c_, token_, file_, untrusted_);
  if (lookup_->parsed()) {
    if (lookup_file_.empty() && lookup_imprint_.empty()) Die(InvalidField("--file", "or --imprint is required"), 2);
    return Lookup(c_, serial_, lookup_file_, lookup_imprint_, out_);
  }
  if (batch_->parsed()) return Batch(c_, files_, out_dir_);
  if (verify_proof_->parsed()) return VerifyProof(c_, proof_, file_);
  return std::nullopt;
}

}  // namespace semper::ctl
