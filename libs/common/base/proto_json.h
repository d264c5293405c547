// The JSON form of the suite's signed statements: proto3 JSON with the proto field names, as
// the bytes that get signed (and are kept exactly as signed). Thread-safe (pure functions).
#pragma once

#include <google/protobuf/message.h>

#include <string>

namespace semper {

std::string StatementJson(const google::protobuf::Message& statement);

}  // namespace semper
