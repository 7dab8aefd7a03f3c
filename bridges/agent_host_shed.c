/* agent_host_shed.c - one shed's state in the agent host: its listener,
 * its quotas on names, its strikes (agent_host_int.h). */
#include "bridges/agent_host_int.h"

#include "common/log.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_STRIKE_WINDOW_MS 60000

/* Indexed by agent_bad_t (agent_host.h). */
static const char *s_bad_names[AGENT_BAD_MAX] = {
    "type",   "oversize",  "direction",   "rate",       "decode",     "state",
    "stream", "reconnect", "service_cap", "stream_cap", "service_id", "catalog",
};

const char *
agent_bad_name (agent_bad_t why)
{
    return (unsigned) why < AGENT_BAD_MAX ? s_bad_names[why] : "unknown";
}

/* Shed's name rule: ^[a-z][a-z0-9-]*[a-z0-9]$|^[a-z]$, at most 63. */
static bool
s_name_ok (const char *name)
{
    size_t n = strnlen (name, AGENT_NAME_MAX + 1);
    if (n == 0 || n > AGENT_NAME_MAX || name[0] < 'a' || name[0] > 'z' || name[n - 1] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return false;
    }
    return true;
}

agent_shed_t *
agent_shed_new (const agent_host_config_t *cfg, const char *name, const char *path)
{
    assert (cfg);
    if (!name || !path || !s_name_ok (name))
        return NULL;
    agent_shed_t *shed = calloc (1, sizeof *shed);
    if (!shed)
        return NULL;
    shed->listen_fd = -1;
    shed->fd = -1;
    snprintf (shed->name, sizeof shed->name, "%s", name);
    if (strlen (path) >= sizeof shed->path) {
        free (shed);
        return NULL;
    }
    snprintf (shed->path, sizeof shed->path, "%s", path);
    shed->outq = agent_outq_new (65536, cfg->out_queue_bytes, false);
    shed->services = zhashx_new ();
    shed->streams_seen = zhashx_new ();
    int64_t now = agent_clock_mono_ms ();
    shed->strike_window_ms = now;
    agent_bucket_init (&shed->msgs, cfg->msgs_per_s, cfg->msgs_burst, now);
    agent_bucket_init (&shed->bytes, cfg->bytes_per_s, cfg->bytes_burst, now);
    agent_bucket_init (&shed->accepts, cfg->accepts_per_s, 2.0 * cfg->accepts_per_s, now);

    /* Replace a stale socket file left by a previous run, nothing else. */
    struct stat st;
    if (lstat (path, &st) == 0 && S_ISSOCK (st.st_mode))
        unlink (path);

    struct sockaddr_un sa;
    memset (&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy (sa.sun_path, shed->path, strlen (shed->path));
    int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (!shed->outq || !shed->services || !shed->streams_seen || fd < 0
        || bind (fd, (struct sockaddr *) &sa, sizeof sa) < 0 || chmod (path, cfg->socket_mode) < 0
        || listen (fd, 8) < 0) {
        log_warn (AGENT_HOST_COMP, "cannot listen|shed=%s path=%s err=\"%s\"", name, path,
                  strerror (errno));
        if (fd >= 0)
            close (fd);
        agent_outq_destroy (&shed->outq);
        zhashx_destroy (&shed->services);
        zhashx_destroy (&shed->streams_seen);
        free (shed);
        return NULL;
    }
    shed->listen_fd = fd;
    log_debug (AGENT_HOST_COMP, "listening|shed=%s path=%s", name, path);
    return shed;
}
void
agent_shed_set_limits (agent_shed_t *shed, const agent_host_config_t *cfg)
{
    int64_t now = agent_clock_mono_ms ();
    agent_bucket_set (&shed->msgs, cfg->msgs_per_s, cfg->msgs_burst, now);
    agent_bucket_set (&shed->bytes, cfg->bytes_per_s, cfg->bytes_burst, now);
    agent_bucket_set (&shed->accepts, cfg->accepts_per_s, 2.0 * cfg->accepts_per_s, now);
}

void
agent_shed_conn_reset (agent_shed_t *shed)
{
    if (shed->fd >= 0)
        close (shed->fd);
    shed->fd = -1;
    shed->hello = false;
    agent_reader_destroy (&shed->reader);
    shed->reader_mid = false;
    agent_streams_destroy (&shed->streams);
    if (shed->outq)
        agent_outq_clear (shed->outq);
    shed->stats.connected = false;
}

void
agent_shed_destroy (agent_shed_t **shed_p)
{
    assert (shed_p);
    agent_shed_t *shed = *shed_p;
    if (!shed)
        return;
    agent_shed_conn_reset (shed);
    if (shed->listen_fd >= 0) {
        close (shed->listen_fd);
        unlink (shed->path);
    }
    agent_outq_destroy (&shed->outq);
    zhashx_destroy (&shed->services);
    zhashx_destroy (&shed->streams_seen);
    free (shed->metrics);
    free (shed);
    *shed_p = NULL;
}

/* Count a quota refusal (no strike: the frame was well formed). The first
 * of each reason and then every power of two is logged, so a flood of
 * refusals is visible without flooding the log. */
void
agent_shed_refuse (agent_shed_t *shed, agent_bad_t why, const char *name)
{
    uint64_t n = ++shed->stats.bad[why];
    shed->stats.bad_total++;
    if ((n & (n - 1)) == 0)
        log_warn (AGENT_HOST_COMP, "agent refused|shed=%s reason=%s count=%llu name=\"%s\"",
                  shed->name, agent_bad_name (why), (unsigned long long) n, name ? name : "");
}

/* The quotas bound what a shed can make the node and the bus hold. */
bool
agent_shed_quota_ok (agent_shed_t *shed, const agent_host_config_t *cfg, const agent_msg_t *msg)
{
    const char *name = NULL;
    switch (msg->hdr.type) {
    case AGENT_LOG:
        name = msg->u.agent_log.stream;
        if (shed->last_stream[0] && strcmp (shed->last_stream, name) == 0)
            return true;
        if (!zhashx_lookup (shed->streams_seen, name)) {
            if (zhashx_size (shed->streams_seen) >= cfg->streams_max) {
                agent_shed_refuse (shed, AGENT_BAD_STREAM_CAP, name);
                return false;
            }
            zhashx_insert (shed->streams_seen, name, shed);
        }
        /* Names are validated, at most AGENT_STREAM_NAME_MAX bytes. */
        if (strlen (name) < sizeof shed->last_stream)
            strcpy (shed->last_stream, name);
        return true;
    case AGENT_SERVICE_REGISTER:
        name = msg->u.agent_service_register.name;
        if (zhashx_lookup (shed->services, name))
            return true;
        if (zhashx_size (shed->services) >= cfg->services_max) {
            agent_shed_refuse (shed, AGENT_BAD_SERVICE_CAP, name);
            return false;
        }
        zhashx_insert (shed->services, name, shed);
        return true;
    case AGENT_SERVICE_DEREGISTER:
    case AGENT_SERVICE_HEALTH:
        /* Only names it holds: anything else would reach the bus as
             * topics of names the shed never had. */
        name = msg->hdr.type == AGENT_SERVICE_HEALTH ? msg->u.agent_service_health.name
                                                     : msg->u.agent_service_deregister.name;
        if (!zhashx_lookup (shed->services, name)) {
            agent_shed_refuse (shed, AGENT_BAD_SERVICE_CAP, name);
            return false;
        }
        if (msg->hdr.type == AGENT_SERVICE_DEREGISTER)
            zhashx_delete (shed->services, name);
        return true;
    default:
        return true;
    }
}

bool
agent_shed_strike (agent_shed_t *shed, const agent_host_config_t *cfg, agent_bad_t why,
                   const char *detail)
{
    shed->stats.bad[why]++;
    shed->stats.bad_total++;
    int64_t now = agent_clock_mono_ms ();
    if (now - shed->strike_window_ms > S_STRIKE_WINDOW_MS) {
        shed->strike_window_ms = now;
        shed->strikes = 0;
    }
    shed->strikes++;
    if (shed->strikes == 1)
        log_debug (AGENT_HOST_COMP, "bad frame|shed=%s reason=%s detail=\"%s\"", shed->name,
                   agent_bad_name (why), detail ? detail : "");
    /* Framing errors close at once: the stream cannot be trusted again. */
    return why == AGENT_BAD_TYPE || why == AGENT_BAD_OVERSIZE || shed->strikes >= cfg->abuse_limit;
}

void
agent_shed_cooldown (agent_shed_t *shed, const agent_host_config_t *cfg, agent_bad_t why)
{
    log_warn (AGENT_HOST_COMP, "closing abusive agent|shed=%s reason=%s strikes=%u", shed->name,
              agent_bad_name (why), shed->strikes);
    shed->stats.closes_abuse++;
    shed->cooldown_until_ms = agent_clock_mono_ms () + cfg->abuse_cooldown_ms;
    /* The cooldown is the penalty; the next connection starts a new
     * window (strikes are not reset by anything else). */
    shed->strikes = 0;
    shed->strike_window_ms = agent_clock_mono_ms ();
}
