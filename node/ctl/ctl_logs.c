/* ctl_logs.c - `shedctl logs NAME [--follow] [--stream S] [--tail N]`:
 * the recent lines of a shed from its node's ring buffer (API_LOGS_REQ),
 * then, with --follow, live lines from the event bus (`log.<node>.<NAME>.`
 * topics, from whichever node runs it).
 *
 * History lives on the shed's own node; asked on another node, the node
 * fetches it from the owner over the node RPC (agents.logs, docs/agent.md),
 * so the command works the same on every node. */
#include "agent/proto/agent_proto.h"
#include "bridges/bus_client.h"
#include "node/ctl/ctl.h"

#include <czmq.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Last history line per stream, so live lines already shown are skipped. */
typedef struct {
    char stream[AGENT_STREAM_NAME_MAX + 1];
    uint64_t seq;
    uint64_t ts_ms;
} s_seen_t;

#define S_SEEN_MAX 64

static void
s_print (ctl_t *ctl, const char *node, const char *stream, uint64_t seq, uint64_t ts_ms,
         const char *text, bool partial)
{
    if (ctl->json) {
        jw_t j;
        jw_init (&j, stdout);
        jw_obj_begin (&j);
        /* clang-format off */
        jw_key (&j, "node");    jw_str (&j, node);
        jw_key (&j, "stream");  jw_str (&j, stream);
        jw_key (&j, "seq");     jw_u64 (&j, seq);
        jw_key (&j, "ts_ms");   jw_u64 (&j, ts_ms);
        jw_key (&j, "text");    jw_str (&j, text);
        jw_key (&j, "partial"); jw_bool (&j, partial);
        /* clang-format on */
        jw_obj_end (&j);
        jw_end (&j);
    }
    else
        printf ("[%s] %s%s", stream, text, partial ? "" : "\n");
    fflush (stdout);
}

/* "log.<node>.<shed>.<stream>" -> node, shed, stream (stream and shed
 * names have no dots). 0 or -1. */
static int
s_log_topic (const char *topic, char *node, size_t nodecap, char *shed, size_t shedcap,
             char *stream, size_t streamcap)
{
    char head[EVENT_TOPIC_MAX + 1];
    const char *dot = strrchr (topic, '.');
    if (strncmp (topic, "log.", 4) || !dot || strlen (dot + 1) >= streamcap)
        return -1;
    strcpy (stream, dot + 1);
    size_t hl = (size_t) (dot - topic);
    if (hl >= sizeof head)
        return -1;
    memcpy (head, topic, hl);
    head[hl] = '\0';
    return ctl_topic_split (head, "log.", node, nodecap, shed, shedcap);
}

int
ctl_logs (ctl_t *ctl, int argc, char **argv)
{
    const char *name = NULL, *stream = "";
    bool follow = false;
    long tail = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp (argv[i], "--follow") || !strcmp (argv[i], "-f"))
            follow = true;
        else if (!strcmp (argv[i], "--stream") && i + 1 < argc)
            stream = argv[++i];
        else if (!strcmp (argv[i], "--tail") && i + 1 < argc) {
            char *end;
            tail = strtol (argv[++i], &end, 10);
            if (*end || tail < 0 || tail > API_LOG_LINES_MAX)
                return ctl_fail ("--tail expects 0..%d lines, got '%s'", API_LOG_LINES_MAX,
                                 argv[i]);
        }
        else if (argv[i][0] != '-' && !name)
            name = argv[i];
        else
            return ctl_fail ("usage: logs NAME [--follow] [--stream S] [--tail N] [--json]");
    }
    if (!name)
        return ctl_fail ("usage: logs NAME [--follow] [--stream S] [--tail N] [--json]");
    if (strlen (name) > AGENT_NAME_MAX || strlen (stream) > AGENT_STREAM_NAME_MAX)
        return ctl_fail ("shed or stream name too long");

    /* Follow first, then read the history: nothing falls between the two;
     * what both give is shown once. The snapshot round trip makes sure the
     * node has our subscription before we ask. */
    ctl_feed_t *client = NULL;
    if (follow) {
        client = ctl_bus_connect (ctl);
        if (!client)
            return 1;
        char node[64] = "";
        ctl_shed_node (ctl, name, node, sizeof node);
        ctl_subscribe_shed (ctl, client, "log.", node, name);
        ctl_feed_snapshot (client, ctl->timeout_ms);
    }
    api_msg_t req = { .hdr.type = API_LOGS_REQ }, rep;
    api_logs_req_t *r = &req.u.api_logs_req;
    snprintf (r->shed, sizeof r->shed, "%s", name);
    snprintf (r->stream, sizeof r->stream, "%s", stream);
    r->tail = (uint64_t) tail;
    char err[512];
    if (shed_api_call (ctl->endpoint, &req, &rep, ctl->timeout_ms, err, sizeof err) != 0) {
        ctl_feed_destroy (&client);
        return ctl_fail ("%s", err);
    }
    s_seen_t seen[S_SEEN_MAX];
    size_t nseen = 0;
    if (rep.hdr.type == API_LOGS_REP) {
        const api_logs_rep_t *x = &rep.u.api_logs_rep;
        if (x->truncated || (x->evicted && !tail))
            fprintf (stderr,
                     "shedctl: older lines are gone (%" PRIu64 " fell out of the node's "
                     "buffer%s)\n",
                     x->evicted, x->truncated ? "; reply size limit reached" : "");
        const api_logline_t *l = x->lines.items;
        for (size_t i = 0; i < x->lines.n; i++) {
            s_print (ctl, x->node, l[i].stream, l[i].seq, l[i].ts_ms, l[i].text, l[i].partial);
            size_t k;
            for (k = 0; k < nseen && strcmp (seen[k].stream, l[i].stream); k++)
                ;
            if (k == nseen && nseen < S_SEEN_MAX)
                snprintf (seen[nseen++].stream, sizeof seen[0].stream, "%s", l[i].stream);
            if (k < nseen) {
                seen[k].seq = l[i].seq;
                seen[k].ts_ms = l[i].ts_ms;
            }
        }
        wire_msg_free (&api_proto, &rep);
    }
    else if (rep.hdr.type == API_ERROR && rep.u.api_error.code == API_ERR_NOT_FOUND && follow) {
        /* No node has it (yet): its lines may still come. */
        fprintf (stderr, "shedctl: %s; waiting for its lines\n", rep.u.api_error.message);
        wire_msg_free (&api_proto, &rep);
    }
    else {
        int rc = ctl_fail ("%s", rep.hdr.type == API_ERROR ? rep.u.api_error.message
                                                           : "unexpected reply from the node");
        wire_msg_free (&api_proto, &rep);
        ctl_feed_destroy (&client);
        return rc;
    }
    while (follow && !zsys_interrupted) {
        bus_event_t ev;
        if (ctl_feed_recv (client, &ev, 500) != 0)
            continue;
        char node[64], shed[AGENT_NAME_MAX + 1], st[AGENT_STREAM_NAME_MAX + 1];
        if (s_log_topic (ev.topic, node, sizeof node, shed, sizeof shed, st, sizeof st) != 0
            || strcmp (shed, name) || (*stream && strcmp (st, stream)))
            continue;
        agent_msg_t m;
        if (wire_decode (&agent_proto, ev.payload, ev.size, &m, NULL) != WIRE_OK)
            continue;
        if (m.hdr.type == AGENT_LOG) {
            const agent_log_t *l = &m.u.agent_log;
            bool dup = false;
            for (size_t k = 0; k < nseen; k++)
                if (!strcmp (seen[k].stream, l->stream) && l->seq <= seen[k].seq
                    && l->ts_ms <= seen[k].ts_ms)
                    dup = true;
            if (!dup)
                s_print (ctl, node, l->stream, l->seq, l->ts_ms, l->text, l->partial);
            if (ev.gap && !ctl->json)
                fprintf (stderr, "shedctl: %" PRIu64 " line(s) of %s lost on the way\n", ev.gap,
                         ev.topic);
        }
        wire_msg_free (&agent_proto, &m);
    }
    ctl_feed_destroy (&client);
    return 0;
}
