/* ctl_top.c - `shedctl status NAME` (one shed's live resource use) and
 * `shedctl top` (every shed in the cluster), both from the agents' metrics
 * as the event bus has them: the last value of every `metrics.<node>.<shed>`
 * topic (a snapshot from the local node, which asks its peers), then live
 * updates. Nothing runs inside the sheds. */
#include "agent/proto/agent_proto.h"
#include "bridges/bus_client.h"
#include "crypto/identity.h"
#include "node/ctl/ctl.h"

#include <czmq.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S_SHEDS_MAX 4096

/* A CURVE consumer of a node's remote endpoint, as the identity in
 * --identity DIR (the node must list its public key in events.consumer_keys). */
static bus_client_t *
s_bus_connect_remote (ctl_t *ctl)
{
    if (!ctl->server_key || !ctl->identity_dir) {
        ctl_fail ("--events needs --server-key (the node's public key, see shedctl status) and "
                  "--identity DIR (see shedctl keygen --identity)");
        return NULL;
    }
    uint8_t server[32];
    if (shed_key_from_text (ctl->server_key, server) != 0) {
        ctl_fail ("--server-key: not a base64 32-byte key");
        return NULL;
    }
    char path[PATH_MAX + 32];
    snprintf (path, sizeof path, "%s/%s", ctl->identity_dir, SHED_IDENTITY_FILE);
    if (access (path, R_OK) != 0) {
        ctl_fail ("no identity in %s (create one with: shedctl keygen --identity %s)",
                  ctl->identity_dir, ctl->identity_dir);
        return NULL;
    }
    char err[256];
    shed_identity_t *id = shed_identity_load_or_create (ctl->identity_dir, err, sizeof err);
    if (!id) {
        ctl_fail ("%s", err);
        return NULL;
    }
    bus_client_t *client =
        bus_client_new (ctl->events_endpoint, server, shed_identity_x25519_public (id),
                        shed_identity_x25519_secret (id));
    shed_identity_destroy (&id);
    if (!client)
        ctl_fail ("cannot connect to the event endpoint %s", ctl->events_endpoint);
    return client;
}

ctl_feed_t *
ctl_bus_connect (ctl_t *ctl)
{
    if (ctl->events_endpoint)
        return ctl_feed_wrap (s_bus_connect_remote (ctl));
    /* the node's GET /v1/events, with the payloads' bytes (ctl_feed.h) */
    if (shed_api_is_http (ctl->endpoint)) {
        ctl_feed_t *feed = ctl_feed_remote (ctl->endpoint);
        if (!feed)
            ctl_fail ("out of memory");
        return feed;
    }
    api_msg_t req = { .hdr.type = API_EVENTS_REQ }, rep;
    if (ctl_call (ctl, &req, &rep, API_EVENTS_REP) != 0)
        return NULL;
    char endpoint[API_TEXT_MAX + 1];
    snprintf (endpoint, sizeof endpoint, "%s", rep.u.api_events_rep.local);
    wire_msg_free (&api_proto, &rep);
    bus_client_t *client = bus_client_new (endpoint, NULL, NULL, NULL);
    if (!client)
        ctl_fail ("cannot connect to the event endpoint %s", endpoint);
    return ctl_feed_wrap (client);
}

int
ctl_topic_split (const char *topic, const char *prefix, char *node, size_t nodecap, char *shed,
                 size_t shedcap)
{
    /* <prefix><node>.<shed>[.<rest>]: shed names have no dots, node names
     * may; the caller says how many segments follow the shed. */
    size_t pl = strlen (prefix);
    if (strncmp (topic, prefix, pl))
        return -1;
    const char *rest = topic + pl;
    const char *dot = strrchr (rest, '.');
    if (!dot || dot == rest)
        return -1;
    size_t nl = (size_t) (dot - rest), sl = strlen (dot + 1);
    if (nl >= nodecap || sl >= shedcap || sl == 0)
        return -1;
    memcpy (node, rest, nl);
    node[nl] = '\0';
    memcpy (shed, dot + 1, sl + 1);
    return 0;
}

/* One shed's latest sample. */
typedef struct {
    char node[64];
    char shed[AGENT_NAME_MAX + 1];
    int64_t time_us;                /* when its node stamped it */
    agent_metrics_t m;              /* disks/nics lists not kept */
    uint64_t disk_used, disk_total; /* over every mount */
    char disks[512];                /* "/ 1.2G/10G, /data ..." */
} s_sample_t;

/* Decode a metrics event into *s. 0, or -1 if it is not one. */
static int
s_sample (const bus_event_t *ev, s_sample_t *s)
{
    memset (s, 0, sizeof *s);
    if (ctl_topic_split (ev->topic, "metrics.", s->node, sizeof s->node, s->shed, sizeof s->shed)
        != 0)
        return -1;
    agent_msg_t m;
    if (wire_decode (&agent_proto, ev->payload, ev->size, &m, NULL) != WIRE_OK)
        return -1;
    if (m.hdr.type != AGENT_METRICS) {
        wire_msg_free (&agent_proto, &m);
        return -1;
    }
    s->time_us = ev->time_us;
    s->m = m.u.agent_metrics;
    const agent_disk_t *d = m.u.agent_metrics.disks.items;
    size_t n = 0;
    for (size_t i = 0; i < m.u.agent_metrics.disks.n; i++) {
        s->disk_used += d[i].used;
        s->disk_total += d[i].total;
        char u[16], t[16];
        ctl_format_size (d[i].used, u, sizeof u);
        ctl_format_size (d[i].total, t, sizeof t);
        if (n < sizeof s->disks)
            n += (size_t) snprintf (s->disks + n, sizeof s->disks - n, "%s%s %s/%s", i ? ", " : "",
                                    d[i].mount, u, t);
    }
    s->m.disks.n = 0;
    s->m.disks.items = NULL;
    s->m.nics.n = 0;
    s->m.nics.items = NULL;
    wire_msg_free (&agent_proto, &m);
    return 0;
}

static void
s_free (void **item)
{
    free (*item);
    *item = NULL;
}

static uint64_t
s_age_ms (const s_sample_t *s)
{
    int64_t age = zclock_time () - s->time_us / 1000;
    return age > 0 ? (uint64_t) age : 0;
}

/* Subscribe to metrics. and take the snapshot into a hash shed@node ->
 * s_sample_t. NULL on failure (reason printed). */
static zhashx_t *
s_snapshot (ctl_t *ctl, ctl_feed_t *client)
{
    ctl_feed_subscribe (client, "metrics.");
    if (ctl_feed_snapshot (client, ctl->timeout_ms) < 0)
        fprintf (stderr, "shedctl: the node did not answer the snapshot in time; "
                         "showing what arrived\n");
    zhashx_t *sheds = zhashx_new ();
    zhashx_set_destructor (sheds, s_free);
    bus_event_t ev;
    while (ctl_feed_recv (client, &ev, 0) == 0) {
        s_sample_t s;
        if (s_sample (&ev, &s) != 0)
            continue;
        char key[160];
        snprintf (key, sizeof key, "%s@%s", s.shed, s.node);
        s_sample_t *copy = malloc (sizeof *copy);
        *copy = s;
        zhashx_update (sheds, key, copy);
    }
    return sheds;
}

int
ctl_shed_owner (ctl_t *ctl, const char *shed, char *node, size_t nodecap)
{
    ctl_feed_t *client = ctl_bus_connect (ctl);
    if (!client)
        return -1;
    zhashx_t *sheds = s_snapshot (ctl, client);
    int rc = -1;
    for (s_sample_t *s = zhashx_first (sheds); s; s = zhashx_next (sheds))
        if (!strcmp (s->shed, shed)) {
            snprintf (node, nodecap, "%s", s->node);
            rc = 0;
        }
    zhashx_destroy (&sheds);
    ctl_feed_destroy (&client);
    return rc;
}

/* -------------------------------------------------------------------------
 * shedctl status NAME
 */

static void
s_print_one (ctl_t *ctl, const s_sample_t *s)
{
    const agent_metrics_t *m = &s->m;
    if (ctl->json) {
        jw_t j;
        jw_init (&j, stdout);
        jw_obj_begin (&j);
        /* clang-format off */
        jw_key (&j, "shed");       jw_str (&j, s->shed);
        jw_key (&j, "node");       jw_str (&j, s->node);
        jw_key (&j, "age_ms");     jw_u64 (&j, s_age_ms (s));
        jw_key (&j, "time_us");    jw_i64 (&j, s->time_us);
        jw_key (&j, "cpu_pct");    jw_f64 (&j, m->cpu_pct);
        jw_key (&j, "cpu_count");  jw_u64 (&j, m->cpu_count);
        jw_key (&j, "mem_used");   jw_u64 (&j, m->mem_used);
        jw_key (&j, "mem_total");  jw_u64 (&j, m->mem_total);
        jw_key (&j, "disk_used");  jw_u64 (&j, s->disk_used);
        jw_key (&j, "disk_total"); jw_u64 (&j, s->disk_total);
        jw_key (&j, "net_rx");     jw_u64 (&j, m->net_rx);
        jw_key (&j, "net_tx");     jw_u64 (&j, m->net_tx);
        jw_key (&j, "load1");      jw_f64 (&j, m->load1);
        jw_key (&j, "load5");      jw_f64 (&j, m->load5);
        jw_key (&j, "load15");     jw_f64 (&j, m->load15);
        jw_key (&j, "procs");      jw_u64 (&j, m->procs);
        jw_key (&j, "uptime_s");   jw_u64 (&j, m->uptime_s);
        /* clang-format on */
        jw_obj_end (&j);
        jw_end (&j);
        return;
    }
    char a[16], b[16], age[32], up[32];
    ctl_format_duration (s_age_ms (s), age, sizeof age);
    ctl_format_duration (m->uptime_s * 1000, up, sizeof up);
    printf ("Shed:        %s\n", s->shed);
    printf ("Node:        %s\n", s->node);
    printf ("Sample age:  %s\n", age);
    printf ("CPU:         %.1f%% of %" PRIu64 " CPU%s\n", m->cpu_pct, m->cpu_count,
            m->cpu_count == 1 ? "" : "s");
    ctl_format_size (m->mem_used, a, sizeof a);
    ctl_format_size (m->mem_total, b, sizeof b);
    printf ("Memory:      %s / %s (%.1f%%)\n", a, b,
            m->mem_total ? 100.0 * (double) m->mem_used / (double) m->mem_total : 0.0);
    printf ("Disk:        %s\n", s->disks[0] ? s->disks : "-");
    ctl_format_size (m->net_rx, a, sizeof a);
    ctl_format_size (m->net_tx, b, sizeof b);
    printf ("Network:     rx %s  tx %s\n", a, b);
    printf ("Load:        %.2f %.2f %.2f\n", m->load1, m->load5, m->load15);
    printf ("Processes:   %" PRIu64 "\n", m->procs);
    printf ("Uptime:      %s\n", up);
}

int
ctl_status_any (ctl_t *ctl, int argc, char **argv)
{
    if (argc < 2 || argv[1][0] == '-')
        return ctl_status (ctl, argc, argv);
    if (argc > 2)
        return ctl_fail ("usage: status [NAME] [--json]");
    const char *name = argv[1];
    ctl_feed_t *client = ctl_bus_connect (ctl);
    if (!client)
        return 1;
    zhashx_t *sheds = s_snapshot (ctl, client);
    const s_sample_t *best = NULL;
    for (s_sample_t *s = zhashx_first (sheds); s; s = zhashx_next (sheds))
        if (!strcmp (s->shed, name) && (!best || s->time_us > best->time_us))
            best = s; /* a shed that moved: its newest node */
    int rc = 0;
    if (best)
        s_print_one (ctl, best);
    else
        rc = ctl_fail ("no metrics for shed '%s' in the cluster (no agent connected to it, "
                       "or no such shed)",
                       name);
    zhashx_destroy (&sheds);
    ctl_feed_destroy (&client);
    return rc;
}

/* -------------------------------------------------------------------------
 * shedctl top
 */

static int
s_by_cpu (const void *a, const void *b)
{
    const s_sample_t *x = *(const s_sample_t *const *) a, *y = *(const s_sample_t *const *) b;
    if (x->m.cpu_pct != y->m.cpu_pct)
        return x->m.cpu_pct < y->m.cpu_pct ? 1 : -1;
    int c = strcmp (x->shed, y->shed);
    return c ? c : strcmp (x->node, y->node);
}

static void
s_table (ctl_t *ctl, zhashx_t *sheds, bool clear)
{
    size_t n = zhashx_size (sheds), i = 0;
    const s_sample_t **rows = calloc (n ? n : 1, sizeof *rows);
    for (s_sample_t *s = zhashx_first (sheds); s && i < n; s = zhashx_next (sheds))
        rows[i++] = s;
    qsort (rows, i, sizeof *rows, s_by_cpu);
    if (ctl->json) {
        jw_t j;
        jw_init (&j, stdout);
        jw_arr_begin (&j);
        for (size_t k = 0; k < i; k++) {
            const s_sample_t *s = rows[k];
            jw_obj_begin (&j);
            /* clang-format off */
            jw_key (&j, "shed");       jw_str (&j, s->shed);
            jw_key (&j, "node");       jw_str (&j, s->node);
            jw_key (&j, "age_ms");     jw_u64 (&j, s_age_ms (s));
            jw_key (&j, "cpu_pct");    jw_f64 (&j, s->m.cpu_pct);
            jw_key (&j, "mem_used");   jw_u64 (&j, s->m.mem_used);
            jw_key (&j, "mem_total");  jw_u64 (&j, s->m.mem_total);
            jw_key (&j, "disk_used");  jw_u64 (&j, s->disk_used);
            jw_key (&j, "disk_total"); jw_u64 (&j, s->disk_total);
            jw_key (&j, "net_rx");     jw_u64 (&j, s->m.net_rx);
            jw_key (&j, "net_tx");     jw_u64 (&j, s->m.net_tx);
            jw_key (&j, "load1");      jw_f64 (&j, s->m.load1);
            jw_key (&j, "procs");      jw_u64 (&j, s->m.procs);
            /* clang-format on */
            jw_obj_end (&j);
        }
        jw_arr_end (&j);
        jw_end (&j);
        free (rows);
        return;
    }
    if (clear)
        fputs ("\033[H\033[2J", stdout);
    printf ("%-20s %-14s %6s %17s %17s %8s %8s %6s %5s %s\n", "SHED", "NODE", "CPU%", "MEM", "DISK",
            "NET_RX", "NET_TX", "LOAD", "PROCS", "AGE");
    for (size_t k = 0; k < i; k++) {
        const s_sample_t *s = rows[k];
        char mu[16], mt[16], du[16], dt[16], rx[16], tx[16], mem[40], disk[40], age[32];
        ctl_format_size (s->m.mem_used, mu, sizeof mu);
        ctl_format_size (s->m.mem_total, mt, sizeof mt);
        ctl_format_size (s->disk_used, du, sizeof du);
        ctl_format_size (s->disk_total, dt, sizeof dt);
        ctl_format_size (s->m.net_rx, rx, sizeof rx);
        ctl_format_size (s->m.net_tx, tx, sizeof tx);
        snprintf (mem, sizeof mem, "%s/%s", mu, mt);
        snprintf (disk, sizeof disk, "%s/%s", du, dt);
        ctl_format_duration (s_age_ms (s), age, sizeof age);
        printf ("%-20s %-14s %6.1f %17s %17s %8s %8s %6.2f %5" PRIu64 " %s\n", s->shed, s->node,
                s->m.cpu_pct, mem, disk, rx, tx, s->m.load1, s->m.procs, age);
    }
    if (i == 0)
        printf ("(no shed has reported metrics yet)\n");
    fflush (stdout);
    free (rows);
}

int
ctl_top (ctl_t *ctl, int argc, char **argv)
{
    bool once = false;
    double interval = 2;
    for (int i = 1; i < argc; i++) {
        if (!strcmp (argv[i], "--once"))
            once = true;
        else if (!strcmp (argv[i], "--interval") && i + 1 < argc) {
            /* "500ms", "5s"; a bare number is seconds, as it always was */
            uint64_t ms;
            if (ctl_duration_arg ("--interval", argv[++i], 1000, 100, 3600000, &ms))
                return 1;
            interval = (double) ms / 1000.0;
        }
        else
            return ctl_fail ("usage: top [--once] [--interval DURATION] [--json]");
    }
    ctl_feed_t *client = ctl_bus_connect (ctl);
    if (!client)
        return 1;
    zhashx_t *sheds = s_snapshot (ctl, client);
    s_table (ctl, sheds, !once && !ctl->json);
    int64_t next = zclock_mono () + (int64_t) (interval * 1000);
    while (!once && !zsys_interrupted) {
        int64_t wait = next - zclock_mono ();
        bus_event_t ev;
        if (wait > 0 && ctl_feed_recv (client, &ev, (int) wait) == 0) {
            s_sample_t s;
            if (s_sample (&ev, &s) == 0) {
                char key[160];
                snprintf (key, sizeof key, "%s@%s", s.shed, s.node);
                s_sample_t *copy = malloc (sizeof *copy);
                *copy = s;
                zhashx_update (sheds, key, copy);
            }
            continue;
        }
        if (zclock_mono () >= next) {
            s_table (ctl, sheds, !ctl->json);
            next = zclock_mono () + (int64_t) (interval * 1000);
        }
    }
    zhashx_destroy (&sheds);
    ctl_feed_destroy (&client);
    return 0;
}
