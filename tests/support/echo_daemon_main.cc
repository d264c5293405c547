// semper-echo-daemon: a daemon built exactly like the real ones (config file + environment,
// structured logs, Server, SIGTERM handling) around the Echo test service, so that tests can
// drive the shared plumbing as a process.
#include <cstdio>
#include <optional>

#include "common/base/config.h"
#include "common/base/log.h"
#include "common/server/server.h"
#include "tests/support/echo_service.h"

int main(int argc, char** argv) {
  semper::Server::BlockTerminationSignals();
  if (argc == 2 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h")) {
    std::printf("usage: semper-echo-daemon [--config FILE.toml]\n\nConfiguration keys (file, or environment):\n%s",
                semper::ConfigHelp(semper::ServerConfigKeys(7100, 7101)).c_str());
    return 0;
  }
  std::optional<std::filesystem::path> file;
  if (argc == 3 && std::string(argv[1]) == "--config") file = argv[2];
  auto config = semper::Config::Load(file, semper::ServerConfigKeys(7100, 7101));
  if (!config.ok()) {
    std::fprintf(stderr, "semper-echo-daemon: %s\n", std::string(config.status().message()).c_str());
    return 2;
  }
  auto options = semper::ServerOptionsFromConfig(*config, "semper-echo");
  if (!options.ok()) {
    std::fprintf(stderr, "semper-echo-daemon: %s\n", std::string(options.status().message()).c_str());
    return 2;
  }
  auto log = options->logger;
  for (const auto& line : config->Describe()) semper::LogEvent(log, spdlog::level::info, "config").With("value", line);
  semper::testing::EchoServiceImpl echo;
  options->access = semper::testing::EchoAccessPolicy();
  auto server = semper::Server::Start(*options, {&echo});
  if (!server.ok()) {
    semper::LogEvent(log, spdlog::level::critical, "start_failed")
        .With("error", std::string(server.status().message()));
    return 1;
  }
  (*server)->RunUntilSignal();
  return 0;
}
