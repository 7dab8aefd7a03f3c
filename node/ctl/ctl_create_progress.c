/*
 * ctl_create_progress.c - a create's phases as they happen
 * (docs/scheduling.md, "Create progress"). While the create call runs on a
 * thread, the node's event bus is followed for
 *
 *   create.<node>.<shed>   kind progress, what create: the phases the node
 *                          that took the create (reserved, placed) and the
 *                          target (network, rootfs, started) publish
 *   snapshot.<node>.<snap> the data fetch of a create --from-snapshot
 *   shed.<node>.<shed>     kind agent.hello: the shed's agent connected
 *
 * and each becomes one line on stderr. Once the node has answered, the
 * agent is waited for (at most --wait) when the target said it will
 * connect. Progress is a courtesy: no bus, or a lost event, costs lines,
 * never the create.
 *
 * Remotely (--addr https://...) the same events come from the node's
 * GET /v1/events stream (ctl_feed.h), opened and subscribed before the
 * create is sent, so the lines are the same in both modes.
 */
#include "node/ctl/ctl.h"

#include "agent/proto/agent_proto.h"
#include "bridges/bus_client.h"
#include "bridges/event_msg.h"
#include "node/ctl/ctl_feed.h"

#include <czmq.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    const ctl_create_watch_t *opt;
    ctl_create_seen_t *seen;
    bool agent_pending; /* connected before `started` was printed */
} s_watch_t;

static void
s_line (s_watch_t *s, const char *node, const char *text)
{
    s->seen->lines++;
    if (s->opt->quiet)
        return;
    if (node && *node)
        fprintf (stderr, "shedctl: create %s: %s: %s\n", s->opt->shed, node, text);
    else
        fprintf (stderr, "shedctl: create %s: %s\n", s->opt->shed, text);
}

static void
s_agent_line (s_watch_t *s)
{
    char text[128];
    snprintf (text, sizeof text, "agent connected (shed-agent %s)",
              s->seen->agent_version[0] ? s->seen->agent_version : "?");
    s_line (s, s->seen->node, text);
    s->agent_pending = false;
}

static void
s_on_progress (s_watch_t *s, const evpay_progress_t *p)
{
    if (!strcmp (p->what, "create") && !strcmp (p->name, s->opt->shed)) {
        if (!strcmp (p->state, "failed"))
            return; /* the node's answer says why, once */
        bool target = !strcmp (p->state, "network") || !strcmp (p->state, "rootfs")
                      || !strcmp (p->state, "started");
        if (target)
            snprintf (s->seen->node, sizeof s->seen->node, "%s", p->peer);
        s_line (s, target ? p->peer : NULL, p->why);
        if (!strcmp (p->state, "started")) {
            s->seen->started = true;
            s->seen->agent_expected = p->agent;
            if (s->agent_pending)
                s_agent_line (s);
        }
    }
    else if (s->opt->snapshot && !strcmp (p->name, s->opt->snapshot)) {
        s->seen->lines++;
        if (!s->opt->quiet)
            ctl_snapshot_progress_line (p);
    }
}

static void
s_on_hello (s_watch_t *s, const bus_event_t *ev)
{
    char node[EVENT_NODE_MAX + 1], shed[64];
    if (ctl_topic_split (ev->topic, "shed.", node, sizeof node, shed, sizeof shed) != 0
        || strcmp (shed, s->opt->shed) != 0 || s->seen->agent_connected)
        return;
    agent_msg_t m;
    if (wire_decode (&agent_proto, ev->payload, ev->size, &m, NULL) != WIRE_OK)
        return;
    if (m.hdr.type == AGENT_HELLO) {
        s->seen->agent_connected = true;
        /* The shed's own words: printable only (no escapes to the terminal). */
        snprintf (s->seen->agent_version, sizeof s->seen->agent_version, "%s",
                  m.u.agent_hello.agent_version);
        for (char *c = s->seen->agent_version; *c; c++)
            if (*c < 0x20 || *c > 0x7e)
                *c = '?';
        if (!s->seen->node[0])
            snprintf (s->seen->node, sizeof s->seen->node, "%s", node);
        /* In order: after "started" (the hello may overtake it). */
        if (s->seen->started)
            s_agent_line (s);
        else
            s->agent_pending = true;
    }
    wire_msg_free (&agent_proto, &m);
}

static void
s_recv (s_watch_t *s, ctl_feed_t *feed, int timeout_ms)
{
    bus_event_t ev;
    if (ctl_feed_recv (feed, &ev, timeout_ms) != 0 || ev.snapshot)
        return;
    if (!strcmp (ev.kind, EVPAY_KIND_PROGRESS)) {
        evpay_msg_t m;
        if (wire_decode (&evpay_proto, ev.payload, ev.size, &m, NULL) != WIRE_OK)
            return;
        if (m.hdr.type == EVPAY_PROGRESS)
            s_on_progress (s, &m.u.evpay_progress);
        wire_msg_free (&evpay_proto, &m);
    }
    else if (!strcmp (ev.kind, "agent.hello"))
        s_on_hello (s, &ev);
}

/* The node's events, asked quietly: when the node does not answer, the
 * create itself says so, once. */
static ctl_feed_t *
s_connect (ctl_t *ctl)
{
    if (ctl->events_endpoint)
        return ctl_bus_connect (ctl);
    if (shed_api_is_http (ctl->endpoint)) {
        ctl_feed_t *feed = ctl_feed_remote (ctl->endpoint);
        if (feed)
            ctl_feed_set_quiet (feed);
        return feed;
    }
    api_msg_t req = { .hdr.type = API_EVENTS_REQ }, rep;
    char err[256];
    if (shed_api_call (ctl->endpoint, &req, &rep, ctl->timeout_ms, err, sizeof err) != 0)
        return NULL;
    bus_client_t *client = NULL;
    if (rep.hdr.type == API_EVENTS_REP)
        client = bus_client_new (rep.u.api_events_rep.local, NULL, NULL, NULL);
    wire_msg_free (&api_proto, &rep);
    return ctl_feed_wrap (client);
}

/* Subscribed before the create goes out: no early phase is missed. */
static int
s_subscribe (ctl_feed_t *feed, const ctl_create_watch_t *opt)
{
    if (ctl_feed_subscribe (feed, "create.") != 0
        || (opt->snapshot && ctl_feed_subscribe (feed, "snapshot.") != 0))
        return -1;
    if (ctl_feed_is_remote (feed)) {
        /* A remote stream takes its prefixes when it opens: shed. now, and
         * no snapshot (shed. is state-like: its last values would wait
         * for every peer); its ": subscribed" line is the node's word that
         * it follows them. */
        if (ctl_feed_subscribe (feed, "shed.") != 0)
            return -1;
        return ctl_feed_ready (feed, 2000);
    }
    /* Locally the bus's snapshot answer comes after the node has our
     * subscriptions (create. and snapshot. have no last values, so it
     * does not wait for peers). shed. after it: that prefix is
     * state-like and its snapshot would wait for every peer; the agent's
     * hello comes long after the subscription has spread. */
    ctl_feed_snapshot (feed, 2000);
    return ctl_feed_subscribe (feed, "shed.");
}

int
ctl_create_watch (ctl_t *ctl, ctl_work_fn *fn, void *arg, const ctl_create_watch_t *opt,
                  ctl_create_seen_t *seen)
{
    memset (seen, 0, sizeof *seen);
    ctl_feed_t *client = s_connect (ctl);
    if (!client || s_subscribe (client, opt) != 0) {
        ctl_feed_destroy (&client);
        return fn (arg);
    }
    s_watch_t s = { .opt = opt, .seen = seen };
    ctl_work_t w;
    if (ctl_work_start (&w, fn, arg) != 0) {
        ctl_feed_destroy (&client);
        return fn (arg);
    }
    while (!ctl_work_done (&w))
        s_recv (&s, client, 100);
    ctl_work_join (&w);
    /* The target's last phases may still be on their way: its answer
     * took the RPC's path, they take the bus's. */
    int64_t drain = zclock_mono () + 300;
    while (w.rc == 0 && !seen->started && zclock_mono () < drain)
        s_recv (&s, client, 50);
    if (w.rc == 0 && seen->agent_expected && !seen->agent_connected && opt->wait_ms > 0) {
        int64_t deadline = zclock_mono () + (int64_t) opt->wait_ms;
        int64_t left;
        while (!seen->agent_connected && (left = deadline - zclock_mono ()) > 0)
            s_recv (&s, client, left < 100 ? (int) left : 100);
        seen->agent_waited = !seen->agent_connected;
    }
    if (s.agent_pending)
        s_agent_line (&s);
    ctl_feed_destroy (&client);
    return w.rc;
}
