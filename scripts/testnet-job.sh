# Jobs, `doctor` and `bench` of scripts/testnet-local.sh, which sources this file (it
# sets DIR, BIN, HTTP_PORT and the helpers nodes, ns_of, node_pid, die, log).

# ---- job ----

# A `pictor` command against node $1's RPC, run in its namespace.
node_cli() { # name command args...
  local name=$1 addr
  shift
  addr=$(awk -v n="$name" '$1 == n {print $4}' "$DIR/$NODES_FILE")
  [[ -n "$addr" ]] || die "no node $name (see status)"
  ip netns exec "$(ns_of "$name")" "$BIN" "$@" --rpc "http://$addr:$HTTP_PORT" \
    --token-file "$DIR/$name/rpc.token"
}
creator_cli() { node_cli creator "$@"; }

# How node $1 says it is reached (AutoNAT, relays, hole punches): public, relayed, ...
reached() {
  local json i
  for ((i = 0; i < 3; i++)); do # a loaded node may answer late: ask again
    json=$(node_cli "$1" rpc node_reach 2>/dev/null) && break
    sleep 0.5
  done
  jq -r '.reachability // "unknown"' <<<"${json:-null}" 2>/dev/null | tr _ - || echo unknown
}

# The workers the creator has heard of, as a JSON array (empty when it does not answer).
creator_workers() {
  local json
  json=$(creator_cli workers --json 2>/dev/null) || json='[]'
  jq -e 'type == "array"' <<<"$json" >/dev/null 2>&1 || json='[]'
  echo "$json"
}

# The credits node $1's account holds (0 when it does not answer).
credits_of() {
  local json
  json=$(node_cli "$1" balance --json 2>/dev/null) || json='{}'
  jq -r '.balance // 0' <<<"$json" 2>/dev/null || echo 0
}

cmd_job() {
  local scene="$ROOT/examples/scenes/cornell-box.gltf" before after summary state out rc=0 i
  local name role ns addr reach key peer n got id fails=() rows="[]" paid escrow="null"
  declare -A earned_before
  pictor_bin
  [[ -f "$DIR/$NODES_FILE" ]] || die "$DIR holds no testnet: run \`scripts/testnet-local.sh up\` first"
  node_pid creator >/dev/null || die "the creator is not running (scripts/testnet-local.sh status)"
  # Every worker seen live by the creator (heartbeats reach it through the checkers).
  n=$(awk '$2 == "worker"' "$DIR/$NODES_FILE" | wc -l)
  for ((i = 0; i < 60; i++)); do
    before=$(creator_workers)
    got=$(jq '[.[] | select(.status == "idle" or .status == "rendering")] | length' <<<"$before")
    ((got >= n)) && break
    sleep 1
  done
  ((got >= n)) || log "only $got of $n workers seen live by the creator; submitting anyway"
  # The job is paid for: credits from the faucet (checker-1 holds its key), then a budget.
  if (($(credits_of creator) < JOB_BUDGET)); then
    creator_cli faucet "$JOB_BUDGET" >/dev/null || die "the faucet gave the creator no credits"
  fi
  while read -r name role rest; do
    [[ "$role" == worker ]] && earned_before[$name]=$(credits_of "$name")
  done < <(nodes)
  out="$DIR/frames/$(date +%Y%m%d-%H%M%S)"
  log "submitting $scene (256x192, 4 samples, frames 1-2, 64 px tiles, budget $JOB_BUDGET credits) from the creator"
  summary=$(timeout "$JOB_TIMEOUT" ip netns exec "$(ns_of creator)" "$BIN" job submit "$scene" \
    --rpc "http://$(awk '$1 == "creator" {print $4}' "$DIR/$NODES_FILE"):$HTTP_PORT" \
    --token-file "$DIR/creator/rpc.token" --width 256 --height 192 --samples 4 --frames 1-2 \
    --tile 64 --budget "$JOB_BUDGET" --wait --json --out "$out") || rc=$?
  after=$(creator_workers)
  jq -e 'type == "object"' <<<"${summary:-null}" >/dev/null 2>&1 || summary=null
  state=$(jq -r '.state // "unknown"' <<<"$summary")
  # The last shards are paid and the rest refunded a moment after the job completes.
  id=$(jq -r '.job_id // empty' <<<"$summary")
  if [[ -n "$id" && "$state" == complete ]]; then
    for ((i = 0; i < 60; i++)); do
      escrow=$(creator_cli job status "$id" --json 2>/dev/null | jq -c '.escrow // null' 2>/dev/null) || escrow=null
      [[ "$(jq -r '.closed // false' <<<"${escrow:-null}")" == true ]] && break
      sleep 0.5
    done
    sleep 1 # the workers' nodes apply the last certificates a moment after the creator's
  fi
  if ((rc == 124)); then # the newest job of the creator is this one: cancel it
    state="timed out after ${JOB_TIMEOUT}s"
    summary=$(creator_cli job list --json 2>/dev/null | jq -c 'last // null' 2>/dev/null) || summary=null
    id=$(jq -r '.job_id // empty' <<<"${summary:-null}")
    [[ -z "$id" ]] || creator_cli job cancel "$id" >/dev/null 2>&1 || true
  fi
  while read -r name role ns addr reach key peer; do
    [[ "$role" == worker ]] || continue
    got=$(jq -n --argjson b "$before" --argjson a "$after" --arg k "$key" \
      '([$a[] | select(.key == $k) | .accepted][0] // 0) - ([$b[] | select(.key == $k) | .accepted][0] // 0)')
    paid=$(($(credits_of "$name") - ${earned_before[$name]:-0}))
    rows=$(jq -c --arg n "$name" --arg r "$reach" --arg p "$peer" --argjson g "$got" --arg h "$(reached "$name")" \
      --argjson c "$paid" '. + [{name: $n, reach: $r, reached: $h, peer_id: $p, accepted: $g, paid: $c}]' <<<"$rows")
    [[ "$reach" == nat ]] && ((got == 0)) && fails+=("$name (behind NAT) accepted no shard")
    ((got > 0 && paid <= 0)) && fails+=("$name accepted $got shards and was paid nothing")
  done < <(nodes)
  [[ "$state" == complete ]] || fails=("the job did not complete: $state (exit $rc)" "${fails[@]}")
  if $JSON; then
    jq -n --argjson s "$summary" --argjson w "$rows" --arg state "$state" --arg out "$out" \
      --argjson e "${escrow:-null}" \
      '{job_id: ($s.job_id // null), state: $state, shards: ($s.shards // null),
        verified: ($s.verified // null), frames_written: ($s.frames_written // []),
        out: $out, escrow: $e, workers: $w}'
  else
    jq -r --arg state "$state" '"job \(.job_id // "?"): \($state), \(.verified // "?") of \(.shards // "?") shards verified",
      (.frames_written // [] | .[] | "  frame   \(.)")' <<<"$summary"
    jq -r '"  budget  \(.funded) credits: \(.paid_workers) to workers, \(.paid_fees) in checker fees, \(.refunded) refunded"' \
      <<<"${escrow:-null}" 2>/dev/null | grep -v null || true
    printf '  %-14s %-12s %-13s %-9s %s\n' WORKER WHERE REACHED ACCEPTED PAID
    jq -r '.[] | [.name, (if .reach == "nat" then "behind NAT" else "public" end), .reached, .accepted, .paid] | @tsv' \
      <<<"$rows" | while IFS=$'\t' read -r name reach how got paid; do printf '  %-14s %-12s %-13s %-9s %s\n' "$name" "$reach" "$how" "$got" "$paid"; done
  fi
  ((${#fails[@]} == 0)) || { for i in "${fails[@]}"; do log "$i"; done; exit 1; }
}

# ---- doctor ----

# `pictor doctor` of one node in its namespace; with --connect, how it reaches another.
cmd_doctor() {
  local name args=() peer
  [[ -f "$DIR/$NODES_FILE" ]] || die "$DIR holds no testnet"
  ((${#NAMES[@]} == 1)) || die "doctor: name one node (see status)"
  name=${NAMES[0]}
  pictor_bin
  node_pid "$name" >/dev/null || die "$name is not running"
  if [[ -n "$CONNECT" ]]; then
    peer=$(awk -v n="$CONNECT" '$1 == n {print $7}' "$DIR/$NODES_FILE")
    [[ -n "$peer" ]] || die "no node $CONNECT (see status)"
    args+=(--connect "$peer")
  fi
  $JSON && args+=(--json)
  node_cli "$name" doctor "${args[@]}"
}

# ---- bench ----

# A new home (a new key) for node $1, recorded in place of its old one.
renew_home() {
  local out key peer
  rm -rf "${DIR:?}/$1"
  out=$("$BIN" init --home "$DIR/$1" --network devnet) || die "pictor init failed for $1"
  key=$(awk '$1 == "public" && $2 == "key" {print $3}' <<<"$out")
  peer=$(awk '$1 == "peer" && $2 == "id" {print $3}' <<<"$out")
  [[ -n "$key" && -n "$peer" ]] || die "cannot read the key of $1 from pictor init: $out"
  awk -v n="$1" -v k="$key" -v p="$peer" '$1 == n {$6 = k; $7 = p} {print}' "$DIR/$NODES_FILE" >"$DIR/$NODES_FILE.new"
  mv "$DIR/$NODES_FILE.new" "$DIR/$NODES_FILE"
  set_price "$1"
}

# Milliseconds since the epoch.
now_ms() { date +%s%3N; }

# The time (ms since the epoch) of the first "first shard received" line of node $1's log
# after its line $2, waiting up to 120 s; empty if none came.
first_shard_ms() {
  local log="$DIR/$1/node.log" i line
  for ((i = 0; i < 1200; i++)); do
    line=$(tail -n +"$(($2 + 1))" "$log" | grep -m1 "first shard received" || true)
    if [[ -n "$line" ]]; then
      date -d "$(awk '{print $1}' <<<"$line")" +%s%3N
      return
    fi
    sleep 0.1
  done
}

median() { sort -n | awk '{a[NR] = $1} END {if (NR) print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2)}'; }

# Time to join and hole punches, RUNS times, while a job of many shards runs.
cmd_bench() {
  local r i name start got job summary connect how ms rows="[]" punched=0 public=() nat=() punch=()
  [[ -f "$DIR/$NODES_FILE" ]] || die "$DIR holds no testnet: run \`scripts/testnet-local.sh up\` first"
  pictor_bin
  DIAL=$(cat "$DIR/dial" 2>/dev/null || echo bootnode)
  awk '$1 == "worker-nat-2"' "$DIR/$NODES_FILE" | grep -q . || die "bench needs two NATed workers (up --nat-workers 2)"
  for ((r = 1; r <= RUNS; r++)); do
    # 4 frames of 512x384 at 256 samples in tiles of 32: 768 shards, minutes of work for
    # every worker (cancelled at the end of the run).
    # Its budget covers every shard at the workers' price (7 credits a shard with the fee).
    creator_cli faucet 6000 >/dev/null || die "the faucet gave the creator no credits"
    job=$(creator_cli job submit "$ROOT/examples/scenes/cornell-box.gltf" --width 512 --height 384 \
      --samples 256 --frames 1-4 --tile 32 --budget 6000 --json | jq -r '.job_id // empty') || true
    [[ -n "$job" ]] || die "the creator did not take the bench's job"
    # A new worker in the place of each (a new key, an empty home): the network has never
    # seen it, as a machine that joins for the first time.
    for name in worker-1 worker-nat-1; do
      stop_node "$name"
      renew_home "$name"
      start=$(now_ms)
      start_again "$name"
      got=$(first_shard_ms "$name" 0)
      [[ -n "$got" ]] || die "$name received no shard within 120 s of its start (run $r)"
      if [[ "$name" == worker-1 ]]; then public+=($((got - start))); else nat+=($((got - start))); fi
    done
    # worker-nat-1 is fresh: once it holds its reservation, worker-nat-2 dials it.
    for ((i = 0; i < 180; i++)); do
      case "$(reached worker-nat-1)" in relayed | hole-punched) break ;; esac
      sleep 0.5
    done
    connect=$( (CONNECT=worker-nat-1 NAMES=(worker-nat-2) JSON=true; cmd_doctor) 2>/dev/null | jq -c '.connect // {}') || connect='{}'
    how=$(jq -r '.how // "failed"' <<<"$connect")
    ms=$(jq -r '.ms // 0' <<<"$connect")
    [[ "$how" == hole-punched ]] && { punched=$((punched + 1)); punch+=("$ms"); }
    rows=$(jq -c --argjson r "$r" --argjson p "${public[-1]}" --argjson n "${nat[-1]}" --arg h "$how" --argjson m "$ms" \
      '. + [{run: $r, join_public_ms: $p, join_nat_ms: $n, connect: $h, connect_ms: $m}]' <<<"$rows")
    creator_cli job cancel "$job" >/dev/null 2>&1 || true
    log "run $r: join ${public[-1]} ms (public), ${nat[-1]} ms (behind NAT); worker-nat-2 to worker-nat-1: $how in $ms ms"
  done
  summary=$(jq -n --argjson rows "$rows" --arg jp "$(printf '%s\n' "${public[@]}" | median)" \
    --arg jn "$(printf '%s\n' "${nat[@]}" | median)" --arg pm "$(printf '%s\n' "${punch[@]+"${punch[@]}"}" | median)" \
    --argjson ok "$punched" --argjson runs "$RUNS" \
    '{runs: $runs, join_public_median_ms: ($jp | tonumber? // null), join_nat_median_ms: ($jn | tonumber? // null),
      hole_punches: $ok, hole_punch_median_ms: ($pm | tonumber? // null), each: $rows}')
  if $JSON; then
    echo "$summary"
  else
    jq -r '"time to join, public worker:    median \(.join_public_median_ms) ms over \(.runs) runs",
      "time to join, worker behind NAT: median \(.join_nat_median_ms) ms",
      "hole punches between two NATs:   \(.hole_punches) of \(.runs) (median \(.hole_punch_median_ms // "-") ms from the dial)"' <<<"$summary"
  fi
}
