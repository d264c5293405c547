#!/usr/bin/env bash
# Runs the end-to-end load benchmarks of two builds back to back, each benchmark before then after,
# with `openssl speed -multi 2 ecdsap256` at the start and the end of the run, so that a change is
# judged on the same machine in the same minutes (our machines differ by a factor of two).
#
#   tests/bench/compare.sh BEFORE_BUILD_DIR AFTER_BUILD_DIR [OUT_DIR]
#
# Each *_BUILD_DIR is a build tree with benchmarks (tests/bench/ under it), e.g. a worktree of the
# commit before the change built with `cmake -DCMAKE_BUILD_TYPE=RelWithDebInfo
# -DSEMPER_BUILD_TESTS=ON`. SECONDS_PER_PHASE (default 5) sets each benchmark's --seconds;
# SEMPER_TEST_PG_SETTINGS (e.g. "commit_delay=2000 commit_siblings=0") is passed on to builds that
# know it. BEFORE_ENV and AFTER_ENV are settings for one side only: the same build against a single
# PostgreSQL and against the synchronous Patroni cluster of deploy/ha.sh is
#   AFTER_ENV=SEMPER_TEST_HA=1 tests/bench/compare.sh build-bench build-bench
# ONLY (names separated by spaces) runs those benchmarks alone. REPEAT=n (default 1) runs each
# benchmark n times, before and after interleaved (before, after, before, ...): on a shared
# machine one pass can sit anywhere in a spread of +-20%.
# The output of every run goes to OUT_DIR/<benchmark>.<before|after>.log and the screen.
set -euo pipefail

if [[ $# -lt 2 ]]; then
  sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
before=$(cd "$1" && pwd)
after=$(cd "$2" && pwd)
out=${3:-$(mktemp -d /tmp/semper-compare.XXXXXX)}
mkdir -p "$out"
s=${SECONDS_PER_PHASE:-5}

speed() {
  # " 256 bits ecdsa (nistp256)   0.0000s   0.0000s  78415.0  24000.0": sign/s is the seventh field.
  openssl speed -seconds 3 -multi 2 ecdsap256 2>/dev/null | awk '/256 bits ecdsa \(nistp256\)/ {print $7}' | tail -1
}

# name and arguments of each benchmark
benches=(
  "tsa_load --clients 32 --seconds $s"
  "liability_load --clients 64 --seconds $s --grpc"
  "token_load --clients 64 --seconds $s --grpc"
  "arbiter_load --clients 32 --seconds $s --grpc"
  "notary_load --clients 64 --seconds $s"
  "evidence_bench --claims 300 --threads 4"
  "ca_load --clients 8 --seconds $s --revoked 20000"
)

echo "openssl speed -multi 2 ecdsap256 at the start: $(speed) signatures/s" | tee "$out/openssl.log"
for b in "${benches[@]}"; do
  name=${b%% *}
  args=${b#"$name"}
  if [[ -n ${ONLY:-} && " $ONLY " != *" $name "* ]]; then continue; fi
  for run in $(seq 1 "${REPEAT:-1}"); do
  for side in before after; do
    dir=$before
    side_env=${BEFORE_ENV:-}
    if [[ $side == after ]]; then dir=$after; side_env=${AFTER_ENV:-}; fi
    bin=$dir/tests/bench/$name
    if [[ ! -x $bin ]]; then
      echo "== $name ($side): not built in $dir" | tee "$out/$name.$side.log"
      continue
    fi
    append=()
    if [[ $run -gt 1 ]]; then append=(-a); fi
    echo "== $name ($side${side_env:+, $side_env}, run $run)$args" | tee "${append[@]}" "$out/$name.$side.log"
    # shellcheck disable=SC2086
    env $side_env "$bin" $args 2>&1 | tee -a "$out/$name.$side.log" || echo "exit $?" | tee -a "$out/$name.$side.log"
  done
  done
done
echo "openssl speed -multi 2 ecdsap256 at the end: $(speed) signatures/s" | tee -a "$out/openssl.log"
echo "logs: $out"
