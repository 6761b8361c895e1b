# The network of scripts/testnet-local.sh: namespaces, veths, the public bridge and the
# NAT routers. Sourced by it (it sets PREFIX, SWITCH, PUBLIC_NET, LATENCY, LOSS, die).
#
# The public segment $PUBLIC_NET.0/24 is a bridge (br0) in namespace $SWITCH. NAT router i
# (namespace ${PREFIX}router-i) sits on it at $PUBLIC_NET.(1+i) and masquerades its own
# private segment 10.(77+i).0.0/24 (bridge br1, the router at .1): a node behind it has a
# private address and a default route via the router only, as a home behind its router.
# Each node behind NAT has a router of its own, so that two of them meet only through the
# public segment (a relay, then a hole punch).

# The private /24 (first three octets) behind router i.
router_net() { echo "10.$((77 + $1)).0"; }
router_ns() { echo "${PREFIX}router-$1"; }

# A namespace with loopback up and one veth (eth0 inside) into $2's namespace as $3.
make_ns() {
  local ns=$1 peer_ns=$2 peer_if=$3
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  ip link add eth0 netns "$ns" type veth peer name "$peer_if" netns "$peer_ns"
  ip -n "$ns" link set eth0 up
}

netem() { # ns dev
  [[ -z "$LATENCY$LOSS" ]] && return 0
  local args=()
  [[ -n "$LATENCY" ]] && args+=(delay "${LATENCY}ms")
  [[ -n "$LOSS" ]] && args+=(loss "${LOSS}%")
  ip netns exec "$1" tc qdisc add dev "$2" root netem "${args[@]}" 2>/dev/null ||
    die "tc netem failed on $1/$2: this kernel has no sch_netem (--latency/--loss unavailable)"
}

make_switch() {
  ip netns add "$SWITCH"
  ip -n "$SWITCH" link add br0 type bridge
  ip -n "$SWITCH" link set br0 up
}

# A node's namespace, its veth into bridge $4 of namespace $3, its address $2, and with a
# fifth argument a default route via it (a node behind NAT).
attach() { # name addr bridge_ns bridge [gateway]
  local ns
  ns=$(ns_of "$1")
  make_ns "$ns" "$3" "v-$1"
  ip -n "$3" link set "v-$1" master "$4" up
  ip -n "$ns" addr add "$2/24" dev eth0
  if [[ -n "${5:-}" ]]; then
    ip -n "$ns" route add default via "$5"
  fi
  netem "$ns" eth0
}

# A node on the public segment.
attach_public() { attach "$1" "$2" "$SWITCH" br0; }

# NAT router i: public leg eth0 at $PUBLIC_NET.(1+i), private leg br1. It masquerades what
# leaves on the public leg; from the public side only replies come in (conntrack), and
# anything else is dropped silently.
make_router() { # i
  local ns net
  ns=$(router_ns "$1")
  net=$(router_net "$1")
  make_ns "$ns" "$SWITCH" "v-router-$1"
  ip -n "$SWITCH" link set "v-router-$1" master br0 up
  ip -n "$ns" addr add "$PUBLIC_NET.$((1 + $1))/24" dev eth0
  ip -n "$ns" link add br1 type bridge
  ip -n "$ns" addr add "$net.1/24" dev br1
  ip -n "$ns" link set br1 up
  ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1
  ip netns exec "$ns" nft -f - <<EOF
table ip pictor_nat {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "eth0" ip saddr $net.0/24 masquerade
  }
  chain forward {
    type filter hook forward priority filter; policy drop;
    iifname "br1" oifname "eth0" accept
    iifname "eth0" oifname "br1" ct state established,related accept
  }
  chain input {
    # What no one behind it asked for is dropped, not refused (as home routers do): a
    # hole punch's first packet that arrives before the other side's own is not answered
    # with a reset that would close the other side's mapping.
    type filter hook input priority filter; policy accept;
    iifname "eth0" ct state new drop
  }
}
EOF
  netem "$ns" eth0
}

# Node $1 behind NAT router $3, at address $2 of its private segment.
attach_nat() { # name addr router
  attach "$1" "$2" "$(router_ns "$3")" br1 "$(router_net "$3").1"
}
