/*
 * rpc.c - node-to-node request/response actor (see rpc.h): the actor's
 * side (sockets, pending requests, the peer directory and its pool). The
 * owner's side (commands, events, stats) is rpc_api.c.
 */
#include "cluster/zmq_limits.h"
#include "cluster/peer_pool.h"
#include "cluster/rpc_internal.h"
#include "common/log.h"

#include <inttypes.h>
#include <sodium.h>
#include <zmq.h>

#define S_COMP         "rpc"
/* ms an unanswered incoming request is kept: longer than the longest
 * provisioning run a peer may hold a request for (24 h, agents.provision) */
#define S_INCOMING_TTL (25 * 3600 * 1000)

WIRE_DEFINE_PROTO (rpc, RPC_MESSAGES, RPC_VERSION_MIN, RPC_VERSION, NULL)

/* A member we may call: a directory entry. Its connection, if any, is in
 * the pool (opened on the first call, closed when idle or evicted). */
typedef struct {
    char name[RPC_NAME_MAX + 1];
    char *endpoint;
    uint8_t key[32];
    char z85[41];
} s_peer_t;

/* A request we sent and wait for. */
typedef struct {
    uint64_t id;
    char peer[RPC_NAME_MAX + 1];
    int64_t deadline;
    int64_t t0_ns;  /* first sent (shed_hist_now_ns): the round trip's start */
    uint8_t *frame; /* encoded, kept to resend after a re-dial */
    size_t len;
} s_out_t;

/* A request we received and the owner has not answered yet. */
typedef struct {
    uint64_t token;
    uint64_t id;   /* the sender's request id */
    zframe_t *rid; /* ROUTER routing id */
    int64_t expires;
} s_in_t;

typedef struct {
    zsock_t *pipe;
    zpoller_t *poller;
    zap_t *zap;
    char name[RPC_NAME_MAX + 1];
    char domain[ZAP_DOMAIN_MAX + 1];
    uint8_t public_key[32];
    uint8_t secret_key[32]; /* wiped at exit */
    zsock_t *router;
    char *endpoint;
    zhashx_t *peers;   /* the directory: name -> s_peer_t */
    peer_pool_t *pool; /* DEALERs to the peers we call */
    zhashx_t *out;     /* "%016llx" id -> s_out_t */
    zhashx_t *in;      /* "%016llx" token -> s_in_t */
    uint64_t next_token;
    char error[256];
    bool terminated;
    rpc_counters_t *c;
    shed_hist_t *latency; /* the owner's (rpc_internal.h) */
} self_t;

#define S_INC(self, field) __atomic_add_fetch (&(self)->c->field, 1, __ATOMIC_RELAXED)

static void
s_str_free_fn (void **item)
{
    free (*item);
    *item = NULL;
}

static void
s_idkey (char key[17], uint64_t id)
{
    snprintf (key, 17, "%016" PRIx64, id);
}

/* Events to the owner. Numbers travel as text: czmq's binary pictures are
 * not worth an endianness question. */
static void
s_emit_response (self_t *self, uint64_t id, int status, const char *error, const void *body,
                 size_t len)
{
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, "RESPONSE");
    zmsg_addstrf (msg, "%" PRIu64, id);
    zmsg_addstrf (msg, "%d", status);
    zmsg_addstr (msg, error ? error : "");
    zmsg_addmem (msg, body, len);
    if (zmsg_send (&msg, self->pipe))
        zmsg_destroy (&msg);
}

static void
s_emit_request (self_t *self, const char *peer, uint64_t token, const char *method,
                const void *body, size_t len)
{
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, "REQUEST");
    zmsg_addstr (msg, peer);
    zmsg_addstrf (msg, "%" PRIu64, token);
    zmsg_addstr (msg, method);
    zmsg_addmem (msg, body, len);
    if (zmsg_send (&msg, self->pipe))
        zmsg_destroy (&msg);
}

/* ---- peers ----------------------------------------------------------------- */

static void
s_peer_free_fn (void **item)
{
    s_peer_t *peer = (s_peer_t *) *item;
    if (peer) {
        zstr_free (&peer->endpoint);
        free (peer);
        *item = NULL;
    }
}

static void
s_out_free_fn (void **item)
{
    s_out_t *out = (s_out_t *) *item;
    if (out) {
        free (out->frame);
        free (out);
        *item = NULL;
    }
}

static void
s_in_free_fn (void **item)
{
    s_in_t *in = (s_in_t *) *item;
    if (in) {
        zframe_destroy (&in->rid);
        free (in);
        *item = NULL;
    }
}

/* A request is over (answered, timed out, failed): its connection may go. */
static void
s_out_done (self_t *self, const char *key)
{
    s_out_t *out = (s_out_t *) zhashx_lookup (self->out, key);
    if (out) {
        peer_pool_pin (self->pool, out->peer, -1);
        zhashx_delete (self->out, key);
    }
}

/* Send `out` over the peer's connection if it has one now; otherwise it
 * waits in `out` and goes when the connection is made (s_on_redial). */
static void
s_out_send (self_t *self, s_out_t *out)
{
    void *sock = peer_pool_sock (self->pool, out->peer);
    if (!sock)
        return;
    zframe_t *frame = zframe_new (out->frame, out->len);
    if (zframe_send (&frame, sock, 0)) {
        zframe_destroy (&frame);
        S_INC (self, send_drops);
    }
}

/* Fail every pending request to `peer` with `status`. */
static void
s_fail_pending (self_t *self, const char *peer, int status, const char *why)
{
    zlistx_t *ids = zlistx_new ();
    zlistx_set_destructor (ids, s_str_free_fn);
    for (s_out_t *out = (s_out_t *) zhashx_first (self->out); out;
         out = (s_out_t *) zhashx_next (self->out))
        if (streq (out->peer, peer))
            zlistx_add_end (ids, strdup ((const char *) zhashx_cursor (self->out)));
    for (const char *key = (const char *) zlistx_first (ids); key;
         key = (const char *) zlistx_next (ids)) {
        s_out_t *out = (s_out_t *) zhashx_lookup (self->out, key);
        s_emit_response (self, out->id, status, why, "", (size_t) 0);
        s_out_done (self, key);
    }
    zlistx_destroy (&ids);
}

static void
s_peer_remove (self_t *self, const char *name)
{
    peer_pool_close (self->pool, name);
    zhashx_delete (self->peers, name);
}

static void
s_peer_add (self_t *self, const char *name, const char *endpoint, const uint8_t *key, size_t keylen)
{
    if (!name || !*name || strlen (name) > RPC_NAME_MAX || !endpoint || keylen != 32) {
        log_warn (S_COMP, "bad PEER-ADD|peer=%s", name ? name : "-");
        return;
    }
    s_peer_t *old = (s_peer_t *) zhashx_lookup (self->peers, name);
    if (old && streq (old->endpoint, endpoint) && memcmp (old->key, key, 32) == 0)
        return; /* same peer again (membership update): keep it */
    s_peer_t *peer = (s_peer_t *) zmalloc (sizeof (s_peer_t));
    assert (peer);
    snprintf (peer->name, sizeof peer->name, "%s", name);
    peer->endpoint = strdup (endpoint);
    assert (peer->endpoint);
    memcpy (peer->key, key, 32);
    zmq_z85_encode (peer->z85, peer->key, 32);
    zhashx_update (self->peers, name, peer); /* frees an older entry */
    /* A connection to its old address or key is stale: requests waiting
     * on it go again over a new one (s_on_redial). */
    if (peer_pool_has (self->pool, name))
        peer_pool_open (self->pool, name, peer->endpoint, peer->key);
}

/* The pool dialled `name` again (after a refusal, a creation failure or a
 * changed address): what is pending for it goes over the new DEALER. */
static void
s_on_redial (void *arg, const char *name, void *sock)
{
    self_t *self = (self_t *) arg;
    (void) sock;
    S_INC (self, redials);
    for (s_out_t *out = (s_out_t *) zhashx_first (self->out); out;
         out = (s_out_t *) zhashx_next (self->out))
        if (streq (out->peer, name))
            s_out_send (self, out);
}

/* ---- requests and responses ----------------------------------------------- */

static int
s_encode_send (self_t *self, zsock_t *sock, zframe_t *rid, const rpc_msg_t *msg)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = wire_encode (&rpc_proto, msg, &buf, &len);
    if (rc) {
        log_error (S_COMP, "cannot encode|err=\"%s\"", wire_strerror (rc));
        return -1;
    }
    zmsg_t *out = zmsg_new ();
    if (rid)
        zmsg_addmem (out, zframe_data (rid), zframe_size (rid));
    zmsg_addmem (out, buf, len);
    free (buf);
    if (zmsg_send (&out, sock)) {
        zmsg_destroy (&out);
        S_INC (self, send_drops);
        return -1;
    }
    return 0;
}

static void
s_cmd_request (self_t *self, const char *peer_name, uint64_t id, const char *method,
               const uint8_t *body, size_t len, int timeout_ms)
{
    s_peer_t *peer = peer_name ? (s_peer_t *) zhashx_lookup (self->peers, peer_name) : NULL;
    const char *why = NULL;
    int status = RPC_ERR_NO_PEER;
    if (!peer)
        why = "unknown peer";
    else if (peer_pool_open (self->pool, peer->name, peer->endpoint, peer->key) != 0) {
        /* Every pooled connection has calls in flight. */
        why = "too many peers with calls in flight";
        status = RPC_ERR_REFUSED;
    }
    else if (zhashx_size (self->out) >= RPC_PENDING_MAX) {
        why = "too many requests in flight";
        status = RPC_ERR_REFUSED;
    }
    else if (!method || !*method || strlen (method) > RPC_METHOD_MAX || len > RPC_BODY_MAX) {
        why = "bad request";
        status = RPC_ERR_REFUSED;
    }
    if (why) {
        if (status == RPC_ERR_NO_PEER)
            S_INC (self, no_peer);
        s_emit_response (self, id, status, why, "", (size_t) 0);
        return;
    }
    rpc_msg_t msg = { .hdr.type = RPC_REQUEST };
    msg.u.rpc_request.id = id;
    snprintf (msg.u.rpc_request.method, sizeof msg.u.rpc_request.method, "%s", method);
    msg.u.rpc_request.body.data = (uint8_t *) (uintptr_t) body; /* encode only reads */
    msg.u.rpc_request.body.len = len;
    s_out_t *out = (s_out_t *) zmalloc (sizeof (s_out_t));
    assert (out);
    out->id = id;
    snprintf (out->peer, sizeof out->peer, "%s", peer->name);
    out->deadline = zclock_mono () + (timeout_ms > 0 ? timeout_ms : RPC_TIMEOUT_DEFAULT);
    out->t0_ns = shed_hist_now_ns ();
    if (wire_encode (&rpc_proto, &msg, &out->frame, &out->len) != WIRE_OK) {
        free (out);
        s_emit_response (self, id, RPC_ERR_REFUSED, "cannot encode", "", (size_t) 0);
        return;
    }
    char key[17];
    s_idkey (key, id);
    zhashx_update (self->out, key, out);
    S_INC (self, requests_sent);
    /* In flight: the pool keeps this connection (no eviction) until done. */
    peer_pool_pin (self->pool, peer->name, 1);
    /* Queued by libzmq until connected; during a re-dial the request waits
     * in `out` and goes with the new DEALER. */
    s_out_send (self, out);
}

static void
s_cmd_reply (self_t *self, uint64_t token, int status, const char *error, const uint8_t *body,
             size_t len)
{
    char key[17];
    s_idkey (key, token);
    s_in_t *in = (s_in_t *) zhashx_lookup (self->in, key);
    if (!in) {
        log_debug (S_COMP, "reply to an unknown or expired request|token=%" PRIu64, token);
        return;
    }
    rpc_msg_t msg = { .hdr.type = RPC_RESPONSE };
    msg.u.rpc_response.id = in->id;
    msg.u.rpc_response.status = status;
    snprintf (msg.u.rpc_response.error, sizeof msg.u.rpc_response.error, "%s", error ? error : "");
    msg.u.rpc_response.body.data = (uint8_t *) (uintptr_t) body;
    msg.u.rpc_response.body.len = len > RPC_BODY_MAX ? 0 : len;
    if (s_encode_send (self, self->router, in->rid, &msg) == 0)
        S_INC (self, responses_sent);
    zhashx_delete (self->in, key);
}

/* The name registered for a verified key, else the key itself. */
static const char *
s_peer_by_key (self_t *self, const char *z85)
{
    for (s_peer_t *peer = (s_peer_t *) zhashx_first (self->peers); peer;
         peer = (s_peer_t *) zhashx_next (self->peers))
        if (streq (peer->z85, z85))
            return peer->name;
    return z85;
}

static void
s_recv_router (self_t *self)
{
    zmsg_t *msg = zmsg_recv (self->router);
    if (!msg)
        return;
    zframe_t *rid = zmsg_pop (msg);
    zframe_t *payload = zmsg_pop (msg);
    rpc_msg_t req;
    const char *field = "";
    if (!rid || !payload || zmsg_size (msg) != 0 || zframe_size (payload) > RPC_FRAME_MAX)
        S_INC (self, malformed);
    else {
        /* ZAP admitted the key when it connected; it may have been denied
         * since, so check every message. */
        const char *uid = zframe_meta (payload, "User-Id");
        if (!uid || !zap_allowed_z85 (self->zap, self->domain, uid))
            S_INC (self, denied_msgs);
        else if (wire_decode (&rpc_proto, zframe_data (payload), zframe_size (payload), &req,
                              &field)
                     != WIRE_OK
                 || req.hdr.type != RPC_REQUEST) {
            if (req.hdr.type == RPC_RESPONSE)
                wire_msg_free (&rpc_proto, &req);
            S_INC (self, malformed);
        }
        else {
            if (zhashx_size (self->in) >= RPC_PENDING_MAX) {
                rpc_msg_t rep = { .hdr.type = RPC_RESPONSE };
                rep.u.rpc_response.id = req.u.rpc_request.id;
                rep.u.rpc_response.status = RPC_ERR_REFUSED;
                snprintf (rep.u.rpc_response.error, sizeof rep.u.rpc_response.error,
                          "%s: too many requests in flight", self->name);
                s_encode_send (self, self->router, rid, &rep);
            }
            else {
                s_in_t *in = (s_in_t *) zmalloc (sizeof (s_in_t));
                assert (in);
                in->token = ++self->next_token;
                in->id = req.u.rpc_request.id;
                in->rid = rid;
                rid = NULL;
                in->expires = zclock_mono () + S_INCOMING_TTL;
                char key[17];
                s_idkey (key, in->token);
                zhashx_update (self->in, key, in);
                S_INC (self, requests_recv);
                s_emit_request (self, s_peer_by_key (self, uid), in->token,
                                req.u.rpc_request.method, req.u.rpc_request.body.data,
                                req.u.rpc_request.body.len);
            }
            wire_msg_free (&rpc_proto, &req);
        }
    }
    zframe_destroy (&rid);
    zframe_destroy (&payload);
    zmsg_destroy (&msg);
}

static void
s_recv_dealer (self_t *self, void *dealer)
{
    zmsg_t *msg = zmsg_recv (dealer);
    if (!msg)
        return;
    zframe_t *payload = zmsg_first (msg);
    rpc_msg_t rep;
    const char *field = "";
    if (zmsg_size (msg) != 1 || zframe_size (payload) > RPC_FRAME_MAX
        || wire_decode (&rpc_proto, zframe_data (payload), zframe_size (payload), &rep, &field)
               != WIRE_OK) {
        S_INC (self, malformed);
        zmsg_destroy (&msg);
        return;
    }
    if (rep.hdr.type != RPC_RESPONSE)
        S_INC (self, malformed);
    else {
        char key[17];
        s_idkey (key, rep.u.rpc_response.id);
        s_out_t *out = (s_out_t *) zhashx_lookup (self->out, key);
        if (!out)
            S_INC (self, late_responses); /* timed out, or a resent duplicate */
        else {
            S_INC (self, responses_recv);
            shed_hist_observe_since (self->latency, out->t0_ns);
            int64_t status = rep.u.rpc_response.status;
            s_emit_response (self, rep.u.rpc_response.id,
                             (int) (status < INT32_MIN   ? INT32_MIN
                                    : status > INT32_MAX ? INT32_MAX
                                                         : status),
                             rep.u.rpc_response.error, rep.u.rpc_response.body.data,
                             rep.u.rpc_response.body.len);
            s_out_done (self, key);
        }
    }
    wire_msg_free (&rpc_proto, &rep);
    zmsg_destroy (&msg);
}

/* ---- timers ------------------------------------------------------------------ */

static int64_t
s_timers (self_t *self)
{
    int64_t now = zclock_mono ();
    int64_t next = now + 1000;
    zlistx_t *expired = zlistx_new ();
    zlistx_set_destructor (expired, s_str_free_fn);
    for (s_out_t *out = (s_out_t *) zhashx_first (self->out); out;
         out = (s_out_t *) zhashx_next (self->out)) {
        if (out->deadline <= now)
            zlistx_add_end (expired, strdup ((const char *) zhashx_cursor (self->out)));
        else if (out->deadline < next)
            next = out->deadline;
    }
    for (const char *key = (const char *) zlistx_first (expired); key;
         key = (const char *) zlistx_next (expired)) {
        s_out_t *out = (s_out_t *) zhashx_lookup (self->out, key);
        S_INC (self, timeouts);
        char why[128];
        snprintf (why, sizeof why, "%s did not answer in time", out->peer);
        s_emit_response (self, out->id, RPC_ERR_TIMEOUT, why, "", (size_t) 0);
        char peer[RPC_NAME_MAX + 1];
        snprintf (peer, sizeof peer, "%s", out->peer);
        s_out_done (self, key);
        /* Its connection may be stuck: the pool watches only the first
         * handshake, and a peer that restarted may have refused a later
         * one (cluster/peer_pool.h). A fresh dial costs one handshake;
         * what is still pending for the peer goes again (s_on_redial). */
        if (peer_pool_has (self->pool, peer))
            peer_pool_redial (self->pool, peer);
    }
    zlistx_purge (expired);
    for (s_in_t *in = (s_in_t *) zhashx_first (self->in); in;
         in = (s_in_t *) zhashx_next (self->in))
        if (in->expires <= now)
            zlistx_add_end (expired, strdup ((const char *) zhashx_cursor (self->in)));
    for (const char *key = (const char *) zlistx_first (expired); key;
         key = (const char *) zlistx_next (expired))
        zhashx_delete (self->in, key);
    zlistx_destroy (&expired);
    int64_t redial = peer_pool_tick (self->pool);
    if (redial && redial < next)
        next = redial;
    peer_pool_close_idle (self->pool, RPC_IDLE_MS);
    return next;
}

/* ---- commands ------------------------------------------------------------------ */

static void
s_recv_pipe (self_t *self)
{
    zmsg_t *req = zmsg_recv (self->pipe);
    if (!req) {
        self->terminated = true;
        return;
    }
    char *cmd = zmsg_popstr (req);
    if (!cmd)
        log_warn (S_COMP, "empty command");
    else if (streq (cmd, "$TERM"))
        self->terminated = true;
    else if (streq (cmd, "INIT-STATUS"))
        zsock_send (self->pipe, "iss", self->error[0] ? -1 : 0, self->error,
                    self->endpoint ? self->endpoint : "");
    else if (self->error[0])
        ; /* failed init: rpc_new destroys us */
    else if (streq (cmd, "ALLOW") || streq (cmd, "DENY")) {
        zframe_t *key = zmsg_pop (req);
        if (key && zframe_size (key) == 32) {
            if (streq (cmd, "ALLOW"))
                zap_allow (self->zap, self->domain, zframe_data (key));
            else
                zap_deny (self->zap, self->domain, zframe_data (key));
        }
        zframe_destroy (&key);
    }
    else if (streq (cmd, "PEER-ADD")) {
        char *name = zmsg_popstr (req), *endpoint = zmsg_popstr (req);
        zframe_t *key = zmsg_pop (req);
        s_peer_add (self, name, endpoint, key ? zframe_data (key) : NULL,
                    key ? zframe_size (key) : 0);
        zstr_free (&name);
        zstr_free (&endpoint);
        zframe_destroy (&key);
    }
    else if (streq (cmd, "PEER-REMOVE")) {
        char *name = zmsg_popstr (req);
        if (name) {
            s_peer_remove (self, name);
            s_fail_pending (self, name, RPC_ERR_NO_PEER, "peer left the cluster");
        }
        zstr_free (&name);
    }
    else if (streq (cmd, "REQUEST")) {
        char *peer = zmsg_popstr (req), *id = zmsg_popstr (req), *method = zmsg_popstr (req);
        zframe_t *body = zmsg_pop (req);
        char *timeout = zmsg_popstr (req);
        if (id)
            s_cmd_request (self, peer, strtoull (id, NULL, 10), method,
                           body ? zframe_data (body) : NULL, body ? zframe_size (body) : 0,
                           timeout ? atoi (timeout) : 0);
        zstr_free (&peer);
        zstr_free (&id);
        zstr_free (&method);
        zstr_free (&timeout);
        zframe_destroy (&body);
    }
    else if (streq (cmd, "REPLY")) {
        char *token = zmsg_popstr (req), *status = zmsg_popstr (req), *error = zmsg_popstr (req);
        zframe_t *body = zmsg_pop (req);
        if (token && status)
            s_cmd_reply (self, strtoull (token, NULL, 10), atoi (status), error,
                         body ? zframe_data (body) : NULL, body ? zframe_size (body) : 0);
        zstr_free (&token);
        zstr_free (&status);
        zstr_free (&error);
        zframe_destroy (&body);
    }
    else
        log_warn (S_COMP, "unknown command|cmd=%s", cmd);
    zstr_free (&cmd);
    zmsg_destroy (&req);
}

/* ---- lifecycle ------------------------------------------------------------------ */

static int
s_init (self_t *self, const rpc_config_t *cfg)
{
    if (!cfg || !cfg->name || !cfg->endpoint || !cfg->public_key || !cfg->secret_key || !cfg->zap) {
        snprintf (self->error, sizeof self->error, "rpc: incomplete configuration");
        return -1;
    }
    snprintf (self->name, sizeof self->name, "%s", cfg->name);
    if (cfg->zap_domain)
        snprintf (self->domain, sizeof self->domain, "%s", cfg->zap_domain);
    else
        snprintf (self->domain, sizeof self->domain, "rpc/%s", cfg->name);
    memcpy (self->public_key, cfg->public_key, 32);
    memcpy (self->secret_key, cfg->secret_key, 32);
    self->zap = cfg->zap;
    peer_pool_config_t pc = {
        .comp = S_COMP,
        .public_key = self->public_key,
        .secret_key = self->secret_key,
        .cap = cfg->pool_max > 0 ? cfg->pool_max : RPC_POOL_DEFAULT,
        .sndhwm = 10000,
        .poller = self->poller,
        .on_redial = s_on_redial,
        .arg = self,
    };
    self->pool = peer_pool_new (&pc);
    if (!self->pool) {
        snprintf (self->error, sizeof self->error, "rpc: out of memory");
        return -1;
    }
    self->router = zsock_new (ZMQ_ROUTER);
    assert (self->router);
    shed_zmq_limit_network (self->router, SHED_ZMQ_MAXMSG_DEFAULT);
    zsock_set_linger (self->router, 0);
    zsock_set_sndtimeo (self->router, 0);
    if (zap_secure_server (self->router, self->public_key, self->secret_key, self->domain)) {
        snprintf (self->error, sizeof self->error, "rpc: CURVE setup failed: %s",
                  zmq_strerror (zmq_errno ()));
        return -1;
    }
    if (shed_zmq_ipv6_for (zsock_resolve (self->router), cfg->endpoint)
        || zsock_bind (self->router, "%s", cfg->endpoint) < 0) {
        snprintf (self->error, sizeof self->error, "rpc: cannot bind %s: %s", cfg->endpoint,
                  zmq_strerror (zmq_errno ()));
        return -1;
    }
    self->endpoint = zsock_last_endpoint (self->router);
    zpoller_add (self->poller, self->router);
    log_info (S_COMP, "listening|endpoint=%s domain=%s", self->endpoint, self->domain);
    return 0;
}

/* Publish the pool's numbers for rpc_stats (the owner's thread). */
static void
s_pool_counters (self_t *self)
{
    if (!self->pool)
        return;
    const peer_pool_stats_t *st = peer_pool_stats (self->pool);
    __atomic_store_n (&self->c->connected, (uint64_t) peer_pool_size (self->pool),
                      __ATOMIC_RELAXED);
    __atomic_store_n (&self->c->sockets, (uint64_t) peer_pool_sockets (self->pool) + 1,
                      __ATOMIC_RELAXED); /* + the ROUTER */
    __atomic_store_n (&self->c->sock_fail, st->sock_fail, __ATOMIC_RELAXED);
    __atomic_store_n (&self->c->evicted, st->evicted, __ATOMIC_RELAXED);
}

void
rpc_actor (zsock_t *pipe, void *args)
{
    rpc_t *owner = (rpc_t *) ((void **) args)[0];
    const rpc_config_t *cfg = (const rpc_config_t *) ((void **) args)[1];
    self_t self_s;
    self_t *self = &self_s;
    memset (self, 0, sizeof *self);
    self->pipe = pipe;
    self->c = &owner->c;
    self->latency = owner->latency;
    self->poller = zpoller_new (pipe, NULL);
    self->peers = zhashx_new ();
    zhashx_set_destructor (self->peers, s_peer_free_fn);
    self->out = zhashx_new ();
    zhashx_set_destructor (self->out, s_out_free_fn);
    self->in = zhashx_new ();
    zhashx_set_destructor (self->in, s_in_free_fn);
    if (s_init (self, cfg))
        log_error (S_COMP, "start failed|err=\"%s\"", self->error);
    zsock_signal (pipe, 0); /* cfg is no longer used */

    while (!self->terminated) {
        int64_t wait = -1;
        if (!self->error[0]) {
            wait = s_timers (self) - zclock_mono ();
            if (wait < 0)
                wait = 0;
        }
        void *which = zpoller_wait (self->poller, (int) wait);
        if (which == pipe)
            s_recv_pipe (self);
        else if (which && which == self->router)
            s_recv_router (self);
        else if (which) {
            void *sock = NULL;
            peer_pool_event_t ev = peer_pool_event (self->pool, which, NULL, &sock);
            if (ev == PEER_POOL_EV_READABLE)
                s_recv_dealer (self, sock);
            else if (ev == PEER_POOL_EV_REFUSED)
                S_INC (self, handshakes_refused); /* the pool re-dials */
        }
        else if (zpoller_terminated (self->poller))
            break;
        s_pool_counters (self);
    }
    peer_pool_destroy (&self->pool);
    zhashx_destroy (&self->peers);
    zhashx_destroy (&self->out);
    zhashx_destroy (&self->in);
    zsock_destroy (&self->router);
    zstr_free (&self->endpoint);
    zpoller_destroy (&self->poller);
    sodium_memzero (self->secret_key, sizeof self->secret_key);
}
