/* agent_event.c - see agent_event.h. */
#include "bridges/agent_event.h"

#include <assert.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Events are 4+ KiB (the message union) and cross threads: made on the
 * host's, freed on the owner's. glibc serves neither size nor pattern from
 * its per-thread caches, so freed events wait here to be made again (a
 * process-wide stack; beyond it they are freed). It holds as many as a
 * flood keeps in flight (AGENT_HOST_EVENT_QUEUE waiting in the host, 1024
 * in the pipe, a batch at the owner): with 1024, every flood freed and
 * malloc'd thousands of 4.6 KiB blocks per second, and glibc trimmed and
 * faulted the heap's top in again (perf: sysmalloc and page faults were
 * 8 % of node 1 in bench/events.sh). The cost: up to ~24 MiB kept after
 * the largest flood, memory that flood needed anyway. */
#define S_POOL_MAX  5120 /* process-wide */
#define S_CACHE_MAX 64   /* per thread, moved to/from the pool in halves */
static pthread_mutex_t s_pool_lock = PTHREAD_MUTEX_INITIALIZER;
static agent_event_t *s_pool[S_POOL_MAX];
static size_t s_pool_n;
/* Each thread keeps a few at hand, so the lock is taken once per
 * S_CACHE_MAX / 2 events, not per event (the host makes, the owner frees). */
static __thread agent_event_t *s_cache[S_CACHE_MAX];
static __thread size_t s_cache_n;

agent_event_t *
agent_event_new (void)
{
    if (s_cache_n == 0) {
        pthread_mutex_lock (&s_pool_lock);
        while (s_pool_n && s_cache_n < S_CACHE_MAX / 2)
            s_cache[s_cache_n++] = s_pool[--s_pool_n];
        pthread_mutex_unlock (&s_pool_lock);
    }
    if (s_cache_n)
        return s_cache[--s_cache_n];
    return malloc (sizeof (agent_event_t));
}

static void
s_event_release_global (agent_event_t *ev)
{
    pthread_mutex_lock (&s_pool_lock);
    if (s_pool_n < S_POOL_MAX) {
        s_pool[s_pool_n++] = ev;
        ev = NULL;
    }
    pthread_mutex_unlock (&s_pool_lock);
    free (ev);
}

static void
s_event_release (agent_event_t *ev)
{
    if (s_cache_n == S_CACHE_MAX) {
        pthread_mutex_lock (&s_pool_lock);
        while (s_cache_n > S_CACHE_MAX / 2 && s_pool_n < S_POOL_MAX)
            s_pool[s_pool_n++] = s_cache[--s_cache_n];
        pthread_mutex_unlock (&s_pool_lock);
        /* The pool is full: the rest of the thread's surplus goes back. */
        while (s_cache_n > S_CACHE_MAX / 2)
            free (s_cache[--s_cache_n]);
    }
    s_cache[s_cache_n++] = ev;
}

/* A thread that ends gives back what it holds. */
void
agent_event_pool_drain (void)
{
    while (s_cache_n)
        s_event_release_global (s_cache[--s_cache_n]);
}

/* Does a message of this type own memory (blob, tags or list fields)? Most
 * agent messages (LOG, PROC_EVENT...) are flat: freeing one is nothing, and
 * the 4 KiB wipe wire_msg_free does can be skipped (a decode into the
 * pooled event wipes it anyway). */
static bool
s_owns_memory (uint16_t type)
{
    const wire_desc_t *desc = wire_proto_find (&agent_proto, type);
    if (!desc)
        return false;
    for (size_t i = 0; i < desc->nfields; i++)
        if (desc->fields[i].kind == WIRE_BLOB || desc->fields[i].kind == WIRE_TAGS
            || desc->fields[i].kind == WIRE_LIST)
            return true;
    return false;
}

void
agent_event_destroy (agent_event_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        agent_event_t *ev = *self_p;
        if (s_owns_memory (ev->msg.hdr.type))
            wire_msg_free (&agent_proto, &ev->msg);
        ev->msg.hdr.type = 0;
        s_event_release (ev);
        *self_p = NULL;
    }
}

/* buf[*pos..] += s; false if it does not fit (with the final NUL). */
static bool
s_topic_put (char *buf, size_t size, size_t *pos, const char *s)
{
    size_t n = strlen (s);
    if (*pos + n + 1 > size)
        return false;
    memcpy (buf + *pos, s, n);
    *pos += n;
    buf[*pos] = 0;
    return true;
}

int
agent_event_topic (const agent_event_t *ev, char *buf, size_t size)
{
    assert (ev);
    /* Built by hand, not snprintf: this runs for every event. */
    const char *head = "shed.", *tail = NULL;
    if (ev->kind == AGENT_EVENT_MESSAGE) {
        switch (ev->msg.hdr.type) {
        case AGENT_METRICS:
            head = "metrics.";
            break;
        case AGENT_PROC_EVENT:
            head = "proc.";
            break;
        case AGENT_LOG:
            head = "log.";
            tail = ev->msg.u.agent_log.stream;
            break;
        case AGENT_SERVICE_REGISTER:
            head = "service.";
            tail = ev->msg.u.agent_service_register.name;
            break;
        case AGENT_SERVICE_DEREGISTER:
            head = "service.";
            tail = ev->msg.u.agent_service_deregister.name;
            break;
        case AGENT_SERVICE_HEALTH:
            head = "service.";
            tail = ev->msg.u.agent_service_health.name;
            break;
        case AGENT_PROVISION_OUTPUT:
        case AGENT_PROVISION_DONE:
            head = "provision.";
            break;
        default:
            break;
        }
    }
    size_t pos = 0;
    if (size == 0)
        return -1;
    buf[0] = 0;
    if (!s_topic_put (buf, size, &pos, head) || !s_topic_put (buf, size, &pos, ev->node)
        || !s_topic_put (buf, size, &pos, ".") || !s_topic_put (buf, size, &pos, ev->shed)
        || (tail && (!s_topic_put (buf, size, &pos, ".") || !s_topic_put (buf, size, &pos, tail))))
        return -1;
    return (int) pos;
}

const char *
agent_event_kind (const agent_event_t *ev)
{
    if (ev->kind == AGENT_EVENT_CONNECTED)
        return "agent.hello";
    if (ev->kind == AGENT_EVENT_DISCONNECTED)
        return "agent.disconnected";
    switch (ev->msg.hdr.type) {
    case AGENT_METRICS:
        return "agent.metrics";
    case AGENT_PROC_EVENT:
        return "agent.proc";
    case AGENT_LOG:
        return "agent.log";
    case AGENT_SERVICE_REGISTER:
        return "agent.service_register";
    case AGENT_SERVICE_DEREGISTER:
        return "agent.service_deregister";
    case AGENT_SERVICE_HEALTH:
        return "agent.service_health";
    case AGENT_PROVISION_OUTPUT:
        return "agent.provision_output";
    case AGENT_PROVISION_DONE:
        return "agent.provision_done";
    case AGENT_DROPPED:
        return "agent.dropped";
    default:
        return "agent.other";
    }
}

void
agent_event_close_msg (const agent_event_t *ev, agent_msg_t *out)
{
    memset (out, 0, sizeof *out);
    out->hdr.type = AGENT_CLOSE;
    const char *r = ev->reason;
    out->u.agent_close.code = !strncmp (r, "abuse", 5)  ? AGENT_CLOSE_ABUSE
                              : !strcmp (r, "replaced") ? AGENT_CLOSE_REPLACED
                              : !strcmp (r, "timeout") || !strcmp (r, "no hello")
                                  ? AGENT_CLOSE_TIMEOUT
                                  : AGENT_CLOSE_SHUTDOWN;
    snprintf (out->u.agent_close.reason, sizeof out->u.agent_close.reason, "%s", r);
}
