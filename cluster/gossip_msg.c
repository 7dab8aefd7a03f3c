/*
 * gossip_msg.c - codec tables for the membership protocol (gossip_msg.h).
 */
#include "cluster/gossip_msg.h"

#include "common/ipaddr.h"

#include <string.h>

/* An underlay address as gossip carries it (docs/membership.md section 1,
 * "Addresses"): the canonical text of one unicast IPv4 or IPv6 literal.
 * Members compare these strings and dial them, so anything else (a name,
 * a scope id, a wildcard, a multicast group, a second spelling of an
 * address we already know) is refused here, before any consumer sees it. */
static bool
s_addr_ok (const char *addr)
{
    char canon[SHED_IP_TEXT_MAX];
    return shed_ip_canon (addr, canon) && strcmp (canon, addr) == 0 && shed_ip_is_unicast (addr);
}

/* Semantic checks the field table cannot express. Run after decode (and
 * before encode), so every consumer sees only sane records. */
static int
s_check_update (const gossip_update_t *u, const char **why)
{
    if (u->name[0] == '\0') {
        *why = "empty member name";
        return -1;
    }
    if (u->inc > SWIM_INC_MAX) {
        *why = "absurd incarnation";
        return -1;
    }
    if (u->addr[0] != '\0' && !s_addr_ok (u->addr)) {
        *why = "member address not a canonical unicast IPv4/IPv6 literal";
        return -1;
    }
    if (u->kind == SWIM_UPD_ALIVE) {
        if (u->addr[0] == '\0' || u->port == 0) {
            *why = "alive without address";
            return -1;
        }
        if (u->key.len != SWIM_KEY_BYTES) {
            *why = "alive without identity key";
            return -1;
        }
        if (u->vmin > u->vmax) {
            *why = "protocol range inverted";
            return -1;
        }
    }
    return 0;
}

static int
s_check_list (const gossip_update_t *items, size_t n, const char **why)
{
    for (size_t i = 0; i < n; i++)
        if (s_check_update (&items[i], why))
            return -1;
    return 0;
}

static int
s_validate (uint16_t type, const void *body, const char **why)
{
    switch (type) {
    case GOSSIP_PING: {
        const gossip_ping_t *m = (const gossip_ping_t *) body;
        if (m->from[0] == '\0') {
            *why = "empty sender";
            return -1;
        }
        return s_check_list (m->updates.items, m->updates.n, why);
    }
    case GOSSIP_ACK:
    case GOSSIP_NACK: {
        const gossip_ack_t *m = (const gossip_ack_t *) body;
        if (m->from[0] == '\0') {
            *why = "empty sender";
            return -1;
        }
        return s_check_list (m->updates.items, m->updates.n, why);
    }
    case GOSSIP_PING_REQ: {
        const gossip_ping_req_t *m = (const gossip_ping_req_t *) body;
        if (m->from[0] == '\0' || m->target[0] == '\0') {
            *why = "empty sender or target";
            return -1;
        }
        if (m->taddr[0] == '\0' || m->tport == 0) {
            *why = "ping-req without target address";
            return -1;
        }
        if (!s_addr_ok (m->taddr)) {
            *why = "ping-req target address not a canonical unicast IPv4/IPv6 literal";
            return -1;
        }
        return s_check_list (m->updates.items, m->updates.n, why);
    }
    case GOSSIP_GOSSIP: {
        const gossip_gossip_t *m = (const gossip_gossip_t *) body;
        if (m->from[0] == '\0') {
            *why = "empty sender";
            return -1;
        }
        return s_check_list (m->updates.items, m->updates.n, why);
    }
    case GOSSIP_PUSH_PULL: {
        const gossip_push_pull_t *m = (const gossip_push_pull_t *) body;
        if (m->from[0] == '\0') {
            *why = "empty sender";
            return -1;
        }
        return s_check_list (m->members.items, m->members.n, why);
    }
    case GOSSIP_KEY_OP: {
        const gossip_key_op_t *m = (const gossip_key_op_t *) body;
        if (m->op != GOSSIP_KEY_LIST && m->key.len != 32) {
            *why = "key operation without a 32-byte key";
            return -1;
        }
        return 0;
    }
    default:
        return 0;
    }
}

WIRE_DEFINE_RECORD (gossip_update, 0, GOSSIP_UPDATE_FIELDS)
WIRE_DEFINE_RECORD (gossip_keyinfo, 0, GOSSIP_KEYINFO_FIELDS)
WIRE_DEFINE_PROTO (gossip, GOSSIP_MESSAGES, GOSSIP_WIRE_VERSION_MIN, GOSSIP_WIRE_VERSION,
                   s_validate)

static void
s_put64 (uint8_t *out, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        out[i] = (uint8_t) v;
}

static uint64_t
s_get64 (const uint8_t *in)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | in[i];
    return v;
}

void
gossip_stamp_put (uint8_t out[GOSSIP_STAMP_BYTES], const gossip_stamp_t *stamp)
{
    s_put64 (out, stamp->boot);
    s_put64 (out + 8, stamp->counter);
    s_put64 (out + 16, stamp->ts_ms);
}

void
gossip_stamp_get (const uint8_t in[GOSSIP_STAMP_BYTES], gossip_stamp_t *stamp)
{
    stamp->boot = s_get64 (in);
    stamp->counter = s_get64 (in + 8);
    stamp->ts_ms = s_get64 (in + 16);
}
