/*
 * bus_client.h - a consumer of a node's event bus (docs/events.md).
 *
 * Connects a SUB socket to a node's consumer endpoint: the ipc one on the
 * same host, or the TCP one as a CURVE client (the node must have
 * CONSUMER-ALLOWed our public key). Subscriptions are topic prefixes
 * ("metrics.", "log.n1.web."); "" is everything. The node forwards them to
 * every other node, so events from the whole cluster arrive.
 *
 *     bus_client_t *c = bus_client_new ("ipc:///run/shed/events.sock",
 *                                       NULL, NULL, NULL);
 *     bus_client_subscribe (c, "metrics.");
 *     bus_client_snapshot (c, 2000);        // optional: current values first
 *     bus_event_t ev;
 *     while (bus_client_recv (c, &ev, -1) == 0)
 *         printf ("%s from %s seq %lu\n", ev.topic, ev.origin, ev.seq);
 *     bus_client_destroy (&c);
 *
 * Gaps: each event carries a per-(origin, topic) sequence; the client
 * remembers the last one per (origin, topic) and reports in ev.gap how many
 * events of that topic were lost just before this one (dropped by a full
 * queue somewhere), and counts them. A new boot id of an origin restarts
 * its sequences without a gap. An event at or below the last sequence is a
 * duplicate: it is counted and not delivered.
 *
 * Snapshot (the zguide "Clone" pattern over one ordered pipe): subscribe
 * first, then bus_client_snapshot() asks the node for the last value of
 * every (origin, topic) under the subscribed prefixes that is state-like
 * (metrics. shed. member. service.). bus_client_recv() then returns those
 * (ev.snapshot = true) before live events; live state events that the
 * snapshot already covers are dropped, so nothing is seen twice.
 */
#ifndef SHED_BUS_CLIENT_H
#define SHED_BUS_CLIENT_H

#include "bridges/event_msg.h"

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _bus_client_t bus_client_t;

/* One received event. Strings are copies; `payload` belongs to the client
 * and stays valid until the next bus_client_recv or destroy. */
typedef struct {
    char topic[EVENT_TOPIC_MAX + 1];
    char origin[EVENT_NODE_MAX + 1];
    char kind[EVENT_KIND_MAX + 1];
    uint64_t boot;   /* origin's boot id */
    uint64_t seq;    /* per-origin sequence */
    uint64_t tseq;   /* per-(origin, topic) sequence, 0 = untracked */
    int64_t time_us; /* origin's wall clock */
    const uint8_t *payload;
    size_t size;
    bool snapshot; /* a last value replayed by the snapshot */
    uint64_t gap;  /* events of this topic lost just before */
} bus_event_t;

/* Connect to a consumer endpoint. For tcp:// pass the node's public key
 * and our key pair (CURVE); for ipc:// pass NULLs. NULL on a bad endpoint. */
bus_client_t *bus_client_new (const char *endpoint, const uint8_t *server_key,
                              const uint8_t *public_key, const uint8_t *secret_key);
/* Same, with a receive queue of `rcvhwm` events (0: EVENT_SNDHWM). What
 * does not fit is dropped by the node and shows up as gaps. */
bus_client_t *bus_client_new_hwm (const char *endpoint, const uint8_t *server_key,
                                  const uint8_t *public_key, const uint8_t *secret_key, int rcvhwm);
/* Disconnect and free. NULL-safe. */
void bus_client_destroy (bus_client_t **self_p);

/* Follow / stop following topics starting with `prefix`. 0 or -1. */
int bus_client_subscribe (bus_client_t *self, const char *prefix);
int bus_client_unsubscribe (bus_client_t *self, const char *prefix);

/* Ask for the last values under the subscribed prefixes and wait up to
 * timeout_ms for them. Returns the number of snapshot items queued for
 * bus_client_recv, or -1 on timeout (live events are kept either way). */
int bus_client_snapshot (bus_client_t *self, int timeout_ms);

/* Next event: 0, or -1 on timeout (timeout_ms; -1 waits forever) or
 * interruption. Malformed frames are skipped and counted. */
int bus_client_recv (bus_client_t *self, bus_event_t *ev, int timeout_ms);

/* The SUB socket, to poll on beside others (then call recv with 0). */
zsock_t *bus_client_sock (bus_client_t *self);

/* Counters: events delivered, lost per gaps, duplicates dropped, malformed. */
uint64_t bus_client_received (bus_client_t *self);
uint64_t bus_client_gaps (bus_client_t *self);
uint64_t bus_client_duplicates (bus_client_t *self);
uint64_t bus_client_malformed (bus_client_t *self);

#endif
