// LD_PRELOAD library for tests: the kernel's NTP state as SEMPER_TEST_KERNEL_CLOCK says
// ("unsynchronised", anything else: synchronised), so that semper-tsa's clock check
// (tsa.clock_check = "kernel", which asks ntp_adjtime) is tried both ways on any host, whatever its
// real clock daemon says. Built without sanitizers: it is loaded before the daemon's runtime.
#include <sys/timex.h>

#include <cstdlib>
#include <cstring>

namespace {

int Answer(timex* tx) {
  const char* wanted = std::getenv("SEMPER_TEST_KERNEL_CLOCK");
  bool unsynchronised = wanted != nullptr && std::strcmp(wanted, "unsynchronised") == 0;
  std::memset(tx, 0, sizeof *tx);
  tx->status = unsynchronised ? STA_UNSYNC : 0;
  tx->maxerror = unsynchronised ? 16000000 : 1000;
  return unsynchronised ? TIME_ERROR : TIME_OK;
}

}  // namespace

extern "C" int ntp_adjtime(timex* tx) { return Answer(tx); }
extern "C" int adjtimex(timex* tx) { return Answer(tx); }
