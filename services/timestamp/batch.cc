// One tree per window.
#include "services/timestamp/batch.h"

#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/crypto/merkle.h"

namespace semper::tsa {

Batcher::Batcher(const TimeStampAuthority* tsa, TokenCommitter* committer, absl::Duration window, size_t max_leaves)
    : tsa_(tsa), committer_(committer), window_(window), max_leaves_(max_leaves), thread_([this] { Loop(); }) {}

Batcher::~Batcher() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Batcher::Submit(std::vector<std::string> imprints, Done done) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queued_leaves_ += imprints.size();
    queue_.emplace_back(std::move(imprints), std::move(done));
  }
  cv_.notify_one();
}

void Batcher::Loop() {
  for (;;) {
    std::vector<std::pair<std::vector<std::string>, Done>> calls;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;
      // The window opens with the first call: later calls join until it closes or the tree is full.
      auto deadline = std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(window_);
      cv_.wait_until(lock, deadline, [this] { return stopping_ || queued_leaves_ >= max_leaves_; });
      size_t leaves = 0;
      while (!queue_.empty() && (calls.empty() || leaves + queue_.front().first.size() <= max_leaves_)) {
        leaves += queue_.front().first.size();
        queued_leaves_ -= queue_.front().first.size();
        calls.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    std::vector<std::string> leaf_hashes;
    std::string leaves;
    for (const auto& c : calls) {
      for (const std::string& imprint : c.first) {
        leaf_hashes.push_back(MerkleLeafHash(imprint));
        leaves += imprint;
      }
    }
    MerkleTree tree(std::move(leaf_hashes));
    Stamped root = tsa_->StampDigest(tree.root());
    absl::Status status = absl::OkStatus();
    if (!root.granted()) {
      // A certificate not valid now waits for the operator; anything else may pass (a clock not
      // synchronised, a serial block or a signature that failed once).
      status = root.certificate_not_valid ? MakeError(absl::StatusCode::kFailedPrecondition, v1::WRONG_STATE,
                                                      StrCat("the TSA refused to stamp the batch: ", root.status_text))
                                          : MakeError(absl::StatusCode::kUnavailable, v1::DEPENDENCY_UNAVAILABLE,
                                                      StrCat("the TSA refused to stamp the batch: ", root.status_text));
    } else {
      TokenRow row;
      row.serial = std::stoull(root.serial_hex, nullptr, 16);
      row.gen_time = root.gen_time;
      row.hash_algorithm = root.hash_algorithm;
      row.imprint = root.imprint;
      row.policy = root.policy;
      row.token_der = root.stored_token_der;
      row.cert_req = root.cert_req;
      row.batch_tree_size = tree.size();
      row.batch_leaves = std::move(leaves);
      status = committer_->Wait(std::move(row));
    }
    uint64_t index = 0;
    for (auto& c : calls) {
      if (!status.ok()) {
        c.second(status);
        index += c.first.size();
        continue;
      }
      std::vector<v1::BatchProof> proofs;
      proofs.reserve(c.first.size());
      for (std::string& imprint : c.first) {
        v1::BatchProof& p = proofs.emplace_back();
        p.set_leaf_index(index);
        p.set_tree_size(tree.size());
        for (std::string& h : tree.AuditPath(index)) p.add_audit_path(std::move(h));
        p.set_imprint(std::move(imprint));
        p.set_root_token(root.token_der);
        p.set_root(tree.root());
        p.set_serial(root.serial_hex);
        ++index;
      }
      c.second(std::move(proofs));
    }
  }
}

}  // namespace semper::tsa
