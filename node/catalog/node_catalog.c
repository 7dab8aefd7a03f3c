/* node_catalog.c - see node_catalog.h. */
#include "node/catalog/node_catalog.h"

#include "bridges/dns_server.h"
#include "common/log.h"
#include "common/spawnutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* One of this node's instances, with the state of its health check. */
typedef struct {
    shed_catalog_t *owner;
    rec_service_t svc;              /* svc.tags.items -> tags */
    wire_tag_t tags[REC_TAGS_MAX];
    char key[CATALOG_KEY_MAX + 1];
    int timer_id;                   /* interval timer, -1 without a check */
    /* The check in flight (at most one per instance: a slow check makes the
     * next tick skip rather than pile up). */
    bool running;
    int fd;                         /* connecting socket or command's pipe, -1 */
    pid_t pid;                      /* command, 0 when none */
    int deadline_id;                /* -1 when none */
    int reap_id;                    /* polls waitpid after the pipe closed, -1 */
    int64_t started_ms;
    bool checked;                   /* a result since the check was (re)armed */
    char out[REC_OUTPUT_MAX + 1];   /* command output, trimmed */
    size_t outlen;
} s_local_t;

/* A held blocking query. */
typedef struct {
    shed_catalog_t *owner;
    shed_api_call_t *call;
    char name[REC_NAME_MAX + 1];
    uint64_t index;
    int timer_id;
    void *handle;                   /* in owner->watches */
} s_watch_t;

struct _shed_catalog_t {
    zloop_t *loop;                  /* borrowed */
    shed_nstate_t *state;           /* borrowed */
    shed_api_server_t *api;         /* borrowed */
    char name[SHED_NAME_MAX + 1];
    char default_addr[64];          /* advertise address, "" if none */
    catalog_t *view;
    zlistx_t *locals;               /* s_local_t *, this node's instances */
    zlistx_t *watches;              /* s_watch_t * */
    int rebuild_id;                 /* pending rebuild timer, -1 */
    int64_t last_rebuild_ms;
    uint64_t last_bad;              /* bad records already reported */
    shed_dns_t *dns;                /* NULL when dns.enabled is false */
    char dns_domain[101];
};

static void s_check_finish (s_local_t *l, int health, const char *output);
static int s_rebuild (shed_catalog_t *self);

/* -------------------------------------------------------------------------
 * Records
 */

static int
s_put (shed_catalog_t *self, const rec_service_t *svc, char *err, size_t errlen)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    if (catalog_encode (svc, &buf, &len, err, errlen) != 0)
        return -1;
    char key[CATALOG_KEY_MAX + 1];
    catalog_key (svc->name, svc->id, key, sizeof key);
    int rc = shed_nstate_put (self->state, REC_KIND_SERVICE, key, buf, len, err, errlen);
    free (buf);
    return rc;
}

/* Copy `svc` into l->svc, its tags into l->tags. */
static void
s_local_set (s_local_t *l, const rec_service_t *svc)
{
    size_t n = svc->tags.n < REC_TAGS_MAX ? svc->tags.n : REC_TAGS_MAX;
    if (n && svc->tags.items != l->tags)
        memmove (l->tags, svc->tags.items, n * sizeof l->tags[0]);
    l->svc = *svc;
    l->svc.tags.n = n;
    l->svc.tags.items = l->tags;
    catalog_key (l->svc.name, l->svc.id, l->key, sizeof l->key);
}

/* Timers are found by id, never through a pointer handed to zloop: zloop
 * may still fire a timer that was ended earlier in the same pass, and by
 * then what the pointer named may be gone. A stale id finds nothing. */
typedef enum { S_TIMER_TICK, S_TIMER_DEADLINE, S_TIMER_REAP } s_timer_kind_t;

static s_local_t *
s_local_by_timer (shed_catalog_t *self, int timer_id, s_timer_kind_t kind)
{
    for (s_local_t *l = zlistx_first (self->locals); l; l = zlistx_next (self->locals)) {
        int id = kind == S_TIMER_TICK ? l->timer_id
               : kind == S_TIMER_DEADLINE ? l->deadline_id : l->reap_id;
        if (id == timer_id)
            return l;
    }
    return NULL;
}

static s_local_t *
s_local_find (shed_catalog_t *self, const char *key)
{
    for (s_local_t *l = zlistx_first (self->locals); l; l = zlistx_next (self->locals))
        if (strcmp (l->key, key) == 0)
            return l;
    return NULL;
}

/* -------------------------------------------------------------------------
 * Health checks
 */

/* Stop whatever check is in flight, without a result. */
static void
s_check_abort (s_local_t *l)
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
s_check_finish (s_local_t *l, int health, const char *output)
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
        log_info ("catalog",
                  "service health changed|service=%s id=%s from=%s to=%s output=\"%s\"",
                  l->svc.name, l->svc.id, rec_health_name (l->svc.health),
                  rec_health_name ((uint64_t) health), output);
        l->svc.health = (uint64_t) health;
        l->svc.updated_ms = (uint64_t) zclock_time ();
    }
    snprintf (l->svc.output, sizeof l->svc.output, "%s", output);
    char err[256];
    if (s_put (self, &l->svc, err, sizeof err) != 0)
        log_error ("catalog", "cannot write service health|service=%s id=%s error=\"%s\"",
                   l->svc.name, l->svc.id, err);
}

static int
s_on_deadline (zloop_t *loop, int timer_id, void *arg)
{
    s_local_t *l = s_local_by_timer ((shed_catalog_t *) arg, timer_id, S_TIMER_DEADLINE);
    if (!l)
        return 0;
    l->deadline_id = -1;            /* a once-timer ends itself */
    char text[96];
    snprintf (text, sizeof text, "%s check timed out after %" PRId64 " ms",
              catalog_check_name (l->svc.check), zclock_mono () - l->started_ms);
    s_check_finish (l, REC_HEALTH_CRITICAL, text);
    return 0;
}

static int
s_on_tcp (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    s_local_t *l = arg;
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
s_check_tcp (s_local_t *l)
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
    uint64_t timeout = l->svc.interval_ms < CATALOG_TCP_TIMEOUT_MAX ? l->svc.interval_ms
                                                                     : CATALOG_TCP_TIMEOUT_MAX;
    l->deadline_id = zloop_timer (l->owner->loop, (size_t) timeout, 1, s_on_deadline, l->owner);
}

/* The command's result once it exited. */
static void
s_cmd_done (s_local_t *l, int wstatus)
{
    l->pid = 0;                     /* reaped: nothing to kill */
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
    s_local_t *l = s_local_by_timer ((shed_catalog_t *) arg, timer_id, S_TIMER_REAP);
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
    s_local_t *l = arg;
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
        break;                      /* EOF (or an error: treat alike) */
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
s_check_cmd (s_local_t *l)
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
s_check_start (s_local_t *l)
{
    if (l->running)
        return;                     /* the previous one is still going */
    l->started_ms = zclock_mono ();
    if (l->svc.check == REC_CHECK_TCP)
        s_check_tcp (l);
    else if (l->svc.check == REC_CHECK_CMD)
        s_check_cmd (l);
}

static int
s_on_tick (zloop_t *loop, int timer_id, void *arg)
{
    s_local_t *l = s_local_by_timer ((shed_catalog_t *) arg, timer_id, S_TIMER_TICK);
    if (l)
        s_check_start (l);
    return 0;
}

/* (Re)arm the interval timer and run a first check now. */
static void
s_checks_arm (s_local_t *l)
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

static s_local_t *
s_local_new (shed_catalog_t *self, const rec_service_t *svc)
{
    s_local_t *l = calloc (1, sizeof *l);
    if (!l)
        return NULL;
    l->owner = self;
    l->timer_id = l->deadline_id = l->reap_id = -1;
    l->fd = -1;
    s_local_set (l, svc);
    zlistx_add_end (self->locals, l);
    return l;
}

static void
s_local_remove (shed_catalog_t *self, s_local_t *l)
{
    s_check_abort (l);
    if (l->timer_id >= 0)
        zloop_timer_end (self->loop, l->timer_id);
    void *h = zlistx_find (self->locals, l);
    if (h)
        zlistx_detach (self->locals, h);
    free (l);
}

/* -------------------------------------------------------------------------
 * View, DNS, watches
 */

static void
s_publish_zone (shed_catalog_t *self)
{
    if (!self->dns)
        return;
    dns_zone_builder_t *zb = dns_zone_builder_new ();
    if (!zb)
        return;
    for (size_t i = 0; i < catalog_node_count (self->view); i++) {
        const catalog_node_t *n = catalog_node_at (self->view, i);
        if (dns_zone_builder_add_node (zb, n->name, n->addr) != 0)
            log_debug ("catalog", "node not served by DNS|node=%s addr=%s", n->name, n->addr);
    }
    for (size_t i = 0; i < catalog_shed_count (self->view); i++) {
        const catalog_shed_t *sh = catalog_shed_at (self->view, i);
        if (!sh->unreachable && dns_zone_builder_add_shed (zb, sh->name, sh->addr) != 0)
            log_debug ("catalog", "shed not served by DNS|shed=%s addr=%s", sh->name, sh->addr);
    }
    for (size_t i = 0; i < catalog_size (self->view); i++) {
        const catalog_instance_t *inst = catalog_at (self->view, i);
        /* DNS tags are single labels: "K" for a tag without value, "K-V"
         * otherwise; tags that cannot be labels are skipped by the zone. */
        char labels[REC_TAGS_MAX][WIRE_TAG_KEY_MAX + WIRE_TAG_VALUE_MAX + 2];
        const char *tags[REC_TAGS_MAX + 1];
        size_t ntags = 0;
        /* A udp service also carries the label "udp", so the RFC 2782 form
         * _NAME._udp.service finds it (the resolver reads _PROTO other than
         * _tcp as a tag; _tcp means any protocol, as in Consul). */
        if (strcmp (inst->svc.protocol, "udp") == 0)
            tags[ntags++] = "udp";
        for (size_t t = 0; t < inst->svc.tags.n && t < REC_TAGS_MAX; t++) {
            const wire_tag_t *tag = &inst->svc.tags.items[t];
            if (tag->value[0])
                snprintf (labels[t], sizeof labels[0], "%s-%s", tag->key, tag->value);
            else
                snprintf (labels[t], sizeof labels[0], "%s", tag->key);
            tags[ntags] = labels[t];
            ntags++;
        }
        dns_instance_t di = {
            .service = inst->svc.name, .node = inst->svc.node, .shed = inst->svc.shed,
            .address = inst->svc.address, .port = (uint16_t) inst->svc.port,
            /* Instances that are not served still go in as critical: the
             * zone then knows the name exists (NODATA, not NXDOMAIN). */
            .health = !catalog_instance_serving (inst) ? DNS_HEALTH_CRITICAL
                      : inst->svc.health == REC_HEALTH_WARNING ? DNS_HEALTH_WARNING
                                                               : DNS_HEALTH_PASSING,
            .tags = tags, .tag_count = ntags,
        };
        if (dns_zone_builder_add_service_instance (zb, &di) != 0)
            log_debug ("catalog", "instance not served by DNS|service=%s id=%s node=%s",
                       inst->svc.name, inst->svc.id, inst->svc.node);
    }
    dns_zone_t *zone = dns_zone_builder_build (&zb);
    if (zone) {
        shed_dns_publish (self->dns, zone);
        dns_zone_unref (&zone);
    }
}

static void
s_to_api (const catalog_instance_t *inst, api_svc_t *out)
{
    const rec_service_t *s = &inst->svc;
    memset (out, 0, sizeof *out);
    snprintf (out->name, sizeof out->name, "%s", s->name);
    snprintf (out->id, sizeof out->id, "%s", s->id);
    snprintf (out->node, sizeof out->node, "%s", s->node);
    snprintf (out->shed, sizeof out->shed, "%s", s->shed);
    snprintf (out->address, sizeof out->address, "%s", s->address);
    out->port = s->port;
    snprintf (out->protocol, sizeof out->protocol, "%s", s->protocol);
    out->tags = s->tags;            /* borrowed for encoding */
    out->health = s->health;
    out->check = s->check;
    snprintf (out->check_target, sizeof out->check_target, "%s", s->check_target);
    out->interval_ms = s->interval_ms;
    snprintf (out->output, sizeof out->output, "%s", s->output);
    out->updated_ms = s->updated_ms;
    snprintf (out->status, sizeof out->status, "%s", inst->unreachable ? "unreachable" : "alive");
    out->serving = catalog_instance_serving (inst);
}

/* Answer `call` with the instances of `name` ("" = all); only served ones
 * unless `all`. */
static void
s_reply_list (shed_catalog_t *self, shed_api_call_t **call_p, const char *name, bool all)
{
    size_t first = 0, n;
    if (name && *name)
        n = catalog_find (self->view, name, &first);
    else
        n = catalog_size (self->view);
    api_svc_t *items = n ? calloc (n, sizeof *items) : NULL;
    if (n && !items) {
        shed_api_reply_error (call_p, API_ERR_INTERNAL, "out of memory");
        return;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const catalog_instance_t *inst = catalog_at (self->view, first + i);
        if (all || catalog_instance_serving (inst))
            s_to_api (inst, &items[k++]);
    }
    api_msg_t rep = { .hdr.type = API_SVC_LIST_REP };
    rep.u.api_svc_list_rep.index = catalog_index (self->view);
    rep.u.api_svc_list_rep.services.n = k;
    rep.u.api_svc_list_rep.services.items = items;
    shed_api_reply (call_p, &rep);
    free (items);
}

static void
s_watch_free (shed_catalog_t *self, s_watch_t *w)
{
    if (w->timer_id >= 0)
        zloop_timer_end (self->loop, w->timer_id);
    zlistx_detach (self->watches, w->handle);
    free (w);
}

static void
s_watches_wake (shed_catalog_t *self)
{
    s_watch_t *w = zlistx_first (self->watches);
    while (w) {
        s_watch_t *next = zlistx_next (self->watches);
        if (catalog_watch_ready (self->view, w->name, w->index)) {
            s_reply_list (self, &w->call, w->name, true);
            s_watch_free (self, w);
        }
        w = next;
    }
}

static int
s_on_watch_timeout (zloop_t *loop, int timer_id, void *arg)
{
    shed_catalog_t *self = arg;
    for (s_watch_t *w = zlistx_first (self->watches); w; w = zlistx_next (self->watches))
        if (w->timer_id == timer_id) {
            w->timer_id = -1;       /* once-timer: zloop frees it after this call */
            s_reply_list (self, &w->call, w->name, true);
            s_watch_free (self, w);
            break;
        }
    return 0;
}

static void
s_collect (const shed_record_t *rec, void *arg)
{
    shed_catalog_t *self = arg;
    char err[256];
    catalog_add (self->view, rec->kind, rec->origin, rec->key,
                 strcmp (rec->status, "unreachable") == 0, rec->value, rec->len, err,
                 sizeof err);
    (void) err;
}

/* Rebuild the view from the state, publish DNS, wake watches. */
static int
s_rebuild (shed_catalog_t *self)
{
    if (self->rebuild_id >= 0)
        zloop_timer_end (self->loop, self->rebuild_id);
    self->rebuild_id = -1;
    self->last_rebuild_ms = zclock_mono ();
    catalog_begin (self->view);
    if (shed_nstate_list (self->state, REC_KIND_SERVICE, s_collect, self) < 0
        || shed_nstate_list (self->state, REC_KIND_NODE, s_collect, self) < 0
        || shed_nstate_list (self->state, REC_KIND_SHED, s_collect, self) < 0) {
        log_error ("catalog", "cannot list records from the state actor");
        catalog_begin (self->view);     /* drop the partial snapshot */
        return -1;
    }
    int changed = catalog_commit (self->view);
    if (catalog_bad_records (self->view) > self->last_bad) {
        log_warn ("catalog", "records left out of the catalog (malformed or inconsistent)|"
                  "total=%" PRIu64, catalog_bad_records (self->view));
        self->last_bad = catalog_bad_records (self->view);
    }
    if (changed) {
        log_debug ("catalog", "view rebuilt|index=%" PRIu64 " instances=%zu nodes=%zu",
                   catalog_index (self->view), catalog_size (self->view),
                   catalog_node_count (self->view));
        s_publish_zone (self);
    }
    if (changed & CATALOG_CHANGED_SERVICES)
        s_watches_wake (self);
    return 0;
}

static int
s_on_rebuild (zloop_t *loop, int timer_id, void *arg)
{
    shed_catalog_t *self = arg;
    if (timer_id != self->rebuild_id)
        return 0;                   /* ended earlier in this pass */
    self->rebuild_id = -1;          /* once-timer: zloop frees it after this call */
    s_rebuild (self);
    return 0;
}

/* Coalesce: one rebuild per burst, none sooner than CATALOG_REBUILD_MIN_MS
 * after the last, so DNS and watches are current within ~100 ms. */
static void
s_schedule_rebuild (shed_catalog_t *self)
{
    if (self->rebuild_id >= 0)
        return;
    int64_t now = zclock_mono ();
    int64_t at = now + CATALOG_REBUILD_DELAY_MS;
    if (at < self->last_rebuild_ms + CATALOG_REBUILD_MIN_MS)
        at = self->last_rebuild_ms + CATALOG_REBUILD_MIN_MS;
    self->rebuild_id = zloop_timer (self->loop, (size_t) (at - now), 1, s_on_rebuild, self);
}

/* Reads first apply a pending rebuild: a client that just registered sees
 * its instance in the next list. */
static void
s_flush (shed_catalog_t *self)
{
    if (self->rebuild_id >= 0)
        s_rebuild (self);
}

static void
s_on_record (const shed_record_t *rec, void *arg)
{
    s_schedule_rebuild ((shed_catalog_t *) arg);
}

/* -------------------------------------------------------------------------
 * Registration
 */

int
shed_catalog_register (shed_catalog_t *self, const rec_service_t *svc, rec_service_t *out,
                       char *err, size_t errlen)
{
    assert (self);
    rec_service_t s = *svc;
    wire_tag_t tags[REC_TAGS_MAX];
    if (s.tags.n > REC_TAGS_MAX) {
        snprintf (err, errlen, "at most %d tags", REC_TAGS_MAX);
        return -1;
    }
    for (size_t i = 0; i < s.tags.n; i++)
        tags[i] = s.tags.items[i];
    s.tags.items = tags;
    if (catalog_prepare (&s, self->name, self->default_addr, err, errlen) != 0)
        return -1;
    char key[CATALOG_KEY_MAX + 1];
    catalog_key (s.name, s.id, key, sizeof key);
    for (s_local_t *l = zlistx_first (self->locals); l; l = zlistx_next (self->locals))
        if (strcmp (l->svc.id, s.id) == 0 && strcmp (l->svc.name, s.name) != 0) {
            snprintf (err, errlen, "id '%s' is already used by service '%s' on this node", s.id,
                      l->svc.name);
            return -1;
        }
    s_local_t *old = s_local_find (self, key);
    bool same_check = old && old->svc.check == s.check
                      && strcmp (old->svc.check_target, s.check_target) == 0;
    if (s.check != REC_CHECK_NONE) {
        /* The check decides health. An unchanged check keeps what it last
         * found; a new one starts critical until its first run (Consul's
         * rule: never serve what has not been checked). */
        if (same_check) {
            s.health = old->svc.health;
            snprintf (s.output, sizeof s.output, "%s", old->svc.output);
        }
        else {
            s.health = REC_HEALTH_CRITICAL;
            snprintf (s.output, sizeof s.output, "awaiting first check");
        }
    }
    s.updated_ms = (uint64_t) zclock_time ();
    if (s_put (self, &s, err, errlen) != 0)
        return -1;
    s_local_t *l = old;
    if (l) {
        bool rearm = !same_check || l->svc.interval_ms != s.interval_ms;
        s_local_set (l, &s);
        if (rearm)
            s_checks_arm (l);
    }
    else {
        l = s_local_new (self, &s);
        if (!l) {
            snprintf (err, errlen, "out of memory");
            return -1;
        }
        s_checks_arm (l);
    }
    log_info ("catalog", "service %s|service=%s id=%s address=%s port=%" PRIu64 " check=%s",
              old ? "updated" : "registered", l->svc.name, l->svc.id, l->svc.address,
              l->svc.port, catalog_check_name (l->svc.check));
    if (out)
        *out = l->svc;
    s_schedule_rebuild (self);
    return 0;
}

/* The local instance NAME_OR_ID designates, or NULL with a reason; *rc is
 * -2 when nothing matches, -1 when ambiguous. */
static s_local_t *
s_local_designate (shed_catalog_t *self, const char *name_or_id, int *rc, char *err,
                   size_t errlen)
{
    for (s_local_t *l = zlistx_first (self->locals); l; l = zlistx_next (self->locals))
        if (strcmp (l->svc.id, name_or_id) == 0)
            return l;
    s_local_t *found = NULL;
    size_t count = 0;
    char ids[256] = "";
    for (s_local_t *l = zlistx_first (self->locals); l; l = zlistx_next (self->locals))
        if (strcmp (l->svc.name, name_or_id) == 0) {
            found = l;
            size_t used = strlen (ids);
            snprintf (ids + used, sizeof ids - used, "%s%s", count ? ", " : "", l->svc.id);
            count++;
        }
    if (count == 1)
        return found;
    if (count == 0) {
        snprintf (err, errlen,
                  "no service or id '%s' registered on this node (deregister on the node "
                  "that registered it)", name_or_id);
        *rc = -2;
    }
    else {
        snprintf (err, errlen, "service '%s' has %zu instances here (ids: %s): give an id",
                  name_or_id, count, ids);
        *rc = -1;
    }
    return NULL;
}

int
shed_catalog_deregister (shed_catalog_t *self, const char *name_or_id, char *err, size_t errlen)
{
    assert (self);
    int rc = -1;
    s_local_t *l = s_local_designate (self, name_or_id, &rc, err, errlen);
    if (!l)
        return rc;
    if (shed_nstate_delete (self->state, REC_KIND_SERVICE, l->key, err, errlen) != 0)
        return -1;
    log_info ("catalog", "service deregistered|service=%s id=%s", l->svc.name, l->svc.id);
    s_local_remove (self, l);
    s_schedule_rebuild (self);
    return 0;
}

int
shed_catalog_set_health (shed_catalog_t *self, const char *id, int health, const char *output,
                         char *err, size_t errlen)
{
    assert (self);
    int rc = -1;
    s_local_t *l = s_local_designate (self, id, &rc, err, errlen);
    if (!l)
        return rc;
    if (l->svc.check != REC_CHECK_NONE) {
        snprintf (err, errlen, "service '%s' has a %s check: its health is the check's",
                  l->svc.id, catalog_check_name (l->svc.check));
        return -1;
    }
    if (health < REC_HEALTH_PASSING || health > REC_HEALTH_CRITICAL) {
        snprintf (err, errlen, "health must be passing, warning or critical");
        return -1;
    }
    output = output ? output : "";
    if ((uint64_t) health == l->svc.health && strcmp (output, l->svc.output) == 0)
        return 0;
    rec_service_t s = l->svc;
    s.health = (uint64_t) health;
    snprintf (s.output, sizeof s.output, "%s", output);
    s.updated_ms = (uint64_t) zclock_time ();
    if (s_put (self, &s, err, errlen) != 0)
        return -1;
    l->svc = s;
    s_schedule_rebuild (self);
    return 0;
}

int
shed_catalog_dns_stats (shed_catalog_t *self, dns_server_stats_t *out)
{
    assert (self);
    if (!self->dns)
        return -1;
    return shed_dns_stats (self->dns, false, out);
}

uint16_t
shed_catalog_dns_port (shed_catalog_t *self)
{
    assert (self);
    return self->dns ? shed_dns_port (self->dns) : 0;
}

shed_dns_t *
shed_catalog_dns (shed_catalog_t *self)
{
    assert (self);
    return self->dns;
}

/* -------------------------------------------------------------------------
 * API handlers
 */

static void
s_api_register (shed_api_call_t *call, const api_msg_t *req, void *arg)
{
    shed_catalog_t *self = arg;
    const api_svc_register_req_t *r = &req->u.api_svc_register_req;
    rec_service_t s;
    memset (&s, 0, sizeof s);
    snprintf (s.name, sizeof s.name, "%s", r->name);
    snprintf (s.id, sizeof s.id, "%s", r->id);
    snprintf (s.shed, sizeof s.shed, "%s", r->shed);
    snprintf (s.address, sizeof s.address, "%s", r->address);
    s.port = r->port;
    snprintf (s.protocol, sizeof s.protocol, "%s", r->protocol);
    s.tags = r->tags;
    s.health = r->health;
    s.check = r->check;
    snprintf (s.check_target, sizeof s.check_target, "%s", r->check_target);
    s.interval_ms = r->interval_ms;
    char err[256];
    rec_service_t stored;
    if (shed_catalog_register (self, &s, &stored, err, sizeof err) != 0) {
        shed_api_reply_error (&call, API_ERR_INVALID, "%s", err);
        return;
    }
    catalog_instance_t inst = { .svc = stored };
    api_svc_t item;
    s_to_api (&inst, &item);
    api_msg_t rep = { .hdr.type = API_SVC_LIST_REP };
    rep.u.api_svc_list_rep.index = catalog_index (self->view);
    rep.u.api_svc_list_rep.services.n = 1;
    rep.u.api_svc_list_rep.services.items = &item;
    shed_api_reply (&call, &rep);
}

static void
s_api_deregister (shed_api_call_t *call, const api_msg_t *req, void *arg)
{
    shed_catalog_t *self = arg;
    const char *what = req->u.api_svc_deregister_req.service;
    char err[256];
    int rc = shed_catalog_deregister (self, what, err, sizeof err);
    if (rc != 0) {
        shed_api_reply_error (&call, rc == -2 ? API_ERR_NOT_FOUND : API_ERR_INVALID, "%s", err);
        return;
    }
    api_msg_t rep = { .hdr.type = API_OK };
    snprintf (rep.u.api_ok.message, sizeof rep.u.api_ok.message, "deregistered %s", what);
    shed_api_reply (&call, &rep);
}

static void
s_api_list (shed_api_call_t *call, const api_msg_t *req, void *arg)
{
    shed_catalog_t *self = arg;
    s_flush (self);
    s_reply_list (self, &call, req->u.api_svc_list_req.name, req->u.api_svc_list_req.all);
}

static void
s_api_show (shed_api_call_t *call, const api_msg_t *req, void *arg)
{
    shed_catalog_t *self = arg;
    s_flush (self);
    const char *name = req->u.api_svc_show_req.name;
    if (catalog_find (self->view, name, NULL) == 0) {
        shed_api_reply_error (&call, API_ERR_NOT_FOUND, "no service '%s' in the catalog", name);
        return;
    }
    s_reply_list (self, &call, name, true);
}

static void
s_api_watch (shed_api_call_t *call, const api_msg_t *req, void *arg)
{
    shed_catalog_t *self = arg;
    const api_svc_watch_req_t *r = &req->u.api_svc_watch_req;
    s_flush (self);
    if (catalog_watch_ready (self->view, r->name, r->index)) {
        s_reply_list (self, &call, r->name, true);
        return;
    }
    if (zlistx_size (self->watches) >= CATALOG_WATCHES_MAX) {
        shed_api_reply_error (&call, API_ERR_UNAVAILABLE,
                              "too many blocking queries held (%d): retry later",
                              CATALOG_WATCHES_MAX);
        return;
    }
    s_watch_t *w = calloc (1, sizeof *w);
    if (!w) {
        shed_api_reply_error (&call, API_ERR_INTERNAL, "out of memory");
        return;
    }
    w->owner = self;
    w->call = call;
    snprintf (w->name, sizeof w->name, "%s", r->name);
    w->index = r->index;
    uint64_t wait = r->wait_ms ? r->wait_ms : CATALOG_WATCH_DEFAULT_MS;
    w->timer_id = zloop_timer (self->loop, (size_t) wait, 1, s_on_watch_timeout, self);
    w->handle = zlistx_add_end (self->watches, w);
}

/* -------------------------------------------------------------------------
 * Lifecycle
 */

static void
s_load_local (const shed_record_t *rec, void *arg)
{
    shed_catalog_t *self = arg;
    if (strcmp (rec->origin, self->name) != 0)
        return;
    rec_msg_t msg;
    char err[160];
    if (catalog_decode (rec->value, rec->len, &msg, err, sizeof err) != 0) {
        log_warn ("catalog", "own service record does not decode: left alone|key=%s error=\"%s\"",
                  rec->key, err);
        return;
    }
    s_local_t *l = s_local_new (self, &msg.u.rec_service);
    wire_msg_free (&rec_proto, &msg);
    if (l && strcmp (l->key, rec->key) != 0) {
        log_warn ("catalog", "own service record key does not match its content|key=%s",
                  rec->key);
        s_local_remove (self, l);
    }
}

shed_catalog_t *
shed_catalog_new (const shed_config_t *cfg, shed_nstate_t *state, zloop_t *loop,
                  shed_api_server_t *api, char *err, size_t errlen)
{
    shed_catalog_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    self->loop = loop;
    self->state = state;
    self->api = api;
    self->rebuild_id = -1;
    snprintf (self->name, sizeof self->name, "%s", cfg->name);
    snprintf (self->default_addr, sizeof self->default_addr, "%s", cfg->advertise_addr);
    self->view = catalog_new ();
    self->locals = zlistx_new ();
    self->watches = zlistx_new ();
    if (!self->view || !self->locals || !self->watches) {
        snprintf (err, errlen, "out of memory");
        shed_catalog_destroy (&self);
        return NULL;
    }
    if (cfg->dns.enabled) {
        /* Publishes an empty zone until our first rebuild: NXDOMAIN
         * rather than SERVFAIL. */
        self->dns = shed_dns_new (cfg, loop, err, errlen);
        if (!self->dns) {
            shed_catalog_destroy (&self);
            return NULL;
        }
        snprintf (self->dns_domain, sizeof self->dns_domain, "%s", cfg->dns.domain);
    }
    /* Our registrations persisted with our records: take them back and
     * resume their checks. */
    if (shed_nstate_list (state, REC_KIND_SERVICE, s_load_local, self) < 0) {
        snprintf (err, errlen, "cannot read service records from the state");
        shed_catalog_destroy (&self);
        return NULL;
    }
    for (s_local_t *l = zlistx_first (self->locals); l; l = zlistx_next (self->locals))
        s_checks_arm (l);
    shed_nstate_on_change (state, REC_KIND_SERVICE, s_on_record, self);
    shed_nstate_on_change (state, REC_KIND_NODE, s_on_record, self);
    shed_nstate_on_change (state, REC_KIND_SHED, s_on_record, self);
    shed_nstate_on_change (state, "$origin", s_on_record, self);
    s_rebuild (self);

    shed_api_server_on (api, API_SVC_REGISTER_REQ, s_api_register, self);
    shed_api_server_on (api, API_SVC_DEREGISTER_REQ, s_api_deregister, self);
    shed_api_server_on (api, API_SVC_LIST_REQ, s_api_list, self);
    shed_api_server_on (api, API_SVC_SHOW_REQ, s_api_show, self);
    shed_api_server_on (api, API_SVC_WATCH_REQ, s_api_watch, self);
    log_info ("catalog", "started|local_services=%zu dns=%s domain=%s port=%u",
              zlistx_size (self->locals), self->dns ? cfg->dns.addr : "off",
              self->dns ? cfg->dns.domain : "-", (unsigned) shed_catalog_dns_port (self));
    return self;
}

void
shed_catalog_destroy (shed_catalog_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    shed_catalog_t *self = *self_p;
    if (self->watches) {
        s_watch_t *w;
        while ((w = zlistx_first (self->watches))) {
            shed_api_reply_error (&w->call, API_ERR_UNAVAILABLE, "shed-node is shutting down");
            s_watch_free (self, w);
        }
        zlistx_destroy (&self->watches);
    }
    if (self->locals) {
        s_local_t *l;
        while ((l = zlistx_first (self->locals)))
            s_local_remove (self, l);
        zlistx_destroy (&self->locals);
    }
    if (self->rebuild_id >= 0)
        zloop_timer_end (self->loop, self->rebuild_id);
    shed_dns_destroy (&self->dns);
    catalog_destroy (&self->view);
    free (self);
    *self_p = NULL;
}
