/*
 * agent_pub.h - the agent host's own path to the event bus: events are
 * gathered as records `topic NUL kind NUL len:u32be payload` (bus.h,
 * BUS_PUBLISH_MANY) and sent as one message per loop turn on a PUSH socket
 * to the bus's publish endpoint, never waiting. A full bus queue drops the
 * batch (counted per shed; consumers see tseq gaps).
 *
 * Runs on the agent host's thread only. Buffers are handed to ZeroMQ
 * without a copy and come back when the bus has read them.
 */
#ifndef SHED_AGENT_PUB_H
#define SHED_AGENT_PUB_H

#include "bridges/agent_event.h"
#include "bridges/agent_host.h"

#include <stddef.h>
#include <stdint.h>

typedef struct _agent_pub_t agent_pub_t;

/* Connect to the bus at `endpoint`. `record_max` bounds one record (topic,
 * kind and payload); bigger events are counted as bus_dropped. NULL if the
 * endpoint cannot be connected (logged). */
agent_pub_t *agent_pub_new (const char *endpoint, size_t record_max);

/* Send what is gathered, close the socket and free the buffers once the
 * bus gave them back (see agent_pub.c for when it cannot). NULL-safe. */
void agent_pub_destroy (agent_pub_t **self_p);

/* Gather one event. `payload` is the message's encoding as the agent sent
 * it (NULL: the event's message is encoded here, e.g. DISCONNECTED as a
 * CLOSE). `stats` is the shed's: borrowed until the next flush, which
 * counts the event there as published or bus_dropped. */
void agent_pub_add (agent_pub_t *self, agent_host_stats_t *stats, const agent_event_t *ev,
                    const uint8_t *payload, size_t len);

/* Send what is gathered (once per loop turn, and before a shed whose
 * stats are borrowed goes away). */
void agent_pub_flush (agent_pub_t *self);

#endif
