/* node_rpc.c - see node_rpc.h. */
#include "node/sched/node_rpc.h"

#include "common/log.h"

#include <inttypes.h>
#include <string.h>

#define S_COMP "rpc"

typedef struct {
    shed_nrpc_fn *fn;
    void *arg;
} s_method_t;

/* A call of ours in flight. cb NULL: answered already (its peer failed). */
typedef struct {
    shed_nrpc_cb *cb;
    void *arg;
    char peer[RPC_NAME_MAX + 1];
} s_call_t;

struct _shed_nrpc_t {
    char name[RPC_NAME_MAX + 1];
    rpc_t *rpc;
    zloop_t *loop;     /* borrowed */
    zhashx_t *methods; /* method -> s_method_t */
    zhashx_t *calls;   /* "%llu" request id -> s_call_t */
};

static void
s_free_fn (void **item)
{
    free (*item);
    *item = NULL;
}

static int
s_on_rpc (zloop_t *loop, zsock_t *sock, void *arg)
{
    (void) loop;
    (void) sock;
    shed_nrpc_t *self = (shed_nrpc_t *) arg;
    rpc_event_t ev;
    if (rpc_recv (self->rpc, &ev) != 0)
        return 0;
    if (ev.type == RPC_EV_REQUEST) {
        s_method_t *m = (s_method_t *) zhashx_lookup (self->methods, ev.method);
        if (m)
            m->fn (self, ev.peer, ev.id, ev.body, ev.len, m->arg);
        else {
            char why[RPC_ERROR_MAX + 1];
            snprintf (why, sizeof why, "unknown method '%s' on node %s", ev.method, self->name);
            log_warn (S_COMP, "rpc for an unknown method|peer=%s method=%s", ev.peer, ev.method);
            rpc_reply (self->rpc, ev.id, SHED_NRPC_UNKNOWN, why, NULL, 0);
        }
    }
    else {
        char key[24];
        snprintf (key, sizeof key, "%" PRIu64, ev.id);
        s_call_t *c = (s_call_t *) zhashx_lookup (self->calls, key);
        if (c) {
            /* Out of the table first: the callback may call again. */
            zhashx_delete (self->calls, key); /* no destructor: c is ours */
            if (c->cb)
                c->cb (ev.status, ev.error, ev.body, ev.len, c->arg);
            free (c);
        }
    }
    rpc_event_free (&ev);
    return 0;
}

static peer_dir_fn s_on_peer_alive, s_on_peer_removed;

shed_nrpc_t *
shed_nrpc_new (const shed_config_t *cfg, const shed_identity_t *identity, zap_t *zap,
               peer_dir_t *peers, zloop_t *loop, char *err, size_t errlen)
{
    shed_nrpc_t *self = (shed_nrpc_t *) calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    snprintf (self->name, sizeof self->name, "%s", cfg->name);
    self->loop = loop;
    self->methods = zhashx_new ();
    self->calls = zhashx_new ();
    if (!self->methods || !self->calls) {
        snprintf (err, errlen, "out of memory");
        shed_nrpc_destroy (&self);
        return NULL;
    }
    zhashx_set_destructor (self->methods, s_free_fn);
    char bind[PEER_ENDPOINT_MAX], domain[ZAP_DOMAIN_MAX + 1];
    peer_endpoint (bind, sizeof bind, cfg->bind_addr, cfg->bind_port, PEER_PORT_RPC);
    /* Cut to fit, as the actor would cut its default. */
    snprintf (domain, sizeof domain, "rpc/%.60s", cfg->name);
    rpc_config_t rc = { .name = cfg->name,
                        .endpoint = bind,
                        .public_key = shed_identity_x25519_public (identity),
                        .secret_key = shed_identity_x25519_secret (identity),
                        .zap = zap,
                        .zap_domain = domain };
    self->rpc = rpc_new (&rc, err, errlen);
    if (!self->rpc) {
        shed_nrpc_destroy (&self);
        return NULL;
    }
    if (loop)
        zloop_reader (loop, rpc_sock (self->rpc), s_on_rpc, self);
    peer_dir_ops_t ops = { s_on_peer_alive, s_on_peer_alive, NULL, s_on_peer_removed };
    if (peers && peer_dir_on_peer (peers, &ops, domain, self, err, errlen) != 0) {
        shed_nrpc_destroy (&self);
        return NULL;
    }
    return self;
}

void
shed_nrpc_destroy (shed_nrpc_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    shed_nrpc_t *self = *self_p;
    if (self->rpc && self->loop)
        zloop_reader_end (self->loop, rpc_sock (self->rpc));
    /* Every caller hears back (taken out first: a callback may call). */
    zlistx_t *left = zlistx_new ();
    for (s_call_t *c = (s_call_t *) (self->calls ? zhashx_first (self->calls) : NULL); c;
         c = (s_call_t *) zhashx_next (self->calls))
        zlistx_add_end (left, c);
    zhashx_destroy (&self->calls);
    for (s_call_t *c = (s_call_t *) zlistx_first (left); c; c = (s_call_t *) zlistx_next (left)) {
        if (c->cb)
            c->cb (RPC_ERR_NO_PEER, "node shutting down", NULL, 0, c->arg);
        free (c);
    }
    zlistx_destroy (&left);
    zhashx_destroy (&self->methods);
    rpc_destroy (&self->rpc);
    free (self);
    *self_p = NULL;
}

int
shed_nrpc_on (shed_nrpc_t *self, const char *method, shed_nrpc_fn *fn, void *arg)
{
    assert (self);
    if (!method || !*method || strlen (method) > RPC_METHOD_MAX || !fn
        || zhashx_lookup (self->methods, method))
        return -1;
    s_method_t *m = (s_method_t *) calloc (1, sizeof *m);
    if (!m)
        return -1;
    m->fn = fn;
    m->arg = arg;
    zhashx_insert (self->methods, method, m);
    return 0;
}

void
shed_nrpc_reply (shed_nrpc_t *self, uint64_t token, int status, const char *error,
                 const uint8_t *body, size_t len)
{
    assert (self);
    rpc_reply (self->rpc, token, status, error, body, len);
}

int
shed_nrpc_call (shed_nrpc_t *self, const char *peer, const char *method, const uint8_t *body,
                size_t len, int timeout_ms, shed_nrpc_cb *cb, void *arg)
{
    assert (self);
    if (!self->calls || !self->rpc || !peer || !*peer || streq (peer, self->name) || !method
        || !*method || strlen (method) > RPC_METHOD_MAX || len > RPC_BODY_MAX || !cb)
        return -1;
    s_call_t *c = (s_call_t *) calloc (1, sizeof *c);
    if (!c)
        return -1;
    c->cb = cb;
    c->arg = arg;
    snprintf (c->peer, sizeof c->peer, "%s", peer);
    /* rpc answers even a refused request through the socket (an event with
     * RPC_ERR_REFUSED or NO_PEER), so cb is never called from in here. */
    uint64_t id = rpc_request (self->rpc, peer, method, body, len, timeout_ms);
    char key[24];
    snprintf (key, sizeof key, "%" PRIu64, id);
    zhashx_update (self->calls, key, c);
    return 0;
}

static void
s_on_peer_alive (const peer_t *p, void *arg)
{
    /* Alive or suspect: a suspect may still answer. The directory has
     * ALLOWed the key already: the peer dials us as soon as it learns
     * about us, and a refused handshake costs a re-dial. */
    shed_nrpc_t *self = arg;
    rpc_peer_add (self->rpc, p->name, p->rpc, p->key);
}

static void
s_on_peer_removed (const peer_t *p, void *arg)
{
    shed_nrpc_t *self = arg;
    rpc_peer_remove (self->rpc, p->name);
}
/* failed: keep the peer, it may come back. */

void
shed_nrpc_peer_failed (shed_nrpc_t *self, const char *peer)
{
    assert (self);
    /* Taken out of the way first: a callback may call us. */
    zlistx_t *due = zlistx_new ();
    for (s_call_t *c = (s_call_t *) zhashx_first (self->calls); c;
         c = (s_call_t *) zhashx_next (self->calls))
        if (c->cb && streq (c->peer, peer))
            zlistx_add_end (due, c);
    for (s_call_t *c = (s_call_t *) zlistx_first (due); c; c = (s_call_t *) zlistx_next (due)) {
        shed_nrpc_cb *cb = c->cb;
        c->cb = NULL; /* its late RPC answer is dropped */
        char why[RPC_ERROR_MAX + 1];
        snprintf (why, sizeof why, "%s failed before it answered (membership)", peer);
        cb (RPC_ERR_NO_PEER, why, NULL, 0, c->arg);
    }
    zlistx_destroy (&due);
}

const char *
shed_nrpc_endpoint (shed_nrpc_t *self)
{
    assert (self);
    return rpc_endpoint (self->rpc);
}

char *
shed_nrpc_stats (shed_nrpc_t *self)
{
    assert (self);
    return rpc_stats (self->rpc);
}

int
shed_nrpc_latency (shed_nrpc_t *self, shed_hist_snap_t *out)
{
    assert (self);
    return self->rpc ? rpc_latency (self->rpc, out) : -1;
}
