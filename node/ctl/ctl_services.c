/* ctl_services.c - `shedctl services`: the service catalog.
 *
 *   services [--all]                      served instances (--all: critical and
 *                                         unreachable ones too)
 *   services show NAME                    every instance of NAME, in detail
 *   services register NAME --port P [--id ID] [--address A] [--shed S]
 *            [--protocol tcp|udp] [--tag K[=V]]... [--health H]
 *            [--check-tcp HOST:PORT | --check-cmd CMD] [--interval 10s]
 *   services deregister NAME|ID
 *   services watch [NAME]                 print changes until Ctrl-C
 *
 * --json everywhere (watch prints one JSON object per change and line). */
#include "cluster/catalog.h"
#include "node/ctl/ctl.h"

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WATCH_WAIT_MS 30000 /* one blocking query; then ask again */

/* -------------------------------------------------------------------------
 * Output helpers
 */

static void
s_tags_text (const wire_tags_t *tags, char *out, size_t len)
{
    out[0] = '\0';
    size_t used = 0;
    for (size_t i = 0; i < tags->n && used < len; i++) {
        const wire_tag_t *t = &tags->items[i];
        int n = snprintf (out + used, len - used, "%s%s%s%s", i ? "," : "", t->key,
                          t->value[0] ? "=" : "", t->value);
        if (n < 0)
            break;
        used += (size_t) n;
    }
    if (!out[0])
        snprintf (out, len, "-");
}

static void
s_health_text (const api_svc_t *s, char *out, size_t len)
{
    snprintf (out, len, "%s%s", rec_health_name (s->health),
              strcmp (s->status, "unreachable") == 0 ? "/unreachable" : "");
}

static void
s_json_svc (jw_t *j, const api_svc_t *s)
{
    jw_obj_begin (j);
    /* clang-format off */
    jw_key (j, "name");     jw_str (j, s->name);
    jw_key (j, "id");       jw_str (j, s->id);
    jw_key (j, "node");     jw_str (j, s->node);
    jw_key (j, "shed");     jw_str (j, s->shed);
    jw_key (j, "address");  jw_str (j, s->address);
    jw_key (j, "port");     jw_u64 (j, s->port);
    jw_key (j, "protocol"); jw_str (j, s->protocol);
    /* clang-format on */
    jw_key (j, "tags");
    jw_tags (j, &s->tags);
    /* clang-format off */
    jw_key (j, "health");   jw_str (j, rec_health_name (s->health));
    jw_key (j, "check");    jw_str (j, catalog_check_name (s->check));
    jw_key (j, "check_target"); jw_str (j, s->check_target);
    jw_key (j, "interval_ms");  jw_u64 (j, s->interval_ms);
    jw_key (j, "output");   jw_str (j, s->output);
    jw_key (j, "updated_ms"); jw_u64 (j, s->updated_ms);
    jw_key (j, "status");   jw_str (j, s->status);
    jw_key (j, "serving");  jw_bool (j, s->serving);
    /* clang-format on */
    jw_obj_end (j);
}

static void
s_print_table (const api_svc_list_rep_t *r)
{
    printf ("%-20s %-20s %-16s %-24s %5s %-20s %s\n", "NAME", "ID", "NODE", "ADDRESS", "PORT",
            "HEALTH", "TAGS");
    for (size_t i = 0; i < r->services.n; i++) {
        const api_svc_t *s = &r->services.items[i];
        char tags[512], health[48];
        s_tags_text (&s->tags, tags, sizeof tags);
        s_health_text (s, health, sizeof health);
        printf ("%-20s %-20s %-16s %-24s %5llu %-20s %s\n", s->name, s->id, s->node, s->address,
                (unsigned long long) s->port, health, tags);
    }
}

static void
s_print_json_list (const api_svc_list_rep_t *r)
{
    jw_t j;
    jw_init (&j, stdout);
    jw_arr_begin (&j);
    for (size_t i = 0; i < r->services.n; i++)
        s_json_svc (&j, &r->services.items[i]);
    jw_arr_end (&j);
    jw_end (&j);
}

/* -------------------------------------------------------------------------
 * Argument helpers
 */

/* "--opt VALUE" or "--opt=VALUE" at argv[*i]; advances *i. NULL if argv[*i]
 * is not `opt`; sets *missing if the value is absent. */
static const char *
s_opt (int argc, char **argv, int *i, const char *opt, bool *missing)
{
    size_t len = strlen (opt);
    if (strncmp (argv[*i], opt, len) != 0)
        return NULL;
    if (argv[*i][len] == '=')
        return argv[*i] + len + 1;
    if (argv[*i][len] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        *missing = true;
        return NULL;
    }
    (*i)++;
    return argv[*i];
}

static int
s_copy (char *dst, size_t size, const char *value, const char *what)
{
    if (strlen (value) >= size)
        return ctl_fail ("%s too long (at most %zu bytes): '%s'", what, size - 1, value);
    strcpy (dst, value);
    return 0;
}

/* -------------------------------------------------------------------------
 * Commands
 */

static int
s_list (ctl_t *ctl, int argc, char **argv)
{
    api_msg_t req = { .hdr.type = API_SVC_LIST_REQ }, rep;
    for (int i = 1; i < argc; i++) {
        if (strcmp (argv[i], "--all") == 0)
            req.u.api_svc_list_req.all = true;
        else
            return ctl_fail ("services: unknown argument '%s' (usage: services [--all])", argv[i]);
    }
    if (ctl_call (ctl, &req, &rep, API_SVC_LIST_REP) != 0)
        return 1;
    if (ctl->json)
        s_print_json_list (&rep.u.api_svc_list_rep);
    else
        s_print_table (&rep.u.api_svc_list_rep);
    wire_msg_free (&api_proto, &rep);
    return 0;
}

static int
s_show (ctl_t *ctl, int argc, char **argv)
{
    if (argc != 3)
        return ctl_fail ("usage: services show NAME");
    api_msg_t req = { .hdr.type = API_SVC_SHOW_REQ }, rep;
    if (s_copy (req.u.api_svc_show_req.name, sizeof req.u.api_svc_show_req.name, argv[2],
                "service name"))
        return 1;
    if (ctl_call (ctl, &req, &rep, API_SVC_LIST_REP) != 0)
        return 1;
    const api_svc_list_rep_t *r = &rep.u.api_svc_list_rep;
    if (ctl->json)
        s_print_json_list (r);
    else {
        uint64_t now = (uint64_t) zclock_time ();
        for (size_t i = 0; i < r->services.n; i++) {
            const api_svc_t *s = &r->services.items[i];
            char tags[512], ago[32] = "-";
            s_tags_text (&s->tags, tags, sizeof tags);
            if (s->updated_ms && now >= s->updated_ms)
                ctl_format_duration (now - s->updated_ms, ago, sizeof ago);
            printf ("%s%s (id %s) on %s\n", i ? "\n" : "", s->name, s->id, s->node);
            printf ("  address   %s:%llu/%s\n", s->address, (unsigned long long) s->port,
                    s->protocol[0] ? s->protocol : "tcp");
            printf ("  shed      %s\n", s->shed[0] ? s->shed : "-");
            printf ("  health    %s%s, changed %s ago\n", rec_health_name (s->health),
                    s->serving ? "" : " (not served)", ago);
            if (s->output[0])
                printf ("  output    %s\n", s->output);
            if (s->check == REC_CHECK_NONE)
                printf ("  check     none (health set by the registrant)\n");
            else {
                char every[32];
                ctl_format_duration (s->interval_ms, every, sizeof every);
                printf ("  check     %s %s, every %s\n", catalog_check_name (s->check),
                        s->check_target, every);
            }
            printf ("  tags      %s\n", tags);
            printf ("  node      %s\n", s->status);
        }
    }
    wire_msg_free (&api_proto, &rep);
    return 0;
}

static int
s_register (ctl_t *ctl, int argc, char **argv)
{
    static const char usage[] =
        "usage: services register NAME --port P [--id ID] [--address A] [--shed S] "
        "[--protocol tcp|udp] [--tag K[=V]]... [--health H] "
        "[--check-tcp HOST:PORT | --check-cmd CMD] [--interval 10s]";
    if (argc < 3 || argv[2][0] == '-')
        return ctl_fail ("%s", usage);
    api_msg_t req = { .hdr.type = API_SVC_REGISTER_REQ }, rep;
    api_svc_register_req_t *r = &req.u.api_svc_register_req;
    if (s_copy (r->name, sizeof r->name, argv[2], "service name"))
        return 1;
    wire_tag_t tags[REC_TAGS_MAX];
    bool have_port = false, have_interval = false;
    for (int i = 3; i < argc; i++) {
        bool missing = false;
        const char *v;
        if ((v = s_opt (argc, argv, &i, "--port", &missing))) {
            char *end;
            unsigned long p = strtoul (v, &end, 10);
            if (*end || !*v || p == 0 || p > 65535)
                return ctl_fail ("--port expects 1-65535, got '%s'", v);
            r->port = p;
            have_port = true;
        }
        else if ((v = s_opt (argc, argv, &i, "--id", &missing))) {
            if (s_copy (r->id, sizeof r->id, v, "--id"))
                return 1;
        }
        else if ((v = s_opt (argc, argv, &i, "--address", &missing))) {
            if (s_copy (r->address, sizeof r->address, v, "--address"))
                return 1;
        }
        else if ((v = s_opt (argc, argv, &i, "--shed", &missing))) {
            if (s_copy (r->shed, sizeof r->shed, v, "--shed"))
                return 1;
        }
        else if ((v = s_opt (argc, argv, &i, "--protocol", &missing))) {
            if (strcmp (v, "tcp") && strcmp (v, "udp"))
                return ctl_fail ("--protocol expects tcp or udp, got '%s'", v);
            strcpy (r->protocol, v);
        }
        else if ((v = s_opt (argc, argv, &i, "--health", &missing))) {
            int h = rec_health_parse (v);
            if (h < 0)
                return ctl_fail ("--health expects passing, warning or critical, got '%s'", v);
            r->health = (uint64_t) h;
        }
        else if ((v = s_opt (argc, argv, &i, "--tag", &missing))) {
            if (r->tags.n >= REC_TAGS_MAX)
                return ctl_fail ("at most %d tags", REC_TAGS_MAX);
            wire_tag_t *t = &tags[r->tags.n];
            memset (t, 0, sizeof *t);
            const char *eq = strchr (v, '=');
            size_t klen = eq ? (size_t) (eq - v) : strlen (v);
            if (klen == 0 || klen >= sizeof t->key || (eq && strlen (eq + 1) >= sizeof t->value))
                return ctl_fail ("--tag expects KEY[=VALUE] (key 1-63, value <= 255 bytes), "
                                 "got '%s'",
                                 v);
            memcpy (t->key, v, klen);
            if (eq)
                strcpy (t->value, eq + 1);
            r->tags.items = tags;
            r->tags.n++;
        }
        else if ((v = s_opt (argc, argv, &i, "--check-tcp", &missing))) {
            if (r->check != REC_CHECK_NONE)
                return ctl_fail ("give one check: --check-tcp or --check-cmd");
            r->check = REC_CHECK_TCP;
            if (s_copy (r->check_target, sizeof r->check_target, v, "--check-tcp"))
                return 1;
        }
        else if ((v = s_opt (argc, argv, &i, "--check-cmd", &missing))) {
            if (r->check != REC_CHECK_NONE)
                return ctl_fail ("give one check: --check-tcp or --check-cmd");
            r->check = REC_CHECK_CMD;
            if (s_copy (r->check_target, sizeof r->check_target, v, "--check-cmd"))
                return 1;
        }
        else if ((v = s_opt (argc, argv, &i, "--interval", &missing))) {
            uint64_t ms;
            if (ctl_duration_arg ("--interval", v, 1000, CATALOG_INTERVAL_MIN, CATALOG_INTERVAL_MAX,
                                  &ms))
                return 1;
            r->interval_ms = ms;
            have_interval = true;
        }
        else if (missing)
            return ctl_fail ("%s needs a value", argv[i]);
        else
            return ctl_fail ("unknown argument '%s' (%s)", argv[i], usage);
        if (missing)
            return ctl_fail ("%s needs a value", argv[i]);
    }
    if (!have_port)
        return ctl_fail ("--port is required");
    if (have_interval && r->check == REC_CHECK_NONE)
        return ctl_fail ("--interval needs a check (--check-tcp or --check-cmd)");
    if (ctl_call (ctl, &req, &rep, API_SVC_LIST_REP) != 0)
        return 1;
    const api_svc_list_rep_t *lr = &rep.u.api_svc_list_rep;
    if (ctl->json)
        s_print_json_list (lr);
    else if (lr->services.n == 1) {
        const api_svc_t *s = &lr->services.items[0];
        printf ("registered %s (id %s) on %s at %s:%llu, health %s\n", s->name, s->id, s->node,
                s->address, (unsigned long long) s->port, rec_health_name (s->health));
    }
    wire_msg_free (&api_proto, &rep);
    return 0;
}

static int
s_deregister (ctl_t *ctl, int argc, char **argv)
{
    if (argc != 3)
        return ctl_fail ("usage: services deregister NAME|ID");
    api_msg_t req = { .hdr.type = API_SVC_DEREGISTER_REQ }, rep;
    if (s_copy (req.u.api_svc_deregister_req.service, sizeof req.u.api_svc_deregister_req.service,
                argv[2], "service name or id"))
        return 1;
    if (ctl_call (ctl, &req, &rep, API_OK) != 0)
        return 1;
    ctl_print_ok (ctl, NULL, NULL, rep.u.api_ok.message);
    wire_msg_free (&api_proto, &rep);
    return 0;
}

/* ---- watch ------------------------------------------------------------------ */

static const api_svc_t *
s_find (const api_svc_list_rep_t *r, const api_svc_t *s)
{
    for (size_t i = 0; r && i < r->services.n; i++) {
        const api_svc_t *x = &r->services.items[i];
        if (!strcmp (x->node, s->node) && !strcmp (x->name, s->name) && !strcmp (x->id, s->id))
            return x;
    }
    return NULL;
}

static bool
s_same (const api_svc_t *a, const api_svc_t *b)
{
    if (a->port != b->port || a->health != b->health || a->serving != b->serving
        || a->check != b->check || a->interval_ms != b->interval_ms || a->tags.n != b->tags.n
        || strcmp (a->address, b->address) || strcmp (a->status, b->status)
        || strcmp (a->shed, b->shed) || strcmp (a->protocol, b->protocol)
        || strcmp (a->check_target, b->check_target))
        return false;
    for (size_t i = 0; i < a->tags.n; i++)
        if (strcmp (a->tags.items[i].key, b->tags.items[i].key)
            || strcmp (a->tags.items[i].value, b->tags.items[i].value))
            return false;
    return true;
}

static void
s_print_change (ctl_t *ctl, const char *event, uint64_t index, const api_svc_t *s,
                const api_svc_t *before)
{
    if (ctl->json) {
        jw_t j;
        jw_init (&j, stdout);
        jw_obj_begin (&j);
        /* clang-format off */
        jw_key (&j, "event");   jw_str (&j, event);
        jw_key (&j, "index");   jw_u64 (&j, index);
        jw_key (&j, "service"); s_json_svc (&j, s);
        /* clang-format on */
        jw_obj_end (&j);
        jw_end (&j);
    }
    else {
        char tags[512], health[48], was[48] = "";
        s_tags_text (&s->tags, tags, sizeof tags);
        s_health_text (s, health, sizeof health);
        if (before && (before->health != s->health || strcmp (before->status, s->status))) {
            char b[40];
            s_health_text (before, b, sizeof b);
            snprintf (was, sizeof was, " (was %s)", b);
        }
        printf ("%s %s %s %s %s:%llu %s%s %s\n", event, s->name, s->id, s->node, s->address,
                (unsigned long long) s->port, health, was, tags);
    }
    fflush (stdout);
}

static int
s_watch (ctl_t *ctl, int argc, char **argv)
{
    if (argc > 3)
        return ctl_fail ("usage: services watch [NAME]");
    api_msg_t req = { .hdr.type = API_SVC_WATCH_REQ };
    api_svc_watch_req_t *w = &req.u.api_svc_watch_req;
    if (argc == 3 && s_copy (w->name, sizeof w->name, argv[2], "service name"))
        return 1;
    w->wait_ms = WATCH_WAIT_MS;
    /* The REQ must outlive the node's wait. */
    ctl_t c = *ctl;
    c.timeout_ms = WATCH_WAIT_MS + ctl->timeout_ms;
    api_msg_t prev = { 0 };
    bool have_prev = false;
    int rc = 0;
    while (!zsys_interrupted) {
        api_msg_t rep;
        char err[512];
        if (shed_api_call (c.endpoint, &req, &rep, c.timeout_ms, err, sizeof err) != 0) {
            if (!zsys_interrupted)
                rc = ctl_fail ("%s", err);
            break;
        }
        if (rep.hdr.type == API_ERROR) {
            rc = ctl_fail ("%s", rep.u.api_error.message);
            wire_msg_free (&api_proto, &rep);
            break;
        }
        if (rep.hdr.type != API_SVC_LIST_REP) {
            rc = ctl_fail ("unexpected reply type %u from the node", rep.hdr.type);
            wire_msg_free (&api_proto, &rep);
            break;
        }
        const api_svc_list_rep_t *now = &rep.u.api_svc_list_rep;
        const api_svc_list_rep_t *before = have_prev ? &prev.u.api_svc_list_rep : NULL;
        /* A reply at the same index is a timeout: nothing changed. */
        if (!before || now->index != before->index) {
            for (size_t i = 0; i < now->services.n; i++) {
                const api_svc_t *s = &now->services.items[i];
                const api_svc_t *old = s_find (before, s);
                if (!old)
                    s_print_change (ctl, ctl->json ? "added" : "+", now->index, s, NULL);
                else if (!s_same (old, s))
                    s_print_change (ctl, ctl->json ? "changed" : "~", now->index, s, old);
            }
            for (size_t i = 0; before && i < before->services.n; i++)
                if (!s_find (now, &before->services.items[i]))
                    s_print_change (ctl, ctl->json ? "removed" : "-", now->index,
                                    &before->services.items[i], NULL);
        }
        w->index = now->index;
        if (have_prev)
            wire_msg_free (&api_proto, &prev);
        prev = rep;
        have_prev = true;
    }
    if (have_prev)
        wire_msg_free (&api_proto, &prev);
    return rc;
}

int
ctl_services (ctl_t *ctl, int argc, char **argv)
{
    if (argc >= 2 && argv[1][0] != '-') {
        if (!strcmp (argv[1], "show"))
            return s_show (ctl, argc, argv);
        if (!strcmp (argv[1], "register"))
            return s_register (ctl, argc, argv);
        if (!strcmp (argv[1], "deregister"))
            return s_deregister (ctl, argc, argv);
        if (!strcmp (argv[1], "watch"))
            return s_watch (ctl, argc, argv);
        if (!strcmp (argv[1], "list"))
            return s_list (ctl, argc - 1, argv + 1);
        return ctl_fail ("services: unknown subcommand '%s' (list, show, register, deregister, "
                         "watch)",
                         argv[1]);
    }
    return s_list (ctl, argc, argv);
}
