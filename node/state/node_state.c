/* node_state.c - see node_state.h. */
#include "node/state/node_state.h"

#include "cluster/links.h"
#include "common/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NSTATE_LISTENERS_MAX 16

struct _shed_nstate_t {
    links_t *links;
    state_mirror_t *mirror; /* the read model (state_mirror.h) */
    uint64_t round_trips;   /* requests that waited for the actor */
    zsock_t *events;        /* SUB to the links actor's change PUB */
    zloop_t *loop;          /* borrowed */
    char name[SHED_NAME_MAX + 1];
    char endpoint[128];
    struct {
        char kind[32];
        shed_record_fn *fn;
        void *arg;
    } listeners[NSTATE_LISTENERS_MAX];
    size_t nlisteners;
};

/* -------------------------------------------------------------------------
 * Local API over the actor
 */

static int
s_put (shed_nstate_t *self, const char *kind, const char *key, const uint8_t *value, size_t len,
       bool deferred, char *err, size_t errlen)
{
    assert (self);
    self->round_trips++;
    int rc = deferred ? links_put_deferred (self->links, kind, key, value, len, err, errlen)
                      : links_put (self->links, kind, key, value, len, err, errlen);
    if (rc != 0)
        return -1;
    state_mirror_put_local (self->mirror, kind, key, value, len);
    return 0;
}

int
shed_nstate_put (shed_nstate_t *self, const char *kind, const char *key, const uint8_t *value,
                 size_t len, char *err, size_t errlen)
{
    return s_put (self, kind, key, value, len, false, err, errlen);
}

int
shed_nstate_put_deferred (shed_nstate_t *self, const char *kind, const char *key,
                          const uint8_t *value, size_t len, char *err, size_t errlen)
{
    return s_put (self, kind, key, value, len, true, err, errlen);
}

static int
s_put_rec (shed_nstate_t *self, const char *kind, const char *key, const rec_msg_t *rec,
           bool deferred, char *err, size_t errlen)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = wire_encode (&rec_proto, rec, &buf, &len);
    if (rc != WIRE_OK) {
        snprintf (err, errlen, "cannot encode the %s record: %s", kind, wire_strerror (rc));
        return -1;
    }
    rc = s_put (self, kind, key, buf, len, deferred, err, errlen);
    free (buf);
    return rc;
}

int
shed_nstate_put_rec (shed_nstate_t *self, const char *kind, const char *key, const rec_msg_t *rec,
                     char *err, size_t errlen)
{
    return s_put_rec (self, kind, key, rec, false, err, errlen);
}

int
shed_nstate_put_rec_deferred (shed_nstate_t *self, const char *kind, const char *key,
                              const rec_msg_t *rec, char *err, size_t errlen)
{
    return s_put_rec (self, kind, key, rec, true, err, errlen);
}

int
shed_nstate_delete (shed_nstate_t *self, const char *kind, const char *key, char *err,
                    size_t errlen)
{
    assert (self);
    self->round_trips++;
    if (links_delete (self->links, kind, key, err, errlen) != 0)
        return -1;
    state_mirror_del_local (self->mirror, kind, key);
    return 0;
}

int
shed_nstate_get_mine (shed_nstate_t *self, const char *kind, const char *key, uint8_t **value,
                      size_t *len)
{
    assert (self);
    *value = NULL;
    *len = 0;
    shed_record_t rec;
    if (!state_mirror_find (self->mirror, self->name, kind, key, &rec))
        return 0;
    *value = (uint8_t *) malloc (rec.len ? rec.len : 1);
    if (!*value)
        return -1;
    memcpy (*value, rec.value, rec.len);
    *len = rec.len;
    return 1;
}

int
shed_nstate_list (shed_nstate_t *self, const char *kind, shed_record_fn *fn, void *arg)
{
    assert (self);
    return state_mirror_list (self->mirror, kind, fn, arg);
}

bool
shed_nstate_find (shed_nstate_t *self, const char *origin, const char *kind, const char *key,
                  shed_record_t *out)
{
    assert (self);
    return state_mirror_find (self->mirror, origin, kind, key, out);
}

uint64_t
shed_nstate_round_trips (shed_nstate_t *self)
{
    assert (self);
    return self->round_trips;
}

/* The seed: one LIST of every kind, read into the mirror. Called after the
 * SUB socket subscribed, so a change made meanwhile is in the LIST or in an
 * event (both apply: the mirror keeps the newer version). */
static int
s_seed (shed_nstate_t *self)
{
    self->round_trips++;
    zmsg_t *msg = links_list (self->links, "");
    if (!msg)
        return -1;
    char *count = zmsg_popstr (msg);
    int n = 0;
    while (zmsg_size (msg) >= 6) {
        char *origin = zmsg_popstr (msg), *k = zmsg_popstr (msg), *key = zmsg_popstr (msg);
        char *version = zmsg_popstr (msg), *status = zmsg_popstr (msg);
        zframe_t *value = zmsg_pop (msg);
        shed_record_t rec = { "",
                              origin,
                              k,
                              key,
                              strtoull (version, NULL, 10),
                              status,
                              zframe_data (value),
                              zframe_size (value) };
        state_mirror_apply (self->mirror, &rec);
        n++;
        zstr_free (&origin);
        zstr_free (&k);
        zstr_free (&key);
        zstr_free (&version);
        zstr_free (&status);
        zframe_destroy (&value);
    }
    zstr_free (&count);
    zmsg_destroy (&msg);
    return n;
}

void
shed_nstate_on_change (shed_nstate_t *self, const char *kind, shed_record_fn *fn, void *arg)
{
    assert (self);
    assert (self->nlisteners < NSTATE_LISTENERS_MAX);
    snprintf (self->listeners[self->nlisteners].kind, sizeof self->listeners[0].kind, "%s", kind);
    self->listeners[self->nlisteners].fn = fn;
    self->listeners[self->nlisteners].arg = arg;
    self->nlisteners++;
}

const char *
shed_nstate_endpoint (shed_nstate_t *self)
{
    return self->endpoint;
}

char *
shed_nstate_stats (shed_nstate_t *self)
{
    assert (self);
    char *text = links_stats (self->links);
    if (!text)
        return NULL;
    char *line = zsys_sprintf ("%s actor_round_trips=%" PRIu64 " mirror_records=%zu", text,
                               self->round_trips, state_mirror_size (self->mirror));
    zstr_free (&text);
    return line;
}

/* -------------------------------------------------------------------------
 * Change events -> listeners
 */

static int
s_on_change (zloop_t *loop, zsock_t *sock, void *arg)
{
    shed_nstate_t *self = arg;
    zmsg_t *msg = zmsg_recv (sock);
    if (!msg || zmsg_size (msg) != 7) {
        zmsg_destroy (&msg);
        return 0;
    }
    char *topic = zmsg_popstr (msg), *event = zmsg_popstr (msg), *origin = zmsg_popstr (msg);
    char *key = zmsg_popstr (msg), *version = zmsg_popstr (msg), *status = zmsg_popstr (msg);
    zframe_t *value = zmsg_pop (msg);
    shed_record_t rec = { event,
                          origin,
                          topic,
                          key,
                          strtoull (version, NULL, 10),
                          status,
                          zframe_data (value),
                          zframe_size (value) };
    log_debug ("state", "record %s|origin=%s kind=%s key=%s version=%s status=%s", event, origin,
               topic, key, version, status);
    /* The read model first: a listener that reads sees this change. */
    state_mirror_apply (self->mirror, &rec);
    for (size_t i = 0; i < self->nlisteners; i++)
        if (!self->listeners[i].kind[0] || strcmp (self->listeners[i].kind, topic) == 0)
            self->listeners[i].fn (&rec, self->listeners[i].arg);
    zstr_free (&topic);
    zstr_free (&event);
    zstr_free (&origin);
    zstr_free (&key);
    zstr_free (&version);
    zstr_free (&status);
    zframe_destroy (&value);
    zmsg_destroy (&msg);
    return 0;
}

/* -------------------------------------------------------------------------
 * Membership -> links
 */

static void
s_on_peer_alive (const peer_t *p, void *arg)
{
    shed_nstate_t *self = arg;
    if (p->status != PEER_ALIVE)
        return; /* suspect: nothing changes for links */
    char z85[41];
    shed_key_to_z85 (p->key, z85);
    /* The directory has ALLOWed the key in our domain already. */
    self->round_trips++;
    links_peer_add (self->links, p->name, p->links, z85);
    /* The key its records must be signed with (docs/state.md, "Trust");
     * a member that does not advertise one has none of its records
     * accepted. */
    if (p->has_sigkey) {
        char sig_z85[41];
        shed_key_to_z85 (p->sigkey, sig_z85);
        self->round_trips++;
        links_origin_key (self->links, p->name, sig_z85);
    }
    self->round_trips++;
    links_origin_status (self->links, p->name, "alive");
}

static void
s_on_peer_failed (const peer_t *p, void *arg)
{
    shed_nstate_t *self = arg;
    self->round_trips++;
    links_origin_status (self->links, p->name, "unreachable");
}

static void
s_on_peer_removed (const peer_t *p, void *arg)
{
    shed_nstate_t *self = arg;
    /* The directory has DENYed the key in our domain already. */
    self->round_trips += 3;
    links_peer_remove (self->links, p->name);
    links_origin_key (self->links, p->name, "");
    links_origin_status (self->links, p->name, "removed");
}

/* -------------------------------------------------------------------------
 * API: shedctl state [KIND]
 */

typedef struct {
    api_staterec_t *items;
    size_t n, cap;
} collect_t;

static void
s_collect (const shed_record_t *rec, void *arg)
{
    collect_t *c = arg;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        if (cap > API_STATE_RECORDS_MAX)
            return;
        api_staterec_t *items = realloc (c->items, cap * sizeof *items);
        if (!items)
            return;
        c->items = items;
        c->cap = cap;
    }
    api_staterec_t *r = &c->items[c->n++];
    memset (r, 0, sizeof *r);
    snprintf (r->origin, sizeof r->origin, "%s", rec->origin);
    snprintf (r->kind, sizeof r->kind, "%s", rec->kind);
    snprintf (r->key, sizeof r->key, "%s", rec->key);
    snprintf (r->status, sizeof r->status, "%s", rec->status);
    r->version = rec->version;
    r->size = rec->len;
}

static void
s_api_state (shed_api_call_t *call, const api_msg_t *req, void *arg)
{
    shed_nstate_t *self = arg;
    collect_t c = { 0 };
    shed_nstate_list (self, req->u.api_state_req.kind, s_collect, &c);
    api_msg_t rep = { .hdr.type = API_STATE_REP };
    rep.u.api_state_rep.records.n = c.n;
    rep.u.api_state_rep.records.items = c.items;
    shed_api_reply (&call, &rep);
    free (c.items);
}

/* -------------------------------------------------------------------------
 * Lifecycle
 */

shed_nstate_t *
shed_nstate_new (const shed_config_t *cfg, const shed_identity_t *identity, zap_t *zap,
                 peer_dir_t *peers, zloop_t *loop, shed_api_server_t *api, char *err, size_t errlen)
{
    shed_nstate_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    self->loop = loop;
    snprintf (self->name, sizeof self->name, "%s", cfg->name);
    self->mirror = state_mirror_new (cfg->name);
    if (!self->mirror) {
        snprintf (err, errlen, "out of memory");
        free (self);
        return NULL;
    }
    char bind[PEER_ENDPOINT_MAX], domain[ZAP_DOMAIN_MAX + 1];
    peer_endpoint (bind, sizeof bind, cfg->bind_addr, cfg->bind_port, PEER_PORT_LINKS);
    /* Cut to fit, as the actor would cut its default. */
    snprintf (domain, sizeof domain, "links/%.58s", cfg->name);
    links_config_t lc = {
        .name = cfg->name,
        .endpoint = bind,
        .data_dir = cfg->data_dir,
        .public_key = shed_identity_x25519_public (identity),
        .secret_key = shed_identity_x25519_secret (identity),
        .zap = zap,
        .zap_domain = domain, /* the peer directory keeps it in step */
        /* 0 (a config not from shed_config_defaults) = the store's 1 h. */
        .tombstone_ttl_ms = (int64_t) cfg->state.tombstone_ttl_s * 1000,
        .identity = identity,
    };
    self->links = links_new (&lc, err, errlen);
    if (!self->links) {
        state_mirror_destroy (&self->mirror);
        free (self);
        return NULL;
    }
    snprintf (self->endpoint, sizeof self->endpoint, "%s", links_endpoint (self->links));
    self->events = zsock_new_sub (links_events_endpoint (self->links), "");
    if (!self->events) {
        snprintf (err, errlen, "cannot subscribe to state changes");
        shed_nstate_destroy (&self);
        return NULL;
    }
    if (s_seed (self) < 0) {
        snprintf (err, errlen, "state actor did not list its records");
        shed_nstate_destroy (&self);
        return NULL;
    }
    zloop_reader (loop, self->events, s_on_change, self);
    peer_dir_ops_t ops = { s_on_peer_alive, s_on_peer_alive, s_on_peer_failed, s_on_peer_removed };
    if (peer_dir_on_peer (peers, &ops, domain, self, err, errlen) != 0) {
        shed_nstate_destroy (&self);
        return NULL;
    }
    shed_api_server_on (api, API_STATE_REQ, s_api_state, self);
    log_info ("state", "node links up|endpoint=%s tombstone_ttl_ms=%lld", self->endpoint,
              (long long) lc.tombstone_ttl_ms);
    return self;
}

void
shed_nstate_destroy (shed_nstate_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    shed_nstate_t *self = *self_p;
    if (self->events && self->loop)
        zloop_reader_end (self->loop, self->events);
    zsock_destroy (&self->events);
    links_destroy (&self->links);
    state_mirror_destroy (&self->mirror);
    free (self);
    *self_p = NULL;
}
