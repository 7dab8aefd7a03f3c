/*
 * node_catalog_checks.c - health checks of this node's instances: TCP
 * connects and commands run from the main loop, their timers, deadlines
 * and reaping, and the health they write into the instance's record.
 * Separate because it is the one part that spawns processes and opens
 * sockets (docs/catalog.md).
 */
#include "node/catalog/node_catalog_int.h"
#include "common/spawnutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static void s_check_finish (ncat_local_t *l, int health, const char *output);

/* Timers are found by id, never through a pointer handed to zloop: zloop
 * may still fire a timer that was ended earlier in the same pass, and by
 * then what the pointer named may be gone. A stale id finds nothing. */
typedef enum { S_TIMER_TICK, S_TIMER_DEADLINE, S_TIMER_REAP } s_timer_kind_t;

static ncat_local_t *
s_local_by_timer (shed_catalog_t *self, int timer_id, s_timer_kind_t kind)
{
    for (ncat_local_t *l = zlistx_first (self->locals); l; l = zlistx_next (self->locals)) {
        int id = kind == S_TIMER_TICK       ? l->timer_id
                 : kind == S_TIMER_DEADLINE ? l->deadline_id
                                            : l->reap_id;
        if (id == timer_id)
            return l;
    }
    return NULL;
}

/* -------------------------------------------------------------------------
 * Health checks
 */

/* Stop whatever check is in flight, without a result. */
static void
s_check_abort (ncat_local_t *l)
{
    zloop_t *loop = l->owner->loop;
    if (l->fd >= 0) {
        zmq_pollitem_t item = { NULL, l->fd, 0, 0 };
        zloop_poller_end (loop, &item);
        close (l->fd);
        l->fd = -1;
    }
    if (l->deadline_id >= 0)
        zloop_timer_end (loop, l->deadline_id);
    if (l->reap_id >= 0)
        zloop_timer_end (loop, l->reap_id);
    l->deadline_id = l->reap_id = -1;
    if (l->pid > 0) {
        /* The command runs in its own process group: take its children too. */
        kill (-l->pid, SIGKILL);
        kill (l->pid, SIGKILL);
        while (waitpid (l->pid, NULL, 0) < 0 && errno == EINTR)
            ;
        l->pid = 0;
    }
    l->running = false;
}

static void
s_check_finish (ncat_local_t *l, int health, const char *output)
{
    s_check_abort (l);
    shed_catalog_t *self = l->owner;
    /* Write on a health change; and once after (re)arming, so the first
     * result replaces "awaiting first check" even if health stays. */
    bool first = !l->checked && strcmp (output, l->svc.output) != 0;
    l->checked = true;
    if ((uint64_t) health == l->svc.health && !first)
        return;
    if ((uint64_t) health != l->svc.health) {
        log_info ("catalog", "service health changed|service=%s id=%s from=%s to=%s output=\"%s\"",
                  l->svc.name, l->svc.id, rec_health_name (l->svc.health),
                  rec_health_name ((uint64_t) health), output);
        l->svc.health = (uint64_t) health;
        l->svc.updated_ms = (uint64_t) zclock_time ();
    }
    snprintf (l->svc.output, sizeof l->svc.output, "%s", output);
    char err[256];
    if (ncat_put (self, &l->svc, err, sizeof err) != 0)
        log_error ("catalog", "cannot write service health|service=%s id=%s error=\"%s\"",
                   l->svc.name, l->svc.id, err);
}

static int
s_on_deadline (zloop_t *loop, int timer_id, void *arg)
{
    ncat_local_t *l = s_local_by_timer ((shed_catalog_t *) arg, timer_id, S_TIMER_DEADLINE);
    if (!l)
        return 0;
    l->deadline_id = -1; /* a once-timer ends itself */
    char text[96];
    snprintf (text, sizeof text, "%s check timed out after %" PRId64 " ms",
              catalog_check_name (l->svc.check), zclock_mono () - l->started_ms);
    s_check_finish (l, REC_HEALTH_CRITICAL, text);
    return 0;
}

static int
s_on_tcp (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    ncat_local_t *l = arg;
    int soerr = 0;
    socklen_t len = sizeof soerr;
    if (getsockopt (l->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
        soerr = errno;
    char text[REC_OUTPUT_MAX + 1];
    if (soerr == 0)
        snprintf (text, sizeof text, "TCP connect %.200s: ok", l->svc.check_target);
    else
        snprintf (text, sizeof text, "TCP connect %.200s: %s", l->svc.check_target,
                  strerror (soerr));
    s_check_finish (l, soerr == 0 ? REC_HEALTH_PASSING : REC_HEALTH_CRITICAL, text);
    return 0;
}

static void
s_check_tcp (ncat_local_t *l)
{
    char host[REC_CHECK_MAX + 1], text[REC_OUTPUT_MAX + 1];
    uint16_t port;
    struct sockaddr_storage ss;
    memset (&ss, 0, sizeof ss);
    socklen_t sslen = 0;
    if (catalog_split_target (l->svc.check_target, host, sizeof host, &port) == 0) {
        struct sockaddr_in *in4 = (struct sockaddr_in *) &ss;
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) &ss;
        if (inet_pton (AF_INET, host, &in4->sin_addr) == 1) {
            in4->sin_family = AF_INET;
            in4->sin_port = htons (port);
            sslen = sizeof *in4;
        }
        else if (inet_pton (AF_INET6, host, &in6->sin6_addr) == 1) {
            in6->sin6_family = AF_INET6;
            in6->sin6_port = htons (port);
            sslen = sizeof *in6;
        }
    }
    if (!sslen) {
        snprintf (text, sizeof text, "bad TCP check target '%.200s'", l->svc.check_target);
        s_check_finish (l, REC_HEALTH_CRITICAL, text);
        return;
    }
    int fd = socket (ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf (text, sizeof text, "socket: %s", strerror (errno));
        s_check_finish (l, REC_HEALTH_CRITICAL, text);
        return;
    }
    /* Non-blocking connect: the loop goes on while the handshake runs; the
     * answer comes as writability (SO_ERROR tells which) or the deadline. */
    if (connect (fd, (struct sockaddr *) &ss, sslen) == 0) {
        close (fd);
        snprintf (text, sizeof text, "TCP connect %.200s: ok", l->svc.check_target);
        s_check_finish (l, REC_HEALTH_PASSING, text);
        return;
    }
    if (errno != EINPROGRESS) {
        snprintf (text, sizeof text, "TCP connect %.200s: %s", l->svc.check_target,
                  strerror (errno));
        close (fd);
        s_check_finish (l, REC_HEALTH_CRITICAL, text);
        return;
    }
    l->fd = fd;
    l->running = true;
    zmq_pollitem_t item = { NULL, fd, ZMQ_POLLOUT, 0 };
    zloop_poller (l->owner->loop, &item, s_on_tcp, l);
    zloop_poller_set_tolerant (l->owner->loop, &item);
    uint64_t timeout =
        l->svc.interval_ms < CATALOG_TCP_TIMEOUT_MAX ? l->svc.interval_ms : CATALOG_TCP_TIMEOUT_MAX;
    l->deadline_id = zloop_timer (l->owner->loop, (size_t) timeout, 1, s_on_deadline, l->owner);
}

/* The command's result once it exited. */
static void
s_cmd_done (ncat_local_t *l, int wstatus)
{
    l->pid = 0; /* reaped: nothing to kill */
    /* Output: printable, one line, trimmed; else say how it ended. */
    for (size_t i = 0; i < l->outlen; i++)
        if ((unsigned char) l->out[i] < 0x20 || l->out[i] == 0x7f)
            l->out[i] = ' ';
    while (l->outlen && l->out[l->outlen - 1] == ' ')
        l->outlen--;
    l->out[l->outlen] = '\0';
    char text[REC_OUTPUT_MAX + 1];
    const char *start = l->out + strspn (l->out, " ");
    if (*start)
        snprintf (text, sizeof text, "%s", start);
    else if (WIFEXITED (wstatus))
        snprintf (text, sizeof text, "exit status %d", WEXITSTATUS (wstatus));
    else
        snprintf (text, sizeof text, "killed by signal %d",
                  WIFSIGNALED (wstatus) ? WTERMSIG (wstatus) : 0);
    s_check_finish (l, catalog_health_from_wait (wstatus), text);
}

static int
s_on_reap (zloop_t *loop, int timer_id, void *arg)
{
    ncat_local_t *l = s_local_by_timer ((shed_catalog_t *) arg, timer_id, S_TIMER_REAP);
    int wstatus = 0;
    if (l && l->pid > 0 && waitpid (l->pid, &wstatus, WNOHANG) == l->pid) {
        zloop_timer_end (loop, l->reap_id);
        l->reap_id = -1;
        s_cmd_done (l, wstatus);
    }
    return 0;
}

static int
s_on_pipe (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    ncat_local_t *l = arg;
    char buf[1024];
    for (;;) {
        ssize_t n = read (l->fd, buf, sizeof buf);
        if (n > 0) {
            /* Keep the first REC_OUTPUT_MAX bytes, drain the rest. */
            size_t room = REC_OUTPUT_MAX - l->outlen;
            size_t take = (size_t) n < room ? (size_t) n : room;
            memcpy (l->out + l->outlen, buf, take);
            l->outlen += take;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return 0;
        break; /* EOF (or an error: treat alike) */
    }
    zmq_pollitem_t it = { NULL, l->fd, 0, 0 };
    zloop_poller_end (loop, &it);
    close (l->fd);
    l->fd = -1;
    int wstatus = 0;
    if (waitpid (l->pid, &wstatus, WNOHANG) == l->pid)
        s_cmd_done (l, wstatus);
    else if (l->reap_id < 0)
        /* Output closed but the process lives on (or is exiting): poll for
         * its exit until the deadline. */
        l->reap_id = zloop_timer (loop, 10, 0, s_on_reap, l->owner);
    return 0;
}

static void
s_check_cmd (ncat_local_t *l)
{
    char text[REC_OUTPUT_MAX + 1];
    int fds[2];
    if (pipe2 (fds, O_CLOEXEC) != 0) {
        snprintf (text, sizeof text, "pipe: %s", strerror (errno));
        s_check_finish (l, REC_HEALTH_CRITICAL, text);
        return;
    }
    fcntl (fds[0], F_SETFL, fcntl (fds[0], F_GETFL) | O_NONBLOCK);
    /* posix_spawn rather than fork: the daemon has ZeroMQ threads, and the
     * child must do nothing but set up fds and exec. Its own process group
     * lets the deadline kill whatever the shell started. */
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init (&fa);
    posix_spawn_file_actions_addopen (&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2 (&fa, fds[1], 1);
    posix_spawn_file_actions_adddup2 (&fa, fds[1], 2);
    shed_spawnattr_child (&attr);
    char *argv[] = { (char *) "/bin/sh", (char *) "-c", l->svc.check_target, NULL };
    pid_t pid;
    int rc = posix_spawn (&pid, "/bin/sh", &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy (&fa);
    posix_spawnattr_destroy (&attr);
    close (fds[1]);
    if (rc != 0) {
        close (fds[0]);
        snprintf (text, sizeof text, "cannot run /bin/sh: %s", strerror (rc));
        s_check_finish (l, REC_HEALTH_CRITICAL, text);
        return;
    }
    l->pid = pid;
    l->fd = fds[0];
    l->outlen = 0;
    l->running = true;
    zmq_pollitem_t item = { NULL, l->fd, ZMQ_POLLIN, 0 };
    zloop_poller (l->owner->loop, &item, s_on_pipe, l);
    zloop_poller_set_tolerant (l->owner->loop, &item);
    uint64_t timeout = l->svc.interval_ms;
    if (timeout < CATALOG_CMD_TIMEOUT_MIN)
        timeout = CATALOG_CMD_TIMEOUT_MIN;
    if (timeout > CATALOG_CMD_TIMEOUT_MAX)
        timeout = CATALOG_CMD_TIMEOUT_MAX;
    l->deadline_id = zloop_timer (l->owner->loop, (size_t) timeout, 1, s_on_deadline, l->owner);
}

static void
s_check_start (ncat_local_t *l)
{
    if (l->running)
        return; /* the previous one is still going */
    l->started_ms = zclock_mono ();
    if (l->svc.check == REC_CHECK_TCP)
        s_check_tcp (l);
    else if (l->svc.check == REC_CHECK_CMD)
        s_check_cmd (l);
}

static int
s_on_tick (zloop_t *loop, int timer_id, void *arg)
{
    ncat_local_t *l = s_local_by_timer ((shed_catalog_t *) arg, timer_id, S_TIMER_TICK);
    if (l)
        s_check_start (l);
    return 0;
}

/* (Re)arm the interval timer and run a first check now. */
void
ncat_checks_arm (ncat_local_t *l)
{
    s_check_abort (l);
    if (l->timer_id >= 0)
        zloop_timer_end (l->owner->loop, l->timer_id);
    l->timer_id = -1;
    l->checked = false;
    if (l->svc.check == REC_CHECK_NONE)
        return;
    l->timer_id = zloop_timer (l->owner->loop, (size_t) l->svc.interval_ms, 0, s_on_tick, l->owner);
    s_check_start (l);
}

ncat_local_t *
ncat_local_new (shed_catalog_t *self, const rec_service_t *svc)
{
    ncat_local_t *l = calloc (1, sizeof *l);
    if (!l)
        return NULL;
    l->owner = self;
    l->timer_id = l->deadline_id = l->reap_id = -1;
    l->fd = -1;
    ncat_local_set (l, svc);
    zlistx_add_end (self->locals, l);
    return l;
}

void
ncat_local_remove (shed_catalog_t *self, ncat_local_t *l)
{
    s_check_abort (l);
    if (l->timer_id >= 0)
        zloop_timer_end (self->loop, l->timer_id);
    void *h = zlistx_find (self->locals, l);
    if (h)
        zlistx_detach (self->locals, h);
    free (l);
}
