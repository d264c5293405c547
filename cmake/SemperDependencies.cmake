# Every outside library comes from Debian's packages (deploy/install-deps.sh).
find_package(Threads REQUIRED)
find_package(OpenSSL 3.0 REQUIRED)
find_package(Protobuf REQUIRED)
find_package(gRPC CONFIG REQUIRED)
find_package(absl CONFIG REQUIRED)
find_package(spdlog CONFIG REQUIRED)
find_package(fmt CONFIG REQUIRED)
find_package(tomlplusplus CONFIG REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(PQXX REQUIRED IMPORTED_TARGET libpqxx)
# The Debian library is built with these defines; the header must see the same ones.
pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)

find_program(SEMPER_PROTOC protoc REQUIRED)
find_program(SEMPER_GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)
