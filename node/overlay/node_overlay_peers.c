/*
 * node_overlay_peers.c - what the datapath holds for other nodes: following
 * the peer directory (alive, failed, removed) and their REC_OVERLAY and
 * REC_ENDPOINT records, and programming peers, FDB and ARP entries from
 * them. Separate because it is the overlay's reaction to the cluster,
 * apart from what this node publishes (docs/overlay.md).
 */
#include "node/overlay/node_overlay_int.h"

/* -------------------------------------------------------------------------
 * Peers and endpoints -> datapath
 */

static void s_sync_endpoints_of (shed_overlay_t *self, const char *node);

/* plain mode: flood entry (all-zero MAC) and nftables set element. */
static void
s_plain_peer (shed_overlay_t *self, const char *addr, bool add)
{
    static const uint8_t zero[6] = { 0 };
    char why[256];
    if (hostnet_fdb (self->device, zero, addr, add, true, why, sizeof why) != 0)
        log_warn ("overlay", "%s|peer=%s", why, addr);
    /* shed_nft_member re-validates addr: only a canonical address goes
     * into the script. */
    if (self->nft_table[0] && shed_nft_member (self->nft_table, addr, add, why, sizeof why) != 0)
        log_warn ("overlay", "member filter: %s|peer=%s", why, addr);
}

static void
s_unprogram (shed_overlay_t *self, novl_node_t *n)
{
    if (!n->programmed)
        return;
    if (self->dp)
        overlay_peer_remove (self->dp, n->name);
    else
        s_plain_peer (self, n->paddr, false);
    n->programmed = false;
    log_info ("overlay", "peer removed|peer=%s addr=%s", n->name, n->paddr);
}

/* Bring the datapath's view of node n in line: alive members are peers at
 * their membership address; failed ones are kept as they are; gone ones
 * are removed. Re-added only when key, address or port changed, since a
 * re-add restarts the session. */
static void
s_sync_peer (shed_overlay_t *self, novl_node_t *n)
{
    if (!n->member) {
        s_unprogram (self, n);
        return;
    }
    if (!n->alive || !n->maddr[0])
        return;
    uint16_t port = n->rec && n->rport ? n->rport : n->mport;
    if (n->programmed && memcmp (n->pkey, n->key, 32) == 0 && strcmp (n->paddr, n->maddr) == 0
        && n->pport == port)
        return;
    if (self->dp) {
        if (overlay_peer_add (self->dp, n->name, n->key, n->maddr, port) != 0) {
            log_warn ("overlay", "cannot add peer|peer=%s addr=%s:%u error=\"%s\"", n->name,
                      n->maddr, (unsigned) port, strerror (errno));
            return;
        }
    }
    else {
        if (n->programmed && strcmp (n->paddr, n->maddr) != 0)
            s_plain_peer (self, n->paddr, false);
        if (!n->programmed || strcmp (n->paddr, n->maddr) != 0)
            s_plain_peer (self, n->maddr, true);
    }
    n->programmed = true;
    memcpy (n->pkey, n->key, 32);
    snprintf (n->paddr, sizeof n->paddr, "%s", n->maddr);
    n->pport = port;
    log_info ("overlay", "peer added|peer=%s addr=%s:%u", n->name, n->maddr, (unsigned) port);
    if (self->plain)
        s_sync_endpoints_of (self, n->name);
}

/* plain mode: point the endpoint's FDB entry at its programmed node's
 * underlay address once we know it (e->node, e->ip: what is programmed). */
static void
s_plain_endpoint (shed_overlay_t *self, novl_endpoint_t *e, bool add)
{
    char why[256];
    char mac[SHED_OVERLAY_MAC_MAX];
    novl_mac_text (e->mac, mac);
    if (!add) {
        if (e->fdb_dst[0]
            && hostnet_fdb (self->device, e->mac, e->fdb_dst, false, false, why, sizeof why) != 0)
            log_warn ("overlay", "%s|mac=%s", why, mac);
        e->fdb_dst[0] = '\0';
        if (e->ip[0] && hostnet_neigh (self->device, e->ip, e->mac, false, why, sizeof why) != 0)
            log_warn ("overlay", "%s|ip=%s", why, e->ip);
        return;
    }
    novl_node_t *n = zhashx_lookup (self->nodes, e->node);
    const char *dst = n && n->programmed ? n->paddr : "";
    if (strcmp (dst, e->fdb_dst) != 0) {
        if (e->fdb_dst[0])
            hostnet_fdb (self->device, e->mac, e->fdb_dst, false, false, why, sizeof why);
        e->fdb_dst[0] = '\0';
        if (*dst) {
            if (hostnet_fdb (self->device, e->mac, dst, true, false, why, sizeof why) == 0)
                snprintf (e->fdb_dst, sizeof e->fdb_dst, "%s", dst);
            else
                log_warn ("overlay", "%s|mac=%s", why, mac);
        }
    }
    if (hostnet_neigh (self->device, e->ip, e->mac, true, why, sizeof why) != 0)
        log_warn ("overlay", "%s|ip=%s", why, e->ip);
}

static void
s_sync_endpoints_of (shed_overlay_t *self, const char *node)
{
    for (novl_endpoint_t *e = zhashx_first (self->endpoints); e; e = zhashx_next (self->endpoints))
        if (e->node[0] && strcmp (e->node, node) == 0)
            s_plain_endpoint (self, e, true);
}

static void
s_unprogram_endpoint (shed_overlay_t *self, novl_endpoint_t *e)
{
    if (!e->node[0])
        return;
    if (self->dp) {
        overlay_fdb_del (self->dp, e->mac);
        overlay_arp_del (self->dp, e->ip);
    }
    else
        s_plain_endpoint (self, e, false);
    e->node[0] = '\0';
    e->ip[0] = '\0';
}

/* Bring the datapath's entries for one MAC in line with its holders: the
 * winner's node and address, or nothing when no record is left or a shed
 * on this node holds the address (its traffic must stay on our bridge,
 * whatever another node publishes). Frees the entry when no holder is
 * left. The FDB entry is replaced in place when only the node changes, so
 * a switch during a move never leaves the MAC unknown in between. */
static void
s_endpoint_sync (shed_overlay_t *self, novl_endpoint_t *e)
{
    char key[SHED_OVERLAY_MAC_MAX];
    novl_mac_text (e->mac, key);
    const ipam_holder_t *w =
        ipam_holds_mac (self->ipam, e->mac) ? NULL : ipam_holders_winner (&e->holders);
    if (!w)
        s_unprogram_endpoint (self, e);
    else if (strcmp (w->node, e->node) != 0 || strcmp (w->ip, e->ip) != 0) {
        if (e->ip[0] && strcmp (w->ip, e->ip) != 0) {
            /* Another address for the MAC (only a newer record of a
             * misbehaving node: the MAC follows from the address). */
            if (self->dp)
                overlay_arp_del (self->dp, e->ip);
            else {
                char why[256];
                hostnet_neigh (self->device, e->ip, e->mac, false, why, sizeof why);
            }
        }
        bool moved = e->node[0] != '\0';
        snprintf (e->node, sizeof e->node, "%s", w->node);
        snprintf (e->ip, sizeof e->ip, "%s", w->ip);
        if (self->dp) {
            if (overlay_fdb_set (self->dp, e->mac, e->node) != 0
                || overlay_arp_set (self->dp, e->ip, e->mac) != 0)
                log_warn ("overlay", "cannot program endpoint|mac=%s ip=%s node=%s", key, e->ip,
                          e->node);
        }
        else
            s_plain_endpoint (self, e, true);
        if (moved)
            log_info ("overlay", "endpoint moved|mac=%s ip=%s node=%s", key, e->ip, e->node);
        else
            log_debug ("overlay", "endpoint|mac=%s ip=%s node=%s", key, e->ip, e->node);
    }
    if (!e->holders.n) {
        log_debug ("overlay", "endpoint removed|mac=%s", key);
        zhashx_delete (self->endpoints, key);
    }
}

void
novl_endpoint_resync (shed_overlay_t *self, const uint8_t mac[6])
{
    char key[SHED_OVERLAY_MAC_MAX];
    novl_mac_text (mac, key);
    novl_endpoint_t *e = zhashx_lookup (self->endpoints, key);
    if (e)
        s_endpoint_sync (self, e);
}

uint64_t
novl_endpoint_max_epoch (shed_overlay_t *self, const uint8_t mac[6])
{
    char key[SHED_OVERLAY_MAC_MAX];
    novl_mac_text (mac, key);
    novl_endpoint_t *e = zhashx_lookup (self->endpoints, key);
    uint64_t max = 0;
    for (size_t i = 0; e && i < e->holders.n; i++)
        if (e->holders.h[i].epoch > max)
            max = e->holders.h[i].epoch;
    return max;
}

/* The origin withdrew its record for the MAC: only its own record goes
 * (the store only takes an origin's records from that origin, so no node
 * withdraws another's); the next holder, if any, takes over. */
static void
s_endpoint_remove (shed_overlay_t *self, const char *keytext, const char *origin)
{
    uint8_t mac[6];
    char key[SHED_OVERLAY_MAC_MAX];
    if (novl_mac_parse (keytext, mac) != 0)
        return;
    novl_mac_text (mac, key);
    novl_endpoint_t *e = zhashx_lookup (self->endpoints, key);
    if (!e)
        return;
    if (ipam_holders_drop (&e->holders, origin)) {
        s_endpoint_sync (self, e);
        novl_lent_check (self);
    }
}

static void
s_endpoint_set (shed_overlay_t *self, const char *origin, const char *keytext,
                const rec_endpoint_t *v)
{
    uint8_t mac[6], want[6], keymac[6];
    char ip[NOVL_ADDR_TEXT_MAX];
    if (novl_mac_parse (v->mac, mac) != 0 || !novl_addr_ok (self, v->ip, 4, ip, "endpoint", origin))
        return;
    /* The MAC follows from the address (ipam_mac_for) and is the record's
     * key: anything else would let one record map a victim's address to
     * another MAC, or leave an entry its origin's delete cannot find. */
    if (ipam_mac_for (ip, want) != 0 || memcmp (want, mac, 6) != 0
        || novl_mac_parse (keytext, keymac) != 0 || memcmp (keymac, mac, 6) != 0) {
        self->bad_endpoint++;
        log_warn ("overlay",
                  "refused an endpoint record: MAC is not its address's|origin=%s "
                  "key=%s",
                  origin, keytext);
        return;
    }
    char key[SHED_OVERLAY_MAC_MAX];
    novl_mac_text (mac, key);
    novl_endpoint_t *e = zhashx_lookup (self->endpoints, key);
    if (!e) {
        e = calloc (1, sizeof *e);
        assert (e);
        memcpy (e->mac, mac, 6);
        zhashx_insert (self->endpoints, key, e);
    }
    if (ipam_holders_set (&e->holders, origin, ip, v->epoch) != 0) {
        self->bad_endpoint++;
        log_warn ("overlay",
                  "refused an endpoint record: too many nodes hold the MAC|"
                  "origin=%s mac=%s",
                  origin, key);
        if (!e->holders.n)
            zhashx_delete (self->endpoints, key);
        return;
    }
    s_endpoint_sync (self, e);
}

/* Lent addresses: free each once no node's endpoint record holds its MAC,
 * but only after NOVL_LENT_GRACE_MS since start and since the lending
 * (until then the target's record may just not have reached us). */
typedef struct {
    shed_overlay_t *self;
    uint64_t now;
    size_t freed;
} s_lent_t;

static void
s_lent_one (const char *shed, const char *ip, uint64_t since_ms, void *arg)
{
    s_lent_t *l = arg;
    shed_overlay_t *self = l->self;
    uint8_t mac[6];
    char key[SHED_OVERLAY_MAC_MAX];
    if (ipam_mac_for (ip, mac) != 0)
        return;
    novl_mac_text (mac, key);
    novl_endpoint_t *e = zhashx_lookup (self->endpoints, key);
    if (e && e->holders.n)
        return;
    if (l->now < self->started_ms + NOVL_LENT_GRACE_MS || l->now < since_ms + NOVL_LENT_GRACE_MS)
        return;
    if (ipam_lent_free (self->ipam, ip) == 0) {
        l->freed++;
        log_info ("overlay", "lent address freed: no node holds it any more|shed=%s ip=%s", shed,
                  ip);
    }
}

void
novl_lent_check (shed_overlay_t *self)
{
    if (!ipam_lent_count (self->ipam))
        return;
    s_lent_t l = { self, (uint64_t) zclock_mono (), 0 };
    ipam_lent_each (self->ipam, s_lent_one, &l);
    if (l.freed && ipam_save (self->ipam, self->ipam_path) != 0)
        log_warn ("overlay", "cannot save %s: %s", self->ipam_path, strerror (errno));
}

/* -------------------------------------------------------------------------
 * Events: membership, records
 */

void
novl_on_peer_alive (const peer_t *p, void *arg)
{
    shed_overlay_t *self = arg;
    if (p->status != PEER_ALIVE || !p->addr[0])
        return; /* suspect: nothing changes */
    char addr[NOVL_ADDR_TEXT_MAX];
    /* Validated here, where the member address enters the overlay: it
     * goes into the peer table, netlink and (plain mode) nftables. */
    if (!novl_addr_ok (self, p->addr, 0, addr, "member", p->name))
        return;
    novl_node_t *n = novl_node (self, p->name);
    n->member = true;
    n->alive = true;
    memcpy (n->key, p->key, 32);
    snprintf (n->maddr, sizeof n->maddr, "%s", addr);
    n->mport = p->overlay_port;
    s_sync_peer (self, n);
}

void
novl_on_peer_failed (const peer_t *p, void *arg)
{
    shed_overlay_t *self = arg;
    novl_node_t *n = zhashx_lookup (self->nodes, p->name);
    if (n)
        n->alive = false;
}

void
novl_on_peer_removed (const peer_t *p, void *arg)
{
    shed_overlay_t *self = arg;
    novl_node_t *n = zhashx_lookup (self->nodes, p->name);
    if (n) {
        n->member = false;
        n->alive = false;
        s_sync_peer (self, n);
    }
}

void
novl_on_record (const shed_record_t *rec, void *arg)
{
    shed_overlay_t *self = arg;
    if (strcmp (rec->origin, self->cfg.name) == 0)
        return;
    bool deleted = !strcmp (rec->event, "DELETED");
    if (!strcmp (rec->kind, REC_KIND_OVERLAY)) {
        novl_node_t *n = novl_node (self, rec->origin);
        if (deleted) {
            n->rec = false;
            ipam_peer_forget (self->ipam, rec->origin);
            s_sync_peer (self, n);
            return;
        }
        rec_msg_t v;
        if (wire_decode (&rec_proto, rec->value, rec->len, &v, NULL) != WIRE_OK
            || v.hdr.type != REC_OVERLAY) {
            log_warn ("overlay", "undecodable overlay record|origin=%s", rec->origin);
            return;
        }
        const rec_overlay_t *o = &v.u.rec_overlay;
        n->rec = true;
        snprintf (n->block, sizeof n->block, "%s", o->block);
        /* Shown only (the peer is reached at its membership address). */
        if (!o->addr[0]
            || !novl_addr_ok (self, o->addr, 0, n->raddr, "overlay record", rec->origin))
            n->raddr[0] = '\0';
        n->rport = (uint16_t) o->port;
        snprintf (n->mode, sizeof n->mode, "%s", o->mode);
        snprintf (n->status, sizeof n->status, "%s", rec->status);
        uint32_t block;
        /* Unreachable origins keep their claim: their sheds still hold
         * those addresses. */
        if (o->block[0] && ipam_block_parse (self->ipam, o->block, &block) == 0)
            ipam_peer_claim (self->ipam, rec->origin, block, o->claim_ms,
                             (uint64_t) zclock_mono ());
        else
            ipam_peer_forget (self->ipam, rec->origin);
        if (o->mode[0] && strcmp (o->mode, self->plain ? "plain" : "encrypted") != 0)
            log_warn ("overlay",
                      "peer runs another overlay mode: no traffic with it|peer=%s "
                      "mode=%s",
                      rec->origin, o->mode);
        wire_msg_free (&rec_proto, &v);
        s_sync_peer (self, n);
    }
    else if (!strcmp (rec->kind, REC_KIND_ENDPOINT)) {
        if (deleted) {
            s_endpoint_remove (self, rec->key, rec->origin);
            return;
        }
        rec_msg_t v;
        if (wire_decode (&rec_proto, rec->value, rec->len, &v, NULL) != WIRE_OK
            || v.hdr.type != REC_ENDPOINT) {
            log_warn ("overlay", "undecodable endpoint record|origin=%s key=%s", rec->origin,
                      rec->key);
            return;
        }
        s_endpoint_set (self, rec->origin, rec->key, &v.u.rec_endpoint);
        wire_msg_free (&rec_proto, &v);
    }
}
