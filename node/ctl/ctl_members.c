/*
 * ctl_members.c - membership commands:
 *   shedctl members [--status alive|suspect|failed|left] [--tag K=V]...
 *   shedctl join HOST[:PORT]...
 *   shedctl leave
 *   shedctl force-leave NODE
 *   shedctl tags set K=V... | tags unset K...
 */
#include "node/ctl/ctl.h"
#include "common/ipaddr.h"

#include "cluster/gossip_msg.h"
#include "crypto/identity.h"

#include <stdio.h>
#include <string.h>

static const char *s_states[] = { "alive", "suspect", "failed", "left" };

static const char *
s_state_name (uint64_t kind)
{
    return kind < 4 ? s_states[kind] : "unknown";
}

static const char *
s_tag (const gossip_update_t *m, const char *key)
{
    for (size_t i = 0; i < m->tags.n; i++)
        if (strcmp (m->tags.items[i].key, key) == 0)
            return m->tags.items[i].value;
    return NULL;
}

/* Filters: every --tag must match; --status must match if given. */
static bool
s_selected (const gossip_update_t *m, const char *status, char **tags, size_t ntags)
{
    if (status && strcmp (s_state_name (m->kind), status) != 0)
        return false;
    for (size_t i = 0; i < ntags; i++) {
        const char *eq = strchr (tags[i], '=');
        char key[WIRE_TAG_KEY_MAX + 1];
        snprintf (key, sizeof key, "%.*s", (int) (eq - tags[i]), tags[i]);
        const char *v = s_tag (m, key);
        if (!v || strcmp (v, eq + 1) != 0)
            return false;
    }
    return true;
}

int
ctl_members (ctl_t *ctl, int argc, char **argv)
{
    const char *status = NULL;
    char *tags[32];
    size_t ntags = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp (argv[i], "--status") == 0 && i + 1 < argc) {
            status = argv[++i];
            bool known = false;
            for (size_t s = 0; s < 4; s++)
                known |= strcmp (status, s_states[s]) == 0;
            if (!known)
                return ctl_fail ("--status expects alive|suspect|failed|left, got '%s'", status);
        }
        else if (strcmp (argv[i], "--tag") == 0 && i + 1 < argc) {
            char *eq = strchr (argv[i + 1], '=');
            if (!eq || eq == argv[i + 1] || eq - argv[i + 1] > WIRE_TAG_KEY_MAX)
                return ctl_fail ("--tag expects KEY=VALUE, got '%s'", argv[i + 1]);
            if (ntags == 32)
                return ctl_fail ("too many --tag filters");
            tags[ntags++] = argv[++i];
        }
        else
            return ctl_fail ("usage: members [--status alive|suspect|failed|left] [--tag K=V]...");
    }
    api_msg_t req = { .hdr.type = API_MEMBERS_REQ }, rep;
    if (ctl_call (ctl, &req, &rep, API_MEMBERS_REP) != 0)
        return 1;
    gossip_msg_t g;
    const char *field = "";
    int rc = wire_decode (&gossip_proto, rep.u.api_members_rep.members.data,
                          rep.u.api_members_rep.members.len, &g, &field);
    wire_msg_free (&api_proto, &rep);
    if (rc != WIRE_OK || g.hdr.type != GOSSIP_MEMBERS) {
        if (rc == WIRE_OK)
            wire_msg_free (&gossip_proto, &g);
        return ctl_fail ("bad member list from the node: %s", wire_strerror (rc));
    }
    const gossip_members_t *ms = &g.u.gossip_members;
    if (ctl->json) {
        jw_t j;
        jw_init (&j, stdout);
        jw_arr_begin (&j);
        for (size_t i = 0; i < ms->members.n; i++) {
            const gossip_update_t *m = &ms->members.items[i];
            if (!s_selected (m, status, tags, ntags))
                continue;
            char key[SHED_KEY_TEXT_MAX] = "";
            if (m->key.len == 32)
                shed_key_to_text (m->key.data, key);
            jw_obj_begin (&j);
            /* clang-format off */
            jw_key (&j, "name");        jw_str (&j, m->name);
            jw_key (&j, "addr");        jw_str (&j, m->addr);
            jw_key (&j, "port");        jw_u64 (&j, m->port);
            jw_key (&j, "status");      jw_str (&j, s_state_name (m->kind));
            jw_key (&j, "incarnation"); jw_u64 (&j, m->inc);
            /* clang-format on */
            jw_key (&j, "tags");
            jw_tags (&j, &m->tags);
            jw_key (&j, "protocol");
            jw_obj_begin (&j);
            /* clang-format off */
            jw_key (&j, "min"); jw_u64 (&j, m->vmin);
            jw_key (&j, "max"); jw_u64 (&j, m->vmax);
            /* clang-format on */
            jw_obj_end (&j);
            jw_key (&j, "public_key");
            jw_str (&j, key);
            jw_obj_end (&j);
        }
        jw_arr_end (&j);
        jw_end (&j);
    }
    else {
        printf ("%-20s %-21s %-8s %6s %-6s %s\n", "NAME", "ADDRESS", "STATUS", "INC", "PROTO",
                "TAGS");
        for (size_t i = 0; i < ms->members.n; i++) {
            const gossip_update_t *m = &ms->members.items[i];
            if (!s_selected (m, status, tags, ntags))
                continue;
            char addr[64], proto[16];
            shed_hostport_join (addr, sizeof addr, m->addr, m->port); /* [v6]:port */
            snprintf (proto, sizeof proto, "%u-%u", (unsigned) m->vmin, (unsigned) m->vmax);
            printf ("%-20s %-21s %-8s %6llu %-6s ", m->name, addr, s_state_name (m->kind),
                    (unsigned long long) m->inc, proto);
            for (size_t t = 0; t < m->tags.n; t++)
                printf ("%s%s=%s", t ? "," : "", m->tags.items[t].key, m->tags.items[t].value);
            printf ("\n");
        }
    }
    wire_msg_free (&gossip_proto, &g);
    return 0;
}

/* For commands whose reply is API_OK: print its message unless --json. */
static int
s_simple (ctl_t *ctl, const api_msg_t *req)
{
    api_msg_t rep;
    if (ctl_call (ctl, req, &rep, API_OK) != 0)
        return 1;
    if (ctl->json)
        printf ("{\"ok\":true}\n");
    else if (rep.u.api_ok.message[0])
        printf ("%s\n", rep.u.api_ok.message);
    wire_msg_free (&api_proto, &rep);
    return 0;
}

#define S_JOIN_DEADLINE_MS 5000 /* membership's join_timeout_ms default */

int
ctl_join (ctl_t *ctl, int argc, char **argv)
{
    if (argc < 2)
        return ctl_fail ("usage: join HOST[:PORT]...");
    if (argc - 1 > API_SEEDS_MAX)
        return ctl_fail ("at most %d seeds", API_SEEDS_MAX);
    api_addr_t seeds[API_SEEDS_MAX];
    for (int i = 1; i < argc; i++) {
        if (strlen (argv[i]) > API_ADDR_MAX)
            return ctl_fail ("address too long: '%s'", argv[i]);
        snprintf (seeds[i - 1].addr, sizeof seeds[i - 1].addr, "%s", argv[i]);
    }
    api_msg_t req = { .hdr.type = API_JOIN_REQ };
    req.u.api_join_req.seeds.n = (size_t) argc - 1;
    req.u.api_join_req.seeds.items = seeds;
    /* The node answers a join by its join_timeout_ms (5 s by default) with
     * the seed and why it failed; waiting exactly that long would lose the
     * reason to our own timeout. */
    int saved = ctl->timeout_ms;
    int deadline = ctl->timeout_set && ctl->timeout_ms > S_JOIN_DEADLINE_MS ? ctl->timeout_ms
                                                                            : S_JOIN_DEADLINE_MS;
    ctl->timeout_ms = deadline + SHED_API_REPLY_MARGIN_MS;
    int rc = s_simple (ctl, &req);
    ctl->timeout_ms = saved;
    return rc;
}

int
ctl_leave (ctl_t *ctl, int argc, char **argv)
{
    if (argc > 1)
        return ctl_fail ("leave takes no arguments");
    api_msg_t req = { .hdr.type = API_LEAVE_REQ };
    return s_simple (ctl, &req);
}

/* A failed member, out of every node's list now rather than after
 * reap_dead_s; the node refuses an alive one. */
int
ctl_force_leave (ctl_t *ctl, int argc, char **argv)
{
    if (argc != 2)
        return ctl_fail ("usage: force-leave NODE");
    api_msg_t req = { .hdr.type = API_FORCE_LEAVE_REQ };
    snprintf (req.u.api_force_leave_req.name, sizeof req.u.api_force_leave_req.name, "%s", argv[1]);
    return s_simple (ctl, &req);
}

int
ctl_tags (ctl_t *ctl, int argc, char **argv)
{
    if (argc < 3 || (strcmp (argv[1], "set") && strcmp (argv[1], "unset")))
        return ctl_fail ("usage: tags set K=V... | tags unset K...");
    bool set = strcmp (argv[1], "set") == 0;
    for (int i = 2; i < argc; i++) {
        api_msg_t req = { .hdr.type = API_TAGS_REQ };
        api_tags_req_t *t = &req.u.api_tags_req;
        t->op = set ? API_TAG_SET : API_TAG_UNSET;
        const char *eq = set ? strchr (argv[i], '=') : NULL;
        if (set && (!eq || eq == argv[i]))
            return ctl_fail ("tags set expects KEY=VALUE, got '%s'", argv[i]);
        size_t klen = set ? (size_t) (eq - argv[i]) : strlen (argv[i]);
        if (klen == 0 || klen >= sizeof t->key || (set && strlen (eq + 1) >= sizeof t->value))
            return ctl_fail ("tag too long: '%s' (keys 63, values 255 bytes)", argv[i]);
        memcpy (t->key, argv[i], klen);
        if (set)
            strcpy (t->value, eq + 1);
        api_msg_t rep;
        if (ctl_call (ctl, &req, &rep, API_OK) != 0)
            return 1;
        wire_msg_free (&api_proto, &rep);
    }
    if (ctl->json)
        printf ("{\"ok\":true}\n");
    return 0;
}
