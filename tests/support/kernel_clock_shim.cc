// LD_PRELOAD library for tests: the kernel's NTP state as the file named by
// SEMPER_TEST_KERNEL_CLOCK_FILE says, read at every call ("unsynchronised"; anything else, or no
// file: synchronised), so that semper-tsa's clock check (tsa.clock_check = "kernel", which asks
// ntp_adjtime) is tried both ways on any host, whatever its real clock daemon says, and the state
// can change while the daemon runs. Built without sanitizers: it is loaded before the daemon's
// runtime.
#include <sys/timex.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

bool Unsynchronised() {
  const char* path = std::getenv("SEMPER_TEST_KERNEL_CLOCK_FILE");
  if (path == nullptr) return false;
  std::FILE* f = std::fopen(path, "r");
  if (f == nullptr) return false;
  char word[32] = {};
  const size_t n = std::fread(word, 1, sizeof word - 1, f);
  std::fclose(f);
  return n >= 14 && std::strncmp(word, "unsynchronised", 14) == 0;
}

int Answer(timex* tx) {
  const bool unsynchronised = Unsynchronised();
  std::memset(tx, 0, sizeof *tx);
  tx->status = unsynchronised ? STA_UNSYNC : 0;
  tx->maxerror = unsynchronised ? 16000000 : 1000;
  return unsynchronised ? TIME_ERROR : TIME_OK;
}

}  // namespace

extern "C" int ntp_adjtime(timex* tx) { return Answer(tx); }
extern "C" int adjtimex(timex* tx) { return Answer(tx); }
