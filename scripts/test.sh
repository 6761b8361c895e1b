#!/usr/bin/env bash
# Runs the whole test suite: unit, property, renderer and multi-node tests.
set -euo pipefail
cd "$(dirname "$0")/.."
if cargo nextest --version >/dev/null 2>&1; then
  exec cargo nextest run --workspace --profile "${NEXTEST_PROFILE:-default}" "$@"
else
  echo "test: cargo-nextest not found, using cargo test" >&2
  exec cargo test --workspace "$@"
fi
