#include "common/base/proto_json.h"

#include <google/protobuf/util/json_util.h>

namespace semper {

std::string StatementJson(const google::protobuf::Message& statement) {
  std::string json;
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(statement, &json, opts);
  return json;
}

}  // namespace semper
