// Server reflection, as grpcurl and similar tools use it, against a daemon process.
#include <gmock/gmock.h>
#include <google/protobuf/descriptor.pb.h>
#include <grpcpp/create_channel.h>
#include <gtest/gtest.h>
#include <signal.h>

#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "tests/support/subprocess.h"

namespace semper {
namespace {

namespace refl = ::grpc::reflection::v1alpha;
using ::semper::testing::ChildProcess;
using ::semper::testing::FreePort;
using ::semper::testing::TempDir;

TEST(ReflectionTest, DaemonListsAndDescribesItsServices) {
  TempDir dir;
  int port = FreePort();
  ChildProcess daemon({"env", "SEMPER_GRPC_LISTEN=127.0.0.1:" + std::to_string(port),
                       "SEMPER_HTTP_LISTEN=", "SEMPER_GRPC_PLAINTEXT=true", SEMPER_ECHO_DAEMON},
                      dir.path() + "/daemon.log");
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials());
  ASSERT_TRUE(channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10)));

  auto stub = refl::ServerReflection::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  auto stream = stub->ServerReflectionInfo(&ctx);
  refl::ServerReflectionRequest list;
  list.set_list_services("");
  ASSERT_TRUE(stream->Write(list));
  refl::ServerReflectionResponse resp;
  ASSERT_TRUE(stream->Read(&resp));
  std::vector<std::string> names;
  for (const auto& s : resp.list_services_response().service()) names.push_back(s.name());
  EXPECT_THAT(names, ::testing::IsSupersetOf({"semper.testing.Echo", "grpc.health.v1.Health"}));

  refl::ServerReflectionRequest describe;
  describe.set_file_containing_symbol("semper.testing.Echo");
  ASSERT_TRUE(stream->Write(describe));
  ASSERT_TRUE(stream->Read(&resp));
  ASSERT_GT(resp.file_descriptor_response().file_descriptor_proto_size(), 0);
  google::protobuf::FileDescriptorProto file;
  ASSERT_TRUE(file.ParseFromString(resp.file_descriptor_response().file_descriptor_proto(0)));
  EXPECT_EQ(file.package(), "semper.testing");
  ASSERT_EQ(file.service_size(), 1);
  EXPECT_EQ(file.service(0).method_size(), 3);
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());

  ASSERT_TRUE(daemon.Signal(SIGTERM));
  EXPECT_EQ(daemon.Wait(10000), 0);
  // gRPC 1.51 takes about 4 s to stop after a call to a sync service (reflection is one);
  // within the shutdown grace, and noted in the README.
}

}  // namespace
}  // namespace semper
