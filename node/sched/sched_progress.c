/* sched_progress.c - creates' progress on the bus (sched_int.h): one
 * EVPAY_PROGRESS event (`what` create) per phase on create.<self>.<shed>,
 * published by the node the phase happened on: the node that took the
 * create (reserved, placed, failed) and the target (network, rootfs,
 * started). `shedctl create` prints them as they come (docs/scheduling.md,
 * "Create progress"). Progress is a courtesy: a full bus drops it, a
 * create never waits for it. */
#include "node/sched/sched_int.h"

#include "bridges/event_msg.h"
#include "node/events/node_events.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

void
shed_sched_set_events (shed_sched_t *self, shed_events_t *events)
{
    if (self)
        self->events = events;
}

void
sched__progress (shed_sched_t *self, const char *shed, const char *peer, const char *state,
                 uint64_t ms, bool agent, const char *fmt, ...)
{
    if (!self->events)
        return;
    evpay_progress_t progress = { 0 }, *p = &progress;
    snprintf (p->what, sizeof p->what, "create");
    snprintf (p->name, sizeof p->name, "%s", shed);
    snprintf (p->shed, sizeof p->shed, "%s", shed);
    snprintf (p->peer, sizeof p->peer, "%s", peer ? peer : "");
    snprintf (p->state, sizeof p->state, "%s", state);
    p->done = ms;
    p->agent = agent;
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (p->why, sizeof p->why, fmt, ap);
    va_end (ap);
    shed_events_publish_progress (self->events, "create", shed, p);
}

bool
sched__agent_expected (shed_sched_t *self)
{
    /* The netns and container drivers run the agent binary the node names
     * (driver.agent_path, else their default) when it is there, else a
     * placeholder init (docs/drivers.md); what other drivers' guests run
     * is not known here, so nobody is told to wait for it. */
    const char *drv = self->driver ? driver_name (self->driver) : "";
    if (!streq (drv, "netns") && !streq (drv, "container"))
        return false;
    const char *path =
        self->cfg->driver.agent_path[0] ? self->cfg->driver.agent_path : DRIVER_AGENT_DEFAULT_PATH;
    return access (path, X_OK) == 0;
}
