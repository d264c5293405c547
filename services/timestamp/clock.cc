// ntp_adjtime with no modes only reads the kernel's state.
#include "services/timestamp/clock.h"

#include <sys/timex.h>

#include "common/base/status.h"
#include "common/base/strings.h"

namespace semper::tsa {

absl::Status KernelClockSynchronized() {
  timex tx{};
  int state = ntp_adjtime(&tx);
  if (state == -1) {
    return MakeError(absl::StatusCode::kUnavailable, v1::DEPENDENCY_UNAVAILABLE,
                     "cannot read the kernel's clock state");
  }
  if (state == TIME_ERROR || (tx.status & STA_UNSYNC) != 0) {
    return MakeError(
        absl::StatusCode::kUnavailable, v1::DEPENDENCY_UNAVAILABLE,
        StrCat("the kernel reports the clock unsynchronised (ntp state ", state,
               "); start chrony or systemd-timesyncd (for development only: tsa.clock_check = \"warn\" stamps anyway "
               "and says so)"));
  }
  return absl::OkStatus();
}

}  // namespace semper::tsa
