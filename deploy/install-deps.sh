#!/usr/bin/env bash
# Installs semper's dependencies from Debian 12's packages: `install-deps.sh run` what building and
# running the suite needs (deploy/up.sh, the README's first command), `install-deps.sh ha` that and
# the production topology's engines (SEMPER_HA=1 deploy/up.sh), `install-deps.sh python` what
# the Python client needs (clients/python), `install-deps.sh` (or `all`) everything, tests
# included (deploy/test.sh). Idempotent: packages already present are not
# downloaded again.
set -euo pipefail
mode=${1:-all}

RUN_PACKAGES=(
  # build
  build-essential cmake ninja-build ccache pkg-config git
  protobuf-compiler protobuf-compiler-grpc libprotobuf-dev libgrpc++-dev libgrpc-dev
  libssl-dev libpqxx-dev libpq-dev libspdlog-dev libfmt-dev libabsl-dev
  libcli11-dev libtomlplusplus-dev libcpp-httplib-dev
  # run (python3 for the README's walkthrough)
  openssl ca-certificates postgresql-15 postgresql-client-15 procps iproute2 curl python3
  softhsm2 libengine-pkcs11-openssl gnutls-bin  # gnutls-bin: p11tool (keys-to-token.sh, PINs from the environment)
)
# The production topology (deploy/ha.sh, SEMPER_HA=1 deploy/up.sh, failover_test): PostgreSQL
# nodes run by Patroni with etcd as the consensus store; pgBackRest for backups and restores.
HA_PACKAGES=(patroni python3-etcd python3-idna etcd-server pgbackrest)  # python3-idna: urllib3 over TLS (etcd)
# The Python client (clients/python: generate.sh, the package, its flow).
PYTHON_PACKAGES=(
  python3 python3-grpcio python3-protobuf python3-cryptography python3-pyasn1-modules
  protobuf-compiler protobuf-compiler-grpc
)
TEST_PACKAGES=(
  # test
  libgtest-dev libgmock-dev libbenchmark-dev
  # the test build: clang with AddressSanitizer, UndefinedBehaviorSanitizer and libFuzzer;
  # llvm-symbolizer for readable reports
  clang-14 libclang-rt-14-dev llvm-14
  # the format check (tests/format_check.sh, ctest `format`)
  clang-format-14 git
  # an independent RFC 3161 verifier for Ed25519 tokens, which OpenSSL 3.0 cannot verify
  python3 python3-cryptography python3-pyasn1-modules
  # benchmarks (tests/bench): the reference OCSP responder to compare with
  golang-cfssl
)
case "$mode" in
  run) PACKAGES=("${RUN_PACKAGES[@]}") ;;
  ha) PACKAGES=("${RUN_PACKAGES[@]}" "${HA_PACKAGES[@]}") ;;
  python) PACKAGES=("${PYTHON_PACKAGES[@]}") ;;
  all) PACKAGES=("${RUN_PACKAGES[@]}" "${HA_PACKAGES[@]}" "${TEST_PACKAGES[@]}" "${PYTHON_PACKAGES[@]}") ;;
  *) echo "usage: install-deps.sh [run|ha|python|all]" >&2; exit 2 ;;
esac

if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps.sh: run as root (it calls apt-get)" >&2
  exit 1
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps.sh: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "install-deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
