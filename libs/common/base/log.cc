// Structured log events rendered as text or JSON.
#include "common/base/log.h"

#include <spdlog/sinks/stdout_sinks.h>

#include "absl/strings/ascii.h"
#include "common/base/status.h"

namespace semper {
namespace {

// The logger's name tells the renderer which format it was made for.
bool IsJson(const spdlog::logger& logger) {
  return logger.name().size() > 5 && logger.name().substr(logger.name().size() - 5) == ".json";
}

bool NeedsQuotes(std::string_view v) {
  if (v.empty()) return true;
  for (char c : v) {
    if (c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20) {
      return true;
    }
  }
  return false;
}

}  // namespace

absl::StatusOr<LogFormat> ParseLogFormat(std::string_view text) {
  if (text == "text") return LogFormat::kText;
  if (text == "json") return LogFormat::kJson;
  return InvalidField("log.format", "must be \"text\" or \"json\"");
}

absl::StatusOr<spdlog::level::level_enum> ParseLogLevel(std::string_view text) {
  std::string lower = absl::AsciiStrToLower(AbslView(text));
  for (auto level : {spdlog::level::trace, spdlog::level::debug, spdlog::level::info, spdlog::level::warn,
                     spdlog::level::err, spdlog::level::critical}) {
    auto name = spdlog::level::to_string_view(level);
    if (lower == std::string_view(name.data(), name.size())) return level;
  }
  if (lower == "warning" || lower == "warn") return spdlog::level::warn;
  if (lower == "error") return spdlog::level::err;
  return InvalidField("log.level", "must be one of trace, debug, info, warn, error, critical");
}

std::shared_ptr<spdlog::logger> MakeLogger(const std::string& name, LogFormat format, spdlog::level::level_enum level) {
  return MakeLogger(name, format, level, std::make_shared<spdlog::sinks::stderr_sink_mt>());
}

std::shared_ptr<spdlog::logger> MakeLogger(const std::string& name, LogFormat format, spdlog::level::level_enum level,
                                           spdlog::sink_ptr sink) {
  const bool json = format == LogFormat::kJson;
  auto logger = std::make_shared<spdlog::logger>(json ? name + ".json" : name, std::move(sink));
  if (json) {
    logger->set_pattern(R"({"ts":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l",%v})", spdlog::pattern_time_type::utc);
  } else {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%fZ %l %v", spdlog::pattern_time_type::utc);
  }
  logger->set_level(level);
  logger->flush_on(spdlog::level::warn);
  return logger;
}

LogEvent::LogEvent(std::shared_ptr<spdlog::logger> logger, spdlog::level::level_enum level, std::string_view event)
    : logger_(std::move(logger)), level_(level), event_(event) {}

LogEvent& LogEvent::With(std::string_view key, std::string_view value) {
  fields_.emplace_back(std::string(key), std::string(value), false);
  return *this;
}

LogEvent& LogEvent::WithRaw(std::string_view key, std::string value) {
  fields_.emplace_back(std::string(key), std::move(value), true);
  return *this;
}

LogEvent::~LogEvent() {
  if (!logger_ || !logger_->should_log(level_)) return;
  std::string line;
  std::string name = logger_->name();
  if (IsJson(*logger_)) {
    name.resize(name.size() - 5);
    StrAppend(&line, "\"logger\":\"", JsonEscape(name), "\",\"event\":\"", JsonEscape(event_), "\"");
    for (const auto& [k, v, raw] : fields_) {
      StrAppend(&line, ",\"", JsonEscape(k), "\":");
      if (raw) {
        line += v;
      } else {
        StrAppend(&line, "\"", JsonEscape(v), "\"");
      }
    }
  } else {
    StrAppend(&line, name, " ", event_);
    for (const auto& [k, v, raw] : fields_) {
      if (!raw && NeedsQuotes(v)) {
        StrAppend(&line, " ", k, "=\"", JsonEscape(v), "\"");
      } else {
        StrAppend(&line, " ", k, "=", v);
      }
    }
  }
  logger_->log(level_, "{}", line);
}

std::string JsonEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(c);
        }
    }
  }
  return out;
}

}  // namespace semper
