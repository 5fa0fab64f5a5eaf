# Sourced by scripts/node.sh before it runs Node: makes sure node_modules holds what
# package-lock.json describes, so that a fresh clone needs no separate `npm ci`.
# Warm runs cost one sha256sum of the lockfile. The stamp node_modules/.mrr-lock-hash holds the
# hash of the lockfile the packages were installed from; npm's own record of an install
# (node_modules/.package-lock.json, written by npm ci/install) newer than the lockfile counts too,
# so an `npm ci` run by hand or by .ci/run is not repeated.
# Usage: ensure_packages <cache dir for the lock file>
ensure_packages() {
  local root lock stamp want
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  lock="$root/package-lock.json"
  stamp="$root/node_modules/.mrr-lock-hash"
  want="$(sha256sum "$lock" | cut -d' ' -f1)"
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && return 0
  if [ "$root/node_modules/.package-lock.json" -nt "$lock" ]; then
    # Only a shortcut for the next run: without it this branch is simply taken again.
    echo "$want" 2>/dev/null >"$stamp" || true
    return 0
  fi
  # Two commands started at once on a fresh clone must not both run npm ci (the lock lives
  # outside node_modules, which npm ci deletes).
  mkdir -p "$1"
  (
    flock 9
    [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && exit 0
    echo "[packages] node_modules does not match package-lock.json: running npm ci (first run after a clone or a lockfile change)" >&2
    cd "$root" && npm ci --no-audit --no-fund --loglevel=error >&2 || { echo "[packages] npm ci failed" >&2; exit 1; }
    echo "$want" >"$stamp"
  ) 9>"$1/npm-ci.lock"
}
