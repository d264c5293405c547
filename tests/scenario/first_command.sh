#!/usr/bin/env bash
# The README's first command exactly as the README writes it (`bash deploy/up.sh`: no variables,
# the default state directory and ports, the optimised ./build), then the README's walkthrough
# against what it started, and the Python client's flow. deploy/test.sh runs it after the tests (CI runs deploy/test.sh), so a
# fresh machine checks both commands. A suite that was running before is left running; one this
# script started is stopped at the end. Fails, never skips.
#   tests/scenario/first_command.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
STATE=/var/lib/semper
[[ $(id -u) -eq 0 ]] || STATE=$PWD/.semper
# Read whole before it is searched (grep -q on a pipe ends up.sh early: with pipefail, a running
# suite looked stopped, and was stopped at the end; found by a reviewer). Anything of it running
# counts, PostgreSQL too.
was_running=0
status=$(bash deploy/up.sh status 2>/dev/null || true)
if grep -q ': running' <<<"$status"; then was_running=1; fi
stop() { ((was_running)) || bash deploy/up.sh stop >/dev/null 2>&1 || true; }
trap stop EXIT
t=$(date +%s)
echo "first_command.sh: bash deploy/up.sh"
bash deploy/up.sh
echo "first_command.sh: deploy/up.sh took $(( $(date +%s) - t )) s"
echo "first_command.sh: the walkthrough (bash tests/scenario/marketplace.sh $STATE/client.env)"
bash tests/scenario/marketplace.sh "$STATE/client.env"
echo "first_command.sh: the Python client's flow, as the README's Python section runs it"
bash deploy/install-deps.sh python
bash clients/python/generate.sh
/usr/bin/python3 clients/python/tests/test_flow.py "$STATE/client.env"
echo "first_command.sh: the first command, the walkthrough and the Python flow passed"
