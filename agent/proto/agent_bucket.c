/* agent_bucket.c - see agent_bucket.h. */
#include "agent/proto/agent_bucket.h"

#include <time.h>

void
agent_bucket_init (agent_bucket_t *b, double rate, double burst, int64_t now_ms)
{
    b->rate = rate;
    b->burst = burst > 0 ? burst : rate;
    b->tokens = b->burst;
    b->last_ms = now_ms;
}

static void
s_refill (agent_bucket_t *b, int64_t now_ms)
{
    if (now_ms > b->last_ms) {
        b->tokens += b->rate * (double) (now_ms - b->last_ms) / 1000.0;
        if (b->tokens > b->burst)
            b->tokens = b->burst;
        b->last_ms = now_ms;
    }
}

void
agent_bucket_set (agent_bucket_t *b, double rate, double burst, int64_t now_ms)
{
    s_refill (b, now_ms); /* what accrued at the old rate is kept */
    b->last_ms = now_ms > b->last_ms ? now_ms : b->last_ms;
    b->rate = rate;
    b->burst = burst > 0 ? burst : rate;
    if (b->tokens > b->burst)
        b->tokens = b->burst;
}

bool
agent_bucket_take (agent_bucket_t *b, double n, int64_t now_ms)
{
    if (b->rate <= 0)
        return true;
    s_refill (b, now_ms);
    if (b->tokens < n)
        return false;
    b->tokens -= n;
    return true;
}

int64_t
agent_bucket_wait_ms (agent_bucket_t *b, double n, int64_t now_ms)
{
    if (b->rate <= 0)
        return 0;
    s_refill (b, now_ms);
    if (b->tokens >= n)
        return 0;
    return (int64_t) ((n - b->tokens) * 1000.0 / b->rate) + 1;
}

int64_t
agent_clock_mono_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
agent_clock_wall_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
