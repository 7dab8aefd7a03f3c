/* node_overlay.c - see node_overlay.h. */
#include "node/overlay/node_overlay.h"

#include "cluster/records.h"
#include "common/log.h"
#include "node/overlay/ipam.h"
#include "node/overlay/hostnet.h"
#include "node/overlay/nftables.h"
#include "node/overlay/overlay.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define TICK_MS          500
#define PEER_STATS_MAX   1024
#define ADDR_TEXT_MAX    46

/* Another node, as membership and its REC_OVERLAY record describe it, and
 * what the datapath currently holds for it. */
typedef struct {
    char name[SHED_NAME_MAX + 1];
    /* membership */
    bool member;
    bool alive;                     /* alive or suspect; false after fail */
    uint8_t key[32];
    char maddr[ADDR_TEXT_MAX];
    uint16_t mport;                 /* overlay port from the peer directory */
    /* REC_OVERLAY */
    bool rec;
    char block[REC_ADDR_MAX + 5];
    char raddr[ADDR_TEXT_MAX];
    uint16_t rport;
    char mode[16];
    char status[16];
    /* programmed */
    bool programmed;
    uint8_t pkey[32];
    char paddr[ADDR_TEXT_MAX];
    uint16_t pport;
} s_node_t;

/* A remote shed interface from a REC_ENDPOINT record. */
typedef struct {
    uint8_t mac[6];
    char ip[SHED_OVERLAY_ADDR_MAX];
    char node[SHED_NAME_MAX + 1];
    char fdb_dst[ADDR_TEXT_MAX];    /* plain mode: where its FDB entry points ("" none) */
} s_endpoint_t;

struct _shed_overlay_t {
    shed_config_t cfg;              /* copy; network.* is ours */
    shed_nstate_t *state;           /* borrowed */
    zloop_t *loop;                  /* borrowed */
    int timer;
    bool plain;
    char device[16];
    char local_addr[ADDR_TEXT_MAX]; /* our underlay address ("" = unknown) */
    uint16_t port;
    int mtu;
    uint8_t pubkey[32];
    char ipam_path[PATH_MAX + 32];
    char nft_table[80];             /* plain mode filter; "" = none installed */
    char nat_table[80];
    bool bridge_created;
    /* Addresses from gossip or records that are no address (docs/overlay.md,
     * "plain mode"): refused before anything uses them, counted here. */
    uint64_t bad_addr;

    ipam_t *ipam;
    overlay_t *dp;                  /* encrypted mode */
    bool was_ready;
    char gateway[SHED_OVERLAY_ADDR_MAX];    /* set on the bridge; "" none */
    shed_overlay_gateway_fn *on_gateway;    /* told each time the gateway is set */
    void *on_gateway_arg;
    char published[256];            /* last REC_OVERLAY summary we put */

    zhashx_t *nodes;                /* name -> s_node_t */
    zhashx_t *endpoints;            /* "aa:bb:.." -> s_endpoint_t (other nodes') */
};

/* -------------------------------------------------------------------------
 * Small helpers
 */

static void
s_mac_text (const uint8_t mac[6], char out[SHED_OVERLAY_MAC_MAX])
{
    snprintf (out, SHED_OVERLAY_MAC_MAX, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2],
              mac[3], mac[4], mac[5]);
}

static int
s_mac_parse (const char *text, uint8_t mac[6])
{
    unsigned v[6];
    char tail;
    if (sscanf (text, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                &tail) != 6)
        return -1;
    for (int i = 0; i < 6; i++)
        mac[i] = (uint8_t) v[i];
    return 0;
}

/* Run an nftables script (plain-mode filter, NAT) through libnftables, no
 * shell. The tables are ours alone (named after the node), so a whole-table
 * script is atomic and never touches anyone else's rules. */
static int
s_nft (const char *script, char *why, size_t whylen)
{
    return shed_nft_run (script, NULL, 0, why, whylen);
}

/* An address from gossip or a record, in its canonical text (inet_pton,
 * inet_ntop), or false: counted and logged, never used. `want` 4 takes
 * IPv4 only. Text that is not exactly an address ("1.1.1.1 }\nflush
 * ruleset") would otherwise reach nftables and netlink. */
static bool
s_addr_ok (shed_overlay_t *self, const char *text, int want, char out[ADDR_TEXT_MAX],
           const char *what, const char *from)
{
    int family = shed_nft_addr_canon (text, out);
    if (family > 0 && (!want || family == want))
        return true;
    self->bad_addr++;
    out[0] = '\0';
    log_warn ("overlay", "refused a bad address|what=%s from=%s", what, from);
    return false;
}

static s_node_t *
s_node (shed_overlay_t *self, const char *name)
{
    s_node_t *n = zhashx_lookup (self->nodes, name);
    if (!n) {
        n = calloc (1, sizeof *n);
        assert (n);
        snprintf (n->name, sizeof n->name, "%s", name);
        zhashx_insert (self->nodes, name, n);
    }
    return n;
}

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
s_unprogram (shed_overlay_t *self, s_node_t *n)
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
s_sync_peer (shed_overlay_t *self, s_node_t *n)
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
s_plain_endpoint (shed_overlay_t *self, s_endpoint_t *e, bool add)
{
    char why[256];
    char mac[SHED_OVERLAY_MAC_MAX];
    s_mac_text (e->mac, mac);
    if (!add) {
        if (e->fdb_dst[0] && hostnet_fdb (self->device, e->mac, e->fdb_dst, false, false, why,
                                          sizeof why) != 0)
            log_warn ("overlay", "%s|mac=%s", why, mac);
        e->fdb_dst[0] = '\0';
        if (hostnet_neigh (self->device, e->ip, e->mac, false, why, sizeof why) != 0)
            log_warn ("overlay", "%s|ip=%s", why, e->ip);
        return;
    }
    s_node_t *n = zhashx_lookup (self->nodes, e->node);
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
    for (s_endpoint_t *e = zhashx_first (self->endpoints); e; e = zhashx_next (self->endpoints))
        if (strcmp (e->node, node) == 0)
            s_plain_endpoint (self, e, true);
}

static void
s_endpoint_remove (shed_overlay_t *self, const char *mactext, const char *origin)
{
    s_endpoint_t *e = zhashx_lookup (self->endpoints, mactext);
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
    char ip[ADDR_TEXT_MAX];
    if (s_mac_parse (v->mac, mac) != 0 || !s_addr_ok (self, v->ip, 4, ip, "endpoint", origin))
        return;
    char key[SHED_OVERLAY_MAC_MAX];
    s_mac_text (mac, key);
    s_endpoint_t *e = zhashx_lookup (self->endpoints, key);
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
        if (overlay_fdb_set (self->dp, mac, origin) != 0 || overlay_arp_set (self->dp, ip, mac) != 0)
            log_warn ("overlay", "cannot program endpoint|mac=%s ip=%s node=%s", key, ip, origin);
    }
    else
        s_plain_endpoint (self, e, true);
    log_debug ("overlay", "endpoint|mac=%s ip=%s node=%s", key, ip, origin);
}

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
    uint8_t *buf = NULL;
    size_t len = 0;
    char err[256];
    int rc = wire_encode (&rec_proto, &rec, &buf, &len);
    if (rc != WIRE_OK)
        log_error ("overlay", "cannot encode overlay record: %s", wire_strerror (rc));
    else if (shed_nstate_put (self->state, REC_KIND_OVERLAY, self->cfg.name, buf, len, err,
                              sizeof err) != 0)
        log_error ("overlay", "cannot publish overlay record: %s", err);
    else {
        snprintf (self->published, sizeof self->published, "%s", summary);
        log_info ("overlay", "published claim|block=%s claim_ms=%llu port=%u",
                  o->block[0] ? o->block : "-", (unsigned long long) o->claim_ms,
                  (unsigned) o->port);
    }
    free (buf);
}

static int
s_put_endpoint (shed_overlay_t *self, const char *shed, const char *ip, const uint8_t mac[6],
                char *err, size_t errlen)
{
    rec_msg_t rec = { .hdr.type = REC_ENDPOINT };
    rec_endpoint_t *e = &rec.u.rec_endpoint;
    snprintf (e->ip, sizeof e->ip, "%s", ip);
    s_mac_text (mac, e->mac);
    snprintf (e->node, sizeof e->node, "%s", self->cfg.name);
    snprintf (e->shed, sizeof e->shed, "%s", shed);
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = wire_encode (&rec_proto, &rec, &buf, &len);
    if (rc != WIRE_OK) {
        snprintf (err, errlen, "endpoint record: %s", wire_strerror (rc));
        return -1;
    }
    rc = shed_nstate_put (self->state, REC_KIND_ENDPOINT, e->mac, buf, len, err, errlen);
    free (buf);
    return rc;
}

typedef struct {
    shed_overlay_t *self;
    zlistx_t *stale;                /* our endpoint keys no shed holds any more */
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
                s_mac_text (mac, mtext);
                keep = strcmp (mtext, rec->key) == 0;
            }
        }
        wire_msg_free (&rec_proto, &v);
    }
    if (!keep) {
        char key[256];
        snprintf (key, sizeof key, "%s", rec->key);
        zlistx_add_end (own->stale, key);     /* duplicated by the list */
    }
}

static void
s_put_local (const char *shed, void *arg)
{
    shed_overlay_t *self = arg;
    char ip[IPAM_ADDR_MAX], err[256];
    uint8_t mac[6];
    if (ipam_lookup (self->ipam, shed, ip, mac) == 0
        && s_put_endpoint (self, shed, ip, mac, err, sizeof err) != 0)
        log_warn ("overlay", "cannot publish endpoint|shed=%s error=\"%s\"", shed, err);
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
    log_info ("overlay", "address block ready|block=%s gateway=%s/%d sheds=%zu", block, gw,
              prefix, ipam_count (self->ipam));
    /* Only once the address is on the bridge: a listener on it (the shed
     * DNS listener) cannot bind before. */
    if (self->on_gateway && self->gateway[0])
        self->on_gateway (self->gateway, self->cfg.network.bridge, self->on_gateway_arg);
}

static int
s_on_tick (zloop_t *loop, int timer_id, void *arg)
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
    bool ready = ipam_ready (self->ipam, now);
    if (ready && !self->was_ready)
        s_on_ready (self);
    self->was_ready = ready;
    return 0;
}

/* -------------------------------------------------------------------------
 * Events: membership, records
 */

static void
s_on_peer_alive (const peer_t *p, void *arg)
{
    shed_overlay_t *self = arg;
    if (p->status != PEER_ALIVE || !p->addr[0])
        return;                     /* suspect: nothing changes */
    char addr[ADDR_TEXT_MAX];
    /* Validated here, where the member address enters the overlay: it
     * goes into the peer table, netlink and (plain mode) nftables. */
    if (!s_addr_ok (self, p->addr, 0, addr, "member", p->name))
        return;
    s_node_t *n = s_node (self, p->name);
    n->member = true;
    n->alive = true;
    memcpy (n->key, p->key, 32);
    snprintf (n->maddr, sizeof n->maddr, "%s", addr);
    n->mport = p->overlay_port;
    s_sync_peer (self, n);
}

static void
s_on_peer_failed (const peer_t *p, void *arg)
{
    shed_overlay_t *self = arg;
    s_node_t *n = zhashx_lookup (self->nodes, p->name);
    if (n)
        n->alive = false;
}

static void
s_on_peer_removed (const peer_t *p, void *arg)
{
    shed_overlay_t *self = arg;
    s_node_t *n = zhashx_lookup (self->nodes, p->name);
    if (n) {
        n->member = false;
        n->alive = false;
        s_sync_peer (self, n);
    }
}

static void
s_on_record (const shed_record_t *rec, void *arg)
{
    shed_overlay_t *self = arg;
    if (strcmp (rec->origin, self->cfg.name) == 0)
        return;
    bool deleted = !strcmp (rec->event, "DELETED");
    if (!strcmp (rec->kind, REC_KIND_OVERLAY)) {
        s_node_t *n = s_node (self, rec->origin);
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
        if (!o->addr[0] || !s_addr_ok (self, o->addr, 0, n->raddr, "overlay record", rec->origin))
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
            log_warn ("overlay", "peer runs another overlay mode: no traffic with it|peer=%s "
                                 "mode=%s", rec->origin, o->mode);
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

/* -------------------------------------------------------------------------
 * Public API
 */

int
shed_overlay_attach (shed_overlay_t *self, const char *shed, char ip[SHED_OVERLAY_ADDR_MAX],
                     char mac[SHED_OVERLAY_MAC_MAX], char gw[SHED_OVERLAY_ADDR_MAX], int *prefix,
                     unsigned *mtu, char *err, size_t errlen)
{
    assert (self);
    uint8_t hw[6];
    if (ipam_assign (self->ipam, shed, (uint64_t) zclock_mono (), ip, hw) != 0) {
        int e = errno;
        if (e == EAGAIN)
            snprintf (err, errlen, "address block not settled yet; retry shortly");
        else if (e == ENOSPC)
            snprintf (err, errlen, "no free address left in this node's block");
        else
            snprintf (err, errlen, "bad shed name '%s'", shed ? shed : "");
        errno = e;
        return -1;
    }
    if (ipam_save (self->ipam, self->ipam_path) != 0) {
        int e = errno;
        snprintf (err, errlen, "cannot save %s: %s", self->ipam_path, strerror (e));
        ipam_release (self->ipam, shed);
        errno = e;
        return -1;
    }
    if (s_put_endpoint (self, shed, ip, hw, err, errlen) != 0) {
        errno = EIO;
        return -1;
    }
    s_mac_text (hw, mac);
    ipam_gateway (self->ipam, gw);
    *prefix = ipam_cidr_prefix (self->ipam);
    *mtu = (unsigned) self->mtu;
    log_info ("overlay", "attached|shed=%s ip=%s mac=%s", shed, ip, mac);
    return 0;
}

int
shed_overlay_detach (shed_overlay_t *self, const char *shed, char *err, size_t errlen)
{
    assert (self);
    char ip[IPAM_ADDR_MAX], mtext[SHED_OVERLAY_MAC_MAX];
    uint8_t mac[6];
    if (ipam_lookup (self->ipam, shed, ip, mac) != 0) {
        snprintf (err, errlen, "shed '%s' has no overlay address here", shed);
        errno = ENOENT;
        return -1;
    }
    s_mac_text (mac, mtext);
    if (shed_nstate_delete (self->state, REC_KIND_ENDPOINT, mtext, err, errlen) != 0) {
        errno = EIO;
        return -1;
    }
    ipam_release (self->ipam, shed);
    if (ipam_save (self->ipam, self->ipam_path) != 0)
        log_warn ("overlay", "cannot save %s: %s", self->ipam_path, strerror (errno));
    log_info ("overlay", "detached|shed=%s ip=%s", shed, ip);
    return 0;
}

int
shed_overlay_stats (shed_overlay_t *self, overlay_stats_t *out, overlay_peer_stats_t *peers,
                    size_t cap, size_t *npeers)
{
    assert (self);
    if (!self->dp)
        return -1;
    overlay_stats (self->dp, out, peers, cap, npeers);
    return 0;
}

int
shed_overlay_address (shed_overlay_t *self, const char *shed, char ip[SHED_OVERLAY_ADDR_MAX])
{
    assert (self);
    uint8_t mac[6];
    char text[IPAM_ADDR_MAX];
    if (!shed || ipam_lookup (self->ipam, shed, text, mac) != 0)
        return -1;
    snprintf (ip, SHED_OVERLAY_ADDR_MAX, "%s", text);
    return 0;
}

void
shed_overlay_on_gateway (shed_overlay_t *self, shed_overlay_gateway_fn *fn, void *arg)
{
    assert (self);
    self->on_gateway = fn;
    self->on_gateway_arg = arg;
    if (fn && self->gateway[0])
        fn (self->gateway, self->cfg.network.bridge, arg);
}

bool
shed_overlay_ready (shed_overlay_t *self)
{
    assert (self);
    return ipam_ready (self->ipam, (uint64_t) zclock_mono ());
}

const char *
shed_overlay_bridge (shed_overlay_t *self)
{
    assert (self);
    return self->cfg.network.bridge;
}

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

static void
s_api_network (shed_api_call_t *call, const api_msg_t *req, void *arg)
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
    r->endpoints = zhashx_size (self->endpoints) + ipam_count (self->ipam);

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
        for (s_node_t *n = zhashx_first (self->nodes); n; n = zhashx_next (self->nodes)) {
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
    wire_tag_t gdrops[OVERLAY_DROP_COUNT + 1];
    overlay_peer_stats_t *ps = NULL;
    size_t np = 0;
    api_netpeer_t *peers = NULL;
    wire_tag_t (*pdrops)[OVERLAY_DROP_COUNT] = NULL;
    if (self->dp) {
        overlay_stats_t st;
        ps = calloc (PEER_STATS_MAX, sizeof *ps);
        overlay_stats (self->dp, &st, ps, ps ? PEER_STATS_MAX : 0, &np);
        if (np > PEER_STATS_MAX)
            np = PEER_STATS_MAX;
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
            s_node_t *n = zhashx_lookup (self->nodes, s->node);
            if (n) {
                snprintf (p->addr, sizeof p->addr, "%s", n->paddr);
                p->port = n->pport;
            }
            snprintf (p->session, sizeof p->session, "%s", s->has_key ? "established"
                                                                       : "handshaking");
            snprintf (p->aead, sizeof p->aead, "%s",
                      !s->has_key                          ? ""
                      : s->aead == SHED_AEAD_AES256GCM     ? "aes256gcm"
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
        for (s_node_t *n = zhashx_first (self->nodes); peers && n; n = zhashx_next (self->nodes)) {
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
    if (self->bad_addr && r->drops.n < OVERLAY_DROP_COUNT + 1) {
        wire_tag_t *t = &gdrops[r->drops.n++];
        snprintf (t->key, sizeof t->key, "bad_addr");
        snprintf (t->value, sizeof t->value, "%llu", (unsigned long long) self->bad_addr);
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

static void
s_api_attach (shed_api_call_t *call, const api_msg_t *req, void *arg)
{
    shed_overlay_t *self = arg;
    api_msg_t rep = { .hdr.type = API_NET_ATTACH_REP };
    api_net_attach_rep_t *r = &rep.u.api_net_attach_rep;
    char ip[SHED_OVERLAY_ADDR_MAX], mac[SHED_OVERLAY_MAC_MAX], gw[SHED_OVERLAY_ADDR_MAX];
    char err[256];
    int prefix;
    unsigned mtu;
    if (shed_overlay_attach (self, req->u.api_net_attach_req.shed, ip, mac, gw, &prefix, &mtu,
                             err, sizeof err) != 0) {
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

static void
s_api_detach (shed_api_call_t *call, const api_msg_t *req, void *arg)
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

/* -------------------------------------------------------------------------
 * Lifecycle
 */

static int
s_start_plain (shed_overlay_t *self, char *err, size_t errlen)
{
    char why[256];
    /* A device left by a crashed run would carry stale FDB entries. */
    hostnet_link_del (self->device, why, sizeof why);
    if (hostnet_vxlan_create (self->device, self->cfg.network.vni, self->port,
                              self->local_addr[0] ? self->local_addr : NULL, why, sizeof why)
            != 0
        || hostnet_link_set (self->device, self->cfg.network.bridge, self->mtu, true, why,
                             sizeof why) != 0) {
        snprintf (err, errlen, "plain mode: %s", why);
        return -1;
    }
    /* Accept VXLAN only from members: a set the membership events fill. */
    char table[SHED_NFT_NAME_MAX], script[SHED_NFT_SCRIPT_MAX];
    shed_nft_table_name (self->cfg.name, "", table, sizeof table);
    if (shed_nft_members_table_script (table, self->port, script, sizeof script) != 0
        || s_nft (script, why, sizeof why) != 0) {
        snprintf (err, errlen, "plain mode member filter: %s", why);
        return -1;
    }
    snprintf (self->nft_table, sizeof self->nft_table, "%s", table);
    return 0;
}

/* Optional egress NAT for sheds (network.nat): masquerade traffic from the
 * cluster CIDR leaving through anything but the bridge. */
static void
s_start_nat (shed_overlay_t *self)
{
    char table[80], script[768], why[256];
    shed_nft_table_name (self->cfg.name, "_nat", table, sizeof table);
    snprintf (script, sizeof script,
              "table ip %s {}\n"
              "delete table ip %s\n"
              "table ip %s {\n"
              "  chain postrouting {\n"
              "    type nat hook postrouting priority 100; policy accept;\n"
              "    ip saddr %s ip daddr != %s oifname != \"%s\" masquerade\n"
              "  }\n"
              "}\n",
              table, table, table, self->cfg.network.cidr, self->cfg.network.cidr,
              self->cfg.network.bridge);
    FILE *f = fopen ("/proc/sys/net/ipv4/ip_forward", "w");
    if (f) {
        fputs ("1\n", f);
        fclose (f);
    }
    if (s_nft (script, why, sizeof why) != 0)
        log_error ("overlay", "egress NAT not installed: %s", why);
    else
        snprintf (self->nat_table, sizeof self->nat_table, "%s", table);
}

static void
s_list_cb (const shed_record_t *rec, void *arg)
{
    s_on_record (rec, arg);
}

shed_overlay_t *
shed_overlay_new (const shed_config_t *cfg, const shed_identity_t *identity,
                  peer_dir_t *peers, shed_nstate_t *state, zloop_t *loop,
                  shed_api_server_t *api, char *err, size_t errlen)
{
    shed_overlay_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    self->cfg = *cfg;
    self->state = state;
    self->loop = loop;
    self->timer = -1;
    self->plain = strcmp (cfg->network.mode, "plain") == 0;
    self->nodes = zhashx_new ();
    zhashx_set_destructor (self->nodes, (zhashx_destructor_fn *) zstr_free);
    self->endpoints = zhashx_new ();
    zhashx_set_destructor (self->endpoints, (zhashx_destructor_fn *) zstr_free);
    memcpy (self->pubkey, shed_identity_x25519_public (identity), 32);
    snprintf (self->device, sizeof self->device, "%s",
              cfg->network.device[0] ? cfg->network.device : self->plain ? "shvx0" : "shtap0");
    self->port = cfg->network.port ? (uint16_t) cfg->network.port
                                   : (uint16_t) (cfg->bind_port + PEER_PORT_OVERLAY);
    const char *adv = cfg->advertise_addr[0] ? cfg->advertise_addr : cfg->bind_addr;
    if (strcmp (adv, "0.0.0.0") != 0)
        snprintf (self->local_addr, sizeof self->local_addr, "%.45s", adv);
    int underlay = cfg->network.underlay_mtu ? (int) cfg->network.underlay_mtu : 1500;
    /* plain: outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14 = 50. */
    self->mtu = cfg->network.mtu      ? (int) cfg->network.mtu
                : self->plain         ? underlay - 50
                                      : overlay_compute_mtu (underlay, false);
    if (self->mtu < 576) {
        snprintf (err, errlen, "network: shed MTU %d is below 576 (underlay_mtu %d too small)",
                  self->mtu, underlay);
        goto fail;
    }
    snprintf (self->ipam_path, sizeof self->ipam_path, "%s/%s", cfg->data_dir, IPAM_FILE);

    ipam_config_t ic = { .cidr = cfg->network.cidr,
                         .block_prefix = (int) cfg->network.block_prefix,
                         .node = cfg->name,
                         .settle_ms = cfg->network.settle_ms };
    self->ipam = ipam_new (&ic, err, errlen);
    if (!self->ipam)
        goto fail;
    if (ipam_load (self->ipam, self->ipam_path, (uint64_t) zclock_mono (), err, errlen) != 0)
        goto fail;

    char why[256];
    if (hostnet_bridge_ensure (cfg->network.bridge, self->mtu, &self->bridge_created, why,
                               sizeof why) != 0) {
        snprintf (err, errlen, "network bridge: %s", why);
        goto fail;
    }
    if (self->plain) {
        if (s_start_plain (self, err, errlen) != 0)
            goto fail;
    }
    else {
        overlay_config_t oc = {
            .tap_name = self->device,
            .bridge_name = cfg->network.bridge,
            .bind_addr = strcmp (cfg->bind_addr, "0.0.0.0") ? cfg->bind_addr : NULL,
            .port = self->port,
            .vni = cfg->network.vni,
            .underlay_mtu = underlay,
            .mtu = self->mtu,
            .identity = identity,
        };
        char why2[256];
        self->dp = overlay_new (&oc, why2, sizeof why2);
        if (!self->dp) {
            snprintf (err, errlen, "overlay datapath: %s", why2);
            goto fail;
        }
        self->port = overlay_port (self->dp);
        self->mtu = overlay_mtu (self->dp);
    }
    if (cfg->network.nat)
        s_start_nat (self);

    /* Others' claims and endpoints first (the change listener does not
     * replay the past), then the peers (the directory replays its view),
     * then our own claim. */
    shed_nstate_on_change (state, REC_KIND_OVERLAY, s_on_record, self);
    shed_nstate_on_change (state, REC_KIND_ENDPOINT, s_on_record, self);
    shed_nstate_list (state, REC_KIND_OVERLAY, s_list_cb, self);
    shed_nstate_list (state, REC_KIND_ENDPOINT, s_list_cb, self);
    peer_dir_ops_t ops = { s_on_peer_alive, s_on_peer_alive, s_on_peer_failed,
                           s_on_peer_removed };
    if (peer_dir_on_peer (peers, &ops, NULL, self, err, errlen) != 0) {
        shed_overlay_destroy (&self);
        return NULL;
    }
    s_on_tick (loop, 0, self);
    self->timer = zloop_timer (loop, TICK_MS, 0, s_on_tick, self);

    shed_api_server_on (api, API_NETWORK_REQ, s_api_network, self);
    shed_api_server_on (api, API_NET_ATTACH_REQ, s_api_attach, self);
    shed_api_server_on (api, API_NET_DETACH_REQ, s_api_detach, self);
    log_info ("overlay", "network up|mode=%s cidr=%s bridge=%s device=%s port=%u mtu=%d vni=%u",
              self->plain ? "plain" : "encrypted", cfg->network.cidr, cfg->network.bridge,
              self->device, (unsigned) self->port, self->mtu, (unsigned) cfg->network.vni);
    return self;

fail:
    shed_overlay_destroy (&self);
    return NULL;
}

void
shed_overlay_destroy (shed_overlay_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    shed_overlay_t *self = *self_p;
    if (self->timer >= 0 && self->loop)
        zloop_timer_end (self->loop, self->timer);
    overlay_destroy (&self->dp);
    char why[256], script[128];
    if (self->plain)
        hostnet_link_del (self->device, why, sizeof why);
    if (self->nft_table[0]) {
        snprintf (script, sizeof script, "delete table inet %s\n", self->nft_table);
        s_nft (script, why, sizeof why);
    }
    if (self->nat_table[0]) {
        snprintf (script, sizeof script, "delete table ip %s\n", self->nat_table);
        s_nft (script, why, sizeof why);
    }
    ipam_destroy (&self->ipam);
    zhashx_destroy (&self->nodes);
    zhashx_destroy (&self->endpoints);
    free (self);
    *self_p = NULL;
}
