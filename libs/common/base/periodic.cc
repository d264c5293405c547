#include "common/base/periodic.h"

namespace semper {

Periodic::Periodic(absl::Duration interval, std::function<void()> task) {
  thread_ = std::thread([this, interval, task = std::move(task)] {
    absl::MutexLock lock(&mu_);
    while (!mu_.AwaitWithTimeout(absl::Condition(&stopping_), interval)) {
      mu_.Unlock();
      task();
      mu_.Lock();
    }
  });
}

Periodic::~Periodic() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

}  // namespace semper
