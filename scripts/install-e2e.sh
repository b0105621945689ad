#!/usr/bin/env bash
# Installs what the browser tests need: Debian's chromium and node (through
# install-deps.sh), then playwright-core from tests/e2e/package-lock.json with
# `npm ci` into tests/e2e/node_modules. Idempotent: npm runs only when the lock
# file changed since the last install. No browser is downloaded (Playwright
# drives /usr/bin/chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# Debian's nodejs comes without npm (its own package); a node from elsewhere
# brings npm along, and Debian's npm package would conflict with it.
if ! command -v npm >/dev/null; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get install -y -qq --no-install-recommends npm >/dev/null
fi
dir=tests/e2e
stamp=$dir/node_modules/.orderpulse-lock
if [ -f "$stamp" ] && cmp -s "$stamp" "$dir/package-lock.json"; then
  exit 0
fi
echo "install-e2e: npm ci in $dir" >&2
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error
cp "$dir/package-lock.json" "$stamp"
