/*
 * agent_event.h - what the agent host hands its owner: one event per
 * accepted agent message, connect or disconnect (agent_host.h), with the
 * origin stamped by the host, never taken from a payload. Also how an
 * event is named on the event bus (topic and kind), which the host and the
 * owner (node/events/node_agents.c) both use.
 *
 * Events are 4+ KiB (the message union) and cross threads (made on the
 * host's, freed on the owner's), so they come from a small pool instead
 * of malloc (agent_event.c says why).
 */
#ifndef SHED_AGENT_EVENT_H
#define SHED_AGENT_EVENT_H

#include "agent/proto/agent_proto.h"

#include <stddef.h>
#include <stdint.h>

/* What an event is. */
typedef enum {
    AGENT_EVENT_CONNECTED = 1,    /* an agent said hello; msg is its HELLO */
    AGENT_EVENT_MESSAGE = 2,      /* msg is a decoded agent -> host message */
    AGENT_EVENT_DISCONNECTED = 3, /* the connection ended; see reason */
} agent_event_kind_t;

/* One event, owned by whoever holds the pointer. */
typedef struct {
    agent_event_kind_t kind;
    char node[AGENT_NAME_MAX + 1];   /* from the host config */
    char shed[AGENT_NAME_MAX + 1];   /* from agent_host_add_shed */
    uint64_t seq;                    /* per (node, shed): 1, 2, 3... for the life
                                         of the host object, across reconnects */
    int64_t ts_ms;                   /* host wall clock when the frame was accepted */
    char reason[AGENT_TEXT_MAX + 1]; /* DISCONNECTED: "eof", "timeout", "abuse: rate", ... */
    agent_msg_t msg;                 /* hdr.type 0 for DISCONNECTED */
} agent_event_t;

void agent_event_destroy (agent_event_t **self_p);

/* Topic for the event bus: `metrics.<node>.<shed>`, `proc.<node>.<shed>`,
 * `log.<node>.<shed>.<stream>`, `service.<node>.<shed>.<name>`,
 * `provision.<node>.<shed>`, `shed.<node>.<shed>` (connect/disconnect,
 * dropped notices). Returns the length, or -1 if it did not fit. */
int agent_event_topic (const agent_event_t *ev, char *buf, size_t size);

/* Event kind on the bus: "agent.hello", "agent.log", "agent.disconnected"... */
const char *agent_event_kind (const agent_event_t *ev);

/* The CLOSE message a DISCONNECTED event is published as (code from the
 * reason: abuse, replaced, timeout, else shutdown). */
void agent_event_close_msg (const agent_event_t *ev, agent_msg_t *out);

/* For the agent host: an event from the pool, or NULL. Nothing is
 * cleared: the host stamps the header and fills or decodes into msg. */
agent_event_t *agent_event_new (void);

/* For the agent host: give back the events this thread keeps at hand (its
 * thread is ending). */
void agent_event_pool_drain (void);

#endif
