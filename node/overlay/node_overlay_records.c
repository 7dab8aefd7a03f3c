/*
 * node_overlay_records.c - this node's own overlay records: the REC_OVERLAY
 * summary, one REC_ENDPOINT per local shed interface, putting them back
 * once the overlay is ready, and the periodic tick. Separate because it is
 * the one part that writes to the replicated state (docs/overlay.md).
 */
#include "node/overlay/node_overlay_int.h"

/* -------------------------------------------------------------------------
 * Our records
 */

static void
s_publish_overlay (shed_overlay_t *self)
{
    rec_msg_t rec = { .hdr.type = REC_OVERLAY };
    rec_overlay_t *o = &rec.u.rec_overlay;
    snprintf (o->node, sizeof o->node, "%s", self->cfg.name);
    uint32_t block;
    uint64_t claim_ms;
    if (ipam_claim (self->ipam, &block, &claim_ms)) {
        ipam_block_text (self->ipam, block, o->block, sizeof o->block);
        o->claim_ms = claim_ms;
        ipam_gateway (self->ipam, o->gateway);
    }
    snprintf (o->addr, sizeof o->addr, "%s", self->local_addr);
    o->port = self->port;
    memcpy (o->public_key, self->pubkey, 32);
    o->mtu = (uint64_t) self->mtu;
    snprintf (o->mode, sizeof o->mode, "%s", self->plain ? "plain" : "encrypted");
    o->vni = self->cfg.network.vni;
    char summary[256];
    snprintf (summary, sizeof summary, "%s %llu %s %u", o->block, (unsigned long long) o->claim_ms,
              o->addr, (unsigned) o->port);
    if (strcmp (summary, self->published) == 0)
        return;
    char err[256];
    /* Deferred to the next state.bin write: the claim's durable copy is
     * network.ipam, and every start publishes it again. */
    if (shed_nstate_put_rec_deferred (self->state, REC_KIND_OVERLAY, self->cfg.name, &rec, err,
                                      sizeof err)
        != 0)
        log_error ("overlay", "cannot publish overlay record: %s", err);
    else {
        snprintf (self->published, sizeof self->published, "%s", summary);
        log_info ("overlay", "published claim|block=%s claim_ms=%llu port=%u",
                  o->block[0] ? o->block : "-", (unsigned long long) o->claim_ms,
                  (unsigned) o->port);
    }
}

int
novl_put_endpoint (shed_overlay_t *self, const char *shed, const char *ip, const uint8_t mac[6],
                   char *err, size_t errlen)
{
    rec_msg_t rec = { .hdr.type = REC_ENDPOINT };
    rec_endpoint_t *e = &rec.u.rec_endpoint;
    snprintf (e->ip, sizeof e->ip, "%s", ip);
    novl_mac_text (mac, e->mac);
    snprintf (e->node, sizeof e->node, "%s", self->cfg.name);
    snprintf (e->shed, sizeof e->shed, "%s", shed);
    uint8_t *old = NULL;
    size_t oldlen = 0;
    if (shed_nstate_get_mine (self->state, REC_KIND_ENDPOINT, e->mac, &old, &oldlen) == 1) {
        rec_msg_t v;
        if (wire_decode (&rec_proto, old, oldlen, &v, NULL) == WIRE_OK) {
            if (v.hdr.type == REC_ENDPOINT && !strcmp (v.u.rec_endpoint.ip, ip))
                e->epoch = v.u.rec_endpoint.epoch;
            wire_msg_free (&rec_proto, &v);
        }
        free (old);
    }
    if (!e->epoch) {
        uint64_t wall = (uint64_t) zclock_time ();
        uint64_t seen = novl_endpoint_max_epoch (self, mac);
        e->epoch = seen >= wall ? seen + 1 : wall;
    }
    return shed_nstate_put_rec (self->state, REC_KIND_ENDPOINT, e->mac, &rec, err, errlen);
}

typedef struct {
    shed_overlay_t *self;
    zlistx_t *stale; /* our endpoint keys no shed holds any more */
} s_own_t;

static void
s_collect_own (const shed_record_t *rec, void *arg)
{
    s_own_t *own = arg;
    if (strcmp (rec->origin, own->self->cfg.name) != 0)
        return;
    rec_msg_t v;
    bool keep = false;
    if (wire_decode (&rec_proto, rec->value, rec->len, &v, NULL) == WIRE_OK) {
        if (v.hdr.type == REC_ENDPOINT) {
            char ip[IPAM_ADDR_MAX];
            uint8_t mac[6];
            char mtext[SHED_OVERLAY_MAC_MAX];
            keep = ipam_lookup (own->self->ipam, v.u.rec_endpoint.shed, ip, mac) == 0;
            if (keep) {
                novl_mac_text (mac, mtext);
                keep = strcmp (mtext, rec->key) == 0;
            }
        }
        wire_msg_free (&rec_proto, &v);
    }
    if (!keep) {
        char key[256];
        snprintf (key, sizeof key, "%s", rec->key);
        zlistx_add_end (own->stale, key); /* duplicated by the list */
    }
}

static void
s_put_local (const char *shed, void *arg)
{
    shed_overlay_t *self = arg;
    char ip[IPAM_ADDR_MAX], err[256];
    uint8_t mac[6];
    if (ipam_lookup (self->ipam, shed, ip, mac) != 0)
        return;
    if (novl_put_endpoint (self, shed, ip, mac, err, sizeof err) != 0)
        log_warn ("overlay", "cannot publish endpoint|shed=%s error=\"%s\"", shed, err);
    /* Our shed holds the MAC: no remote entry for it, whatever others say. */
    novl_endpoint_resync (self, mac);
}

/* Our block became usable (start, restart, or after moving): put the
 * gateway on the bridge and make our endpoint records match the block
 * (after a move every shed's address changed; the driver has to re-address
 * running sheds, which is logged). */
static void
s_on_ready (shed_overlay_t *self)
{
    char gw[IPAM_ADDR_MAX], why[256];
    ipam_gateway (self->ipam, gw);
    int prefix = ipam_cidr_prefix (self->ipam);
    if (self->gateway[0] && strcmp (self->gateway, gw) != 0)
        hostnet_addr (self->cfg.network.bridge, self->gateway, prefix, false, why, sizeof why);
    if (hostnet_addr (self->cfg.network.bridge, gw, prefix, true, why, sizeof why) != 0)
        log_error ("overlay", "cannot set the gateway address: %s", why);
    else
        snprintf (self->gateway, sizeof self->gateway, "%s", gw);

    s_own_t own = { self, zlistx_new () };
    zlistx_set_duplicator (own.stale, (zlistx_duplicator_fn *) strdup);
    zlistx_set_destructor (own.stale, (zlistx_destructor_fn *) zstr_free);
    shed_nstate_list (self->state, REC_KIND_ENDPOINT, s_collect_own, &own);
    for (char *key = zlistx_first (own.stale); key; key = zlistx_next (own.stale)) {
        char err[256];
        if (shed_nstate_delete (self->state, REC_KIND_ENDPOINT, key, err, sizeof err) != 0)
            log_warn ("overlay", "cannot withdraw endpoint|mac=%s error=\"%s\"", key, err);
    }
    if (zlistx_size (own.stale))
        log_warn ("overlay", "withdrew %zu endpoint records of an earlier block",
                  zlistx_size (own.stale));
    zlistx_destroy (&own.stale);
    ipam_each (self->ipam, s_put_local, self);
    char block[24] = "";
    uint32_t b;
    if (ipam_claim (self->ipam, &b, NULL))
        ipam_block_text (self->ipam, b, block, sizeof block);
    log_info ("overlay", "address block ready|block=%s gateway=%s/%d sheds=%zu", block, gw, prefix,
              ipam_count (self->ipam));
    /* Only once the address is on the bridge: a listener on it (the shed
     * DNS listener) cannot bind before. */
    if (self->on_gateway && self->gateway[0])
        self->on_gateway (self->gateway, self->cfg.network.bridge, self->on_gateway_arg);
}

int
novl_on_tick (zloop_t *loop, int timer_id, void *arg)
{
    shed_overlay_t *self = arg;
    uint64_t now = (uint64_t) zclock_mono ();
    bool lost = false;
    if (ipam_tick (self->ipam, now, (uint64_t) zclock_time (), &lost)) {
        if (lost) {
            log_warn ("overlay", "lost our address block to an earlier claim: moving (sheds "
                                 "attached so far get new addresses)");
            self->was_ready = false;
        }
        uint32_t b;
        if (!ipam_claim (self->ipam, &b, NULL))
            log_error ("overlay", "every address block of %s is claimed: no addresses here",
                       self->cfg.network.cidr);
        if (ipam_save (self->ipam, self->ipam_path) != 0)
            log_warn ("overlay", "cannot save %s: %s", self->ipam_path, strerror (errno));
    }
    s_publish_overlay (self);
    novl_lent_check (self);
    bool ready = ipam_ready (self->ipam, now);
    if (ready && !self->was_ready)
        s_on_ready (self);
    self->was_ready = ready;
    return 0;
}
