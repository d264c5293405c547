// Daemon configuration: a TOML file, overridden key by key from the environment, checked
// against a declared schema at start. Immutable after Load(); thread-safe to read.
//
// Key "grpc.listen" is read from [grpc] listen = "..." in the file and overridden by the
// environment variable SEMPER_GRPC_LISTEN. Unknown keys in the file are errors (typos must not
// silently fall back to defaults). Every error names the key and where its value came from.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace semper {

enum class ConfigType { kString, kInt, kBool, kDuration, kStringList };

using ConfigValue = std::variant<std::string, int64_t, bool, absl::Duration, std::vector<std::string>>;

struct ConfigKey {
  std::string name;  // dotted: "database.url"
  ConfigType type = ConfigType::kString;
  std::optional<ConfigValue> default_value;  // none and not required: absent
  bool required = false;
  bool secret = false;  // never printed by Describe()
  std::string help;
  std::optional<int64_t> min;  // kInt only
  std::optional<int64_t> max;
};

// One line per key for --help: name, environment variable, type, default, and help text.
std::string ConfigHelp(const std::vector<ConfigKey>& schema);

class Config {
 public:
  // Reads `file` (optional) then the environment (`getenv` by default).
  static absl::StatusOr<Config> Load(const std::optional<std::filesystem::path>& file,
                                     const std::vector<ConfigKey>& schema,
                                     std::function<std::optional<std::string>(const std::string&)> getenv = nullptr);

  // The environment variable for a key: "database.url" -> "SEMPER_DATABASE_URL".
  static std::string EnvName(const std::string& key);

  bool Has(const std::string& key) const { return values_.count(key) != 0; }
  // Typed access. Asking for an undeclared key or the wrong type is a programming error and
  // aborts; missing optional keys give the type's empty value.
  std::string GetString(const std::string& key) const;
  int64_t GetInt(const std::string& key) const;
  bool GetBool(const std::string& key) const;
  absl::Duration GetDuration(const std::string& key) const;
  std::vector<std::string> GetStringList(const std::string& key) const;

  // "key=value" lines for the start-up log, secrets shown as "<redacted>".
  std::vector<std::string> Describe() const;

 private:
  friend std::string ConfigHelp(const std::vector<ConfigKey>& schema);
  std::map<std::string, ConfigValue> values_;
  std::map<std::string, ConfigKey> schema_;
};

}  // namespace semper
