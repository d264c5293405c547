// Every request message's validation, attacked: for every unary RPC of the five daemons (taken
// from the service descriptors, so a new RPC is covered without editing this file), messages
// made at random through protobuf reflection (empty, huge, NUL-bearing and non-Latin strings,
// random and real DER in bytes fields, extreme numbers, unknown enum values, nested messages)
// are sent over TLS by a caller the role matrix admits, so that they reach the handlers. Every
// answer must be a status a client can act on: never INTERNAL, UNKNOWN or DATA_LOSS, always with
// a message; and every daemon must still be serving afterwards (and, in the sanitizer build, exit
// cleanly: the suite checks each exit code). SEMPER_REQUEST_FUZZ_SEED repeats a run.
#include <gmock/gmock.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <limits>
#include <map>
#include <random>

#include "common/base/secret.h"
#include "common/crypto/cms.h"
#include "common/server/access.h"
#include "tests/support/postgres.h"
#include "tests/support/status_matchers.h"
#include "tests/support/subprocess.h"
#include "tests/support/suite.h"

namespace semper {
namespace {

using ::google::protobuf::FieldDescriptor;
using ::google::protobuf::Message;
using ::google::protobuf::Reflection;
using ::semper::testing::IsOk;
using ::semper::testing::Slurp;
using ::semper::testing::Suite;
using ::semper::testing::TempDir;

constexpr char kPass[] = "request fuzz passphrase";

// Random request messages, built through reflection.
class Generator {
 public:
  Generator(uint64_t seed, std::vector<std::string> real_bytes) : rng_(seed), real_bytes_(std::move(real_bytes)) {}

  void Fill(Message* m, int depth) {
    const auto* d = m->GetDescriptor();
    const Reflection* r = m->GetReflection();
    for (int i = 0; i < d->field_count(); ++i) {
      const FieldDescriptor* f = d->field(i);
      if (f->containing_oneof() != nullptr && Chance(2)) continue;
      if (Chance(3)) continue;  // left unset
      if (f->is_repeated()) {
        int n = Pick(4);
        for (int k = 0; k < n; ++k) Add(m, r, f, depth);
      } else {
        Set(m, r, f, depth);
      }
    }
  }

 private:
  bool Chance(int one_in) { return std::uniform_int_distribution<int>(0, one_in - 1)(rng_) == 0; }
  int Pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }

  std::string String() {
    switch (Pick(8)) {
      case 0:
        return "";
      case 1:
        return std::string(1 + Pick(5000), 'x');
      case 2:
        return std::string("a\0b", 3);
      case 3:
        return "Ærø Ünïcødé 日本語 🙂";
      case 4:
        return "'; DROP TABLE x; --";
      case 5:
        return "DE";
      case 6:
        return "S-" + Hex(8);
      default: {
        std::string s;
        int n = Pick(40);
        for (int k = 0; k < n; ++k) s.push_back(static_cast<char>(32 + Pick(95)));
        return s;
      }
    }
  }
  std::string Bytes() {
    switch (Pick(5)) {
      case 0:
        return "";
      case 1:
        return real_bytes_.empty() ? "" : real_bytes_[static_cast<size_t>(Pick(static_cast<int>(real_bytes_.size())))];
      case 2: {
        std::string s =
            real_bytes_.empty() ? "" : real_bytes_[static_cast<size_t>(Pick(static_cast<int>(real_bytes_.size())))];
        if (!s.empty()) s[static_cast<size_t>(Pick(static_cast<int>(s.size())))] ^= static_cast<char>(1 + Pick(255));
        return s;
      }
      case 3:
        return std::string(32, '\x01');
      default: {
        std::string s;
        int n = Pick(300);
        for (int k = 0; k < n; ++k) s.push_back(static_cast<char>(Pick(256)));
        return s;
      }
    }
  }
  std::string Hex(int bytes) {
    static const char* kDigits = "0123456789abcdef";
    std::string s;
    for (int k = 0; k < 2 * bytes; ++k) s.push_back(kDigits[Pick(16)]);
    return s;
  }
  int64_t Int() {
    switch (Pick(6)) {
      case 0:
        return 0;
      case 1:
        return -1;
      case 2:
        return std::numeric_limits<int64_t>::max();
      case 3:
        return std::numeric_limits<int64_t>::min();
      case 4:
        return Pick(1000);
      default:
        return std::uniform_int_distribution<int64_t>(-1000000000000, 1000000000000)(rng_);
    }
  }

  void Set(Message* m, const Reflection* r, const FieldDescriptor* f, int depth) {
    switch (f->cpp_type()) {
      case FieldDescriptor::CPPTYPE_STRING:
        r->SetString(m, f, f->type() == FieldDescriptor::TYPE_BYTES ? Bytes() : String());
        break;
      case FieldDescriptor::CPPTYPE_INT32:
        r->SetInt32(m, f, static_cast<int32_t>(Int()));
        break;
      case FieldDescriptor::CPPTYPE_INT64:
        r->SetInt64(m, f, Int());
        break;
      case FieldDescriptor::CPPTYPE_UINT32:
        r->SetUInt32(m, f, static_cast<uint32_t>(Int()));
        break;
      case FieldDescriptor::CPPTYPE_UINT64:
        r->SetUInt64(m, f, static_cast<uint64_t>(Int()));
        break;
      case FieldDescriptor::CPPTYPE_DOUBLE:
        r->SetDouble(m, f, static_cast<double>(Int()) / 7);
        break;
      case FieldDescriptor::CPPTYPE_FLOAT:
        r->SetFloat(m, f, static_cast<float>(Int()) / 7);
        break;
      case FieldDescriptor::CPPTYPE_BOOL:
        r->SetBool(m, f, Chance(2));
        break;
      case FieldDescriptor::CPPTYPE_ENUM: {
        const auto* e = f->enum_type();
        r->SetEnumValue(m, f, Chance(5) ? 1000 + Pick(10) : e->value(Pick(e->value_count()))->number());
        break;
      }
      case FieldDescriptor::CPPTYPE_MESSAGE:
        if (depth < 4) Fill(r->MutableMessage(m, f), depth + 1);
        break;
    }
  }
  void Add(Message* m, const Reflection* r, const FieldDescriptor* f, int depth) {
    switch (f->cpp_type()) {
      case FieldDescriptor::CPPTYPE_STRING:
        r->AddString(m, f, f->type() == FieldDescriptor::TYPE_BYTES ? Bytes() : String());
        break;
      case FieldDescriptor::CPPTYPE_INT32:
        r->AddInt32(m, f, static_cast<int32_t>(Int()));
        break;
      case FieldDescriptor::CPPTYPE_INT64:
        r->AddInt64(m, f, Int());
        break;
      case FieldDescriptor::CPPTYPE_UINT32:
        r->AddUInt32(m, f, static_cast<uint32_t>(Int()));
        break;
      case FieldDescriptor::CPPTYPE_UINT64:
        r->AddUInt64(m, f, static_cast<uint64_t>(Int()));
        break;
      case FieldDescriptor::CPPTYPE_DOUBLE:
        r->AddDouble(m, f, static_cast<double>(Int()));
        break;
      case FieldDescriptor::CPPTYPE_FLOAT:
        r->AddFloat(m, f, static_cast<float>(Int()));
        break;
      case FieldDescriptor::CPPTYPE_BOOL:
        r->AddBool(m, f, Chance(2));
        break;
      case FieldDescriptor::CPPTYPE_ENUM: {
        const auto* e = f->enum_type();
        r->AddEnumValue(m, f, e->value(Pick(e->value_count()))->number());
        break;
      }
      case FieldDescriptor::CPPTYPE_MESSAGE:
        if (depth < 4) Fill(r->AddMessage(m, f), depth + 1);
        break;
    }
  }

  std::mt19937_64 rng_;
  std::vector<std::string> real_bytes_;
};

struct Credentials {
  std::set<Role> roles;
  std::string chain_pem, key_pem;
};

class RequestFuzzTest : public ::semper::testing::PostgresTest {
 protected:
  void SetUp() override {
    PostgresTest::SetUp();
    if (HasFatalFailure()) return;
    Suite::Options o = Suite::Options::All(conninfo());
    o.passphrase = kPass;
    auto suite = Suite::Start(&dir_, o);
    ASSERT_THAT(suite.status(), IsOk());
    suite_ = *std::move(suite);
  }

  std::shared_ptr<grpc::Channel> ChannelFor(const std::string& daemon, const Credentials& c) {
    return suite_->ChannelWith(daemon, c.chain_pem, c.key_pem);
  }

  static grpc::Status Call(grpc::GenericStub& stub, const std::string& method, const std::string& payload) {
    return ::semper::testing::CallUnary(stub, method, payload, std::chrono::seconds(20));
  }

  TempDir dir_;
  std::unique_ptr<Suite> suite_;
};

TEST_F(RequestFuzzTest, RandomRequestsToEveryRpcGetAnActionableStatus) {
  uint64_t seed = std::random_device{}();
  if (const char* s = std::getenv("SEMPER_REQUEST_FUZZ_SEED")) seed = std::strtoull(s, nullptr, 10);
  std::printf("SEMPER_REQUEST_FUZZ_SEED=%llu\n", static_cast<unsigned long long>(seed));
  int rounds = 60;
  if (const char* s = std::getenv("SEMPER_REQUEST_FUZZ_ROUNDS")) rounds = std::atoi(s);

  // Callers: the administrator and the arbitrator from init, and an enrolled subscriber.
  std::map<std::string, Credentials> callers;
  auto key_of = [&](const std::string& path) {
    auto key = PrivateKey::FromPem(Slurp(suite_->P(path)), SecretData(kPass));
    EXPECT_TRUE(key.ok());
    return std::string(key->ToUnencryptedPemSecret().Reveal());
  };
  callers["administrator"] = {
      {Role::kAdministrator}, Slurp(suite_->P("pki/admin/admin.pem")), key_of("pki/admin/admin.key")};
  callers["arbitrator"] = {
      {Role::kArbitrator}, Slurp(suite_->P("pki/admin/arbitrator.pem")), key_of("pki/admin/arbitrator.key")};
  auto sub = suite_->Enroll("Fuzzy Subscriber", v1::CUSTOMER_KIND_ENTERPRISE);
  ASSERT_THAT(sub.status(), IsOk());
  callers["subscriber"] = {{Role::kSubscriber},
                           sub->authentication_certificate->Pem() + Slurp(suite_->P("pki/ca.pem")),
                           std::string(sub->authentication_key->ToUnencryptedPemSecret().Reveal())};
  // Real DER for bytes fields: certificates, a CMS signature, so that some requests get deep.
  std::vector<std::string> real = {sub->certificate.Der(), sub->authentication_certificate->Der(),
                                   *CmsSignDetached("fuzz", sub->key, sub->certificate, suite_->Chain())};
  for (const Certificate& c : suite_->Chain()) real.push_back(c.Der());

  const std::map<std::string, std::vector<std::string>> daemons = {
      {"ca", {"semper.v1.CertificationAuthority", "semper.v1.Pseudonyms", "semper.v1.Credentials"}},
      {"tsa", {"semper.v1.TimeStamp"}},
      {"notary", {"semper.v1.Notary"}},
      {"arbiter", {"semper.v1.Arbiter"}},
      {"liability", {"semper.v1.Liability"}},
  };
  AccessPolicy policy(SuiteAccessMatrix());
  Generator gen(seed, real);
  std::map<std::string, int> codes;
  int calls = 0;
  for (const auto& [daemon, services] : daemons) {
    std::map<std::string, std::unique_ptr<grpc::GenericStub>> stubs;
    for (const auto& [name, c] : callers) stubs[name] = std::make_unique<grpc::GenericStub>(ChannelFor(daemon, c));
    for (const std::string& service_name : services) {
      const auto* service = ::semper::testing::SuiteService(service_name);
      ASSERT_NE(service, nullptr);
      for (int i = 0; i < service->method_count(); ++i) {
        const auto* method = service->method(i);
        if (method->client_streaming() || method->server_streaming()) continue;
        const std::string path = "/" + service->full_name() + "/" + method->name();
        const AccessRule* rule = policy.Find(path);
        ASSERT_NE(rule, nullptr) << path;
        std::string caller = "administrator";
        for (Role r : rule->roles) {
          for (const auto& [name, c] : callers) {
            if (c.roles.count(r) != 0) caller = name;
          }
        }
        const Message* prototype =
            google::protobuf::MessageFactory::generated_factory()->GetPrototype(method->input_type());
        ASSERT_NE(prototype, nullptr) << path;
        for (int round = 0; round < rounds; ++round) {
          std::unique_ptr<Message> req(prototype->New());
          gen.Fill(req.get(), 0);
          grpc::Status s = Call(*stubs[caller], path, req->SerializeAsString());
          ++calls;
          ++codes[std::to_string(s.error_code())];
          EXPECT_NE(s.error_code(), grpc::StatusCode::INTERNAL) << path << ": " << s.error_message() << "\n"
                                                                << req->ShortDebugString().substr(0, 1500);
          EXPECT_NE(s.error_code(), grpc::StatusCode::UNKNOWN) << path << ": " << s.error_message();
          EXPECT_NE(s.error_code(), grpc::StatusCode::DATA_LOSS) << path << ": " << s.error_message();
          EXPECT_TRUE(s.ok() || !s.error_message().empty()) << path;
          if (HasFailure()) {
            std::printf("stopping at the first failure (seed %llu)\n", static_cast<unsigned long long>(seed));
            return;
          }
        }
      }
    }
    // Still serving.
    grpc::GenericStub probe(ChannelFor(daemon, callers["administrator"]));
    EXPECT_TRUE(Call(probe, "/grpc.health.v1.Health/Check", "").ok()) << daemon;
  }
  std::printf("%d calls; status codes:", calls);
  for (const auto& [code, n] : codes) std::printf(" %s:%d", code.c_str(), n);
  std::printf("\n");
  EXPECT_GT(calls, 2000);
}

}  // namespace
}  // namespace semper
