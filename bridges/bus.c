/*
 * bus.c - the event bus actor (see bus.h, bus_internal.h for how its
 * files divide the work, and docs/events.md).
 *
 * One thread owns every socket:
 *   pipe      commands and PUBLISH from the node
 *   pull      producers' events (bus_local.c)
 *   local     consumers on ipc, remote: consumers on TCP + CURVE: their
 *             (un)subscriptions and snapshot requests (here)
 *   router, dealer, monitors: the routing tree (bus_links.c, bus_route.c)
 * Timers (the poller timeout) expire snapshot requests nobody answered,
 * re-dial a parent that refused us, and ping children.
 */
#include "bridges/bus.h"
#include "bridges/bus_internal.h"
#include "cluster/zmq_limits.h"
#include "common/log.h"

#include <errno.h>
#include <sodium.h>
#include <sys/prctl.h>
#include <zmq.h>

#define S_COMP "bus"

/* Hidden behind ZMQ_BUILD_DRAFT_API in some libzmq 4.3 headers although
 * the stable library honours it; the number is fixed in libzmq's ABI. */
#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN 93
#endif

typedef bus_actor_t self_t;

static void
s_free_item (void **item)
{
    free (*item);
    *item = NULL;
}

static int
s_keyparse (const char *z85, uint8_t key[32])
{
    if (!z85 || strlen (z85) != 40)
        return -1;
    return zmq_z85_decode (key, z85) ? 0 : -1;
}

/*  Socket setup                                                            */
/* ------------------------------------------------------------------------ */

static int
s_curve_server (self_t *self, zsock_t *sock, const char *domain)
{
    void *h = zsock_resolve (sock);
    int one = 1;
    if (zmq_setsockopt (h, ZMQ_CURVE_SERVER, &one, sizeof one)
        || zmq_setsockopt (h, ZMQ_CURVE_PUBLICKEY, self->public_key, 32)
        || zmq_setsockopt (h, ZMQ_CURVE_SECRETKEY, self->secret_key, 32)
        || zmq_setsockopt (h, ZMQ_ZAP_DOMAIN, domain, strlen (domain))
        /* Fail closed: without this libzmq admits every CURVE client when no
     * ZAP handler answers (czmq 4.2.1's setter for it does nothing). */
        || zmq_setsockopt (h, ZMQ_ZAP_ENFORCE_DOMAIN, &one, sizeof one))
        return -1;
    return 0;
}

/* Create and bind one XPUB. Returns 0 or -1 with self->err set. */
static int
s_xpub_open (self_t *self, bus_xpub_t *xpub, const char *bind, const char *domain)
{
    xpub->sock = zsock_new (ZMQ_XPUB);
    if (!xpub->sock) {
        snprintf (self->err, sizeof self->err, "%s: cannot create a socket", bind);
        return -1;
    }
    shed_zmq_limit_network (xpub->sock, SHED_ZMQ_MAXMSG_SUBSCRIBE);
    void *h = zsock_resolve (xpub->sock);
    int hwm = self->sndhwm, zero = 0;
    zmq_setsockopt (h, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt (h, ZMQ_LINGER, &zero, sizeof zero);
    if (domain && s_curve_server (self, xpub->sock, domain)) {
        snprintf (self->err, sizeof self->err, "%s: CURVE setup: %s", bind, zmq_strerror (errno));
        return -1;
    }
    /* A few tries: after a re-bind the old listener closes asynchronously. */
    int rc = -1;
    for (int i = 0; i < 50 && rc != 0; i++) {
        rc = shed_zmq_ipv6_for (h, bind) ? -1 : zmq_bind (h, bind);
        if (rc != 0 && errno == EADDRINUSE)
            zclock_sleep (20);
        else
            break;
    }
    if (rc != 0) {
        snprintf (self->err, sizeof self->err, "cannot bind %s: %s", bind, zmq_strerror (errno));
        return -1;
    }
    size_t sz = sizeof xpub->endpoint;
    zmq_getsockopt (h, ZMQ_LAST_ENDPOINT, xpub->endpoint, &sz);
    return 0;
}

static void
s_xpub_close (bus_xpub_t *xpub)
{
    zsock_destroy (&xpub->sock);
    bus_subs_clear (&xpub->subs);
}

/* Cut every remote consumer (after CONSUMER-DENY): an XPUB cannot drop
 * one peer, so close it and bind again on the same resolved endpoint. The
 * denied key then fails the ZAP handshake; allowed consumers' SUB sockets
 * reconnect on their own (libzmq's reconnect interval, 100 ms by default)
 * and send their subscriptions again; what was published meanwhile is a
 * tseq gap they can see. Their subscriptions leave `wanted` now, and their
 * pending snapshot requests are dropped (they name the closed socket). */
static int
s_remote_rebind (self_t *self)
{
    if (!self->remote.sock)
        return 0;
    for (size_t i = 0; i < self->remote.subs.n; i++)
        bus_route_sub (self, NULL, 0, self->remote.subs.items[i].data,
                       self->remote.subs.items[i].len);
    bus_request_t *r = (bus_request_t *) zlistx_first (self->requests);
    while (r) {
        if (r->sock == self->remote.sock) {
            zlistx_delete (self->requests, zlistx_cursor (self->requests));
            r = (bus_request_t *) zlistx_first (self->requests);
        }
        else
            r = (bus_request_t *) zlistx_next (self->requests);
    }
    char endpoint[sizeof self->remote.endpoint];
    snprintf (endpoint, sizeof endpoint, "%s", self->remote.endpoint);
    zpoller_remove (self->poller, self->remote.sock);
    s_xpub_close (&self->remote);
    if (s_xpub_open (self, &self->remote, endpoint, self->consumers_domain) != 0) {
        log_error (S_COMP, "remote consumer listener lost|reason=\"%s\"", self->err);
        s_xpub_close (&self->remote);
        self->err[0] = '\0';
        return -1;
    }
    zpoller_add (self->poller, self->remote.sock);
    log_info (S_COMP, "remote consumers cut|endpoint=%s", endpoint);
    return 0;
}

/* ------------------------------------------------------------------------ */
/*  Members                                                                 */
/* ------------------------------------------------------------------------ */

/* The batch version every member reads (docs/events.md, "Mixed
 * versions"): the lowest any member advertises, at most ours. Batches
 * gathered under the old value were flushed before the command that
 * changes it (s_recv_pipe_one), so none leaves at a version a member
 * cannot read once its PEER-ADD is handled. */
static void
s_batch_version_update (self_t *self)
{
    uint16_t v = EVENT_VERSION;
    for (bus_member_t *m = (bus_member_t *) zhashx_first (self->members); m;
         m = (bus_member_t *) zhashx_next (self->members))
        if (m->event_version < v)
            v = m->event_version;
    if (v != self->batch_version)
        log_info (S_COMP, "event batches now at version %u|members=%zu", (unsigned) v,
                  zhashx_size (self->members));
    self->batch_version = v;
}

/* PEER-VERSION: the highest EVENT_BATCH version `name` reads (its node
 * record's event_version; below EVENT_VERSION_BATCH is taken as that). */
static int
s_peer_version (self_t *self, const char *name, const char *version)
{
    bus_member_t *m = name ? (bus_member_t *) zhashx_lookup (self->members, name) : NULL;
    char *end = NULL;
    unsigned long v = version ? strtoul (version, &end, 10) : 0;
    if (!m || !version || !*version || *end)
        return -1;
    m->event_version = event_batch_version_read (v);
    s_batch_version_update (self);
    return 0;
}

/* A member: its events are accepted, and it has a place in the tree. Only
 * our parent among them gets a connection (bus_tree_update). A new member
 * reads version-2 batches only until PEER-VERSION says otherwise. */
static int
s_peer_add (self_t *self, const char *name, const char *endpoint, const char *z85)
{
    uint8_t key[32];
    if (!event_node_valid (name) || !endpoint || strlen (endpoint) >= 256 || s_keyparse (z85, key)
        || streq (name, self->name))
        return -1;
    bus_member_t *m = (bus_member_t *) zhashx_lookup (self->members, name);
    if (!m) {
        m = (bus_member_t *) calloc (1, sizeof (bus_member_t));
        if (!m)
            return -1;
        snprintf (m->name, sizeof m->name, "%s", name);
        m->event_version = EVENT_VERSION_BATCH;
        zhashx_insert (self->members, name, m);
        s_batch_version_update (self);
    }
    snprintf (m->endpoint, sizeof m->endpoint, "%s", endpoint);
    memcpy (m->key, key, 32);
    bus_tree_update (self);
    log_debug (S_COMP, "member added|peer=%s endpoint=%s", name, endpoint);
    return 0;
}

static int
s_peer_remove (self_t *self, const char *name)
{
    if (!name || !zhashx_lookup (self->members, name))
        return -1;
    zhashx_delete (self->members, name);
    s_batch_version_update (self);
    zhashx_delete (self->origins, name);
    /* Its last values would no longer be kept fresh: forget them. */
    bus_cache_purge (self, name, 0, NULL, 0);
    bus_tree_update (self);
    bus_requests_serve (self, false);
    log_debug (S_COMP, "member removed|peer=%s", name);
    return 0;
}

static int
s_zap_set (self_t *self, const char *domain, const char *z85, bool allow)
{
    uint8_t key[32];
    if (!self->zap || s_keyparse (z85, key))
        return -1;
    return allow ? zap_allow (self->zap, domain, key) : zap_deny (self->zap, domain, key);
}

static void
s_stats (self_t *self)
{
    uint64_t adm = 0, ref = 0, adm2 = 0, ref2 = 0;
    if (self->zap) {
        zap_counts (self->zap, self->peers_domain, &adm, &ref);
        zap_counts (self->zap, self->consumers_domain, &adm2, &ref2);
    }
    size_t origin_subs = 0;
    bus_link_t *links[BUS_CHILDREN_MAX + 1];
    size_t nl = bus_links_all (self, links);
    for (size_t i = 0; i < nl; i++)
        origin_subs += links[i]->in.n;
    bus_counters_t *c = &self->c;
    zstr_sendf (
        self->pipe,
        "published=%" PRIu64 " invalid=%" PRIu64 " origin_sent=%" PRIu64 " origin_skipped=%" PRIu64
        " consumer_sent=%" PRIu64 " peer_recv=%" PRIu64 " peer_forwarded=%" PRIu64
        " forged=%" PRIu64 " malformed=%" PRIu64 " send_errors=%" PRIu64
        " cache=%zu cache_full=%" PRIu64 " snapshots_served=%" PRIu64 " peer_snaps_done=%" PRIu64
        " peer_snaps_timeout=%" PRIu64 " peers=%zu origin_subs=%zu consumer_subs=%zu"
        " zap_admitted=%" PRIu64 " zap_refused=%" PRIu64 " peer_refused=%" PRIu64
        " peer_redials=%" PRIu64 " batches_sent=%" PRIu64 " batches_recv=%" PRIu64
        " cache_evicted=%" PRIu64 " snapreq_dropped=%" PRIu64
        " links=%zu children=%zu conns=%" PRId64 " conns_max=%d relayed=%" PRIu64 " dups=%" PRIu64
        " link_drops=%" PRIu64 " unknown_origin=%" PRIu64 " children_refused=%" PRIu64
        " hello_resent=%" PRIu64 " tree_changes=%" PRIu64 " socket_errors=%" PRIu64
        " batch_version=%u batches_recoded=%" PRIu64,
        c->published, c->invalid, c->origin_sent, c->origin_skipped, c->consumer_sent, c->peer_recv,
        c->peer_forwarded, c->forged, c->malformed, c->send_errors, zhashx_size (self->cache),
        c->cache_full, c->snapshots_served, c->peer_snaps_done, c->peer_snaps_timeout,
        zhashx_size (self->members), origin_subs, self->local.subs.n + self->remote.subs.n,
        adm + adm2, ref + ref2, c->peer_refused, c->peer_redials, c->batches_sent, c->batches_recv,
        c->cache_evicted, c->snapreq_dropped, bus_links_up (self), self->nkids,
        self->conns_in + (self->conn_up ? 1 : 0), 1 + BUS_CHILDREN_MAX, c->relayed, c->dups,
        c->link_drops, c->unknown_origin, c->children_refused, c->hello_resent, c->tree_changes,
        c->socket_errors, (unsigned) self->batch_version, c->batches_recoded);
}

/* Fast path for PUBLISH: read the frames with zmq_msg, no zmsg. */
static void
s_recv_publish (self_t *self, void *pipe)
{
    zmq_msg_t parts[3];
    int n = 0;
    bool more = true;
    while (more) {
        zmq_msg_t part;
        zmq_msg_init (&part);
        if (zmq_msg_recv (&part, pipe, 0) < 0) {
            zmq_msg_close (&part);
            break;
        }
        more = zmq_msg_more (&part);
        if (n < 3)
            parts[n++] = part;
        else
            zmq_msg_close (&part);
    }
    if (n == 3) {
        char topic[EVENT_TOPIC_MAX + 1], kind[EVENT_KIND_MAX + 1];
        size_t tl = zmq_msg_size (&parts[0]), kl = zmq_msg_size (&parts[1]);
        if (tl <= EVENT_TOPIC_MAX && kl <= EVENT_KIND_MAX) {
            memcpy (topic, zmq_msg_data (&parts[0]), tl);
            topic[tl] = 0;
            memcpy (kind, zmq_msg_data (&parts[1]), kl);
            kind[kl] = 0;
            bus_publish_one (self, topic, kind, (const uint8_t *) zmq_msg_data (&parts[2]),
                             zmq_msg_size (&parts[2]));
        }
        else
            self->c.invalid++;
    }
    else
        self->c.invalid++;
    for (int i = 0; i < n; i++)
        zmq_msg_close (&parts[i]);
}

/* One message from the pipe; false when none is waiting. */
static bool
s_recv_pipe_one (self_t *self)
{
    void *pipe = zsock_resolve (self->pipe);
    char cmd[32];
    int n = zmq_recv (pipe, cmd, sizeof cmd - 1, ZMQ_DONTWAIT);
    if (n < 0) {
        if (errno != EAGAIN)
            self->terminated = true;
        return false;
    }
    cmd[n < (int) sizeof cmd - 1 ? n : (int) sizeof cmd - 1] = 0;
    int more = 0;
    size_t ml = sizeof more;
    zmq_getsockopt (pipe, ZMQ_RCVMORE, &more, &ml);
    if (streq (cmd, "PUBLISH") && more) {
        s_recv_publish (self, pipe);
        return true;
    }
    /* Every other command sees what was published before it as sent. */
    bus_batches_flush (self);
    zmsg_t *args = more ? zmsg_recv (self->pipe) : zmsg_new ();
    if (!args) {
        self->terminated = true;
        return false;
    }
    if (streq (cmd, "$TERM"))
        self->terminated = true;
    else if (streq (cmd, "PEER-ADD")) {
        char *name = zmsg_popstr (args), *ep = zmsg_popstr (args), *key = zmsg_popstr (args);
        zsock_send (self->pipe, "i", s_peer_add (self, name, ep, key));
        zstr_free (&name);
        zstr_free (&ep);
        zstr_free (&key);
    }
    else if (streq (cmd, "PEER-VERSION")) {
        char *name = zmsg_popstr (args), *version = zmsg_popstr (args);
        zsock_send (self->pipe, "i", s_peer_version (self, name, version));
        zstr_free (&name);
        zstr_free (&version);
    }
    else if (streq (cmd, "PEER-REMOVE")) {
        char *name = zmsg_popstr (args);
        zsock_send (self->pipe, "i", s_peer_remove (self, name));
        zstr_free (&name);
    }
    else if (streq (cmd, "ALLOW") || streq (cmd, "DENY")) {
        char *key = zmsg_popstr (args);
        bool allow = streq (cmd, "ALLOW");
        int rc = s_zap_set (self, self->peers_domain, key, allow);
        if (rc == 0 && !allow)
            bus_links_rebind (self);
        zsock_send (self->pipe, "i", rc);
        zstr_free (&key);
    }
    else if (streq (cmd, "CONSUMER-ALLOW") || streq (cmd, "CONSUMER-DENY")) {
        char *key = zmsg_popstr (args);
        bool allow = streq (cmd, "CONSUMER-ALLOW");
        int rc = s_zap_set (self, self->consumers_domain, key, allow);
        if (rc == 0 && !allow)
            rc = s_remote_rebind (self);
        zsock_send (self->pipe, "i", rc);
        zstr_free (&key);
    }
    else if (streq (cmd, "ENDPOINTS"))
        zsock_send (self->pipe, "sss", self->router_endpoint, self->local.endpoint,
                    self->remote.endpoint);
    else if (streq (cmd, "STATS"))
        s_stats (self);
    else
        log_warn (S_COMP, "unknown command|cmd=%s", cmd);
    zmsg_destroy (&args);
    return true;
}

/* Drain what is waiting, up to a batch: one poll() per batch instead of
 * one per event is most of the throughput (see docs/events.md). */
static void
recv_pipe (self_t *self)
{
    for (int i = 0; i < BUS_BATCH && !self->terminated; i++)
        if (!s_recv_pipe_one (self))
            break;
    bus_batches_flush (self);
}

/* Producers' events on the publish socket: one frame of records
 * `topic NUL kind NUL len:u32be payload` (bus.h). */
static void
recv_pull (self_t *self)
{
    void *h = zsock_resolve (self->pull);
    for (int m = 0; m < BUS_BATCH; m++) {
        zmq_msg_t msg;
        zmq_msg_init (&msg);
        if (zmq_msg_recv (&msg, h, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&msg);
            break;
        }
        if (zmq_msg_more (&msg)) {
            self->c.invalid++;
            while (zmq_msg_more (&msg) && zmq_msg_recv (&msg, h, ZMQ_DONTWAIT) >= 0)
                ;
            zmq_msg_close (&msg);
            continue;
        }
        const uint8_t *p = (const uint8_t *) zmq_msg_data (&msg);
        const uint8_t *end = p + zmq_msg_size (&msg);
        /* One clock read per message: its events were produced in one turn
         * of the producer's loop, microseconds apart. */
        self->now_us = event_now_us ();
        while (p < end) {
            size_t left = (size_t) (end - p);
            const uint8_t *tz =
                memchr (p, 0, left < EVENT_TOPIC_MAX + 1 ? left : EVENT_TOPIC_MAX + 1);
            if (!tz) {
                self->c.invalid++;
                break;
            }
            const char *topic = (const char *) p;
            const uint8_t *k = tz + 1;
            left = (size_t) (end - k);
            const uint8_t *kz =
                memchr (k, 0, left < EVENT_KIND_MAX + 1 ? left : EVENT_KIND_MAX + 1);
            if (!kz || (size_t) (end - kz - 1) < 4) {
                self->c.invalid++;
                break;
            }
            const uint8_t *l = kz + 1;
            size_t len = (size_t) l[0] << 24 | (size_t) l[1] << 16 | (size_t) l[2] << 8 | l[3];
            if (len > (size_t) (end - l - 4)) {
                self->c.invalid++;
                break;
            }
            bus_publish_one (self, topic, (const char *) k, l + 4, len);
            p = l + 4 + len;
        }
        self->now_us = 0;
        zmq_msg_close (&msg);
    }
    bus_batches_flush (self);
}

/* ------------------------------------------------------------------------ */
/*  Socket handlers                                                         */
/* ------------------------------------------------------------------------ */

/* Read one subscription message from an XPUB into data/len/on. With `who`,
 * also who sent it: the CURVE key ZAP admitted ("User-Id"), else the peer
 * address (for ipc libzmq adds the peer's uid:gid:pid), so limits apply per
 * consumer, not per socket. */
static int
s_read_sub (zsock_t *sock, uint8_t *data, size_t cap, size_t *len, int *on, char *who,
            size_t wholen)
{
    zmq_msg_t msg;
    zmq_msg_init (&msg);
    int n = zmq_msg_recv (&msg, zsock_resolve (sock), ZMQ_DONTWAIT);
    const uint8_t *m = (const uint8_t *) zmq_msg_data (&msg);
    if (n < 1 || (size_t) n > BUS_SUB_MAX * 2 + 2 || (m[0] != 0 && m[0] != 1)
        || (size_t) n - 1 > cap) {
        zmq_msg_close (&msg);
        return -1;
    }
    *on = m[0];
    *len = (size_t) n - 1;
    memcpy (data, m + 1, *len);
    if (who) {
        const char *id = zmq_msg_gets (&msg, "User-Id");
        if (!id || !*id)
            id = zmq_msg_gets (&msg, "Peer-Address");
        snprintf (who, wholen, "%s", id ? id : "");
    }
    zmq_msg_close (&msg);
    return 0;
}

static bool
s_is_snapreq (const uint8_t *data, size_t len)
{
    size_t rl = strlen (BUS_SNAPREQ_ROUTE);
    return len > rl && memcmp (data, BUS_SNAPREQ_ROUTE, rl) == 0;
}

/* A local or remote consumer (un)subscribed, or asks for a snapshot. */
static void
recv_consumer (self_t *self, bus_xpub_t *xpub)
{
    uint8_t data[BUS_SUB_MAX * 2];
    size_t len;
    int on;
    char who[BUS_WHO_MAX];
    if (s_read_sub (xpub->sock, data, sizeof data, &len, &on, who, sizeof who))
        return;
    if (len > 0 && data[0] == EVENT_CTL_CHAR) {
        if (!on || !s_is_snapreq (data, len))
            return;
        size_t inflight = 0;
        for (bus_request_t *r = (bus_request_t *) zlistx_first (self->requests); r;
             r = (bus_request_t *) zlistx_next (self->requests))
            if (r->sock == xpub->sock && streq (r->who, who))
                inflight++;
        if (inflight >= BUS_SNAPREQ_INFLIGHT) {
            self->c.snapreq_dropped++;
            return;
        }
        bus_request_t *req = (bus_request_t *) calloc (1, sizeof (bus_request_t));
        if (!req)
            return;
        if (bus_snapreq_parse (data, len, req->nonce, req->prefixes, &req->nprefixes)) {
            free (req);
            return;
        }
        req->sock = xpub->sock;
        snprintf (req->who, sizeof req->who, "%s", who);
        req->deadline = zclock_mono () + EVENT_SNAP_WAIT_MS;
        zlistx_add_end (self->requests, req);
        bus_requests_serve (self, false);
        return;
    }
    /* Non-verbose XPUB: the first subscribe and the last unsubscribe of a
     * prefix, so each consumer socket is one source of `wanted`. */
    if (on ? bus_subs_add (&xpub->subs, data, len) == 1
           : bus_subs_remove (&xpub->subs, data, len) == 1)
        bus_route_sub (self, NULL, on, data, len);
}

/* ------------------------------------------------------------------------ */
/*  Actor                                                                   */
/* ------------------------------------------------------------------------ */

static void
s_self_destroy (self_t **self_p)
{
    self_t *self = *self_p;
    if (!self)
        return;
    if (self->members) {
        bus_links_close (self);
        zhashx_destroy (&self->members);
    }
    zpoller_destroy (&self->poller);
    zsock_destroy (&self->pull);
    s_xpub_close (&self->local);
    s_xpub_close (&self->remote);
    bus_subs_clear (&self->wanted);
    zhashx_destroy (&self->origins);
    zhashx_destroy (&self->cache);
    zhashx_destroy (&self->owners);
    zhashx_destroy (&self->tseqs);
    zlistx_destroy (&self->requests);
    bus_batches_free (self);
    free (self->buf);
    sodium_memzero (self->secret_key, sizeof self->secret_key);
    free (self);
    *self_p = NULL;
}

static int
s_domain (char *out, const char *given, const char *base, const char *name)
{
    int n = given ? snprintf (out, ZAP_DOMAIN_MAX + 1, "%s", given)
                  : snprintf (out, ZAP_DOMAIN_MAX + 1, "%s:%s", base, name);
    return n > 0 && n <= ZAP_DOMAIN_MAX ? 0 : -1;
}

static void
s_member_free (void **item)
{
    free (*item);
    *item = NULL;
}

static self_t *
s_self_new (zsock_t *pipe, const bus_config_t *cfg)
{
    self_t *self = (self_t *) calloc (1, sizeof (self_t));
    if (!self)
        return NULL;
    self->pipe = pipe;
    self->poller = zpoller_new (pipe, NULL);
    self->members = zhashx_new ();
    self->batch_version = EVENT_VERSION; /* no member yet */
    self->origins = zhashx_new ();
    self->cache = zhashx_new ();
    self->owners = zhashx_new ();
    self->tseqs = zhashx_new (); /* values are integers: no destructor */
    self->requests = zlistx_new ();
    self->buf = malloc (EVENT_FRAME_MAX);
    if (!self->poller || !self->members || !self->origins || !self->cache || !self->owners
        || !self->tseqs || !self->requests || !self->buf) {
        snprintf (self->err, sizeof self->err, "bus: out of memory");
        return self;
    }
    zhashx_set_destructor (self->members, s_member_free);
    zhashx_set_destructor (self->origins, s_member_free);
    zhashx_set_destructor (self->cache, bus_entry_destroy);
    zlistx_set_destructor (self->requests, s_free_item);

    if (!cfg || !event_node_valid (cfg->name) || !cfg->public_key || !cfg->secret_key) {
        snprintf (self->err, sizeof self->err, "bus: need a valid name and keys");
        return self;
    }
    snprintf (self->name, sizeof self->name, "%s", cfg->name);
    memcpy (self->public_key, cfg->public_key, 32);
    memcpy (self->secret_key, cfg->secret_key, 32);
    zmq_z85_encode (self->z85, self->public_key, 32);
    self->zap = cfg->zap;
    self->sndhwm = cfg->sndhwm > 0 ? cfg->sndhwm : EVENT_SNDHWM;
    self->boot = cfg->boot;
    while (self->boot == 0)
        randombytes_buf (&self->boot, sizeof self->boot);
    if (s_domain (self->peers_domain, cfg->peers_domain, EVENT_ZAP_PEERS, self->name)
        || s_domain (self->consumers_domain, cfg->consumers_domain, EVENT_ZAP_CONSUMERS,
                     self->name)) {
        snprintf (self->err, sizeof self->err, "bus: ZAP domain over %d bytes", ZAP_DOMAIN_MAX);
        return self;
    }
    if ((cfg->origin_endpoint || cfg->consumer_endpoint) && !self->zap) {
        /* Without a ZAP handler ENFORCE_DOMAIN refuses everyone: say so
         * now instead of failing every handshake later. */
        snprintf (self->err, sizeof self->err, "bus: TCP endpoints need a ZAP handler");
        return self;
    }
    if (cfg->origin_endpoint && bus_links_open (self, cfg->origin_endpoint))
        return self;
    if (cfg->ipc_endpoint && s_xpub_open (self, &self->local, cfg->ipc_endpoint, NULL))
        return self;
    if (cfg->consumer_endpoint
        && s_xpub_open (self, &self->remote, cfg->consumer_endpoint, self->consumers_domain))
        return self;
    if (cfg->publish_endpoint) {
        self->pull = zsock_new (ZMQ_PULL);
        if (!self->pull) {
            snprintf (self->err, sizeof self->err, "%s: cannot create a socket",
                      cfg->publish_endpoint);
            return self;
        }
        void *h = zsock_resolve (self->pull);
        int hwm = BUS_PUBLISH_HWM, zero = 0;
        zmq_setsockopt (h, ZMQ_RCVHWM, &hwm, sizeof hwm);
        zmq_setsockopt (h, ZMQ_LINGER, &zero, sizeof zero);
        if (zmq_bind (h, cfg->publish_endpoint) != 0) {
            snprintf (self->err, sizeof self->err, "cannot bind %s: %s", cfg->publish_endpoint,
                      zmq_strerror (errno));
            return self;
        }
        zpoller_add (self->poller, self->pull);
    }
    if (self->local.sock)
        zpoller_add (self->poller, self->local.sock);
    if (self->remote.sock)
        zpoller_add (self->poller, self->remote.sock);
    return self;
}

/* Poll timeout: short while snapshots are pending, the tree's timers. */
static int
s_timeout (self_t *self)
{
    int t = bus_links_timeout (self);
    if (self->peer_snaps_pending || zlistx_size (self->requests))
        t = t < 0 || t > 50 ? 50 : t;
    return t;
}

void
bus_actor (zsock_t *pipe, void *args)
{
    /* Named for `top -H` and per-thread CPU (bench/events.sh). */
    prctl (PR_SET_NAME, "shed-bus", 0, 0, 0);
    self_t *self = s_self_new (pipe, (const bus_config_t *) args);
    /* zactor_new swallows the signal's status, so the start-up verdict
     * follows as one string: "" or the reason (read by bus_new). */
    zsock_signal (pipe, 0);
    zstr_send (pipe, self ? self->err : "bus: out of memory");
    if (!self || self->err[0]) {
        s_self_destroy (&self);
        return;
    }
    log_info (S_COMP, "bus up|node=%s tree=%s local=%s remote=%s", self->name,
              self->router_endpoint, self->local.endpoint, self->remote.endpoint);

    while (!self->terminated) {
        void *which = zpoller_wait (self->poller, s_timeout (self));
        if (which == self->pipe)
            recv_pipe (self);
        else if (which && which == self->pull)
            recv_pull (self);
        else if (which && which == self->local.sock)
            recv_consumer (self, &self->local);
        else if (which && which == self->remote.sock)
            recv_consumer (self, &self->remote);
        else if (which)
            bus_links_recv (self, which);
        else if (zpoller_terminated (self->poller))
            break;
        if (self->peer_snaps_pending || zlistx_size (self->requests))
            bus_expire (self);
        bus_links_tick (self);
    }
    s_self_destroy (&self);
}

uint64_t
bus_stat (const char *stats, const char *key)
{
    size_t kl = strlen (key);
    for (const char *p = stats; p && *p;) {
        if (strncmp (p, key, kl) == 0 && p[kl] == '=')
            return strtoull (p + kl + 1, NULL, 10);
        p = strchr (p, ' ');
        if (p)
            p++;
    }
    return 0;
}
