// Status reasons, the gRPC conversion, logs and metrics rendering.
#include "common/base/status.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <fstream>
#include <sstream>

#include "common/base/log.h"
#include "common/base/secret.h"
#include "common/server/grpc_status.h"
#include "common/server/metrics.h"
#include "google/rpc/status.pb.h"
#include "tests/support/subprocess.h"

namespace semper {
namespace {

TEST(StatusTest, ReasonSurvivesGrpcRoundTrip) {
  absl::Status s = MakeError(absl::StatusCode::kFailedPrecondition, v1::CERTIFICATE_REVOKED, "certificate revoked",
                             {{"serial", "0A1B"}});
  grpc::Status g = ToGrpcStatus(s);
  EXPECT_EQ(g.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(g.error_message(), "certificate revoked");
  // The trailer is a standard google.rpc.Status with one ErrorInfo.
  google::rpc::Status rpc;
  ASSERT_TRUE(rpc.ParseFromString(g.error_details()));
  ASSERT_EQ(rpc.details_size(), 1);
  google::rpc::ErrorInfo info;
  ASSERT_TRUE(rpc.details(0).UnpackTo(&info));
  EXPECT_EQ(info.reason(), "CERTIFICATE_REVOKED");
  EXPECT_EQ(info.domain(), "semper.v1");
  EXPECT_EQ(info.metadata().at("serial"), "0A1B");

  absl::Status back = FromGrpcStatus(g);
  EXPECT_EQ(back.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ReasonOf(back), v1::CERTIFICATE_REVOKED);
}

TEST(StatusTest, DefaultsAndAnnotate) {
  EXPECT_EQ(ReasonOf(absl::NotFoundError("x")), v1::NOT_FOUND);
  EXPECT_EQ(ReasonOf(absl::InternalError("x")), v1::INTERNAL_ERROR);
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  absl::Status s = Annotate(InvalidField("amount", "must be positive"), "order");
  EXPECT_EQ(s.message(), "order: amount: must be positive");
  EXPECT_EQ(ReasonOf(s), v1::INVALID_FIELD);
  EXPECT_EQ(ErrorInfoOf(s).metadata().at("field"), "amount");
}

TEST(StatusTest, FieldErrorsNameTheFieldAndKeepTheReason) {
  absl::Status m = MalformedField("csr", "not DER");
  EXPECT_EQ(m.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ReasonOf(m), v1::MALFORMED_INPUT);
  EXPECT_EQ(ErrorInfoOf(m).metadata().at("field"), "csr");
  absl::Status weak = FieldError("request.csr", MakeError(absl::StatusCode::kInvalidArgument, v1::WEAK_KEY, "small"));
  EXPECT_EQ(weak.message(), "request.csr: small");
  EXPECT_EQ(ReasonOf(weak), v1::WEAK_KEY);
  EXPECT_EQ(ErrorInfoOf(weak).metadata().at("field"), "request.csr");
  // A field named deeper down stays the one named.
  absl::Status inner = FieldError("order", InvalidField("order.amount", "must be positive"));
  EXPECT_EQ(ErrorInfoOf(inner).metadata().at("field"), "order.amount");
  EXPECT_EQ(ErrorInfoOf(FieldError("x", absl::InvalidArgumentError("plain"))).metadata().at("field"), "x");
  EXPECT_TRUE(FieldError("x", absl::OkStatus()).ok());
}

TEST(StatusTest, EveryReasonIsDocumented) {
  std::ifstream in(std::string(SEMPER_SOURCE_DIR) + "/docs/errors.md");
  std::stringstream doc;
  doc << in.rdbuf();
  const auto* e = v1::ErrorReason_descriptor();
  for (int i = 0; i < e->value_count(); ++i) {
    if (e->value(i)->number() == 0) continue;
    EXPECT_THAT(doc.str(), ::testing::HasSubstr("`" + e->value(i)->name() + "`")) << "docs/errors.md";
  }
}

TEST(LogTest, TextAndJsonEscapeValues) {
  std::ostringstream text_out, json_out;
  auto text = MakeLogger("semper-test", LogFormat::kText, spdlog::level::info,
                         std::make_shared<spdlog::sinks::ostream_sink_mt>(text_out));
  auto json = MakeLogger("semper-test", LogFormat::kJson, spdlog::level::info,
                         std::make_shared<spdlog::sinks::ostream_sink_mt>(json_out));
  for (auto& l : {text, json}) {
    LogEvent(l, spdlog::level::info, "rpc")
        .With("method", "/semper.v1.X/Y")
        .With("note", "a \"quoted\"\nline")
        .With("ms", 1.5);
    LogEvent(l, spdlog::level::debug, "hidden").With("x", "y");
  }
  EXPECT_THAT(text_out.str(),
              ::testing::HasSubstr("semper-test rpc method=/semper.v1.X/Y note=\"a \\\"quoted\\\"\\nline\" ms=1.5"));
  EXPECT_THAT(text_out.str(), ::testing::Not(::testing::HasSubstr("hidden")));
  EXPECT_THAT(
      json_out.str(),
      ::testing::HasSubstr(
          R"("logger":"semper-test","event":"rpc","method":"/semper.v1.X/Y","note":"a \"quoted\"\nline","ms":1.5})"));
  std::string json_text = json_out.str();
  EXPECT_EQ(std::count(json_text.begin(), json_text.end(), '\n'), 1);
}

TEST(LogTest, ParsesEveryDocumentedLevel) {
  for (const char* level : {"trace", "debug", "info", "warn", "error", "critical"}) {
    EXPECT_TRUE(ParseLogLevel(level).ok()) << level;
  }
  EXPECT_FALSE(ParseLogLevel("loud").ok());
  EXPECT_TRUE(ParseLogFormat("json").ok());
  EXPECT_FALSE(ParseLogFormat("xml").ok());
}

TEST(SecretTest, FromFileRefusesReadableFiles) {
  testing::TempDir dir;
  auto ok = SecretData::FromFile(dir.Write("p", "hunter22\n", 0600));
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->Reveal(), "hunter22");
  EXPECT_EQ(SecretData::FromFile(dir.Write("q", "x", 0644)).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(SecretData::FromFile(dir.path() + "/none").status().code(), absl::StatusCode::kNotFound);
}

TEST(MetricsTest, PrometheusText) {
  Metrics m;
  m.AddCounter("semper_x_total", "X things", {{"method", "/a"}, {"code", "OK"}});
  m.AddCounter("semper_x_total", "X things", {{"method", "/a"}, {"code", "OK"}});
  m.Observe("semper_latency_seconds", "Latency", {{"method", "/a"}}, 0.003);
  m.Observe("semper_latency_seconds", "Latency", {{"method", "/a"}}, 20);
  m.SetGauge("semper_ready", "Ready", {}, 1);
  std::string out = m.Render();
  EXPECT_THAT(out,
              ::testing::HasSubstr("# TYPE semper_x_total counter\nsemper_x_total{method=\"/a\",code=\"OK\"} 2\n"));
  EXPECT_THAT(out, ::testing::HasSubstr("semper_latency_seconds_bucket{method=\"/a\",le=\"0.0025\"} 0\n"));
  EXPECT_THAT(out, ::testing::HasSubstr("semper_latency_seconds_bucket{method=\"/a\",le=\"0.005\"} 1\n"));
  EXPECT_THAT(out, ::testing::HasSubstr("semper_latency_seconds_bucket{method=\"/a\",le=\"+Inf\"} 2\n"));
  EXPECT_THAT(out, ::testing::HasSubstr("semper_latency_seconds_count{method=\"/a\"} 2\n"));
  EXPECT_THAT(out, ::testing::HasSubstr("semper_ready 1\n"));
}

}  // namespace
}  // namespace semper
