/*
 * ctl_feed.h - the events shedctl's commands follow (top, status NAME,
 * logs --follow, provision, snapshot progress): the node's bus, locally
 * (a bus_client of its events socket, or of its CURVE endpoint with
 * --events), or, with --addr https://..., the node's GET /v1/events
 * stream with each event's payload bytes (?raw=true), read on a thread
 * and handed out as bus events, so the commands decode the agents'
 * messages the same way in both modes (docs/cli.md, "Remote mode").
 *
 * The calls mirror bus_client.h. Remotely, subscriptions are sent when
 * the stream opens, at the first ctl_feed_snapshot or ctl_feed_recv: a
 * subscription after that is not followed.
 */
#ifndef SHED_CTL_FEED_H
#define SHED_CTL_FEED_H

#include "bridges/bus_client.h"

#include <stdbool.h>

typedef struct ctl_feed ctl_feed_t;

/* Wrap a local bus client (taken over; NULL gives NULL). */
ctl_feed_t *ctl_feed_wrap (bus_client_t *bus);
/* A remote node's event stream (nothing is sent yet). */
ctl_feed_t *ctl_feed_remote (const char *endpoint);
/* Give back the local bus client (the feed is freed), or NULL if remote. */
bus_client_t *ctl_feed_unwrap (ctl_feed_t **self_p);
void ctl_feed_destroy (ctl_feed_t **self_p);

int ctl_feed_subscribe (ctl_feed_t *self, const char *prefix);
/* As bus_client_snapshot: the last values under the subscriptions are
 * queued before it returns (count), or -1 on timeout. */
int ctl_feed_snapshot (ctl_feed_t *self, int timeout_ms);
/* As bus_client_recv: 0 with *ev (its payload valid until the next call),
 * or -1 after timeout_ms. A stream that failed prints its reason once. */
int ctl_feed_recv (ctl_feed_t *self, bus_event_t *ev, int timeout_ms);
/* Remote: open the stream without a snapshot and wait (at most
 * timeout_ms) until the node says it follows the subscriptions, so that
 * nothing published after this returns is missed; 0, or -1 on timeout or
 * failure. Local: 0 at once (a bus client's subscriptions hold when the
 * call returns once the caller has asked for a snapshot or waited). */
int ctl_feed_ready (ctl_feed_t *self, int timeout_ms);
bool ctl_feed_is_remote (const ctl_feed_t *self);
/* A stream that fails says nothing (progress lines are a courtesy). */
void ctl_feed_set_quiet (ctl_feed_t *self);

#endif
