#!/usr/bin/env bash
# Runs the benchmarks against a release build: make bench (figures go to stdout;
# docs/BENCHMARKS.md records them with this command).
set -euo pipefail
cd "$(dirname "$0")/.."
export OP_BIN=${OP_BIN:-$PWD/build/orderpulse}
tmp=$(mktemp -d /tmp/orderpulse-bench.XXXXXX); chmod 755 "$tmp"
trap 'scripts/pg-test.sh stop "$tmp/pg" >/dev/null 2>&1; rm -rf "$tmp"' EXIT
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
pg=$(scripts/pg-test.sh start "$tmp/pg" "$port")
/usr/bin/python3 bench/notify_ingest.py --db-url "sqlite://$tmp/x.db" --tmpdir "$tmp" "$@"
/usr/bin/python3 bench/notify_ingest.py --db-url "$pg" --tmpdir "$tmp" "$@"
