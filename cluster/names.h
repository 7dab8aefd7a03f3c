/*
 * names.h - cluster-wide unique shed names, the pure logic (no I/O, no
 * clock: callers pass the time).
 *
 * There is no consensus service, so each name gets ONE node that decides
 * about it: its COORDINATOR, chosen by rendezvous (highest random weight)
 * hashing of the name over the alive members,
 *     coordinator(name) = argmax_m H(name, m)
 * Every node computes the same coordinator from the same member list, and
 * when a member joins or leaves only the names it wins or held move.
 *
 * A create first RESERVEs (name, request_id) at the coordinator, which
 * serialises all creates of that name in its one thread and decides with
 * names_decide() over what it sees in the replicated state:
 *   - a live or unreachable `shed` record of that name with another
 *     request id: TAKEN ("web exists on node2");
 *   - a `name` reservation record (of ANY origin: a coordinator that took
 *     over after a failure sees the old one's reservations), not expired,
 *     with another request id: TAKEN ("web is being created by node3");
 *   - the same request id with a shed record: DONE (a retried create whose
 *     first attempt succeeded: answer with that shed, create nothing);
 *   - the same request id reserved by another origin: BUSY (the first
 *     attempt is still running elsewhere);
 *   - otherwise GRANT: the coordinator writes a `name` record (its own,
 *     replicated) with an expiry; it deletes it as soon as the shed record
 *     with that request id appears, or when the create fails (RELEASE), or
 *     lets it expire.
 *
 * What this cannot prevent (no consensus): members that disagree about who
 * is alive (a partition, or views not yet converged) may pick different
 * coordinators and both grant. Such duplicates are found afterwards from
 * the replicated shed records and resolved by every node alike with
 * names_resolve(): the shed with the earliest created_ms keeps the name,
 * then the smaller node name, then the smaller request id; the others are
 * flagged DUPLICATE (shown as such, never deleted or renamed silently).
 */
#ifndef SHED_NAMES_H
#define SHED_NAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NAMES_MAX    63    /* Shed's rule: at most 63 bytes */
#define NAMES_TTL_MS 60000 /* default reservation lifetime */

/* Shed's name rule: ^[a-z][a-z0-9-]*[a-z0-9]$|^[a-z]$, at most 63 bytes.
 * false with a one-line reason in why (may be NULL). */
bool names_valid (const char *name, char *why, size_t why_size);

/* Rendezvous weight of (name, member): a 64-bit hash, stable across
 * nodes, versions and platforms. */
uint64_t names_weight (const char *name, const char *member);

/* Index of the coordinator of `name` among `members` (n >= 1), or -1 when
 * n == 0. Ties (never in practice) go to the smaller member name. */
int names_coordinator (const char *name, const char *const *members, size_t n);

/* Failover (docs/scheduling.md, "Coordinator failover"): the coordinator
 * among the members not in `skip` (skip[i] true: membership suspects it, or
 * it did not answer this create). Because rendezvous weights do not depend
 * on the other members, this is exactly the coordinator that nodes which
 * already removed the skipped members compute, so a suspicion moves a name
 * to the node it would move to if the member failed. Returns the index, or
 * -1 when every member is skipped (or n == 0). skip may be NULL. */
int names_coordinator_skip (const char *name, const char *const *members, const bool *skip,
                            size_t n);

/* A shed that holds a name, as the replicated state shows it. */
typedef struct {
    const char *name;
    const char *node; /* owning node (record origin) */
    const char *request_id;
    uint64_t created_ms;
    bool duplicate; /* out: names_resolve */
    uint64_t moves; /* REC_SHED moves: a moved copy supersedes its source */
} names_shed_t;

/* A reservation (a coordinator's `name` record). */
typedef struct {
    const char *name;
    const char *holder; /* node running the create */
    const char *request_id;
    uint64_t expires_ms; /* wall clock */
} names_resv_t;

typedef enum {
    NAMES_GRANT = 0, /* reserve it now */
    NAMES_DONE = 1,  /* same request already created it: *node */
    NAMES_BUSY = 2,  /* same request in progress elsewhere: *node */
    NAMES_TAKEN = 3, /* someone else holds it: why */
} names_verdict_t;

/* Decide a RESERVE (see above). `node` (may be NULL) gets the node of the
 * shed (DONE, TAKEN by a shed) or of the holder (BUSY, TAKEN by a
 * reservation); `why` a one-line reason for TAKEN and BUSY. */
names_verdict_t names_decide (const names_shed_t *sheds, size_t nsheds, const names_resv_t *resv,
                              size_t nresv, const char *name, const char *request_id,
                              const char *origin, uint64_t now_ms, const char **node, char *why,
                              size_t why_size);

/* Does shed a keep the name against b? (most moves: a moved shed against
 * the copy it left; then earliest created_ms, then node name, then request
 * id) */
bool names_wins (const names_shed_t *a, const names_shed_t *b);

/* Flag duplicates in place: for every name held by more than one shed,
 * every shed but the winner gets duplicate = true (others false).
 * Returns the number flagged. O(n^2) over sheds of the same name; n is
 * a cluster's shed list, sorted by nothing in particular. */
size_t names_resolve (names_shed_t *sheds, size_t n);

#endif
