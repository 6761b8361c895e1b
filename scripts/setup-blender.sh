#!/usr/bin/env bash
# Installs Blender for the `blender` engine and its tests (Debian's package), and makes the
# example Blender scene examples/scenes/demo.blend with examples/scenes/make_blend.py.
# Idempotent. The built-in engine needs none of this.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v blender >/dev/null 2>&1 && [ -z "${PICTOR_BLENDER:-}" ]; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    echo "setup-blender: installing Debian's blender package" >&2
    $SUDO apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq blender >/dev/null
  else
    echo "setup-blender: no apt-get here; install Blender 3.4 or later and put it on PATH (or set PICTOR_BLENDER)" >&2
    exit 1
  fi
fi
BLENDER="${PICTOR_BLENDER:-$(command -v blender)}"
echo "setup-blender: $("$BLENDER" --factory-startup -b --version 2>/dev/null | head -n1) at $BLENDER" >&2

if [ ! -s examples/scenes/demo.blend ]; then
  "$BLENDER" -b --factory-startup -noaudio --python examples/scenes/make_blend.py -- examples/scenes/demo.blend >/dev/null
  echo "setup-blender: made examples/scenes/demo.blend" >&2
fi
