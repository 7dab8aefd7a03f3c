/*
 * node_hooks.h - orchestration hooks: run configured commands on chosen
 * events, like Serf's event handlers (docs/events.md, "Hooks").
 *
 *     hooks:
 *       - {event: "proc.", command: "/usr/local/bin/on-proc"}
 *       - {event: "member.", command: "logger -t shed", timeout_ms: 5000}
 *
 * `event` is a topic prefix. The node follows those prefixes on its own
 * local consumer endpoint (a bus_client, like any consumer), so a hook sees
 * the matching events of the whole cluster, not only this node's; put the
 * node in the prefix ("proc.node1.") to act on one node's events.
 *
 * For each matching event (one run per matching hook) the node runs
 * `/bin/sh -c COMMAND` with posix_spawn (the daemon has ZeroMQ threads; a
 * forked copy of it must do nothing but exec) in its own process group:
 *   stdin   the event as one JSON object (shed_event_json): topic, origin,
 *           seq, tseq, boot, kind, time_us, time, gap, payload (decoded
 *           where the schema is known, else {"size": N})
 *   env     the node's environment plus SHED_NODE (this node's name),
 *           SHED_ADDR (this node's local API endpoint, the config's `api`:
 *           what `shedctl` reads, so a hook's `shedctl list` asks this
 *           node), SHED_HOOK_EVENT (the hook's prefix), SHED_EVENT_TOPIC,
 *           SHED_EVENT_ORIGIN, SHED_EVENT_KIND, SHED_EVENT_SEQ,
 *           SHED_EVENT_TIME_US
 *   output  stdout and stderr go to a scratch file; the first line is
 *           logged with the exit status
 * At most `hooks_concurrency` run at once; up to `hooks_queue` more wait
 * (oldest first); beyond that an event is dropped and counted. A run past
 * its timeout gets SIGKILL on its whole process group.
 *
 * A hook that itself causes events of its prefix (e.g. a member. hook that
 * changes tags) loops; the queue bound keeps that from hurting the node.
 */
#ifndef SHED_NODE_HOOKS_H
#define SHED_NODE_HOOKS_H

#include "bridges/bus_client.h"
#include "node/config.h"
#include "node/ctl/json.h"

#include <czmq.h>
#include <stdint.h>

typedef struct _shed_hooks_t shed_hooks_t;

typedef struct {
    uint64_t matched;         /* (event, hook) pairs that matched */
    uint64_t started;         /* processes spawned */
    uint64_t succeeded;       /* exited 0 */
    uint64_t failed;          /* non-zero exit or killed by a signal */
    uint64_t timed_out;       /* killed at the timeout (also counted failed) */
    uint64_t dropped;         /* queue full */
    uint64_t dropped_control; /* of which member./shed. events (their own queue) */
    uint64_t spawn_errors;    /* posix_spawn or scratch file failed */
    uint32_t running;
    uint32_t queued;
} shed_hooks_stats_t;

/* Start following the configured hooks' prefixes on the local consumer
 * `endpoint` (NULL: follow nothing; events come only from
 * shed_hooks_dispatch, for tests). With no hooks configured this costs
 * nothing (no consumer). NULL with a one-line reason on failure. */
shed_hooks_t *shed_hooks_new (const shed_config_t *cfg, const char *endpoint, zloop_t *loop,
                              char *err, size_t errlen);
/* Stop: running hook processes are killed (their groups) and reaped,
 * queued events dropped. NULL-safe; nulls the pointer. */
void shed_hooks_destroy (shed_hooks_t **self_p);

/* Run (or queue) every hook whose prefix matches ev->topic. Returns how
 * many runs were started or queued. */
int shed_hooks_dispatch (shed_hooks_t *self, const bus_event_t *ev);

void shed_hooks_stats (shed_hooks_t *self, shed_hooks_stats_t *out);

#endif
