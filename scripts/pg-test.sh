#!/usr/bin/env bash
# Starts or stops a throw-away PostgreSQL server for the tests.
#   scripts/pg-test.sh start DIR PORT   prints the DATABASE_URL on stdout
#   scripts/pg-test.sh stop DIR
# The server listens on 127.0.0.1:PORT and a socket in DIR; data lives in DIR.
# PostgreSQL refuses to run as root, so as root it runs as user postgres.
set -euo pipefail
cmd=${1:?start|stop}; dir=${2:?data dir}
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$bindir" ] || { echo "pg-test: PostgreSQL server binaries not found" >&2; exit 1; }

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$cmd" in
  start)
    port=${3:?port}
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
    if [ ! -f "$dir/PG_VERSION" ]; then
      as_owner "$bindir/initdb" -D "$dir" -U orderpulse --auth=trust -E UTF8 >"$dir.initdb.log" 2>&1 \
        || { cat "$dir.initdb.log" >&2; exit 1; }
    fi
    # Durability stays on (fsync, synchronous_commit): the tests check what a
    # production server would keep.
    as_owner "$bindir/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200 -c shared_buffers=128MB" \
      start >/dev/null
    as_owner "$bindir/createdb" -h 127.0.0.1 -p "$port" -U orderpulse orderpulse 2>/dev/null || true
    echo "postgres://orderpulse@127.0.0.1:$port/orderpulse"
    ;;
  stop)
    [ -f "$dir/postmaster.pid" ] && as_owner "$bindir/pg_ctl" -D "$dir" -m fast -w -t 60 stop >/dev/null || true
    ;;
  *) echo "usage: $0 start DIR PORT | stop DIR" >&2; exit 2 ;;
esac
