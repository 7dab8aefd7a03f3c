/*
 * ctl_sheds.c - shedctl create | list | show | start | stop | delete | node.
 *
 * Every command works against any node: the node routes it to the shed's
 * owner (docs/scheduling.md). Create prints its phases on stderr as they
 * happen (ctl_create_progress.c) and exits non-zero with one line on
 * failure.
 */
#include "bridges/bus_client.h"
#include "cluster/placement.h"
#include "common/duration.h"
#include "node/api/api_client.h"
#include "node/ctl/ctl.h"

#include <czmq.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_CREATE_TIMEOUT_MS 30000 /* create's default deadline (docs/scheduling.md) */
#define S_OP_TIMEOUT_MS     10000 /* start, stop, delete: the node's default */
#define S_AGENT_WAIT_MS     10000 /* create --wait: for the shed's agent */

static void
s_json_shed (jw_t *j, const api_shed_t *s)
{
    jw_obj_begin (j);
    /* clang-format off */
    jw_key (j, "name");       jw_str (j, s->name);
    jw_key (j, "node");       jw_str (j, s->node);
    jw_key (j, "state");      jw_str (j, s->state);
    jw_key (j, "cpus_milli"); jw_u64 (j, s->cpus_milli);
    jw_key (j, "memory_mb");  jw_u64 (j, s->memory_mb);
    jw_key (j, "disk_mb");    jw_u64 (j, s->disk_mb);
    jw_key (j, "gpus");       jw_u64 (j, s->gpus);
    jw_key (j, "image");      jw_str (j, s->image);
    jw_key (j, "ip");         jw_str (j, s->ip);
    jw_key (j, "mac");        jw_str (j, s->mac);
    jw_key (j, "request_id"); jw_str (j, s->request_id);
    jw_key (j, "created_ms"); jw_u64 (j, s->created_ms);
    jw_key (j, "error");      jw_str (j, s->error);
    jw_key (j, "driver");     jw_str (j, s->driver);
    jw_key (j, "duplicate");  jw_bool (j, s->duplicate);
    jw_key (j, "note");       jw_str (j, s->note);
    /* clang-format on */
    jw_key (j, "tags");
    jw_tags (j, &s->tags);
    jw_obj_end (j);
}

static void
s_cpus_text (uint64_t milli, char *out, size_t size)
{
    if (milli % 1000 == 0)
        snprintf (out, size, "%llu", (unsigned long long) (milli / 1000));
    else
        snprintf (out, size, "%.2f", milli / 1000.0);
}

static void
s_print_shed (const api_shed_t *s)
{
    char cpus[32], mem[32], disk[32];
    s_cpus_text (s->cpus_milli, cpus, sizeof cpus);
    placement_size_format (s->memory_mb * 1024 * 1024, mem, sizeof mem);
    placement_size_format (s->disk_mb * 1024 * 1024, disk, sizeof disk);
    printf ("name:        %s%s\n", s->name, s->duplicate ? "  (DUPLICATE)" : "");
    printf ("node:        %s\n", s->node);
    printf ("state:       %s\n", s->state);
    if (s->error[0])
        printf ("error:       %s\n", s->error);
    printf ("cpus:        %s\n", cpus);
    printf ("memory:      %s\n", mem);
    printf ("disk:        %s\n", s->disk_mb ? disk : "-");
    if (s->gpus)
        printf ("gpus:        %llu\n", (unsigned long long) s->gpus);
    printf ("ip:          %s\n", s->ip[0] ? s->ip : "-");
    if (s->mac[0])
        printf ("mac:         %s\n", s->mac);
    if (s->image[0])
        printf ("image:       %s\n", s->image);
    printf ("driver:      %s\n", s->driver[0] ? s->driver : "-");
    printf ("request id:  %s\n", s->request_id);
    for (size_t i = 0; i < s->tags.n; i++)
        printf ("tag:         %s=%s\n", s->tags.items[i].key, s->tags.items[i].value);
    if (s->note[0])
        printf ("note:        %s\n", s->note);
}

/* ---- create ---------------------------------------------------------------- */

static int
s_create_usage (void)
{
    return ctl_fail ("usage: shedctl create NAME [--cpus N] [--memory SIZE] [--disk SIZE] "
                     "[--gpus N] [--node NODE] [--constraint K=V|K>=N|K!=V]... "
                     "[--strategy binpack|spread] [--tag k=v]... [--image I] [--repo URL] "
                     "[--from-snapshot SNAPSHOT] [--request-id ID] [--wait DURATION] [--quiet]");
}

/* Copy an argument into its request field, or say it does not fit: a value
 * cut to the field is another value (a 70-character name once created the
 * shed named by its first 63). Returns 0, or shedctl's failure exit code. */
static int
s_arg (char *dst, size_t cap, const char *what, const char *value)
{
    size_t len = strlen (value);
    if (len >= cap)
        return ctl_fail ("%s '%.40s...' is longer than %zu characters", what, value, cap - 1);
    memcpy (dst, value, len + 1);
    return 0;
}

/* One non-empty word of printable ASCII (a repository: owner/repo or a
 * URL, as Shed takes it). */
static bool
s_word (const char *text)
{
    for (const char *p = text; *p; p++)
        if ((unsigned char) *p < 0x21 || (unsigned char) *p > 0x7e)
            return false;
    return *text != '\0';
}

typedef struct {
    ctl_t *ctl;
    api_msg_t *req, *rep;
    const char *name;
} s_create_call_t;

static int
s_create_call (void *arg)
{
    s_create_call_t *c = (s_create_call_t *) arg;
    api_shed_create_req_t *r = &c->req->u.api_shed_create_req;
    return ctl_mutate (c->ctl, c->req, c->rep, API_SHED_REP, r->timeout_ms, c->name, r->request_id);
}

int
ctl_create (ctl_t *ctl, int argc, char **argv)
{
    static const struct option options[] = {
        { "cpus", required_argument, NULL, 'c' },
        { "memory", required_argument, NULL, 'm' },
        { "disk", required_argument, NULL, 'd' },
        { "gpus", required_argument, NULL, 'g' },
        { "node", required_argument, NULL, 'n' },
        { "constraint", required_argument, NULL, 'C' },
        { "strategy", required_argument, NULL, 's' },
        { "tag", required_argument, NULL, 't' },
        { "image", required_argument, NULL, 'i' },
        { "repo", required_argument, NULL, 'R' },
        { "request-id", required_argument, NULL, 'r' },
        { "from-snapshot", required_argument, NULL, 'S' },
        { "wait", required_argument, NULL, 'w' },
        { "quiet", no_argument, NULL, 'q' },
        { NULL, 0, NULL, 0 },
    };
    ctl_create_watch_t watch = { .wait_ms = S_AGENT_WAIT_MS };
    api_msg_t req = { .hdr.type = API_SHED_CREATE_REQ };
    api_shed_create_req_t *r = &req.u.api_shed_create_req;
    api_constraint_t constraints[16];
    wire_tag_t tags[32];
    const char *name = NULL;
    optind = 0; /* 0: glibc re-initialises (main used "+" mode) */
    opterr = 0;
    int opt;
    /* Options may come before or after NAME. */
    while (optind < argc) {
        if ((opt = getopt_long (argc, argv, "-", options, NULL)) == -1)
            break;
        uint64_t v;
        switch (opt) {
        case 1:
            if (name)
                return s_create_usage ();
            name = optarg;
            break;
        case 'c':
            if (placement_cpus_parse (optarg, &v) || v == 0)
                return ctl_fail ("--cpus: expected a count like 2, 0.5 or 1500m, got '%s'", optarg);
            r->cpus_milli = v;
            break;
        case 'm':
        case 'd':
            if (placement_size_parse (optarg, 1024 * 1024, &v))
                return ctl_fail ("--%s: expected a size like 512M or 4G, got '%s'",
                                 opt == 'm' ? "memory" : "disk", optarg);
            if (opt == 'm')
                r->memory_mb = (v + 1024 * 1024 - 1) / (1024 * 1024);
            else
                r->disk_mb = (v + 1024 * 1024 - 1) / (1024 * 1024);
            break;
        case 'g': {
            char *end;
            r->gpus = strtoull (optarg, &end, 10);
            if (*end || !*optarg)
                return ctl_fail ("--gpus: expected a whole number, got '%s'", optarg);
            break;
        }
        case 'n':
            if (s_arg (r->node, sizeof r->node, "--node", optarg))
                return 1;
            break;
        case 'C': {
            if (r->constraints.n >= 16)
                return ctl_fail ("at most 16 constraints");
            place_constraint_t pc;
            char why[256];
            if (placement_constraint_parse (optarg, &pc, why, sizeof why))
                return ctl_fail ("--constraint '%s': %s", optarg, why);
            if (s_arg (constraints[r->constraints.n].text, sizeof constraints[0].text,
                       "--constraint", optarg))
                return 1;
            r->constraints.n++;
            break;
        }
        case 's':
            if (strcmp (optarg, "binpack") && strcmp (optarg, "spread"))
                return ctl_fail ("--strategy: expected binpack or spread, got '%s'", optarg);
            snprintf (r->strategy, sizeof r->strategy, "%s", optarg);
            break;
        case 't': {
            const char *eq = strchr (optarg, '=');
            if (!eq || eq == optarg || r->tags.n >= 32)
                return ctl_fail ("--tag: expected key=value, got '%s'", optarg);
            if ((size_t) (eq - optarg) >= sizeof tags[0].key)
                return ctl_fail ("--tag key '%.40s...' is longer than %zu characters", optarg,
                                 sizeof tags[0].key - 1);
            snprintf (tags[r->tags.n].key, sizeof tags[0].key, "%.*s", (int) (eq - optarg), optarg);
            if (s_arg (tags[r->tags.n].value, sizeof tags[0].value, "--tag value", eq + 1))
                return 1;
            r->tags.n++;
            break;
        }
        case 'i':
            if (s_arg (r->image, sizeof r->image, "--image", optarg))
                return 1;
            break;
        case 'R':
            if (s_arg (r->repo, sizeof r->repo, "--repo", optarg))
                return 1;
            if (!s_word (optarg))
                return ctl_fail ("--repo: expected owner/repo or a URL (printable ASCII, no "
                                 "spaces)");
            break;
        case 'r':
            if (s_arg (r->request_id, sizeof r->request_id, "--request-id", optarg))
                return 1;
            break;
        case 'S':
            if (s_arg (r->snapshot, sizeof r->snapshot, "--from-snapshot", optarg))
                return 1;
            break;
        case 'w':
            /* "10s", "1m", 0: do not wait; a bare number is seconds */
            if (ctl_duration_arg ("--wait", optarg, 1000, 0, 3600000, &watch.wait_ms))
                return 1;
            break;
        case 'q':
            watch.quiet = true;
            break;
        default:
            return s_create_usage ();
        }
    }
    if (!name)
        return s_create_usage ();
    /* Over the limit: refused in the name rule's own words (the node checks
     * the whole rule, and the length again: node/api/api_server.c). */
    char why[160];
    if (strlen (name) >= sizeof r->name && !placement_name_valid (name, why, sizeof why))
        return ctl_fail ("%s", why);
    snprintf (r->name, sizeof r->name, "%s", name);
    r->constraints.items = constraints;
    r->tags.items = tags;
    /* Our own request id when none is given, so a call that times out can
     * be retried safely; the node answers by the deadline (--timeout). */
    if (!r->request_id[0])
        ctl_request_id (r->request_id, sizeof r->request_id);
    r->timeout_ms = (uint64_t) (ctl->timeout_set ? ctl->timeout_ms : S_CREATE_TIMEOUT_MS);
    api_msg_t rep;
    s_create_call_t call = { ctl, &req, &rep, name };
    /* --json: the answer alone, as before (no progress, no agent wait). */
    ctl_create_seen_t seen = { 0 };
    watch.shed = name;
    watch.snapshot = r->snapshot[0] ? r->snapshot : NULL;
    int rc = ctl->json ? s_create_call (&call)
                       : ctl_create_watch (ctl, s_create_call, &call, &watch, &seen);
    if (rc)
        return rc;
    const api_shed_rep_t *sr = &rep.u.api_shed_rep;
    if (ctl->json) {
        jw_t j;
        jw_init (&j, stdout);
        jw_obj_begin (&j);
        jw_key (&j, "shed");
        if (sr->shed.n)
            s_json_shed (&j, &sr->shed.items[0]);
        else
            jw_null (&j);
        jw_key (&j, "steps");
        jw_arr_begin (&j);
        for (size_t i = 0; i < sr->steps.n; i++) {
            jw_obj_begin (&j);
            /* clang-format off */
            jw_key (&j, "text"); jw_str (&j, sr->steps.items [i].text);
            jw_key (&j, "ms");   jw_u64 (&j, sr->steps.items [i].ms);
            /* clang-format on */
            jw_obj_end (&j);
        }
        jw_arr_end (&j);
        jw_key (&j, "message");
        jw_str (&j, sr->message);
        jw_obj_end (&j);
        jw_end (&j);
    }
    else {
        /* The node's steps, when its phases were not shown as they came. */
        for (size_t i = 0; !watch.quiet && !seen.lines && i < sr->steps.n; i++)
            printf ("%6llu ms  %s\n", (unsigned long long) sr->steps.items[i].ms,
                    sr->steps.items[i].text);
        const char *where = sr->shed.n ? sr->shed.items[0].node : seen.node;
        if (watch.quiet)
            ;
        else if (seen.agent_waited) {
            char waited[32];
            shed_duration_format (watch.wait_ms, waited, sizeof waited);
            fprintf (stderr,
                     "shedctl: create %s: %s: its agent did not connect within %s "
                     "(see shedctl agents %s)\n",
                     name, where, waited, name);
        }
        else if (seen.lines)
            fprintf (stderr, "shedctl: create %s: %s: ready%s\n", name, where,
                     seen.agent_connected ? ", agent connected" : "");
        uint64_t total = sr->steps.n ? sr->steps.items[sr->steps.n - 1].ms : 0;
        if (sr->shed.n)
            printf ("%s %s on %s (%llu ms)%s%s\n", sr->shed.items[0].name, sr->shed.items[0].state,
                    sr->shed.items[0].node, (unsigned long long) total, sr->message[0] ? ": " : "",
                    sr->message);
    }
    wire_msg_free (&api_proto, &rep);
    return 0;
}

/* ---- list / show ------------------------------------------------------------- */

int
ctl_list (ctl_t *ctl, int argc, char **argv)
{
    api_msg_t req = { .hdr.type = API_SHED_LIST_REQ };
    for (int i = 1; i < argc; i++) {
        if (!strcmp (argv[i], "--node") && i + 1 < argc)
            snprintf (req.u.api_shed_list_req.node, sizeof req.u.api_shed_list_req.node, "%s",
                      argv[++i]);
        else
            return ctl_fail ("usage: shedctl list [--json] [--node NODE]");
    }
    api_msg_t rep;
    if (ctl_call (ctl, &req, &rep, API_SHED_LIST_REP))
        return 1;
    const api_shed_list_rep_t *l = &rep.u.api_shed_list_rep;
    if (ctl->json) {
        jw_t j;
        jw_init (&j, stdout);
        jw_arr_begin (&j);
        for (size_t i = 0; i < l->sheds.n; i++)
            s_json_shed (&j, &l->sheds.items[i]);
        jw_arr_end (&j);
        jw_end (&j);
    }
    else {
        printf ("%-24s %-16s %-12s %6s %10s %-15s %s\n", "NAME", "NODE", "STATE", "CPUS", "MEMORY",
                "IP", "NOTE");
        for (size_t i = 0; i < l->sheds.n; i++) {
            const api_shed_t *s = &l->sheds.items[i];
            char cpus[32], mem[32];
            s_cpus_text (s->cpus_milli, cpus, sizeof cpus);
            placement_size_format (s->memory_mb * 1024 * 1024, mem, sizeof mem);
            printf ("%-24s %-16s %-12s %6s %10s %-15s %s\n", s->name, s->node,
                    s->duplicate ? "duplicate" : s->state, cpus, mem, s->ip[0] ? s->ip : "-",
                    s->duplicate  ? "name kept by another shed: rename or delete this one"
                    : s->error[0] ? s->error
                                  : "");
        }
    }
    wire_msg_free (&api_proto, &rep);
    return 0;
}

int
ctl_show (ctl_t *ctl, int argc, char **argv)
{
    if (argc != 2)
        return ctl_fail ("usage: shedctl show NAME[@NODE] [--json]");
    api_msg_t req = { .hdr.type = API_SHED_SHOW_REQ };
    if (s_arg (req.u.api_shed_show_req.name, sizeof req.u.api_shed_show_req.name, "NAME[@NODE]",
               argv[1]))
        return 1;
    api_msg_t rep;
    if (ctl_call (ctl, &req, &rep, API_SHED_REP))
        return 1;
    const api_shed_rep_t *sr = &rep.u.api_shed_rep;
    if (sr->shed.n == 0) {
        wire_msg_free (&api_proto, &rep);
        return ctl_fail ("the node answered without a shed");
    }
    if (ctl->json) {
        jw_t j;
        jw_init (&j, stdout);
        s_json_shed (&j, &sr->shed.items[0]);
        jw_end (&j);
    }
    else
        s_print_shed (&sr->shed.items[0]);
    wire_msg_free (&api_proto, &rep);
    return 0;
}

int
ctl_shed_node (ctl_t *ctl, const char *shed, char *node, size_t nodecap)
{
    api_msg_t req = { .hdr.type = API_SHED_SHOW_REQ }, rep;
    snprintf (req.u.api_shed_show_req.name, sizeof req.u.api_shed_show_req.name, "%s", shed);
    char err[512];
    int rc = -1;
    if (shed_api_call (ctl->endpoint, &req, &rep, ctl->timeout_ms, err, sizeof err) == 0) {
        if (rep.hdr.type == API_SHED_REP && rep.u.api_shed_rep.shed.n > 0
            && rep.u.api_shed_rep.shed.items[0].node[0]) {
            snprintf (node, nodecap, "%s", rep.u.api_shed_rep.shed.items[0].node);
            rc = 0;
        }
        wire_msg_free (&api_proto, &rep);
    }
    return rc == 0 ? 0 : ctl_shed_owner (ctl, shed, node, nodecap);
}

void
ctl_subscribe_shed (ctl_t *ctl, ctl_feed_t *client, const char *head, const char *node,
                    const char *shed)
{
    (void) ctl;
    char prefix[256];
    if (node && node[0])
        snprintf (prefix, sizeof prefix, "%s%s.%s", head, node, shed);
    else
        snprintf (prefix, sizeof prefix, "%s", head);
    ctl_feed_subscribe (client, prefix);
}

/* ---- start / stop / delete ----------------------------------------------------- */

static int
s_op (ctl_t *ctl, int argc, char **argv, int op)
{
    const char *name = NULL;
    bool force = false;
    const char *rid = NULL;
    for (int i = 1; i < argc; i++) {
        if (op == API_SHED_OP_DELETE && !strcmp (argv[i], "--force"))
            force = true;
        else if (!strcmp (argv[i], "--request-id") && i + 1 < argc && strlen (argv[i + 1]) <= 64)
            rid = argv[++i];
        else if (!name && argv[i][0] != '-')
            name = argv[i];
        else
            name = NULL, i = argc;
    }
    if (!name)
        return ctl_fail ("usage: shedctl %s NAME[@NODE]%s [--request-id ID]", argv[0],
                         op == API_SHED_OP_DELETE ? " [--force]" : "");
    api_msg_t req = { .hdr.type = API_SHED_OP_REQ };
    api_shed_op_req_t *o = &req.u.api_shed_op_req;
    o->op = (uint64_t) op;
    o->force = force;
    if (s_arg (o->name, sizeof o->name, "NAME[@NODE]", name))
        return 1;
    /* A request id makes a retry after "outcome unknown" safe. */
    if (rid)
        snprintf (o->request_id, sizeof o->request_id, "%s", rid);
    else
        ctl_request_id (o->request_id, sizeof o->request_id);
    o->timeout_ms = (uint64_t) (ctl->timeout_set ? ctl->timeout_ms : S_OP_TIMEOUT_MS);
    api_msg_t rep;
    if (ctl_mutate (ctl, &req, &rep, 0, o->timeout_ms, name, o->request_id))
        return 1;
    if (ctl->json) {
        jw_t j;
        jw_init (&j, stdout);
        if (rep.hdr.type == API_SHED_REP && rep.u.api_shed_rep.shed.n)
            s_json_shed (&j, &rep.u.api_shed_rep.shed.items[0]);
        else {
            jw_obj_begin (&j);
            jw_key (&j, "message");
            jw_str (&j, rep.hdr.type == API_OK ? rep.u.api_ok.message : "");
            jw_obj_end (&j);
        }
        jw_end (&j);
    }
    else if (rep.hdr.type == API_SHED_REP && rep.u.api_shed_rep.shed.n) {
        const api_shed_t *s = &rep.u.api_shed_rep.shed.items[0];
        uint64_t ms = rep.u.api_shed_rep.steps.n ? rep.u.api_shed_rep.steps.items[0].ms : 0;
        printf ("%s %s on %s (%llu ms)\n", s->name, s->state, s->node, (unsigned long long) ms);
    }
    else if (rep.hdr.type == API_OK)
        printf ("%s\n", rep.u.api_ok.message);
    wire_msg_free (&api_proto, &rep);
    return 0;
}

int
ctl_start (ctl_t *ctl, int argc, char **argv)
{
    return s_op (ctl, argc, argv, API_SHED_OP_START);
}

int
ctl_stop (ctl_t *ctl, int argc, char **argv)
{
    return s_op (ctl, argc, argv, API_SHED_OP_STOP);
}

int
ctl_delete (ctl_t *ctl, int argc, char **argv)
{
    return s_op (ctl, argc, argv, API_SHED_OP_DELETE);
}

/* ---- node drain | undrain [NODE] ------------------------------------------------ */

int
ctl_node (ctl_t *ctl, int argc, char **argv)
{
    bool move = argc >= 3 && strcmp (argv[argc - 1], "--move") == 0;
    if (move)
        argc--;
    if (argc < 2 || argc > 3 || (strcmp (argv[1], "drain") && strcmp (argv[1], "undrain"))
        || (move && strcmp (argv[1], "drain")))
        return ctl_fail ("usage: shedctl node drain [NODE] [--move] | undrain [NODE]");
    api_msg_t req = { .hdr.type = API_NODE_DRAIN_REQ };
    req.u.api_node_drain_req.drain = !strcmp (argv[1], "drain");
    if (argc == 3) {
        if (strlen (argv[2]) >= sizeof req.u.api_node_drain_req.node)
            return ctl_fail ("node names are at most 63 characters");
        snprintf (req.u.api_node_drain_req.node, sizeof req.u.api_node_drain_req.node, "%s",
                  argv[2]);
    }
    api_msg_t rep;
    if (ctl_call (ctl, &req, &rep, API_OK))
        return 1;
    if (ctl->json) {
        jw_t j;
        jw_init (&j, stdout);
        jw_obj_begin (&j);
        jw_key (&j, "message");
        jw_str (&j, rep.u.api_ok.message);
        jw_obj_end (&j);
        jw_end (&j);
    }
    else
        printf ("%s: %s\n", argv[1], rep.u.api_ok.message);
    wire_msg_free (&api_proto, &rep);
    return move ? ctl_drain_move (ctl, argc == 3 ? argv[2] : NULL) : 0;
}
