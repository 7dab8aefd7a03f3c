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

/* plain mode: point the endpoint's FDB entry at its owner's underlay
 * address once we know it. */
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
        if (hostnet_neigh (self->device, e->ip, e->mac, false, why, sizeof why) != 0)
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
        if (strcmp (e->node, node) == 0)
            s_plain_endpoint (self, e, true);
}

static void
s_endpoint_remove (shed_overlay_t *self, const char *mactext, const char *origin)
{
    novl_endpoint_t *e = zhashx_lookup (self->endpoints, mactext);
    /* Only the owner's delete counts: another node cannot withdraw it. */
    if (!e || strcmp (e->node, origin) != 0)
        return;
    if (self->dp) {
        overlay_fdb_del (self->dp, e->mac);
        overlay_arp_del (self->dp, e->ip);
    }
    else
        s_plain_endpoint (self, e, false);
    log_debug ("overlay", "endpoint removed|mac=%s ip=%s node=%s", mactext, e->ip, e->node);
    zhashx_delete (self->endpoints, mactext);
}

static void
s_endpoint_set (shed_overlay_t *self, const char *origin, const rec_endpoint_t *v)
{
    uint8_t mac[6];
    char ip[NOVL_ADDR_TEXT_MAX];
    if (novl_mac_parse (v->mac, mac) != 0 || !novl_addr_ok (self, v->ip, 4, ip, "endpoint", origin))
        return;
    char key[SHED_OVERLAY_MAC_MAX];
    novl_mac_text (mac, key);
    novl_endpoint_t *e = zhashx_lookup (self->endpoints, key);
    if (e && (strcmp (e->node, origin) != 0 || strcmp (e->ip, ip) != 0))
        s_endpoint_remove (self, key, e->node);
    e = zhashx_lookup (self->endpoints, key);
    if (!e) {
        e = calloc (1, sizeof *e);
        assert (e);
        zhashx_insert (self->endpoints, key, e);
    }
    memcpy (e->mac, mac, 6);
    snprintf (e->ip, sizeof e->ip, "%.15s", ip);
    /* The record's origin is the owner: the store only takes an origin's
     * records from that origin, so a member cannot claim another's MAC. */
    snprintf (e->node, sizeof e->node, "%s", origin);
    if (self->dp) {
        if (overlay_fdb_set (self->dp, mac, origin) != 0
            || overlay_arp_set (self->dp, ip, mac) != 0)
            log_warn ("overlay", "cannot program endpoint|mac=%s ip=%s node=%s", key, ip, origin);
    }
    else
        s_plain_endpoint (self, e, true);
    log_debug ("overlay", "endpoint|mac=%s ip=%s node=%s", key, ip, origin);
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
        s_endpoint_set (self, rec->origin, &v.u.rec_endpoint);
        wire_msg_free (&rec_proto, &v);
    }
}
