/*
 * driver_worker.h - driver calls off the daemon's loop (docs/scheduling.md,
 * "Driver calls off the loop").
 *
 * A driver call can take seconds (a container's stop waits out its grace
 * period, a VM boots, an image unpacks). The daemon's loop also answers the
 * API, serves /metrics and node RPC, so it never makes one itself: it
 * submits a job here, a worker thread (a czmq actor) runs the calls one at
 * a time (a driver serialises its calls anyway: driver.h), and the result
 * comes back to the loop as an event on the actor's pipe.
 *
 * Each job has a timeout, counted from its submission (time in the queue
 * behind a slow call counts: it is what the caller waits). Events, all on
 * the loop's thread, in fn:
 *   DONE       the call finished in time: results in the job. Final.
 *   TIMEOUT    the timeout passed and the call still runs. The caller
 *              answers whoever waits ("did not finish in N ms") and keeps
 *              ctx: the job is not over.
 *   LATE       the call finished after its TIMEOUT: results in the job;
 *              the caller reconciles (the record follows what really
 *              happened; a create nobody waits for any more is undone).
 *              Final.
 *   CANCELLED  the worker shut down before the job ran (rc
 *              DRIVER_ERR_UNAVAILABLE). Final.
 * After a final event the worker frees the job; ctx is the caller's to
 * free in that call.
 *
 * Shutdown (driver_worker_destroy): queued jobs are cancelled, the one
 * running is waited for (a driver call cannot be interrupted half way
 * without leaving a half-made shed); every job gets its final event.
 */
#ifndef SHED_DRIVER_WORKER_H
#define SHED_DRIVER_WORKER_H

#include "node/drivers/driver.h"

#include <czmq.h>

typedef enum {
    DRIVER_JOB_CREATE,   /* spec; with `replace`, a shed of that name left
                                       over (DRIVER_ERR_EXISTS) is removed first */
    DRIVER_JOB_START,    /* name */
    DRIVER_JOB_STOP,     /* name */
    DRIVER_JOB_REMOVE,   /* name */
    DRIVER_JOB_STATUS,   /* name: status filled */
    DRIVER_JOB_SNAPSHOT, /* name, path, snap_mode: bytes filled */
} driver_job_op_t;

typedef enum {
    DRIVER_JOB_DONE,
    DRIVER_JOB_TIMEOUT,
    DRIVER_JOB_LATE,
    DRIVER_JOB_CANCELLED,
} driver_job_event_t;

typedef struct {
    /* Set by the caller. */
    driver_job_op_t op;
    driver_spec_t spec;             /* CREATE */
    bool replace;                   /* CREATE */
    char name[DRIVER_NAME_MAX + 1]; /* the others */
    char path[DRIVER_PATH_MAX];     /* SNAPSHOT: the file to write */
    driver_snap_mode_t snap_mode;   /* SNAPSHOT */
    void *ctx;                      /* the caller's */
    /* Set by the worker. */
    int rc; /* 0 or a driver_code_t */
    driver_error_t err;
    driver_status_t status; /* STATUS */
    uint64_t bytes;         /* SNAPSHOT: size of the file written */
    bool running;           /* CREATE: the backend left it running (no start needed) */
    uint64_t ms;            /* how long the call took */
    uint64_t id;            /* submission number, for logs */
} driver_job_t;

typedef void (driver_job_fn) (driver_job_t *job, driver_job_event_t ev, void *arg);

typedef struct _driver_worker_t driver_worker_t;

/* A worker for `driver` (borrowed: must outlive the worker), delivering
 * events through `loop`. NULL with a reason on failure. */
driver_worker_t *driver_worker_new (driver_t *driver, zloop_t *loop, driver_job_fn *fn, void *arg,
                                    char *err, size_t errlen);
/* Cancel queued jobs, wait for the running one, deliver every final event,
 * stop the thread. Tolerates NULL. */
void driver_worker_destroy (driver_worker_t **self_p);

/* A new job (zeroed), or NULL when out of memory. */
driver_job_t *driver_job_new (driver_job_op_t op, const char *name);

/* Queue *job_p (taken: *job_p is set to NULL) with a timeout (ms, > 0).
 * Returns 0, or -1 while the worker shuts down (the job stays the
 * caller's). */
int driver_worker_submit (driver_worker_t *self, driver_job_t **job_p, int timeout_ms);

/* Jobs submitted and not yet final. */
size_t driver_worker_pending (driver_worker_t *self);

/* Counters: jobs done in time, timed out, cancelled. */
void driver_worker_counts (driver_worker_t *self, uint64_t *done, uint64_t *timeouts,
                           uint64_t *cancelled);

const char *driver_job_op_name (driver_job_op_t op);

#endif
