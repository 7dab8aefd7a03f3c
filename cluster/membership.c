/*
 * membership.c - the membership actor (see membership.h for its interface).
 *
 * One thread, one poll loop over: the actor pipe, the UDP socket, the TCP
 * listener, every open stream connection and the optional beacon. The loop
 * sleeps until the core's next deadline. All sockets are non-blocking; a
 * stream connection is a small state machine (write request, read reply
 * for clients; read request, write reply for the server side) with a
 * deadline, so a slow or dead peer costs a slot, never the loop.
 *
 * This file owns the loop, its timers, the pipe commands, the STATS answer
 * and the public functions; the concerns it drives live beside it (the
 * list is in membership_int.h).
 */
#include "cluster/membership_int.h"

#include "common/ipaddr.h"

#include <errno.h>
#include <sodium.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ---- Environment for the core ------------------------------------------------ */

uint64_t
mb_now (void *ctx)
{
    return (uint64_t) zclock_mono ();
}

static uint32_t
s_random (void *ctx)
{
    return randombytes_random ();
}

static void
s_env_event (void *ctx, const swim_event_t *ev)
{
    mb_self_t *self = (mb_self_t *) ctx;
    if (ev->kind == SWIM_EV_REFUSED)
        log_warn (MB_COMP, "refused: %s|member=%s", ev->reason ? ev->reason : "", ev->member->name);
    else if (ev->kind == SWIM_EV_FAIL || ev->kind == SWIM_EV_LEAVE || ev->kind == SWIM_EV_JOIN)
        log_info (MB_COMP, "member %s|member=%s addr=%s:%u inc=%llu", swim_event_name (ev->kind),
                  ev->member->name, ev->member->addr, (unsigned) ev->member->port,
                  (unsigned long long) ev->member->incarnation);
    /* A member that leaves after it was failed was forced out (a dead node
     * sends nothing): forget it now, everywhere, not in 24 h. */
    const char *name = ev->member->name;
    if (ev->kind == SWIM_EV_FAIL)
        zhashx_insert (self->failed, name, (void *) 1);
    else if (ev->kind == SWIM_EV_LEAVE && zhashx_lookup (self->failed, name)) {
        zhashx_delete (self->failed, name);
        zlist_append (self->forget, strdup (name));
    }
    else if (ev->kind != SWIM_EV_LEAVE)
        zhashx_delete (self->failed, name);
    if (!self->events)
        return;
    uint8_t *buf = NULL;
    size_t len = 0;
    if (swim_member_encode (ev->member, &buf, &len))
        return;
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, swim_event_name (ev->kind));
    zmsg_addstr (msg, ev->member->name);
    zmsg_addmem (msg, buf, len);
    zmsg_addstr (msg, ev->reason ? ev->reason : "");
    free (buf);
    zmsg_send (&msg, self->events);
}

/* ---- Commands ------------------------------------------------------------------ */

static void
s_cmd_stats (mb_self_t *self)
{
    zmsg_t *msg = zmsg_new ();
    swim_stats_t st;
    swim_stats (self->swim, &st);
#define MB_ADD(n)                                                                                  \
    zmsg_addstr (msg, #n);                                                                         \
    zmsg_addstrf (msg, "%llu", (unsigned long long) st.n);
    SWIM_COUNTERS (MB_ADD)
#undef MB_ADD
#define MB_ADD(n)                                                                                  \
    zmsg_addstr (msg, #n);                                                                         \
    zmsg_addstrf (msg, "%llu", (unsigned long long) self->st.n);
    MB_COUNTERS (MB_ADD)
#undef MB_ADD
    zmsg_addstr (msg, "members");
    zmsg_addstrf (msg, "%zu", swim_size (self->swim));
    const char *names[] = { "alive", "suspect", "failed", "left" };
    for (int s = 0; s < 4; s++) {
        zmsg_addstr (msg, names[s]);
        zmsg_addstrf (msg, "%zu", swim_count_state (self->swim, (swim_state_t) s));
    }
    zmsg_addstr (msg, "awareness");
    zmsg_addstrf (msg, "%u", swim_awareness (self->swim));
    zmsg_addstr (msg, "join_attempts");
    zmsg_addstrf (msg, "%u", self->join_attempts);
    zmsg_send (&msg, self->pipe);
}

static void
s_handle_pipe (mb_self_t *self)
{
    zmsg_t *request = zmsg_recv (self->pipe);
    if (!request) {
        self->terminated = true;
        return;
    }
    char *command = zmsg_popstr (request);
    if (!command)
        ;
    else if (streq (command, "$TERM"))
        self->terminated = true;
    else if (streq (command, "JOIN") || streq (command, "JOIN-TAGGED"))
        mb_cmd_join (self, request, streq (command, "JOIN-TAGGED"));
    else if (streq (command, "LEAVE")) {
        swim_leave (self->swim);
        self->leave_pending = true;
        self->leave_reply_by = mb_now (NULL) + self->cfg.leave_timeout_ms;
    }
    else if (streq (command, "FORCE-LEAVE")) {
        char *name = zmsg_popstr (request);
        char why[256] = "";
        if (!name || swim_force_leave (self->swim, name, why, sizeof why) != 0)
            zstr_sendf (self->pipe, "ERROR %s", name ? why : "no name");
        else {
            log_info (MB_COMP, "forced a failed member out|member=%s", name);
            zstr_send (self->pipe, "OK");
        }
        zstr_free (&name);
    }
    else if (streq (command, "MEMBERS")) {
        uint8_t *buf = NULL;
        size_t len = 0;
        if (swim_members_encode (self->swim, &buf, &len) == 0) {
            zframe_t *frame = zframe_new (buf, len);
            zframe_send (&frame, self->pipe, 0);
            free (buf);
        }
        else
            zstr_send (self->pipe, "");
    }
    else if (streq (command, "TAGS")) {
        char *verb = zmsg_popstr (request);
        char *key = zmsg_popstr (request);
        char *value = zmsg_popstr (request);
        if (verb && key && streq (verb, "SET") && value)
            zstr_send (self->pipe, swim_set_tag (self->swim, key, value) == 0
                                       ? "OK"
                                       : "ERROR tag too long or too many tags");
        else if (verb && key && streq (verb, "UNSET")) {
            swim_unset_tag (self->swim, key);
            zstr_send (self->pipe, "OK");
        }
        else
            zstr_send (self->pipe, "ERROR usage: TAGS SET key value | TAGS UNSET key");
        zstr_free (&verb);
        zstr_free (&key);
        zstr_free (&value);
    }
    else if (streq (command, "KEYS"))
        mb_cmd_keys (self, request);
    else if (streq (command, "STATS"))
        s_cmd_stats (self);
    else {
        log_error (MB_COMP, "invalid command|command=%s", command);
        zstr_send (self->pipe, "ERROR invalid command");
    }
    zstr_free (&command);
    zmsg_destroy (&request);
}

/* ---- The actor --------------------------------------------------------------------- */

static mb_self_t *
s_self_new (zsock_t *pipe, membership_config_t *cfg, shed_keyring_t *keyring, char *err,
            size_t errlen)
{
    mb_self_t *self = (mb_self_t *) zmalloc (sizeof (mb_self_t));
    self->pipe = pipe;
    self->cfg = *cfg;
    self->keyring = keyring;
    self->udp = self->tcp = -1;
    self->failed = zhashx_new ();
    self->forget = zlist_new ();
    randombytes_buf (&self->boot, sizeof self->boot);
    if (!keyring || shed_keyring_count (keyring) == 0) {
        snprintf (err, errlen, "no cluster key: install one (shedctl keygen) first");
        return self;
    }
    if (!self->cfg.advertise_addr[0])
        snprintf (self->cfg.advertise_addr, sizeof self->cfg.advertise_addr, "%s",
                  !shed_ip_is_any (self->cfg.bind_addr)       ? self->cfg.bind_addr
                  : shed_ip_family (self->cfg.bind_addr) == 6 ? "::1"
                                                              : "127.0.0.1");
    if (mb_open_sockets (self, err, errlen))
        return self;
    mb_epoch_load (self);
    if (self->cfg.events_endpoint[0]) {
        self->events = zsock_new (ZMQ_PUB);
        if (!self->events || zsock_bind (self->events, "%s", self->cfg.events_endpoint) < 0) {
            snprintf (err, errlen, "cannot bind events endpoint %s", self->cfg.events_endpoint);
            return self;
        }
    }
    swim_config_t sc = self->cfg.swim;
    snprintf (sc.name, sizeof sc.name, "%s", self->cfg.name);
    snprintf (sc.addr, sizeof sc.addr, "%s", self->cfg.advertise_addr);
    sc.port = self->cfg.port;
    memcpy (sc.key, self->cfg.identity, SWIM_KEY_BYTES);
    memcpy (sc.sigkey, self->cfg.sigkey, SWIM_KEY_BYTES);
    swim_env_t env = { self, mb_now, s_random, mb_env_send, mb_env_stream, s_env_event };
    self->swim = swim_new (&sc, &env);
    if (!self->swim) {
        snprintf (err, errlen, "invalid membership configuration");
        return self;
    }
    if (self->cfg.beacon) {
        self->beacon = zactor_new (zbeacon, NULL);
        zsock_send (self->beacon, "si", "CONFIGURE", (int) self->cfg.beacon_port);
        char *hostname = zstr_recv (self->beacon);
        if (hostname && *hostname) {
            mb_beacon_publish (self);
            zsock_send (self->beacon, "sb", "SUBSCRIBE", MB_BEACON_MAGIC, 4);
        }
        else
            zactor_destroy (&self->beacon); /* no broadcast interface */
        zstr_free (&hostname);
    }
    mb_join_start (self, mb_now (NULL));
    mb_join_seeds (self);
    return self;
}

static void
s_self_destroy (mb_self_t **self_p)
{
    mb_self_t *self = *self_p;
    if (!self)
        return;
    while (self->nconns)
        mb_conn_free (&self->conns[--self->nconns]);
    zmsg_destroy (&self->keyop.results);
    swim_destroy (&self->swim);
    zactor_destroy (&self->beacon);
    zsock_destroy (&self->events);
    if (self->udp >= 0)
        close (self->udp);
    if (self->tcp >= 0)
        close (self->tcp);
    shed_keyring_destroy (&self->keyring);
    free (self->senders);
    zhashx_destroy (&self->failed);
    char *name;
    while ((name = (char *) zlist_pop (self->forget)))
        free (name);
    zlist_destroy (&self->forget);
    free (self);
    *self_p = NULL;
}

static void
s_timers (mb_self_t *self)
{
    uint64_t now = mb_now (NULL);
    char *gone;
    while ((gone = (char *) zlist_pop (self->forget))) {
        if (swim_forget (self->swim, gone) == 0)
            log_info (MB_COMP, "forgot a member forced out|member=%s", gone);
        free (gone);
    }
    swim_tick (self->swim);
    if (self->beacon && now - self->beacon_published >= MB_BEACON_REPUBLISH)
        mb_beacon_publish (self);
    if (self->cfg.nseeds && !swim_joined (self->swim) && !swim_refused (self->swim)
        && now >= self->join_next_ms) {
        /* Say why we are still alone: an operator whose node uses another
         * cluster key sees only silence otherwise (the seeds drop what they
         * cannot authenticate, before parsing, and do not answer). Once a
         * second while the fast retries run, then at every slower retry. */
        self->join_backoff = mb_join_backoff_next (self, now);
        if (!self->join_logged_ms || now - self->join_logged_ms >= MB_JOIN_LOG_GAP) {
            log_warn (MB_COMP,
                      "not joined yet, retrying seeds|why=\"%s\" hint=\"%s\" retry_ms=%llu "
                      "attempts=%u",
                      self->join_why[0] ? self->join_why : "no answer from any seed",
                      "check the seed addresses and that this node has the cluster key "
                      "(a wrong key gets no answer)",
                      (unsigned long long) self->join_backoff, self->join_attempts);
            self->join_logged_ms = now;
        }
        mb_join_seeds (self);
        self->join_next_ms = now + self->join_backoff;
    }
    if (!self->joined_logged && swim_joined (self->swim)) {
        /* When this node became part of a cluster, and how many tries that
         * took: the start of the join-convergence timeline
         * (docs/membership.md section 8). */
        self->joined_logged = true;
        log_info (MB_COMP, "joined|members=%zu attempts=%u after_ms=%llu",
                  swim_count_state (self->swim, SWIM_ALIVE), self->join_attempts,
                  (unsigned long long) (now - self->join_started_ms));
    }
    if (self->join_pending) {
        if (swim_joined (self->swim))
            mb_join_reply (self, "OK");
        else if (swim_refused (self->swim)) {
            char text[300];
            snprintf (text, sizeof text, "ERROR %s", swim_refused (self->swim));
            mb_join_reply (self, text);
        }
        else
            mb_join_fail (self, now >= self->join_reply_by);
    }
    if (self->leave_pending && (swim_leave_done (self->swim) || now >= self->leave_reply_by)) {
        zstr_send (self->pipe, "OK");
        self->leave_pending = false;
    }
    if (self->keyop.active && now >= self->keyop.deadline) {
        /* Close what is still open; each closes with "no answer". */
        for (size_t i = 0; i < self->nconns;)
            if (self->conns[i]->kind == MB_CONN_KEYOP && self->keyop.active) {
                self->conns[i]->why = "no answer in time";
                mb_conn_close_at (self, i);
            }
            else
                i++;
        if (self->keyop.active)
            mb_keyop_finish (self);
    }
    for (size_t i = 0; i < self->nconns;)
        if (now >= self->conns[i]->deadline) {
            if (self->conns[i]->kind == MB_CONN_SERVE && !self->conns[i]->authed)
                self->st.drop_preauth++; /* a stranger's idle connection */
            else
                self->st.stream_errors++;
            if (!self->conns[i]->why)
                self->conns[i]->why =
                    self->conns[i]->out ? "no answer in time" : "cannot seal the request";
            mb_conn_close_at (self, i);
        }
        else
            i++;
}

/* Run the actor thread ahead of the rest of the process (docs/membership.md
 * "Join"). Its work is small and latency-bound: a join answered, a probe
 * acked within the probe timeout. Competing at equal weight with the node's
 * other threads (a whole daemon starting, the links' handshakes, image
 * unpacking), it waits its turn behind them, which delays joins and makes
 * our own probes late (Lifeguard then stretches our timers). Linux nice is
 * per thread; without CAP_SYS_NICE the call fails and nothing changes. */
static void
s_actor_priority (int nice_value)
{
    if (nice_value == 0)
        return;
    errno = 0;
    if (setpriority (PRIO_PROCESS, (id_t) syscall (SYS_gettid), nice_value) != 0)
        log_debug (MB_COMP, "actor thread keeps the process priority|nice=%d why=\"%s\"",
                   nice_value, strerror (errno));
}

static void
s_actor (zsock_t *pipe, void *args)
{
    membership_config_t *cfg = (membership_config_t *) args;
    s_actor_priority (cfg->actor_nice);
    /* The keyring travels in the config allocation (see mb_actor_new). */
    shed_keyring_t *keyring;
    memcpy (&keyring, (uint8_t *) cfg + sizeof *cfg, sizeof keyring);
    char err[512] = "";
    mb_self_t *self = s_self_new (pipe, cfg, keyring, err, sizeof err);
    free (cfg);
    zsock_signal (pipe, 0);
    if (err[0]) {
        zstr_sendf (pipe, "ERROR %s", err);
        /* Wait for $TERM; the caller destroys us. */
        char *cmd;
        while ((cmd = zstr_recv (pipe))) {
            bool term = streq (cmd, "$TERM");
            zstr_free (&cmd);
            if (term)
                break;
        }
        s_self_destroy (&self);
        return;
    }
    zstr_send (pipe, "OK");

    zmq_pollitem_t items[4 + MB_CONNS_MAX];
    while (!self->terminated) {
        size_t n = 0;
        items[n++] = (zmq_pollitem_t){ zsock_resolve (self->pipe), 0, ZMQ_POLLIN, 0 };
        items[n++] = (zmq_pollitem_t){ NULL, self->udp, ZMQ_POLLIN, 0 };
        items[n++] = (zmq_pollitem_t){ NULL, self->tcp, ZMQ_POLLIN, 0 };
        size_t beacon_at = n;
        if (self->beacon)
            items[n++] = (zmq_pollitem_t){ zsock_resolve (self->beacon), 0, ZMQ_POLLIN, 0 };
        size_t conns_at = n;
        for (size_t i = 0; i < self->nconns; i++)
            items[n++] =
                (zmq_pollitem_t){ NULL, self->conns[i]->fd,
                                  (short) (self->conns[i]->writing ? ZMQ_POLLOUT : ZMQ_POLLIN), 0 };
        uint64_t now = mb_now (NULL);
        uint64_t next = swim_next_deadline (self->swim);
        if (self->join_pending || self->leave_pending || self->keyop.active || self->nconns)
            next = next < now + 20 ? next : now + 20;
        if (self->cfg.nseeds && !swim_joined (self->swim) && self->join_next_ms < next)
            next = self->join_next_ms;
        long timeout = next > now ? (long) (next - now) : 0;
        if (timeout > 1000)
            timeout = 1000;
        int rc = zmq_poll (items, (int) n, timeout);
        if (rc < 0 && zmq_errno () != EINTR)
            break;
        if (rc > 0) {
            if (items[0].revents & ZMQ_POLLIN)
                s_handle_pipe (self);
            if (items[1].revents & ZMQ_POLLIN)
                mb_handle_udp (self);
            if (items[2].revents & ZMQ_POLLIN)
                mb_handle_accept (self);
            if (self->beacon && (items[beacon_at].revents & ZMQ_POLLIN))
                mb_handle_beacon (self);
            /* Walk polled connections backwards: closing swaps in the last. */
            size_t polled = n - conns_at;
            for (size_t i = polled; i-- > 0;) {
                if (i >= self->nconns || !items[conns_at + i].revents)
                    continue;
                if (!mb_conn_io (self, self->conns[i]))
                    mb_conn_close_at (self, i);
            }
        }
        s_timers (self);
    }
    s_self_destroy (&self);
}

/* ---- Public -------------------------------------------------------------------------- */

void
membership_config_defaults (membership_config_t *config)
{
    memset (config, 0, sizeof *config);
    snprintf (config->bind_addr, sizeof config->bind_addr, "0.0.0.0");
    config->port = SWIM_DEFAULT_PORT;
    swim_config_lan (&config->swim);
    config->beacon_port = 7947;
    config->leave_timeout_ms = 3000;
    config->join_timeout_ms = 5000;
    config->actor_nice = -5;
}

zactor_t *
mb_actor_new (const membership_config_t *config, shed_keyring_t **keyring_p, char *err,
              size_t errlen)
{
    assert (config);
    assert (keyring_p);
    /* One allocation carries the config and the keyring pointer into the
     * actor thread, which owns both from then on. */
    uint8_t *args = (uint8_t *) malloc (sizeof *config + sizeof (shed_keyring_t *));
    if (!args) {
        shed_keyring_destroy (keyring_p);
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    memcpy (args, config, sizeof *config);
    memcpy (args + sizeof *config, keyring_p, sizeof (shed_keyring_t *));
    *keyring_p = NULL;
    zactor_t *actor = zactor_new (s_actor, args);
    char *status = zstr_recv (actor);
    if (!status || !streq (status, "OK")) {
        snprintf (err, errlen, "%s",
                  status ? status + (strncmp (status, "ERROR ", 6) ? 0 : 6)
                         : "membership actor failed");
        zstr_free (&status);
        zactor_destroy (&actor);
        return NULL;
    }
    zstr_free (&status);
    return actor;
}
