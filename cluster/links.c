/*
 * links.c - the node-links actor: state store + CURVE ROUTER/DEALER sync
 * (see links.h for sockets, protocol, commands and events): messages,
 * commands and lifecycle. Who we talk to (the directory and its connected
 * subset) is links_peers.c.
 */
#include "cluster/zmq_limits.h"
#include "cluster/links_internal.h"
#include "common/log.h"

#include <sodium.h>
#include <zmq.h>

#define S_COMP "links"

/* ---- sending -------------------------------------------------------------- */

static int
s_send (links_self_t *self, links_dest_t *dest, state_msg_t *msg)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = wire_encode (&state_proto, msg, &buf, &len);
    state_msg_free (msg);
    if (rc) {
        log_error (S_COMP, "cannot encode|err=\"%s\"", wire_strerror (rc));
        return -1;
    }
    zmsg_t *out = zmsg_new ();
    if (dest->rid)
        zmsg_addmem (out, zframe_data (dest->rid), zframe_size (dest->rid));
    zmsg_addmem (out, buf, len);
    free (buf);
    if (zmsg_send (&out, dest->sock)) {
        zmsg_destroy (&out);
        self->c.send_drops++;
        return -1;
    }
    return 0;
}

void
links_send_digest (links_self_t *self, links_dest_t *dest, bool reply)
{
    state_msg_t msg;
    state_digest (self->store, reply, &msg);
    if (s_send (self, dest, &msg) == 0)
        self->c.digests_sent++;
}

static void
s_schedule (links_self_t *self)
{
    /* +-25% jitter so nodes started together do not sync in lockstep. */
    int spread = self->interval_ms / 2;
    int jitter = spread > 0 ? (int) randombytes_uniform ((uint32_t) spread) - spread / 2 : 0;
    self->next_round = zclock_mono () + self->interval_ms + jitter;
}

/* ---- record signatures (docs/state.md, "Trust") --------------------------- */

static int
s_sign_record (void *arg, const uint8_t *msg, size_t len, uint8_t sig[STATE_SIG_BYTES])
{
    return shed_identity_sign (((links_self_t *) arg)->identity, msg, len, sig);
}

/* The store's key lookup: what membership advertised (ORIGIN-KEY). */
static int
s_origin_key (void *arg, const char *origin, uint8_t pk[32])
{
    links_self_t *self = (links_self_t *) arg;
    const uint8_t *key = (const uint8_t *) zhashx_lookup (self->origin_keys, origin);
    if (!key)
        return -1;
    memcpy (pk, key, 32);
    return 0;
}

static void
s_key_free (void **item)
{
    free (*item);
    *item = NULL;
}

/* ORIGIN-KEY name z85: set (or with "" forget) an origin's Ed25519 key. */
static int
s_origin_key_cmd (links_self_t *self, const char *name, const char *z85)
{
    if (!name || !state_origin_valid (name) || !z85)
        return -1;
    if (!*z85) {
        zhashx_delete (self->origin_keys, name);
        return 0;
    }
    uint8_t *key = (uint8_t *) malloc (32);
    assert (key);
    if (strlen (z85) != 40 || !zmq_z85_decode (key, z85)) {
        free (key);
        return -1;
    }
    /* A different key than the one we hold: membership took it only for
     * a dead member's name taken by a new identity (a live member's key
     * change is refused there). Its records were checked under the old
     * key: drop them and pull the new identity's (docs/state.md, "Trust").
     * A first key, or one after a reap forgot the old, drops nothing. */
    const uint8_t *held = (const uint8_t *) zhashx_lookup (self->origin_keys, name);
    if (held && memcmp (held, key, 32) != 0) {
        log_info (S_COMP, "origin signing key changed: its records dropped|origin=%s", name);
        state_origin_rekey (self->store, name);
    }
    zhashx_update (self->origin_keys, name, key);
    return 0;
}

/* ---- receiving ------------------------------------------------------------ */

/* state_apply, and a warning naming the authenticated peer (its CURVE key)
 * when it sent records with bad signatures: a member relaying forgeries. */
static int
s_apply (links_self_t *self, const state_msg_t *msg, const char *uid)
{
    uint64_t before = state_stats (self->store)->refused_sig;
    int applied = state_apply (self->store, msg);
    uint64_t refused = state_stats (self->store)->refused_sig - before;
    if (refused)
        log_warn (S_COMP, "peer sent records with bad signatures|peer_key=%s count=%" PRIu64,
                  uid ? uid : "?", refused);
    return applied;
}

/* `from`: the directory name of the sender when it came over our DEALER
 * to it, NULL when over the ROUTER (its key is the frame's User-Id). */
void
links_handle_payload (links_self_t *self, zframe_t *payload, links_dest_t *dest, const char *from)
{
    size_t len = zframe_size (payload);
    if (len > STATE_FRAME_MAX) {
        self->c.malformed++;
        return;
    }
    state_msg_t msg;
    const char *field = "";
    int rc = wire_decode (&state_proto, zframe_data (payload), len, &msg, &field);
    if (rc || !STATE_IS_NETWORK (msg.hdr.type)) {
        if (rc == 0)
            state_msg_free (&msg);
        self->c.malformed++;
        log_debug (S_COMP, "malformed frame dropped|err=\"%s\" field=%s",
                   rc ? wire_strerror (rc) : "local type", field);
        return;
    }
    switch (msg.hdr.type) {
    case STATE_DIGEST: {
        self->c.digests_recv++;
        state_msg_t delta;
        if (state_delta (self->store, &msg.u.state_digest, self->budget, &delta) == 1) {
            if (s_send (self, dest, &delta) == 0)
                self->c.deltas_sent++;
        }
        else
            state_msg_free (&delta);
        if (msg.u.state_digest.reply)
            links_send_digest (self, dest, false);
        break;
    }
    case STATE_DELTA:
        self->c.deltas_recv++;
        s_apply (self, &msg, zframe_meta (payload, "User-Id"));
        /* The budget cut it short: ask for the rest now. */
        if (msg.u.state_delta.more)
            links_send_digest (self, dest, false);
        break;
    case STATE_PUSH: {
        self->c.pushes_recv++;
        const char *uid = zframe_meta (payload, "User-Id");
        /* Rumor mongering (docs/state.md, "Anti-entropy"): a push that
             * taught us something goes on, once, to our own subset; one
             * that taught us nothing (we had it: a duplicate) stops here.
             * So an origin's write floods the subset graph in a few hops
             * instead of reaching only the origin's own subset. */
        if (s_apply (self, &msg, uid) > 0)
            links_rumor (self, zframe_data (payload), len, from, uid);
        break;
    }
    }
    state_msg_free (&msg);
}

static void
s_recv_router (links_self_t *self)
{
    zmsg_t *msg = zmsg_recv (self->router);
    if (!msg)
        return;
    zframe_t *rid = zmsg_pop (msg);
    zframe_t *payload = zmsg_pop (msg);
    if (!rid || !payload || zmsg_size (msg) != 0) {
        self->c.malformed++;
    }
    else {
        /* The ZAP handler admitted this key when it connected; the list
         * may have changed since (DENY), so ask again per message. */
        const char *uid = zframe_meta (payload, "User-Id");
        if (!uid || !zap_allowed_z85 (self->zap, self->domain, uid))
            self->c.denied_msgs++;
        else {
            links_inbound_seen (self, uid, rid);
            links_dest_t dest = { self->router, rid };
            links_handle_payload (self, payload, &dest, NULL);
        }
    }
    zframe_destroy (&rid);
    zframe_destroy (&payload);
    zmsg_destroy (&msg);
}

/* Monitor events of the ROUTER: count handshakes, refused or not. A client
 * without CURVE, or with a key the ZAP handler refuses, never gets past the
 * handshake; these counters are how an operator sees it. */
static void
s_recv_monitor (links_self_t *self)
{
    zmsg_t *msg = zmsg_recv (self->monitor);
    if (!msg)
        return;
    zframe_t *head = zmsg_first (msg);
    if (head && zframe_size (head) >= 6) {
        uint16_t event;
        memcpy (&event, zframe_data (head), sizeof event);
        if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
            self->c.handshakes_ok++;
        else if (event
                 & (ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
                    | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)) {
            self->c.handshakes_refused++;
            zframe_t *addr = zmsg_next (msg);
            char *text = addr ? zframe_strdup (addr) : NULL;
            log_info (S_COMP, "handshake refused|event=0x%x peer=%s", event, text ? text : "-");
            zstr_free (&text);
        }
    }
    zmsg_destroy (&msg);
}

/* ---- events --------------------------------------------------------------- */

static const char *
s_event_name (state_event_t ev)
{
    switch (ev) {
    case STATE_EV_INSERTED:
        return "INSERTED";
    case STATE_EV_UPDATED:
        return "UPDATED";
    case STATE_EV_DELETED:
        return "DELETED";
    case STATE_EV_ORIGIN:
        return "ORIGIN";
    }
    return "?";
}

static void
s_on_change (void *arg, state_event_t ev, const state_record_t *rec)
{
    links_self_t *self = (links_self_t *) arg;
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, rec->kind ? rec->kind : "$origin");
    zmsg_addstr (msg, s_event_name (ev));
    zmsg_addstr (msg, rec->origin);
    zmsg_addstr (msg, rec->key ? rec->key : "");
    zmsg_addstrf (msg, "%" PRIu64, rec->version);
    zmsg_addstr (msg, state_status_name (rec->status));
    if (ev == STATE_EV_DELETED || ev == STATE_EV_ORIGIN || !rec->value_len)
        zmsg_addmem (msg, "", 0);
    else
        zmsg_addmem (msg, rec->value, rec->value_len);
    if (zmsg_send (&msg, self->events))
        zmsg_destroy (&msg);
}

/* ---- commands ------------------------------------------------------------- */

static int
s_list_one (void *arg, const state_record_t *rec)
{
    zmsg_t *reply = (zmsg_t *) arg;
    zmsg_addstr (reply, rec->origin);
    zmsg_addstr (reply, rec->kind);
    zmsg_addstr (reply, rec->key);
    zmsg_addstrf (reply, "%" PRIu64, rec->version);
    zmsg_addstr (reply, state_status_name (rec->status));
    zmsg_addmem (reply, rec->value, rec->value_len);
    return 0;
}

static char *
s_stats_text (links_self_t *self)
{
    const state_stats_t *st = state_stats (self->store);
    uint64_t admitted = 0, refused = 0;
    zap_counts (self->zap, self->domain, &admitted, &refused);
    return zsys_sprintf (
        "peers=%zu records=%zu digests_sent=%" PRIu64 " digests_recv=%" PRIu64
        " deltas_sent=%" PRIu64 " deltas_recv=%" PRIu64 " pushes_sent=%" PRIu64
        " pushes_recv=%" PRIu64 " applied=%" PRIu64 " stale=%" PRIu64 " refused_self=%" PRIu64
        " refused_removed=%" PRIu64 " resets=%" PRIu64 " purged=%" PRIu64 " malformed=%" PRIu64
        " denied_msgs=%" PRIu64 " send_drops=%" PRIu64 " handshakes_ok=%" PRIu64
        " handshakes_refused=%" PRIu64 " redials=%" PRIu64 " dial_refused=%" PRIu64
        " zap_admitted=%" PRIu64 " zap_refused=%" PRIu64 " refused_sig=%" PRIu64
        " deferred=%" PRIu64 " linked=%zu subset_target=%zu sockets=%zu sock_fail=%" PRIu64
        " rumors_sent=%" PRIu64 " rotations=%" PRIu64,
        zhashx_size (self->peers), state_count (self->store, NULL, NULL), self->c.digests_sent,
        self->c.digests_recv, self->c.deltas_sent, self->c.deltas_recv, self->c.pushes_sent,
        self->c.pushes_recv, st->applied, st->stale, st->refused_self, st->refused_removed,
        st->resets, st->purged, self->c.malformed, self->c.denied_msgs, self->c.send_drops,
        self->c.handshakes_ok, self->c.handshakes_refused, peer_pool_stats (self->pool)->redials,
        self->c.dial_refused, admitted, refused, st->refused_sig, st->deferred, links_linked (self),
        links_subset_target (self),
        peer_pool_sockets (self->pool) + 2, /* + the ROUTER and its monitor */
        peer_pool_stats (self->pool)->sock_fail, self->c.rumors_sent, self->c.rotations);
}

static int
s_key_cmd (links_self_t *self, const char *z85, bool allow)
{
    uint8_t key[32];
    if (!z85 || strlen (z85) != 40 || !zmq_z85_decode (key, z85))
        return -1;
    return allow ? zap_allow (self->zap, self->domain, key)
                 : zap_deny (self->zap, self->domain, key);
}

static void
s_reply_rc (links_self_t *self, int rc)
{
    zsock_send (self->pipe, "is", rc, rc ? state_strerror (rc) : "");
}

/* A local write is on disk before its caller hears it succeeded: the
 * caller acts on it at once (a shed record written, then the shed started),
 * and a node killed right after must find the record when it restarts. The
 * periodic flush alone left up to one interval of such writes behind. */
static void
s_flush_local (links_self_t *self, int rc)
{
    if (rc == 0 && state_flush (self->store) != 0)
        log_error (S_COMP, "cannot write local records to disk|name=%s", self->name);
}

static void
s_recv_pipe (links_self_t *self)
{
    zmsg_t *req = zmsg_recv (self->pipe);
    if (!req) {
        self->terminated = true;
        return;
    }
    char *cmd = zmsg_popstr (req);
    char *a = zmsg_popstr (req);
    char *b = zmsg_popstr (req);
    /* PUT's third argument is a value that may hold NULs: keep it a frame. */
    bool put = cmd && (streq (cmd, "PUT") || streq (cmd, "PUT-DEFERRED"));
    zframe_t *value = put ? zmsg_pop (req) : NULL;
    char *c = value ? NULL : zmsg_popstr (req);
    if (!cmd) {
        log_warn (S_COMP, "empty command");
    }
    else if (streq (cmd, "$TERM"))
        self->terminated = true;
    else if (streq (cmd, "INIT-STATUS"))
        zsock_send (self->pipe, "is", self->error[0] ? -1 : 0, self->error);
    else if (self->error[0]) {
        /* Failed init: links_new saw it and destroys us; answer anyway. */
        zsock_send (self->pipe, "i", -1);
    }
    else if (streq (cmd, "PEER-ADD")) {
        zsock_send (self->pipe, "i", links__peer_add (self, a, b, c));
    }
    else if (streq (cmd, "ORIGIN-KEY"))
        zsock_send (self->pipe, "i", s_origin_key_cmd (self, a, b));
    else if (streq (cmd, "PEER-REMOVE")) {
        zsock_send (self->pipe, "i", links__peer_remove (self, a));
    }
    else if (streq (cmd, "ALLOW") || streq (cmd, "DENY"))
        zsock_send (self->pipe, "i", s_key_cmd (self, a, streq (cmd, "ALLOW")));
    else if (put) {
        int rc = a && b ? state_put (self->store, a, b, value ? zframe_data (value) : NULL,
                                     value ? zframe_size (value) : 0)
                        : -STATE_ERR_ARG;
        /* PUT-DEFERRED: the next state_tick (or write, or stop) flushes it
         * (links_put_deferred says for which records that is enough). */
        if (streq (cmd, "PUT"))
            s_flush_local (self, rc);
        /* Push before answering: the caller may act on the change at once
         * (delete a shed, then create one of the same name through another
         * node), so the change should be on its way to the peers first. */
        if (rc == 0)
            links_push_all (self);
        s_reply_rc (self, rc);
    }
    else if (streq (cmd, "DELETE")) {
        int rc = a && b ? state_delete (self->store, a, b) : -STATE_ERR_ARG;
        s_flush_local (self, rc);
        if (rc == 0)
            links_push_all (self);
        s_reply_rc (self, rc);
    }
    else if (streq (cmd, "GET")) {
        state_record_t rec;
        if (a && b && c && state_get (self->store, a, b, c, &rec) == 0 && !rec.tombstone)
            zsock_send (self->pipe, "isb8", 1, state_status_name (rec.status), rec.value,
                        rec.value_len, rec.version);
        else
            zsock_send (self->pipe, "isb8", 0, "", "", (size_t) 0, (uint64_t) 0);
    }
    else if (streq (cmd, "LIST")) {
        zmsg_t *reply = zmsg_new ();
        state_foreach (self->store, NULL, a && *a ? a : NULL, false, s_list_one, reply);
        zmsg_pushstrf (reply, "%zu", zmsg_size (reply) / 6);
        zmsg_send (&reply, self->pipe);
    }
    else if (streq (cmd, "ORIGIN-STATUS")) {
        state_status_t st;
        int rc = -1;
        if (a && b && state_status_parse (b, &st) == 0)
            rc = state_origin_set_status (self->store, a, st) ? -1 : 0;
        if (rc == 0)
            links_peer_status (self, a, st != STATE_ALIVE);
        zsock_send (self->pipe, "i", rc);
    }
    else if (streq (cmd, "SYNC")) {
        int rc = zhashx_size (self->peers) ? 0 : -1;
        links_round (self);
        zsock_send (self->pipe, "i", rc);
    }
    else if (streq (cmd, "STATS")) {
        char *text = s_stats_text (self);
        zsock_send (self->pipe, "s", text);
        zstr_free (&text);
    }
    else if (streq (cmd, "ENDPOINT"))
        zsock_send (self->pipe, "s", self->endpoint ? self->endpoint : "");
    else if (streq (cmd, "EVENTS"))
        zsock_send (self->pipe, "s", self->events_endpoint ? self->events_endpoint : "");
    else if (streq (cmd, "PUBKEY"))
        zsock_send (self->pipe, "s", self->pubkey_z85);
    else {
        log_warn (S_COMP, "unknown command|cmd=%s", cmd);
        zsock_send (self->pipe, "i", -1);
    }
    zstr_free (&cmd);
    zstr_free (&a);
    zstr_free (&b);
    zstr_free (&c);
    zframe_destroy (&value);
    zmsg_destroy (&req);
}

/* ---- lifecycle ------------------------------------------------------------ */

static int s_instance; /* unique inproc names per actor */

static int
s_init (links_self_t *self, const links_config_t *cfg)
{
    if (!cfg || !cfg->name || !cfg->endpoint || !cfg->public_key || !cfg->secret_key || !cfg->zap) {
        snprintf (self->error, sizeof self->error, "links: incomplete configuration");
        return -1;
    }
    snprintf (self->name, sizeof self->name, "%s", cfg->name);
    if (cfg->zap_domain)
        snprintf (self->domain, sizeof self->domain, "%s", cfg->zap_domain);
    else
        snprintf (self->domain, sizeof self->domain, "links/%s", cfg->name);
    memcpy (self->public_key, cfg->public_key, 32);
    memcpy (self->secret_key, cfg->secret_key, 32);
    zmq_z85_encode (self->pubkey_z85, self->public_key, 32);
    self->zap = cfg->zap;
    self->interval_ms = cfg->interval_ms > 0 ? cfg->interval_ms : LINKS_INTERVAL_DEFAULT;
    self->budget = cfg->budget;

    self->store = state_new (cfg->name, cfg->data_dir, self->error, sizeof self->error);
    if (!self->store)
        return -1;
    if (cfg->tombstone_ttl_ms > 0)
        state_set_tombstone_ttl (self->store, cfg->tombstone_ttl_ms);

    int id = __atomic_add_fetch (&s_instance, 1, __ATOMIC_SEQ_CST);
    self->events = zsock_new (ZMQ_PUB);
    assert (self->events);
    zsock_set_sndhwm (self->events, LINKS_EVENTS_HWM);
    self->events_endpoint = zsys_sprintf ("inproc://shed-links-events-%d", id);
    if (zsock_bind (self->events, "%s", self->events_endpoint)) {
        snprintf (self->error, sizeof self->error, "links: cannot bind %s", self->events_endpoint);
        return -1;
    }
    state_set_handler (self->store, s_on_change, self);
    self->origin_keys = zhashx_new ();
    assert (self->origin_keys);
    zhashx_set_destructor (self->origin_keys, s_key_free);
    self->identity = cfg->identity;
    if (self->identity) {
        state_set_signer (self->store, s_sign_record, self);
        state_set_verifier (self->store, s_origin_key, self);
    }

    self->router = zsock_new (ZMQ_ROUTER);
    assert (self->router);
    shed_zmq_limit_network (self->router, SHED_ZMQ_MAXMSG_DEFAULT);
    zsock_set_linger (self->router, 0);
    zsock_set_sndtimeo (self->router, 0);
    if (zap_secure_server (self->router, self->public_key, self->secret_key, self->domain)) {
        snprintf (self->error, sizeof self->error, "links: CURVE setup failed: %s",
                  zmq_strerror (zmq_errno ()));
        return -1;
    }
    /* Watch handshakes before binding so none is missed. */
    char *mon = zsys_sprintf ("inproc://shed-links-monitor-%d", id);
    int rc = zmq_socket_monitor (
        zsock_resolve (self->router), mon,
        ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL
            | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH);
    if (rc == 0)
        self->monitor = zsock_new_pair (mon);
    zstr_free (&mon);
    if (!self->monitor) {
        snprintf (self->error, sizeof self->error, "links: cannot monitor the router");
        return -1;
    }
    if (shed_zmq_ipv6_for (zsock_resolve (self->router), cfg->endpoint)
        || zsock_bind (self->router, "%s", cfg->endpoint) < 0) {
        snprintf (self->error, sizeof self->error, "links: cannot bind %s: %s", cfg->endpoint,
                  zmq_strerror (zmq_errno ()));
        return -1;
    }
    self->endpoint = zsock_last_endpoint (self->router);
    self->subset = cfg->subset;
    self->rotate_ms = cfg->rotate_ms > 0 ? cfg->rotate_ms : LINKS_ROTATE_DEFAULT;
    if (links_peers_init (self)) {
        snprintf (self->error, sizeof self->error, "links: out of memory");
        return -1;
    }
    zpoller_add (self->poller, self->router);
    zpoller_add (self->poller, self->monitor);
    s_schedule (self);
    log_info (S_COMP, "listening|endpoint=%s domain=%s", self->endpoint, self->domain);
    return 0;
}

static void
s_destroy (links_self_t *self)
{
    links_peers_destroy (self);
    if (self->router)
        zmq_socket_monitor (zsock_resolve (self->router), NULL, 0);
    zsock_destroy (&self->monitor);
    zsock_destroy (&self->router);
    state_destroy (&self->store); /* flushes our records */
    zhashx_destroy (&self->origin_keys);
    zsock_destroy (&self->events);
    zstr_free (&self->endpoint);
    zstr_free (&self->events_endpoint);
    zpoller_destroy (&self->poller);
    sodium_memzero (self->secret_key, sizeof self->secret_key);
}

void
links_actor (zsock_t *pipe, void *args)
{
    links_self_t self_s;
    links_self_t *self = &self_s;
    memset (self, 0, sizeof *self);
    self->pipe = pipe;
    self->poller = zpoller_new (pipe, NULL);
    assert (self->poller);
    if (s_init (self, (const links_config_t *) args))
        log_error (S_COMP, "start failed|err=\"%s\"", self->error);
    zsock_signal (pipe, 0); /* args are no longer used */

    while (!self->terminated) {
        int64_t wait = -1;
        if (!self->error[0]) {
            int64_t now = zclock_mono ();
            int64_t until = self->next_round;
            int64_t redial = peer_pool_tick (self->pool);
            if (redial && redial < until)
                until = redial;
            int64_t rotate = links_rotate_due (self);
            if (rotate < until)
                until = rotate;
            wait = until - now;
            if (wait < 0)
                wait = 0;
        }
        void *which = zpoller_wait (self->poller, (int) wait);
        if (which == pipe)
            s_recv_pipe (self);
        else if (which && which == self->router)
            s_recv_router (self);
        else if (which && which == self->monitor)
            s_recv_monitor (self);
        else if (which)
            links_pool_event (self, which);
        else if (zpoller_terminated (self->poller))
            break;
        if (!self->error[0] && zclock_mono () >= self->next_round) {
            state_tick (self->store);
            links_round (self);
            s_schedule (self);
        }
    }
    s_destroy (self);
}
