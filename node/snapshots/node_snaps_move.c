/*
 * node_snaps_move.c - `shedctl move SHED [--to NODE]` (docs/snapshots.md,
 * "Move"). The node that runs the shed does it, whichever node was asked
 * (snap.move routes it there):
 *
 *   1. stop the shed and capture it stopped (shed_sched_snapshot, mode
 *      SHED_SCHED_SNAP_MOVE) into a snapshot of this node's store that is
 *      never listed ("mv-..."), hashed on commit;
 *   2. CLAIM on the target with the same name, resources and image, the
 *      snapshot to start from, the address to keep (move_ip), moves + 1
 *      and the original created_ms: the target fetches the data
 *      (snap.read), creates, starts, and answers when it runs;
 *   3. it runs there: the copy here goes (shed_sched_move_end: address
 *      lent, record deleted, driver remove); a failure anywhere starts it
 *      here again. The temporary snapshot goes on both nodes either way.
 *
 * If this node dies after the target started, the target's record wins by
 * its move count when this node comes back, and the copy left here is
 * removed then (node_sched.c, sched__moved_away).
 */
#include "node/snapshots/node_snaps_int.h"

#include "common/log.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    shed_snaps_t *snaps;
    char shed[REC_NAME_MAX + 1];
    char to[REC_NAME_MAX + 1];
    char snap[REC_NAME_MAX + 1];
    shed_api_call_t *call; /* asked here, or */
    bool has_token;        /* asked by a peer */
    uint64_t token;
    rec_msg_t own; /* our record at the start */
    uint64_t bytes;
    int64_t t0, t_captured, t_claimed;
} s_move_t;

static void
s_move_free (s_move_t *m)
{
    wire_msg_free (&rec_proto, &m->own);
    free (m);
}

static void
s_answer (s_move_t *m, const char *why)
{
    shed_snaps_t *self = m->snaps;
    int64_t now = zclock_mono ();
    if (why) {
        log_warn (S_COMP, "move failed|shed=%s to=%s why=\"%s\"", m->shed, m->to, why);
        snaps__progress (self, "move", m->snap, m->shed, m->to, m->bytes, m->bytes, "failed", why);
        if (m->call)
            shed_api_reply_error (&m->call, API_ERR_INVALID, "%s", why);
        else if (m->has_token)
            shed_nrpc_reply (self->rpc, m->token, SHED_NRPC_FAILED, why, NULL, 0);
        self->moves_failed++;
        return;
    }
    self->moves_ok++;
    snaps__progress (self, "move", m->snap, m->shed, m->to, m->bytes, m->bytes, "done", NULL);
    uint64_t capture = (uint64_t) (m->t_captured - m->t0);
    uint64_t claim = (uint64_t) (m->t_claimed - m->t_captured);
    uint64_t total = (uint64_t) (now - m->t0);
    log_info (S_COMP,
              "moved|shed=%s from=%s to=%s ip=%s bytes=%" PRIu64 " capture_ms=%" PRIu64
              " claim_ms=%" PRIu64 " total_ms=%" PRIu64,
              m->shed, self->name, m->to, m->own.u.rec_shed.ip, m->bytes, capture, claim, total);
    if (m->call) {
        api_msg_t rep = { .hdr.type = API_SHED_MOVE_REP };
        api_shed_move_rep_t *r = &rep.u.api_shed_move_rep;
        snprintf (r->name, sizeof r->name, "%s", m->shed);
        snprintf (r->from, sizeof r->from, "%s", self->name);
        snprintf (r->to, sizeof r->to, "%s", m->to);
        snprintf (r->ip, sizeof r->ip, "%s", m->own.u.rec_shed.ip);
        r->bytes = m->bytes;
        r->capture_ms = capture;
        r->claim_ms = claim;
        r->total_ms = total;
        shed_api_reply (&m->call, &rep);
    }
    else if (m->has_token) {
        snapx_msg_t x = { .hdr.type = SNAPX_MOVED };
        snapx_moved_t *r = &x.u.snapx_moved;
        snprintf (r->to, sizeof r->to, "%s", m->to);
        snprintf (r->from, sizeof r->from, "%s", self->name);
        snprintf (r->ip, sizeof r->ip, "%s", m->own.u.rec_shed.ip);
        r->bytes = m->bytes;
        r->capture_ms = capture;
        r->claim_ms = claim;
        r->total_ms = total;
        uint8_t *buf = NULL;
        size_t len = 0;
        if (wire_encode (&snapx_proto, &x, &buf, &len) == WIRE_OK)
            shed_nrpc_reply (self->rpc, m->token, RPC_OK, NULL, buf, len);
        else
            shed_nrpc_reply (self->rpc, m->token, SHED_NRPC_FAILED, "encode", NULL, 0);
        free (buf);
    }
}

static void
s_ignore (int status, const char *error, const uint8_t *body, size_t len, void *arg)
{
    (void) status;
    (void) error;
    (void) body;
    (void) len;
    (void) arg;
}

/* The temporary snapshot goes here, and its copy on the target. */
static void
s_drop_snapshot (s_move_t *m)
{
    shed_snaps_t *self = m->snaps;
    char why[256];
    snap_store_remove (self->store, m->snap, why, sizeof why);
    snapx_msg_t x = { .hdr.type = SNAPX_REMOVE };
    snprintf (x.u.snapx_remove.name, sizeof x.u.snapx_remove.name, "%s", m->snap);
    uint8_t *buf = NULL;
    size_t len = 0;
    if (m->to[0] && !self->closing && wire_encode (&snapx_proto, &x, &buf, &len) == WIRE_OK)
        shed_nrpc_call (self->rpc, m->to, SNAPX_METHOD_REMOVE, buf, len, 0, s_ignore, NULL);
    free (buf);
}

static void
s_claimed (int status, const char *error, const uint8_t *body, size_t len, void *arg)
{
    s_move_t *m = (s_move_t *) arg;
    shed_snaps_t *self = m->snaps;
    m->t_claimed = zclock_mono ();
    char why[600] = "";
    nsched_msg_t res;
    if (status != RPC_OK)
        snprintf (why, sizeof why, "node %s: %s", m->to, error && *error ? error : "no answer");
    else if (wire_decode (&nsched_proto, body, len, &res, NULL) != WIRE_OK
             || res.hdr.type != NSCHED_RESULT)
        snprintf (why, sizeof why, "node %s answered garbage", m->to);
    else {
        if (!res.u.nsched_result.ok)
            snprintf (why, sizeof why, "node %s: %s", m->to, res.u.nsched_result.why);
        wire_msg_free (&nsched_proto, &res);
    }
    if (!why[0] && getenv ("SHED_TEST_MOVE_CRASH")) {
        /* Fault injection for integration/test_move.sh: this node dies
         * between the target's "running" and the end of the move here, as
         * a kill -9 would; the copy left here must go when it comes back. */
        log_warn (S_COMP, "SHED_TEST_MOVE_CRASH: exiting before the move ends|shed=%s", m->shed);
        _exit (70);
    }
    if (!self->closing && self->sched)
        shed_sched_move_end (self->sched, m->shed, why[0] == 0, m->to);
    s_drop_snapshot (m);
    s_answer (m, why[0] ? why : NULL);
    s_move_free (m);
}

static void s_committed (shed_snaps_t *self, rec_snapshot_t *rec, int rc, const char *err,
                         void *arg);

static void
s_captured (int rc, const char *why, uint64_t bytes, uint64_t ms, const rec_shed_t *shed, void *arg)
{
    s_move_t *m = (s_move_t *) arg;
    shed_snaps_t *self = m->snaps;
    (void) ms;
    (void) bytes;
    m->t_captured = zclock_mono ();
    char reason[600];
    if (rc != 0 || !shed || self->closing) {
        snap_store_unstage (self->store, m->snap);
        snprintf (reason, sizeof reason, "capture of %s: %s", m->shed,
                  rc              ? why
                  : self->closing ? "node shutting down"
                                  : "the shed went");
        if (!self->closing)
            shed_sched_move_end (self->sched, m->shed, false, NULL);
        s_answer (m, reason);
        s_move_free (m);
        return;
    }
    rec_snapshot_t r;
    memset (&r, 0, sizeof r);
    snprintf (r.name, sizeof r.name, "%s", m->snap);
    snprintf (r.shed, sizeof r.shed, "%s", m->shed);
    snprintf (r.node, sizeof r.node, "%s", self->name);
    snprintf (r.image, sizeof r.image, "%s", shed->image);
    snprintf (r.mode, sizeof r.mode, "stop");
    snprintf (r.driver, sizeof r.driver, "%s", shed->driver);
    r.created_ms = snaps__wall_ms ();
    /* Hashed and taken in off the loop; the claim follows (s_committed). */
    if (snaps__commit_async (self, &r, s_committed, m) != 0) {
        snap_store_unstage (self->store, m->snap);
        snprintf (reason, sizeof reason, "capture of %s: cannot queue its commit", m->shed);
        shed_sched_move_end (self->sched, m->shed, false, NULL);
        s_answer (m, reason);
        s_move_free (m);
    }
}

static void
s_committed (shed_snaps_t *self, rec_snapshot_t *rec, int rc, const char *err, void *arg)
{
    s_move_t *m = (s_move_t *) arg;
    char reason[600];
    m->t_captured = zclock_mono (); /* stop, capture and hash */
    if (rc != 0 || self->closing) {
        snprintf (reason, sizeof reason, "capture of %s: %s", m->shed,
                  rc ? err : "node shutting down");
        if (!self->closing)
            shed_sched_move_end (self->sched, m->shed, false, NULL);
        s_answer (m, reason);
        s_move_free (m);
        return;
    }
    const rec_snapshot_t r = *rec;
    m->bytes = r.size;
    snaps__progress (self, "move", m->snap, m->shed, m->to, 0, r.size, "running",
                     "captured: the target fetches, creates, starts");
    log_info (S_COMP, "move: captured|shed=%s bytes=%" PRIu64 " to=%s", m->shed, r.size, m->to);
    /* The claim, as a create's, with the move's fields. */
    const rec_shed_t *o = &m->own.u.rec_shed;
    nsched_msg_t msg = { .hdr.type = NSCHED_CLAIM };
    nsched_claim_t *c = &msg.u.nsched_claim;
    snprintf (c->name, sizeof c->name, "%s", m->shed);
    snprintf (c->request_id, sizeof c->request_id, "%.40s-mv%" PRIu64 "-%08x", o->request_id,
              o->moves + 1, randombytes_random ());
    c->cpus_milli = o->cpus_milli;
    c->memory_mb = o->memory_mb;
    c->disk_mb = o->disk_mb;
    c->gpus = o->gpus;
    snprintf (c->image, sizeof c->image, "%s", o->image);
    c->tags = o->tags; /* borrowed */
    snprintf (c->snapshot, sizeof c->snapshot, "%s", r.name);
    snprintf (c->snapshot_node, sizeof c->snapshot_node, "%s", self->name);
    snprintf (c->snapshot_digest, sizeof c->snapshot_digest, "%s", r.digest);
    c->snapshot_size = r.size;
    snprintf (c->move_ip, sizeof c->move_ip, "%s", o->ip);
    c->moves = o->moves + 1;
    c->created_ms = o->created_ms;
    uint8_t *buf = NULL;
    size_t len = 0;
    if (wire_encode (&nsched_proto, &msg, &buf, &len) != WIRE_OK
        || shed_nrpc_call (self->rpc, m->to, "claim", buf, len, SHED_SNAP_CREATE_MS, s_claimed, m)
               != 0) {
        free (buf);
        snprintf (reason, sizeof reason, "node %s is not reachable", m->to);
        shed_sched_move_end (self->sched, m->shed, false, NULL);
        s_drop_snapshot (m);
        s_answer (m, reason);
        s_move_free (m);
        return;
    }
    free (buf);
}

void
snaps__move (shed_snaps_t *self, const char *shed, const char *to, shed_api_call_t **call,
             bool has_token, uint64_t token)
{
    char why[512] = "";
    s_move_t *m = (s_move_t *) calloc (1, sizeof *m);
    if (!m)
        snprintf (why, sizeof why, "out of memory");
    else if (self->closing || !self->sched)
        snprintf (why, sizeof why, "node %s is shutting down", self->name);
    else if (!shed_sched_shed (self->sched, shed, &m->own))
        snprintf (why, sizeof why, "shed %s does not run on node %s", shed, self->name);
    else if (!streq (m->own.u.rec_shed.state, "running")
             && !streq (m->own.u.rec_shed.state, "stopped"))
        snprintf (why, sizeof why, "shed %s is %s: only a running or stopped shed moves", shed,
                  m->own.u.rec_shed.state);
    else if (to && *to) {
        if (streq (to, self->name))
            snprintf (why, sizeof why, "shed %s already runs on %s", shed, to);
        else
            snprintf (m->to, sizeof m->to, "%s", to);
    }
    else {
        char cand[1][REC_NAME_MAX + 1];
        char explain[400] = "";
        if (shed_sched_candidates (self->sched, &m->own.u.rec_shed, self->name, cand, 1, explain,
                                   sizeof explain)
            == 0)
            snprintf (why, sizeof why, "no node can take %s: %s", shed,
                      explain[0] ? explain : "no other node");
        else
            snprintf (m->to, sizeof m->to, "%s", cand[0]);
    }
    char path[PATH_MAX];
    if (!why[0]) {
        snprintf (m->snap, sizeof m->snap, "mv-%08x-%.48s", randombytes_random (), shed);
        if (snap_store_stage_path (self->store, m->snap, path, sizeof path) != 0)
            snprintf (why, sizeof why, "cannot stage the capture of %s", shed);
    }
    if (!why[0]) {
        m->snaps = self;
        snprintf (m->shed, sizeof m->shed, "%s", shed);
        m->t0 = zclock_mono ();
        if (call) {
            m->call = *call;
            *call = NULL;
        }
        m->has_token = has_token;
        m->token = token;
        char err[256] = "";
        if (shed_sched_snapshot (self->sched, shed, path, SHED_SCHED_SNAP_MOVE, s_captured, m, err,
                                 sizeof err)
            == 0) {
            log_info (S_COMP, "move|shed=%s from=%s to=%s", shed, self->name, m->to);
            snaps__progress (self, "move", m->snap, shed, m->to, 0, 0, "running",
                             "stopping and capturing");
            return;
        }
        snap_store_unstage (self->store, m->snap);
        snprintf (why, sizeof why, "move of %s: %s", shed, err);
        if (m->call)
            shed_api_reply_error (&m->call, API_ERR_INVALID, "%s", why);
        else if (has_token)
            shed_nrpc_reply (self->rpc, token, SHED_NRPC_FAILED, why, NULL, 0);
        s_move_free (m);
        return;
    }
    if (m)
        s_move_free (m);
    if (call)
        shed_api_reply_error (call, API_ERR_INVALID, "%s", why);
    else
        shed_nrpc_reply (self->rpc, token, SHED_NRPC_FAILED, why, NULL, 0);
}

/* ---- asked on another node: routed to the shed's ---------------------------- */

static void
s_routed (int status, const char *error, const uint8_t *body, size_t len, void *arg)
{
    shed_api_call_t *call = (shed_api_call_t *) ((void **) arg)[0];
    char *name = (char *) ((void **) arg)[1];
    free (arg);
    snapx_msg_t x;
    if (status != RPC_OK)
        shed_api_reply_error (&call, status > 0 ? API_ERR_INVALID : API_ERR_UNAVAILABLE, "%s",
                              error && *error ? error : "the shed's node did not answer");
    else if (wire_decode (&snapx_proto, body, len, &x, NULL) != WIRE_OK
             || x.hdr.type != SNAPX_MOVED)
        shed_api_reply_error (&call, API_ERR_INTERNAL, "the shed's node answered garbage");
    else {
        api_msg_t rep = { .hdr.type = API_SHED_MOVE_REP };
        api_shed_move_rep_t *r = &rep.u.api_shed_move_rep;
        const snapx_moved_t *d = &x.u.snapx_moved;
        snprintf (r->name, sizeof r->name, "%s", name);
        snprintf (r->from, sizeof r->from, "%s", d->from);
        snprintf (r->to, sizeof r->to, "%s", d->to);
        snprintf (r->ip, sizeof r->ip, "%s", d->ip);
        r->bytes = d->bytes;
        r->capture_ms = d->capture_ms;
        r->claim_ms = d->claim_ms;
        r->total_ms = d->total_ms;
        shed_api_reply (&call, &rep);
        wire_msg_free (&snapx_proto, &x);
    }
    free (name);
}

static void
s_api_move (shed_api_call_t *call, const api_msg_t *msg, void *arg)
{
    shed_snaps_t *self = (shed_snaps_t *) arg;
    const api_shed_move_req_t *req = &msg->u.api_shed_move_req;
    char owner[REC_NAME_MAX + 1] = "";
    if (!self->sched || shed_sched_owner (self->sched, req->name, owner, sizeof owner) != 0) {
        shed_api_reply_error (&call, API_ERR_NOT_FOUND, "no shed named %s", req->name);
        return;
    }
    if (streq (owner, self->name)) {
        snaps__move (self, req->name, req->node, &call, false, 0);
        return;
    }
    snapx_msg_t x = { .hdr.type = SNAPX_MOVE };
    snprintf (x.u.snapx_move.name, sizeof x.u.snapx_move.name, "%s", req->name);
    snprintf (x.u.snapx_move.to, sizeof x.u.snapx_move.to, "%s", req->node);
    uint8_t *buf = NULL;
    size_t len = 0;
    void **ctx = (void **) calloc (2, sizeof (void *));
    if (!ctx || wire_encode (&snapx_proto, &x, &buf, &len) != WIRE_OK) {
        free (ctx);
        shed_api_reply_error (&call, API_ERR_INTERNAL, "out of memory");
        return;
    }
    ctx[0] = call;
    ctx[1] = strdup (req->name);
    if (!ctx[1]
        || shed_nrpc_call (self->rpc, owner, SNAPX_METHOD_MOVE, buf, len, SHED_SNAP_CREATE_MS,
                           s_routed, ctx)
               != 0) {
        free (ctx[1]);
        free (ctx);
        shed_api_reply_error (&call, API_ERR_UNAVAILABLE, "cannot reach node %s", owner);
    }
    free (buf);
}

static void
s_rpc_move (shed_nrpc_t *rpc, const char *peer, uint64_t token, const uint8_t *body, size_t len,
            void *arg)
{
    shed_snaps_t *self = (shed_snaps_t *) arg;
    snapx_msg_t x;
    if (wire_decode (&snapx_proto, body, len, &x, NULL) != WIRE_OK || x.hdr.type != SNAPX_MOVE) {
        self->rpc_malformed++;
        shed_nrpc_reply (rpc, token, SHED_NRPC_FAILED, "malformed snap.move", NULL, 0);
        return;
    }
    log_debug (S_COMP, "move asked|peer=%s shed=%s to=%s", peer, x.u.snapx_move.name,
               x.u.snapx_move.to);
    snaps__move (self, x.u.snapx_move.name, x.u.snapx_move.to, NULL, true, token);
    wire_msg_free (&snapx_proto, &x);
}

int
snaps__move_register (shed_snaps_t *self, shed_api_server_t *api)
{
    shed_api_server_on (api, API_SHED_MOVE_REQ, s_api_move, self);
    return shed_nrpc_on (self->rpc, SNAPX_METHOD_MOVE, s_rpc_move, self);
}
