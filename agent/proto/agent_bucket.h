/*
 * agent_bucket.h - the token bucket both ends of the agent channel pace
 * and police with (the host's per-shed message, byte and accept rates; the
 * agent's pacing to the rates HELLO_ACK asks for), and the clocks they
 * read.
 */
#ifndef SHED_AGENT_BUCKET_H
#define SHED_AGENT_BUCKET_H

#include <stdbool.h>
#include <stdint.h>

/* A plain value type; `rate` tokens per second up to `burst`. rate 0 means
 * unlimited. Time is passed in so tests can use a fake clock. */
typedef struct {
    double rate;
    double burst;
    double tokens;
    int64_t last_ms;
} agent_bucket_t;

void agent_bucket_init (agent_bucket_t *b, double rate, double burst, int64_t now_ms);

/* Change the rate and burst of a bucket in use: the tokens it holds stay,
 * cut to the new burst (a lowered limit bites at once, a raised one fills
 * at the new rate). */
void agent_bucket_set (agent_bucket_t *b, double rate, double burst, int64_t now_ms);

/* Take `n` tokens if there are enough; returns true if taken. */
bool agent_bucket_take (agent_bucket_t *b, double n, int64_t now_ms);

/* Milliseconds until `n` tokens will be there (0 if now). */
int64_t agent_bucket_wait_ms (agent_bucket_t *b, double n, int64_t now_ms);

/* Monotonic and wall clocks in milliseconds. */
int64_t agent_clock_mono_ms (void);
int64_t agent_clock_wall_ms (void);

#endif
