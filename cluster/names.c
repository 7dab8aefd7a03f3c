/* names.c - see names.h. */
#include "cluster/names.h"

#include <stdio.h>
#include <string.h>

bool
names_valid (const char *name, char *why, size_t why_size)
{
    const char *reason = NULL;
    size_t len = name ? strlen (name) : 0;
    if (len == 0)
        reason = "name is empty";
    else if (len > NAMES_MAX)
        reason = "name is longer than 63 characters";
    else if (!(name[0] >= 'a' && name[0] <= 'z'))
        reason = "name must start with a lowercase letter";
    else if (name[len - 1] == '-')
        reason = "name must not end with '-'";
    else
        for (size_t i = 0; i < len; i++) {
            char c = name[i];
            if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
                reason = "name may hold only a-z, 0-9 and '-'";
                break;
            }
        }
    if (reason && why && why_size)
        snprintf (why, why_size, "invalid shed name '%.63s': %s", name ? name : "", reason);
    return reason == NULL;
}

/* FNV-1a over name, a 0 byte, member; then splitmix64's finaliser so the
 * weights of nearby members are independent. Fixed constants: every node
 * of every version must agree. */
uint64_t
names_weight (const char *name, const char *member)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (const unsigned char *p = (const unsigned char *) name; *p; p++)
        h = (h ^ *p) * 0x100000001b3ull;
    h = (h ^ 0) * 0x100000001b3ull;
    for (const unsigned char *p = (const unsigned char *) member; *p; p++)
        h = (h ^ *p) * 0x100000001b3ull;
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 31;
    return h;
}

int
names_coordinator (const char *name, const char *const *members, size_t n)
{
    return names_coordinator_skip (name, members, NULL, n);
}

int
names_coordinator_skip (const char *name, const char *const *members, const bool *skip, size_t n)
{
    int best = -1;
    uint64_t best_w = 0;
    for (size_t i = 0; i < n; i++) {
        if (skip && skip[i])
            continue;
        uint64_t w = names_weight (name, members[i]);
        if (best < 0 || w > best_w || (w == best_w && strcmp (members[i], members[best]) < 0)) {
            best = (int) i;
            best_w = w;
        }
    }
    return best;
}

names_verdict_t
names_decide (const names_shed_t *sheds, size_t nsheds, const names_resv_t *resv, size_t nresv,
              const char *name, const char *request_id, const char *origin, uint64_t now_ms,
              const char **node, char *why, size_t why_size)
{
    const char *dummy;
    if (!node)
        node = &dummy;
    *node = NULL;
    /* Sheds first: a shed that exists is a fact; a reservation only an
     * intention. A same-id shed means the create already happened. */
    const names_shed_t *other = NULL;
    for (size_t i = 0; i < nsheds; i++) {
        if (strcmp (sheds[i].name, name) != 0)
            continue;
        if (strcmp (sheds[i].request_id, request_id) == 0) {
            *node = sheds[i].node;
            return NAMES_DONE;
        }
        if (!other || names_wins (&sheds[i], other))
            other = &sheds[i];
    }
    if (other) {
        *node = other->node;
        if (why && why_size)
            snprintf (why, why_size, "shed %s already exists (on %s)", name, other->node);
        return NAMES_TAKEN;
    }
    for (size_t i = 0; i < nresv; i++) {
        const names_resv_t *r = &resv[i];
        if (strcmp (r->name, name) != 0 || r->expires_ms <= now_ms)
            continue;
        if (strcmp (r->request_id, request_id) == 0) {
            if (strcmp (r->holder, origin) == 0)
                continue; /* the same create asking again: grant again */
            *node = r->holder;
            if (why && why_size)
                snprintf (why, why_size, "a create of %s with request id %s is in progress on %s",
                          name, request_id, r->holder);
            return NAMES_BUSY;
        }
        *node = r->holder;
        if (why && why_size)
            snprintf (why, why_size, "shed %s is being created (by %s)", name, r->holder);
        return NAMES_TAKEN;
    }
    return NAMES_GRANT;
}

bool
names_wins (const names_shed_t *a, const names_shed_t *b)
{
    if (a->moves != b->moves)
        return a->moves > b->moves;
    if (a->created_ms != b->created_ms)
        return a->created_ms < b->created_ms;
    int c = strcmp (a->node, b->node);
    if (c != 0)
        return c < 0;
    return strcmp (a->request_id, b->request_id) < 0;
}

size_t
names_resolve (names_shed_t *sheds, size_t n)
{
    size_t flagged = 0;
    for (size_t i = 0; i < n; i++) {
        sheds[i].duplicate = false;
        for (size_t j = 0; j < n; j++)
            if (j != i && strcmp (sheds[i].name, sheds[j].name) == 0
                && names_wins (&sheds[j], &sheds[i])) {
                sheds[i].duplicate = true;
                flagged++;
                break;
            }
    }
    return flagged;
}
