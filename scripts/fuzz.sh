#!/usr/bin/env bash
# Fuzzing with libFuzzer (cargo-fuzz, nightly Rust). The targets are in fuzz/targets; what
# each one checks is in fuzz/src (docs/security.md lists them).
#
#   scripts/fuzz.sh [--seconds N | --runs N] [--jobs J] [TARGET…]
#       runs each target (all by default) for N seconds or N inputs, J targets at once,
#       starting from fuzz/seeds/TARGET and the corpus grown by earlier runs, and prints
#       a table of inputs run per target. A crash stops that target; its input is left
#       in fuzz/targets/artifacts/TARGET/ and the script exits 1 (copy the input into
#       fuzz/regressions/TARGET/ once fixed: the corpus test runs it on stable from then).
#       --no-build runs the targets as last built; --report prints the table of the
#       last runs and runs nothing.
#   scripts/fuzz.sh --ci
#       what CI runs: every target for $FUZZ_SECONDS (default 15) seconds where a
#       nightly toolchain is present; says so and succeeds where it is not.
#   scripts/fuzz.sh seeds
#       re-makes the seed corpus: files from the examples and shared models, and the
#       messages a real local network exchanges (recorded with PICTOR_RECORD_INPUTS).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

targets_all=(envelope message request response capability bitswap unixfs upload
  scene_gltf scene_bundle texture blender_png network_spec home_config rpc)

# The longest input each target tries (bytes): scenes and responses are large.
max_len() {
  case "$1" in
    scene_gltf | scene_bundle | response) echo 1048576 ;;
    texture | blender_png | unixfs) echo 262144 ;;
    *) echo 65536 ;;
  esac
}

if [[ "${1:-}" == "seeds" ]]; then
  rec="$(mktemp -d)"
  trap 'rm -rf "$rec"' EXIT
  cargo build --release --locked -p pictor-cli
  for args in "examples/scenes/textured-crate.gltf --faulty-workers 1 --equivocating-checkers 1" \
    "examples/scenes/cornell-box.gltf --lazy-checkers 1"; do
    # shellcheck disable=SC2086
    PICTOR_RECORD_INPUTS="$rec" target/release/pictor render $args --frames 1-2 \
      --width 128 --height 96 --out "$rec/out" -q
  done
  for kind in envelope message request response capability bitswap; do
    mkdir -p "fuzz/seeds/$kind"
    cp "$rec/$kind"/* "fuzz/seeds/$kind/"
  done
  cargo run --locked -p pictor-fuzz --example make_seeds -- .
  exit 0
fi

seconds=""
runs=""
jobs=1
ci=false
no_build=false
report_only=false
targets=()
while (($#)); do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --no-build) no_build=true; shift ;;
    --report) report_only=true; no_build=true; shift ;;
    --ci) ci=true; seconds="${FUZZ_SECONDS:-15}"; shift ;;
    -h | --help) sed -n '2,21p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
((${#targets[@]})) || targets=("${targets_all[@]}")
[[ -n "$seconds" || -n "$runs" ]] || seconds=60

if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  echo "fuzz: no nightly toolchain here (rustup toolchain install nightly); the fuzz targets do not run"
  $ci && exit 0
  exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  if ! cargo install --locked cargo-fuzz; then
    echo "fuzz: cargo-fuzz could not be installed; the fuzz targets do not run"
    $ci && exit 0
    exit 1
  fi
fi

# Release code with debug assertions (so an overflow is a crash), without AddressSanitizer
# (Pictor's crates forbid unsafe code; ASan would halve the inputs run). CI builds without
# optimisations, which compiles faster, and gives the build a time limit.
profile=(-O)
$ci && profile=(--dev)
build=(cargo +nightly fuzz build --fuzz-dir fuzz/targets "${profile[@]}" -a -s none)
built=0
$no_build || timeout "${FUZZ_BUILD_TIMEOUT:-0}" "${build[@]}" || built=$?
if ((built == 124)); then
  echo "fuzz: building the targets took over ${FUZZ_BUILD_TIMEOUT}s; they do not run this time"
  $ci && exit 0
  exit 1
elif ((built != 0)); then
  echo "fuzz: building the targets failed" >&2
  exit 1
fi

bin_dir="fuzz/targets/target/x86_64-unknown-linux-gnu/release"
$ci && bin_dir="fuzz/targets/target/x86_64-unknown-linux-gnu/debug"
logs="fuzz/targets/logs"
mkdir -p "$logs"
run_one() {
  local t="$1"
  local corpus="fuzz/targets/corpus/$t"
  mkdir -p "$corpus" "fuzz/targets/artifacts/$t"
  local limit=()
  [[ -n "$seconds" ]] && limit+=("-max_total_time=$seconds")
  [[ -n "$runs" ]] && limit+=("-runs=$runs")
  rm -f "$logs/$t.rc"
  # The binary the build made (cargo fuzz run would build again when a source changed).
  "$bin_dir/$t" "$corpus" "fuzz/seeds/$t" \
    "${limit[@]}" -max_len="$(max_len "$t")" -rss_limit_mb=2048 -malloc_limit_mb=2048 \
    -timeout=10 -print_final_stats=1 -artifact_prefix="fuzz/targets/artifacts/$t/" \
    >"$logs/$t.log" 2>&1
  echo $? >"$logs/$t.rc"
}

# The table of the last run of each target, from its log.
failed=()
report() {
  printf '%-14s %14s %8s %10s %8s  %s\n' target inputs seconds "inputs/s" corpus result
  for t in "${targets[@]}"; do
    [[ -f "$logs/$t.log" ]] || continue
    local result=ok log="$logs/$t.log" execs secs rate corpus
    [[ "$(cat "$logs/$t.rc" 2>/dev/null)" == 0 ]] || result=CRASH
    [[ -f "$logs/$t.rc" ]] || result=running
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || echo 0)
    secs=$(grep -o 'Done [0-9]* runs in [0-9]* second' "$log" | tail -1 | awk '{print $5}' || true)
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || echo 0)
    corpus=$(find "fuzz/targets/corpus/$t" -type f 2>/dev/null | wc -l)
    printf '%-14s %14s %8s %10s %8s  %s\n' "$t" "$execs" "${secs:-?}" "$rate" "$corpus" "$result"
    if [[ "$result" == CRASH ]]; then
      failed+=("$t")
      grep -m1 -E 'panicked at|ERROR: libFuzzer' "$log" || true
      ls "fuzz/targets/artifacts/$t" 2>/dev/null | sed "s|^|  input: fuzz/targets/artifacts/$t/|"
    fi
  done
}
if $report_only; then
  report
  exit 0
fi

running=0
for t in "${targets[@]}"; do
  [[ -d "fuzz/seeds/$t" ]] || { echo "fuzz: no target $t" >&2; exit 2; }
  (set +e; run_one "$t") &
  running=$((running + 1))
  if ((running >= jobs)); then
    wait -n || true
    running=$((running - 1))
  fi
done
wait
report
if ((${#failed[@]})); then
  echo "fuzz: ${failed[*]} crashed (logs in $logs/)"
  exit 1
fi
