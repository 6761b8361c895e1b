#!/usr/bin/env bash
# Installs what Pictor needs on a fresh machine and builds the `pictor` binary into
# ~/.cargo/bin. The default path (the built-in engine, a local network) needs nothing
# outside the binary.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  else
    echo "setup: installing the Rust toolchain with rustup" >&2
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
fi

echo "setup: building pictor (release)" >&2
CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}" cargo install --locked --path cli --root "$HOME/.cargo" --force
echo "setup: installed $(command -v pictor || echo "$HOME/.cargo/bin/pictor")" >&2
