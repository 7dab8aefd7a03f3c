/*
 * rpc_api.c - the owner's side of the RPC actor (see rpc.h): start and
 * stop, commands over the pipe, events read back, counters from atomics.
 */
#include "cluster/rpc_internal.h"

#include <inttypes.h>

rpc_t *
rpc_new (const rpc_config_t *cfg, char *err, size_t errlen)
{
    rpc_t *self = (rpc_t *) zmalloc (sizeof (rpc_t));
    assert (self);
    self->latency = shed_hist_new (shed_hist_bounds_rpc, shed_hist_nbounds_rpc);
    void *args[2] = { self, (void *) (uintptr_t) cfg };
    self->actor = zactor_new (rpc_actor, args);
    if (!self->actor) {
        snprintf (err, errlen, "rpc: cannot start actor");
        shed_hist_destroy (&self->latency);
        free (self);
        return NULL;
    }
    int rc = -1;
    char *reason = NULL, *endpoint = NULL;
    zstr_send (self->actor, "INIT-STATUS");
    if (zsock_recv (self->actor, "iss", &rc, &reason, &endpoint) != 0 || rc != 0) {
        snprintf (err, errlen, "%s", reason && *reason ? reason : "rpc: start failed");
        zstr_free (&reason);
        zstr_free (&endpoint);
        rpc_destroy (&self);
        return NULL;
    }
    snprintf (self->endpoint, sizeof self->endpoint, "%s", endpoint);
    zstr_free (&reason);
    zstr_free (&endpoint);
    return self;
}

void
rpc_destroy (rpc_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    rpc_t *self = *self_p;
    zactor_destroy (&self->actor);
    shed_hist_destroy (&self->latency);
    free (self);
    *self_p = NULL;
}

zsock_t *
rpc_sock (rpc_t *self)
{
    assert (self);
    return zactor_sock (self->actor);
}

const char *
rpc_endpoint (rpc_t *self)
{
    assert (self);
    return self->endpoint;
}

void
rpc_allow (rpc_t *self, const uint8_t *key)
{
    assert (self);
    zsock_send (self->actor, "sb", "ALLOW", key, (size_t) 32);
}

void
rpc_deny (rpc_t *self, const uint8_t *key)
{
    assert (self);
    zsock_send (self->actor, "sb", "DENY", key, (size_t) 32);
}

void
rpc_peer_add (rpc_t *self, const char *name, const char *endpoint, const uint8_t *key)
{
    assert (self);
    zsock_send (self->actor, "sssb", "PEER-ADD", name, endpoint, key, (size_t) 32);
}

void
rpc_peer_remove (rpc_t *self, const char *name)
{
    assert (self);
    zsock_send (self->actor, "ss", "PEER-REMOVE", name);
}

uint64_t
rpc_request (rpc_t *self, const char *peer, const char *method, const uint8_t *body, size_t len,
             int timeout_ms)
{
    assert (self);
    uint64_t id = ++self->next_id;
    char ids[24], tmo[16];
    snprintf (ids, sizeof ids, "%" PRIu64, id);
    snprintf (tmo, sizeof tmo, "%d", timeout_ms);
    zsock_send (self->actor, "ssssbs", "REQUEST", peer, ids, method,
                body ? body : (const uint8_t *) "", len, tmo);
    return id;
}

void
rpc_reply (rpc_t *self, uint64_t token, int status, const char *error, const uint8_t *body,
           size_t len)
{
    assert (self);
    char tok[24], st[16];
    snprintf (tok, sizeof tok, "%" PRIu64, token);
    snprintf (st, sizeof st, "%d", status);
    zsock_send (self->actor, "ssssb", "REPLY", tok, st, error ? error : "",
                body ? body : (const uint8_t *) "", len);
}

int
rpc_recv (rpc_t *self, rpc_event_t *ev)
{
    assert (self);
    memset (ev, 0, sizeof *ev);
    zmsg_t *msg = zmsg_recv (zactor_sock (self->actor));
    if (!msg)
        return -1;
    char *kind = zmsg_popstr (msg);
    int rc = -1;
    if (kind && streq (kind, "REQUEST") && zmsg_size (msg) == 4) {
        char *peer = zmsg_popstr (msg);
        char *token = zmsg_popstr (msg);
        char *method = zmsg_popstr (msg);
        zframe_t *body = zmsg_pop (msg);
        ev->type = RPC_EV_REQUEST;
        snprintf (ev->peer, sizeof ev->peer, "%s", peer ? peer : "");
        ev->id = token ? strtoull (token, NULL, 10) : 0;
        snprintf (ev->method, sizeof ev->method, "%s", method ? method : "");
        ev->len = body ? zframe_size (body) : 0;
        ev->body = (uint8_t *) malloc (ev->len + 1);
        assert (ev->body);
        if (ev->len)
            memcpy (ev->body, zframe_data (body), ev->len);
        ev->body[ev->len] = 0; /* text bodies may be read as strings */
        zstr_free (&peer);
        zstr_free (&method);
        zstr_free (&token);
        zframe_destroy (&body);
        rc = 0;
    }
    else if (kind && streq (kind, "RESPONSE") && zmsg_size (msg) == 4) {
        char *id = zmsg_popstr (msg);
        char *status = zmsg_popstr (msg); /* 'i' travels as text */
        char *error = zmsg_popstr (msg);
        zframe_t *body = zmsg_pop (msg);
        ev->type = RPC_EV_RESPONSE;
        ev->id = id ? strtoull (id, NULL, 10) : 0;
        ev->status = status ? atoi (status) : RPC_ERR_REFUSED;
        snprintf (ev->error, sizeof ev->error, "%s", error ? error : "");
        ev->len = body ? zframe_size (body) : 0;
        ev->body = (uint8_t *) malloc (ev->len + 1);
        assert (ev->body);
        if (ev->len)
            memcpy (ev->body, zframe_data (body), ev->len);
        ev->body[ev->len] = 0; /* text bodies may be read as strings */
        zstr_free (&id);
        zstr_free (&status);
        zstr_free (&error);
        zframe_destroy (&body);
        rc = 0;
    }
    zstr_free (&kind);
    zmsg_destroy (&msg);
    return rc;
}

void
rpc_event_free (rpc_event_t *ev)
{
    if (ev) {
        free (ev->body);
        ev->body = NULL;
        ev->len = 0;
    }
}

int
rpc_latency (rpc_t *self, shed_hist_snap_t *out)
{
    assert (self);
    if (!self->latency)
        return -1;
    shed_hist_snapshot (self->latency, out);
    return 0;
}

char *
rpc_stats (rpc_t *self)
{
    assert (self);
    rpc_counters_t c;
#define S_LOAD(f) c.f = __atomic_load_n (&self->c.f, __ATOMIC_RELAXED)
    /* clang-format off */
    S_LOAD (requests_sent); S_LOAD (requests_recv); S_LOAD (responses_sent);
    S_LOAD (responses_recv); S_LOAD (timeouts); S_LOAD (no_peer); S_LOAD (malformed);
    S_LOAD (denied_msgs); S_LOAD (send_drops); S_LOAD (late_responses);
    S_LOAD (handshakes_refused); S_LOAD (redials); S_LOAD (connected); S_LOAD (sockets);
    S_LOAD (sock_fail); S_LOAD (evicted);
    /* clang-format on */
#undef S_LOAD
    return zsys_sprintf (
        "requests_sent=%" PRIu64 " requests_recv=%" PRIu64 " responses_sent=%" PRIu64
        " responses_recv=%" PRIu64 " timeouts=%" PRIu64 " no_peer=%" PRIu64 " malformed=%" PRIu64
        " denied_msgs=%" PRIu64 " send_drops=%" PRIu64 " late_responses=%" PRIu64
        " handshakes_refused=%" PRIu64 " redials=%" PRIu64 " connected=%" PRIu64 " sockets=%" PRIu64
        " sock_fail=%" PRIu64 " evicted=%" PRIu64,
        c.requests_sent, c.requests_recv, c.responses_sent, c.responses_recv, c.timeouts, c.no_peer,
        c.malformed, c.denied_msgs, c.send_drops, c.late_responses, c.handshakes_refused, c.redials,
        c.connected, c.sockets, c.sock_fail, c.evicted);
}
