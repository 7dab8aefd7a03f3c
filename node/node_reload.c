/* node_reload.c - see node_reload.h. */
#include "node/node_reload.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* Add `key` to the comma-separated list once. */
static void
s_add (char *out, size_t outlen, const char *key)
{
    size_t len = strlen (out), klen = strlen (key);
    for (const char *p = out; *p; p += strcspn (p, ",") + (p[strcspn (p, ",")] == ',')) {
        if (strncmp (p, key, klen) == 0 && (p[klen] == ',' || p[klen] == '\0'))
            return;
    }
    snprintf (out + len, outlen - len, "%s%s", len ? "," : "", key);
}

bool
shed_reload_diff (const shed_config_t *old, const shed_config_t *new, char *live, size_t livelen,
                  char *fixed, size_t fixedlen)
{
    live[0] = fixed[0] = '\0';
    /* Both come from shed_config_defaults (memset first), so padding is
     * zero and whole sections compare with memcmp. */
#define S_DIFF(field) (memcmp (&old->field, &new->field, sizeof old->field) != 0)
    if (old->log_level != new->log_level)
        s_add (live, livelen, "log_level");
    if (old->ntags != new->ntags || S_DIFF (tags))
        s_add (live, livelen, "tags");
    if (old->nhooks != new->nhooks || S_DIFF (hooks) || S_DIFF (hooks_concurrency)
        || S_DIFF (hooks_queue) || S_DIFF (hooks_timeout_ms))
        s_add (live, livelen, "hooks");
    /* The consumers' key file is read again at every SIGHUP (node.c), so
     * a changed path is just another file to read. */
    if (strcmp (old->events.consumer_keys, new->events.consumer_keys) != 0)
        s_add (live, livelen, "events.consumer_keys");
    if (S_DIFF (agents))
        s_add (live, livelen, "agents");
    static const struct {
        const char *key;
        size_t offset, size;
    } s_fixed[] = {
#define S_ROW(key, field)                                                                          \
    { key, offsetof (shed_config_t, field), sizeof ((shed_config_t *) 0)->field }
        S_ROW ("name", name),
        S_ROW ("bind", bind_addr),
        S_ROW ("bind", bind_port),
        S_ROW ("advertise", advertise_addr),
        S_ROW ("data_dir", data_dir),
        S_ROW ("api", api_endpoint),
        S_ROW ("discover", discover),
        S_ROW ("gossip.profile", profile),
        S_ROW ("leave_on_terminate", leave_on_terminate),
        S_ROW ("gossip", gossip),
        S_ROW ("dns", dns),
        S_ROW ("network", network),
        S_ROW ("resources", resources),
        S_ROW ("scheduler", scheduler),
        S_ROW ("driver", driver),
        S_ROW ("metrics", metrics),
        S_ROW ("events.consumer_listen", events.consumer_listen),
        S_ROW ("http", http),
        S_ROW ("state", state),
        S_ROW ("snapshots", snapshots),
#undef S_ROW
    };
    for (size_t i = 0; i < sizeof s_fixed / sizeof s_fixed[0]; i++) {
        const char *a = (const char *) old + s_fixed[i].offset;
        const char *b = (const char *) new + s_fixed[i].offset;
        if (memcmp (a, b, s_fixed[i].size) != 0)
            s_add (fixed, fixedlen, s_fixed[i].key);
    }
    /* join is only read at start: a changed list is no reason to warn. */
#undef S_DIFF
    return live[0] || fixed[0];
}
