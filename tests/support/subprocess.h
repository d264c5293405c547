// Runs a command and captures its output, for tests that drive real tools (openssl, initdb,
// pg_ctl) and real daemons.
#pragma once

#include <string>
#include <vector>

namespace semper::testing {

struct CommandResult {
  int exit_code = -1;  // -1 if it could not run; 128+n if killed by signal n
  std::string out;
  std::string err;
  std::string Describe() const;  // exit code and both streams, for failure messages
};

// argv[0] is looked up in PATH. `input` is written to the command's stdin.
CommandResult RunCommand(const std::vector<std::string>& argv, const std::string& input = "");

// A process started in the background; killed (SIGKILL) on destruction if still running.
class ChildProcess {
 public:
  ChildProcess() = default;
  explicit ChildProcess(const std::vector<std::string>& argv, const std::string& log_file = "");
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ~ChildProcess();
  int pid() const { return pid_; }
  bool Signal(int sig) const;
  // Waits for exit; returns the exit code (128+n for signal n), or -1 on timeout.
  int Wait(int timeout_ms);

 private:
  int pid_ = -1;
};

// A fresh directory under $TMPDIR (or /tmp), removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string Write(const std::string& name, const std::string& content, int mode = 0600) const;

 private:
  std::string path_;
};

// The whole content of a file; empty if it cannot be read (for logs and outputs in assertions).
std::string Slurp(const std::string& path);

// A TCP port on 127.0.0.1 that was free a moment ago.
int FreePort();

}  // namespace semper::testing
