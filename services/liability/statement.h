// The guarantee statement's JSON, written directly: proto3 JSON with the proto field names (what
// StatementJson makes, and what any proto3 JSON parser reads back into a GuaranteeStatement),
// without going through protobuf's generic converter, which cost as much as the signature on the
// guarantee path. Thread-safe (a pure function).
#pragma once

#include <string>

#include "semper/v1/liability.pb.h"

namespace semper::liability {

std::string GuaranteeStatementJson(const v1::GuaranteeStatement& st);

}  // namespace semper::liability
