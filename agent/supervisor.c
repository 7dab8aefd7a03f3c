/*
 * supervisor.c - supervised processes (see supervisor.h).
 */
#include "agent/supervisor.h"
#include "agent/proto/agent_proto.h"
#include "agent/proto/agent_bucket.h"

#include "common/log.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define S_COMP           "supervisor"
#define S_HEALTHY_MS     10000 /* ran this long: backoff resets */
#define S_DRAIN_GRACE_MS 1000  /* wait for pipes after the reap */
#define S_READ_MAX       16384
#define S_PATH_ROOT      "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define S_PATH_USER      "/usr/local/bin:/usr/bin:/bin"

typedef enum { S_IDLE, S_RUNNING, S_EXITED, S_WAITING, S_DONE } s_state_t;

typedef struct _agent_supervisor_t s_sup_t;

typedef struct {
    agent_proc_spec_t spec;
    s_state_t state;
    pid_t pid;
    int out_fd, err_fd;
    agent_lines_t out, err;
    int status; /* wait status once reaped */
    bool reaped;
    bool stopping; /* we sent the signal */
    int64_t started_ms, reaped_ms, restart_at_ms;
    uint32_t restarts; /* total */
    uint32_t failures; /* consecutive, for the backoff */
} s_proc_t;

/* A watch callback needs (supervisor, process, which pipe). */
typedef struct {
    s_sup_t *self;
    s_proc_t *p;
    bool err;
} s_arg_t;

struct _agent_supervisor_t {
    agent_emit_fn *emit;
    void *ctx;
    s_proc_t *procs[AGENT_PROCS_MAX];
    s_arg_t args[2 * AGENT_PROCS_MAX]; /* rebuilt with the watches */
    size_t n;
    bool stopping;
};

/* ------------------------------------------------------------------------ */

/* In the child: say why it cannot start on its stderr (the step's output
 * shows it) and exit 126, as a shell does for a command it cannot run. */
static void
s_child_fail (const char *what, const char *user)
{
    char msg[256];
    int n = snprintf (msg, sizeof msg, "shed-agent: cannot %s for user '%s': %s\n", what, user,
                      strerror (errno));
    if (n > 0 && write (2, msg, (size_t) n < sizeof msg ? (size_t) n : sizeof msg - 1) < 0)
        _exit (126);
    _exit (126);
}

pid_t
agent_spawn (const char *cmd, const agent_user_t *user, const char *cwd, const wire_tags_t *env,
             int stdin_fd, int *out_fd, int *err_fd)
{
    int out[2], err[2];
    if (pipe2 (out, O_CLOEXEC) < 0)
        return -1;
    if (pipe2 (err, O_CLOEXEC) < 0) {
        close (out[0]);
        close (out[1]);
        return -1;
    }
    pid_t pid = fork ();
    if (pid < 0) {
        close (out[0]);
        close (out[1]);
        close (err[0]);
        close (err[1]);
        return -1;
    }
    if (pid == 0) {
        /* Child: own process group so a stop reaches its children too; the
         * parent blocks signals for signalfd, so unblock them here. */
        setpgid (0, 0);
        sigset_t none;
        sigemptyset (&none);
        sigprocmask (SIG_SETMASK, &none, NULL);
        signal (SIGPIPE, SIG_DFL);
        int in = stdin_fd >= 0 ? stdin_fd : open ("/dev/null", O_RDONLY);
        if (in < 0 || dup2 (in, 0) < 0 || dup2 (out[1], 1) < 0 || dup2 (err[1], 2) < 0)
            _exit (126);
        if (user) {
            /* Groups first (the agent's own supplementary groups, root's,
             * must not leak into the step), then the gid, then the uid:
             * after setuid we could no longer change the others. Each is
             * checked: a step must never run with half of root's ids. */
            if (setgroups (user->ngroups, user->groups) != 0)
                s_child_fail ("setgroups", user->name);
            if (setgid (user->gid) != 0)
                s_child_fail ("setgid", user->name);
            if (setuid (user->uid) != 0)
                s_child_fail ("setuid", user->name);
            setenv ("HOME", user->home, 1);
            setenv ("USER", user->name, 1);
            setenv ("LOGNAME", user->name, 1);
            /* Debian's login defaults: root gets the sbin directories. */
            setenv ("PATH", user->uid == 0 ? S_PATH_ROOT : S_PATH_USER, 1);
        }
        else if (!getenv ("PATH"))
            /* A container's init may start with an empty environment. */
            setenv ("PATH", geteuid () == 0 ? S_PATH_ROOT : S_PATH_USER, 1);
        if (cwd && cwd[0] && chdir (cwd) != 0)
            _exit (126);
        for (size_t i = 0; env && i < env->n; i++)
            setenv (env->items[i].key, env->items[i].value, 1);
        execl ("/bin/sh", "sh", "-c", cmd, (char *) NULL);
        _exit (127);
    }
    close (out[1]);
    close (err[1]);
    fcntl (out[0], F_SETFL, O_NONBLOCK);
    fcntl (err[0], F_SETFL, O_NONBLOCK);
    *out_fd = out[0];
    *err_fd = err[0];
    return pid;
}

static void
s_event (agent_supervisor_t *self, s_proc_t *p, unsigned kind)
{
    agent_msg_t m;
    memset (&m, 0, sizeof m);
    m.hdr.type = AGENT_PROC_EVENT;
    agent_proc_event_t *e = &m.u.agent_proc_event;
    e->kind = kind;
    snprintf (e->name, sizeof e->name, "%s", p->spec.name);
    e->pid = (uint64_t) (p->pid > 0 ? p->pid : 0);
    e->restarts = p->restarts;
    e->ts_ms = (uint64_t) agent_clock_wall_ms ();
    if (kind == AGENT_PROC_EXIT) {
        if (WIFEXITED (p->status))
            e->exit_code = WEXITSTATUS (p->status);
        else if (WIFSIGNALED (p->status))
            e->signal = (uint64_t) WTERMSIG (p->status);
        e->crashed = !p->stopping && (WIFSIGNALED (p->status) || e->exit_code != 0);
        e->duration_ms = (uint64_t) (p->reaped_ms - p->started_ms);
    }
    if (kind == AGENT_PROC_RESTART)
        e->delay_ms = (uint64_t) (p->restart_at_ms - agent_clock_mono_ms ());
    self->emit (self->ctx, &m);
}

static void
s_start (agent_supervisor_t *self, s_proc_t *p)
{
    p->reaped = false;
    p->stopping = false;
    p->pid = agent_spawn (p->spec.cmd, NULL, NULL, NULL, -1, &p->out_fd, &p->err_fd);
    p->started_ms = agent_clock_mono_ms ();
    if (p->pid < 0) {
        /* Treat like an immediate failure so the backoff applies. */
        log_warn (S_COMP, "spawn failed|name=%s err=\"%s\"", p->spec.name, strerror (errno));
        p->out_fd = p->err_fd = -1;
        p->status = 127 << 8;
        p->reaped = true;
        p->reaped_ms = p->started_ms;
        p->state = S_EXITED;
        return;
    }
    p->state = S_RUNNING;
    log_info (S_COMP, "started|name=%s pid=%d", p->spec.name, (int) p->pid);
    s_event (self, p, AGENT_PROC_START);
}

agent_supervisor_t *
agent_supervisor_new (agent_emit_fn *emit, void *ctx)
{
    agent_supervisor_t *self = calloc (1, sizeof *self);
    if (self) {
        self->emit = emit;
        self->ctx = ctx;
    }
    return self;
}

static void
s_close_pipes (s_proc_t *p)
{
    if (p->out_fd >= 0)
        close (p->out_fd);
    if (p->err_fd >= 0)
        close (p->err_fd);
    p->out_fd = p->err_fd = -1;
}

void
agent_supervisor_destroy (agent_supervisor_t **self_p)
{
    assert (self_p);
    agent_supervisor_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->n; i++) {
        s_close_pipes (self->procs[i]);
        free (self->procs[i]);
    }
    free (self);
    *self_p = NULL;
}

int
agent_supervisor_add (agent_supervisor_t *self, const agent_proc_spec_t *spec)
{
    assert (self);
    if (self->n == AGENT_PROCS_MAX || !agent_msg_name_ok (spec->name)
        || strlen (spec->name) > AGENT_PROC_NAME_MAX || !spec->cmd[0])
        return -1;
    for (size_t i = 0; i < self->n; i++)
        if (strcmp (self->procs[i]->spec.name, spec->name) == 0)
            return -1;
    s_proc_t *p = calloc (1, sizeof *p);
    if (!p)
        return -1;
    p->spec = *spec;
    if (!p->spec.backoff_min_ms)
        p->spec.backoff_min_ms = 200;
    if (!p->spec.backoff_max_ms)
        p->spec.backoff_max_ms = 30000;
    p->out_fd = p->err_fd = -1;
    char stream[AGENT_STREAM_NAME_MAX + 1];
    snprintf (stream, sizeof stream, "%s-out", spec->name);
    agent_lines_init (&p->out, stream);
    snprintf (stream, sizeof stream, "%s-err", spec->name);
    agent_lines_init (&p->err, stream);
    self->procs[self->n++] = p;
    s_start (self, p);
    return 0;
}

/* Read what a pipe has; on EOF close it and flush its last line. */
static void
s_pipe_ready (void *arg, int fd, short revents)
{
    s_arg_t *a = arg;
    s_proc_t *p = a->p;
    char buf[S_READ_MAX];
    ssize_t n = read (fd, buf, sizeof buf);
    if (n > 0) {
        agent_lines_feed (a->err ? &p->err : &p->out, buf, (size_t) n, a->self->emit, a->self->ctx);
        return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    agent_lines_flush (a->err ? &p->err : &p->out, a->self->emit, a->self->ctx);
    close (fd);
    if (a->err)
        p->err_fd = -1;
    else
        p->out_fd = -1;
}

size_t
agent_supervisor_watches (agent_supervisor_t *self, agent_watch_t *w, size_t max)
{
    assert (self);
    size_t n = 0;
    for (size_t i = 0; i < self->n && n + 2 <= max; i++) {
        s_proc_t *p = self->procs[i];
        if (p->out_fd >= 0) {
            self->args[2 * i] = (s_arg_t){ self, p, false };
            w[n++] = (agent_watch_t){ p->out_fd, POLLIN, s_pipe_ready, &self->args[2 * i] };
        }
        if (p->err_fd >= 0) {
            self->args[2 * i + 1] = (s_arg_t){ self, p, true };
            w[n++] = (agent_watch_t){ p->err_fd, POLLIN, s_pipe_ready, &self->args[2 * i + 1] };
        }
    }
    return n;
}

bool
agent_supervisor_reaped (agent_supervisor_t *self, pid_t pid, int status)
{
    assert (self);
    for (size_t i = 0; i < self->n; i++) {
        s_proc_t *p = self->procs[i];
        if (p->state == S_RUNNING && p->pid == pid) {
            p->status = status;
            p->reaped = true;
            p->reaped_ms = agent_clock_mono_ms ();
            p->state = S_EXITED;
            return true;
        }
    }
    return false;
}

static uint32_t
s_backoff (s_proc_t *p)
{
    uint64_t d = p->spec.backoff_min_ms;
    for (uint32_t i = 1; i < p->failures && d < p->spec.backoff_max_ms; i++)
        d *= 2;
    if (d > p->spec.backoff_max_ms)
        d = p->spec.backoff_max_ms;
    /* +-20 % so processes that fail together do not restart together. */
    double j = 0.8 + 0.4 * ((double) random () / RAND_MAX);
    return (uint32_t) ((double) d * j);
}

/* Reaped and drained (or out of patience): report and decide. */
static void
s_finish (agent_supervisor_t *self, s_proc_t *p, int64_t now)
{
    if (p->out_fd >= 0 || p->err_fd >= 0) {
        agent_lines_flush (&p->out, self->emit, self->ctx);
        agent_lines_flush (&p->err, self->emit, self->ctx);
        s_close_pipes (p);
    }
    bool failed = !WIFEXITED (p->status) || WEXITSTATUS (p->status) != 0;
    log_info (S_COMP, "exited|name=%s pid=%d status=%d", p->spec.name, (int) p->pid, p->status);
    s_event (self, p, AGENT_PROC_EXIT);
    bool again = !self->stopping && !p->stopping
                 && (p->spec.restart == AGENT_RESTART_ALWAYS
                     || (p->spec.restart == AGENT_RESTART_ON_FAILURE && failed));
    if (!again) {
        p->state = S_DONE;
        return;
    }
    if (p->spec.max_restarts && p->restarts >= p->spec.max_restarts) {
        p->state = S_DONE;
        s_event (self, p, AGENT_PROC_GIVEUP);
        return;
    }
    if (p->reaped_ms - p->started_ms >= S_HEALTHY_MS)
        p->failures = 0;
    p->failures++;
    p->restarts++;
    p->restart_at_ms = now + s_backoff (p);
    p->state = S_WAITING;
    s_event (self, p, AGENT_PROC_RESTART);
}

int64_t
agent_supervisor_next_ms (agent_supervisor_t *self)
{
    assert (self);
    int64_t next = AGENT_NEVER;
    for (size_t i = 0; i < self->n; i++) {
        s_proc_t *p = self->procs[i];
        int64_t at = AGENT_NEVER;
        if (p->state == S_EXITED)
            at = (p->out_fd < 0 && p->err_fd < 0) ? 0 : p->reaped_ms + S_DRAIN_GRACE_MS;
        else if (p->state == S_WAITING)
            at = p->restart_at_ms;
        if (at < next)
            next = at;
    }
    return next;
}

void
agent_supervisor_tick (agent_supervisor_t *self, int64_t now)
{
    assert (self);
    for (size_t i = 0; i < self->n; i++) {
        s_proc_t *p = self->procs[i];
        if (p->state == S_EXITED
            && ((p->out_fd < 0 && p->err_fd < 0) || now >= p->reaped_ms + S_DRAIN_GRACE_MS))
            s_finish (self, p, now);
        else if (p->state == S_WAITING && now >= p->restart_at_ms && !self->stopping)
            s_start (self, p);
    }
}

void
agent_supervisor_stop_all (agent_supervisor_t *self)
{
    assert (self);
    self->stopping = true;
    for (size_t i = 0; i < self->n; i++) {
        s_proc_t *p = self->procs[i];
        if (p->state == S_RUNNING && p->pid > 0) {
            p->stopping = true;
            kill (-p->pid, SIGTERM);
        }
        if (p->state == S_WAITING)
            p->state = S_DONE;
    }
}

void
agent_supervisor_kill_all (agent_supervisor_t *self)
{
    assert (self);
    for (size_t i = 0; i < self->n; i++) {
        s_proc_t *p = self->procs[i];
        if (p->state == S_RUNNING && p->pid > 0)
            kill (-p->pid, SIGKILL);
    }
}

size_t
agent_supervisor_running (agent_supervisor_t *self)
{
    assert (self);
    size_t n = 0;
    for (size_t i = 0; i < self->n; i++)
        if (self->procs[i]->state == S_RUNNING || self->procs[i]->state == S_EXITED)
            n++;
    return n;
}
