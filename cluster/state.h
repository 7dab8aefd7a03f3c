/*
 * state.h - the replicated record store (pure logic: no sockets, no threads,
 * an injected clock).
 *
 * A record is (origin, kind, key) -> value, version, tombstone, updated_ms.
 * The origin is the node that owns the record and the only one that may
 * write it; versions are per origin, strictly increasing, and never reused,
 * even across restarts (see "Persistence"). Values are opaque msgpack bytes
 * of at most STATE_VALUE_MAX bytes.
 *
 * Writes:
 *   - state_put / state_delete write records of THIS node (the store's
 *     `self` origin) and give them the next local version. A delete leaves a
 *     tombstone, which replicates like any record and expires after the
 *     tombstone TTL (default 1 h).
 *   - state_apply takes DELTA and PUSH messages from peers. A remote record
 *     replaces ours only if its version is higher than the one we hold for
 *     the same (origin, kind, key); records that claim to be ours are
 *     refused (only we write them), so are records of removed origins.
 *
 * Anti-entropy (scuttlebutt): state_digest builds "for each origin, the
 * version through which I hold everything"; given a peer's digest,
 * state_delta builds the records the peer lacks, per origin in ascending
 * version order, cut at a byte budget. Because per-origin order is
 * ascending, a cut delta is still a valid prefix and the peer's max only
 * moves forward. state_push builds the not-yet-pushed local changes.
 *
 * Origins: alive (default), unreachable (failed: records kept, flagged),
 * removed (left or reaped: records dropped, and further records of that
 * origin ignored until it is alive again). The membership layer drives this
 * through state_origin_set_status.
 *
 * Persistence: with a data dir, `<data_dir>/state.bin` (written atomically)
 * holds this node's own records and a version high-water mark. Versions are
 * reserved STATE_VERSION_CHUNK at a time and the reservation is on disk
 * before any version in it is used; a restarted store continues above the
 * reservation. Record changes are written by state_flush (called from
 * state_tick and state_destroy; the links actor also calls it after every
 * local write, before answering, except for links_put_deferred), so a
 * crash never makes a version repeat and loses no local write that was
 * acknowledged as durable.
 *
 * Signatures (docs/state.md, "Trust"): with a signer (state_set_signer)
 * every record we write carries our Ed25519 signature over its canonical
 * encoding, kept with the record and in state.bin. With a verifier
 * (state_set_verifier) state_apply stores a remote record only if its
 * signature verifies under the origin's key: a bad or missing one is
 * dropped (`refused_sig`), and a record whose origin's key is not known
 * yet is left unapplied (`deferred`) without advancing that origin's max,
 * so anti-entropy brings it again once the key is known. Without a
 * verifier records are not checked (transport tests, tools).
 *
 * Events: one callback for every visible change (insert, update, delete,
 * origin status), called synchronously from the mutating call.
 *
 * Not thread-safe: one owner (the links actor) calls everything.
 */
#ifndef SHED_STATE_H
#define SHED_STATE_H

#include "cluster/state_msg.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _state_t state_t;

/* Errors returned (negated) by the store's calls. */
typedef enum {
    STATE_OK = 0,
    STATE_ERR_ARG = 1,       /* bad kind / key / origin text */
    STATE_ERR_TOO_BIG = 2,   /* value over STATE_VALUE_MAX */
    STATE_ERR_FULL = 3,      /* over STATE_LOCAL_MAX records or bytes */
    STATE_ERR_IO = 4,        /* data dir write failed (see errno / log) */
    STATE_ERR_NOT_FOUND = 5, /* delete of a record we do not hold */
    STATE_ERR_MSG = 6,       /* message of the wrong type */
    STATE_ERR_EXHAUSTED = 7, /* version space used up (never in practice) */
} state_err_t;

typedef enum {
    STATE_ALIVE = 0,
    STATE_UNREACHABLE = 1, /* origin failed: records kept, flagged */
    STATE_REMOVED = 2,     /* origin left or was reaped: records dropped */
} state_status_t;

typedef enum {
    STATE_EV_INSERTED = 0, /* a live record appeared */
    STATE_EV_UPDATED = 1,  /* a live record got a new value */
    STATE_EV_DELETED = 2,  /* a live record went (tombstone, origin removed) */
    STATE_EV_ORIGIN = 3,   /* an origin changed status; kind/key are NULL */
} state_event_t;

/* A view of one record. Pointers are borrowed: valid until the next call
 * that changes the store. */
typedef struct {
    const char *origin;
    const char *kind;     /* NULL in STATE_EV_ORIGIN */
    const char *key;      /* NULL in STATE_EV_ORIGIN */
    const uint8_t *value; /* NULL when value_len == 0 */
    size_t value_len;
    uint64_t version;
    bool tombstone;
    int64_t updated_ms;    /* store clock when this version arrived */
    state_status_t status; /* the origin's status */
} state_record_t;

/* Milliseconds from a monotonic clock (tests pass a fake one). */
typedef int64_t (state_clock_fn) (void *arg);
/* Called on every visible change. Must not call back into the store. */
typedef void (state_change_fn) (void *arg, state_event_t event, const state_record_t *rec);
/* Iteration callback; return non-zero to stop. */
typedef int (state_iter_fn) (void *arg, const state_record_t *rec);

/* Counters, for STATS and metrics. */
typedef struct {
    uint64_t applied;         /* remote records that changed the store */
    uint64_t stale;           /* remote records at or below the held version */
    uint64_t refused_self;    /* remote records claiming our origin */
    uint64_t refused_removed; /* records of removed origins */
    uint64_t resets;          /* origins dropped and re-pulled (floor rule) */
    uint64_t purged;          /* tombstones expired */
    uint64_t bad_msgs;        /* messages of the wrong type given to apply */
    uint64_t refused_sig;     /* remote records whose signature is bad or missing */
    uint64_t deferred;        /* remote records whose origin's key is unknown yet */
} state_stats_t;

/* Signer: fill sig with the Ed25519 signature of msg by this node's key.
 * Returns 0. */
typedef int (state_sign_fn) (void *arg, const uint8_t *msg, size_t len,
                             uint8_t sig[STATE_SIG_BYTES]);
/* Verifier's key lookup: fill pk with the Ed25519 public key of `origin`
 * and return 0, or return -1 if that key is not known (yet). */
typedef int (state_key_fn) (void *arg, const char *origin, uint8_t pk[32]);

/* Create a store for node `self`. `data_dir` may be NULL (memory only);
 * otherwise `<data_dir>/state.bin` is loaded if present. On failure returns
 * NULL with a one-line reason in err. */
state_t *state_new (const char *self, const char *data_dir, char *err, size_t errlen);

/* Flush (if persistent), free, set *self_p to NULL. NULL-safe. */
void state_destroy (state_t **self_p);

void state_set_clock (state_t *self, state_clock_fn *fn, void *arg);
void state_set_handler (state_t *self, state_change_fn *fn, void *arg);
/* Tombstone lifetime in ms (default STATE_TOMBSTONE_TTL_DEFAULT). */
void state_set_tombstone_ttl (state_t *self, int64_t ttl_ms);
/* Sign our own records from now on; records already held (loaded from
 * state.bin) are signed again at once, so a file from before signatures,
 * or from an earlier identity, is brought up to date. */
void state_set_signer (state_t *self, state_sign_fn *fn, void *arg);
/* Check every remote record's signature with the key `fn` gives for its
 * origin (see "Signatures" above). NULL turns checking off. */
void state_set_verifier (state_t *self, state_key_fn *fn, void *arg);
/* The message an origin signs for a record: a domain prefix and the
 * BLAKE2b-256 of the record's canonical encoding (docs/state.md, "Trust").
 * Writes STATE_SIGNED_LEN bytes to out. */
#define STATE_SIGNED_LEN (20 + 32)
void state_rec_signed_msg (const char *origin, const char *kind, const char *key, uint64_t version,
                           bool tomb, const uint8_t *value, size_t len,
                           uint8_t out[STATE_SIGNED_LEN]);
#define STATE_TOMBSTONE_TTL_DEFAULT (60 * 60 * 1000)

const char *state_self (const state_t *self);

/* Write our own record. Returns 0 or -state_err_t. */
int state_put (state_t *self, const char *kind, const char *key, const void *value, size_t len);
/* Delete our own record (leaves a tombstone). Returns 0 or -state_err_t
 * (-STATE_ERR_NOT_FOUND if there is no live record). */
int state_delete (state_t *self, const char *kind, const char *key);

/* Look up one record (tombstones included: check rec->tombstone). Returns
 * 0 and fills *rec, or -STATE_ERR_NOT_FOUND. */
int state_get (state_t *self, const char *origin, const char *kind, const char *key,
               state_record_t *rec);

/* Visit records; `origin` and `kind` filter when not NULL. Tombstones only
 * with `tombstones`. Order: by origin name, then kind, then key. Returns
 * what the callback returned to stop, else 0. */
int state_foreach (state_t *self, const char *origin, const char *kind, bool tombstones,
                   state_iter_fn *fn, void *arg);
/* Number of live records matching the filters (NULL = any). */
size_t state_count (state_t *self, const char *origin, const char *kind);

/* Highest version of `origin` through which we hold everything (0 if
 * unknown). For our own origin, the last version we used. */
uint64_t state_origin_max (state_t *self, const char *origin);
/* Set an origin's status (from membership). Our own origin is always alive
 * (-STATE_ERR_ARG). Returns 0. */
int state_origin_set_status (state_t *self, const char *origin, state_status_t status);
/* The origin's signing key changed (a new identity took the name of a dead
 * member, docs/state.md "Trust"): every record we hold of it was checked
 * under the old key, so all are dropped (DELETED events) and its max goes
 * back to 0, so anti-entropy pulls the new identity's records from version
 * 1; anything still signed by the old key is refused on the way in. Its
 * status is kept. Our own origin: -STATE_ERR_ARG. Returns 0. */
int state_origin_rekey (state_t *self, const char *origin);
/* Status of an origin; unknown origins are STATE_ALIVE. */
state_status_t state_origin_status (state_t *self, const char *origin);
const char *state_status_name (state_status_t status);
/* Parse "alive|unreachable|removed"; returns 0 or -1. */
int state_status_parse (const char *text, state_status_t *out);

/* ---- Anti-entropy -------------------------------------------------------- */

/* Fill `msg` with our DIGEST (removed origins left out). `reply` asks the
 * peer to send its digest back. Free with state_msg_free. Returns 0. */
int state_digest (state_t *self, bool reply, state_msg_t *msg);

/* Fill `msg` with the DELTA a peer whose digest is `peer` lacks, at most
 * about `budget` bytes (0 = STATE_BUDGET_DEFAULT; at least one record is
 * always included). Returns 1 if there is something to send, 0 if the peer
 * is up to date (msg then empty), or -state_err_t. */
int state_delta (state_t *self, const state_digest_t *peer, size_t budget, state_msg_t *msg);

/* Fill `msg` with a PUSH of our own records changed since the last
 * state_push, within `budget`. Returns 1 if filled, 0 if nothing pending. */
int state_push (state_t *self, size_t budget, state_msg_t *msg);
/* True if local changes wait for state_push. */
bool state_push_pending (state_t *self);

/* Apply a DELTA or PUSH from a peer. Returns the number of records that
 * changed the store, or -STATE_ERR_MSG for another message type. */
int state_apply (state_t *self, const state_msg_t *msg);

/* Release what a filled or decoded message owns. */
void state_msg_free (state_msg_t *msg);

/* Periodic work: expire tombstones older than the TTL, flush to disk.
 * Returns 0 or -STATE_ERR_IO. */
int state_tick (state_t *self);
/* Write our records now if they changed. Returns 0 or -STATE_ERR_IO. */
int state_flush (state_t *self);

const state_stats_t *state_stats (state_t *self);
const char *state_strerror (int code);

#endif
