/*
 * provision.c - provisioning runs (see provision.h).
 */
#include "agent/provision.h"
#include "agent/proto/agent_proto.h"
#include "agent/proto/agent_bucket.h"
#include "agent/passwd.h"
#include "agent/supervisor.h"

#include "common/log.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define S_COMP           "provision"
#define S_DRAIN_GRACE_MS 1000
#define S_STOPPING       "agent stopping"

struct _agent_provisioner_t {
    agent_emit_fn *emit;
    void *ctx;
    char user[AGENT_USER_MAX + 1];                 /* the shed user, "" = ours */
    char default_user[AGENT_USER_MAX + 1];         /* if it exists; "" = none */
    char etc_root[AGENT_PATH_MAX + 1];             /* where etc/passwd is: "/" */
    char run_user[AGENT_USER_MAX + 1];             /* who the running run's steps run as */
    bool stopping;                                 /* the agent stops: no new steps */
    agent_msg_t *queue[AGENT_PROVISION_QUEUE + 1]; /* [0] is running */
    size_t nqueue;
    /* The running step of queue[0]. */
    size_t step;
    bool active; /* a step process exists */
    pid_t pid;
    int out_fd, err_fd, in_fd;
    size_t in_off;
    uint64_t out_off[3]; /* by fd number */
    int status;
    bool reaped, timed_out, spawn_failed;
    int64_t started_ms, reaped_ms;
    int64_t failed_step; /* first failure of this run, or -1 */
    size_t steps_run;
    char error[AGENT_TEXT_MAX + 1];
};

agent_provisioner_t *
agent_provisioner_new (agent_emit_fn *emit, void *ctx)
{
    agent_provisioner_t *self = calloc (1, sizeof *self);
    if (self) {
        self->emit = emit;
        self->ctx = ctx;
        self->out_fd = self->err_fd = self->in_fd = -1;
        snprintf (self->etc_root, sizeof self->etc_root, "/");
    }
    return self;
}

int
agent_provisioner_set_user (agent_provisioner_t *self, const char *user)
{
    assert (self);
    if (user && strlen (user) > AGENT_USER_MAX)
        return -1;
    snprintf (self->user, sizeof self->user, "%s", user ? user : "");
    return 0;
}

int
agent_provisioner_set_default_user (agent_provisioner_t *self, const char *user)
{
    assert (self);
    if (user && strlen (user) > AGENT_USER_MAX)
        return -1;
    snprintf (self->default_user, sizeof self->default_user, "%s", user ? user : "");
    return 0;
}

int
agent_provisioner_set_etc_root (agent_provisioner_t *self, const char *root)
{
    assert (self);
    if (!root || !root[0] || strlen (root) > AGENT_PATH_MAX)
        return -1;
    snprintf (self->etc_root, sizeof self->etc_root, "%s", root);
    return 0;
}

static void
s_close_fds (agent_provisioner_t *self)
{
    if (self->out_fd >= 0)
        close (self->out_fd);
    if (self->err_fd >= 0)
        close (self->err_fd);
    if (self->in_fd >= 0)
        close (self->in_fd);
    self->out_fd = self->err_fd = self->in_fd = -1;
}

void
agent_provisioner_destroy (agent_provisioner_t **self_p)
{
    assert (self_p);
    agent_provisioner_t *self = *self_p;
    if (!self)
        return;
    if (self->active && self->pid > 0 && !self->reaped)
        kill (-self->pid, SIGKILL);
    s_close_fds (self);
    for (size_t i = 0; i < self->nqueue; i++) {
        wire_msg_free (&agent_proto, self->queue[i]);
        free (self->queue[i]);
    }
    free (self);
    *self_p = NULL;
}

static void
s_done (agent_provisioner_t *self, uint64_t run, bool ok, int64_t failed, size_t steps_run,
        const char *error)
{
    agent_msg_t m;
    memset (&m, 0, sizeof m);
    m.hdr.type = AGENT_PROVISION_DONE;
    m.u.agent_provision_done.run = run;
    m.u.agent_provision_done.ok = ok;
    m.u.agent_provision_done.failed_step = failed;
    m.u.agent_provision_done.steps_run = steps_run;
    snprintf (m.u.agent_provision_done.error, sizeof m.u.agent_provision_done.error, "%s",
              error ? error : "");
    self->emit (self->ctx, &m);
}

static void
s_start_step (agent_provisioner_t *self)
{
    agent_provision_t *run = &self->queue[0]->u.agent_provision;
    agent_step_t *st = &run->steps.items[self->step];
    self->reaped = self->timed_out = self->spawn_failed = false;
    self->in_off = 0;
    memset (self->out_off, 0, sizeof self->out_off);
    self->started_ms = agent_clock_mono_ms ();
    self->active = true;

    int in[2] = { -1, -1 };
    if (st->input.len && pipe2 (in, O_CLOEXEC) < 0)
        in[0] = in[1] = -1;
    /* Users only matter as root: otherwise we could not become them. */
    const char *user = self->run_user;
    agent_user_t who;
    bool switch_user = user[0] && geteuid () == 0;
    if (switch_user && agent_user_lookup (self->etc_root, user, &who) != 0) {
        log_warn (S_COMP, "no such user|user=%s", user);
        self->pid = -1;
        errno = ENOENT;
    }
    else
        self->pid = agent_spawn (st->cmd, switch_user ? &who : NULL, st->cwd, &st->env, in[0],
                                 &self->out_fd, &self->err_fd);
    int spawn_errno = errno;
    if (in[0] >= 0)
        close (in[0]);
    self->in_fd = in[1];
    if (self->in_fd >= 0)
        fcntl (self->in_fd, F_SETFL, O_NONBLOCK);
    if (self->pid < 0) {
        /* ENOENT here: the user lookup above (agent_spawn forks, it does
         * not open paths). */
        char why[AGENT_TEXT_MAX + 1];
        if (spawn_errno == ENOENT && user[0])
            snprintf (why, sizeof why, "step %s: cannot start: no such user '%s'", st->name, user);
        else
            snprintf (why, sizeof why, "step %s: cannot start: %s", st->name,
                      strerror (spawn_errno));
        /* The run's error is its first failure's (keep_going may go on). */
        if (!self->error[0])
            snprintf (self->error, sizeof self->error, "%s", why);
        self->out_fd = self->err_fd = -1;
        s_close_fds (self);
        /* Say it on the step's stderr too: whoever follows the output
         * sees why the step exited 127 without running. */
        char line[AGENT_TEXT_MAX + 16];
        snprintf (line, sizeof line, "shed-agent: %s\n", why);
        agent_msg_t m;
        memset (&m, 0, sizeof m);
        m.hdr.type = AGENT_PROVISION_OUTPUT;
        agent_provision_output_t *o = &m.u.agent_provision_output;
        o->run = run->run;
        o->step = self->step;
        o->fd = AGENT_FD_STDERR;
        o->data.data = (uint8_t *) line;
        o->data.len = strlen (line);
        self->out_off[AGENT_FD_STDERR] += o->data.len;
        self->emit (self->ctx, &m);
        self->spawn_failed = true;
        self->reaped = true;
        self->status = 127 << 8;
        self->reaped_ms = self->started_ms;
        return;
    }
    log_info (S_COMP, "step started|run=%llu step=%zu name=%s pid=%d",
              (unsigned long long) run->run, self->step, st->name, (int) self->pid);
}

/* Begin the run at the head of the queue, if any. */
static void
s_next_run (agent_provisioner_t *self)
{
    if (self->nqueue == 0)
        return;
    self->step = 0;
    self->failed_step = -1;
    self->steps_run = 0;
    self->error[0] = '\0';
    /* Who the run's steps run as, decided once per run: its own user,
     * else the shed user, else the default user (`shed`) if the shed has
     * one, else ours. The default is looked up here, not per step, so a
     * run whose first step creates the user does not change hands midway. */
    const agent_provision_t *run = &self->queue[0]->u.agent_provision;
    agent_user_t who;
    const char *user = run->user[0] ? run->user : self->user;
    if (!user[0] && self->default_user[0] && geteuid () == 0
        && agent_user_lookup (self->etc_root, self->default_user, &who) == 0)
        user = self->default_user;
    snprintf (self->run_user, sizeof self->run_user, "%s", user);
    s_start_step (self);
}

int
agent_provisioner_submit (agent_provisioner_t *self, agent_msg_t *msg)
{
    assert (self);
    assert (msg->hdr.type == AGENT_PROVISION);
    if (self->stopping) {
        s_done (self, msg->u.agent_provision.run, false, -1, 0, S_STOPPING);
        wire_msg_free (&agent_proto, msg);
        return -1;
    }
    if (self->nqueue > AGENT_PROVISION_QUEUE) {
        s_done (self, msg->u.agent_provision.run, false, -1, 0, "busy");
        wire_msg_free (&agent_proto, msg);
        return -1;
    }
    agent_msg_t *own = malloc (sizeof *own);
    if (!own) {
        s_done (self, msg->u.agent_provision.run, false, -1, 0, "out of memory");
        wire_msg_free (&agent_proto, msg);
        return -1;
    }
    *own = *msg;
    memset (msg, 0, sizeof *msg);
    self->queue[self->nqueue++] = own;
    if (self->nqueue == 1)
        s_next_run (self);
    return 0;
}

bool
agent_provisioner_reaped (agent_provisioner_t *self, pid_t pid, int status)
{
    assert (self);
    if (!self->active || self->reaped || pid != self->pid)
        return false;
    self->status = status;
    self->reaped = true;
    self->reaped_ms = agent_clock_mono_ms ();
    return true;
}

static void
s_out_ready (void *arg, int fd, short revents)
{
    agent_provisioner_t *self = arg;
    int which = fd == self->out_fd ? AGENT_FD_STDOUT : AGENT_FD_STDERR;
    static uint8_t buf[AGENT_OUTPUT_CHUNK_MAX];
    ssize_t n = read (fd, buf, sizeof buf);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        close (fd);
        if (which == AGENT_FD_STDOUT)
            self->out_fd = -1;
        else
            self->err_fd = -1;
        return;
    }
    agent_msg_t m;
    memset (&m, 0, sizeof m);
    m.hdr.type = AGENT_PROVISION_OUTPUT;
    agent_provision_output_t *o = &m.u.agent_provision_output;
    o->run = self->queue[0]->u.agent_provision.run;
    o->step = self->step;
    o->fd = (uint64_t) which;
    o->offset = self->out_off[which];
    o->data.data = buf;
    o->data.len = (size_t) n;
    self->out_off[which] += (uint64_t) n;
    self->emit (self->ctx, &m);
}

static void
s_in_ready (void *arg, int fd, short revents)
{
    agent_provisioner_t *self = arg;
    agent_step_t *st = &self->queue[0]->u.agent_provision.steps.items[self->step];
    if (!(revents & POLLERR)) {
        ssize_t w = write (fd, st->input.data + self->in_off, st->input.len - self->in_off);
        if (w > 0)
            self->in_off += (size_t) w;
        else if (w < 0 && (errno == EAGAIN || errno == EINTR))
            return;
    }
    if (self->in_off >= st->input.len || (revents & POLLERR)) {
        close (fd); /* EOF tells the step its input is over */
        self->in_fd = -1;
    }
}

size_t
agent_provisioner_watches (agent_provisioner_t *self, agent_watch_t *w, size_t max)
{
    assert (self);
    size_t n = 0;
    if (!self->active || max < 3)
        return 0;
    if (self->out_fd >= 0)
        w[n++] = (agent_watch_t){ self->out_fd, POLLIN, s_out_ready, self };
    if (self->err_fd >= 0)
        w[n++] = (agent_watch_t){ self->err_fd, POLLIN, s_out_ready, self };
    if (self->in_fd >= 0)
        w[n++] = (agent_watch_t){ self->in_fd, POLLOUT, s_in_ready, self };
    return n;
}

int64_t
agent_provisioner_next_ms (agent_provisioner_t *self)
{
    assert (self);
    if (!self->active)
        return AGENT_NEVER;
    if (self->reaped)
        return self->out_fd < 0 && self->err_fd < 0 ? 0 : self->reaped_ms + S_DRAIN_GRACE_MS;
    agent_step_t *st = &self->queue[0]->u.agent_provision.steps.items[self->step];
    /* After the kill, only SIGCHLD can move us on. */
    return st->timeout_ms && !self->timed_out ? self->started_ms + (int64_t) st->timeout_ms
                                              : AGENT_NEVER;
}

/* The agent stops: every waiting run ends without running. */
static void
s_drop_queue (agent_provisioner_t *self)
{
    for (size_t i = 0; i < self->nqueue; i++) {
        s_done (self, self->queue[i]->u.agent_provision.run, false, -1, 0, S_STOPPING);
        wire_msg_free (&agent_proto, self->queue[i]);
        free (self->queue[i]);
    }
    self->nqueue = 0;
}

void
agent_provisioner_stop (agent_provisioner_t *self)
{
    assert (self);
    if (self->stopping)
        return;
    self->stopping = true;
    if (self->active) {
        /* The running step gets the grace the supervised processes get;
         * the agent SIGKILLs what is left when it is over. */
        if (!self->reaped && self->pid > 0)
            kill (-self->pid, SIGTERM);
        /* queue[0] ends when its step does; the others now. */
        for (size_t i = 1; i < self->nqueue; i++) {
            s_done (self, self->queue[i]->u.agent_provision.run, false, -1, 0, S_STOPPING);
            wire_msg_free (&agent_proto, self->queue[i]);
            free (self->queue[i]);
        }
        self->nqueue = self->nqueue ? 1 : 0;
    }
    else
        s_drop_queue (self);
}

void
agent_provisioner_kill (agent_provisioner_t *self)
{
    assert (self);
    if (self->active && !self->reaped && self->pid > 0)
        kill (-self->pid, SIGKILL);
}

static void
s_step_done (agent_provisioner_t *self)
{
    agent_provision_t *run = &self->queue[0]->u.agent_provision;
    agent_step_t *st = &run->steps.items[self->step];
    s_close_fds (self);
    self->active = false;
    self->steps_run++;

    agent_msg_t m;
    memset (&m, 0, sizeof m);
    m.hdr.type = AGENT_PROC_EVENT;
    agent_proc_event_t *e = &m.u.agent_proc_event;
    e->kind = AGENT_PROC_STEP_DONE;
    snprintf (e->name, sizeof e->name, "%s", st->name);
    e->pid = (uint64_t) (self->pid > 0 ? self->pid : 0);
    e->run = run->run;
    e->step = self->step;
    e->duration_ms = (uint64_t) (self->reaped_ms - self->started_ms);
    e->ts_ms = (uint64_t) agent_clock_wall_ms ();
    if (WIFEXITED (self->status))
        e->exit_code = WEXITSTATUS (self->status);
    else if (WIFSIGNALED (self->status))
        e->signal = (uint64_t) WTERMSIG (self->status);
    bool failed = e->exit_code != 0 || e->signal != 0;
    e->crashed = failed;
    self->emit (self->ctx, &m);
    log_info (S_COMP, "step done|run=%llu step=%zu code=%lld signal=%llu",
              (unsigned long long) run->run, self->step, (long long) e->exit_code,
              (unsigned long long) e->signal);

    if (failed && self->failed_step < 0) {
        self->failed_step = (int64_t) self->step;
        if (!self->error[0])
            snprintf (self->error, sizeof self->error, "step %s %s %lld", st->name,
                      self->timed_out ? "timed out, killed by signal"
                      : e->signal     ? "killed by signal"
                                      : "exited",
                      e->signal ? (long long) e->signal : (long long) e->exit_code);
    }
    bool more = self->step + 1 < run->steps.n && (!failed || run->keep_going);
    if (more && !self->stopping) {
        self->step++;
        s_start_step (self);
        return;
    }
    /* Steps left out because the agent stops: the run did not succeed. */
    bool cut = more && self->stopping;
    s_done (self, run->run, self->failed_step < 0 && !cut, self->failed_step, self->steps_run,
            self->error[0] || !cut ? self->error : S_STOPPING);
    wire_msg_free (&agent_proto, self->queue[0]);
    free (self->queue[0]);
    memmove (self->queue, self->queue + 1, (self->nqueue - 1) * sizeof self->queue[0]);
    self->nqueue--;
    if (self->stopping)
        s_drop_queue (self);
    else
        s_next_run (self);
}

void
agent_provisioner_tick (agent_provisioner_t *self, int64_t now)
{
    assert (self);
    if (!self->active)
        return;
    if (self->reaped) {
        if ((self->out_fd < 0 && self->err_fd < 0) || now >= self->reaped_ms + S_DRAIN_GRACE_MS)
            s_step_done (self);
        return;
    }
    agent_step_t *st = &self->queue[0]->u.agent_provision.steps.items[self->step];
    if (st->timeout_ms && !self->timed_out && now >= self->started_ms + (int64_t) st->timeout_ms) {
        self->timed_out = true;
        kill (-self->pid, SIGKILL);
    }
}

bool
agent_provisioner_busy (agent_provisioner_t *self)
{
    assert (self);
    return self->nqueue > 0;
}
