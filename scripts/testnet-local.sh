#!/usr/bin/env bash
# A public-testnet-like Pictor network on this machine, in Linux network namespaces that
# this script makes itself (root needed). See usage() and docs/operations.md.
set -euo pipefail
PATH="$PATH:/usr/sbin:/sbin" # ip, nft, tc, sysctl: where a PATH without sbin misses them

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX="ptn-"                 # every namespace made here is named ptn-*
SWITCH="${PREFIX}sw"          # the "public" segment: a bridge in a namespace of its own
PUBLIC_NET="10.77.0"          # the public segment, /24 (NAT routers: testnet-net.sh)
P2P_PORT=7400
HTTP_PORT=7401
NODES_FILE="testnet.nodes"    # the state dir's marker: one line per node

DIR="/tmp/pictor-testnet"
CHECKERS=4
WORKERS=1
NAT_WORKERS=2
CONNECT=""
RUNS=5
LATENCY=""
LOSS=""
DIAL="bootnode"
JSON=false
JOB_TIMEOUT=180
# What each worker asks (credits per benchmark-normalised render-second), and the budget
# the creator escrows for a job.
WORKER_PRICE=20
JOB_BUDGET=600
NAMES=()

usage() {
  cat <<EOF
Usage: scripts/testnet-local.sh COMMAND [OPTIONS]

A public-testnet-like Pictor network on this machine: each node a real \`pictor node\`
process in a Linux network namespace of its own (root needed, and ip, nft, tc, jq).

  up       make the namespaces and homes, start every node, wait until they are linked
           (a dirty state is taken \`down\` first; the homes are made afresh)
  status   every node: name, role, namespace, address, peer id, running, pid, reach
  restart NAME...
           stop and start those nodes again (same home and address)
  job      the creator asks the faucet for credits, submits
           examples/scenes/cornell-box.gltf with a budget, waits, and prints per worker
           its accepted shards, the credits it was paid and how it is reached; exits 1
           if the job fails, a NATed worker accepted no shard or a worker was not paid
  bench [--runs N]
           time to join (a restarted worker's process start to its first shard, on
           the public segment and behind NAT) and hole punches between the NATed
           workers, N times each while a job runs; medians, and JSON with --json
  doctor NAME [--connect OTHER]
           \`pictor doctor\` of node NAME, in its namespace: its AutoNAT verdict, relay
           reservations and hole punches; with --connect, how it reaches node OTHER
  down     stop every node it started and delete every namespace it made (idempotent)

Options:
  --dir DIR          state dir: homes, logs, pids, frames (default /tmp/pictor-testnet)
  --json             status, job: print JSON
  --checkers N       genesis checkers (up; default 4)
  --workers N        workers on the public segment (up; default 1)
  --nat-workers N    workers behind NAT, each behind a router of its own (up; default 2)
  --latency MS       up: tc netem delay added on egress of every namespace's uplink
  --loss PCT         up: tc netem loss on the same (needs the kernel's sch_netem)
  --dial bootnode|all
                     up: each node dials only the spec's bootnodes (relay-1, checker-1)
                     and finds the rest through them (default), or every public node
  --timeout SECS     job: how long the job may take (default 180)

The network: a "public" segment $PUBLIC_NET.0/24 (a bridge in namespace $SWITCH) with
relay-1 (\`--role relay\`, a bootnode) at $PUBLIC_NET.10, checker-1..N at .11.. (checker-1
the other bootnode), worker-1..N at .21.., the creator at .31. worker-nat-i sits behind
NAT router i ($PUBLIC_NET.(1+i) on the public side, masquerading 10.(77+i).0.0/24), at
10.(77+i).0.21 with only a default route via the router: it dials out, learns from AutoNAT
that nobody can dial it, and takes a reservation on relay-1, through which the other
NATed worker reaches it before a hole punch (DCUtR) makes the link direct. No namespace
has a route to the host's network. Each node's home is DIR/NAME (node.log, node.json,
rpc.token); its RPC listens on its own address, port $HTTP_PORT.

Binary: \$PICTOR_BIN, else target/release/pictor (built with cargo if missing).
EOF
}

die() { echo "testnet-local: $*" >&2; exit 1; }
need() { echo "testnet-local: $*" >&2; exit 2; }
log() { echo "testnet-local: $*" >&2; }

check_host() {
  [[ $(id -u) -eq 0 ]] || need "needs root (network namespaces, veths, nftables); run it with sudo"
  local tool
  for tool in ip nft tc jq; do
    command -v "$tool" >/dev/null 2>&1 ||
      need "\`$tool\` is missing; scripts/setup-testnet.sh installs it (iproute2, nftables, jq)"
  done
}

pictor_bin() {
  if [[ -n "${PICTOR_BIN:-}" ]]; then
    [[ -x "$PICTOR_BIN" ]] || die "PICTOR_BIN=$PICTOR_BIN is not an executable"
    BIN="$PICTOR_BIN"
  else
    BIN="$ROOT/target/release/pictor"
    if [[ ! -x "$BIN" ]]; then
      log "building $BIN (cargo build --release -p pictor-cli --locked)"
      (cd "$ROOT" && cargo build --release -p pictor-cli --locked) || die "the build failed"
    fi
  fi
}

# ---- nodes: one line each in DIR/testnet.nodes: name role ns addr reach key peer ----

nodes() { [[ -f "$DIR/$NODES_FILE" ]] && cat "$DIR/$NODES_FILE" || true; }
ns_of() { echo "$PREFIX$1"; }

# The pid of a node's process, if it runs.
node_pid() {
  local pid
  pid=$(cat "$DIR/$1/pid" 2>/dev/null) || return 1
  is_pictor "$pid" && echo "$pid"
}
is_pictor() {
  [[ "$1" =~ ^[0-9]+$ ]] && (($1 > 1)) && kill -0 "$1" 2>/dev/null &&
    [[ "$(cat "/proc/$1/comm" 2>/dev/null)" == pictor* ]] &&
    ! grep -q '^State:[[:space:]]*[ZX]' "/proc/$1/status" 2>/dev/null
}
runtime_field() { jq -r ".$2 // empty" "$DIR/$1/node.json" 2>/dev/null || true; }

# The namespaces, veths, bridges and NAT routers: scripts/testnet-net.sh.
# shellcheck source=scripts/testnet-net.sh
source "$ROOT/scripts/testnet-net.sh"

# ---- up ----

# Worker $1 asks $WORKER_PRICE credits per benchmark-normalised render-second.
set_price() {
  sed -i "s/^price = .*/price = $WORKER_PRICE/" "$DIR/$1/config.toml"
  grep -q "^price = $WORKER_PRICE\$" "$DIR/$1/config.toml" || die "cannot set the price of $1"
}

# Makes a home with `pictor init` and records the node. checker-1 also holds the
# faucet's key (its public half goes into the spec's [credits]); workers ask a price.
init_home() { # name role addr reach
  local out key peer faucet=()
  [[ "$1" == checker-1 ]] && faucet=(--faucet)
  out=$("$BIN" init --home "$DIR/$1" --network devnet "${faucet[@]}") || die "pictor init failed for $1"
  key=$(awk '$1 == "public" && $2 == "key" {print $3}' <<<"$out")
  peer=$(awk '$1 == "peer" && $2 == "id" {print $3}' <<<"$out")
  [[ -n "$key" && -n "$peer" ]] || die "cannot read the key of $1 from pictor init: $out"
  if [[ "$1" == checker-1 ]]; then
    awk '$1 == "faucet" && $2 == "key" {print $3}' <<<"$out" >"$DIR/faucet.pub"
    [[ -s "$DIR/faucet.pub" ]] || die "pictor init made no faucet key: $out"
  fi
  [[ "$2" == worker ]] && set_price "$1"
  echo "$1 $2 $(ns_of "$1") $3 $4 $key $peer" >>"$DIR/$NODES_FILE"
}

# The network spec, from the devnet's parameters (see docs/network-spec.md).
write_spec() {
  local keys boot committee=$((CHECKERS < 4 ? CHECKERS : 4))
  keys=$(awk '$2 == "checker" {printf "  \"%s\",\n", $6}' "$DIR/$NODES_FILE")
  boot=$(awk '$1 == "relay-1" || $1 == "checker-1" {printf "%s\"/ip4/%s/tcp/'$P2P_PORT'/p2p/%s\"", sep, $4, $7; sep = ", "}' "$DIR/$NODES_FILE")
  cat >"$DIR/network.toml" <<EOF
# The spec of a local testnet made by scripts/testnet-local.sh.
[network]
id = "pictor-testnet-local"
protocol_version = 1
genesis_checkers = [
$keys
]
bootnodes = [$boot]

[params]
committee_size = $committee
max_outstanding = 2
shard_timeout = "2m"
claim_timeout = "1m"
leader_timeout = "20s"
heartbeat_interval = "2s"
max_message_age = "10m"
gossip_heartbeat = "200ms"
canary_rate_ppm = 0
epoch = "5s"

[requirements]
gpu_required = false

[credits]
faucet = "$(cat "$DIR/faucet.pub")"
faucet_per_request = 100000
faucet_per_account = 1000000
faucet_window = "1h"
checker_fee = 1
EOF
}

# Starts one node in its namespace and waits until it listens.
start_node() { # name role ns addr
  local name=$1 role=$2 ns=$3 addr=$4 home="$DIR/$1" dials=() n r s a rest pid i
  while read -r n r s a rest; do
    [[ "$n" == "$name" || "$a" != "$PUBLIC_NET".* ]] && continue
    [[ "$DIAL" == bootnode ]] && continue # the spec's bootnode only
    dials+=(--bootnode "/ip4/$a/tcp/$P2P_PORT/p2p/${rest##* }")
  done < <(nodes)
  cp "$DIR/network.toml" "$home/network.toml"
  ip netns exec "$ns" setsid "$BIN" node --home "$home" --network "$DIR/network.toml" \
    --role "$role" --listen "/ip4/$addr/tcp/$P2P_PORT" --listen "/ip4/$addr/udp/$P2P_PORT/quic-v1" \
    --http "$addr:$HTTP_PORT" "${dials[@]}" </dev/null >>"$home/node.log" 2>&1 &
  echo $! >"$home/pid"
  for ((i = 0; i < 200; i++)); do
    pid=$(runtime_field "$name" pid)
    [[ -n "$pid" ]] && is_pictor "$pid" && { echo "$pid" >"$home/pid"; return 0; }
    is_pictor "$(cat "$home/pid")" || break
    sleep 0.1
  done
  die "$name did not start listening; $home/node.log: $(tail -n 3 "$home/node.log" | tr '\n' ' ')"
}

# Waits until each node has a gossip link to every public node (and each public node one
# to every NATed worker: they dial out to every peer they learn of).
wait_formed() {
  local total public want name role ns addr reach rest got waiting i
  total=$(nodes | wc -l)
  public=$(nodes | awk '$5 == "public"' | wc -l)
  for ((i = 0; i < 600; i++)); do
    waiting=""
    while read -r name role ns addr reach rest; do
      # A full mesh, but for NATed workers among themselves (each dials out only).
      want=$([[ "$reach" == public ]] && echo $((total - 1)) || echo "$public")
      got=$(runtime_field "$name" gossip_peers)
      node_pid "$name" >/dev/null || die "$name stopped; $DIR/$name/node.log: $(tail -n 3 "$DIR/$name/node.log" | tr '\n' ' ')"
      ((${got:-0} >= want)) || waiting+=" $name (${got:-0} of $want gossip peers)"
    done < <(nodes)
    [[ -z "$waiting" ]] && break
    sleep 0.1
  done
  [[ -z "$waiting" ]] || die "the network did not form in 60 s:$waiting"
  # A NATed node knows it once AutoNAT has tested it (its first probe is 5 s after it
  # connects), and then takes a reservation on the relay.
  for ((i = 0; i < 180; i++)); do
    waiting=""
    while read -r name role ns addr reach rest; do
      [[ "$reach" == nat ]] || continue
      case "$(reached "$name")" in relayed | hole-punched) ;; *) waiting+=" $name" ;; esac
    done < <(nodes)
    [[ -z "$waiting" ]] && return 0
    sleep 0.5
  done
  log "warning: not reachable through the relay after 90 s:$waiting (see \`$0 doctor NAME\`)"
}

cmd_up() {
  local i name role addr reach rest
  pictor_bin
  [[ ! -e "$DIR" || -d "$DIR" ]] || die "$DIR is not a directory: use another --dir"
  if [[ -n "$(ls -A "$DIR" 2>/dev/null)" && ! -f "$DIR/$NODES_FILE" ]]; then
    die "$DIR is not empty and holds no testnet ($NODES_FILE): use another --dir"
  fi
  cmd_down >/dev/null
  rm -rf "${DIR:?}"
  mkdir -p "$DIR"
  : >"$DIR/$NODES_FILE"
  trap 'log "up failed: taking the network down (logs stay in $DIR)"; cmd_down >/dev/null' EXIT
  init_home relay-1 relay "$PUBLIC_NET.10" public
  for ((i = 1; i <= CHECKERS; i++)); do init_home "checker-$i" checker "$PUBLIC_NET.$((10 + i))" public; done
  for ((i = 1; i <= WORKERS; i++)); do init_home "worker-$i" worker "$PUBLIC_NET.$((20 + i))" public; done
  init_home creator creator "$PUBLIC_NET.31" public
  for ((i = 1; i <= NAT_WORKERS; i++)); do init_home "worker-nat-$i" worker "$(router_net "$i").21" nat; done
  write_spec
  echo "$DIAL" >"$DIR/dial"
  make_switch
  for ((i = 1; i <= NAT_WORKERS; i++)); do make_router "$i"; done
  while read -r name role _ addr reach rest; do
    if [[ "$reach" == public ]]; then attach_public "$name" "$addr"; else attach_nat "$name" "$addr" "${name##*-}"; fi
  done < <(nodes)
  while read -r name role ns addr rest; do
    start_node "$name" "$role" "$ns" "$addr"
  done < <(nodes)
  wait_formed
  trap - EXIT
  log "up: $(nodes | wc -l) nodes in $DIR (spec $DIR/network.toml)"
  cmd_status
}

# ---- status ----

cmd_status() {
  local name role ns addr reach key peer pid running listen http
  [[ -f "$DIR/$NODES_FILE" ]] || die "$DIR holds no testnet: start one with \`scripts/testnet-local.sh up --dir $DIR\`"
  if $JSON; then
    while read -r name role ns addr reach key peer; do
      pid=$(node_pid "$name" || true)
      running=$([[ -n "$pid" ]] && echo true || echo false)
      listen=$([[ -n "$pid" ]] && jq -c '.listen' "$DIR/$name/node.json" 2>/dev/null || echo '[]')
      jq -nc --arg name "$name" --arg role "$role" --arg home "$DIR/$name" --arg peer "$peer" \
        --argjson listen "${listen:-[]}" --arg http "$addr:$HTTP_PORT" --argjson running "$running" \
        --arg pid "$pid" --arg ns "$ns" --arg addr "$addr" --arg reach "$reach" \
        '{name: $name, role: $role, home: $home, peer_id: $peer, listen: $listen, http: $http,
          running: $running, pid: (if $pid == "" then null else ($pid | tonumber) end),
          namespace: $ns, address: $addr, reach: $reach}'
    done < <(nodes) | jq -s '{nodes: .}'
    return
  fi
  printf '%-14s %-8s %-18s %-11s %-7s %-8s %-8s %s\n' NAME ROLE NAMESPACE ADDRESS REACH STATE PID PEER
  while read -r name role ns addr reach key peer; do
    pid=$(node_pid "$name" || true)
    printf '%-14s %-8s %-18s %-11s %-7s %-8s %-8s %s\n' "$name" "$role" "$ns" "$addr" "$reach" \
      "$([[ -n "$pid" ]] && echo running || echo stopped)" "${pid:--}" "$peer"
  done < <(nodes)
}

# The creator's jobs, `doctor` and `bench`: scripts/testnet-job.sh.
# shellcheck source=scripts/testnet-job.sh
source "$ROOT/scripts/testnet-job.sh"

# ---- restart ----

# Stops and starts nodes again on their homes and addresses (a late or restarted peer).
cmd_restart() {
  local name
  [[ -f "$DIR/$NODES_FILE" ]] || die "$DIR holds no testnet"
  ((${#NAMES[@]})) || die "restart: name the nodes (see status)"
  pictor_bin
  DIAL=$(cat "$DIR/dial" 2>/dev/null || echo bootnode)
  for name in "${NAMES[@]}"; do
    restart_node "$name"
    log "restarted $name (pid $(cat "$DIR/$name/pid"))"
  done
}

# Stops node $1 (SIGTERM, SIGKILL after 10 s) and starts it again on its home and address.
restart_node() {
  stop_node "$1"
  start_again "$1"
}

stop_node() {
  local pid i
  if pid=$(node_pid "$1"); then
    kill -TERM "$pid"
    for ((i = 0; i < 100; i++)); do is_pictor "$pid" || break; sleep 0.1; done
    is_pictor "$pid" && kill -KILL "$pid"
  fi
  return 0
}

start_again() {
  local role ns addr rest
  read -r _ role ns addr rest < <(awk -v n="$1" '$1 == n' "$DIR/$NODES_FILE") || die "no node $1"
  start_node "$1" "$role" "$ns" "$addr"
}

# ---- down ----

cmd_down() {
  local name pid pids=() ns i
  for name in $(nodes | awk '{print $1}'); do
    pid=$(node_pid "$name" || true)
    [[ -n "$pid" ]] && { kill -TERM "$pid" 2>/dev/null || true; pids+=("$pid"); }
  done
  for ((i = 0; i < 100; i++)); do # up to 10 s for a clean stop
    for pid in ${pids[@]+"${pids[@]}"}; do is_pictor "$pid" && { sleep 0.1; continue 2; }; done
    break
  done
  for pid in ${pids[@]+"${pids[@]}"}; do
    is_pictor "$pid" && { log "pid $pid still running after SIGTERM: killed"; kill -KILL "$pid" 2>/dev/null || true; }
  done
  for ns in $(ip netns list 2>/dev/null | awk -v p="$PREFIX" 'index($1, p) == 1 {print $1}'); do
    # A pictor process left in a namespace of ours (its pid file lost): ours too.
    for pid in $(ip netns pids "$ns" 2>/dev/null); do
      is_pictor "$pid" && { log "killing pictor pid $pid left in $ns"; kill -KILL "$pid" 2>/dev/null || true; }
    done
    ip netns delete "$ns" 2>/dev/null || log "cannot delete namespace $ns"
  done
  rm -f "$DIR"/*/pid
  log "down: no node of $DIR runs; no ${PREFIX}* namespace is left"
}

# ---- main ----

main() {
  local cmd=${1:-}
  [[ -n "$cmd" ]] || { usage >&2; exit 2; }
  shift
  case "$cmd" in -h | --help | help) usage; exit 0 ;; up | down | status | job | restart | doctor | bench) ;; *) usage >&2; exit 2 ;; esac
  while (($#)); do
    case "$1" in
      --dir) DIR=${2:?--dir needs a value}; shift ;;
      --json) JSON=true ;;
      --checkers) CHECKERS=${2:?}; shift ;;
      --workers) WORKERS=${2:?}; shift ;;
      --nat-workers) NAT_WORKERS=${2:?}; shift ;;
      --latency) LATENCY=${2:?}; shift ;;
      --loss) LOSS=${2:?}; shift ;;
      --dial) DIAL=${2:?}; shift ;;
      --timeout) JOB_TIMEOUT=${2:?}; shift ;;
      --connect) CONNECT=${2:?--connect needs a node name}; shift ;;
      --runs) RUNS=${2:?}; shift ;;
      -h | --help) usage; exit 0 ;;
      -*) echo "testnet-local: unknown option $1 (see --help)" >&2; exit 2 ;;
      *) [[ "$cmd" == restart || "$cmd" == doctor ]] || { echo "testnet-local: unexpected argument $1 (see --help)" >&2; exit 2; }
        NAMES+=("$1") ;;
    esac
    shift
  done
  local v
  for v in "$CHECKERS" "$WORKERS" "$NAT_WORKERS" "$JOB_TIMEOUT" "$RUNS" ${LATENCY:+"$LATENCY"}; do
    [[ "$v" =~ ^[0-9]+$ ]] || { echo "testnet-local: not a whole number: $v" >&2; exit 2; }
  done
  [[ -z "$LOSS" || "$LOSS" =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "testnet-local: --loss takes a percentage" >&2; exit 2; }
  ((CHECKERS >= 1 && CHECKERS <= 9 && WORKERS <= 9 && NAT_WORKERS <= 9)) ||
    { echo "testnet-local: 1 to 9 checkers, 0 to 9 workers of each kind" >&2; exit 2; }
  [[ "$DIAL" == all || "$DIAL" == bootnode ]] || { echo "testnet-local: --dial all|bootnode" >&2; exit 2; }
  DIR=$(realpath -m "$DIR")
  [[ "$DIR" != / ]] || { echo "testnet-local: --dir / is not a state dir" >&2; exit 2; }
  check_host
  "cmd_$cmd"
}

main "$@"
