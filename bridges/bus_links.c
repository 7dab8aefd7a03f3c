/*
 * bus_links.c - the routing tree's sockets (docs/events.md, "Routing
 * tree"): every node computes the same k-ary tree from the sorted member
 * names, dials its parent (one DEALER, a CURVE client pinned to the
 * parent's key, routing id = our key) and accepts its children on one
 * ROUTER (CURVE server, ZAP domain peers_domain). So a node holds at most
 * 1 + BUS_CHILDREN_MAX bus connections whatever the cluster size.
 *
 * A link (re)starts with HELLO: the child sends it after each handshake,
 * and both sides then re-send every subscription the link should carry
 * (bus_route_link_up). The parent PINGs its children every second: a
 * child that went away (ROUTER_MANDATORY says EHOSTUNREACH) is reaped and
 * its subscriptions taken back. A child whose parent stays silent for
 * S_PARENT_SILENT_MS says HELLO again (hello_resent): while member lists
 * grow, nodes re-parent and a parent may hold stale children when a real
 * one says HELLO, so a refused HELLO must not be the last word.
 */
#include "bridges/bus_internal.h"
#include "cluster/zmq_limits.h"
#include "common/log.h"

#include <errno.h>
#include <stdlib.h>

#define S_COMP             "bus"
#define S_REDIAL_MIN_MS    100  /* first re-dial after a refused handshake */
#define S_REDIAL_MAX_MS    5000 /* backoff cap */
#define S_PING_MS          1000 /* parent -> children liveness */
/* A child that hears nothing from its parent for this long says HELLO
 * again: the parent refused it (full of stale children) or forgot it. */
#define S_PARENT_SILENT_MS (3 * S_PING_MS + 500)

/* Hidden behind ZMQ_BUILD_DRAFT_API in some libzmq 4.3 headers although
 * the stable library honours it; the number is fixed in libzmq's ABI. */
#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN 93
#endif

static uint64_t s_monitors; /* unique inproc names, process-wide */

/* A PAIR reading `sock`'s connection events. NULL (counted) on failure:
 * the link still works, only its counts and redials are blind. */
static zsock_t *
s_monitor_new (bus_actor_t *self, zsock_t *sock, int events)
{
    uint64_t id = __atomic_add_fetch (&s_monitors, 1, __ATOMIC_SEQ_CST);
    char endpoint[96];
    snprintf (endpoint, sizeof endpoint, "inproc://shed-bus-mon-%d-%" PRIu64, (int) getpid (), id);
    if (zmq_socket_monitor (zsock_resolve (sock), endpoint, events) != 0) {
        self->c.socket_errors++;
        return NULL;
    }
    zsock_t *mon = zsock_new_pair (endpoint);
    if (!mon) {
        zmq_socket_monitor (zsock_resolve (sock), NULL, 0);
        self->c.socket_errors++;
        return NULL;
    }
    zpoller_add (self->poller, mon);
    return mon;
}

static void
s_monitor_destroy (bus_actor_t *self, zsock_t *sock, zsock_t **mon)
{
    if (!*mon)
        return;
    zpoller_remove (self->poller, *mon);
    if (sock)
        zmq_socket_monitor (zsock_resolve (sock), NULL, 0);
    zsock_destroy (mon);
}

/* One monitor event; -1 if none could be read. */
static int
s_monitor_recv (zsock_t *mon)
{
    zmsg_t *msg = zmsg_recv (mon);
    if (!msg)
        return -1;
    zframe_t *head = zmsg_first (msg);
    int ev = -1;
    if (head && zframe_size (head) >= 6) {
        uint16_t e;
        memcpy (&e, zframe_data (head), sizeof e);
        ev = e;
    }
    zmsg_destroy (&msg);
    return ev;
}

static void
s_free_item (void **item)
{
    free (*item);
    *item = NULL;
}

static int
s_name_cmp (const void *a, const void *b)
{
    return strcmp (*(const char *const *) a, *(const char *const *) b);
}

static bus_link_t *
s_link_new (const char *id, const char *name, bool parent)
{
    bus_link_t *l = (bus_link_t *) calloc (1, sizeof (bus_link_t));
    if (!l)
        return NULL;
    l->pending = zlistx_new ();
    if (!l->pending) {
        free (l);
        return NULL;
    }
    zlistx_set_destructor (l->pending, s_free_item);
    snprintf (l->id, sizeof l->id, "%s", id);
    snprintf (l->name, sizeof l->name, "%s", name);
    l->parent = parent;
    return l;
}

static void
s_link_free (bus_actor_t *self, bus_link_t **lp)
{
    bus_link_t *l = *lp;
    if (!l)
        return;
    bus_route_link_gone (self, l);
    bus_subs_clear (&l->in);
    bus_subs_clear (&l->out);
    zlistx_destroy (&l->pending);
    free (l);
    *lp = NULL;
}

size_t
bus_links_all (bus_actor_t *self, bus_link_t *out[])
{
    size_t n = 0;
    if (self->up && !self->up->gone)
        out[n++] = self->up;
    for (size_t i = 0; i < self->nkids; i++)
        if (!self->kids[i]->gone)
            out[n++] = self->kids[i];
    return n;
}

size_t
bus_links_up (bus_actor_t *self)
{
    size_t n = self->up && self->up->up ? 1 : 0;
    for (size_t i = 0; i < self->nkids; i++)
        n += !self->kids[i]->gone;
    return n;
}

bus_link_t *
bus_link_find (bus_actor_t *self, const char *id)
{
    if (self->up && streq (self->up->id, id))
        return self->up;
    for (size_t i = 0; i < self->nkids; i++)
        if (streq (self->kids[i]->id, id))
            return self->kids[i];
    return NULL;
}

/* ------------------------------------------------------------------------ */
/*  Sending                                                                 */
/* ------------------------------------------------------------------------ */

static void
s_send_failed (bus_actor_t *self, bus_link_t *link)
{
    if (errno == EAGAIN)
        self->c.link_drops++; /* its queue is full: never wait for it */
    else if (errno == EHOSTUNREACH && !link->parent) {
        link->gone = true; /* the child disconnected */
        self->reap_due = true;
    }
    else
        self->c.send_errors++;
}

int
bus_link_send_msg (bus_actor_t *self, bus_link_t *link, zmq_msg_t *msg)
{
    if (link->gone)
        return -1;
    zsock_t *sock = link->parent ? self->dealer : self->router;
    if (!sock) {
        self->c.link_drops++; /* the parent's socket is being re-made */
        return -1;
    }
    void *h = zsock_resolve (sock);
    zmq_msg_t ref;
    zmq_msg_init (&ref);
    zmq_msg_copy (&ref, msg);
    if (!h
        || (!link->parent
            && zmq_send (h, link->id, BUS_KEY_Z85 - 1, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        || zmq_msg_send (&ref, h, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close (&ref);
        s_send_failed (self, link);
        return -1;
    }
    return 0;
}

int
bus_link_send (bus_actor_t *self, bus_link_t *link, const void *data, size_t len)
{
    if (link->gone)
        return -1;
    zsock_t *sock = link->parent ? self->dealer : self->router;
    void *h = sock ? zsock_resolve (sock) : NULL;
    if (!h
        || (!link->parent
            && zmq_send (h, link->id, BUS_KEY_Z85 - 1, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        || zmq_send (h, data, len, ZMQ_DONTWAIT) < 0) {
        s_send_failed (self, link);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/*  The children's side: one ROUTER                                        */
/* ------------------------------------------------------------------------ */

int
bus_links_open (bus_actor_t *self, const char *endpoint)
{
    self->router = zsock_new (ZMQ_ROUTER);
    if (!self->router) {
        self->c.socket_errors++;
        snprintf (self->err, sizeof self->err, "%s: cannot create a socket", endpoint);
        return -1;
    }
    shed_zmq_limit_network (self->router, SHED_ZMQ_MAXMSG_DEFAULT);
    void *h = zsock_resolve (self->router);
    int one = 1, zero = 0, snd = self->sndhwm, rcv = EVENT_RCVHWM;
    zmq_setsockopt (h, ZMQ_SNDHWM, &snd, sizeof snd);
    zmq_setsockopt (h, ZMQ_RCVHWM, &rcv, sizeof rcv);
    zmq_setsockopt (h, ZMQ_LINGER, &zero, sizeof zero);
    /* MANDATORY: a full child queue is EAGAIN (a counted drop) and a
     * vanished child EHOSTUNREACH (reaped), instead of silence. HANDOVER:
     * a child that reconnects (same key = same routing id) takes over. */
    zmq_setsockopt (h, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    zmq_setsockopt (h, ZMQ_ROUTER_HANDOVER, &one, sizeof one);
    if (zmq_setsockopt (h, ZMQ_CURVE_SERVER, &one, sizeof one)
        || zmq_setsockopt (h, ZMQ_CURVE_PUBLICKEY, self->public_key, 32)
        || zmq_setsockopt (h, ZMQ_CURVE_SECRETKEY, self->secret_key, 32)
        || zmq_setsockopt (h, ZMQ_ZAP_DOMAIN, self->peers_domain, strlen (self->peers_domain))
        /* Fail closed: without this libzmq admits every CURVE client when no
     * ZAP handler answers. */
        || zmq_setsockopt (h, ZMQ_ZAP_ENFORCE_DOMAIN, &one, sizeof one)) {
        snprintf (self->err, sizeof self->err, "%s: CURVE setup: %s", endpoint,
                  zmq_strerror (errno));
        return -1;
    }
    /* A few tries: after a re-bind the old listener closes asynchronously. */
    int rc = -1;
    for (int i = 0; i < 50; i++) {
        rc = shed_zmq_ipv6_for (h, endpoint) ? -1 : zmq_bind (h, endpoint);
        if (rc == 0 || errno != EADDRINUSE)
            break;
        zclock_sleep (20);
    }
    if (rc != 0) {
        snprintf (self->err, sizeof self->err, "cannot bind %s: %s", endpoint,
                  zmq_strerror (errno));
        return -1;
    }
    size_t sz = sizeof self->router_endpoint;
    zmq_getsockopt (h, ZMQ_LAST_ENDPOINT, self->router_endpoint, &sz);
    zpoller_add (self->poller, self->router);
    self->router_mon =
        s_monitor_new (self, self->router, ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED);
    self->conns_in = 0;
    self->ping_at = zclock_mono () + S_PING_MS;
    return 0;
}

static void
s_kids_drop_all (bus_actor_t *self)
{
    while (self->nkids) {
        bus_link_t *l = self->kids[--self->nkids];
        s_link_free (self, &l);
    }
}

static void
s_router_close (bus_actor_t *self)
{
    s_kids_drop_all (self);
    s_monitor_destroy (self, self->router, &self->router_mon);
    if (self->router) {
        zpoller_remove (self->poller, self->router);
        zsock_destroy (&self->router);
    }
}

/* Cut every child (after DENY): close and bind again on the same resolved
 * endpoint. Allowed children reconnect and say HELLO again; the denied
 * key fails the ZAP handshake. */
void
bus_links_rebind (bus_actor_t *self)
{
    if (!self->router)
        return;
    char endpoint[256];
    snprintf (endpoint, sizeof endpoint, "%s", self->router_endpoint);
    s_router_close (self);
    if (bus_links_open (self, endpoint) != 0) {
        log_error (S_COMP, "tree listener lost|reason=\"%s\"", self->err);
        s_router_close (self);
    }
}

/* Free the children marked gone (a send saw EHOSTUNREACH, or a BYE). */
static void
s_kids_reap (bus_actor_t *self)
{
    self->reap_due = false;
    size_t j = 0;
    for (size_t i = 0; i < self->nkids; i++) {
        if (self->kids[i]->gone) {
            log_debug (S_COMP, "child link gone|child=%s", self->kids[i]->name);
            s_link_free (self, &self->kids[i]);
        }
        else
            self->kids[j++] = self->kids[i];
    }
    self->nkids = j;
}

/* Where `name` sorts among the members we know and ourselves. */
static size_t
s_rank (bus_actor_t *self, const char *name)
{
    size_t r = strcmp (self->name, name) < 0;
    for (bus_member_t *m = (bus_member_t *) zhashx_first (self->members); m;
         m = (bus_member_t *) zhashx_next (self->members))
        r += strcmp (m->name, name) < 0;
    return r;
}

/* A HELLO found every child slot taken: a PING finds the children that
 * left (EHOSTUNREACH marks them gone), and children that our member list
 * no longer places under us are let go (a node that re-parented keeps
 * its old connection until libzmq notices). Those still wanted stay. */
static void
s_kids_make_room (bus_actor_t *self)
{
    uint8_t ping = EVENT_LINK_PING;
    size_t me = s_rank (self, self->name);
    for (size_t i = 0; i < self->nkids; i++) {
        bus_link_t *l = self->kids[i];
        bus_link_send (self, l, &ping, 1);
        if (!l->gone && bus_tree_parent (s_rank (self, l->name)) != (long) me)
            l->gone = true;
    }
    s_kids_reap (self);
}

/* A child's HELLO: (re)start its link. */
static void
s_child_hello (bus_actor_t *self, const char *id, const char *name)
{
    bus_link_t *l = bus_link_find (self, id);
    if (l && l->parent) {
        self->c.malformed++; /* our parent cannot be our child */
        return;
    }
    if (l) {
        bus_route_link_gone (self, l);
        l->gone = false;
    }
    else {
        if (self->nkids >= BUS_CHILDREN_MAX)
            s_kids_make_room (self);
        if (self->nkids >= BUS_CHILDREN_MAX) {
            /* Bounded whatever happens: views of the member list differ
             * only briefly, so a node over the bound is misconfigured. */
            self->c.children_refused++;
            return;
        }
        l = s_link_new (id, name, false);
        if (!l) {
            self->c.socket_errors++;
            return;
        }
        self->kids[self->nkids++] = l;
    }
    snprintf (l->name, sizeof l->name, "%s", name);
    l->up = true;
    bus_route_link_up (self, l);
    log_debug (S_COMP, "child link up|child=%s", name);
}

static void
s_recv_router (bus_actor_t *self)
{
    void *h = zsock_resolve (self->router);
    for (int i = 0; i < BUS_BATCH; i++) {
        zmq_msg_t id, msg;
        zmq_msg_init (&id);
        if (zmq_msg_recv (&id, h, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&id);
            return;
        }
        zmq_msg_init (&msg);
        if (!zmq_msg_more (&id) || zmq_msg_recv (&msg, h, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&id);
            zmq_msg_close (&msg);
            self->c.malformed++;
            continue;
        }
        if (zmq_msg_more (&msg)) {
            /* One frame per message on a link: drain the rest. */
            self->c.malformed++;
            while (zmq_msg_more (&msg) && zmq_msg_recv (&msg, h, ZMQ_DONTWAIT) >= 0)
                ;
            zmq_msg_close (&id);
            zmq_msg_close (&msg);
            continue;
        }
        /* The routing id is the child's claim, the ZAP User-Id (its CURVE
         * key, Z85) the proof: they must be the same key. */
        char key[BUS_KEY_Z85] = "";
        const char *uid = zmq_msg_gets (&msg, "User-Id");
        bool ok = zmq_msg_size (&id) == BUS_KEY_Z85 - 1 && uid && strlen (uid) == BUS_KEY_Z85 - 1
                  && memcmp (zmq_msg_data (&id), uid, BUS_KEY_Z85 - 1) == 0;
        if (ok)
            memcpy (key, uid, BUS_KEY_Z85);
        zmq_msg_close (&id);
        if (!ok) {
            self->c.forged++;
            zmq_msg_close (&msg);
            continue;
        }
        const uint8_t *data = (const uint8_t *) zmq_msg_data (&msg);
        size_t len = zmq_msg_size (&msg);
        if (len > 0 && data[0] == EVENT_LINK_HELLO) {
            int type;
            const uint8_t *body;
            size_t blen;
            char name[EVENT_NODE_MAX + 1];
            if (bus_link_parse (data, len, &type, &body, &blen, name) == 0)
                s_child_hello (self, key, name);
            else
                self->c.malformed++;
            zmq_msg_close (&msg);
            continue;
        }
        bus_link_t *l = bus_link_find (self, key);
        if (!l || l->parent || l->gone) {
            zmq_msg_close (&msg); /* before its HELLO, or after its BYE */
            continue;
        }
        bus_route_recv (self, l, &msg);
    }
}

/* ------------------------------------------------------------------------ */
/*  The parent's side: one DEALER                                           */
/* ------------------------------------------------------------------------ */

static void
s_parent_close (bus_actor_t *self)
{
    s_monitor_destroy (self, self->dealer, &self->dealer_mon);
    if (self->dealer) {
        zpoller_remove (self->poller, self->dealer);
        zsock_destroy (&self->dealer);
    }
    self->conn_up = false;
}

/* Dial the parent: a fresh socket (libzmq 4.3 never retries a handshake
 * the server refused, so a refusal means a new socket after a backoff). */
static int
s_parent_dial (bus_actor_t *self)
{
    s_parent_close (self);
    self->dealer = zsock_new (ZMQ_DEALER);
    if (!self->dealer) {
        self->c.socket_errors++;
        return -1;
    }
    shed_zmq_limit_network (self->dealer, SHED_ZMQ_MAXMSG_DEFAULT);
    void *h = zsock_resolve (self->dealer);
    int zero = 0, snd = self->sndhwm, rcv = EVENT_RCVHWM;
    zmq_setsockopt (h, ZMQ_SNDHWM, &snd, sizeof snd);
    zmq_setsockopt (h, ZMQ_RCVHWM, &rcv, sizeof rcv);
    zmq_setsockopt (h, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt (h, ZMQ_ROUTING_ID, self->z85, BUS_KEY_Z85 - 1);
    if (zap_secure_client (self->dealer, self->parent_key, self->public_key, self->secret_key)) {
        self->c.socket_errors++;
        return -1;
    }
    self->dealer_mon =
        s_monitor_new (self, self->dealer,
                       ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL
                           | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
                           | ZMQ_EVENT_DISCONNECTED);
    if (shed_zmq_ipv6_for (h, self->parent_endpoint)
        || zmq_connect (h, self->parent_endpoint) != 0) {
        log_warn (S_COMP, "cannot dial parent|parent=%s endpoint=%s reason=\"%s\"",
                  self->parent_name, self->parent_endpoint, zmq_strerror (errno));
        return -1;
    }
    zpoller_add (self->poller, self->dealer);
    return 0;
}

static void
s_redial_later (bus_actor_t *self)
{
    if (self->redial_at)
        return;
    int delay = self->backoff_ms ? self->backoff_ms : S_REDIAL_MIN_MS;
    self->backoff_ms = delay * 2 > S_REDIAL_MAX_MS ? S_REDIAL_MAX_MS : delay * 2;
    self->redial_at = zclock_mono () + delay;
}

/* HELLO, then every subscription again: a new session, or a parent that
 * has not heard of us (refused, or restarted its listener). */
static void
s_parent_hello (bus_actor_t *self)
{
    bus_link_t *l = self->up;
    if (l->up)
        self->c.hello_resent++;
    bus_route_link_gone (self, l);
    l->gone = false;
    l->up = true;
    self->parent_heard = zclock_mono ();
    uint8_t hello[1 + EVENT_NODE_MAX];
    size_t nl = strlen (self->name);
    hello[0] = EVENT_LINK_HELLO;
    memcpy (hello + 1, self->name, nl);
    bus_link_send (self, l, hello, nl + 1);
    bus_route_link_up (self, l);
}

static void
s_parent_event (bus_actor_t *self)
{
    int ev = s_monitor_recv (self->dealer_mon);
    bus_link_t *l = self->up;
    if (ev < 0 || !l)
        return;
    if (ev == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
        self->conn_up = true;
        self->backoff_ms = 0;
        /* A new session: whatever the parent knew of us is gone (or will
         * be reset by HELLO). */
        l->up = false;
        s_parent_hello (self);
        log_debug (S_COMP, "parent link up|parent=%s", l->name);
    }
    else if (ev == ZMQ_EVENT_DISCONNECTED) {
        self->conn_up = false;
        l->up = false; /* libzmq re-dials; HELLO again then */
    }
    else {
        self->conn_up = false;
        self->c.peer_refused++; /* most likely: it has not ALLOWed our key yet */
        l->up = false;
        s_redial_later (self);
    }
}

void
bus_tree_update (bus_actor_t *self)
{
    /* Sort the member names with ours: the same list on every node. */
    size_t n = zhashx_size (self->members) + 1, i = 0;
    const char **names = (const char **) calloc (n, sizeof (char *));
    if (!names) {
        self->c.socket_errors++;
        return;
    }
    for (bus_member_t *m = (bus_member_t *) zhashx_first (self->members); m;
         m = (bus_member_t *) zhashx_next (self->members))
        names[i++] = m->name;
    names[i++] = self->name;
    qsort (names, n, sizeof (char *), s_name_cmp);
    size_t me = 0;
    while (me < n && !streq (names[me], self->name))
        me++;
    long p = bus_tree_parent (me);
    const bus_member_t *pm =
        p >= 0 ? (const bus_member_t *) zhashx_lookup (self->members, names[p]) : NULL;
    free (names);
    bool same = pm && self->up && streq (self->parent_name, pm->name)
                && streq (self->parent_endpoint, pm->endpoint)
                && memcmp (self->parent_key, pm->key, 32) == 0;
    if (same || (!pm && !self->up))
        return;
    if (self->up) {
        s_link_free (self, &self->up);
        s_parent_close (self);
    }
    self->redial_at = 0;
    self->backoff_ms = 0;
    self->parent_name[0] = 0;
    self->c.tree_changes++;
    if (!pm) {
        log_info (S_COMP, "tree: this node is the root");
        return;
    }
    snprintf (self->parent_name, sizeof self->parent_name, "%s", pm->name);
    snprintf (self->parent_endpoint, sizeof self->parent_endpoint, "%s", pm->endpoint);
    memcpy (self->parent_key, pm->key, 32);
    char z85[BUS_KEY_Z85];
    zmq_z85_encode (z85, pm->key, 32);
    self->up = s_link_new (z85, pm->name, true);
    if (!self->up) {
        self->c.socket_errors++;
        return;
    }
    if (s_parent_dial (self) != 0)
        s_redial_later (self); /* counted; tried again, never fatal */
    /* Subscriptions queue on the DEALER until it connects; the handshake
     * sends HELLO and all of them again anyway. */
    bus_route_link_up (self, self->up);
    log_info (S_COMP, "tree: parent|parent=%s endpoint=%s", pm->name, pm->endpoint);
}

void
bus_links_close (bus_actor_t *self)
{
    s_link_free (self, &self->up);
    s_parent_close (self);
    s_router_close (self);
}

/* ------------------------------------------------------------------------ */
/*  The loop's view                                                         */
/* ------------------------------------------------------------------------ */

bool
bus_links_recv (bus_actor_t *self, void *which)
{
    if (self->router && which == self->router)
        s_recv_router (self);
    else if (self->dealer && which == self->dealer) {
        void *h = zsock_resolve (self->dealer);
        for (int i = 0; i < BUS_BATCH && self->up; i++) {
            zmq_msg_t msg;
            zmq_msg_init (&msg);
            if (zmq_msg_recv (&msg, h, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close (&msg);
                break;
            }
            if (zmq_msg_more (&msg)) {
                self->c.malformed++;
                while (zmq_msg_more (&msg) && zmq_msg_recv (&msg, h, ZMQ_DONTWAIT) >= 0)
                    ;
                zmq_msg_close (&msg);
                continue;
            }
            self->parent_heard = zclock_mono (); /* PINGs included */
            bus_route_recv (self, self->up, &msg);
        }
    }
    else if (self->dealer_mon && which == self->dealer_mon)
        s_parent_event (self);
    else if (self->router_mon && which == self->router_mon) {
        int ev = s_monitor_recv (self->router_mon);
        if (ev == ZMQ_EVENT_ACCEPTED)
            self->conns_in++;
        else if (ev == ZMQ_EVENT_DISCONNECTED && self->conns_in > 0)
            self->conns_in--;
    }
    else
        return false;
    return true;
}

void
bus_links_tick (bus_actor_t *self)
{
    int64_t now = zclock_mono ();
    if (self->redial_at && now >= self->redial_at && self->up) {
        self->redial_at = 0;
        self->c.peer_redials++;
        if (s_parent_dial (self) != 0)
            s_redial_later (self);
    }
    if (self->router && now >= self->ping_at) {
        self->ping_at = now + S_PING_MS;
        uint8_t ping = EVENT_LINK_PING;
        for (size_t i = 0; i < self->nkids; i++)
            bus_link_send (self, self->kids[i], &ping, 1);
    }
    if (self->up && self->conn_up && now - self->parent_heard >= S_PARENT_SILENT_MS)
        s_parent_hello (self);
    if (self->reap_due)
        s_kids_reap (self);
}

int
bus_links_timeout (bus_actor_t *self)
{
    int64_t now = zclock_mono ();
    int64_t due = self->router && self->nkids ? self->ping_at : 0;
    if (self->redial_at && (!due || self->redial_at < due))
        due = self->redial_at;
    int64_t silent = self->parent_heard + S_PARENT_SILENT_MS;
    if (self->up && self->conn_up && (!due || silent < due))
        due = silent;
    if (self->reap_due)
        return 0;
    if (!due)
        return -1;
    return due <= now ? 0 : (int) (due - now);
}
