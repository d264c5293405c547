// Batch mode: imprints from every StampBatch call within a window become the leaves of one RFC
// 9162 Merkle tree whose root gets one ordinary RFC 3161 token; each caller gets that token and
// an inclusion proof per imprint. The tree (root token and leaves) is committed before any proof
// leaves. Thread-safe.
#pragma once

#include <deque>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "semper/v1/tsa.pb.h"
#include "services/timestamp/store.h"
#include "services/timestamp/tsa.h"

namespace semper::tsa {

class Batcher {
 public:
  using Done = std::function<void(absl::StatusOr<std::vector<v1::BatchProof>>)>;
  Batcher(const TimeStampAuthority* tsa, TokenCommitter* committer, absl::Duration window, size_t max_leaves);
  ~Batcher();  // answers what was submitted, then stops

  // `imprints` are 32-byte SHA-256 values (checked by the caller).
  void Submit(std::vector<std::string> imprints, Done done);

 private:
  void Loop();
  bool HasWork() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || !queue_.empty(); }
  bool TreeFull() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || queued_leaves_ >= max_leaves_; }
  const TimeStampAuthority* tsa_;
  TokenCommitter* committer_;
  const absl::Duration window_;
  const size_t max_leaves_;
  absl::Mutex mu_;
  std::deque<std::pair<std::vector<std::string>, Done>> queue_ ABSL_GUARDED_BY(mu_);
  size_t queued_leaves_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace semper::tsa
