#!/usr/bin/env bash
# The README's first command: builds and installs `pictor` (scripts/setup.sh: a release
# build; Rust is installed first where it is missing) and renders the example scene on a
# local network of 4 checkers and 3 workers, writing the verified frames to out/. Extra
# arguments go to `pictor render`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec "$HOME/.cargo/bin/pictor" render examples/scenes/cornell-box.gltf --frames 1-4 --out out/ "$@"
