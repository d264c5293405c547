#!/usr/bin/env bash
# Generates the protocol buffer and gRPC modules of the `semper` Python package from the
# repository's protos (proto/), with Debian's protoc and grpc_python_plugin:
#   semper/v1/*_pb2.py, *_pb2_grpc.py      the suite's messages and service stubs
#   semper/_vendor/*_pb2.py                google.rpc.Status / ErrorInfo / RetryInfo and
#                                          grpc.health.v1 (Debian packages neither for Python)
# Run it once after a checkout and after the protos change; the package imports nothing else of
# ours. Packages: protobuf-compiler protobuf-compiler-grpc python3-grpcio python3-protobuf
# python3-cryptography python3-pyasn1-modules (deploy/install-deps.sh installs them).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
PROTO=$HERE/../../proto
PLUGIN=${GRPC_PYTHON_PLUGIN:-$(command -v grpc_python_plugin || echo /usr/bin/grpc_python_plugin)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The vendored protos keep their proto packages (google.rpc, grpc.health.v1: what goes on the
# wire) but live under semper/_vendor as Python modules, clear of the google and grpc packages.
mkdir -p "$tmp/semper/_vendor"
cp "$PROTO/google/rpc/status.proto" "$PROTO/google/rpc/error_details.proto" "$PROTO/grpc/health/v1/health.proto" \
  "$tmp/semper/_vendor/"
rm -f "$HERE"/semper/v1/*_pb2*.py "$HERE"/semper/_vendor/*_pb2*.py
mkdir -p "$HERE/semper/v1" "$HERE/semper/_vendor"
protoc -I "$PROTO" --python_out="$HERE" --grpc_python_out="$HERE" --plugin=protoc-gen-grpc_python="$PLUGIN" \
  "$PROTO"/semper/v1/*.proto
protoc -I "$tmp" --python_out="$HERE" --grpc_python_out="$HERE" --plugin=protoc-gen-grpc_python="$PLUGIN" \
  "$tmp"/semper/_vendor/*.proto
touch "$HERE/semper/v1/__init__.py" "$HERE/semper/_vendor/__init__.py"
echo "generate.sh: $(ls "$HERE"/semper/v1/*_pb2*.py "$HERE"/semper/_vendor/*_pb2*.py | wc -l) modules in $HERE/semper"
