#!/usr/bin/env bash
# Runs go test verbosely into build/test.log, shows failures and the
# per-package lines, and ends with one line: "N passed, N failed, N skipped".
set -uo pipefail
mkdir -p build
log=build/test.log
# -p 2: the machine has two cores; the e2e tests start real servers.
go test -count=1 -p 2 -timeout 20m -v "$@" >"$log" 2>&1
status=$?
grep -E '^(ok|FAIL|---|panic:|\?)' "$log" | grep -Ev '^    --- PASS|^--- PASS' || true
if [ $status -ne 0 ]; then
  echo "== failures (full log in $log) =="
  grep -B2 -A25 -E '^\s*--- FAIL|^panic:' "$log" | head -300
fi
passed=$(grep -cE '^\s*--- PASS' "$log")
failed=$(grep -cE '^\s*--- FAIL' "$log")
skipped=$(grep -cE '^\s*--- SKIP' "$log")
if [ $status -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
echo "tests: $passed passed, $failed failed, $skipped skipped"
exit $status
