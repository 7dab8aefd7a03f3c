/*
 * swim_awareness.c - Lifeguard's local health awareness.
 *
 * A node that is itself slow (CPU starved, its NIC dropping) sees its probes
 * fail and would accuse healthy members. The score rises when our probes fail
 * without the relays' nacks arriving (so the problem is likely ours) and when
 * we have to refute a suspicion about ourselves; it falls with every
 * successful probe. Probe interval and probe timeout are multiplied by
 * (score + 1), so an unhealthy node probes less often and waits longer.
 */
#include "cluster/swim_internal.h"

void
swim__awareness_apply (swim_awareness_t *a, int delta)
{
    int64_t score = (int64_t) a->score + delta;
    if (score < 0)
        score = 0;
    if (score > (int64_t) a->max)
        score = a->max;
    a->score = (uint32_t) score;
}

uint64_t
swim__awareness_scale (const swim_awareness_t *a, uint64_t base_ms)
{
    return base_ms * ((uint64_t) a->score + 1);
}
