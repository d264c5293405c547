#!/usr/bin/env bash
# No command of the suite takes a secret as an argument: any local user reads /proc/*/cmdline.
# Walks every subcommand of semperctl and of each daemon (their --help), and fails on an option
# whose name says passphrase, password, PIN, secret or database URL unless it names a file
# (--...-file). Secrets come from files, the environment or the terminal.
# Usage: no_secret_arguments_test.sh <build directory>
set -euo pipefail
build=${1:?usage: no_secret_arguments_test.sh <build directory>}
failures=0
checked=0

# Prints the subcommand names of a --help text.
subcommands() {
  awk '/^Subcommands:/ {on = 1; next} on && /^  [a-z]/ {print $1} on && /^$/ {on = 0}'
}

# Checks one command path, then its subcommands.
walk() {
  local help
  help=$("$@" --help 2>&1) || { echo "FAILED: $* --help exits non-zero"; failures=$((failures + 1)); return; }
  checked=$((checked + 1))
  # Option names: words starting with -- at the start of an option line.
  while read -r option; do
    case "$option" in
      *-file) ;;
      *pass*|*pin|*pin-*|*password*|*secret*|*database-url*|*db-url*|*token-pin*)
        echo "FAILED: '$*' takes a secret on its command line: $option"
        failures=$((failures + 1)) ;;
    esac
  done < <(grep -oE '^ +(-[a-zA-Z],)?--[a-z0-9-]+' <<<"$help" | sed -E 's/^ +(-[a-zA-Z],)?//')
  local sub
  for sub in $(subcommands <<<"$help"); do
    walk "$@" "$sub"
  done
}

walk "$build/cli/semperctl/semperctl"
for daemon in ca/semper-ca timestamp/semper-tsa notary/semper-notary arbiter/semper-arbiter liability/semper-liability; do
  walk "$build/services/$daemon"
done
# The walk must have found the commands that take secrets from files, or it checked nothing.
if ! "$build/cli/semperctl/semperctl" enroll --help | grep -q -- '--wallet-passphrase-file'; then
  echo "FAILED: semperctl enroll --help lists no --wallet-passphrase-file: the walk reads the help wrongly"
  failures=$((failures + 1))
fi
if [ "$checked" -lt 60 ]; then
  echo "FAILED: only $checked commands walked"
  failures=$((failures + 1))
fi
echo "$checked commands walked, $failures taking secrets as arguments"
[ "$failures" -eq 0 ]
