/* driver_worker.c - see driver_worker.h. */
#include "node/drivers/driver_worker.h"

#include <errno.h>
#include <string.h>

#define S_POLL_MS  50 /* how often timeouts are checked */
/* At shutdown, how long to wait for each call still out before giving up
 * on it (its item is then leaked, never touched again). */
#define S_DRAIN_MS 30000

/* One submitted job. The worker thread touches only `job` and
 * `cancelled`, between receiving the item and sending it back; the loop's
 * thread touches the rest (the pipe orders the two). */
typedef struct {
    driver_job_t *job;
    int64_t deadline; /* mono ms */
    int timeout_ms;
    bool timed_out; /* TIMEOUT delivered */
    bool cancelled; /* set by the worker: never ran */
} s_item_t;

struct _driver_worker_t {
    driver_t *driver; /* borrowed */
    zloop_t *loop;    /* borrowed */
    zactor_t *actor;
    driver_job_fn *fn;
    void *arg;
    zlistx_t *items; /* s_item_t *, submitted, not final */
    int timer;
    int cancel; /* read by the worker (atomic) */
    bool closing;
    uint64_t next_id;
    uint64_t done, timeouts, cancelled;
};

const char *
driver_job_op_name (driver_job_op_t op)
{
    switch (op) {
    case DRIVER_JOB_CREATE:
        return "create";
    case DRIVER_JOB_START:
        return "start";
    case DRIVER_JOB_STOP:
        return "stop";
    case DRIVER_JOB_REMOVE:
        return "delete";
    case DRIVER_JOB_STATUS:
        return "status";
    case DRIVER_JOB_SNAPSHOT:
        return "snapshot";
    }
    return "?";
}

driver_job_t *
driver_job_new (driver_job_op_t op, const char *name)
{
    driver_job_t *job = (driver_job_t *) calloc (1, sizeof *job);
    if (!job)
        return NULL;
    job->op = op;
    snprintf (job->name, sizeof job->name, "%s", name ? name : "");
    return job;
}

/* ---- the worker thread ------------------------------------------------------ */

static void
s_run (driver_t *driver, driver_job_t *job)
{
    int64_t t0 = zclock_mono ();
    switch (job->op) {
    case DRIVER_JOB_CREATE:
        job->rc = driver_create_running (driver, &job->spec, &job->running, &job->err);
        if (job->rc == DRIVER_ERR_EXISTS && job->replace) {
            /* Left over from a create interrupted by a crash: afresh. */
            driver_remove (driver, job->spec.name, NULL);
            memset (&job->err, 0, sizeof job->err);
            job->rc = driver_create_running (driver, &job->spec, &job->running, &job->err);
        }
        break;
    case DRIVER_JOB_START:
        job->rc = driver_start (driver, job->name, &job->err);
        break;
    case DRIVER_JOB_STOP:
        job->rc = driver_stop (driver, job->name, &job->err);
        break;
    case DRIVER_JOB_REMOVE:
        job->rc = driver_remove (driver, job->name, &job->err);
        break;
    case DRIVER_JOB_STATUS:
        job->rc = driver_status (driver, job->name, &job->status, &job->err);
        break;
    case DRIVER_JOB_SNAPSHOT:
        job->rc =
            driver_snapshot (driver, job->name, job->path, job->snap_mode, &job->bytes, &job->err);
        break;
    default:
        job->rc = driver_fail (&job->err, DRIVER_ERR_INVALID, "unknown driver job");
    }
    job->ms = (uint64_t) (zclock_mono () - t0);
}

static void
s_actor (zsock_t *pipe, void *args)
{
    driver_worker_t *self = (driver_worker_t *) args;
    zsock_signal (pipe, 0);
    while (true) {
        char *cmd = NULL;
        void *ptr = NULL;
        if (zsock_recv (pipe, "sp", &cmd, &ptr) != 0) {
            if (errno == EINTR)
                continue; /* a signal landed on this thread */
            break;
        }
        bool term = !cmd || streq (cmd, "$TERM");
        zstr_free (&cmd);
        if (term)
            break;
        s_item_t *item = (s_item_t *) ptr;
        if (!item)
            continue;
        if (__atomic_load_n (&self->cancel, __ATOMIC_ACQUIRE)) {
            item->cancelled = true;
            item->job->rc = driver_fail (
                &item->job->err, DRIVER_ERR_UNAVAILABLE,
                "%s %s: cancelled: the node is shutting down", driver_job_op_name (item->job->op),
                item->job->op == DRIVER_JOB_CREATE ? item->job->spec.name : item->job->name);
        }
        else
            s_run (self->driver, item->job);
        zsock_send (pipe, "p", item);
    }
}

/* ---- the loop's side ---------------------------------------------------------- */

static void
s_final (driver_worker_t *self, s_item_t *item)
{
    void *handle = zlistx_find (self->items, item);
    if (handle)
        zlistx_detach (self->items, handle);
    driver_job_event_t ev = item->cancelled   ? DRIVER_JOB_CANCELLED
                            : item->timed_out ? DRIVER_JOB_LATE
                                              : DRIVER_JOB_DONE;
    if (ev == DRIVER_JOB_CANCELLED)
        self->cancelled++;
    else if (ev == DRIVER_JOB_DONE)
        self->done++;
    self->fn (item->job, ev, self->arg);
    free (item->job);
    free (item);
}

static int
s_on_done (zloop_t *loop, zsock_t *sock, void *arg)
{
    (void) loop;
    driver_worker_t *self = (driver_worker_t *) arg;
    void *ptr = NULL;
    if (zsock_recv (sock, "p", &ptr) == 0 && ptr)
        s_final (self, (s_item_t *) ptr);
    return 0;
}

static int
s_on_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    driver_worker_t *self = (driver_worker_t *) arg;
    int64_t now = zclock_mono ();
    /* Collected first: fn may submit (a new item at the end is fine, but
     * keep the walk simple). */
    s_item_t *late[64];
    size_t n = 0;
    for (s_item_t *it = (s_item_t *) zlistx_first (self->items); it && n < 64;
         it = (s_item_t *) zlistx_next (self->items))
        if (!it->timed_out && it->deadline <= now)
            late[n++] = it;
    for (size_t i = 0; i < n; i++) {
        late[i]->timed_out = true;
        self->timeouts++;
        self->fn (late[i]->job, DRIVER_JOB_TIMEOUT, self->arg);
    }
    return 0;
}

driver_worker_t *
driver_worker_new (driver_t *driver, zloop_t *loop, driver_job_fn *fn, void *arg, char *err,
                   size_t errlen)
{
    assert (driver);
    assert (loop);
    assert (fn);
    driver_worker_t *self = (driver_worker_t *) calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "driver worker: out of memory");
        return NULL;
    }
    self->driver = driver;
    self->loop = loop;
    self->fn = fn;
    self->arg = arg;
    self->timer = -1;
    self->items = zlistx_new ();
    self->actor = self->items ? zactor_new (s_actor, self) : NULL;
    if (!self->actor) {
        snprintf (err, errlen, "driver worker: cannot start its thread");
        zlistx_destroy (&self->items);
        free (self);
        return NULL;
    }
    zloop_reader (loop, zactor_sock (self->actor), s_on_done, self);
    self->timer = zloop_timer (loop, S_POLL_MS, 0, s_on_timer, self);
    return self;
}

void
driver_worker_destroy (driver_worker_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    driver_worker_t *self = *self_p;
    self->closing = true;
    __atomic_store_n (&self->cancel, 1, __ATOMIC_RELEASE);
    zloop_reader_end (self->loop, zactor_sock (self->actor));
    if (self->timer >= 0)
        zloop_timer_end (self->loop, self->timer);
    /* Every job comes back (FIFO): the running one when it finishes, the
     * queued ones cancelled at once. */
    zpoller_t *poller = zpoller_new (zactor_sock (self->actor), NULL);
    if (poller)
        zpoller_set_nonstop (poller, true); /* we stop after SIGTERM: keep waiting */
    int64_t deadline = zclock_mono () + S_DRAIN_MS;
    while (poller && zlistx_size (self->items) > 0) {
        int64_t left = deadline - zclock_mono ();
        if (left <= 0) {
            /* A call outlived the drain: its items leak, never touched. */
            zsys_warning ("driver worker: %zu call(s) still out at shutdown",
                          zlistx_size (self->items));
            break;
        }
        if (!zpoller_wait (poller, (int) left))
            continue; /* timed out or interrupted: check the deadline */
        void *ptr = NULL;
        if (zsock_recv (zactor_sock (self->actor), "p", &ptr) == 0 && ptr)
            s_final (self, (s_item_t *) ptr);
    }
    zpoller_destroy (&poller);
    zactor_destroy (&self->actor);
    zlistx_destroy (&self->items);
    free (self);
    *self_p = NULL;
}

int
driver_worker_submit (driver_worker_t *self, driver_job_t **job_p, int timeout_ms)
{
    assert (self);
    assert (job_p && *job_p);
    if (self->closing)
        return -1;
    s_item_t *item = (s_item_t *) calloc (1, sizeof *item);
    if (!item)
        return -1;
    item->job = *job_p;
    item->job->id = ++self->next_id;
    item->timeout_ms = timeout_ms > 0 ? timeout_ms : 1;
    item->deadline = zclock_mono () + item->timeout_ms;
    if (zsock_send (zactor_sock (self->actor), "sp", "JOB", item) != 0) {
        free (item);
        return -1;
    }
    zlistx_add_end (self->items, item);
    *job_p = NULL;
    return 0;
}

size_t
driver_worker_pending (driver_worker_t *self)
{
    assert (self);
    return zlistx_size (self->items);
}

void
driver_worker_counts (driver_worker_t *self, uint64_t *done, uint64_t *timeouts,
                      uint64_t *cancelled)
{
    assert (self);
    if (done)
        *done = self->done;
    if (timeouts)
        *timeouts = self->timeouts;
    if (cancelled)
        *cancelled = self->cancelled;
}
