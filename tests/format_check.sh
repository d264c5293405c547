#!/usr/bin/env bash
# Fails when a C++ file of the project is not formatted as .clang-format says (clang-format-14,
# Google style, 120 columns), naming the files and the command that fixes them. ctest runs it
# (test `format`); run it by hand before a commit, or with --fix to format in place.
#   tests/format_check.sh [--fix]
set -euo pipefail
cd "$(dirname "$0")/.."
FORMAT=${CLANG_FORMAT:-clang-format-14}
command -v "$FORMAT" >/dev/null || { echo "format_check.sh: $FORMAT not found (bash deploy/install-deps.sh test)" >&2; exit 1; }
mapfile -t files < <(git ls-files -- '*.cc' '*.h' | grep -v -E '^(clients/|.*/_vendor/)' || true)
((${#files[@]})) || { echo "format_check.sh: no C++ files found (not a git checkout?)" >&2; exit 1; }
if [[ ${1:-} == --fix ]]; then
  "$FORMAT" -i --style=file "${files[@]}"
  exit 0
fi
# One clang-format for all files; it names each file that differs (its warnings go to stderr).
report=$("$FORMAT" --style=file --dry-run -Werror "${files[@]}" 2>&1 >/dev/null || true)
mapfile -t bad < <(grep -oE '^[^: ]+\.(cc|h):[0-9]+:[0-9]+: (error|warning)' <<<"$report" | cut -d: -f1 | sort -u || true)
if ((${#bad[@]})) || { [[ -n $report ]] && ! grep -q 'code should be clang-formatted' <<<"$report"; }; then
  [[ ${#bad[@]} -gt 0 ]] || { echo "format_check.sh: $FORMAT failed: $report" >&2; exit 1; }
  printf 'format_check.sh: not formatted: %s\n' "${bad[@]}" >&2
  echo "format_check.sh: fix with: tests/format_check.sh --fix (or $FORMAT -i --style=file <file>)" >&2
  exit 1
fi
echo "format_check.sh: ${#files[@]} files formatted as .clang-format says"
