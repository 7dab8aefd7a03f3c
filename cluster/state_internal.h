/*
 * state_internal.h - what the state*.c files share; not for other modules
 * (see state.h). Cross-file names are `state__`, file-local ones `s_`.
 *   state.c        the store: records and origins, signing our own, local
 *                  writes, reads, origin status, tombstone expiry
 *   state_sync.c   anti-entropy: DIGEST, DELTA and PUSH out, applying
 *                  DELTA and PUSH in (signature checks, spans, floors)
 *   state_file.c   state.bin: our own records and the version reservation
 *
 * Layout: one state_origin_t per origin we have heard of, holding its
 * records in a hash keyed "kind\nkey" (kinds and keys cannot contain control
 * chars, so the join is unambiguous). Per origin we keep:
 *   max        the version through which we hold everything of that origin
 *              (the scuttlebutt digest value). It moves only over versions
 *              we know are covered: a DELTA span whose base we had reached,
 *              or a record exactly max + 1.
 *   floor      the highest version of a tombstone purged here; a peer below
 *              it cannot be brought up to date by a delta (see s_span_before
 *              in state_sync.c).
 *   reset_floor the floor we last reset this origin for, so a multi-message
 *              catch-up resets once, not once per message.
 * For our own origin, `used` is the last version handed out (== max), `hwm`
 * the reservation on disk, `pushed` the last version sent by state_push.
 */
#ifndef SHED_STATE_INTERNAL_H
#define SHED_STATE_INTERNAL_H

#include "cluster/state.h"

#include <czmq.h>

/* A record as stored (state_rec_t is its wire form, state_record_t the
 * readers' view of it). */
typedef struct {
    char *hkey; /* "kind\nkey", the hash key (owned by us) */
    char kind[STATE_KIND_MAX + 1];
    char *key;      /* points into hkey */
    uint8_t *value; /* NULL when len == 0 */
    size_t len;
    uint64_t version;
    bool tomb;
    int64_t updated_ms;
    bool has_sig;
    uint8_t sig[STATE_SIG_BYTES]; /* the origin's signature (has_sig) */
} state_item_t;

typedef struct {
    char name[STATE_ORIGIN_MAX + 1];
    state_status_t status;
    uint64_t max;
    uint64_t top; /* highest version ever stored here: no record is above it,
                     so a delta skips the origin without a walk */
    uint64_t floor;
    uint64_t reset_floor;
    int64_t removed_ms; /* when it was removed (entry expiry) */
    size_t live_bytes;  /* value bytes held, for the bound */
    bool held;          /* this message had records we did not take */
    zhashx_t *recs;     /* hkey -> state_item_t */
} state_origin_t;

struct _state_t {
    char self[STATE_ORIGIN_MAX + 1];
    char *path;           /* <data_dir>/state.bin, or NULL */
    zhashx_t *origins;    /* name -> state_origin_t */
    state_origin_t *mine; /* our own origin (in origins) */
    uint64_t used;        /* last version handed out */
    uint64_t hwm;         /* reserved on disk */
    uint64_t pushed;      /* last own version pushed */
    bool dirty;           /* own records changed since flush */
    int64_t ttl_ms;
    state_clock_fn *clock;
    void *clock_arg;
    state_change_fn *handler;
    void *handler_arg;
    state_sign_fn *signer;
    void *signer_arg;
    state_key_fn *keys; /* verifier's key lookup, NULL: no checks */
    void *keys_arg;
    int64_t deferred_log_ms; /* last "key unknown" log line (rate limit) */
    state_stats_t stats;
    /* Origins sorted by name, rebuilt only when an origin comes or goes:
     * every DIGEST and DELTA wants that order, and a sort of every origin
     * per anti-entropy round was most of a large cluster's AE cost. */
    state_origin_t **sorted;
    size_t nsorted;
    bool sorted_valid;
};

static inline int64_t
state__now (state_t *self)
{
    return self->clock (self->clock_arg);
}

/* ---- the store (state.c) -------------------------------------------------- */

/* "kind\nkey", the records' hash key; the caller frees it. */
char *state__hkey (const char *kind, const char *key);
/* The origin `name`, created (alive, empty) if we had not heard of it. */
state_origin_t *state__origin_require (state_t *self, const char *name);
/* Replace or insert the record of `o` at (kind, key) and tell readers. Takes
 * ownership of `value`; `sig` is the origin's signature (NULL: none; our
 * own records are signed here). */
void state__store (state_t *self, state_origin_t *o, const char *kind, const char *key,
                   uint8_t *value, size_t len, uint64_t version, bool tomb, const uint8_t *sig);
/* Drop every record of `o`, telling readers about the live ones. */
void state__origin_clear (state_t *self, state_origin_t *o);
/* Origins sorted by name: a copy the caller frees. */
state_origin_t **state__origins_sorted (state_t *self, size_t *n_out);
/* Records of `o` with version > `above`, ascending: an array the caller
 * frees (not the records). */
state_item_t **state__recs_above (state_origin_t *o, uint64_t above, size_t *n_out);
/* Copy a stored record into a wire record that owns its copy. */
void state__to_wire (const state_origin_t *o, const state_item_t *rec, state_rec_t *w);

/* ---- state.bin (state_file.c) -------------------------------------------- */

/* Write our records and the reservation `hwm` (no-op without a path). */
int state__save (state_t *self, uint64_t hwm);
/* Read the file at self->path into our origin; 0 if there is none yet. */
int state__load (state_t *self, char *err, size_t errlen);

#endif
