/*
 * agent.c - shed-agent's event loop (see agent.h).
 */
#include "agent/agent.h"
#include "agent/conn.h"
#include "agent/proto/agent_proto.h"
#include "agent/proto/agent_bucket.h"
#include "agent/metrics.h"
#include "agent/provision.h"

#include "common/version.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#define S_COMP                      "agent"
#define S_STOP_GRACE_MS             5000
#define AGENT_CONTAINER_CGROUP_ROOT "/sys/fs/cgroup"
#define AGENT_DEFAULT_USER          "shed"

typedef struct {
    int fd; /* non-blocking connect in progress, or -1 */
    int64_t next_ms;
    uint64_t status; /* last reported, 0 = never */
} s_health_t;

struct _agent_t {
    agent_config_t *cfg;
    int sigfd;
    agent_conn_t *conn;
    agent_supervisor_t *sup;
    agent_provisioner_t *prov;
    agent_tail_t *tail;
    agent_metrics_collector_t *metrics;
    int64_t next_metrics_ms;
    s_health_t health[AGENT_SERVICES_MAX];
    bool stopping;
    int64_t stop_deadline_ms;
    bool killed;
    bool pid1; /* init of a PID namespace (container, VM) */
};

static void
s_emit (void *ctx, const agent_msg_t *msg)
{
    agent_t *self = ctx;
    agent_conn_send (self->conn, msg);
}

static void
s_health_report (agent_t *self, size_t i, uint64_t status, const char *output)
{
    s_health_t *h = &self->health[i];
    if (h->status == status)
        return;
    h->status = status;
    agent_msg_t m;
    memset (&m, 0, sizeof m);
    m.hdr.type = AGENT_SERVICE_HEALTH;
    snprintf (m.u.agent_service_health.name, sizeof m.u.agent_service_health.name, "%s",
              self->cfg->services[i].name);
    m.u.agent_service_health.status = status;
    snprintf (m.u.agent_service_health.output, sizeof m.u.agent_service_health.output, "%s",
              output);
    s_emit (self, &m);
}

/* On every (re)connection the host's catalog starts empty for us. */
static void
s_register_services (agent_t *self)
{
    for (size_t i = 0; i < self->cfg->nservices; i++) {
        agent_service_spec_t *s = &self->cfg->services[i];
        agent_msg_t m;
        memset (&m, 0, sizeof m);
        m.hdr.type = AGENT_SERVICE_REGISTER;
        agent_service_register_t *r = &m.u.agent_service_register;
        snprintf (r->name, sizeof r->name, "%s", s->name);
        r->port = s->port;
        snprintf (r->protocol, sizeof r->protocol, "%s", s->protocol);
        snprintf (r->check, sizeof r->check, "%s", s->check);
        r->tags.n = s->ntags;
        r->tags.items = s->tags;
        s_emit (self, &m);
        uint64_t last = self->health[i].status;
        self->health[i].status = 0; /* re-announce the last state */
        if (last)
            s_health_report (self, i, last, "");
    }
}

static void
s_on_host_msg (void *ctx, agent_msg_t *msg)
{
    agent_t *self = ctx;
    if (msg->hdr.type == AGENT_HELLO_ACK) {
        if (msg->u.agent_hello_ack.metrics_interval_ms)
            self->next_metrics_ms = agent_clock_mono_ms ();
        s_register_services (self);
    }
    else if (msg->hdr.type == AGENT_PROVISION) {
        /* Refused with "agent stopping" when we stop: the host learns at
         * once rather than at its run's timeout. */
        agent_provisioner_submit (self->prov, msg);
        return;
    }
    wire_msg_free (&agent_proto, msg);
}

/* tcp check: connect to 127.0.0.1:port. Loopback answers at once, but the
 * socket is non-blocking anyway and a pending connect is judged next time. */
static void
s_check_health (agent_t *self, int64_t now)
{
    for (size_t i = 0; i < self->cfg->nservices; i++) {
        agent_service_spec_t *s = &self->cfg->services[i];
        s_health_t *h = &self->health[i];
        if (strcmp (s->check, "tcp") != 0 || now < h->next_ms)
            continue;
        h->next_ms = now + (s->interval_ms ? s->interval_ms : 10000);
        if (h->fd >= 0) {
            int err = 0;
            socklen_t len = sizeof err;
            struct pollfd p = { h->fd, POLLOUT, 0 };
            bool done = poll (&p, 1, 0) > 0;
            getsockopt (h->fd, SOL_SOCKET, SO_ERROR, &err, &len);
            close (h->fd);
            h->fd = -1;
            s_health_report (self, i, done && !err ? AGENT_HEALTH_PASSING : AGENT_HEALTH_CRITICAL,
                             done ? (err ? strerror (err) : "ok") : "connect timed out");
            continue;
        }
        int fd = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        struct sockaddr_in sa;
        memset (&sa, 0, sizeof sa);
        sa.sin_family = AF_INET;
        sa.sin_port = htons ((uint16_t) s->port);
        sa.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
        int rc = connect (fd, (struct sockaddr *) &sa, sizeof sa);
        if (rc == 0 || errno != EINPROGRESS) {
            s_health_report (self, i, rc == 0 ? AGENT_HEALTH_PASSING : AGENT_HEALTH_CRITICAL,
                             rc == 0 ? "ok" : strerror (errno));
            close (fd);
        }
        else {
            h->fd = fd;
            h->next_ms = now + 1000;
        }
    }
}

static void
s_reap (agent_t *self)
{
    int status;
    pid_t pid;
    while ((pid = waitpid (-1, &status, WNOHANG)) > 0) {
        if (agent_supervisor_reaped (self->sup, pid, status))
            continue;
        if (agent_provisioner_reaped (self->prov, pid, status))
            continue;
        /* An orphan re-parented to us (init duty): reaped, nothing more. */
        log_debug (S_COMP, "reaped orphan|pid=%d", (int) pid);
    }
}

/* Do we still have a child, running or not yet reaped? (As PID 1: is
 * any other process of the shed left?) */
static bool
s_have_children (void)
{
    siginfo_t si;
    memset (&si, 0, sizeof si);
    return waitid (P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) == 0 || errno != ECHILD;
}

static void
s_on_signal (void *arg, int fd, short revents)
{
    agent_t *self = arg;
    struct signalfd_siginfo si;
    while (read (fd, &si, sizeof si) == sizeof si) {
        if (si.ssi_signo == SIGCHLD)
            s_reap (self);
        else if ((si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) && !self->stopping) {
            log_info (S_COMP, "stopping|signal=%u", si.ssi_signo);
            self->stopping = true;
            self->stop_deadline_ms = agent_clock_mono_ms () + S_STOP_GRACE_MS;
            agent_supervisor_stop_all (self->sup);
            agent_provisioner_stop (self->prov);
            /* As PID 1 every process of the shed is ours to stop: when we
             * exit the kernel SIGKILLs whatever is left, so first give
             * them (steps, daemons started by steps) the same grace. */
            if (self->pid1)
                kill (-1, SIGTERM);
        }
    }
}

agent_t *
agent_new (const agent_config_t *cfg)
{
    assert (cfg);
    if (!cfg->connect[0]) {
        log_error (S_COMP, "no --connect target (unix:PATH or vsock:CID:PORT)");
        return NULL;
    }
    agent_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->cfg = malloc (sizeof *cfg);
    if (!self->cfg) {
        free (self);
        return NULL;
    }
    memcpy (self->cfg, cfg, sizeof *cfg);
    for (size_t i = 0; i < AGENT_SERVICES_MAX; i++)
        self->health[i].fd = -1;

    sigset_t set;
    sigemptyset (&set);
    sigaddset (&set, SIGCHLD);
    sigaddset (&set, SIGTERM);
    sigaddset (&set, SIGINT);
    sigprocmask (SIG_BLOCK, &set, NULL);
    signal (SIGPIPE, SIG_IGN);
    self->sigfd = signalfd (-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    self->pid1 = getpid () == 1;
    if (cfg->init && !self->pid1)
        /* Not PID 1 (tests, or under another init): still adopt orphans. */
        prctl (PR_SET_CHILD_SUBREAPER, 1);

    agent_conn_config_t cc = {
        .target = cfg->connect,
        .buffer_frames = cfg->buffer_frames,
        .buffer_bytes = cfg->buffer_bytes,
        .backoff_min_ms = cfg->backoff_min_ms,
        .backoff_max_ms = cfg->backoff_max_ms,
    };
    self->conn = agent_conn_new (&cc, s_on_host_msg, self);
    self->sup = agent_supervisor_new (s_emit, self);
    self->prov = agent_provisioner_new (s_emit, self);
    /* The default user `shed`, when the shed has one: a shed's own
     * /etc/passwd (container, VM). A netns shed's /etc/passwd is the
     * host's: a host user that happens to be called shed is no shed user. */
    bool netns = cfg->cgroup_root[0] && !cfg->container;
    if (self->prov && !netns)
        agent_provisioner_set_default_user (self->prov, AGENT_DEFAULT_USER);
    if (self->prov && cfg->provision_user[0]) {
        agent_provisioner_set_user (self->prov, cfg->provision_user);
        if (geteuid () != 0)
            log_warn (S_COMP,
                      "not root: provisioning runs as this user, not provision_user|"
                      "user=%s",
                      cfg->provision_user);
    }
    self->tail = agent_tail_new (s_emit, self);
    const char *mounts[AGENT_MOUNTS_MAX];
    for (size_t i = 0; i < cfg->nmounts; i++)
        mounts[i] = cfg->mounts[i];
    self->metrics = agent_metrics_new (cfg->proc_root, mounts, cfg->nmounts);
    /* A netns shed sees the host's /proc: its own use is in its cgroup. A
     * container has its own /proc (processes) but the host's /proc/stat
     * and meminfo: its use is in the cgroup mounted at /sys/fs/cgroup. */
    const char *cg_root = cfg->cgroup_root[0] ? cfg->cgroup_root
                          : cfg->container    ? AGENT_CONTAINER_CGROUP_ROOT
                                              : "";
    if (self->metrics && cg_root[0]
        && (cfg->container ? agent_metrics_use_container (self->metrics, cg_root)
                           : agent_metrics_use_cgroup (self->metrics, cg_root))
               != 0)
        log_warn (S_COMP, "cgroup metrics unavailable, using /proc|root=%s", cg_root);
    if (self->sigfd < 0 || !self->conn || !self->sup || !self->prov || !self->tail
        || !self->metrics) {
        log_error (S_COMP, "cannot start|connect=%s", cfg->connect);
        agent_destroy (&self);
        return NULL;
    }

    agent_hello_t hello;
    memset (&hello, 0, sizeof hello);
    snprintf (hello.agent_version, sizeof hello.agent_version, "%s", SHED_VERSION_STRING);
    hello.caps = AGENT_CAP_METRICS | AGENT_CAP_PROCS | AGENT_CAP_LOGS | AGENT_CAP_SERVICES
                 | AGENT_CAP_PROVISION | AGENT_CAP_STREAMS | (cfg->init ? AGENT_CAP_INIT : 0);
    hello.boot_time = agent_metrics_boot_time (self->metrics);
    snprintf (hello.shed, sizeof hello.shed, "%s", cfg->shed);
    hello.pid = (uint64_t) getpid ();
    struct utsname u;
    if (uname (&u) == 0) {
        snprintf (hello.hostname, sizeof hello.hostname, "%.63s", u.nodename);
        snprintf (hello.kernel, sizeof hello.kernel, "%.63s", u.release);
    }
    hello.started_ms = (uint64_t) agent_clock_wall_ms ();
    agent_conn_set_hello (self->conn, &hello);

    for (size_t i = 0; i < cfg->ntails; i++)
        agent_tail_add (self->tail, cfg->tails[i].stream, cfg->tails[i].path,
                        cfg->tails[i].from_start);
    for (size_t i = 0; i < cfg->nprocs; i++)
        if (agent_supervisor_add (self->sup, &cfg->procs[i]))
            log_warn (S_COMP, "process not added|name=%s", cfg->procs[i].name);
    /* Prime the CPU counters so the first report has a real percentage. */
    agent_msg_t scratch;
    agent_metrics_collect (self->metrics, &scratch);
    self->next_metrics_ms = agent_clock_mono_ms () + cfg->metrics_interval_ms;
    return self;
}

void
agent_destroy (agent_t **self_p)
{
    assert (self_p);
    agent_t *self = *self_p;
    if (!self)
        return;
    agent_conn_destroy (&self->conn);
    agent_supervisor_destroy (&self->sup);
    agent_provisioner_destroy (&self->prov);
    agent_tail_destroy (&self->tail);
    agent_metrics_destroy (&self->metrics);
    for (size_t i = 0; i < AGENT_SERVICES_MAX; i++)
        if (self->health[i].fd >= 0)
            close (self->health[i].fd);
    if (self->sigfd >= 0)
        close (self->sigfd);
    free (self->cfg);
    free (self);
    *self_p = NULL;
}

static uint32_t
s_metrics_interval (agent_t *self)
{
    const agent_hello_ack_t *s = agent_conn_settings (self->conn);
    return s->metrics_interval_ms ? (uint32_t) s->metrics_interval_ms
                                  : self->cfg->metrics_interval_ms;
}

static void
s_timers (agent_t *self, int64_t now)
{
    agent_conn_tick (self->conn, now);
    agent_supervisor_tick (self->sup, now);
    agent_provisioner_tick (self->prov, now);
    agent_tail_tick (self->tail, now);
    uint32_t every = s_metrics_interval (self);
    /* A shorter interval from the host (a later HELLO_ACK) applies now,
     * not after the old, longer period. */
    if (every && self->next_metrics_ms > now + every)
        self->next_metrics_ms = now + every;
    if (now >= self->next_metrics_ms) {
        self->next_metrics_ms = now + (every ? every : 5000);
        /* Metrics are state, not history: skipped while disconnected
         * rather than crowding logs out of the buffer. */
        if (agent_conn_ready (self->conn)) {
            agent_msg_t m;
            agent_metrics_collect (self->metrics, &m);
            s_emit (self, &m);
        }
    }
    s_check_health (self, now);
}

static int64_t
s_min (int64_t a, int64_t b)
{
    return a < b ? a : b;
}

int
agent_run (agent_t *self)
{
    assert (self);
    log_info (S_COMP, "started|connect=%s shed=%s init=%d processes=%zu", self->cfg->connect,
              self->cfg->shed, self->cfg->init, self->cfg->nprocs);
    static agent_watch_t w[AGENT_WATCH_MAX];
    static struct pollfd pfd[AGENT_WATCH_MAX];
    for (;;) {
        int64_t now = agent_clock_mono_ms ();
        if (self->stopping) {
            /* Done when nothing of ours runs: supervised processes, the
             * step (its PROVISION_DONE goes out before our CLOSE) and, as
             * PID 1, any process of the shed. */
            if (agent_supervisor_running (self->sup) == 0 && !agent_provisioner_busy (self->prov)
                && !(self->pid1 && s_have_children ()))
                break;
            if (now >= self->stop_deadline_ms) {
                if (self->killed)
                    break;
                /* Grace is over: SIGKILL whatever is left, one more turn. */
                self->killed = true;
                self->stop_deadline_ms = now + 500;
                agent_supervisor_kill_all (self->sup);
                agent_provisioner_kill (self->prov);
                if (self->pid1)
                    kill (-1, SIGKILL);
            }
        }
        size_t n = 0;
        w[n++] = (agent_watch_t){ self->sigfd, POLLIN, s_on_signal, self };
        n += agent_conn_watches (self->conn, w + n, AGENT_WATCH_MAX - n);
        n += agent_supervisor_watches (self->sup, w + n, AGENT_WATCH_MAX - n);
        n += agent_provisioner_watches (self->prov, w + n, AGENT_WATCH_MAX - n);
        int64_t next = self->next_metrics_ms;
        next = s_min (next, agent_conn_next_ms (self->conn));
        next = s_min (next, agent_supervisor_next_ms (self->sup));
        next = s_min (next, agent_provisioner_next_ms (self->prov));
        next = s_min (next, agent_tail_next_ms (self->tail));
        for (size_t i = 0; i < self->cfg->nservices; i++)
            if (!strcmp (self->cfg->services[i].check, "tcp"))
                next = s_min (next, self->health[i].next_ms);
        if (self->stopping)
            next = s_min (next, self->stop_deadline_ms);
        int64_t wait = next - now;
        if (wait < 0)
            wait = 0;
        if (wait > 1000)
            wait = 1000;
        for (size_t i = 0; i < n; i++)
            pfd[i] = (struct pollfd){ w[i].fd, w[i].events, 0 };
        int rc = poll (pfd, n, (int) wait);
        if (rc < 0 && errno != EINTR)
            break;
        for (size_t i = 0; rc > 0 && i < n; i++)
            if (pfd[i].revents)
                w[i].fn (w[i].arg, pfd[i].fd, pfd[i].revents);
        s_timers (self, agent_clock_mono_ms ());
    }
    /* Say goodbye and flush what we can. */
    if (agent_conn_ready (self->conn)) {
        agent_msg_t m;
        memset (&m, 0, sizeof m);
        m.hdr.type = AGENT_CLOSE;
        m.u.agent_close.code = AGENT_CLOSE_SHUTDOWN;
        snprintf (m.u.agent_close.reason, sizeof m.u.agent_close.reason, "agent stopping");
        agent_conn_send (self->conn, &m);
        agent_conn_drain (self->conn, 1000);
    }
    log_info (S_COMP, "stopped|dropped=%llu",
              (unsigned long long) agent_conn_dropped_total (self->conn));
    return 0;
}
