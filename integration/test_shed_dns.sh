#!/usr/bin/env bash
# integration/test_shed_dns.sh: DNS and services from inside a shed
# (docs/dns.md, "The shed listener"). 3 nodes with the netns driver; node 1
# runs shed-agent in its sheds with a config whose `services` register
# `postgres` (port 5432, no check).
#   1. shed DB on node 1: its agent registers postgres; node 3's catalog
#      lists it at DB's overlay address (not node 1's underlay address);
#   2. shed CLIENT on node 3: from inside its network namespace,
#      `dig @<node 3 gateway> postgres.service.shed` (UDP and TCP) answers
#      DB's overlay address; `_postgres._tcp.service.shed SRV` answers
#      port 5432 with target DB.shed.shed, whose A is DB's address;
#      `getent hosts postgres.service.shed` (and `postgres.service` through
#      `search shed`) with the resolv.conf the drivers write;
#   3. a name outside the domain gets REFUSED; a query for the gateway
#      address that reaches node 3 over the underlay is not answered (the
#      listener is bound to the bridge);
#   4. garbage UDP (random bytes, truncated and pointer-loop headers) from
#      inside CLIENT to gateway:53: node 3 stays up and answers;
#   5. the agent of DB deregisters when DB is deleted: NXDOMAIN from CLIENT.
# Only 198.18.0.0/16 (underlay) and 198.19.0.0/16 (overlay) inside the
# namespaces this run creates. Needs root; exits 77 (skip) otherwise.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/harness.sh"

[[ -x "$H_BUILD/agent/shed-agent" ]] || h_skip "shed-agent not built: $H_BUILD/agent/shed-agent"
command -v dig >/dev/null 2>&1 || h_skip "dig (bind9-dnsutils) is not installed"
command -v nsenter >/dev/null 2>&1 || h_skip "nsenter (util-linux) is not installed"

N=3
h_init "$N"
h_sheds_init
DB="db$$"
CLIENT="cl$$"
cat >"$H_TMP/agent.yaml" <<'EOF'
services:
  - {name: postgres, port: 5432, check: none}
EOF
# The netns driver explicitly: what is tested here is the node's DNS and
# catalog, the same under every driver that puts sheds on the bridge.
h_start_node 1 --config "$(h_sheds_config 1 "  default: netns
  agent_config: $H_TMP/agent.yaml")"
for ((i = 2; i <= N; i++)); do
    h_start_node "$i" --config "$(h_sheds_config "$i" "  default: netns")"
done
for ((i = 1; i <= N; i++)); do h_wait_ready "$i" 30; done
h_wait_members "$N" 20 || h_fail "the $N nodes did not see each other"

# A fresh node has no settled address block for a second or two: retry.
create() { h_ctl "$1" create "${@:2}" >"$H_TMP/create.out" 2>&1; }
# shed_field i NAME FIELD: FIELD of `shedctl show NAME --json` on node i.
shed_field() {
    h_ctl "$1" show "$2" --json 2>/dev/null \
        | python3 -c 'import json, sys; print(json.load(sys.stdin).get(sys.argv[1], ""))' "$3"
}
# svc_addr i NAME: the address node i's catalog lists for service NAME.
svc_addr() {
    h_ctl "$1" services --json 2>/dev/null | python3 -c '
import json, sys
for s in json.load(sys.stdin):
    if s["name"] == sys.argv[1]:
        print(s["address"]); break
' "$2"
}
# The network namespace of shed NAME on node i: its init's, from the
# shed's cgroup (the same whatever the driver names its namespace file).
shed_netns() {
    local pid
    pid=$(h_shed_pid "$1" "$2") || return 1
    [[ -n "$pid" ]] && echo "/proc/$pid/ns/net"
}
# in_client CMD...: run CMD inside CLIENT's network namespace (a shed's view).
in_client() { nsenter --net="$CLIENT_NS" "$@"; }
# cdig ARGS...: dig from inside CLIENT at node 3's gateway, port 53.
cdig() { in_client dig -p 53 "@$GW3" +time=2 +tries=1 "$@" 2>/dev/null || true; }
status_of() { sed -n 's/.*status: \([A-Z]*\),.*/\1/p'; }

h_log "--- 1. shed $DB on node 1 registers postgres through its agent"
h_retry 20 create 1 "$DB" --node node1 --cpus 0.5 --memory 128M \
    || h_fail "create $DB: $(cat "$H_TMP/create.out")"
DB_IP=$(shed_field 1 "$DB" ip)
DB_IP=${DB_IP%%/*}
[[ "$DB_IP" == 198.19.* ]] || h_fail "$DB has no overlay address: '$DB_IP'"
addr_is() { [[ "$(svc_addr "$1" postgres)" == "$2" ]]; }
h_retry 15 addr_is 3 "$DB_IP" \
    || h_fail "node 3 does not list postgres at $DB_IP: '$(svc_addr 3 postgres)' $(h_ctl 3 services --all 2>&1)"
h_log "node 3 lists postgres at $DB's overlay address $DB_IP (node 1 is $(h_addr 1))"

h_log "--- 2. from inside shed $CLIENT on node 3"
h_retry 20 create 3 "$CLIENT" --node node3 --cpus 0.5 --memory 128M \
    || h_fail "create $CLIENT: $(cat "$H_TMP/create.out")"
h_retry 10 shed_netns "$CLIENT" 3 >/dev/null || h_fail "no process of $CLIENT found in its cgroup"
CLIENT_NS=$(shed_netns "$CLIENT" 3)
GW3=$(in_client ip -4 route show default | awk '{print $3; exit}')
[[ "$GW3" == 198.19.* ]] || h_fail "$CLIENT has no default route via a gateway: '$GW3'"
h_assert_eq "$GW3" "$(h_ctl 3 network --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["gateway"])')" \
    "the shed's default gateway is node 3's overlay gateway"
answers() { [[ "$(cdig +short postgres.service.shed A)" == "$DB_IP" ]]; }
h_retry 10 answers || h_fail "dig @$GW3 postgres.service.shed from $CLIENT: '$(cdig postgres.service.shed A)'"
h_log "dig @$GW3 postgres.service.shed (in $CLIENT on node 3) -> $DB_IP"
h_assert_eq "$DB_IP" "$(cdig +tcp +short postgres.service.shed A)" "A over TCP from $CLIENT"
h_assert_eq "1 1 5432 $DB.shed.shed." "$(cdig +short _postgres._tcp.service.shed SRV)" \
    "SRV from $CLIENT"
h_assert_eq "1 1 5432 $DB.shed.shed." "$(cdig +short postgres.service.shed SRV)" "plain SRV"
h_assert_eq "$DB_IP" "$(cdig +short "$DB.shed.shed" A)" "the SRV target's A"
cdig _postgres._tcp.service.shed SRV +noall +answer +additional | sed 's/^/    /' >&2
# What a program in the shed does: the C library's resolver, reading the
# /etc/resolv.conf the drivers write (nameserver <gateway>, search shed;
# docs/dns.md). The netns driver shares the host's files, so the file is
# bind-mounted over /etc/resolv.conf in a mount namespace of this command.
printf 'nameserver %s\nsearch shed\noptions timeout:2 attempts:1\n' "$GW3" >"$H_TMP/resolv.conf"
# in_client_resolv CMD...: CMD in CLIENT's network namespace with that file.
in_client_resolv() {
    in_client unshare -m sh -c 'mount --bind "$0" /etc/resolv.conf && exec "$@"' \
        "$H_TMP/resolv.conf" "$@"
}
if in_client_resolv true 2>/dev/null; then
    h_assert_eq "$DB_IP" "$(in_client_resolv getent hosts postgres.service.shed | awk '{print $1}')" \
        "getent hosts postgres.service.shed in $CLIENT"
    h_assert_eq "$DB_IP" "$(in_client_resolv getent ahostsv4 postgres.service | awk 'NR==1 {print $1}')" \
        "getent ahostsv4 postgres.service (search shed) in $CLIENT"
    h_assert_eq "$DB_IP" "$(in_client_resolv getent hosts "$DB.shed.shed" | awk '{print $1}')" \
        "getent hosts $DB.shed.shed in $CLIENT"
    h_log "getent hosts postgres.service.shed (in $CLIENT, resolv.conf -> $GW3) -> $DB_IP"
else
    h_log "no mount namespace for a private resolv.conf here: getent checks skipped"
fi

h_log "--- 3. other names are refused; the listener is on the bridge only"
h_assert_eq REFUSED "$(cdig debian.org A | status_of)" "a name outside the domain"
h_assert_eq REFUSED "$(cdig +tcp example.com A | status_of)" "outside the domain over TCP"
h_assert_eq NXDOMAIN "$(cdig nope.service.shed A | status_of)" "unknown service"
# Node 2 routes node 3's gateway address over the underlay: the query
# reaches node 3 on eth0, and the kernel would deliver it to an unbound
# socket (the gateway is a local address), but the listener is bound to
# the bridge: no answer.
ip -n "$(h_ns 2)" route add "$GW3/32" via "$(h_addr 3)"
# The address is reachable that way (so the silence below is the binding's)
h_exec 2 ping -c 1 -W 2 "$GW3" >/dev/null || h_fail "node 2 cannot reach $GW3 over the underlay"
out=$(h_exec 2 dig -p 53 "@$GW3" +time=1 +tries=1 postgres.service.shed A 2>&1 || true)
ip -n "$(h_ns 2)" route del "$GW3/32" via "$(h_addr 3)"
[[ "$out" != *"status:"* ]] || h_fail "the shed listener answered a query from the underlay: $out"
h_log "from node 2 over the underlay: $(grep -m1 '^;;' <<<"$out")"
h_log "REFUSED outside the domain; no answer to the underlay"

h_log "--- 4. garbage from inside the shed"
in_client python3 - "$GW3" <<'EOF'
import os, random, socket, sys
gw = sys.argv[1]
random.seed(4242)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(3000):
    n = random.randrange(0, 600)
    b = bytearray(os.urandom(n))
    if n > 2 and i % 2:
        b[2] &= 0x7F                 # looks like a query: gets further in
    s.sendto(bytes(b), (gw, 53))
# a compression-pointer loop, a header alone, an empty datagram
s.sendto(bytes.fromhex("beef01000001000000000000c00c00010001"), (gw, 53))
s.sendto(b"\x12\x34\x01\x00" + b"\x00" * 8, (gw, 53))
s.sendto(b"", (gw, 53))
# TCP: a short frame, a huge length, a half-sent frame
for payload in (b"\x00\x03abc", b"\xff\xff" + b"x" * 100, b"\x00\x40\x12"):
    t = socket.create_connection((gw, 53), 2)
    t.sendall(payload)
    t.close()
EOF
h_alive 3 || h_fail "node 3 died on garbage DNS input"
sleep 1.5     # the rate limit's bucket refills (dns.shed_rate_qps)
h_retry 5 answers || h_fail "node 3 no longer answers after garbage: '$(cdig postgres.service.shed A)'"
h_log "node 3 alive and answering after 3000+ garbage datagrams"
# metric NAME: the value of one series on node 3's /metrics ("" if absent).
# A busy node may answer /metrics with 503 (it renders on its main loop
# within 2 s): a few tries, and never abort the script (set -e) on one.
metric() {
    local v=""
    for _ in 1 2 3 4 5; do
        v=$(h_exec 3 curl -sS --max-time 5 http://127.0.0.1:7951/metrics 2>/dev/null \
            | awk -v n="$1" '$1 == n && !f { print $2; f = 1 }') || v=""
        [[ -n "$v" ]] && break
        sleep 0.5
    done
    echo "$v"
}
if command -v curl >/dev/null 2>&1; then
    h_assert_eq 1 "$(metric shed_dns_shed_listening)" "shed_dns_shed_listening on node 3"
    bad=$(metric 'shed_dns_shed_dropped_total{reason="malformed"}')
    limited=$(metric 'shed_dns_shed_dropped_total{reason="rate_limited"}')
    formerr=$(metric 'shed_dns_shed_responses_total{rcode="formerr"}')
    ((${bad:-0} > 0 && ${formerr:-0} > 0)) \
        || h_fail "garbage not counted: malformed=$bad formerr=$formerr"
    h_log "node 3's shed listener: malformed=$bad formerr=$formerr rate_limited=${limited:-?}"
fi

h_log "--- 5. $DB deleted: its service goes"
h_ctl 1 delete "$DB" >/dev/null || h_fail "delete $DB"
gone() { [[ "$(cdig postgres.service.shed A | status_of)" == NXDOMAIN ]]; }
h_retry 15 gone || h_fail "postgres still answered after $DB was deleted: '$(cdig postgres.service.shed A)'"
h_ctl 3 delete "$CLIENT" >/dev/null || h_fail "delete $CLIENT"
h_log "PASS"
