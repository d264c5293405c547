// The group committer on its own (no database): answers, grouping, failures, pipelining, shutdown
// and metrics. The five daemons' tests exercise it against PostgreSQL.
#include "common/db/group_commit.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"

namespace semper::db {
namespace {

using Committer = GroupCommitter<int, absl::StatusOr<int>>;

GroupCommitOptions Named(size_t max_group, int in_flight, std::shared_ptr<Metrics> metrics = nullptr) {
  return GroupCommitOptions{"test_queue", max_group, in_flight, std::move(metrics)};
}

// Collects answers: request -> result, from committer threads.
class Answers {
 public:
  Committer::Done For(int request) {
    return [this, request](absl::StatusOr<int> r) {
      absl::MutexLock lock(&mu_);
      got_.emplace_back(request, std::move(r));
    };
  }
  std::vector<std::pair<int, absl::StatusOr<int>>> WaitFor(size_t n) {
    absl::MutexLock lock(&mu_);
    want_ = n;
    mu_.AwaitWithTimeout(
        absl::Condition(
            +[](Answers* a) ABSL_EXCLUSIVE_LOCKS_REQUIRED(a->mu_) { return a->got_.size() >= a->want_; }, this),
        absl::Seconds(30));
    return got_;
  }

 private:
  absl::Mutex mu_;
  size_t want_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::pair<int, absl::StatusOr<int>>> got_ ABSL_GUARDED_BY(mu_);
};

TEST(GroupCommitTest, EachRequestGetsItsOwnResultAfterItsGroupCommitted) {
  std::atomic<int> committed{0};
  Answers answers;
  {
    Committer c(Named(1000, 2), [&](std::vector<int>& group, std::vector<absl::StatusOr<int>>& results) {
      for (size_t i = 0; i < group.size(); ++i) results[i] = group[i] * 10;
      committed += static_cast<int>(group.size());
      return absl::OkStatus();
    });
    for (int i = 0; i < 500; ++i) c.Submit(i, answers.For(i));
    EXPECT_EQ(c.Wait(7), absl::StatusOr<int>(70));
  }
  auto got = answers.WaitFor(500);
  ASSERT_EQ(got.size(), 500u);
  for (const auto& [request, result] : got) {
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(*result, request * 10);
  }
  EXPECT_EQ(committed.load(), 501);
}

// What arrives while a commit is in flight is the next group, whole (up to max_group): groups
// grow with the load, and a lone request is committed at once.
TEST(GroupCommitTest, WhatArrivesDuringACommitIsTheNextGroup) {
  absl::Notification first_started, release_first;
  absl::Mutex mu;
  std::vector<size_t> sizes;
  Committer c(Named(150, 1), [&](std::vector<int>& group, std::vector<absl::StatusOr<int>>& results) {
    {
      absl::MutexLock lock(&mu);
      sizes.push_back(group.size());
    }
    if (!first_started.HasBeenNotified()) {
      first_started.Notify();
      release_first.WaitForNotification();
    }
    for (size_t i = 0; i < group.size(); ++i) results[i] = group[i];
    return absl::OkStatus();
  });
  Answers answers;
  c.Submit(0, answers.For(0));
  first_started.WaitForNotification();  // the lone request is being committed alone
  for (int i = 1; i <= 200; ++i) c.Submit(i, answers.For(i));
  release_first.Notify();
  ASSERT_EQ(answers.WaitFor(201).size(), 201u);
  absl::MutexLock lock(&mu);
  EXPECT_THAT(sizes, ::testing::ElementsAre(1, 150, 50));
}

TEST(GroupCommitTest, AFailedCommitAnswersTheWholeGroupWithItsStatus) {
  absl::Notification started, release;
  Committer c(Named(1000, 1), [&](std::vector<int>& /*group*/, std::vector<absl::StatusOr<int>>& results) {
    if (!started.HasBeenNotified()) {
      started.Notify();
      release.WaitForNotification();
      return absl::OkStatus();  // leaves the result unset: INTERNAL, never OK
    }
    results[0] = 1;  // set, but the transaction failed: nobody gets it
    return absl::UnavailableError("database gone");
  });
  Answers answers;
  c.Submit(0, answers.For(0));
  started.WaitForNotification();
  for (int i = 1; i <= 10; ++i) c.Submit(i, answers.For(i));
  release.Notify();
  auto got = answers.WaitFor(11);
  ASSERT_EQ(got.size(), 11u);
  for (const auto& [request, result] : got) {
    if (request == 0) {
      EXPECT_EQ(result.status().code(), absl::StatusCode::kInternal);
    } else {
      EXPECT_EQ(result.status(), absl::UnavailableError("database gone"));
    }
  }
}

// in_flight = 2: a second group is decided while the first still commits (pipelined).
TEST(GroupCommitTest, TwoGroupsAreInFlightAtOnce) {
  std::atomic<int> running{0}, most{0};
  absl::Notification two_running;
  Committer c(Named(1, 2), [&](std::vector<int>& group, std::vector<absl::StatusOr<int>>& results) {
    int now = ++running;
    most = std::max(most.load(), now);
    if (now == 2) two_running.Notify();
    two_running.WaitForNotificationWithTimeout(absl::Seconds(30));
    results[0] = group[0];
    --running;
    return absl::OkStatus();
  });
  Answers answers;
  c.Submit(1, answers.For(1));
  c.Submit(2, answers.For(2));
  ASSERT_EQ(answers.WaitFor(2).size(), 2u);
  EXPECT_EQ(most.load(), 2);
}

TEST(GroupCommitTest, StopAnswersEverythingSubmittedAndRefusesWhatComesAfter) {
  Answers answers;
  std::atomic<int> committed{0};
  auto c =
      std::make_unique<Committer>(Named(7, 2), [&](std::vector<int>& group, std::vector<absl::StatusOr<int>>& results) {
        absl::SleepFor(absl::Microseconds(200));
        for (size_t i = 0; i < group.size(); ++i) results[i] = group[i];
        committed += static_cast<int>(group.size());
        return absl::OkStatus();
      });
  for (int i = 0; i < 300; ++i) c->Submit(i, answers.For(i));
  c->Stop();
  EXPECT_EQ(committed.load(), 300);
  EXPECT_EQ(answers.WaitFor(300).size(), 300u);
  absl::StatusOr<int> late = c->Wait(1000);
  EXPECT_EQ(late.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(committed.load(), 300);
}

TEST(GroupCommitTest, ConcurrentSubmittersAllAnsweredOnce) {
  std::atomic<int> committed{0};
  Committer c(Named(64, 2), [&](std::vector<int>& group, std::vector<absl::StatusOr<int>>& results) {
    absl::SleepFor(absl::Microseconds(100));
    for (size_t i = 0; i < group.size(); ++i) results[i] = group[i] + 1;
    committed += static_cast<int>(group.size());
    return absl::OkStatus();
  });
  std::atomic<int> wrong{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 8; ++t) {
    clients.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        int request = t * 1000 + i;
        auto r = c.Wait(request);
        if (!r.ok() || *r != request + 1) ++wrong;
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(committed.load(), 1600);
}

TEST(GroupCommitTest, MetricsNameTheQueue) {
  auto metrics = std::make_shared<Metrics>();
  {
    Committer c(Named(10, 1, metrics), [&](std::vector<int>& group, std::vector<absl::StatusOr<int>>& results) {
      for (size_t i = 0; i < group.size(); ++i) results[i] = group[i];
      return absl::OkStatus();
    });
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(c.Wait(i).ok());
  }
  const std::string text = metrics->Render();
  EXPECT_THAT(text, ::testing::HasSubstr("semper_group_commits_total{queue=\"test_queue\",ok=\"true\"} 3"));
  EXPECT_THAT(text, ::testing::HasSubstr("semper_group_commit_requests_total{queue=\"test_queue\",ok=\"true\"} 3"));
  EXPECT_THAT(text, ::testing::HasSubstr("semper_group_commit_size_bucket{queue=\"test_queue\",le=\"1\"} 3"));
  EXPECT_THAT(text, ::testing::HasSubstr("semper_group_commit_seconds_count{queue=\"test_queue\"} 3"));
  EXPECT_THAT(text, ::testing::HasSubstr("semper_group_commit_wait_seconds_count{queue=\"test_queue\"} 3"));
}

}  // namespace
}  // namespace semper::db
