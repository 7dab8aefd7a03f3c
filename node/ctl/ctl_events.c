/* ctl_events.c - `shedctl events`: follow the cluster's events from the
 * local node's consumer endpoint; `shedctl agents`: the node's agent
 * channels (and the hidden debug `agents attach|detach NAME`). */
#include "agent/proto/agent_proto.h"
#include "bridges/bus_client.h"
#include "bridges/event_msg.h"
#include "node/ctl/ctl.h"
#include "node/events/event_json.h"
#include "node/http/http_events.h"

#include <jansson.h>

#include <czmq.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* -------------------------------------------------------------------------
 * Payload rendering
 */

static void
s_summary (const bus_event_t *ev, char *out, size_t len)
{
    snprintf (out, len, "%zu bytes", ev->size);
    if (!strncmp (ev->kind, "agent.", 6)) {
        agent_msg_t m;
        if (wire_decode (&agent_proto, ev->payload, ev->size, &m, NULL) != WIRE_OK)
            return;
        char a[16], b[16];
        switch (m.hdr.type) {
        case AGENT_METRICS: {
            const agent_metrics_t *x = &m.u.agent_metrics;
            ctl_format_size (x->mem_used, a, sizeof a);
            ctl_format_size (x->mem_total, b, sizeof b);
            snprintf (out, len, "cpu %.1f%% mem %s/%s load %.2f procs %" PRIu64, x->cpu_pct, a, b,
                      x->load1, x->procs);
            break;
        }
        case AGENT_LOG:
            if (snprintf (out, len, "[%s #%" PRIu64 "] %s", m.u.agent_log.stream, m.u.agent_log.seq,
                          m.u.agent_log.text)
                >= (int) len)
                strcpy (out + len - 4, "..."); /* a long line, cut for the table */
            break;
        case AGENT_PROC_EVENT: {
            const agent_proc_event_t *p = &m.u.agent_proc_event;
            snprintf (out, len, "%s %s pid %" PRIu64 " code %" PRId64 " signal %" PRIu64 "%s",
                      shed_event_proc_kind (p->kind), p->name, p->pid, p->exit_code, p->signal,
                      p->crashed ? " crashed" : "");
            break;
        }
        case AGENT_HELLO:
            snprintf (out, len, "agent %s connected (host %s)", m.u.agent_hello.agent_version,
                      m.u.agent_hello.hostname);
            break;
        case AGENT_CLOSE:
            snprintf (out, len, "agent disconnected: %s", m.u.agent_close.reason);
            break;
        case AGENT_DROPPED:
            snprintf (out, len, "agent dropped %" PRIu64 " (total %" PRIu64 ")",
                      m.u.agent_dropped.count, m.u.agent_dropped.total);
            break;
        case AGENT_SERVICE_REGISTER:
            snprintf (out, len, "service %s port %" PRIu64 " registered",
                      m.u.agent_service_register.name, m.u.agent_service_register.port);
            break;
        case AGENT_SERVICE_DEREGISTER:
            snprintf (out, len, "service %s deregistered", m.u.agent_service_deregister.name);
            break;
        case AGENT_SERVICE_HEALTH:
            snprintf (out, len, "service %s health %" PRIu64 " %s", m.u.agent_service_health.name,
                      m.u.agent_service_health.status, m.u.agent_service_health.output);
            break;
        default:
            break;
        }
        wire_msg_free (&agent_proto, &m);
        return;
    }
    evpay_msg_t m;
    if (wire_decode (&evpay_proto, ev->payload, ev->size, &m, NULL) != WIRE_OK)
        return;
    if (m.hdr.type == EVPAY_MEMBER) {
        const evpay_member_t *x = &m.u.evpay_member;
        int n = snprintf (out, len, "%s %s (observer %s) %s:%" PRIu64 " inc %" PRIu64, x->node,
                          x->change, x->observer, x->addr, x->port, x->inc);
        for (size_t i = 0; i < x->tags.n && n > 0 && (size_t) n < len; i++)
            n += snprintf (out + n, len - (size_t) n, "%s%s=%s", i ? "," : " tags ",
                           x->tags.items[i].key, x->tags.items[i].value);
    }
    else if (m.hdr.type == EVPAY_RECORD) {
        const evpay_record_t *x = &m.u.evpay_record;
        snprintf (out, len, "%s %s %s v%" PRIu64 " %s", x->change, x->rkind, x->key, x->version,
                  x->status);
    }
    else if (m.hdr.type == EVPAY_PROGRESS) {
        const evpay_progress_t *x = &m.u.evpay_progress;
        snprintf (out, len, "%s %s %s %" PRIu64 "/%" PRIu64 " bytes %s%s%s", x->what, x->name,
                  x->state, x->done, x->total, x->peer[0] ? "peer " : "", x->peer,
                  x->why[0] ? " why " : "");
        if (x->why[0]) {
            size_t n = strlen (out);
            snprintf (out + n, len - n, "%s", x->why);
        }
    }
    wire_msg_free (&evpay_proto, &m);
}

static void
s_print (ctl_t *ctl, const bus_event_t *ev)
{
    if (ctl->json) {
        /* The one rendering GET /v1/events sends too (http_events.h). */
        jw_t j;
        jw_init (&j, stdout);
        http_event_json (&j, ev);
        jw_end (&j);
    }
    else {
        char when[32], summary[600];
        time_t t = (time_t) (ev->time_us / 1000000);
        struct tm tm;
        localtime_r (&t, &tm);
        size_t n = strftime (when, sizeof when, "%H:%M:%S", &tm);
        snprintf (when + n, sizeof when - n, ".%03d", (int) (ev->time_us / 1000 % 1000));
        s_summary (ev, summary, sizeof summary);
        printf ("%s %-28s %-12s seq=%-6" PRIu64 " %-14s %s%s", when, ev->topic, ev->origin, ev->seq,
                ev->kind, ev->snapshot ? "(last value) " : "", summary);
        if (ev->gap)
            printf ("  [%" PRIu64 " lost before this]", ev->gap);
        putchar ('\n');
    }
    fflush (stdout);
}

/* -------------------------------------------------------------------------
 * shedctl events
 */

/* Remote mode: the node's GET /v1/events stream (docs/api.md, "Events"). */
typedef struct {
    ctl_t *ctl;
    long count, got;
} s_remote_t;

static int
s_remote_event (const char *text, size_t len, void *arg)
{
    s_remote_t *r = arg;
    if (!text)
        return 0; /* subscribed */
    if (r->ctl->json)
        printf ("%.*s\n", (int) len, text);
    else {
        /* The table's columns, the payload as its JSON. */
        json_error_t jerr;
        /* boot ids use all 64 bits, past jansson's integers: read numbers
         * as doubles (time_us and seq stay exact below 2^53) */
        json_t *ev = json_loadb (text, len, JSON_DECODE_INT_AS_REAL, &jerr);
        if (!ev) {
            /* not ours to judge: show it as it came */
            printf ("%.*s\n", (int) len, text);
            fprintf (stderr, "shedctl: an event did not parse: %s\n", jerr.text);
            fflush (stdout);
            r->got++;
            return zsys_interrupted || (r->count && r->got >= r->count);
        }
        int64_t us = (int64_t) json_number_value (json_object_get (ev, "time_us"));
        time_t t = (time_t) (us / 1000000);
        struct tm tm;
        char when[32];
        localtime_r (&t, &tm);
        size_t n = strftime (when, sizeof when, "%H:%M:%S", &tm);
        snprintf (when + n, sizeof when - n, ".%03d", (int) (us / 1000 % 1000));
        char *payload = json_dumps (json_object_get (ev, "payload"), JSON_COMPACT);
        const char *topic = json_string_value (json_object_get (ev, "topic"));
        const char *origin = json_string_value (json_object_get (ev, "origin"));
        const char *kind = json_string_value (json_object_get (ev, "kind"));
        printf ("%s %-28s %-12s seq=%-6" PRIu64 " %-14s %s%s\n", when, topic ? topic : "?",
                origin ? origin : "?", (uint64_t) json_number_value (json_object_get (ev, "seq")),
                kind ? kind : "?",
                json_is_true (json_object_get (ev, "snapshot")) ? "(last value) " : "",
                payload ? payload : "");
        free (payload);
        json_decref (ev);
    }
    fflush (stdout);
    r->got++;
    return zsys_interrupted || (r->count && r->got >= r->count);
}

static int
s_events_remote (ctl_t *ctl, const char *const *prefixes, size_t n, bool snapshot, long count,
                 double timeout_s)
{
    s_remote_t r = { .ctl = ctl, .count = count };
    char err[512];
    double ms = timeout_s * 1000;
    shed_api_events_opt_t opt = { .snapshot = snapshot,
                                  .timeout_ms = ms > 2e9 ? 2000000000 : (int) ms };
    if (shed_api_http_events (ctl->endpoint, prefixes, n, &opt, s_remote_event, &r, err, sizeof err)
        != 0)
        return ctl_fail ("%s", err);
    fprintf (stderr, "shedctl: %ld events\n", r.got);
    if (count && r.got < count && !zsys_interrupted)
        return ctl_fail ("timed out after %ld of %ld events", r.got, count);
    return 0;
}

int
ctl_events (ctl_t *ctl, int argc, char **argv)
{
    bool snapshot = false;
    long count = 0;
    double timeout_s = 0;
    const char *prefixes[EVENT_PREFIXES_MAX];
    size_t nprefixes = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp (argv[i], "--snapshot"))
            snapshot = true;
        else if (!strcmp (argv[i], "--count") && i + 1 < argc) {
            char *end;
            count = strtol (argv[++i], &end, 10);
            if (*end || count <= 0)
                return ctl_fail ("--count expects a positive number, got '%s'", argv[i]);
        }
        else if (!strcmp (argv[i], "--timeout") && i + 1 < argc) {
            /* "30s", "2m"; a bare number is seconds, as it always was */
            uint64_t ms;
            if (ctl_duration_arg ("--timeout", argv[++i], 1000, 1, 366ull * 86400000, &ms))
                return 1;
            timeout_s = (double) ms / 1000.0;
        }
        else if (argv[i][0] == '-')
            return ctl_fail ("usage: events [--json] [--snapshot] [--count N] [--timeout DURATION] "
                             "[PREFIX...]");
        else if (nprefixes == EVENT_PREFIXES_MAX)
            return ctl_fail ("at most %d prefixes", EVENT_PREFIXES_MAX);
        else if (argv[i][0] == EVENT_CTL_CHAR || strlen (argv[i]) > EVENT_TOPIC_MAX)
            return ctl_fail ("not a topic prefix: '%s'", argv[i]);
        else
            prefixes[nprefixes++] = argv[i];
    }
    if (nprefixes == 0)
        prefixes[nprefixes++] = "";
    if (shed_api_is_http (ctl->endpoint) && !ctl->events_endpoint)
        return s_events_remote (ctl, prefixes, nprefixes, snapshot, count, timeout_s);

    /* The local node's ipc endpoint, or a remote node's CURVE one (--events). */
    ctl_feed_t *feed = ctl_bus_connect (ctl);
    bus_client_t *client = ctl_feed_unwrap (&feed); /* local: its counters are shown */
    if (!client)
        return 1;
    for (size_t i = 0; i < nprefixes; i++)
        bus_client_subscribe (client, prefixes[i]);
    int64_t deadline = timeout_s > 0 ? zclock_mono () + (int64_t) (timeout_s * 1000) : -1;
    if (snapshot) {
        int wait = deadline < 0 ? 3000 : (int) (deadline - zclock_mono ());
        if (bus_client_snapshot (client, wait > 0 ? wait : 0) < 0)
            fprintf (stderr, "shedctl: no snapshot from the node in time; following live "
                             "events only\n");
    }
    long got = 0;
    while (!zsys_interrupted && (count == 0 || got < count)) {
        int wait = -1;
        if (deadline >= 0) {
            int64_t left = deadline - zclock_mono ();
            if (left <= 0)
                break;
            wait = (int) left;
        }
        bus_event_t ev;
        if (bus_client_recv (client, &ev, wait) != 0)
            continue;
        s_print (ctl, &ev);
        got++;
    }
    uint64_t gaps = bus_client_gaps (client);
    fprintf (stderr,
             "shedctl: %" PRIu64 " events, %" PRIu64 " lost (sequence gaps), %" PRIu64
             " duplicates, %" PRIu64 " malformed\n",
             bus_client_received (client), gaps, bus_client_duplicates (client),
             bus_client_malformed (client));
    bus_client_destroy (&client);
    if (count && got < count && !zsys_interrupted)
        return ctl_fail ("timed out after %ld of %ld events", got, count);
    return 0;
}

/* -------------------------------------------------------------------------
 * shedctl agents
 */

int
ctl_agents (ctl_t *ctl, int argc, char **argv)
{
    api_msg_t req = { .hdr.type = API_AGENTS_REQ }, rep;
    api_agents_req_t *r = &req.u.api_agents_req;
    r->op = API_AGENTS_LIST;
    int arg = 1;
    if (argc >= 2 && (!strcmp (argv[1], "attach") || !strcmp (argv[1], "detach"))) {
        if (argc != 3)
            return ctl_fail ("usage: agents %s NAME", argv[1]);
        r->op = !strcmp (argv[1], "attach") ? API_AGENTS_ATTACH : API_AGENTS_DETACH;
        arg = 2;
    }
    else if (argc > 2)
        return ctl_fail ("usage: agents [SHED]");
    if (arg < argc) {
        if (strlen (argv[arg]) >= sizeof r->shed)
            return ctl_fail ("shed name too long: '%s'", argv[arg]);
        strcpy (r->shed, argv[arg]);
    }
    if (ctl_call (ctl, &req, &rep, API_AGENTS_REP) != 0)
        return 1;
    const api_agents_rep_t *a = &rep.u.api_agents_rep;
    if (r->op != API_AGENTS_LIST) {
        if (ctl->json) {
            jw_t j;
            jw_init (&j, stdout);
            jw_obj_begin (&j);
            jw_key (&j, r->op == API_AGENTS_ATTACH ? "path" : "message");
            jw_str (&j, a->message);
            jw_obj_end (&j);
            jw_end (&j);
        }
        else
            printf ("%s\n", a->message);
        wire_msg_free (&api_proto, &rep);
        return 0;
    }
    if (ctl->json) {
        jw_t j;
        jw_init (&j, stdout);
        jw_arr_begin (&j);
        for (size_t i = 0; i < a->sheds.n; i++) {
            const api_agent_t *x = &a->sheds.items[i];
            jw_obj_begin (&j);
            /* clang-format off */
            jw_key (&j, "shed");          jw_str (&j, x->shed);
            jw_key (&j, "path");          jw_str (&j, x->path);
            jw_key (&j, "connected");     jw_bool (&j, x->connected);
            jw_key (&j, "connections");   jw_u64 (&j, x->connections);
            jw_key (&j, "frames_in");     jw_u64 (&j, x->frames_in);
            jw_key (&j, "events");        jw_u64 (&j, x->events);
            jw_key (&j, "bad");           jw_u64 (&j, x->bad);
            jw_key (&j, "agent_dropped"); jw_u64 (&j, x->agent_dropped);
            jw_key (&j, "published");     jw_u64 (&j, x->published);
            jw_key (&j, "bus_dropped");   jw_u64 (&j, x->bus_dropped);
            /* clang-format on */
            jw_key (&j, "metrics");
            if (x->has_metrics) {
                jw_obj_begin (&j);
                /* clang-format off */
                jw_key (&j, "age_ms");    jw_u64 (&j, x->metrics_age_ms);
                jw_key (&j, "cpu_pct");   jw_f64 (&j, x->cpu_pct);
                jw_key (&j, "mem_used");  jw_u64 (&j, x->mem_used);
                jw_key (&j, "mem_total"); jw_u64 (&j, x->mem_total);
                jw_key (&j, "load1");     jw_f64 (&j, x->load1);
                jw_key (&j, "procs");     jw_u64 (&j, x->procs);
                /* clang-format on */
                jw_obj_end (&j);
            }
            else
                jw_null (&j);
            jw_obj_end (&j);
        }
        jw_arr_end (&j);
        jw_end (&j);
    }
    else {
        printf ("%-20s %-9s %5s %8s %5s %7s %7s %6s %-15s %6s %5s %s\n", "SHED", "AGENT", "CONNS",
                "EVENTS", "BAD", "DROPPED", "BUSDROP", "CPU", "MEM", "LOAD", "PROCS",
                "METRICS AGE");
        for (size_t i = 0; i < a->sheds.n; i++) {
            const api_agent_t *x = &a->sheds.items[i];
            char cpu[16] = "-", mem[32] = "-", load[16] = "-", procs[16] = "-", age[32] = "-";
            if (x->has_metrics) {
                char u[16], t[16];
                ctl_format_size (x->mem_used, u, sizeof u);
                ctl_format_size (x->mem_total, t, sizeof t);
                snprintf (cpu, sizeof cpu, "%.1f%%", x->cpu_pct);
                snprintf (mem, sizeof mem, "%s/%s", u, t);
                snprintf (load, sizeof load, "%.2f", x->load1);
                snprintf (procs, sizeof procs, "%" PRIu64, x->procs);
                ctl_format_duration (x->metrics_age_ms, age, sizeof age);
            }
            printf ("%-20s %-9s %5" PRIu64 " %8" PRIu64 " %5" PRIu64 " %7" PRIu64 " %7" PRIu64
                    " %6s %-15s %6s %5s %s\n",
                    x->shed, x->connected ? "connected" : "-", x->connections, x->events, x->bad,
                    x->agent_dropped, x->bus_dropped, cpu, mem, load, procs, age);
        }
    }
    wire_msg_free (&api_proto, &rep);
    return 0;
}
