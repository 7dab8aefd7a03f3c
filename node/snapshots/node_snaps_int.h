/*
 * node_snaps_int.h - what the files of the snapshot component share
 * (node_snaps.c: records, captures, RPC methods; node_snaps_api.c: the
 * API; node_snaps_fetch.c: fetches, their file work on snap_xfer_worker). Not for other components.
 */
#ifndef SHED_NODE_SNAPS_INT_H
#define SHED_NODE_SNAPS_INT_H

#include "node/snapshots/node_snaps.h"
#include "node/snapshots/snap_proto.h"
#include "node/snapshots/snap_store.h"
#include "node/snapshots/snap_xfer.h"
#include "node/snapshots/snap_xfer_worker.h"

#include "bridges/event_msg.h"

#include <limits.h>

#define S_COMP "snapshots"

/* A capture in progress here: who asked (an API call, or a peer's
 * snap.create request by token). */
typedef struct {
    struct _shed_snaps_t *snaps;
    char name[REC_NAME_MAX + 1];
    char shed[REC_NAME_MAX + 1];
    int mode;
    int code; /* api_err_code_t of a failure */
    int64_t t0;
    shed_api_call_t *call;
    bool has_token;
    uint64_t token;
    uint64_t bytes, driver_ms; /* what the driver wrote, how long it took */
    void *handle;              /* in captures */
} snaps_capture_t;

struct _shed_snaps_t {
    const shed_config_t *cfg;
    char name[REC_NAME_MAX + 1];
    shed_nstate_t *state;
    shed_nrpc_t *rpc;
    shed_sched_t *sched;
    shed_events_t *events; /* progress events; may be NULL */
    zloop_t *loop;
    snap_store_t *store;
    bool closing;
    uint8_t *scratch;          /* SNAPX_CHUNK_MAX: snap.read answers */
    zlistx_t *captures;        /* snaps_capture_t (owned) */
    zlistx_t *fetches;         /* snaps_fetch_t (node_snaps_fetch.c) */
    snap_xfer_worker_t *xfers; /* the fetches' file work, off the loop */
    zactor_t *committer;       /* node_snaps_commit.c */
    uint64_t captures_ok, captures_failed, fetches_ok, fetches_failed;
    uint64_t fetched_bytes, resumed_bytes, served_bytes, read_retries, rpc_malformed;
    uint64_t moves_ok, moves_failed;
};

uint64_t snaps__wall_ms (void);
/* A progress event (what: fetch | move; state: running | done | failed). */
void snaps__progress (shed_snaps_t *self, const char *what, const char *name, const char *shed,
                      const char *peer, uint64_t done, uint64_t total, const char *state,
                      const char *why);
bool snaps__held (shed_snaps_t *self, const char *name);
/* A live snapshot record of that name (any node): true with *out decoded
 * (free with wire_msg_free (&rec_proto, out)). */
bool snaps__find (shed_snaps_t *self, const char *name, rec_msg_t *out);
/* Capture our shed `shed` as `name`; answer *call (taken) or the RPC
 * request `token`. */
void snaps__capture (shed_snaps_t *self, const char *shed, const char *name, int mode,
                     shed_api_call_t **call, bool has_token, uint64_t token);
int snaps__remove_local (shed_snaps_t *self, const char *name, char *why, size_t whylen);
/* API_SNAPSHOT_LIST_REP with one snapshot. */
void snaps__reply_one (shed_api_call_t **call, const rec_snapshot_t *rec, int64_t took_ms);

/* node_snaps_api.c */
void snaps__api_register (shed_snaps_t *self, shed_api_server_t *api);

/* node_snaps_move.c: move our shed `shed` to `to` ("" = placement's
 * choice); answer *call (taken) or the RPC request `token`. */
void snaps__move (shed_snaps_t *self, const char *shed, const char *to, shed_api_call_t **call,
                  bool has_token, uint64_t token);
/* The move API handler and the snap.move method. 0 or -1 (taken). */
int snaps__move_register (shed_snaps_t *self, shed_api_server_t *api);

/* node_snaps_commit.c: snap_store_commit on an actor, the result on the
 * loop. done gets the record (digest and size filled on success), valid
 * during the call. 0, or -1 (done will not be called). */
typedef struct _snaps_commit_t snaps_commit_t;
typedef void (snaps_commit_fn) (shed_snaps_t *self, rec_snapshot_t *rec, int rc, const char *err,
                                void *arg);
int snaps__commit_start (shed_snaps_t *self);
void snaps__commit_stop (shed_snaps_t *self);
int snaps__commit_async (shed_snaps_t *self, const rec_snapshot_t *rec, snaps_commit_fn *done,
                         void *arg);

/* node_snaps_fetch.c */
void snaps__fetch_init (shed_snaps_t *self);
/* The transfer worker's answers (snap_xfer_done_fn; arg = self). */
void snaps__fetch_job_done (snap_xfer_job_t *job, void *arg);
/* Answer every waiting fetch with `why` (shutdown). */
void snaps__fetch_fail_all (shed_snaps_t *self, const char *why);
/* The snapshot went: its fetched copy here goes too (unless in use). */
void snaps__fetch_forget (shed_snaps_t *self, const char *name);
void snaps__fetch_destroy (shed_snaps_t *self);

#endif
