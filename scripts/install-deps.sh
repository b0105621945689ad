#!/usr/bin/env bash
# Installs every Debian package that building, running and testing orderpulse
# needs. Idempotent: installs only what is missing, and runs apt-get update
# only when something is missing. Uses sudo when not root.
#   scripts/install-deps.sh          build + run + test packages
#   scripts/install-deps.sh --run    only what building and running need
set -euo pipefail

build_run=(
  build-essential cmake pkg-config git
  librdkafka-dev libuv1-dev node-llhttp libjansson-dev libjwt-dev
  libsqlite3-dev libpq-dev libhiredis-dev libcurl4-openssl-dev libssl-dev
)
test_only=(
  libcmocka-dev clang-format kcat curl
  python3 python3-pytest python3-confluent-kafka python3-jsonschema python3-psycopg2 python3-jwt
  python3-aiosmtpd python3-requests python3-yaml python3-pytest-xdist
  postgresql redis-server sqlite3 valgrind
  chromium nodejs
)

pkgs=("${build_run[@]}")
[ "${1:-}" = "--run" ] || pkgs+=("${test_only[@]}")

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Update the package lists only when they are missing or older than a day.
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages' -mtime -1 2>/dev/null | head -1)" ]; then
  $SUDO apt-get update -qq
fi
if ! $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The distribution starts these services on install; the tests run their own.
for svc in postgresql redis-server; do
  if [[ " ${missing[*]} " == *" $svc "* ]] && command -v systemctl >/dev/null; then
    $SUDO systemctl stop "$svc" >/dev/null 2>&1 || true
  fi
done
exit 0
