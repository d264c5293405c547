// Group-committed appends, tree heads and proofs.
#include "services/notary/log.h"

#include <future>

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include "common/base/proto_json.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/crypto/digest.h"
#include "common/crypto/random.h"
#include "common/db/values.h"

namespace semper::notary {
namespace {

using google::protobuf::util::TimeUtil;


v1::SignedTreeHead HeadFromRow(const pqxx::row& r) {
  v1::SignedTreeHead h;
  h.set_tree_size(r[0].as<uint64_t>());
  h.set_root_hash(db::Bytes(r[1]));
  h.set_statement(db::Bytes(r[2]));
  h.set_signature(db::Bytes(r[3]));
  return h;
}

}  // namespace

std::vector<db::PreparedStatement> EvidenceLog::Statements() {
  return {
      {"notary_lock_head", "SELECT size FROM notary.log_head FOR UPDATE"},
      {"notary_set_head", "UPDATE notary.log_head SET size = $1"},
      {"notary_insert_entries",
       R"(INSERT INTO notary.log_entries (index, kind, statement, signature)
          SELECT i, k, decode(s, 'hex'), decode(g, 'hex')
          FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[]) AS u(i, k, s, g))"},
      {"notary_entries_from",
       "SELECT index, statement FROM notary.log_entries WHERE index >= $1 AND index < $2 ORDER BY index"},
      {"notary_entry", "SELECT kind, statement, signature FROM notary.log_entries WHERE index = $1"},
      {"notary_entry_by_statement",
       "SELECT index FROM notary.log_entries WHERE kind = $1 AND sha256(statement) = sha256(decode($2, 'hex')) AND "
       "statement = decode($2, 'hex') ORDER BY index LIMIT 1"},
      {"notary_size", "SELECT size FROM notary.log_head"},
      {"notary_insert_head",
       R"(INSERT INTO notary.tree_heads (tree_size, root_hash, statement, signature)
          VALUES ($1, decode($2, 'hex'), decode($3, 'hex'), decode($4, 'hex')) ON CONFLICT DO NOTHING)"},
      {"notary_head", "SELECT tree_size, root_hash, statement, signature FROM notary.tree_heads WHERE tree_size = $1"},
      {"notary_latest_head",
       "SELECT tree_size, root_hash, statement, signature FROM notary.tree_heads ORDER BY tree_size DESC LIMIT 1"},
      {"notary_all_heads", "SELECT tree_size, root_hash FROM notary.tree_heads ORDER BY tree_size"},
      {"notary_all_entries", "SELECT index, statement, signature FROM notary.log_entries ORDER BY index"},
  };
}

EvidenceLog::EvidenceLog(db::ConnectionPool* pool, Signer sign, std::shared_ptr<Metrics> metrics, size_t max_batch)
    : pool_(pool), sign_(std::move(sign)), metrics_(std::move(metrics)), max_batch_(max_batch),
      thread_([this] { Loop(); }) {}

EvidenceLog::~EvidenceLog() {
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

absl::Status EvidenceLog::CatchUpLocked(uint64_t size) {
  if (tree_.size() >= size) return absl::OkStatus();
  return pool_->Read([&](pqxx::nontransaction& tx) -> absl::Status {
    auto rows = tx.exec_prepared("notary_entries_from", static_cast<int64_t>(tree_.size()), static_cast<int64_t>(size));
    for (const auto& r : rows) {
      if (r[0].as<uint64_t>() != tree_.size()) {
        return MakeError(absl::StatusCode::kDataLoss, v1::INTERNAL_ERROR,
                         StrCat("evidence log entry ", tree_.size(), " is missing from the database"));
      }
      tree_.Append(MerkleLeafHash(db::Bytes(r[1])));
    }
    if (tree_.size() < size) {
      return MakeError(absl::StatusCode::kDataLoss, v1::INTERNAL_ERROR,
                       StrCat("evidence log entry ", tree_.size(), " is missing from the database"));
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::SignedTreeHead> EvidenceLog::SignTreeHeadLocked(uint64_t size) {
  v1::TreeHeadStatement st;
  st.set_type("semper-notary-tree-head");
  st.set_tree_size(size);
  st.set_root_hash(tree_.Root(size));
  *st.mutable_timestamp() = TimeUtil::GetCurrentTime();
  std::string json = StatementJson(st);
  SEMPER_ASSIGN_OR_RETURN(std::string signature, sign_(json));
  v1::SignedTreeHead head;
  head.set_tree_size(size);
  head.set_root_hash(st.root_hash());
  head.set_statement(json);
  head.set_signature(signature);
  SEMPER_RETURN_IF_ERROR(pool_->Transact([&](pqxx::work& tx) -> absl::Status {
    tx.exec_prepared0("notary_insert_head", static_cast<int64_t>(size), HexEncode(head.root_hash()), HexEncode(json),
                      HexEncode(signature));
    return absl::OkStatus();
  }));
  if (!latest_ || latest_->tree_size() < size) latest_ = head;
  return head;
}

absl::Status EvidenceLog::Load() {
  uint64_t size = 0;
  SEMPER_RETURN_IF_ERROR(pool_->Read([&](pqxx::nontransaction& tx) -> absl::Status {
    size = tx.exec_prepared1("notary_size")[0].as<uint64_t>();
    return absl::OkStatus();
  }));
  std::lock_guard<std::mutex> lock(tree_mu_);
  SEMPER_RETURN_IF_ERROR(CatchUpLocked(size));
  auto head = TreeHead(size);
  if (head.ok()) {
    latest_ = *head;
    if (head->root_hash() != tree_.Root(size)) {
      return MakeError(absl::StatusCode::kDataLoss, v1::INTERNAL_ERROR,
                       StrCat("the stored entries do not match the signed tree head of size ", size,
                              ": the evidence log was changed outside the notary"));
    }
    return absl::OkStatus();
  }
  if (head.status().code() != absl::StatusCode::kNotFound) return head.status();
  return SignTreeHeadLocked(size).status();
}

absl::StatusOr<v1::SignedTreeHead> EvidenceLog::TreeHead(uint64_t size) {
  v1::SignedTreeHead head;
  SEMPER_RETURN_IF_ERROR(pool_->Read([&](pqxx::nontransaction& tx) -> absl::Status {
    auto r = tx.exec_prepared("notary_head", static_cast<int64_t>(size));
    if (r.empty()) {
      return MakeError(absl::StatusCode::kNotFound, v1::NOT_FOUND, StrCat("no signed tree head of size ", size));
    }
    head = HeadFromRow(r[0]);
    return absl::OkStatus();
  }));
  return head;
}

absl::StatusOr<v1::SignedTreeHead> EvidenceLog::LatestTreeHead() {
  v1::SignedTreeHead head;
  SEMPER_RETURN_IF_ERROR(pool_->Read([&](pqxx::nontransaction& tx) -> absl::Status {
    auto r = tx.exec_prepared("notary_latest_head");
    if (r.empty()) return MakeError(absl::StatusCode::kNotFound, v1::NOT_FOUND, "no signed tree head yet");
    head = HeadFromRow(r[0]);
    return absl::OkStatus();
  }));
  return head;
}

void EvidenceLog::Append(NewEntry entry, std::function<void(absl::StatusOr<v1::Evidence>)> done) {
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    queue_.emplace_back(std::move(entry), std::move(done));
  }
  cv_.notify_one();
}

absl::StatusOr<v1::Evidence> EvidenceLog::Append(NewEntry entry) {
  std::promise<absl::StatusOr<v1::Evidence>> result;
  auto future = result.get_future();
  Append(std::move(entry), [&result](absl::StatusOr<v1::Evidence> e) { result.set_value(std::move(e)); });
  return future.get();
}

absl::StatusOr<v1::Evidence> EvidenceLog::AppendOnce(NewEntry entry) {
  const std::string digest = Sha256(entry.statement);
  std::lock_guard<std::mutex> once(once_mu_[static_cast<unsigned char>(digest[0]) % std::size(once_mu_)]);
  int64_t found = -1;
  SEMPER_RETURN_IF_ERROR(pool_->Read([&](pqxx::nontransaction& tx) -> absl::Status {
    auto r = tx.exec_prepared("notary_entry_by_statement", entry.kind, HexEncode(entry.statement));
    if (!r.empty()) found = r[0][0].as<int64_t>();
    return absl::OkStatus();
  }));
  if (found >= 0) return Get(static_cast<uint64_t>(found), 0);
  return Append(std::move(entry));
}

void EvidenceLog::Loop() {
  for (;;) {
    std::vector<std::pair<NewEntry, std::function<void(absl::StatusOr<v1::Evidence>)>>> group;
    {
      std::unique_lock<std::mutex> lock(queue_mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;
      while (!queue_.empty() && group.size() < max_batch_) {
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    absl::Time start = absl::Now();
    uint64_t first = 0;
    absl::Status s = pool_->Transact([&](pqxx::work& tx) -> absl::Status {
      first = tx.exec_prepared1("notary_lock_head")[0].as<uint64_t>();
      std::vector<std::string> index, kind, statement, signature;
      for (size_t i = 0; i < group.size(); ++i) {
        index.push_back(StrCat(first + i));
        kind.push_back(group[i].first.kind);
        statement.push_back(HexEncode(group[i].first.statement));
        signature.push_back(HexEncode(group[i].first.signature));
      }
      tx.exec_prepared0("notary_insert_entries", db::TextArray(index), db::TextArray(kind), db::TextArray(statement),
                        db::TextArray(signature));
      tx.exec_prepared0("notary_set_head", static_cast<int64_t>(first + group.size()));
      return absl::OkStatus();
    });
    std::vector<std::string> leaf_hashes;
    for (const auto& g : group) leaf_hashes.push_back(MerkleLeafHash(g.first.statement));
    std::vector<absl::StatusOr<v1::Evidence>> answers;
    if (s.ok()) {
      std::lock_guard<std::mutex> lock(tree_mu_);
      const uint64_t end = first + group.size();
      if (tree_.size() == first) {
        for (const std::string& h : leaf_hashes) tree_.Append(h);
      } else {
        s = CatchUpLocked(end);  // another replica appended meanwhile
      }
      absl::StatusOr<v1::SignedTreeHead> head = s.ok() ? SignTreeHeadLocked(tree_.size()) : s;
      for (size_t i = 0; i < group.size(); ++i) {
        if (!head.ok()) {
          answers.push_back(head.status());
          continue;
        }
        v1::Evidence e;
        e.set_index(first + i);
        e.set_kind(group[i].first.kind);
        e.set_statement(group[i].first.statement);
        e.set_signature(group[i].first.signature);
        e.set_leaf_hash(leaf_hashes[i]);
        auto* proof = e.mutable_inclusion();
        proof->set_leaf_index(first + i);
        proof->set_tree_size(head->tree_size());
        for (auto& h : tree_.InclusionProof(first + i, head->tree_size())) proof->add_audit_path(std::move(h));
        *e.mutable_tree_head() = *head;
        answers.push_back(std::move(e));
      }
    } else {
      answers.assign(group.size(), s);
    }
    if (metrics_) {
      metrics_->Observe("semper_notary_append_seconds", "time of one group append with its tree head", {},
                        absl::ToDoubleSeconds(absl::Now() - start));
      metrics_->AddCounter("semper_notary_entries_total", "evidence entries appended", {{"ok", s.ok() ? "true" : "false"}},
                           static_cast<double>(group.size()));
    }
    for (size_t i = 0; i < group.size(); ++i) group[i].second(std::move(answers[i]));
  }
}

absl::StatusOr<v1::Evidence> EvidenceLog::Get(uint64_t index, uint64_t tree_size) {
  SEMPER_ASSIGN_OR_RETURN(v1::SignedTreeHead head, tree_size == 0 ? LatestTreeHead() : TreeHead(tree_size));
  if (index >= head.tree_size()) {
    return MakeError(absl::StatusCode::kNotFound, v1::NOT_FOUND,
                     StrCat("entry ", index, " is not in the tree of size ", head.tree_size()));
  }
  v1::Evidence e;
  SEMPER_RETURN_IF_ERROR(pool_->Read([&](pqxx::nontransaction& tx) -> absl::Status {
    auto r = tx.exec_prepared("notary_entry", static_cast<int64_t>(index));
    if (r.empty()) return MakeError(absl::StatusCode::kDataLoss, v1::INTERNAL_ERROR, StrCat("entry ", index, " is missing"));
    e.set_kind(r[0][0].as<std::string>());
    e.set_statement(db::Bytes(r[0][1]));
    e.set_signature(db::Bytes(r[0][2]));
    e.set_leaf_hash(MerkleLeafHash(e.statement()));
    return absl::OkStatus();
  }));
  e.set_index(index);
  std::lock_guard<std::mutex> lock(tree_mu_);
  SEMPER_RETURN_IF_ERROR(CatchUpLocked(head.tree_size()));
  auto* proof = e.mutable_inclusion();
  proof->set_leaf_index(index);
  proof->set_tree_size(head.tree_size());
  for (auto& h : tree_.InclusionProof(index, head.tree_size())) proof->add_audit_path(std::move(h));
  *e.mutable_tree_head() = head;
  return e;
}

absl::StatusOr<v1::ConsistencyProof> EvidenceLog::Consistency(uint64_t old_size, uint64_t new_size) {
  SEMPER_ASSIGN_OR_RETURN(v1::SignedTreeHead head, new_size == 0 ? LatestTreeHead() : TreeHead(new_size));
  if (old_size > head.tree_size()) {
    return InvalidField("old_size", StrCat("must be at most the new size ", head.tree_size()));
  }
  v1::ConsistencyProof out;
  out.set_old_size(old_size);
  out.set_new_size(head.tree_size());
  std::lock_guard<std::mutex> lock(tree_mu_);
  SEMPER_RETURN_IF_ERROR(CatchUpLocked(head.tree_size()));
  for (auto& h : tree_.ConsistencyProof(old_size, head.tree_size())) out.add_proof(std::move(h));
  *out.mutable_new_tree_head() = head;
  return out;
}

absl::StatusOr<v1::AuditLogResponse> EvidenceLog::Audit(
    const std::function<bool(std::string_view statement, std::string_view signature)>& verify) {
  v1::AuditLogResponse out;
  MerkleLog fresh;
  std::vector<std::pair<uint64_t, std::string>> heads;
  SEMPER_RETURN_IF_ERROR(pool_->Read([&](pqxx::nontransaction& tx) -> absl::Status {
    for (const auto& r : tx.exec_prepared("notary_all_entries")) {
      uint64_t index = r[0].as<uint64_t>();
      while (fresh.size() < index) {  // a removed row: its place stays wrong
        out.add_bad_entries(fresh.size());
        fresh.Append(std::string(32, '\0'));
      }
      std::string statement = db::Bytes(r[1]);
      if (!verify(statement, db::Bytes(r[2]))) out.add_bad_entries(index);
      fresh.Append(MerkleLeafHash(statement));
    }
    for (const auto& r : tx.exec_prepared("notary_all_heads")) heads.emplace_back(r[0].as<uint64_t>(), db::Bytes(r[1]));
    return absl::OkStatus();
  }));
  for (const auto& [size, root] : heads) {
    if (size > fresh.size() || fresh.Root(size) != root) out.add_inconsistent_tree_heads(size);
  }
  out.set_tree_size(fresh.size());
  out.set_ok(out.bad_entries_size() == 0 && out.inconsistent_tree_heads_size() == 0);
  return out;
}

}  // namespace semper::notary
