// The JSON form of the suite's signed statements: proto3 JSON with the proto field names, as
// the bytes that get signed (and are kept exactly as signed). Thread-safe (pure functions).
#pragma once

#include <string>

#include <google/protobuf/message.h>

namespace semper {

std::string StatementJson(const google::protobuf::Message& statement);

}  // namespace semper
