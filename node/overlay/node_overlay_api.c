/*
 * node_overlay_api.c - the local API's network requests (network status
 * with per-peer statistics, attach, detach). Separate because it is the
 * overlay's surface to shedctl, thin over the functions in node_overlay.c.
 */
#include "node/overlay/node_overlay_int.h"

/* -------------------------------------------------------------------------
 * Local API
 */

static void
s_drops_tags (const uint64_t drops[OVERLAY_DROP_COUNT], wire_tag_t *tags, size_t *n)
{
    *n = 0;
    for (int r = 0; r < OVERLAY_DROP_COUNT; r++) {
        if (!drops[r])
            continue;
        snprintf (tags[*n].key, sizeof tags[*n].key, "%s", overlay_drop_name ((overlay_drop_t) r));
        snprintf (tags[*n].value, sizeof tags[*n].value, "%llu", (unsigned long long) drops[r]);
        (*n)++;
    }
}

void
novl_api_network (shed_api_call_t *call, const api_msg_t *req, void *arg)
{
    shed_overlay_t *self = arg;
    api_msg_t rep = { .hdr.type = API_NETWORK_REP };
    api_network_rep_t *r = &rep.u.api_network_rep;
    snprintf (r->mode, sizeof r->mode, "%s", self->plain ? "plain" : "encrypted");
    snprintf (r->cidr, sizeof r->cidr, "%s", self->cfg.network.cidr);
    uint32_t block;
    uint64_t now = (uint64_t) zclock_mono ();
    if (ipam_claim (self->ipam, &block, NULL))
        ipam_block_text (self->ipam, block, r->block, sizeof r->block);
    r->ready = ipam_ready (self->ipam, now);
    snprintf (r->gateway, sizeof r->gateway, "%s", self->gateway);
    snprintf (r->bridge, sizeof r->bridge, "%s", self->cfg.network.bridge);
    snprintf (r->device, sizeof r->device, "%s", self->device);
    r->mtu = (uint64_t) self->mtu;
    r->vni = self->cfg.network.vni;
    r->port = self->port;
    r->local_endpoints = ipam_count (self->ipam);
    /* Remote MACs (one each, however many nodes' records name it; not
     * those a local shed holds, during a move) and our own. */
    r->endpoints = ipam_count (self->ipam);
    for (novl_endpoint_t *e = zhashx_first (self->endpoints); e; e = zhashx_next (self->endpoints))
        r->endpoints += !ipam_holds_mac (self->ipam, e->mac);

    /* Blocks: ours first, then every node with a record. */
    size_t nn = zhashx_size (self->nodes);
    api_netblock_t *blocks = calloc (nn + 1, sizeof *blocks);
    size_t nb = 0;
    if (blocks) {
        api_netblock_t *b = &blocks[nb++];
        snprintf (b->node, sizeof b->node, "%s", self->cfg.name);
        snprintf (b->block, sizeof b->block, "%s", r->block);
        snprintf (b->addr, sizeof b->addr, "%s", self->local_addr);
        b->port = self->port;
        snprintf (b->mode, sizeof b->mode, "%s", r->mode);
        snprintf (b->status, sizeof b->status, "alive");
        for (novl_node_t *n = zhashx_first (self->nodes); n; n = zhashx_next (self->nodes)) {
            if (!n->rec)
                continue;
            b = &blocks[nb++];
            snprintf (b->node, sizeof b->node, "%s", n->name);
            snprintf (b->block, sizeof b->block, "%.20s", n->block);
            snprintf (b->addr, sizeof b->addr, "%s", n->raddr);
            b->port = n->rport;
            snprintf (b->mode, sizeof b->mode, "%s", n->mode);
            /* Membership knows of a failure before the record's origin
             * status changes (that waits for the state layer): say so. */
            snprintf (b->status, sizeof b->status, "%s",
                      n->member && !n->alive ? "unreachable" : n->status);
        }
    }
    r->blocks.n = nb;
    r->blocks.items = blocks;

    /* Peers with their sessions and counters. */
    wire_tag_t gdrops[OVERLAY_DROP_COUNT + 2];
    overlay_peer_stats_t *ps = NULL;
    size_t np = 0;
    api_netpeer_t *peers = NULL;
    wire_tag_t (*pdrops)[OVERLAY_DROP_COUNT] = NULL;
    if (self->dp) {
        overlay_stats_t st;
        ps = calloc (NOVL_PEER_STATS_MAX, sizeof *ps);
        overlay_stats (self->dp, &st, ps, ps ? NOVL_PEER_STATS_MAX : 0, &np);
        if (np > NOVL_PEER_STATS_MAX)
            np = NOVL_PEER_STATS_MAX;
        r->arp_answered = st.arp_answered;
        s_drops_tags (st.drops, gdrops, &r->drops.n);
        r->drops.items = gdrops;
        peers = np ? calloc (np, sizeof *peers) : NULL;
        pdrops = np ? calloc (np, sizeof *pdrops) : NULL;
        if (!peers || !pdrops)
            np = 0;
        for (size_t i = 0; i < np; i++) {
            api_netpeer_t *p = &peers[i];
            const overlay_peer_stats_t *s = &ps[i];
            snprintf (p->node, sizeof p->node, "%s", s->node);
            novl_node_t *n = zhashx_lookup (self->nodes, s->node);
            if (n) {
                snprintf (p->addr, sizeof p->addr, "%s", n->paddr);
                p->port = n->pport;
            }
            snprintf (p->session, sizeof p->session, "%s",
                      s->has_key ? "established" : "handshaking");
            snprintf (p->aead, sizeof p->aead, "%s",
                      !s->has_key                      ? ""
                      : s->aead == SHED_AEAD_AES256GCM ? "aes256gcm"
                                                       : "chacha20poly1305");
            p->key_age_ms = s->key_age_ms;
            p->handshakes = s->handshakes;
            p->tx_packets = s->tx_packets;
            p->tx_bytes = s->tx_bytes;
            p->rx_packets = s->rx_packets;
            p->rx_bytes = s->rx_bytes;
            s_drops_tags (s->drops, pdrops[i], &p->drops.n);
            p->drops.items = pdrops[i];
        }
    }
    else {
        peers = nn ? calloc (nn, sizeof *peers) : NULL;
        for (novl_node_t *n = zhashx_first (self->nodes); peers && n;
             n = zhashx_next (self->nodes)) {
            if (!n->programmed)
                continue;
            api_netpeer_t *p = &peers[np++];
            snprintf (p->node, sizeof p->node, "%s", n->name);
            snprintf (p->addr, sizeof p->addr, "%s", n->paddr);
            p->port = n->pport;
            snprintf (p->session, sizeof p->session, "plain");
        }
    }
    /* Bad addresses are refused before the datapath or nftables, in both
     * modes: one more drop reason. */
    if (self->bad_addr && r->drops.n < OVERLAY_DROP_COUNT + 2) {
        wire_tag_t *t = &gdrops[r->drops.n++];
        snprintf (t->key, sizeof t->key, "bad_addr");
        snprintf (t->value, sizeof t->value, "%llu", (unsigned long long) self->bad_addr);
        r->drops.items = gdrops;
    }
    if (self->bad_endpoint && r->drops.n < OVERLAY_DROP_COUNT + 2) {
        wire_tag_t *t = &gdrops[r->drops.n++];
        snprintf (t->key, sizeof t->key, "bad_endpoint");
        snprintf (t->value, sizeof t->value, "%llu", (unsigned long long) self->bad_endpoint);
        r->drops.items = gdrops;
    }
    r->peers.n = np;
    r->peers.items = peers;
    shed_api_reply (&call, &rep);
    free (blocks);
    free (ps);
    free (peers);
    free (pdrops);
}

void
novl_api_attach (shed_api_call_t *call, const api_msg_t *req, void *arg)
{
    shed_overlay_t *self = arg;
    api_msg_t rep = { .hdr.type = API_NET_ATTACH_REP };
    api_net_attach_rep_t *r = &rep.u.api_net_attach_rep;
    char ip[SHED_OVERLAY_ADDR_MAX], mac[SHED_OVERLAY_MAC_MAX], gw[SHED_OVERLAY_ADDR_MAX];
    char err[256];
    int prefix;
    unsigned mtu;
    if (shed_overlay_attach (self, req->u.api_net_attach_req.shed, ip, mac, gw, &prefix, &mtu, err,
                             sizeof err)
        != 0) {
        api_err_code_t code = errno == EAGAIN   ? API_ERR_UNAVAILABLE
                              : errno == EINVAL ? API_ERR_INVALID
                                                : API_ERR_INTERNAL;
        shed_api_reply_error (&call, code, "%s", err);
        return;
    }
    snprintf (r->ip, sizeof r->ip, "%s", ip);
    snprintf (r->mac, sizeof r->mac, "%s", mac);
    snprintf (r->gateway, sizeof r->gateway, "%s", gw);
    r->prefix = (uint64_t) prefix;
    r->mtu = mtu;
    snprintf (r->bridge, sizeof r->bridge, "%s", self->cfg.network.bridge);
    shed_api_reply (&call, &rep);
}

void
novl_api_detach (shed_api_call_t *call, const api_msg_t *req, void *arg)
{
    shed_overlay_t *self = arg;
    char err[256];
    if (shed_overlay_detach (self, req->u.api_net_detach_req.shed, err, sizeof err) != 0) {
        shed_api_reply_error (&call, errno == ENOENT ? API_ERR_NOT_FOUND : API_ERR_INTERNAL, "%s",
                              err);
        return;
    }
    api_msg_t rep = { .hdr.type = API_OK };
    snprintf (rep.u.api_ok.message, sizeof rep.u.api_ok.message, "detached %s",
              req->u.api_net_detach_req.shed);
    shed_api_reply (&call, &rep);
}
