/*
 * replay.h - a sliding-window replay filter for authenticated counters
 * (RFC 6479 style bitmap). Used by receivers whose sender numbers its
 * packets (overlay sessions, gossip senders with a per-boot counter).
 *
 * Call shed_replay_check() only AFTER the packet authenticated: an attacker
 * must not be able to move the window with forged counters.
 */
#ifndef SHED_REPLAY_H
#define SHED_REPLAY_H

#include <stdbool.h>
#include <stdint.h>

#define SHED_REPLAY_WINDOW 2048 /* bits of history kept */
/* As in RFC 6479 one 64-bit block of the ring is always the one being
 * refilled, so the window guaranteed to be accepted is one block less: a
 * counter is "too old" when it is SHED_REPLAY_ACCEPT or more behind the
 * highest accepted counter. */
#define SHED_REPLAY_ACCEPT (SHED_REPLAY_WINDOW - 64)

typedef struct {
    uint64_t top; /* highest counter accepted so far */
    uint64_t bitmap[SHED_REPLAY_WINDOW / 64];
    bool any; /* false until the first counter */
} shed_replay_t;

/* Reset to accept any first counter. */
void shed_replay_init (shed_replay_t *self);
/* true if `counter` is new (and records it); false if seen or too old. */
bool shed_replay_check (shed_replay_t *self, uint64_t counter);

#endif
