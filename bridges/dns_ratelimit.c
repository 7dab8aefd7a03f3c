/* dns_ratelimit.c - see dns_ratelimit.h.
 *
 * Tokens are counted in thousandths so that refilling needs no division:
 * `rate` tokens per second are `rate` milli-tokens per millisecond. */
#include "bridges/dns_ratelimit.h"

#include <assert.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#define S_MILLI 1000u

typedef struct {
    uint8_t key[17]; /* family byte + up to 16 address bytes */
    bool used;
    uint64_t tokens; /* milli-tokens */
    int64_t last_ms;
} s_slot_t;

struct _dns_ratelimit_t {
    uint64_t rate; /* milli-tokens per ms == tokens per s */
    uint64_t cap;  /* burst, in milli-tokens */
    uint64_t seed;
    size_t mask;
    s_slot_t *slots;
};

dns_ratelimit_t *
dns_ratelimit_new (uint32_t rate, uint32_t burst, size_t slots, uint64_t seed)
{
    if (rate == 0 || slots > ((size_t) 1 << 24))
        return NULL;
    size_t n = 1;
    while (n < (slots ? slots : 1024))
        n <<= 1;
    dns_ratelimit_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->slots = calloc (n, sizeof *self->slots);
    if (!self->slots) {
        free (self);
        return NULL;
    }
    self->rate = rate;
    self->cap = (uint64_t) (burst ? burst : rate) * S_MILLI;
    self->seed = seed | 1;
    self->mask = n - 1;
    return self;
}

void
dns_ratelimit_destroy (dns_ratelimit_t **self_p)
{
    assert (self_p);
    dns_ratelimit_t *self = *self_p;
    if (!self)
        return;
    free (self->slots);
    free (self);
    *self_p = NULL;
}

/* The address as bytes; every other family shares the key {family}. */
static size_t
s_key (const struct sockaddr *peer, uint8_t key[17])
{
    memset (key, 0, 17);
    key[0] = (uint8_t) peer->sa_family;
    if (peer->sa_family == AF_INET) {
        memcpy (key + 1, &((const struct sockaddr_in *) peer)->sin_addr, 4);
        return 5;
    }
    if (peer->sa_family == AF_INET6) {
        memcpy (key + 1, &((const struct sockaddr_in6 *) peer)->sin6_addr, 16);
        return 17;
    }
    return 1;
}

/* FNV-1a over seed-mixed bytes, then a final mix: not cryptographic, but
 * a client that does not know the seed cannot aim at a slot. */
static uint64_t
s_hash (uint64_t seed, const uint8_t *key, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL ^ seed;
    for (size_t i = 0; i < len; i++) {
        h ^= key[i];
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

static void
s_refill (const dns_ratelimit_t *self, s_slot_t *slot, int64_t now_ms)
{
    if (now_ms <= slot->last_ms)
        return; /* clock did not move (or went back): no gift */
    uint64_t elapsed = (uint64_t) (now_ms - slot->last_ms);
    /* Saturate before multiplying: an hour-long gap must not overflow. */
    uint64_t add = elapsed >= self->cap / self->rate + 1 ? self->cap : elapsed * self->rate;
    slot->tokens = slot->tokens + add > self->cap ? self->cap : slot->tokens + add;
    slot->last_ms = now_ms;
}

bool
dns_ratelimit_allow (dns_ratelimit_t *self, const struct sockaddr *peer, int64_t now_ms)
{
    assert (self);
    assert (peer);
    uint8_t key[17];
    size_t len = s_key (peer, key);
    s_slot_t *slot = &self->slots[s_hash (self->seed, key, len) & self->mask];
    if (slot->used)
        s_refill (self, slot, now_ms);
    if (!slot->used || (memcmp (slot->key, key, sizeof key) != 0 && slot->tokens == self->cap)) {
        /* Free, or idle (full bucket) and someone else's: ours now. */
        memcpy (slot->key, key, sizeof key);
        slot->used = true;
        slot->tokens = self->cap;
        slot->last_ms = now_ms;
    }
    if (slot->tokens < S_MILLI)
        return false;
    slot->tokens -= S_MILLI;
    return true;
}
