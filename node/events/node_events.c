/* node_events.c - see node_events.h. */
#include "node/events/node_events.h"

#include "bridges/bus.h"
#include "common/log.h"
#include "crypto/identity.h"
#include "node/state/node_record.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_COMP "events"

/* Copy a string into a fixed field, cutting it if it must (names are
 * validated elsewhere; this only keeps the compiler's truncation checks
 * meaningful). */
static void
s_copy (char *dst, size_t cap, const char *src)
{
    size_t n = strnlen (src, cap - 1);
    memcpy (dst, src, n);
    dst[n] = '\0';
}

/* A peer the bus links to, as we last told it (so a tags-only update does
 * not tear down a working link), and a pending removal. */
typedef struct {
    char name[SHED_NAME_MAX + 1];
    char endpoint[128];
    char z85[41];
    int64_t remove_at;      /* mono ms; 0 = not leaving */
    unsigned event_version; /* as the bus has it (PEER-VERSION) */
} s_peer_t;

struct _shed_events_t {
    bus_t *bus;
    zloop_t *loop;           /* borrowed */
    shed_members_t *members; /* borrowed */
    shed_nstate_t *state;    /* borrowed: peers' node records */
    char name[SHED_NAME_MAX + 1];
    char local[SHED_ENDPOINT_MAX + 8];
    char ipc_path[SHED_ENDPOINT_MAX];
    zhashx_t *peers; /* name -> s_peer_t */
    int linger_timer;
    char consumer_listen[96]; /* "tcp://..." of remote consumers, "" = none */
    zhashx_t *consumers;      /* Z85 keys allowed there now (value unused) */
    bool left;                /* published our leave already */
    uint64_t dropped;         /* bus pipe full */
    uint64_t published;
};

static void
s_peer_free (void **item)
{
    free (*item);
    *item = NULL;
}

/* -------------------------------------------------------------------------
 * Publishing
 */

int
shed_events_publish (shed_events_t *self, const char *topic, const char *kind, const void *payload,
                     size_t size)
{
    assert (self);
    if (!event_topic_valid (topic)) {
        self->dropped++;
        return -1;
    }
    if (bus_publish (self->bus, topic, kind, payload, size) != 0) {
        /* The bus is behind by a whole pipe: dropping here keeps the main
         * loop (API, membership) responsive; consumers see the tseq gap. */
        if (self->dropped++ % 1000 == 0)
            log_warn (S_COMP, "bus pipe full: event dropped|topic=%s dropped=%llu", topic,
                      (unsigned long long) self->dropped);
        return -1;
    }
    self->published++;
    return 0;
}

int
shed_events_publish_progress (shed_events_t *self, const char *family, const char *name,
                              const evpay_progress_t *progress)
{
    char topic[EVENT_TOPIC_MAX + 1];
    int n = snprintf (topic, sizeof topic, "%s.%s.%s", family, self->name, name);
    if (n <= 0 || (size_t) n >= sizeof topic) {
        self->dropped++;
        return -1;
    }
    evpay_msg_t m = { .hdr.type = EVPAY_PROGRESS };
    m.u.evpay_progress = *progress;
    uint8_t *buf = NULL;
    size_t len = 0;
    if (wire_encode (&evpay_proto, &m, &buf, &len) != WIRE_OK) {
        self->dropped++;
        return -1;
    }
    int rc = shed_events_publish (self, topic, EVPAY_KIND_PROGRESS, buf, len);
    free (buf);
    return rc;
}

static void
s_publish_member (shed_events_t *self, const char *change, const gossip_update_t *m,
                  const char *reason)
{
    evpay_msg_t msg = { .hdr.type = EVPAY_MEMBER };
    evpay_member_t *p = &msg.u.evpay_member;
    s_copy (p->node, sizeof p->node, m->name);
    snprintf (p->change, sizeof p->change, "%s", change);
    snprintf (p->observer, sizeof p->observer, "%s", self->name);
    snprintf (p->addr, sizeof p->addr, "%.*s", (int) sizeof p->addr - 1, m->addr);
    p->port = m->port;
    p->inc = m->inc;
    p->tags = m->tags; /* borrowed for the encoding only */
    if (p->tags.n > EVPAY_TAGS_MAX)
        p->tags.n = EVPAY_TAGS_MAX;
    snprintf (p->reason, sizeof p->reason, "%s", reason ? reason : "");
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = wire_encode (&evpay_proto, &msg, &buf, &len);
    if (rc != WIRE_OK) {
        log_warn (S_COMP, "member event not encodable|member=%s reason=\"%s\"", m->name,
                  wire_strerror (rc));
        return;
    }
    char topic[EVENT_TOPIC_MAX + 1];
    snprintf (topic, sizeof topic, "member.%s", m->name);
    shed_events_publish (self, topic, EVPAY_KIND_MEMBER, buf, len);
    free (buf);
}

void
shed_events_leaving (shed_events_t *self)
{
    if (!self || self->left)
        return;
    gossip_msg_t list;
    if (shed_members_list (self->members, &list) != 0)
        return;
    const gossip_members_t *ms = &list.u.gossip_members;
    for (size_t i = 0; i < ms->members.n; i++)
        if (strcmp (ms->members.items[i].name, self->name) == 0) {
            s_publish_member (self, "leave", &ms->members.items[i], "");
            self->left = true;
        }
    wire_msg_free (&gossip_proto, &list);
}

/* -------------------------------------------------------------------------
 * Membership -> bus
 */

static void
s_peer_drop (shed_events_t *self, s_peer_t *peer)
{
    bus_peer_remove (self->bus, peer->name);
    bus_deny (self->bus, peer->z85);
    log_debug (S_COMP, "peer removed|peer=%s", peer->name);
    zhashx_delete (self->peers, peer->name);
}

static int
s_on_linger (zloop_t *loop, int timer_id, void *arg)
{
    shed_events_t *self = arg;
    int64_t now = zclock_mono ();
    s_peer_t *due = NULL;
    do {
        due = NULL;
        for (s_peer_t *p = zhashx_first (self->peers); p; p = zhashx_next (self->peers))
            if (p->remove_at && p->remove_at <= now) {
                due = p;
                break;
            }
        if (due)
            s_peer_drop (self, due);
    } while (due);
    return 0;
}

/* Membership -> the bus's own events about members (peers come from the
 * peer directory, below). */
static void
s_on_member (const char *kind, const gossip_update_t *m, const char *reason, void *arg)
{
    shed_events_t *self = arg;
    bool alive = !strcmp (kind, "join") || (!strcmp (kind, "update") && m->kind == SWIM_UPD_ALIVE);
    if (strcmp (m->name, self->name) == 0) {
        /* Our own changes: published by us only, once for the cluster. */
        if (alive)
            s_publish_member (self, kind, m, reason);
        return;
    }
    if (!strcmp (kind, "suspect") || !strcmp (kind, "fail")) {
        /* An observation: every node that sees it says so under its own
         * origin, tagged with itself as observer. */
        s_publish_member (self, kind, m, reason);
    }
}

/* Tell the bus which batches `peer` reads (it batches at the lowest
 * version of its members, docs/events.md "Mixed versions"). Node records
 * change on every admission, so only a different version is sent. */
static void
s_peer_version (shed_events_t *self, s_peer_t *peer, unsigned version)
{
    if (peer->event_version == version)
        return;
    if (bus_peer_version (self->bus, peer->name, version) == 0) {
        log_debug (S_COMP, "peer event version|peer=%s version=%u", peer->name, version);
        peer->event_version = version;
    }
}

/* Peer directory -> bus. The bus keeps its own allow-list (registered
 * without a ZAP domain): a leaving peer stays admitted for a linger. */
static void
s_on_peer_alive (const peer_t *p, void *arg)
{
    shed_events_t *self = arg;
    if (p->status != PEER_ALIVE || !event_node_valid (p->name))
        return;
    char z85[41];
    shed_key_to_z85 (p->key, z85);
    s_peer_t *peer = zhashx_lookup (self->peers, p->name);
    if (peer && !strcmp (peer->endpoint, p->bus) && !strcmp (peer->z85, z85)) {
        peer->remove_at = 0; /* came back before we let go */
        return;
    }
    if (!peer) {
        peer = zmalloc (sizeof *peer);
        s_copy (peer->name, sizeof peer->name, p->name);
        peer->event_version = EVENT_VERSION_BATCH; /* what the bus assumes of a new member */
        zhashx_insert (self->peers, p->name, peer);
    }
    else if (strcmp (peer->z85, z85) != 0)
        bus_deny (self->bus, peer->z85);
    snprintf (peer->endpoint, sizeof peer->endpoint, "%s", p->bus);
    memcpy (peer->z85, z85, sizeof peer->z85);
    peer->remove_at = 0;
    /* ALLOW first: the peer may dial our origin publisher as soon as it
     * hears of us, and a refused handshake is re-dialled by the bus only
     * after a backoff. */
    bus_allow (self->bus, z85);
    if (bus_peer_add (self->bus, p->name, p->bus, z85) != 0) {
        log_warn (S_COMP, "bus refused peer|peer=%s endpoint=%s", p->name, p->bus);
        return;
    }
    log_debug (S_COMP, "peer added|peer=%s endpoint=%s", p->name, p->bus);
    /* Its node record may have arrived before it became a peer. Until it
     * does, the bus batches at version 2 (any member reads it). */
    shed_record_t rec;
    if (self->state && shed_nstate_find (self->state, p->name, REC_KIND_NODE, p->name, &rec))
        s_peer_version (self, peer, shed_noderec_event_version (rec.value, rec.len));
}

/* A peer's node record changed: the batches it reads may have. */
static void
s_on_node_record (const shed_record_t *rec, void *arg)
{
    shed_events_t *self = arg;
    if (!rec->origin || !rec->key || strcmp (rec->origin, rec->key) != 0
        || !strcmp (rec->origin, self->name) || !strcmp (rec->event, "ORIGIN"))
        return;
    s_peer_t *peer = zhashx_lookup (self->peers, rec->origin);
    if (!peer)
        return;
    bool gone = !strcmp (rec->event, "DELETED");
    s_peer_version (self, peer,
                    gone ? EVENT_VERSION_BATCH : shed_noderec_event_version (rec->value, rec->len));
}

static void
s_on_peer_removed (const peer_t *p, void *arg)
{
    shed_events_t *self = arg;
    s_peer_t *peer = zhashx_lookup (self->peers, p->name);
    if (peer && !peer->remove_at)
        peer->remove_at = zclock_mono () + SHED_EVENTS_LINGER_MS;
}

/* -------------------------------------------------------------------------
 * API
 */

static void
s_api_events (shed_api_call_t *call, const api_msg_t *req, void *arg)
{
    shed_events_t *self = arg;
    api_msg_t rep = { .hdr.type = API_EVENTS_REP };
    api_events_rep_t *r = &rep.u.api_events_rep;
    snprintf (r->local, sizeof r->local, "%.*s", (int) sizeof r->local - 1, self->local);
    bus_endpoints (self->bus, r->origin, NULL, r->remote,
                   sizeof r->origin < sizeof r->remote ? sizeof r->origin : sizeof r->remote);
    char *stats = bus_stats (self->bus);
    snprintf (r->stats, sizeof r->stats, "%s", stats ? stats : "");
    zstr_free (&stats);
    r->dropped = self->dropped;
    shed_api_reply (&call, &rep);
}

/* Leaving through the API: our leave event goes out first, while the
 * links are still up (node_members' own handler has no hook for it). */
static void
s_api_leave (shed_api_call_t *call, const api_msg_t *req, void *arg)
{
    shed_events_t *self = arg;
    shed_events_leaving (self);
    shed_members_leave (self->members);
    api_msg_t rep = { .hdr.type = API_OK };
    snprintf (rep.u.api_ok.message, sizeof rep.u.api_ok.message,
              "%s left the cluster; stop the daemon or 'shedctl join' to come back", self->name);
    shed_api_reply (&call, &rep);
}

/* -------------------------------------------------------------------------
 * Records -> events
 */

static void
s_on_record (const shed_record_t *rec, void *arg)
{
    shed_events_t *self = arg;
    /* Every node holds every record; only the owner publishes its change,
     * so a consumer sees it once. */
    if (strcmp (rec->origin, self->name) != 0 || !rec->event[0] || !strcmp (rec->event, "ORIGIN"))
        return;
    char topic[EVENT_TOPIC_MAX + 1];
    int n;
    if (!strcmp (rec->kind, "service")) {
        /* key "<name>/<id>": the topic names the service */
        size_t nl = strcspn (rec->key, "/");
        n = snprintf (topic, sizeof topic, "service.%.*s", (int) nl, rec->key);
    }
    else
        n = snprintf (topic, sizeof topic, "shed.%s.%s", self->name, rec->key);
    if (n < 0 || (size_t) n >= sizeof topic)
        return;
    evpay_msg_t msg = { .hdr.type = EVPAY_RECORD };
    evpay_record_t *p = &msg.u.evpay_record;
    char change[16];
    snprintf (change, sizeof change, "%s", rec->event);
    for (char *c = change; *c; c++)
        *c = (char) (*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
    snprintf (p->change, sizeof p->change, "%s", change);
    snprintf (p->origin, sizeof p->origin, "%s", rec->origin);
    snprintf (p->rkind, sizeof p->rkind, "%s", rec->kind);
    snprintf (p->key, sizeof p->key, "%s", rec->key);
    p->version = rec->version;
    snprintf (p->status, sizeof p->status, "%s", rec->status);
    p->value.data = (uint8_t *) (uintptr_t) rec->value;
    p->value.len = rec->len;
    uint8_t *buf = NULL;
    size_t len = 0;
    if (wire_encode (&evpay_proto, &msg, &buf, &len) == WIRE_OK)
        shed_events_publish (self, topic, EVPAY_KIND_RECORD, buf, len);
    free (buf);
}

/* -------------------------------------------------------------------------
 * Lifecycle
 */

const char *
shed_events_endpoint (shed_events_t *self)
{
    assert (self);
    return self->local;
}

char *
shed_events_stats (shed_events_t *self)
{
    assert (self);
    return bus_stats (self->bus);
}

uint64_t
shed_events_dropped (shed_events_t *self)
{
    assert (self);
    return self->dropped;
}

/* Read the remote consumers' keys listed in `path`: one base64 X25519
 * public key per line (as `shedctl keygen --identity` prints it); blank
 * lines and lines starting with '#' are skipped. A new set of Z85 keys, or
 * NULL with "events.consumer_keys FILE:LINE: why": all or nothing, so a bad
 * edit never half-applies. */
static zhashx_t *
s_read_consumers (const char *path, char *err, size_t errlen)
{
    FILE *f = fopen (path, "r");
    if (!f) {
        snprintf (err, errlen, "events.consumer_keys %s: %s", path, strerror (errno));
        return NULL;
    }
    zhashx_t *keys = zhashx_new ();
    if (!keys) {
        fclose (f);
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    char line[256];
    int lineno = 0;
    while (fgets (line, sizeof line, f)) {
        lineno++;
        char *p = line + strspn (line, " \t");
        p[strcspn (p, " \t\r\n")] = '\0';
        if (!*p || *p == '#')
            continue;
        uint8_t key[32];
        char z85[41];
        if (shed_key_from_text (p, key) != 0) {
            snprintf (err, errlen, "events.consumer_keys %s:%d: not a base64 32-byte public key",
                      path, lineno);
            zhashx_destroy (&keys);
            break;
        }
        shed_key_to_z85 (key, z85);
        zhashx_insert (keys, z85, (void *) 1);
    }
    fclose (f);
    return keys;
}

/* Make the bus's consumer allow-list the set in `path`: allow the new
 * keys, deny the removed ones (which cuts their open sessions, bus.h
 * CONSUMER-DENY). 1 if the set changed, 0 if not, -1 with a reason (the
 * old set stays in force). */
static int
s_apply_consumers (shed_events_t *self, const char *path, size_t *added, size_t *removed, char *err,
                   size_t errlen)
{
    *added = *removed = 0;
    zhashx_t *next = s_read_consumers (path, err, errlen);
    if (!next)
        return -1;
    for (void *v = zhashx_first (next); v; v = zhashx_next (next)) {
        const char *z85 = zhashx_cursor (next);
        if (self->consumers && zhashx_lookup (self->consumers, z85))
            continue;
        if (bus_consumer_allow (self->bus, z85) != 0) {
            snprintf (err, errlen, "events.consumer_keys %s: the bus refused a key", path);
            zhashx_destroy (&next);
            return -1;
        }
        (*added)++;
    }
    /* Denials last: a key moved between lines is never refused meanwhile. */
    for (void *v = self->consumers ? zhashx_first (self->consumers) : NULL; v;
         v = zhashx_next (self->consumers)) {
        const char *z85 = zhashx_cursor (self->consumers);
        if (zhashx_lookup (next, z85))
            continue;
        if (bus_consumer_deny (self->bus, z85) != 0)
            log_warn (S_COMP, "the bus did not deny a removed consumer key|file=%s", path);
        (*removed)++;
    }
    zhashx_destroy (&self->consumers);
    self->consumers = next;
    return *added || *removed ? 1 : 0;
}

int
shed_events_reload_consumers (shed_events_t *self, const shed_config_t *cfg,
                              shed_events_keys_t *out, char *err, size_t errlen)
{
    assert (self);
    memset (out, 0, sizeof *out);
    if (!self->consumer_listen[0])
        return 0; /* no remote endpoint: consumer_listen needs a restart */
    if (!cfg->events.consumer_keys[0]) {
        snprintf (err, errlen,
                  "events.consumer_listen needs events.consumer_keys (a file of the "
                  "consumers' public keys)");
        return -1;
    }
    int rc = s_apply_consumers (self, cfg->events.consumer_keys, &out->added, &out->removed, err,
                                errlen);
    if (rc < 0)
        return -1;
    out->keys = zhashx_size (self->consumers);
    return rc;
}

shed_events_t *
shed_events_new (const shed_config_t *cfg, const shed_identity_t *identity, zap_t *zap,
                 shed_members_t *members, peer_dir_t *peers, shed_nstate_t *state, zloop_t *loop,
                 shed_api_server_t *api, char *err, size_t errlen)
{
    if (!event_node_valid (cfg->name)) {
        snprintf (err, errlen,
                  "events: node name '%s' cannot be an event origin "
                  "(letters, digits, '-' and '_' only)",
                  cfg->name);
        return NULL;
    }
    shed_events_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    self->loop = loop;
    self->members = members;
    self->state = state;
    snprintf (self->name, sizeof self->name, "%s", cfg->name);
    self->peers = zhashx_new ();
    zhashx_set_destructor (self->peers, s_peer_free);

    char origin[PEER_ENDPOINT_MAX];
    peer_endpoint (origin, sizeof origin, cfg->bind_addr, cfg->bind_port, PEER_PORT_BUS);
    snprintf (self->ipc_path, sizeof self->ipc_path, "%s/%s", cfg->data_dir, EVENT_IPC_NAME);
    snprintf (self->local, sizeof self->local, "ipc://%s", self->ipc_path);
    /* A stale socket from a crash would make the bind fail; the data dir
     * is ours (locked), so nobody else can be using it. */
    unlink (self->ipc_path);
    /* The agent host publishes straight to the bus on this socket
     * (node_agents.c builds the same name), skipping our thread. */
    char publish[SHED_ENDPOINT_MAX + 64];
    snprintf (publish, sizeof publish, BUS_PUBLISH_INPROC_FMT, cfg->data_dir);
    /* Remote consumers: only with a list of the keys they may use. */
    char consumer[96] = "";
    if (cfg->events.consumer_listen[0]) {
        if (!cfg->events.consumer_keys[0]) {
            snprintf (err, errlen,
                      "events.consumer_listen needs events.consumer_keys (a file "
                      "of the consumers' public keys)");
            shed_events_destroy (&self);
            return NULL;
        }
        snprintf (consumer, sizeof consumer, "tcp://%s", cfg->events.consumer_listen);
    }
    bus_config_t bc = {
        .consumer_endpoint = consumer[0] ? consumer : NULL,
        .publish_endpoint = publish,
        .name = cfg->name,
        .public_key = shed_identity_x25519_public (identity),
        .secret_key = shed_identity_x25519_secret (identity),
        .zap = zap,
        .origin_endpoint = origin,
        .ipc_endpoint = self->local,
    };
    /* The bus binds under our umask; tighten it so only this user can read
     * every event of the cluster from the ipc socket. */
    mode_t old = umask (0077);
    self->bus = bus_new (&bc, err, errlen);
    umask (old);
    if (!self->bus) {
        shed_events_destroy (&self);
        return NULL;
    }
    if (consumer[0]) {
        size_t added, removed;
        snprintf (self->consumer_listen, sizeof self->consumer_listen, "%s", consumer);
        if (s_apply_consumers (self, cfg->events.consumer_keys, &added, &removed, err, errlen)
            < 0) {
            shed_events_destroy (&self);
            return NULL;
        }
        log_info (S_COMP, "remote consumers admitted|keys=%zu file=%s", added,
                  cfg->events.consumer_keys);
    }
    if (chmod (self->ipc_path, 0600) != 0)
        log_warn (S_COMP, "cannot chmod the events socket|path=%s reason=\"%s\"", self->ipc_path,
                  strerror (errno));
    self->linger_timer = zloop_timer (loop, 250, 0, s_on_linger, self);
    shed_members_on_event (members, s_on_member, self);
    peer_dir_ops_t ops = { s_on_peer_alive, s_on_peer_alive, NULL, s_on_peer_removed };
    if (peer_dir_on_peer (peers, &ops, NULL, self, err, errlen) != 0) {
        shed_events_destroy (&self);
        return NULL;
    }
    shed_nstate_on_change (state, REC_KIND_NODE, s_on_node_record, self);
    shed_nstate_on_change (state, "service", s_on_record, self);
    shed_nstate_on_change (state, "shed", s_on_record, self);
    shed_api_server_on (api, API_EVENTS_REQ, s_api_events, self);
    shed_api_server_on (api, API_LEAVE_REQ, s_api_leave, self);
    log_info (S_COMP, "event bus up|origin=%s local=%s remote=%s", origin, self->local,
              consumer[0] ? consumer : "-");
    return self;
}

void
shed_events_destroy (shed_events_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    shed_events_t *self = *self_p;
    if (self->linger_timer > 0 && self->loop)
        zloop_timer_end (self->loop, self->linger_timer);
    bus_destroy (&self->bus);
    if (self->ipc_path[0])
        unlink (self->ipc_path);
    zhashx_destroy (&self->peers);
    zhashx_destroy (&self->consumers);
    free (self);
    *self_p = NULL;
}
