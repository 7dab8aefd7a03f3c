/*
 * ctl_snapshots.c - shedctl snapshot create | list | show | rm
 * (docs/snapshots.md). Any node answers: list and show read the replicated
 * records, create and rm are routed to the shed's or the data's node.
 */
#include "node/ctl/ctl.h"

#include "bridges/bus_client.h"
#include "bridges/event_msg.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_CREATE_TIMEOUT_MS (30 * 60 * 1000) /* a large layer */

static void
s_json_snapshot (jw_t *j, const api_snapshot_t *s)
{
    jw_obj_begin (j);
    /* clang-format off */
    jw_key (j, "name");        jw_str (j, s->name);
    jw_key (j, "shed");        jw_str (j, s->shed);
    jw_key (j, "node");        jw_str (j, s->node);
    jw_key (j, "digest");      jw_str (j, s->digest);
    jw_key (j, "size");        jw_u64 (j, s->size);
    jw_key (j, "image");       jw_str (j, s->image);
    jw_key (j, "cpus_milli");  jw_u64 (j, s->cpus_milli);
    jw_key (j, "memory_mb");   jw_u64 (j, s->memory_mb);
    jw_key (j, "disk_mb");     jw_u64 (j, s->disk_mb);
    jw_key (j, "ip");          jw_str (j, s->ip);
    jw_key (j, "mac");         jw_str (j, s->mac);
    jw_key (j, "mode");        jw_str (j, s->mode);
    jw_key (j, "driver");      jw_str (j, s->driver);
    jw_key (j, "created_ms");  jw_u64 (j, s->created_ms);
    if (s->took_ms) {
        jw_key (j, "took_ms"); jw_u64 (j, s->took_ms);
    }
    /* clang-format on */
    jw_obj_end (j);
}

static void
s_time_text (uint64_t ms, char *out, size_t size)
{
    time_t t = (time_t) (ms / 1000);
    struct tm tm;
    if (!ms || !localtime_r (&t, &tm) || !strftime (out, size, "%Y-%m-%d %H:%M:%S", &tm))
        snprintf (out, size, "-");
}

static void
s_print_one (const api_snapshot_t *s)
{
    char size[32], when[32];
    ctl_format_size (s->size, size, sizeof size);
    s_time_text (s->created_ms, when, sizeof when);
    printf ("name:      %s\n", s->name);
    printf ("shed:      %s\n", s->shed);
    printf ("node:      %s (holds the data)\n", s->node);
    printf ("size:      %s\n", size);
    printf ("digest:    sha256:%s\n", s->digest);
    printf ("image:     %s\n", s->image[0] ? s->image : "-");
    printf ("resources: %.2f cpus, %llu MiB memory, %llu MiB disk\n",
            (double) s->cpus_milli / 1000.0, (unsigned long long) s->memory_mb,
            (unsigned long long) s->disk_mb);
    printf ("address:   %s %s\n", s->ip[0] ? s->ip : "-", s->mac[0] ? s->mac : "");
    printf ("mode:      %s (%s driver)\n", s->mode, s->driver[0] ? s->driver : "?");
    printf ("created:   %s\n", when);
    if (s->took_ms)
        printf ("took:      %llu ms\n", (unsigned long long) s->took_ms);
}

static void
s_print (ctl_t *ctl, const api_snapshot_list_rep_t *r, bool one)
{
    if (ctl->json) {
        jw_t j;
        jw_init (&j, stdout);
        if (one && r->snapshots.n)
            s_json_snapshot (&j, &r->snapshots.items[0]);
        else {
            jw_arr_begin (&j);
            for (size_t i = 0; i < r->snapshots.n; i++)
                s_json_snapshot (&j, &r->snapshots.items[i]);
            jw_arr_end (&j);
        }
        jw_end (&j);
        return;
    }
    if (one) {
        if (r->snapshots.n)
            s_print_one (&r->snapshots.items[0]);
        return;
    }
    printf ("%-32s %-20s %-12s %9s %-5s %s\n", "NAME", "SHED", "NODE", "SIZE", "MODE", "CREATED");
    for (size_t i = 0; i < r->snapshots.n; i++) {
        const api_snapshot_t *s = &r->snapshots.items[i];
        char size[32], when[32];
        ctl_format_size (s->size, size, sizeof size);
        s_time_text (s->created_ms, when, sizeof when);
        printf ("%-32s %-20s %-12s %9s %-5s %s\n", s->name, s->shed, s->node, size, s->mode, when);
    }
}

static int
s_usage (void)
{
    return ctl_fail ("usage: shedctl snapshot create SHED [--name N] [--live|--stop] | "
                     "list [--shed S] | show NAME | rm NAME");
}

static int
s_create (ctl_t *ctl, int argc, char **argv)
{
    static const struct option options[] = {
        { "name", required_argument, NULL, 'n' },
        { "live", no_argument, NULL, 'l' },
        { "stop", no_argument, NULL, 's' },
        { NULL, 0, NULL, 0 },
    };
    api_msg_t req = { .hdr.type = API_SNAPSHOT_CREATE_REQ }, rep;
    api_snapshot_create_req_t *r = &req.u.api_snapshot_create_req;
    const char *shed = NULL;
    optind = 0;
    opterr = 0;
    int opt;
    while (optind < argc) {
        if ((opt = getopt_long (argc, argv, "-", options, NULL)) == -1)
            break;
        switch (opt) {
        case 1:
            if (shed)
                return s_usage ();
            shed = optarg;
            break;
        case 'n':
            if (strlen (optarg) >= sizeof r->name)
                return ctl_fail ("--name '%.40s...' is longer than 63 characters", optarg);
            snprintf (r->name, sizeof r->name, "%s", optarg);
            break;
        case 'l':
            r->mode = 0;
            break;
        case 's':
            r->mode = 1;
            break;
        default:
            return s_usage ();
        }
    }
    if (!shed || strlen (shed) >= sizeof r->shed)
        return s_usage ();
    snprintf (r->shed, sizeof r->shed, "%s", shed);
    if (ctl->timeout_ms < S_CREATE_TIMEOUT_MS)
        ctl->timeout_ms = S_CREATE_TIMEOUT_MS;
    if (ctl_call (ctl, &req, &rep, API_SNAPSHOT_LIST_REP) != 0)
        return 1;
    s_print (ctl, &rep.u.api_snapshot_list_rep, true);
    wire_msg_free (&api_proto, &rep);
    return 0;
}

static int
s_list (ctl_t *ctl, const char *name, const char *shed)
{
    api_msg_t req = { .hdr.type = API_SNAPSHOT_LIST_REQ }, rep;
    api_snapshot_list_req_t *r = &req.u.api_snapshot_list_req;
    if ((name && strlen (name) >= sizeof r->name) || (shed && strlen (shed) >= sizeof r->shed))
        return ctl_fail ("names are at most 63 characters");
    if (name)
        snprintf (r->name, sizeof r->name, "%s", name);
    if (shed)
        snprintf (r->shed, sizeof r->shed, "%s", shed);
    if (ctl_call (ctl, &req, &rep, API_SNAPSHOT_LIST_REP) != 0)
        return 1;
    s_print (ctl, &rep.u.api_snapshot_list_rep, name != NULL);
    wire_msg_free (&api_proto, &rep);
    return 0;
}

static int
s_rm (ctl_t *ctl, const char *name)
{
    api_msg_t req = { .hdr.type = API_SNAPSHOT_RM_REQ }, rep;
    if (strlen (name) >= sizeof req.u.api_snapshot_rm_req.name)
        return ctl_fail ("snapshot name '%.40s...' is longer than 63 characters", name);
    snprintf (req.u.api_snapshot_rm_req.name, sizeof req.u.api_snapshot_rm_req.name, "%s", name);
    if (ctl_call (ctl, &req, &rep, API_OK) != 0)
        return 1;
    ctl_print_ok (ctl, "name", name, rep.u.api_ok.message);
    wire_msg_free (&api_proto, &rep);
    return 0;
}

/* ---- progress ------------------------------------------------------------------ */

void
ctl_snapshot_progress_line (const evpay_progress_t *p)
{
    char done[32], total[32];
    ctl_format_size (p->done, done, sizeof done);
    ctl_format_size (p->total, total, sizeof total);
    if (!strcmp (p->what, "fetch"))
        fprintf (stderr, "shedctl: snapshot %s from %s: %s of %s (%llu%%) %s%s%s\n", p->name,
                 p->peer, done, total,
                 (unsigned long long) (p->total ? p->done * 100 / p->total : 100), p->state,
                 p->why[0] ? ": " : "", p->why);
    else
        fprintf (stderr, "shedctl: move %s to %s: %s%s%s%s%s\n", p->shed, p->peer, p->state,
                 p->why[0] ? ": " : "", p->why, p->total ? ", layer " : "", p->total ? total : "");
}

int
ctl_with_progress (ctl_t *ctl, ctl_work_fn *fn, void *arg, const char *snapshot, const char *shed)
{
    /* No bus (or --json): just the work. Progress is a courtesy. */
    ctl_feed_t *client = ctl->json ? NULL : ctl_bus_connect (ctl);
    if (!client || ctl_feed_subscribe (client, "snapshot.") != 0) {
        ctl_feed_destroy (&client);
        return fn (arg);
    }
    /* Its answer comes after the node has our subscription: no early
     * progress event is missed. (snapshot. has no last values to replay.) */
    ctl_feed_snapshot (client, 2000);
    ctl_work_t w;
    if (ctl_work_start (&w, fn, arg) != 0) {
        ctl_feed_destroy (&client);
        return fn (arg);
    }
    while (!ctl_work_done (&w)) {
        bus_event_t ev;
        if (ctl_feed_recv (client, &ev, 100) != 0 || ev.snapshot
            || strcmp (ev.kind, EVPAY_KIND_PROGRESS) != 0)
            continue;
        evpay_msg_t m;
        if (wire_decode (&evpay_proto, ev.payload, ev.size, &m, NULL) != WIRE_OK)
            continue;
        const evpay_progress_t *p = &m.u.evpay_progress;
        if (m.hdr.type == EVPAY_PROGRESS
            && ((snapshot && !strcmp (p->name, snapshot)) || (shed && !strcmp (p->shed, shed))))
            ctl_snapshot_progress_line (p);
        wire_msg_free (&evpay_proto, &m);
    }
    int rc = ctl_work_join (&w);
    ctl_feed_destroy (&client);
    return rc;
}

/* ---- move ------------------------------------------------------------------- */

typedef struct {
    ctl_t *ctl;
    api_msg_t *req, *rep;
} s_move_call_t;

static int
s_move_call (void *arg)
{
    s_move_call_t *c = (s_move_call_t *) arg;
    return ctl_call (c->ctl, c->req, c->rep, API_SHED_MOVE_REP);
}

int
ctl_move (ctl_t *ctl, int argc, char **argv)
{
    const char *name = NULL, *to = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp (argv[i], "--to") == 0 && i + 1 < argc)
            to = argv[++i];
        else if (argv[i][0] != '-' && !name)
            name = argv[i];
        else
            return ctl_fail ("usage: shedctl move SHED [--to NODE]");
    }
    if (!name)
        return ctl_fail ("usage: shedctl move SHED [--to NODE]");
    api_msg_t req = { .hdr.type = API_SHED_MOVE_REQ }, rep;
    api_shed_move_req_t *r = &req.u.api_shed_move_req;
    if (strlen (name) >= sizeof r->name || (to && strlen (to) >= sizeof r->node))
        return ctl_fail ("names are at most 63 characters");
    snprintf (r->name, sizeof r->name, "%s", name);
    if (to)
        snprintf (r->node, sizeof r->node, "%s", to);
    if (ctl->timeout_ms < S_CREATE_TIMEOUT_MS)
        ctl->timeout_ms = S_CREATE_TIMEOUT_MS;
    s_move_call_t call = { ctl, &req, &rep };
    if (ctl_with_progress (ctl, s_move_call, &call, NULL, name) != 0)
        return 1;
    const api_shed_move_rep_t *m = &rep.u.api_shed_move_rep;
    if (ctl->json) {
        jw_t j;
        jw_init (&j, stdout);
        jw_obj_begin (&j);
        /* clang-format off */
        jw_key (&j, "name");       jw_str (&j, m->name);
        jw_key (&j, "from");       jw_str (&j, m->from);
        jw_key (&j, "to");         jw_str (&j, m->to);
        jw_key (&j, "ip");         jw_str (&j, m->ip);
        jw_key (&j, "bytes");      jw_u64 (&j, m->bytes);
        jw_key (&j, "capture_ms"); jw_u64 (&j, m->capture_ms);
        jw_key (&j, "claim_ms");   jw_u64 (&j, m->claim_ms);
        jw_key (&j, "total_ms");   jw_u64 (&j, m->total_ms);
        /* clang-format on */
        jw_obj_end (&j);
        jw_end (&j);
    }
    else {
        char size[32];
        ctl_format_size (m->bytes, size, sizeof size);
        printf ("moved %s from %s to %s, address %s kept: %s of data, stopped and captured in "
                "%llu ms, running there %llu ms later (%llu ms in all)\n",
                m->name, m->from, m->to, m->ip[0] ? m->ip : "-", size,
                (unsigned long long) m->capture_ms, (unsigned long long) m->claim_ms,
                (unsigned long long) m->total_ms);
    }
    wire_msg_free (&api_proto, &rep);
    return 0;
}

/* One move; 0 with the target in `to`, or 1 (the reason printed). */
static int
s_move_one (ctl_t *ctl, const char *name, char *to, size_t tolen, uint64_t *ms)
{
    api_msg_t req = { .hdr.type = API_SHED_MOVE_REQ }, rep;
    snprintf (req.u.api_shed_move_req.name, sizeof req.u.api_shed_move_req.name, "%s", name);
    s_move_call_t call = { ctl, &req, &rep };
    if (ctl_with_progress (ctl, s_move_call, &call, NULL, name) != 0)
        return 1;
    snprintf (to, tolen, "%s", rep.u.api_shed_move_rep.to);
    *ms = rep.u.api_shed_move_rep.total_ms;
    wire_msg_free (&api_proto, &rep);
    return 0;
}

int
ctl_drain_move (ctl_t *ctl, const char *node)
{
    char self[64] = "";
    if (!node) {
        api_msg_t req = { .hdr.type = API_STATUS_REQ }, rep;
        if (ctl_call (ctl, &req, &rep, API_STATUS_REP) != 0)
            return 1;
        snprintf (self, sizeof self, "%s", rep.u.api_status_rep.name);
        wire_msg_free (&api_proto, &rep);
        node = self;
    }
    api_msg_t req = { .hdr.type = API_SHED_LIST_REQ }, rep;
    snprintf (req.u.api_shed_list_req.node, sizeof req.u.api_shed_list_req.node, "%s", node);
    if (ctl_call (ctl, &req, &rep, API_SHED_LIST_REP) != 0)
        return 1;
    size_t n = rep.u.api_shed_list_rep.sheds.n, failed = 0;
    char (*names)[64] = calloc (n ? n : 1, sizeof *names);
    if (!names) {
        wire_msg_free (&api_proto, &rep);
        return ctl_fail ("out of memory");
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const api_shed_t *s = &rep.u.api_shed_list_rep.sheds.items[i];
        if (strcmp (s->node, node) == 0)
            snprintf (names[k++], sizeof names[0], "%s", s->name);
    }
    wire_msg_free (&api_proto, &rep);
    if (ctl->timeout_ms < S_CREATE_TIMEOUT_MS)
        ctl->timeout_ms = S_CREATE_TIMEOUT_MS;
    printf ("moving %zu shed%s off %s\n", k, k == 1 ? "" : "s", node);
    for (size_t i = 0; i < k; i++) {
        char to[64] = "";
        uint64_t ms = 0;
        /* One at a time: each move stops its shed for its own transfer
         * only, and a failure leaves the rest where they run. */
        if (s_move_one (ctl, names[i], to, sizeof to, &ms) == 0)
            printf ("[%zu/%zu] %s -> %s (%llu ms)\n", i + 1, k, names[i], to,
                    (unsigned long long) ms);
        else {
            printf ("[%zu/%zu] %s: not moved (above)\n", i + 1, k, names[i]);
            failed++;
        }
        fflush (stdout);
    }
    free (names);
    if (failed)
        return ctl_fail ("%zu of %zu sheds stayed on %s", failed, k, node);
    printf ("%s holds no sheds\n", node);
    return 0;
}

int
ctl_snapshot (ctl_t *ctl, int argc, char **argv)
{
    if (argc < 2)
        return s_usage ();
    const char *sub = argv[1];
    if (strcmp (sub, "create") == 0)
        return s_create (ctl, argc - 1, argv + 1);
    if (strcmp (sub, "list") == 0 || strcmp (sub, "ls") == 0) {
        if (argc == 2)
            return s_list (ctl, NULL, NULL);
        if (argc == 4 && strcmp (argv[2], "--shed") == 0)
            return s_list (ctl, NULL, argv[3]);
        return s_usage ();
    }
    if (strcmp (sub, "show") == 0 && argc == 3)
        return s_list (ctl, argv[2], NULL);
    if (strcmp (sub, "rm") == 0 && argc == 3)
        return s_rm (ctl, argv[2]);
    return s_usage ();
}
