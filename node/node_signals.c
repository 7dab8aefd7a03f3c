/* node_signals.c - the daemon's run loop and its signals: SIGHUP reloads
 * what can change at run time (node_reload.h says what), systemd hears
 * READY, WATCHDOG and STOPPING (docs/operations.md, "Packages and the
 * systemd unit"). See node.h. */
#include "node/node_int.h"

#include "common/log.h"
#include "node/netaddr.h"
#include "node/node_reload.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

/* The SIGHUP handler's write end (one daemon per process) and how many
 * SIGHUPs came: zmq_poll returns on EINTR and zloop then stops, so
 * shed_node_run restarts the loop when the count moved. */
static volatile int s_hup_fd = -1;
static volatile sig_atomic_t s_hups;

static void
s_on_sighup (int sig)
{
    (void) sig;
    s_hups++;
    if (s_hup_fd >= 0) {
        char byte = 'H';
        ssize_t n = write (s_hup_fd, &byte, 1);
        (void) n; /* full pipe: a reload is already pending */
    }
}

void
shed_node_on_reconfig (shed_node_t *self, shed_node_config_fn *fn, void *arg)
{
    assert (self);
    self->reconfig = fn;
    self->reconfig_arg = arg;
}

/* SIGHUP: build the configuration again and apply what can change at run
 * time (node_reload.h); say what could not. */
static void
s_reload (shed_node_t *self)
{
    if (!self->reconfig) {
        log_warn ("node", "SIGHUP: no configuration source to reload from");
        return;
    }
    shed_config_t *cfg = malloc (sizeof *cfg);
    if (!cfg)
        return;
    char err[512];
    if (self->reconfig (cfg, err, sizeof err, self->reconfig_arg) != 0
        || shed_netaddr_resolve (cfg, err, sizeof err) != 0) {
        log_error ("node",
                   "SIGHUP: configuration not reloaded, running on with the old one|"
                   "err=\"%s\"",
                   err);
        free (cfg);
        return;
    }
    char live[256], fixed[512];
    bool differs = shed_reload_diff (&self->cfg, cfg, live, sizeof live, fixed, sizeof fixed);
    /* The consumers' key file is read again whatever the diff says: the
     * operator edits the file, not the path to it. */
    shed_events_keys_t kc;
    int keys = shed_events_reload_consumers (self->events, cfg, &kc, err, sizeof err);
    if (keys < 0)
        log_error ("node",
                   "SIGHUP: event consumer keys not reloaded, the old ones stay in force|"
                   "err=\"%s\"",
                   err);
    else {
        snprintf (self->cfg.events.consumer_keys, sizeof self->cfg.events.consumer_keys, "%s",
                  cfg->events.consumer_keys);
        if (keys > 0 && !strstr (live, "events.consumer_keys"))
            snprintf (live + strlen (live), sizeof live - strlen (live), "%sevents.consumer_keys",
                      live[0] ? "," : "");
    }
    if (!differs && keys <= 0) {
        log_info ("node", "SIGHUP: configuration reloaded, nothing changed");
        sodium_memzero (cfg, sizeof *cfg);
        free (cfg);
        return;
    }
    if (strstr (live, "agents")) {
        if (shed_agents_set_limits (self->agents, cfg) != 0)
            log_error ("node", "SIGHUP: agent limits not applied (the agent host did not answer)");
        else
            self->cfg.agents = cfg->agents;
    }
    if (self->cfg.log_level != cfg->log_level) {
        shed_log_set_level (cfg->log_level);
        self->cfg.log_level = cfg->log_level;
    }
    if (strstr (live, "tags")) {
        size_t changed = 0;
        if (shed_members_set_base_tags (self->members, cfg->tags, cfg->ntags, &changed, err,
                                        sizeof err)
            != 0)
            log_error ("node", "SIGHUP: tags not applied|err=\"%s\"", err);
        else {
            memcpy (self->cfg.tags, cfg->tags, sizeof cfg->tags);
            self->cfg.ntags = cfg->ntags;
        }
    }
    if (strstr (live, "hooks")) {
        /* The runner reads its hooks at start: a new one replaces it. */
        shed_config_t next = self->cfg;
        memcpy (next.hooks, cfg->hooks, sizeof cfg->hooks);
        next.nhooks = cfg->nhooks;
        next.hooks_concurrency = cfg->hooks_concurrency;
        next.hooks_queue = cfg->hooks_queue;
        next.hooks_timeout_ms = cfg->hooks_timeout_ms;
        shed_hooks_t *hooks = shed_hooks_new (&next, shed_events_endpoint (self->events),
                                              self->loop, err, sizeof err);
        if (!hooks)
            log_error ("node", "SIGHUP: hooks not reloaded, the old ones still run|err=\"%s\"",
                       err);
        else {
            shed_hooks_destroy (&self->hooks);
            self->hooks = hooks;
            self->cfg = next;
        }
    }
    if (strstr (live, "agents"))
        log_info ("node",
                  "SIGHUP: agent limits applied to every shed (0 = the default)|msgs_per_s=%u "
                  "bytes_per_s=%u accepts_per_s=%u services_max=%u streams_max=%u log_lines=%u "
                  "metrics_interval_ms=%u heartbeat_ms=%u",
                  cfg->agents.msgs_per_s, cfg->agents.bytes_per_s, cfg->agents.accepts_per_s,
                  cfg->agents.services_max, cfg->agents.streams_max, cfg->agents.log_lines,
                  cfg->agents.metrics_interval_ms, cfg->agents.heartbeat_ms);
    if (keys > 0)
        log_info ("node",
                  "SIGHUP: event consumer keys applied (removed keys' sessions cut)|keys=%zu "
                  "added=%zu removed=%zu file=%s",
                  kc.keys, kc.added, kc.removed, cfg->events.consumer_keys);
    log_info ("node", "SIGHUP: configuration reloaded|applied=%s", live[0] ? live : "-");
    if (fixed[0])
        log_warn ("node",
                  "SIGHUP: these keys changed but need a restart; running on with the old "
                  "values|not_reloaded=%s",
                  fixed);
    sodium_memzero (cfg, sizeof *cfg);
    free (cfg);
}

static int
s_on_hup (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    shed_node_t *self = arg;
    char buf[64];
    while (read (item->fd, buf, sizeof buf) > 0)
        ; /* one reload for however many signals came */
    s_reload (self);
    return 0;
}

/* systemd's watchdog (WatchdogSec=): ping at half the interval it asks. */
static int
s_on_watchdog (zloop_t *loop, int timer_id, void *arg)
{
    sd_notify (0, "WATCHDOG=1");
    return 0;
}

void
node__signals_start (shed_node_t *self)
{
    if (pipe2 (self->hup_pipe, O_NONBLOCK | O_CLOEXEC) != 0) {
        log_warn ("node", "SIGHUP reload unavailable|err=\"%s\"", strerror (errno));
        signal (SIGHUP, SIG_IGN); /* never let a HUP kill the daemon */
        return;
    }
    s_hup_fd = self->hup_pipe[1];
    struct sigaction sa;
    memset (&sa, 0, sizeof sa);
    sa.sa_handler = s_on_sighup;
    sigemptyset (&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction (SIGHUP, &sa, NULL);
    zmq_pollitem_t item = { NULL, self->hup_pipe[0], ZMQ_POLLIN, 0 };
    zloop_poller (self->loop, &item, s_on_hup, self);
}

int
shed_node_run (shed_node_t *self)
{
    assert (self);
    node__signals_start (self);
    uint64_t watchdog_us = 0;
    if (sd_watchdog_enabled (0, &watchdog_us) > 0 && watchdog_us >= 2000) {
        zloop_timer (self->loop, (size_t) (watchdog_us / 2000), 0, s_on_watchdog, self);
        sd_notify (0, "WATCHDOG=1");
    }
    /* The node serves from here on: the API is bound, the components run. */
    sd_notifyf (0, "READY=1\nSTATUS=serving as %s\nMAINPID=%ld", self->cfg.name, (long) getpid ());
    /* zloop returns when a handler asks to stop, when czmq's SIGINT/SIGTERM
     * handler sets zsys_interrupted, or when a signal (SIGHUP) interrupted
     * its poll: only the last one runs it again. */
    for (;;) {
        sig_atomic_t hups = s_hups;
        int rc = zloop_start (self->loop);
        if (rc != 0 || zsys_interrupted || hups == s_hups)
            break;
    }
    sd_notify (0, "STOPPING=1\nSTATUS=shutting down");
    log_info ("node", "shutting down|name=%s", self->cfg.name);
    if (self->cfg.leave_on_terminate) {
        shed_events_leaving (self->events);
        shed_members_leave (self->members);
    }
    return 0;
}

void
node__signals_stop (shed_node_t *self)
{
    if (self->hup_pipe[0] >= 0) {
        signal (SIGHUP, SIG_IGN);
        s_hup_fd = -1;
        close (self->hup_pipe[0]);
        close (self->hup_pipe[1]);
    }
}
