/*
 * ctl_tokens.c - bearer tokens of the remote HTTP API (docs/api.md):
 *   shedctl token create --role read|operator [--name N] [--ttl DURATION]
 *   shedctl token list
 *   shedctl token revoke ID
 * Only over the local API: whoever may use the node's socket may mint
 * tokens; a token never manages tokens. The node prints a token once, at
 * create; it keeps only its hash. Tokens are cluster-wide: one minted here
 * works on every node, a revoke here refuses it everywhere
 * (docs/security.md, "Remote API tokens").
 */
#include "node/ctl/ctl.h"

#include "common/duration.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static int
s_usage (void)
{
    return ctl_fail ("usage: token create --role read|operator [--name N] [--ttl DURATION] | "
                     "token list | token revoke ID");
}

static void
s_time (uint64_t ms, char *out, size_t size)
{
    if (!ms) {
        snprintf (out, size, "-");
        return;
    }
    time_t t = (time_t) (ms / 1000);
    struct tm tm;
    gmtime_r (&t, &tm);
    strftime (out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int
s_create (ctl_t *ctl, int argc, char **argv)
{
    api_msg_t req = { .hdr.type = API_TOKEN_CREATE_REQ }, rep;
    api_token_create_req_t *r = &req.u.api_token_create_req;
    for (int i = 2; i < argc; i++) {
        bool role = strcmp (argv[i], "--role") == 0, name = strcmp (argv[i], "--name") == 0;
        if (strcmp (argv[i], "--ttl") == 0 && i + 1 < argc) {
            /* At least a second; "30d", "12h", "90m" (common/duration.h). */
            char why[160];
            if (shed_duration_parse_range (argv[++i], 0, 1000, UINT64_MAX / 2, &r->ttl_ms, why,
                                           sizeof why)
                != 0)
                return ctl_fail ("--ttl: %s", why);
            continue;
        }
        if ((!role && !name) || i + 1 >= argc)
            return s_usage ();
        char *dst = role ? r->role : r->name;
        size_t cap = role ? sizeof r->role : sizeof r->name;
        if (strlen (argv[++i]) >= cap)
            return ctl_fail ("%s '%.40s...' is longer than %zu characters", argv[i - 1], argv[i],
                             cap - 1);
        strcpy (dst, argv[i]);
    }
    if (!r->role[0])
        return ctl_fail ("token create: --role read|operator is required");
    if (ctl_call (ctl, &req, &rep, API_TOKEN_REP) != 0)
        return 1;
    const api_token_rep_t *t = &rep.u.api_token_rep;
    const char *id = t->tokens.n ? t->tokens.items[0].id : "";
    uint64_t expires = t->tokens.n ? t->tokens.items[0].expires_ms : 0;
    char until[32];
    s_time (expires, until, sizeof until);
    if (ctl->json) {
        jw_t j;
        jw_init (&j, stdout);
        jw_obj_begin (&j);
        /* clang-format off */
        jw_key (&j, "id");    jw_str (&j, id);
        jw_key (&j, "role");  jw_str (&j, r->role);
        jw_key (&j, "name");  jw_str (&j, r->name);
        jw_key (&j, "token"); jw_str (&j, t->token);
        jw_key (&j, "expires_ms"); jw_u64 (&j, expires);
        /* clang-format on */
        jw_obj_end (&j);
        jw_end (&j);
    }
    else {
        /* The token alone on stdout, so TOKEN=$(shedctl token create ...)
         * works; the rest for the person on stderr. */
        printf ("%s\n", t->token);
        fprintf (stderr,
                 "token %s (role %s, expires %s) created; valid on every node of the cluster; "
                 "it is shown only now: keep it secret, revoke it with 'shedctl token revoke "
                 "%s'\n",
                 id, r->role, expires ? until : "never", id);
    }
    wire_msg_free (&api_proto, &rep);
    return 0;
}

static int
s_list (ctl_t *ctl)
{
    api_msg_t req = { .hdr.type = API_TOKEN_LIST_REQ }, rep;
    if (ctl_call (ctl, &req, &rep, API_TOKEN_REP) != 0)
        return 1;
    const api_token_rep_t *t = &rep.u.api_token_rep;
    if (ctl->json) {
        jw_t j;
        jw_init (&j, stdout);
        jw_arr_begin (&j);
        for (size_t i = 0; i < t->tokens.n; i++) {
            const api_token_t *k = &t->tokens.items[i];
            jw_obj_begin (&j);
            /* clang-format off */
            jw_key (&j, "id");           jw_str (&j, k->id);
            jw_key (&j, "role");         jw_str (&j, k->role);
            jw_key (&j, "name");         jw_str (&j, k->name);
            jw_key (&j, "created_ms");   jw_u64 (&j, k->created_ms);
            jw_key (&j, "last_used_ms"); jw_u64 (&j, k->last_used_ms);
            jw_key (&j, "uses");         jw_u64 (&j, k->uses);
            jw_key (&j, "expires_ms");   jw_u64 (&j, k->expires_ms);
            jw_key (&j, "origin");       jw_str (&j, k->origin);
            /* clang-format on */
            jw_obj_end (&j);
        }
        jw_arr_end (&j);
        jw_end (&j);
    }
    else {
        /* LAST USED and USES: requests this node served with the token. */
        printf ("%-8s  %-8s  %-20s  %-16s  %-20s  %-30s  %-20s  %s\n", "ID", "ROLE", "NAME",
                "ORIGIN", "CREATED", "EXPIRES", "LAST USED", "USES");
        uint64_t now = (uint64_t) time (NULL) * 1000;
        for (size_t i = 0; i < t->tokens.n; i++) {
            const api_token_t *k = &t->tokens.items[i];
            char created[32], used[32], expires[40];
            s_time (k->created_ms, created, sizeof created);
            s_time (k->last_used_ms, used, sizeof used);
            if (!k->expires_ms)
                snprintf (expires, sizeof expires, "never");
            else {
                s_time (k->expires_ms, expires, sizeof expires);
                if (k->expires_ms <= now)
                    strcat (expires, " (expired)"); /* refused: 401 */
            }
            printf ("%-8s  %-8s  %-20s  %-16s  %-20s  %-30s  %-20s  %llu\n", k->id, k->role,
                    k->name[0] ? k->name : "-", k->origin[0] ? k->origin : "-", created, expires,
                    used, (unsigned long long) k->uses);
        }
    }
    wire_msg_free (&api_proto, &rep);
    return 0;
}

static int
s_revoke (ctl_t *ctl, const char *id)
{
    api_msg_t req = { .hdr.type = API_TOKEN_REVOKE_REQ }, rep;
    if (strlen (id) >= sizeof req.u.api_token_revoke_req.id)
        return ctl_fail ("no token with id '%.16s' (shedctl token list)", id);
    strcpy (req.u.api_token_revoke_req.id, id);
    if (ctl_call (ctl, &req, &rep, API_OK) != 0)
        return 1;
    ctl_print_ok (ctl, "id", id, rep.u.api_ok.message);
    wire_msg_free (&api_proto, &rep);
    return 0;
}

int
ctl_token (ctl_t *ctl, int argc, char **argv)
{
    if (argc >= 2 && strcmp (argv[1], "create") == 0)
        return s_create (ctl, argc, argv);
    if (argc == 2 && strcmp (argv[1], "list") == 0)
        return s_list (ctl);
    if (argc == 3 && strcmp (argv[1], "revoke") == 0)
        return s_revoke (ctl, argv[2]);
    return s_usage ();
}
