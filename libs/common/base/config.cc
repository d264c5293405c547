// Config loading with toml++ and environment overrides.
#include "common/base/config.h"

#include <toml++/toml.h>

#include <cstdio>
#include <cstdlib>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/base/status.h"
#include "common/base/strings.h"

namespace semper {
namespace {

std::string_view TypeName(ConfigType t) {
  switch (t) {
    case ConfigType::kString:
      return "a string";
    case ConfigType::kInt:
      return "an integer";
    case ConfigType::kBool:
      return "true or false";
    case ConfigType::kDuration:
      return "a duration such as \"500ms\", \"30s\" or \"5m\"";
    case ConfigType::kStringList:
      return "a list of strings";
  }
  return "a value";
}

absl::Status BadValue(const ConfigKey& key, std::string_view source, std::string_view detail) {
  return MakeError(absl::StatusCode::kInvalidArgument, v1::INVALID_FIELD,
                   StrCat("config key '", key.name, "' (", source, "): expected ", TypeName(key.type),
                          detail.empty() ? "" : "; ", detail),
                   {{"field", key.name}});
}

// Parses the text form used by environment variables (and duration strings in the file).
absl::StatusOr<ConfigValue> ParseText(const ConfigKey& key, std::string_view text, std::string_view source) {
  switch (key.type) {
    case ConfigType::kString:
      return ConfigValue(std::string(text));
    case ConfigType::kInt: {
      int64_t v;
      if (!absl::SimpleAtoi(AbslView(text), &v)) {
        return BadValue(key, source, StrCat("got '", text, "'"));
      }
      return ConfigValue(v);
    }
    case ConfigType::kBool: {
      std::string lower = absl::AsciiStrToLower(AbslView(text));
      if (lower == "true" || lower == "1" || lower == "yes") return ConfigValue(true);
      if (lower == "false" || lower == "0" || lower == "no") return ConfigValue(false);
      return BadValue(key, source, StrCat("got '", text, "'"));
    }
    case ConfigType::kDuration: {
      absl::Duration d;
      if (!absl::ParseDuration(AbslView(text), &d) || d < absl::ZeroDuration()) {
        return BadValue(key, source, StrCat("got '", text, "'"));
      }
      return ConfigValue(d);
    }
    case ConfigType::kStringList: {
      std::vector<std::string> items;
      for (absl::string_view part : absl::StrSplit(AbslView(text), ',', absl::SkipWhitespace())) {
        items.emplace_back(absl::StripAsciiWhitespace(part));
      }
      return ConfigValue(std::move(items));
    }
  }
  return BadValue(key, source, "");
}

absl::StatusOr<ConfigValue> FromToml(const ConfigKey& key, const toml::node& node, std::string_view source) {
  switch (key.type) {
    case ConfigType::kString:
      if (auto v = node.value<std::string>(); v && node.is_string()) return ConfigValue(*v);
      break;
    case ConfigType::kInt:
      if (auto v = node.value<int64_t>(); v && node.is_integer()) return ConfigValue(*v);
      break;
    case ConfigType::kBool:
      if (auto v = node.value<bool>(); v && node.is_boolean()) return ConfigValue(*v);
      break;
    case ConfigType::kDuration:
      if (auto v = node.value<std::string>(); v && node.is_string()) return ParseText(key, *v, source);
      break;
    case ConfigType::kStringList:
      if (const toml::array* arr = node.as_array()) {
        std::vector<std::string> items;
        for (const toml::node& item : *arr) {
          auto s = item.value<std::string>();
          if (!s || !item.is_string()) return BadValue(key, source, "an item is not a string");
          items.push_back(*s);
        }
        return ConfigValue(std::move(items));
      }
      break;
  }
  return BadValue(key, source, "");
}

void CollectKeys(const toml::table& table, const std::string& prefix,
                 std::vector<std::pair<std::string, const toml::node*>>& out) {
  for (const auto& [k, node] : table) {
    std::string name = prefix.empty() ? std::string(k.str()) : StrCat(prefix, ".", k.str());
    if (const toml::table* sub = node.as_table()) {
      CollectKeys(*sub, name, out);
    } else {
      out.emplace_back(name, &node);
    }
  }
}

[[noreturn]] void Misuse(const std::string& key, std::string_view what) {
  std::fprintf(stderr, "semper: config key '%s' %s\n", key.c_str(), std::string(what).c_str());
  std::abort();
}

}  // namespace

std::string ConfigHelp(const std::vector<ConfigKey>& schema) {
  std::string out;
  for (const ConfigKey& key : schema) {
    std::string def;
    if (key.required) {
      def = "required";
    } else if (key.default_value.has_value() && !key.secret) {
      Config one;
      one.schema_[key.name] = key;
      one.values_[key.name] = *key.default_value;
      def = "default " + one.Describe().front().substr(key.name.size() + 1);
    }
    StrAppend(&out, "  ", key.name, " (", Config::EnvName(key.name), "): ", TypeName(key.type), def.empty() ? "" : "; ",
              def, key.help.empty() ? "" : ". ", key.help, "\n");
  }
  return out;
}

std::string Config::EnvName(const std::string& key) {
  std::string out = "SEMPER_";
  for (char c : key) out.push_back(c == '.' || c == '-' ? '_' : absl::ascii_toupper(c));
  return out;
}

absl::StatusOr<Config> Config::Load(const std::optional<std::filesystem::path>& file,
                                    const std::vector<ConfigKey>& schema,
                                    std::function<std::optional<std::string>(const std::string&)> getenv) {
  if (!getenv) {
    getenv = [](const std::string& name) -> std::optional<std::string> {
      const char* v = std::getenv(name.c_str());
      return v != nullptr ? std::optional<std::string>(v) : std::nullopt;
    };
  }
  Config config;
  for (const ConfigKey& key : schema) config.schema_[key.name] = key;

  if (file.has_value()) {
    toml::table table;
    try {
      table = toml::parse_file(file->string());
    } catch (const toml::parse_error& e) {
      const auto& where = e.source().begin;
      return MakeError(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT,
                       StrCat("config file ", file->string(), " line ", where.line, " column ", where.column, ": ",
                              e.description()));
    }
    std::vector<std::pair<std::string, const toml::node*>> entries;
    CollectKeys(table, "", entries);
    for (const auto& [name, node] : entries) {
      auto it = config.schema_.find(name);
      if (it == config.schema_.end()) {
        return MakeError(absl::StatusCode::kInvalidArgument, v1::INVALID_FIELD,
                         StrCat("config file ", file->string(), ": unknown key '", name,
                                "' (misspelt? known keys are listed by --help)"),
                         {{"field", name}});
      }
      SEMPER_ASSIGN_OR_RETURN(config.values_[name], FromToml(it->second, *node, StrCat("file ", file->string())));
    }
  }

  for (const ConfigKey& key : schema) {
    std::string env = EnvName(key.name);
    if (auto text = getenv(env); text.has_value()) {
      SEMPER_ASSIGN_OR_RETURN(config.values_[key.name], ParseText(key, *text, StrCat("environment ", env)));
    }
    if (!config.values_.count(key.name)) {
      if (key.default_value.has_value()) {
        config.values_[key.name] = *key.default_value;
      } else if (key.required) {
        return MakeError(absl::StatusCode::kInvalidArgument, v1::INVALID_FIELD,
                         StrCat("config key '", key.name, "' is required: set it in the ", "config file or in ", env,
                                key.help.empty() ? "" : StrCat(" (", key.help, ")")),
                         {{"field", key.name}});
      }
    }
    auto it = config.values_.find(key.name);
    if (it != config.values_.end() && key.type == ConfigType::kInt) {
      int64_t v = std::get<int64_t>(it->second);
      if ((key.min && v < *key.min) || (key.max && v > *key.max)) {
        return MakeError(
            absl::StatusCode::kInvalidArgument, v1::INVALID_FIELD,
            StrCat("config key '", key.name, "' = ", v, " is out of range [",
                   key.min ? StrCat(*key.min) : std::string(), ", ", key.max ? StrCat(*key.max) : std::string(), "]"),
            {{"field", key.name}});
      }
    }
  }
  return config;
}

#define SEMPER_CONFIG_GET(Type, Name, Enum, Empty)                           \
  Type Config::Name(const std::string& key) const {                          \
    auto s = schema_.find(key);                                              \
    if (s == schema_.end()) Misuse(key, "is not declared");                  \
    if (s->second.type != ConfigType::Enum) Misuse(key, "has another type"); \
    auto it = values_.find(key);                                             \
    if (it == values_.end()) return Empty;                                   \
    return std::get<Type>(it->second);                                       \
  }

SEMPER_CONFIG_GET(std::string, GetString, kString, std::string())
SEMPER_CONFIG_GET(int64_t, GetInt, kInt, 0)
SEMPER_CONFIG_GET(bool, GetBool, kBool, false)
SEMPER_CONFIG_GET(absl::Duration, GetDuration, kDuration, absl::ZeroDuration())
SEMPER_CONFIG_GET(std::vector<std::string>, GetStringList, kStringList, std::vector<std::string>())
#undef SEMPER_CONFIG_GET

std::vector<std::string> Config::Describe() const {
  std::vector<std::string> out;
  for (const auto& [name, value] : values_) {
    const ConfigKey& key = schema_.at(name);
    std::string text;
    if (key.secret) {
      text = "<redacted>";
    } else if (const auto* s = std::get_if<std::string>(&value)) {
      text = *s;
    } else if (const auto* i = std::get_if<int64_t>(&value)) {
      text = StrCat(*i);
    } else if (const auto* b = std::get_if<bool>(&value)) {
      text = *b ? "true" : "false";
    } else if (const auto* d = std::get_if<absl::Duration>(&value)) {
      text = absl::FormatDuration(*d);
    } else if (const auto* l = std::get_if<std::vector<std::string>>(&value)) {
      text = absl::StrJoin(*l, ",");
    }
    out.push_back(StrCat(name, "=", text));
  }
  return out;
}

}  // namespace semper
