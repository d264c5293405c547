// Whether the system clock may be trusted for time-stamps. Thread-safe.
#pragma once

#include "absl/status/status.h"

namespace semper::tsa {

// The kernel's NTP state (ntp_adjtime): OK while an NTP daemon (chrony, systemd-timesyncd, ntpd)
// keeps the clock synchronised; UNAVAILABLE with the reason while the kernel reports TIME_ERROR
// or STA_UNSYNC.
absl::Status KernelClockSynchronized();

}  // namespace semper::tsa
