#!/usr/bin/env bash
# CTest `fuzz_<target>`: runs a libFuzzer target for a bounded time from the committed seed
# corpus (copied, so that the source tree stays as it is). A crash, a leak, a sanitizer report,
# an input slower than 10 s or a broken promise (abort) fails it; libFuzzer then leaves the
# input that did it in the work directory, printed here.
#   tests/fuzz/run_fuzzer.sh BINARY CORPUS_DIR SECONDS
set -euo pipefail
BIN=$(realpath "${1:?usage: run_fuzzer.sh BINARY CORPUS_DIR SECONDS}")
CORPUS=$(cd "${2:?}" && pwd)
SECONDS_TO_RUN=${3:?}
WORK=$(mktemp -d /tmp/semper-fuzz.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cp -r "$CORPUS" "$WORK/corpus"
cd "$WORK"
if ! "$BIN" -max_total_time="$SECONDS_TO_RUN" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
     -print_final_stats=1 corpus 2> fuzz.log; then
  tail -n 60 fuzz.log
  for f in crash-* leak-* timeout-* oom-*; do
    [[ -f $f ]] && { echo "--- $f (base64)"; base64 "$f"; }
  done
  exit 1
fi
grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb|Done [0-9]+ runs" fuzz.log || true
echo "corpus: $(ls corpus | wc -l) inputs (started from $(ls "$CORPUS" | wc -l))"
