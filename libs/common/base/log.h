// Structured logging on spdlog: one named logger per daemon, events with key=value fields,
// rendered as text ("event key=value ...") or as one JSON object per line.
// Loggers are thread-safe. Never pass a secret as a field: SecretData has no conversion to text.
#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/base/strings.h"

namespace semper {

enum class LogFormat { kText, kJson };

absl::StatusOr<LogFormat> ParseLogFormat(std::string_view text);  // "text" | "json"
absl::StatusOr<spdlog::level::level_enum> ParseLogLevel(std::string_view text);

// A logger writing to stderr (what container runtimes and journald collect).
std::shared_ptr<spdlog::logger> MakeLogger(const std::string& name, LogFormat format, spdlog::level::level_enum level);
// The same, writing into a sink the caller owns (tests).
std::shared_ptr<spdlog::logger> MakeLogger(const std::string& name, LogFormat format, spdlog::level::level_enum level,
                                           spdlog::sink_ptr sink);

// One log event. Fields are appended with With(); the line is written when the object dies.
//   LogEvent(log, spdlog::level::info, "rpc").With("method", m).With("code", 0);
class LogEvent {
 public:
  LogEvent(std::shared_ptr<spdlog::logger> logger, spdlog::level::level_enum level, std::string_view event);
  ~LogEvent();
  LogEvent(const LogEvent&) = delete;
  LogEvent& operator=(const LogEvent&) = delete;

  LogEvent& With(std::string_view key, std::string_view value);
  LogEvent& With(std::string_view key, const char* value) { return With(key, std::string_view(value)); }
  LogEvent& With(std::string_view key, const std::string& value) { return With(key, std::string_view(value)); }
  template <typename T>
  requires std::is_arithmetic_v<T> LogEvent& With(std::string_view key, T value) { return WithRaw(key, StrCat(value)); }

 private:
  LogEvent& WithRaw(std::string_view key, std::string value);
  std::shared_ptr<spdlog::logger> logger_;
  spdlog::level::level_enum level_;
  std::string event_;
  // (key, value, value is a JSON number/bool that needs no quotes)
  std::vector<std::tuple<std::string, std::string, bool>> fields_;
};

// Escapes a string as the body of a JSON string literal.
std::string JsonEscape(std::string_view s);

}  // namespace semper
