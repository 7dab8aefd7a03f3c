/*
 * state_mirror.h - the daemon's read model of the replicated state
 * (docs/state.md, "The node's read model"): a copy of every live record,
 * by kind, origin and key, kept on the main loop's thread.
 *
 * Who feeds it (node_state.c):
 *   - one LIST of every kind at start (seed, event "");
 *   - the links actor's change events (INSERTED, UPDATED, DELETED, ORIGIN),
 *     applied when their version is not older than what is held;
 *   - this node's own accepted writes (state_mirror_put_local / _del_local),
 *     applied when the actor answers the PUT or DELETE, so a component reads
 *     its own write at once (read-your-writes). Change events of our own
 *     origin then only teach the version: our records change by our writes
 *     alone, and an event of an older write of ours, still queued on the
 *     SUB socket, must not undo a newer one.
 *
 * Reads are local: list and find never talk to the actor. Iterating is safe
 * against writes from inside the callback (entries are reference counted;
 * a list walks a snapshot).
 *
 * Not thread-safe: one thread (the daemon's loop) owns it.
 */
#ifndef SHED_STATE_MIRROR_H
#define SHED_STATE_MIRROR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One record as LIST, a change event or the mirror gives it. Pointers valid
 * only during the callback. status: "alive" | "unreachable" | "removed". */
typedef struct {
    const char *event; /* INSERTED UPDATED DELETED ORIGIN; "" for LIST */
    const char *origin;
    const char *kind;
    const char *key;
    uint64_t version; /* 0: one of our writes not yet echoed */
    const char *status;
    const uint8_t *value;
    size_t len;
} shed_record_t;

typedef void (shed_record_fn) (const shed_record_t *rec, void *arg);

typedef struct _state_mirror_t state_mirror_t;

/* `self_name`: this node (the origin of our own records). */
state_mirror_t *state_mirror_new (const char *self_name);
void state_mirror_destroy (state_mirror_t **self_p);

/* Apply a seed record (event "") or a change event (rec->kind is
 * "$origin" for ORIGIN events). Returns true when the mirror changed. */
bool state_mirror_apply (state_mirror_t *self, const shed_record_t *rec);

/* Our own accepted writes. */
void state_mirror_put_local (state_mirror_t *self, const char *kind, const char *key,
                             const uint8_t *value, size_t len);
void state_mirror_del_local (state_mirror_t *self, const char *kind, const char *key);

/* fn for every live record of `kind` ("" or NULL: every kind), ordered by
 * origin, kind, key (the store's LIST order). Returns the count. */
int state_mirror_list (state_mirror_t *self, const char *kind, shed_record_fn *fn, void *arg);

/* One record: true with *out filled (pointers valid until the next change
 * of the mirror), false if there is none. */
bool state_mirror_find (state_mirror_t *self, const char *origin, const char *kind, const char *key,
                        shed_record_t *out);

/* Live records held, every kind. */
size_t state_mirror_size (state_mirror_t *self);

#endif
