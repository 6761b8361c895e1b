#!/usr/bin/env bash
# Installs headless Chromium for the explorer's browser test (cli/tests/explorer.rs):
# Debian's `chromium` package. Idempotent; the node itself needs none of this.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
  echo "setup-chromium: already installed: $(chromium --version 2>/dev/null || echo chromium) at $(command -v chromium)"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup-chromium: no apt-get here; install Chromium and put \`chromium\` on PATH" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "setup-chromium: not root and no sudo; run as root: apt-get install chromium" >&2
    exit 1
  fi
  SUDO="sudo"
fi
echo "setup-chromium: installing Debian's chromium package (apt-get install --no-install-recommends chromium)"
$SUDO apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
echo "setup-chromium: installed $(chromium --version 2>/dev/null || echo chromium) at $(command -v chromium)"
