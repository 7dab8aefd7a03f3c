# bench/one_ns.sh - sourced by bench/startup.sh and bench/firststart.sh:
# one network namespace for one shed-node, joined to the host by a veth,
# and a temporary directory, both removed when the script exits.
#
# one_ns_up TAG ADDR NAME: namespace TAG$$ with its eth0 at ADDR/24 (underlay
# 198.18.0.0/16 only), veth TAG$$h on the host, lo up; sets NS, VETH, TMP
# (/tmp/shed-NAME.$$.XXXXXX) and an EXIT/INT/TERM trap that removes them.
one_ns_up() {
    local tag=$1 addr=$2 name=$3
    NS=$tag$$
    VETH=$tag$$h
    TMP=$(mktemp -d "/tmp/shed-$name.$$.XXXXXX")
    trap one_ns_down EXIT INT TERM
    ip netns add "$NS"
    ip -n "$NS" link set lo up
    ip link add "$VETH" type veth peer name eth0 netns "$NS"
    ip link set "$VETH" up
    ip -n "$NS" addr add "$addr/24" dev eth0
    ip -n "$NS" link set eth0 up
}

one_ns_down() {
    ip netns del "$NS" 2>/dev/null || true
    ip link del "$VETH" 2>/dev/null || true
    rm -rf -- "$TMP"
}
