/*
 * node_snaps_api.c - `shedctl snapshot ...` on any node (API types 80-83):
 * list and show read the replicated records; create and remove go to the
 * node that runs the shed or holds the data (snap.create, snap.remove).
 */
#include "node/snapshots/node_snaps_int.h"

#include "common/log.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static void
s_to_api (const rec_snapshot_t *r, api_snapshot_t *out)
{
    memset (out, 0, sizeof *out);
    snprintf (out->name, sizeof out->name, "%s", r->name);
    snprintf (out->shed, sizeof out->shed, "%s", r->shed);
    snprintf (out->node, sizeof out->node, "%s", r->node);
    snprintf (out->digest, sizeof out->digest, "%s", r->digest);
    out->size = r->size;
    snprintf (out->image, sizeof out->image, "%s", r->image);
    out->cpus_milli = r->cpus_milli;
    out->memory_mb = r->memory_mb;
    out->disk_mb = r->disk_mb;
    snprintf (out->ip, sizeof out->ip, "%s", r->ip);
    snprintf (out->mac, sizeof out->mac, "%s", r->mac);
    snprintf (out->mode, sizeof out->mode, "%s", r->mode);
    out->created_ms = r->created_ms;
    snprintf (out->driver, sizeof out->driver, "%s", r->driver);
}

void
snaps__reply_one (shed_api_call_t **call, const rec_snapshot_t *rec, int64_t took_ms)
{
    api_snapshot_t item;
    s_to_api (rec, &item);
    item.took_ms = took_ms > 0 ? (uint64_t) took_ms : 0;
    api_msg_t rep = { .hdr.type = API_SNAPSHOT_LIST_REP };
    rep.u.api_snapshot_list_rep.snapshots.n = 1;
    rep.u.api_snapshot_list_rep.snapshots.items = &item;
    shed_api_reply (call, &rep);
}

/* ---- create ------------------------------------------------------------------ */

typedef struct {
    shed_api_call_t *call;
    int64_t t0;
} s_routed_t;

static void
s_routed_created (int status, const char *error, const uint8_t *body, size_t len, void *arg)
{
    s_routed_t *r = (s_routed_t *) arg;
    rec_msg_t m;
    if (status != RPC_OK)
        shed_api_reply_error (&r->call, status > 0 ? API_ERR_INVALID : API_ERR_UNAVAILABLE, "%s",
                              error && *error ? error : "the shed's node did not answer");
    else if (wire_decode (&rec_proto, body, len, &m, NULL) != WIRE_OK
             || m.hdr.type != REC_SNAPSHOT) {
        shed_api_reply_error (&r->call, API_ERR_INTERNAL, "the shed's node answered garbage");
    }
    else {
        snaps__reply_one (&r->call, &m.u.rec_snapshot, zclock_mono () - r->t0);
        wire_msg_free (&rec_proto, &m);
    }
    free (r);
}

/* "<shed>-<UTC yyyymmdd-hhmmss>": sorts by time, fits the name rule. */
static void
s_default_name (const char *shed, char *out, size_t size)
{
    time_t now = time (NULL);
    struct tm tm;
    gmtime_r (&now, &tm);
    char stamp[32];
    strftime (stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
    snprintf (out, size, "%.47s-%.15s", shed, stamp);
}

static void
s_api_create (shed_api_call_t *call, const api_msg_t *msg, void *arg)
{
    shed_snaps_t *self = (shed_snaps_t *) arg;
    const api_snapshot_create_req_t *req = &msg->u.api_snapshot_create_req;
    char name[REC_NAME_MAX + 1];
    if (req->name[0])
        snprintf (name, sizeof name, "%s", req->name);
    else
        s_default_name (req->shed, name, sizeof name);
    char why[256] = "";
    if (snap_name_check (name, why, sizeof why) != 0) {
        shed_api_reply_error (&call, API_ERR_INVALID, "snapshot name %s: %s", name, why);
        return;
    }
    char owner[REC_NAME_MAX + 1] = "";
    if (!self->sched || shed_sched_owner (self->sched, req->shed, owner, sizeof owner) != 0) {
        shed_api_reply_error (&call, API_ERR_NOT_FOUND, "no shed named %s", req->shed);
        return;
    }
    if (streq (owner, self->name)) {
        snaps__capture (self, req->shed, name, (int) req->mode, &call, false, 0);
        return;
    }
    rec_msg_t existing;
    if (snaps__find (self, name, &existing)) {
        shed_api_reply_error (&call, API_ERR_INVALID, "a snapshot named %s exists (on %s)", name,
                              existing.u.rec_snapshot.node);
        wire_msg_free (&rec_proto, &existing);
        return;
    }
    snapx_msg_t m = { .hdr.type = SNAPX_CREATE };
    snprintf (m.u.snapx_create.shed, sizeof m.u.snapx_create.shed, "%s", req->shed);
    snprintf (m.u.snapx_create.name, sizeof m.u.snapx_create.name, "%s", name);
    m.u.snapx_create.mode = req->mode;
    uint8_t *buf = NULL;
    size_t len = 0;
    s_routed_t *r = (s_routed_t *) calloc (1, sizeof *r);
    if (!r || wire_encode (&snapx_proto, &m, &buf, &len) != WIRE_OK) {
        free (r);
        shed_api_reply_error (&call, API_ERR_INTERNAL, "out of memory");
        return;
    }
    r->call = call;
    r->t0 = zclock_mono ();
    if (shed_nrpc_call (self->rpc, owner, SNAPX_METHOD_CREATE, buf, len, SHED_SNAP_CREATE_MS,
                        s_routed_created, r)
        != 0) {
        shed_api_reply_error (&r->call, API_ERR_UNAVAILABLE, "cannot reach node %s", owner);
        free (r);
    }
    free (buf);
}

/* ---- list, show ----------------------------------------------------------------- */

typedef struct {
    const char *name, *shed;
    api_snapshot_t *items;
    size_t n, cap;
} s_list_t;

static void
s_list_one (const shed_record_t *rec, void *arg)
{
    s_list_t *l = (s_list_t *) arg;
    if (!streq (rec->status, "alive") || l->n >= API_SNAPSHOTS_MAX)
        return;
    if (l->name[0] && !streq (rec->key, l->name))
        return;
    rec_msg_t m;
    if (wire_decode (&rec_proto, rec->value, rec->len, &m, NULL) != WIRE_OK)
        return;
    if (m.hdr.type == REC_SNAPSHOT && streq (m.u.rec_snapshot.node, rec->origin)
        && (!l->shed[0] || streq (m.u.rec_snapshot.shed, l->shed))) {
        if (l->n == l->cap) {
            size_t cap = l->cap ? l->cap * 2 : 16;
            api_snapshot_t *grown =
                (api_snapshot_t *) realloc (l->items, cap * sizeof (api_snapshot_t));
            if (!grown) {
                wire_msg_free (&rec_proto, &m);
                return;
            }
            l->items = grown;
            l->cap = cap;
        }
        s_to_api (&m.u.rec_snapshot, &l->items[l->n++]);
    }
    wire_msg_free (&rec_proto, &m);
}

static void
s_api_list (shed_api_call_t *call, const api_msg_t *msg, void *arg)
{
    shed_snaps_t *self = (shed_snaps_t *) arg;
    const api_snapshot_list_req_t *req = &msg->u.api_snapshot_list_req;
    s_list_t l = { .name = req->name, .shed = req->shed };
    shed_nstate_list (self->state, REC_KIND_SNAPSHOT, s_list_one, &l);
    if (req->name[0] && l.n == 0) {
        shed_api_reply_error (&call, API_ERR_NOT_FOUND, "no snapshot named %s", req->name);
        free (l.items);
        return;
    }
    api_msg_t rep = { .hdr.type = API_SNAPSHOT_LIST_REP };
    rep.u.api_snapshot_list_rep.snapshots.n = l.n;
    rep.u.api_snapshot_list_rep.snapshots.items = l.items;
    shed_api_reply (&call, &rep);
    free (l.items);
}

/* ---- remove ------------------------------------------------------------------- */

static void
s_routed_removed (int status, const char *error, const uint8_t *body, size_t len, void *arg)
{
    shed_api_call_t *call = (shed_api_call_t *) arg;
    (void) body;
    (void) len;
    if (status != RPC_OK) {
        shed_api_reply_error (&call, status > 0 ? API_ERR_INVALID : API_ERR_UNAVAILABLE, "%s",
                              error && *error ? error : "the holder did not answer");
        return;
    }
    api_msg_t rep = { .hdr.type = API_OK };
    shed_api_reply (&call, &rep);
}

static void
s_api_rm (shed_api_call_t *call, const api_msg_t *msg, void *arg)
{
    shed_snaps_t *self = (shed_snaps_t *) arg;
    const char *name = msg->u.api_snapshot_rm_req.name;
    rec_msg_t m;
    if (!snaps__find (self, name, &m)) {
        shed_api_reply_error (&call, API_ERR_NOT_FOUND, "no snapshot named %s", name);
        return;
    }
    char holder[REC_NAME_MAX + 1];
    snprintf (holder, sizeof holder, "%s", m.u.rec_snapshot.node);
    wire_msg_free (&rec_proto, &m);
    if (streq (holder, self->name)) {
        char why[256] = "";
        if (snaps__remove_local (self, name, why, sizeof why) != 0) {
            shed_api_reply_error (&call, API_ERR_INTERNAL, "%s", why);
            return;
        }
        api_msg_t rep = { .hdr.type = API_OK };
        shed_api_reply (&call, &rep);
        return;
    }
    snapx_msg_t x = { .hdr.type = SNAPX_REMOVE };
    snprintf (x.u.snapx_remove.name, sizeof x.u.snapx_remove.name, "%s", name);
    uint8_t *buf = NULL;
    size_t len = 0;
    if (wire_encode (&snapx_proto, &x, &buf, &len) != WIRE_OK
        || shed_nrpc_call (self->rpc, holder, SNAPX_METHOD_REMOVE, buf, len, 0, s_routed_removed,
                           call)
               != 0)
        shed_api_reply_error (&call, API_ERR_UNAVAILABLE, "cannot reach node %s", holder);
    free (buf);
}

void
snaps__api_register (shed_snaps_t *self, shed_api_server_t *api)
{
    shed_api_server_on (api, API_SNAPSHOT_CREATE_REQ, s_api_create, self);
    shed_api_server_on (api, API_SNAPSHOT_LIST_REQ, s_api_list, self);
    shed_api_server_on (api, API_SNAPSHOT_RM_REQ, s_api_rm, self);
}
