// The clock every time-dependent decision reads (validity, deadlines, expiry, freshness), so that
// tests move time instead of sleeping. Daemons use SystemClock(); tests a ManualClock. SQL that
// decides by time takes the clock's reading as a parameter instead of calling now().
#pragma once

#include <functional>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace semper {

using Clock = std::function<absl::Time()>;

inline Clock SystemClock() {
  return [] { return absl::Now(); };
}

// A clock that stands still until a test moves it. Thread-safe; must outlive the Clock it gives.
class ManualClock {
 public:
  explicit ManualClock(absl::Time start = absl::Now()) : now_(start) {}
  absl::Time Now() const {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }
  void Set(absl::Time t) {
    absl::MutexLock lock(&mu_);
    now_ = t;
  }
  Clock AsClock() {
    return [this] { return Now(); };
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace semper
