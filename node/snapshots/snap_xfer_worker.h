/*
 * snap_xfer_worker.h - a snap_xfer driven from a thread of its own, so
 * that a transfer's file work (docs/snapshots.md, "Where the I/O runs":
 * hashing a partial or a whole copy at open, the pwrite and sha256 of
 * every chunk, the fsync and rename at the end, the truncate and fsync at
 * close) never runs on the daemon's loop, which also serves gossip links,
 * RPC and the API.
 *
 * The caller (the loop) submits jobs; one thread runs them in submission
 * order (FIFO: a transfer's chunks, and a CLOSE before a later OPEN of the
 * same path, stay in order) and sends each back on its pipe, where a
 * zloop reader hands it to the caller's done function. A snap_xfer is
 * touched only on that thread: its next requests come back in each job's
 * answer (req_offset/req_length), so the loop never reads it. Memory stays
 * bounded without a queue limit of its own: a DATA job holds one answer's
 * bytes, and answers exist only for requests the transfer handed out
 * (window of them at most).
 */
#ifndef SHED_SNAP_XFER_WORKER_H
#define SHED_SNAP_XFER_WORKER_H

#include "node/snapshots/snap_xfer.h"

#include <czmq.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#define SNAP_XFER_REQ_MAX 32 /* next requests handed out per answer */

typedef enum {
    SNAP_XFER_OPEN,   /* snap_xfer_new (path, size, digest, chunk, window): sets xfer */
    SNAP_XFER_DATA,   /* snap_xfer_data (offset, data, len); on failure the xfer is abandoned */
    SNAP_XFER_RETRY,  /* snap_xfer_retry (offset) */
    SNAP_XFER_FINISH, /* snap_xfer_finish */
    SNAP_XFER_CLOSE,  /* snap_xfer_abandon if `abandon`, then snap_xfer_destroy */
} snap_xfer_op_t;

typedef struct {
    snap_xfer_op_t op;
    void *arg;         /* the caller's; never touched on the thread */
    snap_xfer_t *xfer; /* OPEN: filled on success; others: the transfer (CLOSE takes it) */
    /* OPEN */
    char path[PATH_MAX];
    char digest[65];
    uint64_t size;
    size_t chunk, window;
    /* DATA (data owned by the job), RETRY */
    uint64_t offset;
    uint8_t *data;
    size_t len;
    /* CLOSE */
    bool abandon;
    /* answer */
    int rc; /* 0, or -1 with err */
    char err[256];
    bool complete; /* snap_xfer_complete after the job */
    uint64_t received, resumed;
    int64_t run_us; /* time the job took on the thread */
    size_t nreq;    /* requests to send now (snap_xfer_next), not after FINISH/CLOSE */
    uint64_t req_offset[SNAP_XFER_REQ_MAX];
    uint32_t req_length[SNAP_XFER_REQ_MAX];
} snap_xfer_job_t;

/* A job of `op` on `xfer` (NULL for OPEN). NULL if out of memory. */
snap_xfer_job_t *snap_xfer_job_new (snap_xfer_op_t op, snap_xfer_t *xfer, void *arg);
/* Frees the job and its data (not its xfer). */
void snap_xfer_job_destroy (snap_xfer_job_t **job_p);

typedef struct _snap_xfer_worker_t snap_xfer_worker_t;

/* A finished job, on the caller's thread; the callee owns it (destroy it). */
typedef void (snap_xfer_done_fn) (snap_xfer_job_t *job, void *arg);

/* Start the thread. loop: where answers are handed to fn (a reader on the
 * worker's pipe); NULL: the caller collects them with
 * snap_xfer_worker_wait. NULL if the thread cannot start. */
snap_xfer_worker_t *snap_xfer_worker_new (zloop_t *loop, snap_xfer_done_fn *fn, void *arg);
/* Every job submitted comes back through fn first (waits up to 30 s for
 * the thread to get through them; jobs still out then are leaked with
 * their transfers, never touched again), then the thread stops. */
void snap_xfer_worker_destroy (snap_xfer_worker_t **self_p);

/* Queue *job_p (taken on success). 0, or -1 (the job stays the caller's). */
int snap_xfer_worker_submit (snap_xfer_worker_t *self, snap_xfer_job_t **job_p);
/* Jobs submitted whose answer fn has not had yet. */
size_t snap_xfer_worker_pending (snap_xfer_worker_t *self);
/* Wait up to timeout_ms for one answer and hand it to fn: 1, or 0 if none
 * came (or none is pending). For callers without a loop (tests). */
int snap_xfer_worker_wait (snap_xfer_worker_t *self, int timeout_ms);

#endif
