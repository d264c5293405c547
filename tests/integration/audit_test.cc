// The audit trail: security-relevant actions of the real daemons land in their hash-chained
// trails, `semperctl audit verify` finds them intact, the database refuses changes, and a row
// changed, a row removed, or the newest rows removed (against a head kept earlier) are reported.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "semper/v1/ca.pb.h"
#include "semper/v1/privacy.pb.h"
#include "tests/support/postgres.h"
#include "tests/support/status_matchers.h"
#include "tests/support/subprocess.h"
#include "tests/support/suite.h"

namespace semper {
namespace {

using ::semper::testing::IsOk;
using ::semper::testing::RunCommand;
using ::semper::testing::Suite;
using ::semper::testing::TempDir;
using ::testing::HasSubstr;
using ::testing::Not;

class AuditTest : public ::semper::testing::PostgresTest {
 protected:
  void SetUp() override {
    PostgresTest::SetUp();
    if (HasFatalFailure()) return;
    Suite::Options o = Suite::Options::Only({"tsa", "liability", "arbiter"}, conninfo());
    auto suite = Suite::Start(&dir_, o);
    ASSERT_THAT(suite.status(), IsOk());
    suite_ = *std::move(suite);
  }

  ::semper::testing::CommandResult Verify(const std::vector<std::string>& more) {
    std::vector<std::string> argv = {"env", "SEMPER_DATABASE_URL=" + conninfo(), SEMPERCTL, "audit", "verify"};
    argv.insert(argv.end(), more.begin(), more.end());
    return RunCommand(argv);
  }
  absl::StatusOr<std::string> Sql(const std::string& sql) { return postgres().Query(database(), sql); }

  TempDir dir_;
  std::unique_ptr<Suite> suite_;
};

TEST_F(AuditTest, ActionsAreChainedAndTamperingShows) {
  auto alice = suite_->Enroll("Alice Audit", v1::CUSTOMER_KIND_INDIVIDUAL);
  ASSERT_THAT(alice.status(), IsOk());
  ASSERT_THAT(suite_->Revoke(*alice->authentication_certificate, v1::REVOCATION_REASON_CERTIFICATE_HOLD), IsOk());
  auto pseudonym = suite_->IssuePseudonym(*alice, v1::PSEUDONYM_KIND_TRANSACTION);
  ASSERT_THAT(pseudonym.status(), IsOk());

  auto ok = Verify({"--show", "20", "--head-out", dir_.path() + "/heads"});
  ASSERT_EQ(ok.exit_code, 0) << ok.Describe();
  EXPECT_THAT(ok.out, HasSubstr("ca: "));
  EXPECT_THAT(ok.out, HasSubstr("chain intact"));
  EXPECT_THAT(ok.out, HasSubstr("tsa: 1 rows, chain intact"));
  EXPECT_THAT(ok.out, HasSubstr("liability: 1 rows, chain intact"));
  for (const char* action : {": start ", ": registered ", ": issue ", ": certificate-revoked ", ": issue-pseudonym "}) {
    EXPECT_THAT(ok.out, HasSubstr(action)) << action;
  }
  // The issuance names both serials; the pseudonym's row does not name Alice.
  EXPECT_EQ(*Sql("SELECT count(*) FROM ca.audit WHERE action = 'issue' AND details LIKE '%" +
                 alice->certificate.SerialHex() + "%'"),
            "1");
  EXPECT_EQ(*Sql("SELECT count(*) FROM ca.audit WHERE action = 'issue-pseudonym' AND (details LIKE '%Alice%' OR actor "
                 "LIKE '%Alice%' OR details LIKE '%" +
                 alice->certificate.SerialHex() + "%')"),
            "0");
  // No secret in the configuration recorded at start.
  EXPECT_EQ(
      *Sql("SELECT count(*) FROM ca.audit WHERE details LIKE '%password%' OR details LIKE '%suite test passphrase%'"),
      "0");

  // The database refuses to change or remove a row.
  EXPECT_THAT(Sql("UPDATE ca.audit SET details = 'x' WHERE seq = 2").status(), Not(IsOk()));
  EXPECT_THAT(Sql("DELETE FROM ca.audit WHERE seq = 2").status(), Not(IsOk()));
  EXPECT_THAT(Sql("TRUNCATE ca.audit").status(), Not(IsOk()));

  // A superuser can get past the trigger; the chain shows it.
  ASSERT_THAT(Sql("ALTER TABLE ca.audit DISABLE TRIGGER USER").status(), IsOk());
  const std::string original = *Sql("SELECT details FROM ca.audit WHERE action = 'certificate-revoked'");
  ASSERT_THAT(
      Sql("UPDATE ca.audit SET details = replace(details, '6', '0') WHERE action = 'certificate-revoked'").status(),
      IsOk());
  auto changed = Verify({});
  EXPECT_EQ(changed.exit_code, 3) << changed.Describe();
  EXPECT_THAT(changed.out, HasSubstr("was changed (certificate-revoked"));
  // Put back exactly, it holds again: the check is of the content, not of a flag.
  ASSERT_THAT(Sql("UPDATE ca.audit SET details = '" + original + "' WHERE action = 'certificate-revoked'").status(),
              IsOk());
  EXPECT_EQ(Verify({}).exit_code, 0);

  ASSERT_THAT(Sql("DELETE FROM ca.audit WHERE action = 'registered'").status(), IsOk());
  auto removed = Verify({"--schema", "ca"});
  EXPECT_EQ(removed.exit_code, 3) << removed.Describe();
  EXPECT_THAT(removed.out, HasSubstr("missing"));

  // The newest rows removed leave an intact (shorter) chain: only the head kept earlier shows it.
  ASSERT_THAT(Sql("ALTER TABLE tsa.audit DISABLE TRIGGER USER").status(), IsOk());
  ASSERT_THAT(Sql("DELETE FROM tsa.audit").status(), IsOk());
  auto without_head = Verify({"--schema", "tsa"});
  EXPECT_EQ(without_head.exit_code, 0) << without_head.Describe();
  auto with_head = Verify({"--schema", "tsa", "--expect-head", dir_.path() + "/heads"});
  EXPECT_EQ(with_head.exit_code, 3) << with_head.Describe();
  EXPECT_THAT(with_head.out, HasSubstr("is gone: the newest rows were removed"));
}

TEST_F(AuditTest, ARestartRecordsTheConfigurationAndWhetherItChanged) {
  ASSERT_THAT(suite_->Restart("tsa"), IsOk());
  EXPECT_EQ(*Sql("SELECT string_agg(action, ',' ORDER BY seq) FROM tsa.audit"), "start,start");
  auto ok = Verify({"--schema", "tsa"});
  EXPECT_EQ(ok.exit_code, 0) << ok.Describe();
}

}  // namespace
}  // namespace semper
