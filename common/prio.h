/* common/prio.h: start-up at a lower CPU priority, membership first.
 *
 * When many daemons start at once on few cores (a host rebooting with its
 * services, a test starting 64 nodes on 2 cores), each one's membership
 * comes up only after its own start-up code ran, and at equal priority that
 * code waits behind every other daemon's later start-up work: the links'
 * handshakes, the overlay, the catalog. The node therefore runs everything
 * after its membership actor at a higher nice value until it has started,
 * then puts every such thread back (docs/membership.md, "Start-up
 * priority"). Linux nice is per thread and a new thread inherits its
 * creator's, so the threads started meanwhile are lowered too; those
 * created before (ZeroMQ's I/O threads) and the membership actor (nice -5)
 * are not touched.
 */
#ifndef SHED_PRIO_H
#define SHED_PRIO_H

#include <stdbool.h>

typedef struct {
    int base;    /* the calling thread's nice value before */
    int lowered; /* the nice value start-up threads run at */
    bool active; /* lowered, to be put back by shed_prio_startup_end */
} shed_prio_startup_t;

/* Lower the calling thread's nice value by `delta` (at most to 19), only
 * when the process may raise it back afterwards (CAP_SYS_NICE, or an
 * RLIMIT_NICE that allows it): a daemon must never stay lowered. Nothing
 * happens (active = false) otherwise, or when already at 19. */
void shed_prio_startup_begin (shed_prio_startup_t *s, int delta);

/* Put every thread of the process still at s->lowered back to s->base.
 * Returns how many threads were put back. Idempotent. */
int shed_prio_startup_end (shed_prio_startup_t *s);

/* Whether this process may lower a thread's nice value back to `nice`:
 * CAP_SYS_NICE in the effective set, or RLIMIT_NICE (20 - limit <= nice). */
bool shed_prio_can_raise_to (int nice);

#endif
