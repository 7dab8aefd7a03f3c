/*
 * aead.c - see aead.h. OpenSSL EVP, one small context cache per thread.
 */
#include "crypto/aead.h"

#include "common/crypto_dl.h"
#include "common/log.h"
#include "crypto/session.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define CACHE_SLOTS 8

typedef struct {
    EVP_CIPHER_CTX *ctx; //  NULL: free slot
    uint8_t aead;
    int enc;
    uint8_t key[SHED_AEAD_KEY_BYTES];
    uint64_t last; //  the thread's call number of its last use
} cache_slot_t;

typedef struct {
    cache_slot_t slot[CACHE_SLOTS];
    uint64_t calls;
} cache_t;

static pthread_key_t s_cache_key;
static pthread_once_t s_cache_once = PTHREAD_ONCE_INIT;
static const EVP_CIPHER *s_cipher_gcm, *s_cipher_chacha;
static _Thread_local cache_t *t_cache;

static void
s_slot_wipe (cache_slot_t *slot)
{
    if (slot->ctx)
        sym_EVP_CIPHER_CTX_free (slot->ctx); //  cleanses the key schedule
    sodium_memzero (slot, sizeof *slot);
}

static void
s_cache_free (void *arg)
{
    cache_t *cache = (cache_t *) arg;
    for (int i = 0; i < CACHE_SLOTS; i++)
        s_slot_wipe (&cache->slot[i]);
    free (cache);
}

static void
s_cache_init (void)
{
    pthread_key_create (&s_cache_key, s_cache_free);
    //  libcrypto is loaded here, on first use (common/crypto_dl.h). Without
    //  it the ciphers stay NULL and every seal and open fails.
    char err[256];
    if (!crypto_dl_open (err, sizeof err)) {
        log_error ("aead", "cannot load OpenSSL: the overlay cannot seal or open|err=\"%s\"", err);
        return;
    }
    //  Fetched once: an implicit fetch per key setup would take OpenSSL's
    //  global locks on the datapath.
    s_cipher_gcm = sym_EVP_CIPHER_fetch (NULL, "AES-256-GCM", NULL);
    s_cipher_chacha = sym_EVP_CIPHER_fetch (NULL, "ChaCha20-Poly1305", NULL);
}

void
shed_aead_thread_flush (void)
{
    if (!t_cache)
        return;
    for (int i = 0; i < CACHE_SLOTS; i++)
        s_slot_wipe (&t_cache->slot[i]);
}

//  Constant time, and cheaper than sodium_memcmp's byte loop on every call.
static bool
s_key_equal (const uint8_t *a, const uint8_t *b)
{
    uint64_t x[4], y[4], diff = 0;
    memcpy (x, a, sizeof x);
    memcpy (y, b, sizeof y);
    for (int i = 0; i < 4; i++)
        diff |= x[i] ^ y[i];
    return diff == 0;
}

//  A context with this key set up for this direction; NULL on failure.
static EVP_CIPHER_CTX *
s_context (uint8_t aead, const uint8_t *key, int enc)
{
    pthread_once (&s_cache_once, s_cache_init);
    const EVP_CIPHER *cipher = aead == SHED_AEAD_AES256GCM          ? s_cipher_gcm
                               : aead == SHED_AEAD_CHACHA20POLY1305 ? s_cipher_chacha
                                                                    : NULL;
    if (!cipher)
        return NULL;
    if (!t_cache) {
        t_cache = (cache_t *) calloc (1, sizeof *t_cache);
        if (!t_cache)
            return NULL;
        pthread_setspecific (s_cache_key, t_cache);
    }
    cache_t *cache = t_cache;
    uint64_t now = ++cache->calls;
    cache_slot_t *hit = NULL, *victim = &cache->slot[0];
    for (int i = 0; i < CACHE_SLOTS; i++) {
        cache_slot_t *slot = &cache->slot[i];
        if (slot->ctx && now - slot->last > SHED_AEAD_IDLE_CALLS)
            s_slot_wipe (slot); //  a retired key: do not keep it
        if (!slot->ctx) {
            if (victim->ctx)
                victim = slot;
            continue;
        }
        if (slot->aead == aead && slot->enc == enc && s_key_equal (slot->key, key)) {
            hit = slot;
            break;
        }
        if (victim->ctx && slot->last < victim->last)
            victim = slot;
    }
    if (!hit) {
        hit = victim;
        s_slot_wipe (hit);
        hit->ctx = sym_EVP_CIPHER_CTX_new ();
        if (!hit->ctx || sym_EVP_CipherInit_ex (hit->ctx, cipher, NULL, key, NULL, enc) != 1) {
            s_slot_wipe (hit);
            return NULL;
        }
        hit->aead = aead;
        hit->enc = enc;
        memcpy (hit->key, key, SHED_AEAD_KEY_BYTES);
    }
    hit->last = now;
    return hit->ctx;
}

int
shed_aead_seal (uint8_t aead, const uint8_t key[SHED_AEAD_KEY_BYTES],
                const uint8_t nonce[SHED_AEAD_NONCE_BYTES], const uint8_t *ad, size_t adlen,
                uint8_t *buf, size_t len)
{
    EVP_CIPHER_CTX *ctx = s_context (aead, key, 1);
    int out;
    if (!ctx || len > INT32_MAX || adlen > INT32_MAX
        || sym_EVP_CipherInit_ex (ctx, NULL, NULL, NULL, nonce, 1) != 1
        || (adlen && sym_EVP_CipherUpdate (ctx, NULL, &out, ad, (int) adlen) != 1)
        || (len && sym_EVP_CipherUpdate (ctx, buf, &out, buf, (int) len) != 1)
        || sym_EVP_CipherFinal_ex (ctx, buf + len, &out) != 1
        || sym_EVP_CIPHER_CTX_ctrl (ctx, EVP_CTRL_AEAD_GET_TAG, SHED_AEAD_TAG_BYTES, buf + len)
               != 1)
        return -1;
    return 0;
}

int
shed_aead_open (uint8_t aead, const uint8_t key[SHED_AEAD_KEY_BYTES],
                const uint8_t nonce[SHED_AEAD_NONCE_BYTES], const uint8_t *ad, size_t adlen,
                uint8_t *buf, size_t len)
{
    EVP_CIPHER_CTX *ctx = s_context (aead, key, 0);
    int out;
    if (!ctx || len > INT32_MAX || adlen > INT32_MAX)
        return -1;
    if (sym_EVP_CipherInit_ex (ctx, NULL, NULL, NULL, nonce, 0) == 1
        && sym_EVP_CIPHER_CTX_ctrl (ctx, EVP_CTRL_AEAD_SET_TAG, SHED_AEAD_TAG_BYTES, buf + len) == 1
        && (!adlen || sym_EVP_CipherUpdate (ctx, NULL, &out, ad, (int) adlen) == 1)
        && (!len || sym_EVP_CipherUpdate (ctx, buf, &out, buf, (int) len) == 1)
        && sym_EVP_CipherFinal_ex (ctx, buf + len, &out) == 1)
        return 0;
    sodium_memzero (buf, len);
    return -1;
}
