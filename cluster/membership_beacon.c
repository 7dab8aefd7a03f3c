/*
 * membership_beacon.c - LAN discovery (`--discover`): publishing our sealed
 * beacon and joining the senders of others. Separate because it is optional
 * (only with a zbeacon) and has its own trust rules (docs/membership.md
 * section 1).
 */
#include "cluster/membership_int.h"

#include "common/ipaddr.h"

#include <arpa/inet.h>
#include <sodium.h>

/* True if addr:port is a member we know (any state). */
static bool
s_known_addr (mb_self_t *self, const char *addr, uint16_t port)
{
    for (size_t i = 0; i < swim_size (self->swim); i++) {
        const swim_member_t *m = swim_member_at (self->swim, i);
        if (m->port == port && streq (m->addr, addr))
            return true;
    }
    return false;
}

/* Once joined, an unknown beacon sender (another cluster formed on the same
 * LAN at the same time, or a node of another cluster key) is joined at most
 * once per MB_BEACON_RETRY. Returns true if we may try it now. */
static bool
s_beacon_may_try (mb_self_t *self, const char *addr, uint16_t port)
{
    uint64_t now = mb_now (NULL);
    size_t oldest = 0;
    for (size_t i = 0; i < MB_BEACON_PEERS; i++) {
        if (self->beacon_tries[i].port == port && streq (self->beacon_tries[i].addr, addr)) {
            if (now - self->beacon_tries[i].at < MB_BEACON_RETRY)
                return false;
            self->beacon_tries[i].at = now;
            return true;
        }
        if (self->beacon_tries[i].at < self->beacon_tries[oldest].at)
            oldest = i;
    }
    snprintf (self->beacon_tries[oldest].addr, sizeof self->beacon_tries[oldest].addr, "%s", addr);
    self->beacon_tries[oldest].port = port;
    self->beacon_tries[oldest].at = now;
    return true;
}

/* A beacon (docs/membership.md section 1) is "SHD2" then, sealed with the
 * cluster keyring (AD "shed-beacon-v2"): a stamp, the sender's gossip port
 * (2 bytes, big-endian), its identity public key (32 bytes) and its
 * advertised address. Only a node holding the cluster key can make us dial
 * anything, and we dial the sealed address, not the packet's source. The
 * stamp bounds a captured beacon to the skew window; there is no per-sender
 * counter check because zbeacon repeats one payload on purpose, and a
 * replay can only make us dial a real member. The identity key also keeps
 * every node's beacon different for zbeacon's echo filter.
 * Before we are joined every beacon is a join candidate; once joined, only
 * senders we do not know (rate-limited), so two clusters that formed at the
 * same time on one LAN still merge. */
#define MB_BEACON_PT_MAX (GOSSIP_STAMP_BYTES + 2 + SWIM_KEY_BYTES + SWIM_ADDR_MAX)

void
mb_beacon_publish (mb_self_t *self)
{
    uint8_t pt[MB_BEACON_PT_MAX];
    size_t alen = strlen (self->cfg.advertise_addr);
    mb_stamp_next (self, 0, pt);
    pt[GOSSIP_STAMP_BYTES] = (uint8_t) (self->cfg.port >> 8);
    pt[GOSSIP_STAMP_BYTES + 1] = (uint8_t) self->cfg.port;
    memcpy (pt + GOSSIP_STAMP_BYTES + 2, self->cfg.identity, SWIM_KEY_BYTES);
    memcpy (pt + GOSSIP_STAMP_BYTES + 2 + SWIM_KEY_BYTES, self->cfg.advertise_addr, alen);
    uint8_t payload[4 + MB_BEACON_PT_MAX + SHED_SEAL_OVERHEAD];
    memcpy (payload, MB_BEACON_MAGIC, 4);
    size_t slen = 0;
    if (shed_keyring_seal (self->keyring, (const uint8_t *) MB_BEACON_AD, strlen (MB_BEACON_AD), pt,
                           GOSSIP_STAMP_BYTES + 2 + SWIM_KEY_BYTES + alen, payload + 4,
                           sizeof payload - 4, &slen))
        return;
    zsock_send (self->beacon, "sbi", "PUBLISH", payload, 4 + slen, 1000);
    self->beacon_published = mb_now (NULL);
}

void
mb_handle_beacon (mb_self_t *self)
{
    char *ipaddress = zstr_recv (self->beacon);
    zframe_t *content = zframe_recv (self->beacon);
    uint8_t pt[MB_BEACON_PT_MAX];
    size_t ptlen = 0;
    if (!ipaddress || !content || zframe_size (content) < 4
        || memcmp (zframe_data (content), MB_BEACON_MAGIC, 4) != 0 || swim_refused (self->swim))
        goto done;
    gossip_stamp_t st;
    if (shed_keyring_open (self->keyring, (const uint8_t *) MB_BEACON_AD, strlen (MB_BEACON_AD),
                           zframe_data (content) + 4, zframe_size (content) - 4, pt, sizeof pt,
                           &ptlen, NULL)
        || ptlen < GOSSIP_STAMP_BYTES + 2 + SWIM_KEY_BYTES + 2) { /* "::" at least */
        if (self->st.drop_beacon++ % 100 == 0)
            log_warn (MB_COMP, "beacon that does not open with our keyring ignored|peer=%s",
                      ipaddress);
        goto done;
    }
    gossip_stamp_get (pt, &st);
    uint64_t wall = (uint64_t) zclock_time ();
    if ((st.ts_ms > wall ? st.ts_ms - wall : wall - st.ts_ms) > GOSSIP_CLOCK_SKEW_MS) {
        self->st.drop_clock++;
        goto done;
    }
    uint16_t port = (uint16_t) ((pt[GOSSIP_STAMP_BYTES] << 8) | pt[GOSSIP_STAMP_BYTES + 1]);
    char addr[SWIM_ADDR_MAX + 1];
    size_t alen = ptlen - GOSSIP_STAMP_BYTES - 2 - SWIM_KEY_BYTES;
    memcpy (addr, pt + GOSSIP_STAMP_BYTES + 2 + SWIM_KEY_BYTES, alen);
    addr[alen] = '\0';
    char canon[SHED_IP_TEXT_MAX];
    int family = shed_ip_canon (addr, canon);
    if (port == 0 || !family) {
        self->st.drop_beacon++;
        goto done;
    }
    /* A node that advertises a loopback or wildcard address cannot be
     * reached there from another host: use where the beacon came from. */
    if (shed_ip_is_any (canon) || strcmp (canon, "::1") == 0
        || (family == 4 && strncmp (canon, "127.", 4) == 0))
        shed_ip_canon (ipaddress, canon);
    struct sockaddr_storage sa;
    socklen_t salen;
    if (mb_sockaddr (self, canon, port, &sa, &salen) || !shed_ip_is_unicast (canon)) {
        self->st.drop_beacon++;
        goto done;
    }
    snprintf (addr, sizeof addr, "%s", canon);
    bool ours = memcmp (pt + GOSSIP_STAMP_BYTES + 2, self->cfg.identity, SWIM_KEY_BYTES) == 0;
    if (!ours && !swim_joined (self->swim))
        swim_join (self->swim, addr, port);
    else if (!ours && !s_known_addr (self, addr, port) && s_beacon_may_try (self, addr, port)) {
        log_info (MB_COMP, "beacon from a node we do not know: joining it|peer=%s:%u", addr,
                  (unsigned) port);
        swim_join (self->swim, addr, port);
    }
done:
    sodium_memzero (pt, sizeof pt);
    zstr_free (&ipaddress);
    zframe_destroy (&content);
}
