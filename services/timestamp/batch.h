// Batch mode: imprints from every StampBatch call within a window become the leaves of one RFC
// 9162 Merkle tree whose root gets one ordinary RFC 3161 token; each caller gets that token and
// an inclusion proof per imprint. The tree (root token and leaves) is committed before any proof
// leaves. Thread-safe.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
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
  const TimeStampAuthority* tsa_;
  TokenCommitter* committer_;
  const absl::Duration window_;
  const size_t max_leaves_;
  // A std::condition_variable on the steady clock: the window must not stretch when the wall
  // clock is set back (absl::Mutex's timed waits follow the wall clock in this abseil). mu_
  // guards queue_, queued_leaves_ and stopping_.
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<std::vector<std::string>, Done>> queue_;
  size_t queued_leaves_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace semper::tsa
