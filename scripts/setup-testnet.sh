#!/usr/bin/env bash
# Installs what scripts/testnet-local.sh (the namespace testnet, and its test
# tests/tests/testnet_local.rs) needs besides root: ip and tc (iproute2), nft (nftables)
# and jq, from Debian's packages. Idempotent.
set -euo pipefail

missing=()
command -v ip >/dev/null 2>&1 && command -v tc >/dev/null 2>&1 || missing+=(iproute2)
command -v nft >/dev/null 2>&1 || missing+=(nftables)
command -v jq >/dev/null 2>&1 || missing+=(jq)
if ((${#missing[@]} == 0)); then
  echo "setup-testnet: ip, tc, nft and jq are installed"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup-testnet: no apt-get here; install ${missing[*]}" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "setup-testnet: not root and no sudo; run as root: apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  SUDO="sudo"
fi
echo "setup-testnet: installing ${missing[*]} (apt-get install -y)"
$SUDO apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup-testnet: installed ${missing[*]}"
