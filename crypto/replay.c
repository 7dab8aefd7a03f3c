/*
 * replay.c - see replay.h.
 *
 * RFC 6479: the bitmap is a ring of 64-bit blocks indexed by counter / 64.
 * Moving the top forward clears only the blocks it passes over (never a
 * shift of the whole bitmap), so an update costs O(1) amortised. Counter c
 * lives in block (c / 64) mod N, bit c mod 64. Because the block holding
 * the new top is cleared as a whole when the top enters it, only
 * (N - 1) * 64 counters behind the top are reliably remembered; anything
 * further back is rejected as too old.
 */
#include "crypto/replay.h"

#include <assert.h>
#include <string.h>

#define BLOCKS (SHED_REPLAY_WINDOW / 64)

_Static_assert(SHED_REPLAY_WINDOW % 64 == 0, "window is whole blocks");
_Static_assert((BLOCKS & (BLOCKS - 1)) == 0, "block count is a power of two");

void
shed_replay_init (shed_replay_t *self)
{
    assert (self);
    memset (self, 0, sizeof *self);
}

bool
shed_replay_check (shed_replay_t *self, uint64_t counter)
{
    assert (self);
    uint64_t block = counter >> 6;
    if (!self->any) {
        //  First counter: whatever it is, it starts the window.
        memset (self->bitmap, 0, sizeof self->bitmap);
        self->top = counter;
        self->any = true;
    }
    else if (counter > self->top) {
        //  Clear every block between the old top's and the new one's; after
        //  a jump of a whole ring or more, that is all of them.
        uint64_t top_block = self->top >> 6;
        uint64_t diff = block - top_block;
        if (diff >= BLOCKS)
            memset (self->bitmap, 0, sizeof self->bitmap);
        else
            for (uint64_t i = 1; i <= diff; i++)
                self->bitmap[(top_block + i) & (BLOCKS - 1)] = 0;
        self->top = counter;
    }
    else if (self->top - counter >= SHED_REPLAY_ACCEPT)
        return false; //  too old to tell: reject

    uint64_t *word = &self->bitmap[block & (BLOCKS - 1)];
    uint64_t bit = (uint64_t) 1 << (counter & 63);
    if (*word & bit)
        return false; //  seen
    *word |= bit;
    return true;
}
