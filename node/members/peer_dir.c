/*
 * peer_dir.c - the peer directory (peer_dir.h): one membership listener,
 * derived endpoints, ZAP allow-lists in step, typed callbacks.
 */
#include "node/members/peer_dir.h"

#include "common/log.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    peer_dir_ops_t ops;
    char domain[ZAP_DOMAIN_MAX + 1]; /* "" = none */
    void *arg;
} s_consumer_t;

typedef struct {
    peer_t peer;
    bool allowed; /* key on the consumers' allow-lists */
} s_entry_t;

struct _peer_dir_t {
    char name[SWIM_NAME_MAX + 1];
    zap_t *zap;      /* borrowed, may be NULL */
    zhashx_t *peers; /* name -> s_entry_t */
    s_consumer_t consumers[PEER_DIR_CONSUMERS_MAX];
    size_t nconsumers;
};

int
peer_endpoint (char *buf, size_t size, const char *addr, unsigned gossip_port, unsigned offset)
{
    /* "tcp://[v6]:port" for IPv6: libzmq parses the brackets (and the
     * sockets that use these set ZMQ_IPV6, cluster/zmq_limits.h). */
    int n = strchr (addr, ':') ? snprintf (buf, size, "tcp://[%s]:%u", addr, gossip_port + offset)
                               : snprintf (buf, size, "tcp://%s:%u", addr, gossip_port + offset);
    return n < 0 || (size_t) n >= size ? -1 : 0;
}

static void
s_listener (const char *kind, const gossip_update_t *m, const char *reason, void *arg)
{
    (void) reason;
    peer_dir_member ((peer_dir_t *) arg, kind, m);
}

static void
s_entry_free (void **item)
{
    free (*item);
    *item = NULL;
}

peer_dir_t *
peer_dir_new (const char *self_name, zap_t *zap, shed_members_t *members, char *err, size_t errlen)
{
    peer_dir_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "peer directory: out of memory");
        return NULL;
    }
    snprintf (self->name, sizeof self->name, "%s", self_name);
    self->zap = zap;
    self->peers = zhashx_new ();
    if (!self->peers) {
        snprintf (err, errlen, "peer directory: out of memory");
        free (self);
        return NULL;
    }
    zhashx_set_destructor (self->peers, s_entry_free);
    if (members)
        shed_members_on_event (members, s_listener, self);
    return self;
}

void
peer_dir_destroy (peer_dir_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    peer_dir_t *self = *self_p;
    zhashx_destroy (&self->peers);
    free (self);
    *self_p = NULL;
}

/* ALLOW / DENY a key in every registered domain. */
static void
s_zap (peer_dir_t *self, const uint8_t key[32], bool allow)
{
    if (!self->zap)
        return;
    for (size_t i = 0; i < self->nconsumers; i++) {
        const char *domain = self->consumers[i].domain;
        if (domain[0])
            allow ? zap_allow (self->zap, domain, key) : zap_deny (self->zap, domain, key);
    }
}

static void
s_notify (peer_dir_t *self, const peer_t *peer, size_t which)
{
    for (size_t i = 0; i < self->nconsumers; i++) {
        const peer_dir_ops_t *ops = &self->consumers[i].ops;
        peer_dir_fn *fn = which == 0   ? ops->added
                          : which == 1 ? ops->updated
                          : which == 2 ? ops->failed
                                       : ops->removed;
        if (fn)
            fn (peer, self->consumers[i].arg);
    }
}

int
peer_dir_on_peer (peer_dir_t *self, const peer_dir_ops_t *ops, const char *zap_domain, void *arg,
                  char *err, size_t errlen)
{
    assert (self && ops);
    if (self->nconsumers == PEER_DIR_CONSUMERS_MAX) {
        snprintf (err, errlen, "peer directory: more than %d consumers", PEER_DIR_CONSUMERS_MAX);
        return -1;
    }
    if (zap_domain && strlen (zap_domain) > ZAP_DOMAIN_MAX) {
        snprintf (err, errlen, "peer directory: ZAP domain longer than %d bytes", ZAP_DOMAIN_MAX);
        return -1;
    }
    s_consumer_t *c = &self->consumers[self->nconsumers++];
    c->ops = *ops;
    snprintf (c->domain, sizeof c->domain, "%s", zap_domain ? zap_domain : "");
    c->arg = arg;
    /* The current view, as membership replays its own to a new listener:
     * the key into this domain first, then the callback. */
    for (s_entry_t *e = zhashx_first (self->peers); e; e = zhashx_next (self->peers)) {
        if (e->allowed && c->domain[0] && self->zap)
            zap_allow (self->zap, c->domain, e->peer.key);
        peer_dir_fn *fn = e->peer.status == PEER_FAILED ? ops->failed : ops->added;
        if (fn)
            fn (&e->peer, arg);
    }
    return 0;
}

/* Copy an alive member's address and keys into the peer and derive its
 * endpoints. */
static void
s_fill (peer_t *p, const gossip_update_t *m)
{
    memcpy (p->key, m->key.data, 32);
    static const uint8_t zero[32];
    memcpy (p->sigkey, m->sigkey, 32);
    p->has_sigkey = memcmp (m->sigkey, zero, sizeof zero) != 0;
    snprintf (p->addr, sizeof p->addr, "%s", m->addr);
    p->gossip_port = (uint16_t) m->port;
    peer_endpoint (p->links, sizeof p->links, p->addr, p->gossip_port, PEER_PORT_LINKS);
    peer_endpoint (p->bus, sizeof p->bus, p->addr, p->gossip_port, PEER_PORT_BUS);
    peer_endpoint (p->rpc, sizeof p->rpc, p->addr, p->gossip_port, PEER_PORT_RPC);
    p->overlay_port = (uint16_t) (p->gossip_port + PEER_PORT_OVERLAY);
}

void
peer_dir_member (peer_dir_t *self, const char *kind, const gossip_update_t *m)
{
    assert (self && kind && m);
    if (strcmp (m->name, self->name) == 0)
        return;
    s_entry_t *e = zhashx_lookup (self->peers, m->name);
    bool alive = !strcmp (kind, "join") || (!strcmp (kind, "update") && m->kind == SWIM_UPD_ALIVE);
    bool suspect = !strcmp (kind, "suspect");
    if (alive || suspect) {
        /* SUSPECT carries no address or keys: it can only add a peer whose
         * membership record (in the event) has them. */
        if (m->key.len != 32)
            return;
        bool fresh = e == NULL;
        if (fresh) {
            e = calloc (1, sizeof *e);
            if (!e) {
                log_warn ("peers", "out of memory|peer=%s", m->name);
                return;
            }
            snprintf (e->peer.name, sizeof e->peer.name, "%s", m->name);
            zhashx_insert (self->peers, m->name, e);
        }
        if (e->allowed && memcmp (e->peer.key, m->key.data, 32) != 0) {
            s_zap (self, e->peer.key, false); /* a new key replaces the old */
            e->allowed = false;
        }
        if (alive || fresh || e->peer.addr[0] == '\0')
            s_fill (&e->peer, m);
        e->peer.status = alive ? PEER_ALIVE : PEER_SUSPECT;
        if (!e->allowed) {
            s_zap (self, e->peer.key, true);
            e->allowed = true;
        }
        s_notify (self, &e->peer, fresh ? 0 : 1);
    }
    else if (!strcmp (kind, "fail")) {
        if (!e) {
            /* First seen failed (a replayed view): known, not admitted. */
            if (m->key.len != 32)
                return;
            e = calloc (1, sizeof *e);
            if (!e)
                return;
            snprintf (e->peer.name, sizeof e->peer.name, "%s", m->name);
            s_fill (&e->peer, m);
            zhashx_insert (self->peers, m->name, e);
        }
        e->peer.status = PEER_FAILED;
        s_notify (self, &e->peer, 2);
    }
    else if (!strcmp (kind, "leave") || !strcmp (kind, "reap")) {
        if (!e)
            return;
        e->peer.status = PEER_LEFT;
        if (e->allowed)
            s_zap (self, e->peer.key, false);
        s_notify (self, &e->peer, 3);
        zhashx_delete (self->peers, m->name);
    }
}

const peer_t *
peer_dir_lookup (peer_dir_t *self, const char *name)
{
    assert (self);
    s_entry_t *e = zhashx_lookup (self->peers, name);
    return e ? &e->peer : NULL;
}

size_t
peer_dir_size (peer_dir_t *self)
{
    assert (self);
    return zhashx_size (self->peers);
}
