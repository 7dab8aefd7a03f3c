/* node_hooks.c - see node_hooks.h. */
#include "node/events/node_hooks.h"

#include "agent/proto/agent_proto.h"
#include "bridges/event_msg.h"
#include "common/log.h"
#include "common/spawnutil.h"
#include "node/events/event_json.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define S_COMP    "hooks"
#define S_TICK_MS 20  /* reaping / timeout check while hooks run */
#define S_BATCH   256 /* bus events read per loop turn */
#define S_OUT_LOG 200 /* bytes of a hook's output put in the log */
#define S_CONTROL 0   /* member., shed. */
#define S_GUEST   1   /* the rest */

static int
s_class (const char *topic)
{
    return strncmp (topic, "member.", 7) == 0 || strncmp (topic, "shed.", 5) == 0 ? S_CONTROL
                                                                                  : S_GUEST;
}

/* One run of one hook for one event: prepared at dispatch (the event's
 * payload is only valid until the next bus_client_recv), spawned later. */
typedef struct {
    size_t hook; /* index in hooks */
    char *json;  /* stdin */
    size_t json_len;
    char topic[EVENT_TOPIC_MAX + 1];
    char origin[EVENT_NODE_MAX + 1];
    char kind[EVENT_KIND_MAX + 1];
    uint64_t seq;
    int64_t time_us;
    /* while running */
    pid_t pid;
    int out_fd;       /* memfd: stdout + stderr */
    int64_t started;  /* mono ms */
    int64_t deadline; /* mono ms */
    bool killed;
} s_job_t;

struct _shed_hooks_t {
    zloop_t *loop;        /* borrowed */
    bus_client_t *client; /* NULL: dispatch only */
    char node[SHED_NAME_MAX + 1];
    /* This node's local API (the config's `api`): a hook's SHED_ADDR, so
     * `shedctl` in a hook talks to the node that ran it. */
    char api[sizeof ((shed_config_t *) 0)->api_endpoint];
    shed_config_hook_t *hooks; /* copy of the config's */
    size_t nhooks;
    uint32_t concurrency, queue_max, timeout_ms;
    /* Two queues, each with its own bound (queue_max): membership and shed
     * lifecycle events (member., shed.: the cluster's own) and everything
     * else, which a shed's agent can produce at will (metrics, proc, log,
     * provision). A guest's flood fills only its class; the node's own
     * events are never dropped for it and start first (docs/events.md). */
    zlistx_t *queue[2]; /* s_job_t *, oldest first */
    zlistx_t *running;  /* s_job_t * */
    int tick_id;        /* -1 when nothing runs */
    shed_hooks_stats_t stats;
};

static void
s_job_free (void **item)
{
    s_job_t *job = *item;
    if (job) {
        if (job->out_fd >= 0)
            close (job->out_fd);
        free (job->json);
        free (job);
    }
    *item = NULL;
}

/* -------------------------------------------------------------------------
 * Event -> JSON
 */

/* -------------------------------------------------------------------------
 * Running hooks
 */

static int s_on_tick (zloop_t *loop, int timer_id, void *arg);

/* An anonymous file holding `data` (or empty), read from the start. */
static int
s_scratch (const char *name, const char *data, size_t len)
{
    int fd = memfd_create (name, MFD_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t off = 0;
    while (off < len) {
        ssize_t n = write (fd, data + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            close (fd);
            return -1;
        }
        off += (size_t) n;
    }
    lseek (fd, 0, SEEK_SET);
    return fd;
}

static bool
s_spawn (shed_hooks_t *self, s_job_t *job)
{
    const shed_config_hook_t *h = &self->hooks[job->hook];
    int in_fd = s_scratch ("shed-hook-in", job->json, job->json_len);
    job->out_fd = s_scratch ("shed-hook-out", NULL, 0);
    if (in_fd < 0 || job->out_fd < 0) {
        log_warn (S_COMP, "hook not run: no scratch file|event=%s topic=%s reason=\"%s\"", h->event,
                  job->topic, strerror (errno));
        if (in_fd >= 0)
            close (in_fd);
        return false;
    }
    /* The environment: ours (minus stale SHED_EVENT_*) plus the event's fields. */
    size_t nenv = 0;
    while (environ && environ[nenv])
        nenv++;
    char **envp = calloc (nenv + 9, sizeof *envp);
    char e_node[96], e_hook[300], e_topic[300], e_origin[96], e_kind[64], e_seq[48], e_time[48];
    char e_addr[sizeof self->api + 16];
    snprintf (e_node, sizeof e_node, "SHED_NODE=%s", self->node);
    snprintf (e_addr, sizeof e_addr, "SHED_ADDR=%s", self->api);
    snprintf (e_hook, sizeof e_hook, "SHED_HOOK_EVENT=%s", h->event);
    snprintf (e_topic, sizeof e_topic, "SHED_EVENT_TOPIC=%s", job->topic);
    snprintf (e_origin, sizeof e_origin, "SHED_EVENT_ORIGIN=%s", job->origin);
    snprintf (e_kind, sizeof e_kind, "SHED_EVENT_KIND=%s", job->kind);
    snprintf (e_seq, sizeof e_seq, "SHED_EVENT_SEQ=%" PRIu64, job->seq);
    snprintf (e_time, sizeof e_time, "SHED_EVENT_TIME_US=%" PRId64, job->time_us);
    size_t k = 0;
    for (size_t i = 0; envp && i < nenv; i++)
        if (strncmp (environ[i], "SHED_EVENT_", 11) && strncmp (environ[i], "SHED_HOOK_", 10)
            && strncmp (environ[i], "SHED_NODE=", 10) && strncmp (environ[i], "SHED_ADDR=", 10))
            envp[k++] = environ[i];
    if (envp) {
        envp[k++] = e_node;
        envp[k++] = e_addr;
        envp[k++] = e_hook;
        envp[k++] = e_topic;
        envp[k++] = e_origin;
        envp[k++] = e_kind;
        envp[k++] = e_seq;
        envp[k++] = e_time;
        envp[k] = NULL;
    }
    /* posix_spawn, not fork: the daemon has ZeroMQ threads, and the child
     * must do nothing but set up its fds and exec. Its own process group
     * lets the timeout kill whatever the shell started. */
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init (&fa);
    posix_spawn_file_actions_adddup2 (&fa, in_fd, 0);
    posix_spawn_file_actions_adddup2 (&fa, job->out_fd, 1);
    posix_spawn_file_actions_adddup2 (&fa, job->out_fd, 2);
    shed_spawnattr_child (&attr);
    char command[sizeof h->command];
    snprintf (command, sizeof command, "%s", h->command);
    char *argv[] = { (char *) "/bin/sh", (char *) "-c", command, NULL };
    int rc = envp ? posix_spawn (&job->pid, "/bin/sh", &fa, &attr, argv, envp) : ENOMEM;
    posix_spawn_file_actions_destroy (&fa);
    posix_spawnattr_destroy (&attr);
    close (in_fd);
    free (envp);
    if (rc != 0) {
        log_warn (S_COMP, "hook not run: cannot spawn /bin/sh|event=%s topic=%s reason=\"%s\"",
                  h->event, job->topic, strerror (rc));
        return false;
    }
    job->started = zclock_mono ();
    job->deadline = job->started + (h->timeout_ms ? h->timeout_ms : self->timeout_ms);
    log_debug (S_COMP, "hook started|event=%s topic=%s pid=%d", h->event, job->topic,
               (int) job->pid);
    return true;
}

/* Start queued runs while there is room. */
static void
s_pump (shed_hooks_t *self)
{
    while (zlistx_size (self->running) < self->concurrency
           && (zlistx_size (self->queue[S_CONTROL]) || zlistx_size (self->queue[S_GUEST]))) {
        zlistx_t *q =
            zlistx_size (self->queue[S_CONTROL]) ? self->queue[S_CONTROL] : self->queue[S_GUEST];
        s_job_t *job = zlistx_detach (q, NULL);
        if (s_spawn (self, job)) {
            self->stats.started++;
            zlistx_add_end (self->running, job);
        }
        else {
            self->stats.spawn_errors++;
            s_job_free ((void **) &job);
        }
    }
    if (zlistx_size (self->running) && self->tick_id < 0 && self->loop)
        self->tick_id = zloop_timer (self->loop, S_TICK_MS, 0, s_on_tick, self);
}

/* First line of what a hook printed, for the log. */
static void
s_output (s_job_t *job, char *out, size_t cap)
{
    out[0] = '\0';
    ssize_t n = pread (job->out_fd, out, cap - 1, 0);
    if (n <= 0)
        return;
    out[n] = '\0';
    out[strcspn (out, "\r\n")] = '\0';
}

static void
s_finish (shed_hooks_t *self, s_job_t *job, int wstatus)
{
    const shed_config_hook_t *h = &self->hooks[job->hook];
    char out[S_OUT_LOG + 1];
    s_output (job, out, sizeof out);
    int64_t ms = zclock_mono () - job->started;
    if (WIFEXITED (wstatus) && WEXITSTATUS (wstatus) == 0) {
        self->stats.succeeded++;
        log_info (S_COMP, "hook done|event=%s topic=%s status=0 ms=%" PRId64 " output=\"%s\"",
                  h->event, job->topic, ms, out);
        return;
    }
    self->stats.failed++;
    if (job->killed)
        log_warn (S_COMP,
                  "hook timed out, process group killed|event=%s topic=%s ms=%" PRId64
                  " output=\"%s\"",
                  h->event, job->topic, ms, out);
    else if (WIFEXITED (wstatus))
        log_warn (S_COMP, "hook failed|event=%s topic=%s status=%d ms=%" PRId64 " output=\"%s\"",
                  h->event, job->topic, WEXITSTATUS (wstatus), ms, out);
    else
        log_warn (S_COMP, "hook killed|event=%s topic=%s signal=%d ms=%" PRId64 " output=\"%s\"",
                  h->event, job->topic, WIFSIGNALED (wstatus) ? WTERMSIG (wstatus) : 0, ms, out);
}

/* Reap what exited, kill what overran, start what waits. A timer rather
 * than SIGCHLD: czmq owns the signal handlers, and only our own pids are
 * waited for (other components reap theirs). */
static int
s_on_tick (zloop_t *loop, int timer_id, void *arg)
{
    shed_hooks_t *self = arg;
    int64_t now = zclock_mono ();
    s_job_t *job = zlistx_first (self->running);
    while (job) {
        int wstatus = 0;
        pid_t r = waitpid (job->pid, &wstatus, WNOHANG);
        if (r == job->pid || (r < 0 && errno == ECHILD)) {
            s_finish (self, job, r == job->pid ? wstatus : 0);
            void *cursor = zlistx_cursor (self->running);
            job = zlistx_next (self->running);
            zlistx_delete (self->running, cursor);
            continue;
        }
        if (!job->killed && now >= job->deadline) {
            kill (-job->pid, SIGKILL);
            job->killed = true;
            self->stats.timed_out++;
        }
        job = zlistx_next (self->running);
    }
    s_pump (self);
    if (zlistx_size (self->running) == 0 && self->tick_id >= 0) {
        zloop_timer_end (loop, self->tick_id);
        self->tick_id = -1;
    }
    return 0;
}

int
shed_hooks_dispatch (shed_hooks_t *self, const bus_event_t *ev)
{
    assert (self);
    int queued = 0;
    char *json = NULL;
    size_t json_len = 0;
    int cls = s_class (ev->topic);
    zlistx_t *queue = self->queue[cls];
    for (size_t i = 0; i < self->nhooks; i++) {
        const shed_config_hook_t *h = &self->hooks[i];
        if (strncmp (ev->topic, h->event, strlen (h->event)))
            continue;
        self->stats.matched++;
        if (zlistx_size (queue) >= self->queue_max
            && zlistx_size (self->running) >= self->concurrency) {
            if (cls == S_CONTROL)
                self->stats.dropped_control++;
            if (self->stats.dropped++ % 100 == 0)
                log_warn (S_COMP,
                          "hook queue full: event dropped|event=%s topic=%s "
                          "class=%s dropped=%" PRIu64,
                          h->event, ev->topic, cls == S_CONTROL ? "control" : "guest",
                          self->stats.dropped);
            continue;
        }
        if (!json) {
            FILE *f = open_memstream (&json, &json_len);
            if (!f)
                return queued;
            jw_t j;
            jw_init (&j, f);
            shed_event_json (&j, ev);
            jw_end (&j);
            fclose (f);
        }
        s_job_t *job = calloc (1, sizeof *job);
        if (!job)
            break;
        job->hook = i;
        job->json = malloc (json_len + 1);
        if (!job->json) {
            free (job);
            break;
        }
        memcpy (job->json, json, json_len + 1);
        job->json_len = json_len;
        job->out_fd = -1;
        snprintf (job->topic, sizeof job->topic, "%s", ev->topic);
        snprintf (job->origin, sizeof job->origin, "%s", ev->origin);
        snprintf (job->kind, sizeof job->kind, "%s", ev->kind);
        job->seq = ev->seq;
        job->time_us = ev->time_us;
        zlistx_add_end (queue, job);
        queued++;
    }
    free (json);
    s_pump (self);
    return queued;
}

void
shed_hooks_stats (shed_hooks_t *self, shed_hooks_stats_t *out)
{
    assert (self);
    *out = self->stats;
    out->running = (uint32_t) zlistx_size (self->running);
    out->queued =
        (uint32_t) (zlistx_size (self->queue[S_CONTROL]) + zlistx_size (self->queue[S_GUEST]));
}

/* -------------------------------------------------------------------------
 * Following the bus
 */

static int
s_on_bus (zloop_t *loop, zsock_t *sock, void *arg)
{
    shed_hooks_t *self = arg;
    bus_event_t ev;
    for (int i = 0; i < S_BATCH && bus_client_recv (self->client, &ev, 0) == 0; i++)
        shed_hooks_dispatch (self, &ev);
    return 0;
}

shed_hooks_t *
shed_hooks_new (const shed_config_t *cfg, const char *endpoint, zloop_t *loop, char *err,
                size_t errlen)
{
    shed_hooks_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    self->loop = loop;
    self->tick_id = -1;
    snprintf (self->node, sizeof self->node, "%s", cfg->name);
    snprintf (self->api, sizeof self->api, "%s", cfg->api_endpoint);
    self->concurrency = cfg->hooks_concurrency ? cfg->hooks_concurrency : 4;
    self->queue_max = cfg->hooks_queue;
    self->timeout_ms = cfg->hooks_timeout_ms ? cfg->hooks_timeout_ms : 30000;
    self->nhooks = cfg->nhooks;
    self->hooks = self->nhooks ? calloc (self->nhooks, sizeof *self->hooks) : NULL;
    if (self->nhooks && !self->hooks) {
        snprintf (err, errlen, "out of memory");
        free (self);
        return NULL;
    }
    if (self->nhooks)
        memcpy (self->hooks, cfg->hooks, self->nhooks * sizeof *self->hooks);
    for (int c = 0; c < 2; c++) {
        self->queue[c] = zlistx_new ();
        zlistx_set_destructor (self->queue[c], s_job_free);
    }
    self->running = zlistx_new ();
    zlistx_set_destructor (self->running, s_job_free);
    if (endpoint && self->nhooks) {
        self->client = bus_client_new (endpoint, NULL, NULL, NULL);
        if (!self->client) {
            snprintf (err, errlen, "hooks: cannot connect to the event endpoint %s", endpoint);
            shed_hooks_destroy (&self);
            return NULL;
        }
        for (size_t i = 0; i < self->nhooks; i++)
            bus_client_subscribe (self->client, self->hooks[i].event);
        zloop_reader (loop, bus_client_sock (self->client), s_on_bus, self);
        log_info (S_COMP, "following %zu hook(s)|concurrency=%u queue=%u timeout_ms=%u",
                  self->nhooks, self->concurrency, self->queue_max, self->timeout_ms);
    }
    return self;
}

void
shed_hooks_destroy (shed_hooks_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    shed_hooks_t *self = *self_p;
    if (self->client && self->loop)
        zloop_reader_end (self->loop, bus_client_sock (self->client));
    bus_client_destroy (&self->client);
    if (self->tick_id >= 0 && self->loop)
        zloop_timer_end (self->loop, self->tick_id);
    /* The node is stopping: a hook still running would outlive it and
     * become nobody's child. */
    if (self->running)
        for (s_job_t *job = zlistx_first (self->running); job; job = zlistx_next (self->running)) {
            kill (-job->pid, SIGKILL);
            while (waitpid (job->pid, NULL, 0) < 0 && errno == EINTR)
                ;
        }
    zlistx_destroy (&self->running);
    zlistx_destroy (&self->queue[S_CONTROL]);
    zlistx_destroy (&self->queue[S_GUEST]);
    free (self->hooks);
    free (self);
    *self_p = NULL;
}
