#include "services/liability/statement.h"

#include "absl/strings/escaping.h"
#include "common/base/log.h"
#include "common/base/proto_time.h"
#include "common/base/strings.h"

namespace semper::liability {
namespace {

void Field(std::string* out, std::string_view name, std::string_view value) {
  StrAppend(out, out->size() > 1 ? "," : "", "\"", name, "\":\"", JsonEscape(value), "\"");
}

// RFC 3339 in UTC, as proto3 JSON writes a Timestamp (fractional digits only when needed).
std::string Rfc3339(const google::protobuf::Timestamp& t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", FromTimestamp(t), absl::UTCTimeZone());
}

}  // namespace

std::string GuaranteeStatementJson(const v1::GuaranteeStatement& st) {
  std::string out = "{";
  out.reserve(1024);
  Field(&out, "type", st.type());
  Field(&out, "guarantee_id", st.guarantee_id());
  Field(&out, "agreement_id", st.agreement_id());
  Field(&out, "buyer", st.buyer());
  Field(&out, "buyer_certificate_serial", st.buyer_certificate_serial());
  Field(&out, "seller", st.seller());
  Field(&out, "order_sha256", absl::Base64Escape(AbslView(st.order_sha256())));
  // int64 is a string in proto3 JSON.
  StrAppend(&out, ",\"amount\":{\"currency\":\"", JsonEscape(st.amount().currency()), "\",\"minor_units\":\"",
            std::to_string(st.amount().minor_units()), "\"}");
  Field(&out, "issued_at", Rfc3339(st.issued_at()));
  Field(&out, "valid_until", Rfc3339(st.valid_until()));
  Field(&out, "statement", st.statement());
  if (!st.order_content_sha256().empty()) {
    Field(&out, "order_content_sha256", absl::Base64Escape(AbslView(st.order_content_sha256())));
  }
  out += "}";
  return out;
}

}  // namespace semper::liability
