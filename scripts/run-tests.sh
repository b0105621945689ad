#!/usr/bin/env bash
# Runs the test suites against real servers that this script starts and stops.
#   scripts/run-tests.sh all|unit|integration|contracts [extra pytest args]
# Environment: TEST_BUILD (default build-test), OP_TEST_BACKENDS ("sqlite postgres").
set -uo pipefail
cd "$(dirname "$0")/.."
suite=${1:-all}; shift || true
TEST_BUILD=${TEST_BUILD:-build-test}
export OP_BIN=$PWD/$TEST_BUILD/orderpulse
export OP_TEST_OUTPUT=$PWD/test-output
export OP_TEST_BACKENDS=${OP_TEST_BACKENDS:-sqlite postgres}
# Debian's python3 has the test modules; a python3 earlier on PATH may not.
PY=/usr/bin/python3
# Sanitizers: fail on the first error; leak checks on at exit.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/lsan.supp:print_suppressions=0}
mkdir -p "$OP_TEST_OUTPUT"

tmp=$(mktemp -d /tmp/orderpulse-test.XXXXXX)
chmod 755 "$tmp"
cleanup() {
  scripts/pg-test.sh stop "$tmp/pg" >/dev/null 2>&1
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

if [[ " $OP_TEST_BACKENDS " == *" postgres "* ]]; then
  OP_TEST_PG_URL=$(scripts/pg-test.sh start "$tmp/pg" "$(free_port)") || { echo "could not start PostgreSQL" >&2; exit 1; }
  export OP_TEST_PG_URL
  echo "run-tests: PostgreSQL at $OP_TEST_PG_URL"
fi

passed=0; failed=0
record() { if [ "$1" -eq 0 ]; then passed=$((passed+1)); else failed=$((failed+1)); echo "run-tests: suite '$2' FAILED" >&2; fi; }

run_unit() {
  ctest --test-dir "$TEST_BUILD" --output-on-failure -j "$(nproc)" --timeout 300
}
run_format() {
  [ -f .clang-format ] || return 0
  command -v clang-format >/dev/null || return 0
  clang-format --dry-run --Werror $(git ls-files '*.c' '*.h') 
}
run_pytest() {
  $PY -m pytest -q -p no:cacheprovider "$@"
}
# The whole integration suite in two parts: most tests on OP_TEST_WORKERS
# pytest workers at once (each test starts its own broker, services and
# database, and spends most of its time waiting on them), then the tests
# marked serial alone: they hold 10,000 connections, measure memory or drive
# several instances hard, and would starve beside others on two cores.
run_integration_all() {
  local workers=${OP_TEST_WORKERS:-3} rc=0
  if $PY -c 'import xdist' 2>/dev/null && [ "$workers" -gt 1 ]; then
    run_pytest -n "$workers" --durations=12 tests/integration -m "not serial" "$@" || rc=1
  else
    run_pytest tests/integration -m "not serial" "$@" || rc=1
  fi
  run_pytest --durations=12 tests/integration -m serial "$@" || rc=1
  return $rc
}

run_e2e() {
  scripts/install-e2e.sh || return 1
  local files=("$@")
  [ ${#files[@]} -gt 0 ] || files=(tests/e2e/*.test.js)
  OP_BIN=${OP_E2E_BIN:-$OP_BIN} timeout 1200 node --test --test-concurrency=1 \
    --test-timeout=600000 "${files[@]}"
}

# A suite's folder, unless the arguments already name test files of their own.
suite_args() {
  local dir=$1; shift
  for a in "$@"; do [[ "$a" == tests/* ]] && { printf '%s\n' "$@"; return; }; done
  printf '%s\n' "$dir" "$@"
}

case "$suite" in
  unit) run_unit; record $? unit ;;
  integration)
    if [ $# -eq 0 ]; then run_integration_all; record $? integration
    else mapfile -t args < <(suite_args tests/integration "$@"); run_pytest "${args[@]}"; record $? integration; fi ;;
  contracts) mapfile -t args < <(suite_args tests/contracts "$@"); run_pytest "${args[@]}"; record $? contracts ;;
  all)
    run_format; record $? format
    run_unit; record $? unit
    run_pytest tests/contracts; record $? contracts
    run_integration_all "$@"; record $? integration
    ;;
  e2e) run_e2e "$@"; record $? e2e ;;
  *) echo "usage: $0 all|unit|integration|contracts|e2e [pytest args]" >&2; exit 2 ;;
esac
# The dashboard in headless Chromium (tests/e2e, node's test runner), after
# the other suites of `all`; one test file at a time (each starts its own dev
# server and browser), each bounded.
if [ "$suite" = all ]; then run_e2e; record $? e2e; fi
echo "suites: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
