// Group commit: the one way a daemon commits its main write, one row (or a few) per request, at
// more requests per second than it can afford transactions. The TSA's tokens, the notary's
// evidence entries, the liability book's guarantees, the CA's token redemptions and the
// arbiter's abort/resolve decisions all go through it.
//
// Callers Submit a request with a completion callback. `in_flight` committer threads each take
// everything queued (at most `max_group`) and hand it to the commit function, which decides the
// group in one transaction and fills one result per request. Each request is answered, by the
// committer thread, only after that transaction committed or failed: nothing is acknowledged
// before it is durable.
//
// How the groups form: there is no timer. An idle committer takes a lone request at once; while
// its transaction commits, the requests that arrive wait, and the next free committer takes all
// of them. So a group holds what arrived during the previous commit: groups grow with the load
// and with the commit's latency, not with the number of clients, and when a commit takes 2 ms
// instead of 0.2 ms (a synchronous standby) the groups grow tenfold while the rate holds, up to
// max_group x in_flight per commit time. With in_flight > 1, groups overlap (pipelined): one is
// being decided while another's commit waits for the disk; the commit function must therefore be
// safe to run concurrently with itself (its row locks order the transactions), or in_flight = 1.
// The default is 1: each commit costs the database (and each standby) the same whatever its size,
// and with two in flight there are twice as many commits of half the size for about the same
// latency (measured against a synchronous Patroni cluster: time-stamps +10% over HTTP and +33%
// over gRPC, abort/resolve +30%, with one committer instead of two; README, Group commit).
//
// Metrics (queue label = Options::queue): semper_group_commit_seconds (the commit function's
// time), semper_group_commit_size (requests per group), semper_group_commit_wait_seconds (how
// long the oldest request of a group waited before its commit began), semper_group_commits_total
// and semper_group_commit_requests_total by outcome, and semper_group_commit_queued (requests
// left waiting when a group was taken).
//
// Shutdown: the destructor (or Stop) commits everything submitted before it, answers it, and
// joins the committers; a request submitted after that is answered UNAVAILABLE at once.
// Thread-safe.
#pragma once

#include <algorithm>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/server/metrics.h"

namespace semper::db {

struct GroupCommitOptions {
  std::string queue;                 // the metrics' label, e.g. "tsa_tokens"
  size_t max_group = 1000;           // most requests in one transaction
  int in_flight = 1;                 // groups being committed at once (each holds a database connection)
  std::shared_ptr<Metrics> metrics;  // may be null
};

// Result must be constructible from absl::Status (absl::Status, absl::StatusOr<T>).
template <typename Request, typename Result>
class GroupCommitter {
 public:
  using Done = std::function<void(Result)>;
  // Decides one group, usually in one transaction: sets results[i] for group[i] and returns the
  // transaction's status. A failed status answers every request of the group with it; a result
  // left unset answers INTERNAL.
  using Commit = std::function<absl::Status(std::vector<Request>& group, std::vector<Result>& results)>;

  GroupCommitter(GroupCommitOptions options, Commit commit) : o_(std::move(options)), commit_(std::move(commit)) {
    o_.max_group = std::max<size_t>(1, o_.max_group);
    for (int i = 0; i < std::max(1, o_.in_flight); ++i) threads_.emplace_back([this] { Loop(); });
  }
  GroupCommitter(const GroupCommitter&) = delete;
  GroupCommitter& operator=(const GroupCommitter&) = delete;
  ~GroupCommitter() { Stop(); }

  // Commits and answers everything submitted so far, then stops the committers. Idempotent; call
  // it from one thread (the owner's destructor).
  void Stop() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

  // `done` runs on a committer thread once the request's group is decided; it must not block on
  // another request of this committer.
  void Submit(Request request, Done done) {
    {
      absl::MutexLock lock(&mu_);
      if (!stopping_) {
        queue_.push_back(Queued{std::move(request), std::move(done), absl::Now()});
        return;
      }
    }
    done(Result(absl::UnavailableError("this daemon is stopping: ask again (another replica, or after its restart)")));
  }

  // Submit, and wait for the answer.
  Result Wait(Request request) {
    std::promise<Result> answered;
    auto answer = answered.get_future();
    Submit(std::move(request), [&answered](Result r) { answered.set_value(std::move(r)); });
    return answer.get();
  }

 private:
  struct Queued {
    Request request;
    Done done;
    absl::Time since;
  };

  bool Ready() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || !queue_.empty(); }

  void Loop() {
    for (;;) {
      std::vector<Request> group;
      std::vector<Done> dones;
      absl::Time oldest;
      size_t left = 0;
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(this, &GroupCommitter::Ready));
        if (queue_.empty()) return;  // stopping, and everything submitted is answered
        oldest = queue_.front().since;
        const size_t n = std::min(queue_.size(), o_.max_group);
        group.reserve(n);
        dones.reserve(n);
        for (size_t i = 0; i < n; ++i) {
          group.push_back(std::move(queue_.front().request));
          dones.push_back(std::move(queue_.front().done));
          queue_.pop_front();
        }
        left = queue_.size();
      }
      const absl::Time start = absl::Now();
      std::vector<Result> results(group.size(),
                                  Result(absl::InternalError("the group commit left this request undecided")));
      absl::Status s = commit_(group, results);
      if (s.ok() && results.size() != group.size()) {
        s = absl::InternalError("the group commit answered a different number of requests");
      }
      Observe(group.size(), left, start - oldest, absl::Now() - start, s.ok());
      for (size_t i = 0; i < dones.size(); ++i) dones[i](s.ok() ? std::move(results[i]) : Result(s));
    }
  }

  void Observe(size_t size, size_t left, absl::Duration waited, absl::Duration took, bool ok) const {
    Metrics* m = o_.metrics.get();
    if (m == nullptr) return;
    const Labels queue = {{"queue", o_.queue}};
    const Labels outcome = {{"queue", o_.queue}, {"ok", ok ? "true" : "false"}};
    m->Observe("semper_group_commit_seconds", "time to decide and commit one group", queue,
               absl::ToDoubleSeconds(took));
    m->Observe("semper_group_commit_size", "requests decided in one group commit", queue, static_cast<double>(size),
               Metrics::CountBuckets());
    m->Observe("semper_group_commit_wait_seconds", "how long the oldest request of a group waited for a committer",
               queue, absl::ToDoubleSeconds(waited));
    m->AddCounter("semper_group_commits_total", "group commits", outcome);
    m->AddCounter("semper_group_commit_requests_total", "requests decided by group commits", outcome,
                  static_cast<double>(size));
    m->SetGauge("semper_group_commit_queued", "requests left waiting when the last group was taken", queue,
                static_cast<double>(left));
  }

  GroupCommitOptions o_;
  const Commit commit_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<Queued> queue_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> threads_;  // set in the constructor, joined by Stop
};

}  // namespace semper::db
