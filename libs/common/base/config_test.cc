// Config: file, environment overrides, validation errors that name the key.
#include "common/base/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

#include "tests/support/status_matchers.h"
#include "tests/support/subprocess.h"

namespace semper {
namespace {

using ::semper::testing::IsOk;
using ::semper::testing::StatusIs;
using ::testing::HasSubstr;

std::vector<ConfigKey> Schema() {
  return {
      {"grpc.listen", ConfigType::kString, ConfigValue(std::string("0.0.0.0:7000"))},
      {"database.url", ConfigType::kString, std::nullopt, true, true, "PostgreSQL URL"},
      {"database.pool_size", ConfigType::kInt, ConfigValue(int64_t{4}), false, false, "", 1, 64},
      {"log.json", ConfigType::kBool, ConfigValue(false)},
      {"shutdown.grace", ConfigType::kDuration, ConfigValue(absl::Seconds(10))},
      {"peers", ConfigType::kStringList, std::nullopt},
  };
}

auto Env(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    return it == vars.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
}

TEST(ConfigTest, FileThenEnvironment) {
  testing::TempDir dir;
  std::string file = dir.Write("c.toml", R"(
peers = ["a", "b"]
[grpc]
listen = "127.0.0.1:9000"
[database]
url = "postgresql://secret@db/semper"
pool_size = 8
[shutdown]
grace = "3s"
)");
  auto config = Config::Load(file, Schema(), Env({{"SEMPER_DATABASE_POOL_SIZE", "16"}}));
  ASSERT_THAT(config, IsOk());
  EXPECT_EQ(config->GetString("grpc.listen"), "127.0.0.1:9000");
  EXPECT_EQ(config->GetInt("database.pool_size"), 16);
  EXPECT_EQ(config->GetDuration("shutdown.grace"), absl::Seconds(3));
  EXPECT_FALSE(config->GetBool("log.json"));
  EXPECT_EQ(config->GetStringList("peers"), (std::vector<std::string>{"a", "b"}));
  for (const auto& line : config->Describe()) EXPECT_THAT(line, ::testing::Not(HasSubstr("secret")));
}

TEST(ConfigTest, EnvironmentOnlyAndDefaults) {
  auto config = Config::Load(
      std::nullopt, Schema(),
      Env({{"SEMPER_DATABASE_URL", "postgresql:///x"}, {"SEMPER_LOG_JSON", "true"}, {"SEMPER_PEERS", "x, y"}}));
  ASSERT_THAT(config, IsOk());
  EXPECT_EQ(config->GetString("grpc.listen"), "0.0.0.0:7000");
  EXPECT_TRUE(config->GetBool("log.json"));
  EXPECT_EQ(config->GetStringList("peers"), (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(Config::EnvName("grpc.max-message"), "SEMPER_GRPC_MAX_MESSAGE");
}

TEST(ConfigTest, HelpListsKeysAndEnvironment) {
  std::string help = ConfigHelp(Schema());
  EXPECT_THAT(help, HasSubstr("database.url (SEMPER_DATABASE_URL): a string; required. PostgreSQL URL"));
  EXPECT_THAT(help, HasSubstr("shutdown.grace (SEMPER_SHUTDOWN_GRACE)"));
  EXPECT_THAT(help, HasSubstr("default 10s"));
}

TEST(ConfigTest, ErrorsNameTheKeyAndSource) {
  auto missing = Config::Load(std::nullopt, Schema(), Env({}));
  EXPECT_THAT(missing, StatusIs(absl::StatusCode::kInvalidArgument, v1::INVALID_FIELD));
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("database.url"));
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("SEMPER_DATABASE_URL"));

  auto bad_int =
      Config::Load(std::nullopt, Schema(), Env({{"SEMPER_DATABASE_URL", "x"}, {"SEMPER_DATABASE_POOL_SIZE", "many"}}));
  EXPECT_THAT(std::string(bad_int.status().message()), HasSubstr("database.pool_size"));
  EXPECT_THAT(std::string(bad_int.status().message()), HasSubstr("environment SEMPER_DATABASE_POOL_SIZE"));

  auto out_of_range =
      Config::Load(std::nullopt, Schema(), Env({{"SEMPER_DATABASE_URL", "x"}, {"SEMPER_DATABASE_POOL_SIZE", "0"}}));
  EXPECT_THAT(std::string(out_of_range.status().message()), HasSubstr("out of range"));

  auto bad_duration =
      Config::Load(std::nullopt, Schema(), Env({{"SEMPER_DATABASE_URL", "x"}, {"SEMPER_SHUTDOWN_GRACE", "soon"}}));
  EXPECT_THAT(std::string(bad_duration.status().message()), HasSubstr("shutdown.grace"));

  testing::TempDir dir;
  auto typo = Config::Load(dir.Write("t.toml", "[databse]\nurl = \"x\"\n"), Schema(), Env({}));
  EXPECT_THAT(std::string(typo.status().message()), HasSubstr("unknown key 'databse.url'"));
  auto wrong_type =
      Config::Load(dir.Write("w.toml", "[database]\nurl = \"x\"\npool_size = \"8\"\n"), Schema(), Env({}));
  EXPECT_THAT(std::string(wrong_type.status().message()), HasSubstr("database.pool_size"));
  auto broken = Config::Load(dir.Write("b.toml", "[database\nurl = \n"), Schema(), Env({}));
  EXPECT_THAT(broken, StatusIs(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT));
  EXPECT_THAT(std::string(broken.status().message()), HasSubstr("line 1"));
}

}  // namespace
}  // namespace semper
